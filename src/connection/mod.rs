//! One client connection, without its socket: bytes in, bytes queued out.
//!
//! ```text
//!  Handshaking ──101──▶ Open ──server sends close──▶ Closing
//!       │                 │                              │
//!   HTTP reply,      peer's close answered,       peer's close arrives,
//!   refusal          or a protocol error          or --close-timeout
//!       ▼                 ▼                              ▼
//!                      Finishing: flush, shut down the write side,
//!                      read and discard until the peer closes (§7.1.1)
//! ```
//!
//! The server owns the socket and the loop; this module owns the RFC's
//! rules about what to answer and when to stop. [`opening`] is the
//! handshake phase; what messages mean is the [`crate::app::App`]'s.

mod closing;
mod events;
mod opening;

use events::Dispatcher;

use std::net::SocketAddr;
use std::time::Instant;

use crate::app::{self, App, PeerAddr};
use crate::config::Config;
use crate::error::ProtocolError;
use crate::frame::Opcode;
use crate::message::FrameReader;
use crate::outqueue::OutQueue;
use crate::timers::{TimerKind, Timers};

/// A partial message up to this size is never refused for --max-memory.
const SMALL_PARTIAL: usize = 64 * 1024;

/// What the protocol needs from the loop: limits, the time, deadlines.
pub struct Env<'a> {
    pub config: &'a Config,
    pub now: Instant,
    pub timers: &'a mut Timers,
    /// How many bytes this connection may hold (partial message and queue)
    /// without passing --max-memory, given what all others hold.
    pub memory_room: usize,
}

/// Where a connection is in its life (§4, §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Reading the HTTP request head.
    Handshaking,
    /// WebSocket open: messages flow both ways.
    Open,
    /// The server sent a close frame and waits for the peer's (§7.1.2).
    Closing,
    /// Nothing more to say: flush what is queued, then close TCP.
    Finishing,
}

impl Phase {
    /// Does input still mean anything? (In `Finishing` it is discarded.)
    pub fn reads_frames(self) -> bool {
        matches!(self, Phase::Open | Phase::Closing)
    }
}

pub struct Connection {
    /// A number never reused, for logs and the operator console (`#3`).
    pub id: u64,
    pub peer: PeerAddr,
    pub phase: Phase,
    /// The route asked for every frame as it arrives (`/inspect`).
    pub(crate) report_frames: bool,
    /// The route asked to close (code, reason): carried out by the server
    /// at the end of the round, after what the round holds for this client
    /// (an error event that explains the close comes before it). Messages
    /// that arrive meanwhile are not processed. Boxed: rare, and an idle
    /// connection pays 8 bytes for it, not 32.
    close_request: Option<Box<(u16, String)>>,
    /// Parse state carried between reads; boxed and created only when a
    /// read ends inside a frame, so an idle connection carries none.
    reader: Option<Box<FrameReader>>,
    /// permessage-deflate as agreed in the 101 (RFC 7692): 4 bytes, and no
    /// deflate state — the loop's shared codec does the work.
    pub deflate: Option<crate::deflate::Agreed>,
    /// Context takeover's two histories (`--deflate dedicated`), made on
    /// the first compressed message: at most 2^window bytes each.
    pub deflate_context: Option<Box<crate::deflate::Context>>,
    /// The request head while it arrives in pieces. Boxed on purpose: 8
    /// bytes in every open connection instead of an empty 24-byte Vec.
    #[allow(clippy::box_collection)]
    head: Option<Box<Vec<u8>>>,
    pub out: OutQueue,
    /// Seconds after the server started that this client connected.
    pub connected_secs: u32,
    /// Bytes arrived since the last idle check: the client is alive.
    pub seen: bool,
    /// The idle check sent a ping that nothing has answered yet.
    pub ping_sent: bool,
    /// Set by the server once it shut down the write side.
    pub write_shut: bool,
    /// The close code that ended the connection, for the log line.
    pub close_code: Option<u16>,
    /// Queued in the server's list of connections to flush.
    pub dirty: bool,
    /// Flushes since the last idle check (saturating): a connection that
    /// flushed more than once is busy and keeps its queue's memory.
    pub flushes: u8,
    /// Bytes read since the last progress check while a message was in
    /// progress (saturating).
    partial_progress: u32,
}

impl Connection {
    pub fn new(id: u64, peer: SocketAddr, connected_secs: u32) -> Connection {
        Connection {
            id,
            peer: PeerAddr::from(peer),
            phase: Phase::Handshaking,
            report_frames: false,
            close_request: None,
            reader: None,
            deflate: None,
            deflate_context: None,
            head: None,
            out: OutQueue::default(),
            connected_secs,
            seen: true,
            ping_sent: false,
            write_shut: false,
            close_code: None,
            dirty: false,
            flushes: 0,
            partial_progress: 0,
        }
    }

