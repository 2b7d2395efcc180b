//! The permessage-deflate codec (RFC 7692 §7.2): raw DEFLATE with a sync
//! flush per message, reset between messages (no context takeover).
//!
//! Crate: `flate2` on stock zlib (`libz-sys`): it is the only backend that
//! takes the window size the client asks for (`server_max_window_bits`
//! 9–15) at a small state size (~39 KB at window 12 for zlib, against
//! ~165 KB for zlib-rs; miniz_oxide has no window control at all).
//!
//! Inflation is bounded: output comes out in steps of at most [`STEP`]
//! bytes and is counted against a limit as it comes, so a zip bomb costs
//! at most the limit, never its inflated size.

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

/// The tail a sync flush ends with; stripped when sending (§7.2.1) and
/// appended when receiving (§7.2.2).
pub const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// Inflated bytes handed out per step.
pub const STEP: usize = 16 * 1024;

/// Why a compressed message could not be inflated.
#[derive(Debug, PartialEq, Eq)]
pub enum InflateError {
    /// Not valid DEFLATE data: close 1007 (RFC 7692 §8.1 → RFC 6455 §7.4.1).
    Corrupt,
    /// Inflated past the limit: close 1009.
    TooBig { limit: u64 },
    /// The sink refused the bytes (invalid UTF-8 in a text message: 1007).
    Rejected,
}

/// zlib's level when none is given (`--deflate-level`): 1, its fastest.
///
/// The loop compresses on the thread that serves every client, so each
/// microsecond spent here is a microsecond of everyone's latency. Measured
/// on a 16 KiB JSON echo (`benches/`, one run): level 6 (zlib's default)
/// cost 475-493 µs of server CPU per message and sent 4,312 bytes; level 1
/// cost 283-288 µs and sent 4,878 (13 % more bytes for 41 % less CPU).
pub const DEFAULT_LEVEL: u8 = 1;

/// A compressor for whole messages, reset after each one.
pub struct Deflater {
    z: Compress,
}

impl Deflater {
    /// `window_bits` 9..=15 (zlib refuses raw deflate with 8); `level` 1..=9
    /// (zlib's: 1 fastest, 9 smallest).
    pub fn new(window_bits: u8, level: u8) -> Deflater {
        let level = Compression::new(u32::from(level.clamp(1, 9)));
        Deflater {
            z: Compress::new_with_window_bits(level, false, window_bits),
        }
    }

    /// Appends the compressed form of `message` to `out` without the
    /// trailing `00 00 ff ff` (§7.2.1), then resets.
    pub fn compress(&mut self, message: &[u8], out: &mut Vec<u8>) {
        self.compress_after(&[], message, out);
    }

    /// As [`Deflater::compress`], with `history` (the plain text the peer's
    /// window holds, see `context.rs`) as the dictionary the message may
    /// refer back into: context takeover from a reset compressor.
    pub fn compress_after(&mut self, history: &[u8], message: &[u8], out: &mut Vec<u8>) {
        if !history.is_empty() && self.z.set_dictionary(history).is_err() {
            self.z.reset(); // cannot fail on a fresh stream; if so, no history
        }
        let start = out.len();
        out.reserve(message.len() / 2 + 64);
        let before_in = self.z.total_in();
        loop {
            let used = usize::try_from(self.z.total_in() - before_in).unwrap_or(usize::MAX);
            let input = message.get(used..).unwrap_or(&[]);
            if out.capacity() - out.len() < 64 {
                out.reserve(out.capacity().max(1024));
            }
            // A sync flush ends the data on a byte boundary with an empty
            // stored block: the 00 00 ff ff the RFC strips. zlib has
            // finished the flush once it leaves output space unused.
            if self
                .z
                .compress_vec(input, out, FlushCompress::Sync)
                .is_err()
            {
                break; // only on a broken stream state; reset below
            }
            let used = usize::try_from(self.z.total_in() - before_in).unwrap_or(usize::MAX);
            if used >= message.len() && out.len() < out.capacity() {
                break;
            }
        }
        if out.len() - start >= 4 && out.ends_with(&TAIL) {
            out.truncate(out.len() - 4);
        }
        // §7.2.3.1 is satisfied by an empty message compressing to "02 00"
        // or an empty stored block; either inflates to nothing.
        self.z.reset();
    }
}

/// A decompressor for whole messages, reset after each one.
pub struct Inflater {
    z: Decompress,
    buf: Vec<u8>,
}

impl Inflater {
    pub fn new(window_bits: u8) -> Inflater {
        Inflater {
            z: Decompress::new_with_window_bits(false, window_bits),
            buf: Vec::new(),
        }
    }

    /// Inflates the next `input` of a message; `last` at the final frame
    /// (the `00 00 ff ff` tail is added here, §7.2.2). `inflated` is what
    /// the message has produced so far; the result is the new total.
    /// `sink` gets each step of output and may reject it.
    pub fn inflate(
        &mut self,
        input: &[u8],
        last: bool,
        mut inflated: u64,
        limit: u64,
        sink: &mut dyn FnMut(&[u8]) -> bool,
    ) -> Result<u64, InflateError> {
        let parts: [&[u8]; 2] = [input, if last { &TAIL } else { &[] }];
        let mut ended = false;
        for (i, part) in parts.into_iter().enumerate() {
            if ended {
                break; // BFINAL was set: the appended tail is not needed
            }
            let mut pos = 0;
            loop {
                self.buf.clear();
                self.buf.reserve(STEP);
                let before_in = self.z.total_in();
                let status = self.z.decompress_vec(
                    part.get(pos..).unwrap_or(&[]),
                    &mut self.buf,
                    FlushDecompress::Sync,
                );
                let Ok(status) = status else {
                    self.reset();
                    return Err(InflateError::Corrupt);
                };
                pos += usize::try_from(self.z.total_in() - before_in).unwrap_or(usize::MAX);
                let produced = self.buf.len();
                inflated += produced as u64;
                if inflated > limit {
                    self.reset();
                    return Err(InflateError::TooBig { limit });
                }
                if produced > 0 && !sink(&self.buf) {
                    self.reset();
                    return Err(InflateError::Rejected);
                }
                if status == Status::StreamEnd {
                    // A final block (BFINAL): fine if only our tail follows.
                    ended = true;
                    if i == 0 && pos < part.len() {
                        self.reset();
                        return Err(InflateError::Corrupt);
                    }
                    break;
                }
                if pos >= part.len() && produced < STEP {
                    break;
                }
            }
        }
        if last {
            self.reset();
        }
        Ok(inflated)
    }

    /// Primes the decompressor, before a message's first bytes, with the
    /// plain text the client's compressor window holds (context takeover).
    pub fn prime(&mut self, history: &[u8]) -> Result<(), InflateError> {
        if history.is_empty() {
            return Ok(());
        }
        self.z.set_dictionary(history).map(|_| ()).map_err(|_| {
            self.reset();
            InflateError::Corrupt
        })
    }

    /// Forgets the message in progress (after an error or at its end).
    pub fn reset(&mut self) {
        self.z.reset(false);
        if self.buf.capacity() > STEP {
            self.buf = Vec::new();
        }
    }
}

#[cfg(test)]
#[path = "codec_tests.rs"]
mod tests;
