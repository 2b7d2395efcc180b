//! The incremental RESP reader for the Redis socket: bytes in, values out,
//! on top of the pure parser in `resp.rs`.

use super::{Limits, RespError, Step, Value, parse_step};

/// Incremental reader for a socket: bytes in, values out.
///
/// Two costs it avoids. A large value arriving in many reads is not
/// re-parsed on each one: a parse that comes up short says how many bytes
/// it needs (for a bulk string, all of its body once the header is seen),
/// and no parse runs until they are buffered. Many small values in one
/// read are not shifted down one by one: consumed bytes are skipped with
/// an offset, and dropped in one move when they are half the buffer.
#[derive(Debug)]
pub struct RespReader {
    limits: Limits,
    buf: Vec<u8>,
    /// `buf[..start]` is consumed.
    start: usize,
    /// No parse can succeed or fail before `buffered()` reaches this.
    need: usize,
    /// Once the stream is broken it stays broken, until `clear`.
    failed: Option<RespError>,
    /// How many times a parse actually ran (the tests check the `need` hint).
    #[cfg(test)]
    pub(super) parses: usize,
}

/// A reader that held one large reply gives its memory back once empty.
const KEEP_CAPACITY: usize = 1 << 20;

impl RespReader {
    pub fn new(limits: Limits) -> Self {
        RespReader {
            limits,
            buf: Vec::new(),
            start: 0,
            need: 0,
            failed: None,
            #[cfg(test)]
            parses: 0,
        }
    }

    pub fn push(&mut self, bytes: &[u8]) {
        if self.failed.is_some() {
            return; // nothing after an error can be read: don't keep it
        }
        if self.start > 0 && self.start >= self.buf.len() / 2 {
            // Moves at most as many bytes as were consumed: amortized O(1).
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// Next whole value, Ok(None) when more bytes are needed. After an
    /// error, the same error every time.
    pub fn next_value(&mut self) -> Result<Option<Value>, RespError> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        if self.buffered() == 0 || self.buffered() < self.need {
            return Ok(None);
        }
        #[cfg(test)]
        {
            self.parses += 1;
        }
        let pending = self.buf.get(self.start..).unwrap_or_default();
        match parse_step(pending, &self.limits) {
            Ok(Step::Done(value, used)) => {
                self.start = self.start.saturating_add(used);
                self.need = 0;
                if self.start >= self.buf.len() {
                    self.buf.clear();
                    self.start = 0;
                    if self.buf.capacity() > KEEP_CAPACITY {
                        self.buf.shrink_to(KEEP_CAPACITY);
                    }
                }
                Ok(Some(value))
            }
            Ok(Step::Need(need)) => {
                self.need = need;
                Ok(None)
            }
            Err(e) => {
                self.failed = Some(e);
                self.buf = Vec::new();
                self.start = 0;
                Err(e)
            }
        }
    }

    /// The buffer's length, consumed bytes included, and how many of them
    /// are consumed (the tests check that consumed bytes are dropped in one
    /// move, not one value at a time).
    #[cfg(test)]
    pub(super) fn held(&self) -> (usize, usize) {
        (self.buf.len(), self.start)
    }

    /// Bytes pushed and not yet returned as a value.
    pub fn buffered(&self) -> usize {
        self.buf.len().saturating_sub(self.start)
    }

    /// Forget everything (on reconnect), the error included.
    pub fn clear(&mut self) {
        self.buf = Vec::new();
        self.start = 0;
        self.need = 0;
        self.failed = None;
    }
}
