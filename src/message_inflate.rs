//! The read side's seam for an extension (RFC 7692 permessage-deflate): a
//! message marked compressed is handed over whole at its last frame.

use super::{Event, Flow, FrameReader};
use crate::error::ProtocolError;
use crate::frame::{FrameHeader, Opcode};
use crate::pool;

/// A per-message transform of the read side: the seam where an extension
/// plugs in (permessage-deflate, RFC 7692). The reader knows only that a
/// message was marked (RSV1 on its first frame, §6) and hands the marked
/// message's whole payload over once its last frame is in; neither the
/// routes nor the loop see it.
pub trait Inflate {
    /// Appends the inflated form of `payload` to `out`, never more than
    /// `limit` bytes in all (past it: [`ProtocolError::MessageTooBig`]),
    /// handing each step of output to `check` as it comes (false: the
    /// bytes are refused, [`ProtocolError::InvalidUtf8`]).
    fn inflate(
        &mut self,
        payload: &[u8],
        out: &mut Vec<u8>,
        limit: u64,
        check: &mut dyn FnMut(&[u8]) -> bool,
    ) -> Result<(), ProtocolError>;
}

impl FrameReader {
    /// The last frame of a compressed message is in: inflate the whole
    /// payload (in bounded steps, counted against `max_message`, text
    /// checked as UTF-8 as it comes out) and deliver it.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn inflate_and_deliver(
        &mut self,
        header: &FrameHeader,
        opcode: Opcode,
        chunk: &[u8],
        single_read: bool,
        max_message: u64,
        ext: Option<&mut dyn Inflate>,
        on_event: &mut dyn FnMut(Event<'_>) -> Flow,
    ) -> Result<Flow, ProtocolError> {
        // Without an extension the header parse refused RSV1 already.
        let Some(ext) = ext else {
            return Err(ProtocolError::ReservedBits(0b100));
        };
        let gathered = if single_read {
            Vec::new()
        } else {
            self.message.extend_from_slice(chunk);
            std::mem::take(&mut self.message)
        };
        let compressed: &[u8] = if single_read { chunk } else { &gathered };
        if self.observe_frames {
            // The last frame's payload is the tail of what was gathered.
            let last = usize::try_from(header.payload_len).unwrap_or(usize::MAX);
            let start = compressed.len().saturating_sub(last);
            let frame = Event::Frame {
                header: *header,
                payload: compressed.get(start..).unwrap_or(&[]),
            };
            if on_event(frame) == Flow::Stop {
                pool::give(gathered);
                return Ok(Flow::Stop);
            }
        }
        let is_text = opcode == Opcode::Text;
        let utf8 = &mut self.utf8;
        let mut check = |bytes: &[u8]| !is_text || utf8.feed(bytes).is_ok();
        let mut inflated = pool::take(compressed.len().saturating_mul(4).min(1 << 20));
        let result = ext.inflate(compressed, &mut inflated, max_message, &mut check);
        pool::give(gathered);
        let flow = match result {
            Err(e) => Err(e),
            Ok(()) if is_text && !self.utf8.is_complete() => Err(ProtocolError::InvalidUtf8),
            Ok(()) => Ok(on_event(Event::Message {
                opcode,
                payload: &inflated,
            })),
        };
        pool::give(inflated);
        flow
    }
}
