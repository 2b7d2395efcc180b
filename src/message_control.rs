//! Control frames (§5.5): close, ping and pong. They may arrive between
//! the fragments of a data message and are never fragmented themselves.

use super::{Event, Flow, FrameReader};
use crate::error::{ProtocolError, close_code};
use crate::frame::{FrameHeader, Opcode};

impl FrameReader {
    /// A whole control frame, handed out as its event (a close payload
    /// checked first, §5.5.1).
    pub(super) fn control_frame(
        &mut self,
        header: &FrameHeader,
        payload: &[u8],
        on_event: &mut dyn FnMut(Event<'_>) -> Flow,
    ) -> Result<Flow, ProtocolError> {
        if self.observe_frames
            && on_event(Event::Frame {
                header: *header,
                payload,
            }) == Flow::Stop
        {
            return Ok(Flow::Stop);
        }
        let event = match header.opcode {
            Opcode::Ping => Event::Ping(payload),
            Opcode::Pong => Event::Pong(payload),
            _ => parse_close(payload)?,
        };
        Ok(on_event(event))
    }
}

/// Validates a close frame's payload (§5.5.1, §7.4).
pub fn parse_close(payload: &[u8]) -> Result<Event<'_>, ProtocolError> {
    match payload {
        [] => Ok(Event::Close {
            code: None,
            reason: "",
        }),
        [_] => Err(ProtocolError::CloseTooShort),
        [hi, lo, reason @ ..] => {
            let code = u16::from_be_bytes([*hi, *lo]);
            if !close_code::is_valid_on_wire(code) {
                return Err(ProtocolError::InvalidCloseCode(code));
            }
            let reason = std::str::from_utf8(reason).map_err(|_| ProtocolError::InvalidUtf8)?;
            Ok(Event::Close {
                code: Some(code),
                reason,
            })
        }
    }
}
