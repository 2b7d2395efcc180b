//! The common case of the read side, taken in one step: a data message
//! that arrives as one frame, whole in one read — nearly every message of
//! a chat or an echo. It is unmasked and checked in the read buffer and
//! handed out from there, without a copy and without the parse state that
//! fragments and split reads need.

use super::{Event, EventSink, Flow, FrameReader};
use crate::error::ProtocolError;
use crate::frame::{FrameHeader, Opcode, unmask};

/// The header of a masked frame with a 7-bit length: 2 bytes and the key.
pub(super) const SMALL_HEADER_LEN: usize = 6;

impl FrameReader {
    /// A small whole message at the start of `data`: its opcode, masking
    /// key and payload length. The two first bytes say it all (§5.2):
    /// 0x81 or 0x82 is FIN set, no RSV bit, Text or Binary; a second byte
    /// with the MASK bit (§5.1) and a length of 0–125 needs no extended
    /// length, so the header is 6 bytes. It must be whole in this read and
    /// start no fragmented message. Anything else takes the general path
    /// of [`FrameReader::feed_with`], which also gives every error.
    #[inline(always)]
    pub(super) fn small_whole_message(
        &self,
        data: &[u8],
        max: u64,
    ) -> Option<(Opcode, [u8; 4], usize)> {
        let [b0, b1, m0, m1, m2, m3, payload @ ..] = data else {
            return None;
        };
        let opcode = match *b0 {
            0x81 => Opcode::Text,
            0x82 => Opcode::Binary,
            _ => return None,
        };
        // MASK set: the length is what is left; MASK clear: 128 or more.
        let len = usize::from(*b1 ^ 0x80);
        let between_frames = self.current.is_none() && self.header_len == 0;
        (between_frames
            && self.takes_whole_messages()
            && len <= 125
            && len <= payload.len()
            && len as u64 <= max)
            .then_some((opcode, [*m0, *m1, *m2, *m3], len))
    }

    /// The payload length of a frame that is a whole message on its own —
    /// FIN set, Text or Binary, no RSV bit, no message in progress, within
    /// `max_message` — when `available` bytes hold all of it. Such a frame
    /// needs none of the reader's state; every other frame takes the long
    /// way through it.
    pub(super) fn whole_message(
        &self,
        header: &FrameHeader,
        available: usize,
        max: u64,
    ) -> Option<usize> {
        let plain = header.fin
            && header.rsv == 0
            && matches!(header.opcode, Opcode::Text | Opcode::Binary)
            && self.takes_whole_messages()
            && header.payload_len <= max;
        let len = usize::try_from(header.payload_len).ok()?;
        (plain && len <= available).then_some(len)
    }

    /// May a whole message skip the reader's state? Not while a fragmented
    /// message is open (§5.4: the next data frame must be a continuation),
    /// nor while frames are observed one by one (/inspect, the trace log).
    #[inline(always)]
    fn takes_whole_messages(&self) -> bool {
        self.message_opcode.is_none() && !self.observe_frames
    }
}

/// Unmasks and delivers a data message that arrived whole in one frame
/// (`whole_message` or `small_whole_message` ruled out `observe_frames`:
/// no frame event to give first).
#[inline(always)]
pub(super) fn deliver_whole<S: EventSink>(
    opcode: Opcode,
    mask: [u8; 4],
    payload: &mut [u8],
    on_event: &mut S,
) -> Result<Flow, ProtocolError> {
    let ascii = unmask(payload, mask, 0);
    // §8.1: a text message must be valid UTF-8.
    if opcode == Opcode::Text && !ascii && std::str::from_utf8(payload).is_err() {
        return Err(ProtocolError::InvalidUtf8);
    }
    Ok(on_event.event(Event::Message { opcode, payload }))
}
