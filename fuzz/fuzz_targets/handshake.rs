//! The request-head parser and upgrade checks on arbitrary bytes, fed in
//! arbitrary pieces: any input is accepted or refused, never a panic.
//! The check itself is in `fuzz/oracle/handshake.rs`.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../oracle/handshake.rs"]
mod oracle;

fuzz_target!(|data: &[u8]| oracle::check(data));
