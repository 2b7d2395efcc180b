//! From frames to messages (RFC 6455 §5.4–§5.6): the read side of a
//! connection, without a socket.
//!
//! [`FrameReader::feed`] takes whatever bytes a read returned — half a
//! header, ten frames, the middle of a 16 MiB payload — and calls back once
//! per complete message or control frame. Payload bytes are unmasked and
//! UTF-8-checked the moment they arrive. A message that arrives whole in
//! one read is handed out straight from the read buffer, without a copy;
//! only a message split across reads or frames is gathered here.

use crate::error::{ProtocolError, close_code};
use crate::frame::{FrameHeader, MAX_HEADER_LEN, Opcode, unmask};
use crate::pool;
use crate::utf8::Utf8Validator;

/// What the reader hands to the connection.
#[derive(Debug, PartialEq, Eq)]
pub enum Event<'a> {
    /// Every frame, as it completes (only when `observe_frames` is on: the
    /// `/inspect` route). `payload` is this frame's unmasked payload.
    Frame {
        header: FrameHeader,
        payload: &'a [u8],
    },
    /// A whole data message. Text payloads are valid UTF-8.
    Message {
        opcode: Opcode,
        payload: &'a [u8],
    },
    Ping(&'a [u8]),
    Pong(&'a [u8]),
    /// A valid close frame (§5.5.1). `code` is `None` for an empty payload.
    Close {
        code: Option<u16>,
        reason: &'a str,
    },
}

/// Whether the reader should go on with the bytes after an event.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum Flow {
    Continue,
    /// The connection has stopped reading (it received or sent a close).
    Stop,
}

/// The parse state carried between reads. Empty buffers cost nothing, so an
/// idle connection holds no payload memory at all.
#[derive(Debug, Default)]
pub struct FrameReader {
    /// The start of a header cut at the end of the previous read.
    header_buf: [u8; MAX_HEADER_LEN],
    header_len: u8,
    /// The frame whose payload is arriving, and how much of it has.
    current: Option<FrameHeader>,
    received: u64,
    /// The data message being assembled (fragmented or split across reads).
    message: Vec<u8>,
    /// Text or Binary while a fragmented message is open (§5.4).
    message_opcode: Option<Opcode>,
    utf8: Utf8Validator,
    /// A control frame's payload split across reads.
    control: Vec<u8>,
    /// Emit [`Event::Frame`] for every frame.
    pub observe_frames: bool,
}

