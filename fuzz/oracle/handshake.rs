//! The check of `fuzz_targets/handshake.rs`, shared with `tests/integration/fuzz_corpus.rs`
//! (which replays the committed corpus and regressions on stable Rust):
//! the request-head parser and upgrade checks on arbitrary bytes, fed in
//! arbitrary pieces; any input is accepted or refused, never a panic.

use wsloop::handshake::{Request, accept_key, find_head_end, validate_upgrade};

/// The fuzz input: [search step] then the bytes of a request.
pub fn check(data: &[u8]) {
    let Some((&step, bytes)) = data.split_first() else {
        return;
    };
    // Search incrementally the way the server does for a dribbled request.
    let step = usize::from(step).max(1);
    let mut searched = 0;
    let mut end = None;
    while searched < bytes.len() && end.is_none() {
        let upto = (searched + step).min(bytes.len());
        end = find_head_end(&bytes[..upto], searched);
        searched = upto;
    }
    assert_eq!(end, find_head_end(bytes, 0), "incremental search disagrees");
    if let Some(end) = end
        && let Ok(req) = Request::parse(&bytes[..end])
    {
        let _ = req.path();
        if let Ok(up) = validate_upgrade(&req) {
            assert_eq!(accept_key(up.key).len(), 28);
        }
    }
}
