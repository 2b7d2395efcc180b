//! From frames to messages (RFC 6455 §5.4–§5.6): the read side of a
//! connection, without a socket.
//!
//! [`FrameReader::feed`] takes whatever bytes a read returned — half a
//! header, ten frames, the middle of a 16 MiB payload — and calls back once
//! per complete message or control frame. Payload bytes are unmasked and
//! UTF-8-checked the moment they arrive. A message that arrives whole in
//! one read is handed out straight from the read buffer, without a copy;
//! only a message split across reads or frames is gathered here.

use crate::error::ProtocolError;
use crate::frame::{FrameHeader, MAX_HEADER_LEN, Opcode, unmask};
use crate::pool;
use crate::utf8::Utf8Validator;

#[path = "message_inflate.rs"]
mod inflate;
pub use inflate::Inflate;
#[path = "message_control.rs"]
mod control;
pub use control::parse_close;
#[path = "message_whole.rs"]
mod whole;
use whole::{SMALL_HEADER_LEN, deliver_whole};

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

/// Where the reader's events go: any `FnMut(Event) -> Flow`, or a type of
/// its own whose handler can be inlined into the reader's loop.
pub trait EventSink {
    fn event(&mut self, event: Event<'_>) -> Flow;
}

impl<F: FnMut(Event<'_>) -> Flow> EventSink for F {
    #[inline(always)]
    fn event(&mut self, event: Event<'_>) -> Flow {
        self(event)
    }
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
    /// The message in progress had RSV1 on its first frame (compressed).
    compressed: bool,
    /// Emit [`Event::Frame`] for every frame.
    pub observe_frames: bool,
}

impl FrameReader {
    /// Feeds the bytes of one read. They are unmasked in place. Stops at
    /// the first protocol error, or when `on_event` returns [`Flow::Stop`].
    pub fn feed(
        &mut self,
        data: &mut [u8],
        max_message: u64,
        mut on_event: &mut dyn FnMut(Event<'_>) -> Flow,
    ) -> Result<Flow, ProtocolError> {
        self.feed_with(data, max_message, None, &mut on_event)
    }

    /// [`FrameReader::feed`] on a connection with an extension: RSV1 is
    /// allowed on the first frame of a data message, and such a message is
    /// handed to `ext` whole before it is delivered.
    ///
    /// Generic over `on_event` so that the common case below (a whole
    /// message in one read) calls the connection's handler inline, with no
    /// call through a pointer per message; the rarer paths take it as a
    /// `dyn` and are compiled once.
    #[inline]
    pub fn feed_with<S: EventSink>(
        &mut self,
        mut data: &mut [u8],
        max_message: u64,
        mut ext: Option<&mut dyn Inflate>,
        on_event: &mut S,
    ) -> Result<Flow, ProtocolError> {
        let allowed_rsv = if ext.is_some() { 0b100 } else { 0 };
        loop {
            // The commonest frame of all, a small whole message, in one
            // look at its first two bytes.
            if let Some((opcode, mask, len)) = self.small_whole_message(data, max_message) {
                let (frame, rest) = std::mem::take(&mut data).split_at_mut(SMALL_HEADER_LEN + len);
                data = rest;
                let (_, payload) = frame.split_at_mut(SMALL_HEADER_LEN);
                let flow = deliver_whole(opcode, mask, payload, on_event)?;
                if flow == Flow::Stop || data.is_empty() {
                    return Ok(flow);
                }
                continue;
            }
            let header = match self.current {
                Some(header) => header,
                None => {
                    let Some((header, used)) = self.take_header(data, allowed_rsv)? else {
                        return Ok(Flow::Continue);
                    };
                    data = &mut data[used..];
                    if let Some(whole) = self.whole_message(&header, data.len(), max_message) {
                        // A larger whole message, also taken in one step.
                        let (payload, rest) = std::mem::take(&mut data).split_at_mut(whole);
                        data = rest;
                        let flow = deliver_whole(header.opcode, header.mask, payload, on_event)?;
                        if flow == Flow::Stop || data.is_empty() {
                            return Ok(flow);
                        }
                        continue;
                    }
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
            let ext = ext.as_deref_mut().map(|e| e as &mut dyn Inflate);
            let flow =
                self.payload_chunk(&header, chunk, max_message, ext, &mut |e| on_event.event(e))?;
            if flow == Flow::Stop || data.is_empty() {
                return Ok(flow);
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
    fn take_header(
        &mut self,
        data: &[u8],
        allowed_rsv: u8,
    ) -> Result<Option<(FrameHeader, usize)>, ProtocolError> {
        if self.header_len == 0 {
            if let Some(header) = FrameHeader::parse_with(data, allowed_rsv)? {
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
        match FrameHeader::parse_with(&self.header_buf[..had + add], allowed_rsv)? {
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
                // RFC 7692 §6: RSV1 on the first frame marks the message.
                self.compressed = header.rsv & 0b100 != 0;
                self.utf8.reset();
            }
            Opcode::Continuation => {
                if self.message_opcode.is_none() {
                    return Err(ProtocolError::UnexpectedContinuation);
                }
                // RFC 7692 §6.1: only the first frame carries RSV1.
                if header.rsv != 0 {
                    return Err(ProtocolError::Rsv1NotOnFirstFrame);
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
        max_message: u64,
        ext: Option<&mut dyn Inflate>,
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
        // A compressed message is checked as it inflates, at its end.
        let is_text = self.message_opcode == Some(Opcode::Text) && !self.compressed;
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
        if std::mem::take(&mut self.compressed) {
            return self.inflate_and_deliver(
                header,
                opcode,
                chunk,
                single_read,
                max_message,
                ext,
                on_event,
            );
        }
        if single_read {
            // The last frame is the whole message and is in this read's
            // buffer: handed out from there. (A plain whole message rarely
            // gets here — `feed_with` takes it first — but one observed
            // frame by frame, for /inspect or the trace log, does.)
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
}

#[cfg(test)]
#[path = "message_tests.rs"]
mod tests;
