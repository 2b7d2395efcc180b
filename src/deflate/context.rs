//! Context takeover (RFC 7692 §7.1.1) without a zlib state per connection.
//!
//! With context takeover, each side's compressor may refer back into the
//! bytes of the messages it compressed before, up to its LZ77 window
//! (2^window_bits bytes); the receiver's decompressor keeps that window to
//! resolve the references. What a window *holds* is nothing but the last
//! 2^bits bytes of plain text that went through compressed messages, so a
//! connection keeps just those bytes here (4 KiB per direction at the
//! default `--deflate-window 12`) and the loop's one shared codec is primed
//! with them as a dictionary before each message (`deflateSetDictionary`,
//! `inflateSetDictionary`). A zlib compressor per connection would cost
//! ~150 KB (flate2 fixes memLevel 8); this costs the window.
//!
//! - `received`: the client's history, needed when it did not agree to
//!   `client_no_context_takeover`. Every compressed message it sends is
//!   appended; it must be kept for as long as the connection lives, since
//!   the client's next message may refer to any of it.
//! - `sent`: our history. We may always *forget* it (§7.1.1.1 only forbids
//!   using history after promising not to; not using it is always fine):
//!   a message compressed without a dictionary inflates the same on the
//!   client. So it is dropped when the connection goes idle, and never kept
//!   for a connection that gets shared broadcast frames.
//!
//! Uncompressed messages (RSV1 clear) enter neither side's window, so a
//! message below `--deflate-min` may go plain at any time.

/// The two LZ77 histories of one connection (dedicated mode).
#[derive(Debug, Default)]
pub struct Context {
    /// Plain text of the compressed messages we sent, last 2^bits bytes.
    pub sent: Vec<u8>,
    /// Plain text of the compressed messages the client sent.
    pub received: Vec<u8>,
}

impl Context {
    /// Heap bytes held (for `--max-memory`).
    pub fn memory(&self) -> usize {
        self.sent.capacity() + self.received.capacity()
    }
}

/// Appends `bytes` to `history`, keeping only the last `2^window_bits`
/// bytes: what the peer's window holds after the same message.
pub fn remember(history: &mut Vec<u8>, bytes: &[u8], window_bits: u8) {
    let window = 1usize << window_bits.clamp(9, 15);
    if bytes.len() >= window {
        history.clear();
        history.reserve_exact(window);
        history.extend_from_slice(bytes.get(bytes.len() - window..).unwrap_or(bytes));
        return;
    }
    let excess = (history.len() + bytes.len()).saturating_sub(window);
    if excess > 0 {
        history.drain(..excess.min(history.len()));
    }
    if history.capacity() < window {
        history.reserve_exact(window - history.len());
    }
    history.extend_from_slice(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_last_window_of_bytes() {
        let mut h = Vec::new();
        remember(&mut h, b"hello", 9);
        assert_eq!(h, b"hello");
        let big: Vec<u8> = (0..2000u32).map(|i| i as u8).collect();
        remember(&mut h, &big, 9);
        assert_eq!(h.len(), 512);
        assert_eq!(&h[..], &big[2000 - 512..]);
        remember(&mut h, b"xyz", 9);
        assert_eq!(h.len(), 512);
        assert_eq!(&h[509..], b"xyz");
        assert_eq!(&h[..509], &big[2000 - 509..]);
    }

    #[test]
    fn never_holds_more_than_one_window() {
        let mut h = Vec::new();
        for n in 0..300 {
            remember(&mut h, &vec![n as u8; n * 7 % 700], 12);
            assert!(h.len() <= 4096);
            assert!(h.capacity() <= 8192, "capacity {}", h.capacity());
        }
    }
}