    /// Handles the bytes of one read. `key` is this connection's slab key.
    pub fn on_bytes(&mut self, key: usize, data: &mut [u8], env: &mut Env, app: &mut impl App) {
        self.seen = true;
        match self.phase {
            Phase::Handshaking => self.on_handshake_bytes(key, data, env, app),
            Phase::Open | Phase::Closing => self.on_frame_bytes(key, data, env, app),
            Phase::Finishing => {}
        }
    }

    pub(super) fn on_frame_bytes(
        &mut self,
        key: usize,
        data: &mut [u8],
        env: &mut Env,
        app: &mut impl App,
    ) {
        let was_partial = self.reader.is_some();
        let mut boxed = self.reader.take();
        let mut local = FrameReader::default();
        let reader = match boxed.as_deref_mut() {
            Some(reader) => reader,
            None => &mut local,
        };
        // Frame events feed the inspector and the `RUST_LOG=trace` frame log.
        reader.observe_frames = self.report_frames || log::log_enabled!(log::Level::Trace);
        let max = env.config.max_message;
        let mut shared = crate::deflate::SharedInflate;
        // The client's history is lent to the read side, so that a route's
        // sends during the read use (and grow) our own at the same time.
        let mut received = self
            .deflate_context
            .as_mut()
            .map(|c| std::mem::take(&mut c.received))
            .unwrap_or_default();
        let mut dedicated = crate::deflate::DedicatedInflate {
            history: &mut received,
            window_bits: 15,
        };
        let ext: Option<&mut dyn crate::message::Inflate> = match self.deflate {
            None => None,
            Some(agreed) if agreed.client_no_context_takeover => Some(&mut shared),
            Some(agreed) => {
                dedicated.window_bits = agreed.client_window_bits;
                Some(&mut dedicated)
            }
        };
        let mut sink = Dispatcher {
            conn: self,
            key,
            env,
            app,
        };
        let result = reader.feed_with(data, max, ext, &mut sink);
        if received.capacity() > 0 {
            self.deflate_context
                .get_or_insert_with(Box::default)
                .received = received;
        }
        // Keep parse state only while a frame is unfinished, and never once
        // the connection stopped reading (a close arrived or was sent).
        let idle = boxed
            .as_deref()
            .map_or(local.is_idle(), FrameReader::is_idle);
        self.reader = match boxed {
            _ if idle || !self.phase.reads_frames() => None,
            Some(boxed) => Some(boxed),
            None => Some(Box::new(local)),
        };
        if let Err(e) = result {
            return self.fail(key, &e, env, app);
        }
        if self.reader.is_some() {
            if !was_partial {
                // A message is in progress now: its first progress check.
                self.partial_progress = 0;
                let at = env.now + env.config.message_timeout;
                env.timers.schedule(at, TimerKind::Progress, key, self.id);
            }
            let read = u32::try_from(data.len()).unwrap_or(u32::MAX);
            self.partial_progress = self.partial_progress.saturating_add(read);
        }
        // --max-memory: the whole server's budget. Closing (1013) rather
        // than pausing: a paused client still holds its partial message, and
        // clients that all wait for memory the others hold would wait
        // forever; closed, the memory is free at once for everyone else.
        // Only a large partial message is refused: small ones (under
        // SMALL_PARTIAL, a read's worth) always pass, so a busy server
        // never refuses ordinary chat.
        let partial = self.reader.as_deref().map_or(0, FrameReader::buffered);
        let held = partial + self.out.len();
        if partial > SMALL_PARTIAL && self.phase.reads_frames() && held > env.memory_room {
            self.fail(key, &ProtocolError::ServerMemory(held), env, app);
        }
    }

    /// Bytes this connection holds: its partial frame or message, and its
    /// outbound queue.
    pub fn memory(&self) -> usize {
        let partial = self.reader.as_deref().map_or(0, FrameReader::buffered);
        let context = self.deflate_context.as_deref().map_or(0, |c| c.memory());
        partial + self.out.len() + context
    }

    /// Did a route ask to close? (The server then calls
    /// [`Connection::carry_out_close`] once the round is delivered.)
    pub fn wants_close(&self) -> bool {
        self.close_request.is_some()
    }

    /// Starts the close a route asked for.
    pub fn carry_out_close(&mut self, key: usize, env: &mut Env, app: &mut impl App) {
        if let Some(close) = self.close_request.take() {
            let (code, reason) = *close;
            self.start_close(key, code, &reason, env, app);
        }
    }

    /// Queues one FIN frame.
    pub fn send(&mut self, opcode: Opcode, payload: &[u8]) {
        app::queue_frame(&mut self.out, self.id, opcode, payload);
    }
}
