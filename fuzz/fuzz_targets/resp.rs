//! The RESP2 parser on arbitrary bytes: `parse` never panics, and
//! `RespReader` fed the stream whole and in pieces chosen by the first
//! input byte, with limits chosen by the second, gives the same values and
//! errors as `parse`. The check itself is in `fuzz/oracle/resp.rs`.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../oracle/resp.rs"]
mod oracle;

fuzz_target!(|data: &[u8]| oracle::check(data));
