//! permessage-deflate (RFC 7692): every browser offers it.
//!
//! - [`negotiate`]: the offer in `Sec-WebSocket-Extensions` and the answer.
//! - [`codec`]: raw DEFLATE with a sync flush per message, bounded inflation.
//! - [`context`]: context takeover (`--deflate dedicated`) as a window of
//!   plain text per connection that primes the shared codec.
//! - this file: the loop's one compressor per window size and its one
//!   decompressor ([`SharedInflate`], [`compress_frame`]), reset after every
//!   message — so a connection that negotiated deflate in `shared` mode
//!   keeps no deflate state at all, only its 4-byte [`Agreed`].
//!
//! On the wire (§7.2.1): the sender compresses the whole message, strips
//! the trailing `00 00 ff ff` of the sync flush and sets RSV1 on the first
//! frame; the receiver appends `00 00 ff ff` and inflates.

pub mod codec;
pub mod context;
pub mod negotiate;

use std::cell::RefCell;

use log::trace;

use crate::error::ProtocolError;
use crate::frame::{self, Opcode};
use crate::message::Inflate;
use codec::{Deflater, InflateError, Inflater};
pub use context::Context;
pub use negotiate::{Agreed, Mode};

/// RSV1 in the frame header's reserved bits (0b100): "compressed" (§6).
pub const RSV1: u8 = 0b100;

/// The loop-wide codec: one decompressor (15-bit window, enough for any
/// client window) and a compressor per server window size asked for, each
/// created on first use. Per thread: the server has one loop thread.
struct Loop {
    inflater: Option<Inflater>,
    /// zlib level of the compressors (`--deflate-level`).
    level: u8,
    /// Index: window bits - 9 (9..=15).
    deflaters: [Option<Deflater>; 7],
    /// Compressed bytes of the message being sent (reused).
    scratch: Vec<u8>,
}

thread_local! {
    static LOOP: RefCell<Loop> = RefCell::new(Loop {
        inflater: None,
        level: codec::DEFAULT_LEVEL,
        deflaters: Default::default(),
        scratch: Vec::new(),
    });
}

/// Sets the zlib level (`--deflate-level`, 1..=9, checked by the config;
/// [`Deflater::new`] keeps it in zlib's range) of this thread's
/// compressors: called by the loop before it serves anyone.
pub fn set_level(level: u8) {
    LOOP.with(|l| {
        let mut l = l.borrow_mut();
        l.level = level;
        l.deflaters = Default::default();
    });
}

/// The read side for connections that agreed on no context takeover from
/// the client (`shared` mode): the loop's one decompressor, reset after
/// every message.
pub struct SharedInflate;

impl Inflate for SharedInflate {
    fn inflate(
        &mut self,
        payload: &[u8],
        out: &mut Vec<u8>,
        limit: u64,
        check: &mut dyn FnMut(&[u8]) -> bool,
    ) -> Result<(), ProtocolError> {
        inflate_after(&[], payload, out, limit, check)
    }
}

/// The read side for a client that keeps its compressor's context between
/// messages (`dedicated` mode, §7.1.1.2): the loop's decompressor primed
/// with the client's history, which grows by each message inflated.
pub struct DedicatedInflate<'a> {
    /// The client's history (see [`Context::received`]).
    pub history: &'a mut Vec<u8>,
    /// The client's window (what it may refer back across).
    pub window_bits: u8,
}

impl Inflate for DedicatedInflate<'_> {
    fn inflate(
        &mut self,
        payload: &[u8],
        out: &mut Vec<u8>,
        limit: u64,
        check: &mut dyn FnMut(&[u8]) -> bool,
    ) -> Result<(), ProtocolError> {
        let start = out.len();
        inflate_after(self.history, payload, out, limit, check)?;
        let inflated = out.get(start..).unwrap_or(&[]);
        context::remember(self.history, inflated, self.window_bits);
        Ok(())
    }
}

fn inflate_after(
    history: &[u8],
    payload: &[u8],
    out: &mut Vec<u8>,
    limit: u64,
    check: &mut dyn FnMut(&[u8]) -> bool,
) -> Result<(), ProtocolError> {
    LOOP.with(|l| {
        let mut l = l.borrow_mut();
        let inflater = l.inflater.get_or_insert_with(|| Inflater::new(15));
        let mut sink = |bytes: &[u8]| {
            if !check(bytes) {
                return false;
            }
            out.extend_from_slice(bytes);
            true
        };
        let result = inflater
            .prime(history)
            .and_then(|()| inflater.inflate(payload, true, 0, limit, &mut sink));
        trace!(
            "deflate in={} out={} history={}",
            payload.len(),
            out.len(),
            history.len()
        );
        match result {
            Ok(_) => Ok(()),
            Err(InflateError::Corrupt) => Err(ProtocolError::InvalidCompressedData),
            Err(InflateError::Rejected) => Err(ProtocolError::InvalidUtf8),
            Err(InflateError::TooBig { limit }) => Err(ProtocolError::MessageTooBig {
                size: limit + 1,
                limit,
            }),
        }
    })
}

/// Appends one whole compressed frame to `out`: RSV1 and FIN set, the
/// payload compressed by the loop's compressor for `window_bits` (9..=15),
/// which then forgets it (no context takeover). Encoded once, it can be
/// shared by every receiver that agreed on this window (a broadcast).
pub fn compress_frame(window_bits: u8, opcode: Opcode, payload: &[u8], out: &mut Vec<u8>) {
    compress_frame_after(window_bits, &[], opcode, payload, out);
}

/// As [`compress_frame`], the message free to refer back into `history`,
/// the plain text the client's window holds (dedicated mode).
pub fn compress_frame_after(
    window_bits: u8,
    history: &[u8],
    opcode: Opcode,
    payload: &[u8],
    out: &mut Vec<u8>,
) {
    let bits = window_bits.clamp(9, 15);
    LOOP.with(|l| {
        let mut l = l.borrow_mut();
        let Loop {
            deflaters,
            scratch,
            level,
            ..
        } = &mut *l;
        let slot = usize::from(bits - 9);
        let Some(deflater) = deflaters.get_mut(slot) else {
            return;
        };
        let deflater = deflater.get_or_insert_with(|| Deflater::new(bits, *level));
        scratch.clear();
        deflater.compress_after(history, payload, scratch);
        trace!(
            "deflate in={} out={} history={}",
            payload.len(),
            scratch.len(),
            history.len()
        );
        out.reserve(scratch.len() + 10);
        frame::encode_header_rsv(out, opcode, RSV1, scratch.len());
        out.extend_from_slice(scratch);
        // One large message should not keep its memory for the loop's life.
        if scratch.capacity() > 1 << 20 {
            *scratch = Vec::new();
        }
    });
}

/// Is this message sent compressed on a connection that agreed on
/// deflate? Data messages of at least `--deflate-min` bytes are; shorter
/// ones gain nothing and go plain (RSV1 clear: RFC 7692 §6 lets the sender
/// choose per message). Control frames never are (§6.1).
pub fn worth_compressing(opcode: Opcode, len: usize, min: usize) -> bool {
    matches!(opcode, Opcode::Text | Opcode::Binary) && len >= min
}

/// The window a connection's broadcasts are compressed with, or 0 for a
/// connection that gets them uncompressed.
pub fn broadcast_bits(agreed: Option<&Agreed>) -> u8 {
    agreed.map_or(0, |a| a.server_window_bits)
}
