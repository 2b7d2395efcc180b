//! Incremental UTF-8 validation for text messages (RFC 6455 §5.6, §8.1).
//!
//! A text message may be split into frames, and a frame into TCP reads,
//! anywhere — even inside a multi-byte character. The validator keeps the
//! 1–3 bytes of a character cut at a chunk's end and fails as soon as a
//! byte sequence can no longer become valid UTF-8, so a peer streaming an
//! invalid message is stopped at the first bad byte, not at the end.

/// The UTF-8 state carried from one chunk to the next.
#[derive(Debug, Default, Clone, Copy)]
pub struct Utf8Validator {
    /// The start of a character cut at the end of the previous chunk.
    partial: [u8; 4],
    partial_len: u8,
}

/// The bytes were not, and can never become, valid UTF-8.
#[derive(Debug, PartialEq, Eq)]
pub struct InvalidUtf8;

impl Utf8Validator {
    /// Checks the next chunk of the message.
    pub fn feed(&mut self, mut bytes: &[u8]) -> Result<(), InvalidUtf8> {
        if self.partial_len > 0 {
            let width = char_width(self.partial[0]);
            let mut len = usize::from(self.partial_len);
            while len < width {
                let Some((&b, rest)) = bytes.split_first() else {
                    break;
                };
                self.partial[len] = b;
                len += 1;
                bytes = rest;
            }
            self.partial_len = len as u8;
            match std::str::from_utf8(&self.partial[..len]) {
                Ok(_) => self.partial_len = 0,
                // Still a prefix of a valid character: wait for more.
                Err(e) if e.error_len().is_none() => return Ok(()),
                Err(_) => return Err(InvalidUtf8),
            }
        }
        match std::str::from_utf8(bytes) {
            Ok(_) => Ok(()),
            // error_len() == None: the input ends inside a character whose
            // bytes so far are valid. Keep them for the next chunk.
            Err(e) if e.error_len().is_none() => {
                let tail = &bytes[e.valid_up_to()..];
                self.partial[..tail.len()].copy_from_slice(tail);
                self.partial_len = tail.len() as u8;
                Ok(())
            }
            Err(_) => Err(InvalidUtf8),
        }
    }

    /// Is the text seen so far whole (no character left unfinished)?
    pub fn is_complete(&self) -> bool {
        self.partial_len == 0
    }

    pub fn reset(&mut self) {
        self.partial_len = 0;
    }
}

/// The length of a character from its lead byte (only called on lead bytes
/// that `from_utf8` accepted as the start of an unfinished character).
fn char_width(lead: u8) -> usize {
    match lead {
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        _ => 4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed_split(bytes: &[u8], split: usize) -> Result<bool, InvalidUtf8> {
        let mut v = Utf8Validator::default();
        for chunk in bytes.chunks(split.max(1)) {
            v.feed(chunk)?;
        }
        Ok(v.is_complete())
    }

    #[test]
    fn s8_1_valid_text_in_any_chunking() {
        let text = "κόσμε ascii 😀 中文 \u{10FFFF}".as_bytes();
        for split in 1..text.len() {
            assert_eq!(feed_split(text, split), Ok(true), "split {split}");
        }
    }

    #[test]
    fn s8_1_unfinished_character_is_incomplete() {
        assert_eq!(feed_split(&"😀".as_bytes()[..3], 1), Ok(false));
    }

    #[test]
    fn s8_1_fails_fast_at_first_impossible_byte() {
        // κόσμε, then 0xF4 0x90 (above U+10FFFF): invalid at the second byte,
        // with no need to see the rest of the message.
        let mut v = Utf8Validator::default();
        v.feed("κόσμε".as_bytes()).unwrap();
        v.feed(&[0xF4]).unwrap();
        assert_eq!(v.feed(&[0x90]), Err(InvalidUtf8));
    }

    #[test]
    fn s8_1_invalid_sequences_rejected() {
        for bad in [
            &[0xC0, 0x80][..],   // overlong
            &[0xED, 0xA0, 0x80], // surrogate
            &[0xFF],             // never valid
            &[0xC3, 0x28],       // bad continuation
            &[0x80],             // lone continuation
        ] {
            for split in 1..=bad.len() {
                assert_eq!(feed_split(bad, split), Err(InvalidUtf8), "{bad:x?} {split}");
            }
        }
    }
}