impl FrameReader {
    /// Feeds the bytes of one read. They are unmasked in place. Stops at
    /// the first protocol error, or when `on_event` returns [`Flow::Stop`].
    pub fn feed(
        &mut self,
        mut data: &mut [u8],
        max_message: u64,
        on_event: &mut dyn FnMut(Event<'_>) -> Flow,
    ) -> Result<Flow, ProtocolError> {
        loop {
            let header = match self.current {
                Some(header) => header,
                None => {
                    let Some((header, used)) = self.take_header(data)? else {
                        return Ok(Flow::Continue);
                    };
                    data = &mut data[used..];
                    self.start_frame(&header, max_message)?;
                    self.current = Some(header);
                    self.received = 0;
                    header
                }
            };
            let remaining = header.payload_len - self.received;
            let take = usize::try_from(remaining).map_or(data.len(), |r| r.min(data.len()));
            let (chunk, rest) = std::mem::take(&mut data).split_at_mut(take);
            data = rest;
            if self.payload_chunk(&header, chunk, on_event)? == Flow::Stop {
                return Ok(Flow::Stop);
            }
            if data.is_empty() {
                return Ok(Flow::Continue);
            }
        }
    }

    /// Is the reader between frames with nothing buffered? (For tests and
    /// the fuzzer: a stream that ended cleanly leaves the reader empty.)
    pub fn is_idle(&self) -> bool {
        self.current.is_none() && self.header_len == 0 && self.message_opcode.is_none()
    }

    /// Bytes held for partial frames and messages (for backlog accounting).
    pub fn buffered(&self) -> usize {
        self.message.capacity() + self.control.capacity()
    }

    /// Parses the next header, joining it with bytes kept from the last
    /// read. Returns the header and how many bytes of `data` it used.
    fn take_header(&mut self, data: &[u8]) -> Result<Option<(FrameHeader, usize)>, ProtocolError> {
        if self.header_len == 0 {
            if let Some(header) = FrameHeader::parse(data)? {
                return Ok(Some((header, header.header_len)));
            }
            // Not a whole header: fewer than 14 bytes, keep them.
            self.header_buf[..data.len()].copy_from_slice(data);
            self.header_len = data.len() as u8;
            return Ok(None);
        }
        let had = usize::from(self.header_len);
        let add = (MAX_HEADER_LEN - had).min(data.len());
        self.header_buf[had..had + add].copy_from_slice(&data[..add]);
        match FrameHeader::parse(&self.header_buf[..had + add])? {
            Some(header) => {
                self.header_len = 0;
                Ok(Some((header, header.header_len - had)))
            }
            None => {
                self.header_len = (had + add) as u8;
                Ok(None)
            }
        }
    }

    /// Checks a new frame against the message in progress (§5.4) and the
    /// size limit, before a byte of its payload is read.
    fn start_frame(&mut self, header: &FrameHeader, max_message: u64) -> Result<(), ProtocolError> {
        match header.opcode {
            Opcode::Text | Opcode::Binary => {
                if self.message_opcode.is_some() {
                    return Err(ProtocolError::ExpectedContinuation);
                }
                if header.payload_len > max_message {
                    return Err(ProtocolError::MessageTooBig {
                        size: header.payload_len,
                        limit: max_message,
                    });
                }
                self.message_opcode = Some(header.opcode);
                self.utf8.reset();
            }
            Opcode::Continuation => {
                if self.message_opcode.is_none() {
                    return Err(ProtocolError::UnexpectedContinuation);
                }
                let size = self.message.len() as u64 + header.payload_len;
                if size > max_message {
                    return Err(ProtocolError::MessageTooBig {
                        size,
                        limit: max_message,
                    });
                }
            }
            Opcode::Close | Opcode::Ping | Opcode::Pong => {}
        }
        Ok(())
    }

    /// Handles `chunk`, the next bytes of the current frame's payload.
    fn payload_chunk(
        &mut self,
        header: &FrameHeader,
        chunk: &mut [u8],
        on_event: &mut dyn FnMut(Event<'_>) -> Flow,
    ) -> Result<Flow, ProtocolError> {
        let offset = self.received;
        let ascii = unmask(chunk, header.mask, offset);
        self.received += chunk.len() as u64;
        let complete = self.received == header.payload_len;

        if header.opcode.is_control() {
            // Control frames may arrive between the fragments of a data
            // message (§5.4), so they have a buffer of their own.
            if complete && self.control.is_empty() {
                self.current = None;
                return self.control_frame(header, chunk, on_event);
            }
            self.control.extend_from_slice(chunk);
            if !complete {
                return Ok(Flow::Continue);
            }
            self.current = None;
            let payload = std::mem::take(&mut self.control);
            return self.control_frame(header, &payload, on_event);
        }

        // §8.1: text is checked as it arrives, so an invalid byte fails the
        // connection at once. Pure ASCII needs no further look.
        let is_text = self.message_opcode == Some(Opcode::Text);
        if is_text && (!ascii || !self.utf8.is_complete()) && self.utf8.feed(chunk).is_err() {
            return Err(ProtocolError::InvalidUtf8);
        }
        if chunk.is_empty() && !complete {
            // The read ended right after the header: nothing to keep yet.
            return Ok(Flow::Continue);
        }
        if !complete {
            if self.message.is_empty() {
                // Reserve for what the header announced, but not more than
                // 1 MiB up front: a peer could announce 16 MiB and send none.
                let want = usize::try_from(header.payload_len).unwrap_or(usize::MAX);
                if self.message.capacity() == 0 {
                    self.message = pool::take(want.min(1 << 20));
                } else {
                    self.message.reserve(want.min(1 << 20));
                }
            }
            self.message.extend_from_slice(chunk);
            return Ok(Flow::Continue);
        }
        self.current = None;
        let single_read = offset == 0 && self.message.is_empty();
        if !header.fin {
            self.message.extend_from_slice(chunk);
            if self.observe_frames {
                let start = self.message.len() - header.payload_len as usize;
                let flow = on_event(Event::Frame {
                    header: *header,
                    payload: &self.message[start..],
                });
                return Ok(flow);
            }
            return Ok(Flow::Continue);
        }
        if is_text && !self.utf8.is_complete() {
            return Err(ProtocolError::InvalidUtf8);
        }
        let opcode = self.message_opcode.take().unwrap_or(Opcode::Binary);
        if single_read {
            // The fast path: the whole message is in this read's buffer.
            return Ok(self.deliver(header, opcode, chunk, on_event));
        }
        self.message.extend_from_slice(chunk);
        let message = std::mem::take(&mut self.message);
        let frame_start = message.len() - header.payload_len as usize;
        let flow = if self.observe_frames
            && on_event(Event::Frame {
                header: *header,
                payload: &message[frame_start..],
            }) == Flow::Stop
        {
            Flow::Stop
        } else {
            on_event(Event::Message {
                opcode,
                payload: &message,
            })
        };
        pool::give(message);
        Ok(flow)
    }

    fn deliver(
        &mut self,
        header: &FrameHeader,
        opcode: Opcode,
        payload: &[u8],
        on_event: &mut dyn FnMut(Event<'_>) -> Flow,
    ) -> Flow {
        if self.observe_frames
            && on_event(Event::Frame {
                header: *header,
                payload,
            }) == Flow::Stop
        {
            return Flow::Stop;
        }
        on_event(Event::Message { opcode, payload })
    }

    fn control_frame(
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A masked client frame, as a browser would send it.
    fn client_frame(b0: u8, payload: &[u8]) -> Vec<u8> {
        crate::frame::tests::masked_frame(b0, payload, [0x5A, 0xC3, 0x01, 0xFE])
    }

    #[derive(Debug, PartialEq)]
    enum Owned {
        Message(Opcode, Vec<u8>),
        Ping(Vec<u8>),
        Pong(Vec<u8>),
        Close(Option<u16>, String),
        Frame(Opcode, bool, usize),
    }

    fn run(bytes: &[u8], split: usize, observe: bool) -> (Vec<Owned>, Result<Flow, ProtocolError>) {
        let mut reader = FrameReader {
            observe_frames: observe,
            ..Default::default()
        };
        let mut events = Vec::new();
        let mut result = Ok(Flow::Continue);
        for chunk in bytes.chunks(split.max(1)) {
            let mut chunk = chunk.to_vec();
            result = reader.feed(&mut chunk, 1 << 20, &mut |e| {
                events.push(match e {
                    Event::Message { opcode, payload } => Owned::Message(opcode, payload.to_vec()),
                    Event::Ping(p) => Owned::Ping(p.to_vec()),
                    Event::Pong(p) => Owned::Pong(p.to_vec()),
                    Event::Close { code, reason } => Owned::Close(code, reason.to_string()),
                    Event::Frame { header, payload } => {
                        Owned::Frame(header.opcode, header.fin, payload.len())
                    }
                });
                Flow::Continue
            });
            if result.is_err() {
                break;
            }
        }
        (events, result)
    }

    #[test]
    fn s5_4_fragmented_message_with_ping_between_fragments() {
        let mut bytes = client_frame(0x01, b"Hel");
        bytes.extend(client_frame(0x89, b"ping!"));
        bytes.extend(client_frame(0x00, "lo, κ".as_bytes()));
        bytes.extend(client_frame(0x80, b"!"));
        for split in [1, 2, 3, 5, 7, 11, 64] {
            let (events, result) = run(&bytes, split, false);
            assert_eq!(result, Ok(Flow::Continue));
            assert_eq!(
                events,
                vec![
                    Owned::Ping(b"ping!".to_vec()),
                    Owned::Message(Opcode::Text, "Hello, κ!".as_bytes().to_vec()),
                ],
                "split {split}"
            );
        }
    }

    #[test]
    fn many_frames_in_one_read_come_out_in_order() {
        let mut bytes = Vec::new();
        for i in 0..100u32 {
            bytes.extend(client_frame(0x82, &i.to_be_bytes()));
        }
        let (events, result) = run(&bytes, bytes.len(), false);
        assert!(result.is_ok());
        assert_eq!(events.len(), 100);
        for (i, e) in events.iter().enumerate() {
            assert_eq!(
                e,
                &Owned::Message(Opcode::Binary, (i as u32).to_be_bytes().to_vec())
            );
        }
    }

    #[test]
    fn s5_4_continuation_without_message_is_1002() {
        let (_, result) = run(&client_frame(0x80, b"x"), 100, false);
        assert_eq!(result, Err(ProtocolError::UnexpectedContinuation));
        assert_eq!(ProtocolError::UnexpectedContinuation.close_code(), 1002);
    }

    #[test]
    fn s5_4_new_data_frame_inside_fragmented_message_is_1002() {
        let mut bytes = client_frame(0x01, b"a");
        bytes.extend(client_frame(0x81, b"b"));
        let (_, result) = run(&bytes, 100, false);
        assert_eq!(result, Err(ProtocolError::ExpectedContinuation));
    }

    #[test]
    fn s8_1_invalid_utf8_fails_before_frame_ends() {
        // The payload's first bytes are already impossible UTF-8: the error
        // comes from the first chunk, though the frame announces 1000 bytes.
        let mut payload = vec![0xF4, 0x90];
        payload.resize(1000, b'a');
        let bytes = client_frame(0x81, &payload);
        let mut reader = FrameReader::default();
        let mut first = bytes[..20].to_vec();
        let result = reader.feed(&mut first, 1 << 20, &mut |_| Flow::Continue);
        assert_eq!(result, Err(ProtocolError::InvalidUtf8));
        assert_eq!(ProtocolError::InvalidUtf8.close_code(), 1007);
    }

    #[test]
    fn s8_1_text_split_inside_a_character_across_fragments() {
        let text = "€uro";
        let b = text.as_bytes();
        let mut bytes = client_frame(0x01, &b[..1]);
        bytes.extend(client_frame(0x00, &b[1..2]));
        bytes.extend(client_frame(0x80, &b[2..]));
        let (events, result) = run(&bytes, 3, false);
        assert!(result.is_ok());
        assert_eq!(events, vec![Owned::Message(Opcode::Text, b.to_vec())]);
    }

    #[test]
    fn s8_1_text_ending_mid_character_is_1007() {
        let (_, result) = run(&client_frame(0x81, &"€".as_bytes()[..2]), 100, false);
        assert_eq!(result, Err(ProtocolError::InvalidUtf8));
    }

    #[test]
    fn s10_4_oversized_message_refused_from_header() {
        let mut reader = FrameReader::default();
        let mut header = vec![0x82, 0x80 | 127];
        header.extend_from_slice(&(2u64 << 20).to_be_bytes());
        header.extend_from_slice(&[1, 2, 3, 4]);
        let result = reader.feed(&mut header, 1 << 20, &mut |_| Flow::Continue);
        assert!(matches!(result, Err(ProtocolError::MessageTooBig { .. })));
        assert_eq!(result.unwrap_err().close_code(), 1009);
    }

    #[test]
    fn s10_4_oversized_fragmented_message_refused() {
        let mut reader = FrameReader::default();
        let half = vec![0u8; 600 * 1024];
        let mut bytes = client_frame(0x02, &half);
        bytes.extend(client_frame(0x80, &half));
        let result = reader.feed(&mut bytes, 1 << 20, &mut |_| Flow::Continue);
        assert!(matches!(result, Err(ProtocolError::MessageTooBig { .. })));
    }

    #[test]
    fn s5_5_1_close_payloads() {
        assert_eq!(
            parse_close(&[]),
            Ok(Event::Close {
                code: None,
                reason: ""
            })
        );
        assert_eq!(parse_close(&[3]), Err(ProtocolError::CloseTooShort));
        assert_eq!(
            parse_close(&[0x03, 0xE8, b'o', b'k']),
            Ok(Event::Close {
                code: Some(1000),
                reason: "ok"
            })
        );
        assert_eq!(
            parse_close(&[0x03, 0xE8, 0xFF]),
            Err(ProtocolError::InvalidUtf8)
        );
    }

    #[test]
    fn s7_4_close_codes_valid_and_invalid() {
        for code in [
            1000u16, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999,
        ] {
            assert!(parse_close(&code.to_be_bytes()).is_ok(), "{code}");
        }
        for code in [
            0u16, 999, 1004, 1005, 1006, 1012, 1013, 1014, 1015, 1016, 1100, 2000, 2999, 5000,
            65535,
        ] {
            assert_eq!(
                parse_close(&code.to_be_bytes()),
                Err(ProtocolError::InvalidCloseCode(code)),
                "{code}"
            );
        }
    }

    #[test]
    fn observed_frames_precede_their_message() {
        let mut bytes = client_frame(0x01, b"ab");
        bytes.extend(client_frame(0x80, b"cd"));
        bytes.extend(client_frame(0x89, b""));
        let (events, _) = run(&bytes, 4, true);
        assert_eq!(
            events,
            vec![
                Owned::Frame(Opcode::Text, false, 2),
                Owned::Frame(Opcode::Continuation, true, 2),
                Owned::Message(Opcode::Text, b"abcd".to_vec()),
                Owned::Frame(Opcode::Ping, true, 0),
                Owned::Ping(vec![]),
            ]
        );
    }

    #[test]
    fn empty_messages_and_reader_returns_to_idle() {
        let mut bytes = client_frame(0x81, b"");
        bytes.extend(client_frame(0x82, b""));
        let mut reader = FrameReader::default();
        let mut n = 0;
        reader
            .feed(&mut bytes, 10, &mut |_| {
                n += 1;
                Flow::Continue
            })
            .unwrap();
        assert_eq!(n, 2);
        assert!(reader.is_idle());
    }
}
