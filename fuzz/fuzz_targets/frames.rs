//! The frame decoder against an independent reference decoder
//! (`fuzz/oracle/frames.rs`): the same stream, fed whole and in pieces
//! chosen by the first input byte, with a size limit chosen by the second,
//! must give the same frames, messages and verdict as the reference.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../oracle/frames.rs"]
mod oracle;

fuzz_target!(|data: &[u8]| oracle::check(data));
