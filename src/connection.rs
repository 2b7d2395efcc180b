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
//! The server owns the socket and the loop; this file owns the RFC's rules
//! about what to answer and when to stop.

use std::fmt;
use std::net::{SocketAddr, SocketAddrV6};

use log::{debug, info, trace};

use crate::error::{HandshakeError, ProtocolError, close_code};
use crate::frame::{self, Opcode};
use crate::handshake::{self, MAX_HEAD_LEN, Request};
use crate::http;
use crate::message::{Event, Flow, FrameReader};
use crate::outqueue::OutQueue;
use crate::routes::{self, Ctx, Route, RoutePath};
use crate::timers::TimerKind;

/// Payloads at least this long are queued as a chunk of their own.
const LARGE_PAYLOAD: usize = 2048;

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

/// The client's address in 16 bytes instead of `SocketAddr`'s 32: every
/// byte of a connection is paid 10,000 times by 10,000 idle clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerAddr {
    V4([u8; 4], u16),
    V6(Box<SocketAddrV6>),
}

impl From<SocketAddr> for PeerAddr {
    fn from(addr: SocketAddr) -> PeerAddr {
        match addr {
            SocketAddr::V4(v4) => PeerAddr::V4(v4.ip().octets(), v4.port()),
            SocketAddr::V6(v6) => PeerAddr::V6(Box::new(v6)),
        }
    }
}

impl fmt::Display for PeerAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PeerAddr::V4([a, b, c, d], port) => write!(f, "{a}.{b}.{c}.{d}:{port}"),
            PeerAddr::V6(v6) => write!(f, "{v6}"),
        }
    }
}

pub struct Connection {
    /// A number never reused, for logs and the operator console (`#3`).
    pub id: u64,
    pub peer: PeerAddr,
    pub phase: Phase,
    /// Set when the upgrade succeeds.
    pub route: Route,
    /// Parse state carried between reads; boxed and created only when a
    /// read ends inside a frame, so an idle connection carries none.
    reader: Option<Box<FrameReader>>,
    /// The request head while it arrives in pieces.
    head: Vec<u8>,
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
}

impl Connection {
    pub fn new(id: u64, peer: SocketAddr, connected_secs: u32) -> Connection {
        Connection {
            id,
            peer: PeerAddr::from(peer),
            phase: Phase::Handshaking,
            route: Route::None,
            reader: None,
            head: Vec::new(),
            out: OutQueue::default(),
            connected_secs,
            seen: true,
            ping_sent: false,
            write_shut: false,
            close_code: None,
            dirty: false,
            flushes: 0,
        }
    }

    /// Handles the bytes of one read. `key` is this connection's slab key.
    pub fn on_bytes(&mut self, key: usize, data: &mut [u8], ctx: &mut Ctx) {
        self.seen = true;
        match self.phase {
            Phase::Handshaking => self.on_handshake_bytes(key, data, ctx),
            Phase::Open | Phase::Closing => self.on_frame_bytes(key, data, ctx),
            Phase::Finishing => {}
        }
    }

    /// Collects the request head (it may come a byte at a time, or glued to
    /// the first frame) and answers it once complete.
    fn on_handshake_bytes(&mut self, key: usize, data: &mut [u8], ctx: &mut Ctx) {
        if self.head.is_empty() {
            // The usual case: the whole head in one read, parsed in place.
            if let Some(end) = handshake::find_head_end(data, 0) {
                let (head, rest) = data.split_at_mut(end);
                self.on_request_head(key, head, ctx);
                if !rest.is_empty() && self.phase.reads_frames() {
                    self.on_frame_bytes(key, rest, ctx);
                }
                return;
            }
        }
        let searched = self.head.len();
        self.head.extend_from_slice(data);
        match handshake::find_head_end(&self.head, searched) {
            Some(end) => {
                let mut head = std::mem::take(&mut self.head);
                let mut rest = head.split_off(end);
                self.on_request_head(key, &head, ctx);
                if !rest.is_empty() && self.phase.reads_frames() {
                    self.on_frame_bytes(key, &mut rest, ctx);
                }
            }
            None if self.head.len() > MAX_HEAD_LEN => {
                self.head = Vec::new();
                self.refuse(key, &HandshakeError::HeadTooLarge, ctx);
            }
            None => {}
        }
    }

    /// Answers a complete request head: the page, a refusal, or `101`.
    fn on_request_head(&mut self, key: usize, head: &[u8], ctx: &mut Ctx) {
        if head.len() > MAX_HEAD_LEN {
            return self.refuse(key, &HandshakeError::HeadTooLarge, ctx);
        }
        let req = match Request::parse(head) {
            Ok(req) => req,
            Err(e) => return self.refuse(key, &e, ctx),
        };
        if !req.wants_upgrade() {
            return self.serve_http(key, &req, ctx);
        }
        match self.upgrade(key, &req, head, ctx) {
            Ok(()) => {}
            Err(e) => self.refuse(key, &e, ctx),
        }
    }

    /// A plain GET: the web page and its assets (issue: never a path built
    /// from the request — only the fixed list in `http`).
    fn serve_http(&mut self, key: usize, req: &Request, ctx: &mut Ctx) {
        if req.method != "GET" && req.method != "HEAD" {
            return self.refuse(key, &HandshakeError::MethodNotAllowed, ctx);
        }
        let status = http::write_static(&mut self.out, req.path(), req.method == "HEAD");
        info!(
            "#{} {} {} {} {}",
            self.id,
            self.peer,
            printable(req.method),
            printable(req.target),
            status
        );
        self.finish(key, ctx);
    }

    fn upgrade(
        &mut self,
        key: usize,
        req: &Request,
        head: &[u8],
        ctx: &mut Ctx,
    ) -> Result<(), HandshakeError> {
        let path = RoutePath::parse(req.path())?;
        let upgrade = handshake::validate_upgrade(req)?;
        if !ctx.config.allow_origins.is_empty() {
            // §10.2: a browser always sends Origin; refusing unknown ones
            // stops other sites from using a visitor's browser against us.
            let allowed = upgrade
                .origin
                .is_some_and(|o| ctx.config.allow_origins.iter().any(|a| a == o));
            if !allowed {
                return Err(HandshakeError::ForbiddenOrigin);
            }
        }
        let protocol = path.select_protocol(&upgrade.protocols);
        if protocol.is_none() && !upgrade.protocols.is_empty() {
            debug!(
                "#{} offered subprotocols {:?}; none selected",
                self.id, upgrade.protocols
            );
        }
        let accept = handshake::accept_key(upgrade.key);
        debug!(
            "#{} handshake: {} {} key={} accept={}",
            self.id,
            req.method,
            printable(req.target),
            printable(upgrade.key),
            accept
        );
        self.out
            .append(|buf| handshake::write_switching_protocols(buf, &accept, protocol));
        self.phase = Phase::Open;
        info!("#{} connected from {} ({})", self.id, self.peer, req.path());
        // The handshake timer turns into the idle check when it fires; only
        // an idle timeout shorter than the handshake's needs its own timer.
        if ctx.config.idle_timeout < ctx.config.handshake_timeout {
            let at = ctx.now + ctx.config.idle_timeout;
            ctx.timers.schedule(at, TimerKind::Idle, key, self.id);
        }
        routes::on_open(self, key, path, protocol.is_some(), head, upgrade.key, ctx);
        Ok(())
    }

    /// Answers a request that will not become a WebSocket, then closes.
    pub fn refuse(&mut self, key: usize, err: &HandshakeError, ctx: &mut Ctx) {
        info!("#{} {} refused: {}", self.id, self.peer, err);
        handshake_error(&mut self.out, err);
        self.finish(key, ctx);
    }

    fn on_frame_bytes(&mut self, key: usize, data: &mut [u8], ctx: &mut Ctx) {
        let mut boxed = self.reader.take();
        let mut local = FrameReader::default();
        let reader = match boxed.as_deref_mut() {
            Some(reader) => reader,
            None => &mut local,
        };
        // Frame events feed the inspector and the `RUST_LOG=trace` frame log.
        reader.observe_frames =
            matches!(self.route, Route::Inspect) || log::log_enabled!(log::Level::Trace);
        let max = ctx.config.max_message;
        let result = reader.feed(data, max, &mut |event| self.on_event(key, event, ctx));
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
            self.fail(key, &e, ctx);
        }
    }

    fn on_event(&mut self, key: usize, event: Event<'_>, ctx: &mut Ctx) -> Flow {
        match event {
            Event::Frame { header, payload } => {
                trace!(
                    "< #{} {} {} masked len={} {}",
                    self.id,
                    if header.fin { "FIN" } else { "---" },
                    header.opcode.name(),
                    header.payload_len,
                    first_bytes(payload)
                );
                // §5.5.1: nothing but the close may follow our close frame.
                if self.route == Route::Inspect && self.phase == Phase::Open {
                    routes::inspect::on_frame(self, &header, payload);
                }
            }
            Event::Message { opcode, payload } => {
                // §7.1.2: after sending a close, data is no longer processed.
                if self.phase == Phase::Open {
                    routes::on_message(self, key, opcode, payload, ctx);
                }
            }
            Event::Ping(payload) => {
                // §5.5.2: answer with a pong carrying the same payload.
                if self.phase == Phase::Open {
                    self.send(Opcode::Pong, payload);
                }
            }
            Event::Pong(payload) => {
                // §5.5.3: an unsolicited pong needs no answer.
                let _ = payload;
                self.ping_sent = false;
            }
            Event::Close { code, reason } => {
                debug!("#{} close received: {:?} {:?}", self.id, code, reason);
                if self.phase == Phase::Open {
                    // §5.5.1: answer with a close, echoing the status code.
                    let reply = code.map_or(Vec::new(), |c| c.to_be_bytes().to_vec());
                    self.send(Opcode::Close, &reply);
                }
                self.close_code = Some(code.unwrap_or(close_code::NO_STATUS));
                self.finish(key, ctx);
                return Flow::Stop;
            }
        }
        if self.phase == Phase::Finishing {
            return Flow::Stop;
        }
        // Replies are bounded while they are made, not only when a write
        // would block: one read of small requests (64 KiB of `who`, say)
        // must not queue an unbounded answer.
        if self.out.len() > ctx.config.backlog_limit() {
            self.fail(key, &ProtocolError::OutputBacklog(self.out.len()), ctx);
            return Flow::Stop;
        }
        Flow::Continue
    }

    /// Queues one FIN frame.
    pub fn send(&mut self, opcode: Opcode, payload: &[u8]) {
        trace!(
            "> #{} FIN {} unmasked len={} {}",
            self.id,
            opcode.name(),
            payload.len(),
            first_bytes(payload)
        );
        if payload.len() < LARGE_PAYLOAD {
            self.out
                .append(|buf| frame::encode_frame(buf, opcode, payload));
        } else {
            // A large payload gets a (pooled) buffer of its own rather than
            // growing the tail buffer, which would copy it on every growth.
            let mut header = Vec::with_capacity(10);
            frame::encode_header(&mut header, opcode, payload.len());
            self.out.push_large_frame(&header, payload);
        }
    }

    /// _Fail the WebSocket Connection_ (§7.1.7): send the close code and
    /// stop, without waiting for the peer's reply.
    pub fn fail(&mut self, key: usize, err: &ProtocolError, ctx: &mut Ctx) {
        let code = err.close_code();
        info!(
            "#{} protocol error: {} → close {} ({})",
            self.id,
            err,
            code,
            close_code::meaning(code)
        );
        if self.phase == Phase::Open {
            let reason = err.to_string();
            self.out
                .append(|buf| frame::encode_close(buf, code, &reason));
        }
        self.close_code = Some(code);
        self.finish(key, ctx);
    }

    /// Starts a normal close from the server side (kick, shutdown, idle):
    /// send the close and wait, bounded by --close-timeout, for the reply.
    pub fn start_close(&mut self, key: usize, code: u16, reason: &str, ctx: &mut Ctx) {
        match self.phase {
            Phase::Open => {
                self.out
                    .append(|buf| frame::encode_close(buf, code, reason));
                self.phase = Phase::Closing;
                self.close_code = Some(code);
                routes::on_leave(self, key, ctx);
                let at = ctx.now + ctx.config.close_timeout;
                ctx.timers.schedule(at, TimerKind::CloseReply, key, self.id);
            }
            Phase::Handshaking => self.finish(key, ctx),
            Phase::Closing | Phase::Finishing => {}
        }
    }

    /// Nothing more will be sent: after the flush, the server shuts down the
    /// write side and lingers a moment so the peer reads our last bytes
    /// instead of a reset.
    pub fn finish(&mut self, key: usize, ctx: &mut Ctx) {
        if self.phase != Phase::Finishing {
            if self.phase == Phase::Open {
                routes::on_leave(self, key, ctx);
            }
            self.phase = Phase::Finishing;
            self.reader = None;
            self.head = Vec::new();
            // Bounds the flush and the linger together.
            let at = ctx.now + ctx.config.close_timeout;
            ctx.timers.schedule(at, TimerKind::Linger, key, self.id);
        }
    }
}

/// Text from a client, safe to print on a terminal or in a log: control
/// characters (escape sequences, newlines that would fake a log line) are
/// shown escaped.
pub fn printable(text: &str) -> String {
    if !text.chars().any(char::is_control) {
        return text.to_string();
    }
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// The first bytes of a payload for the frame log: text when printable,
/// else hex.
fn first_bytes(payload: &[u8]) -> String {
    let shown = &payload[..payload.len().min(16)];
    let more = if payload.len() > 16 { "…" } else { "" };
    match std::str::from_utf8(shown) {
        Ok(text) if !text.chars().any(char::is_control) => format!("{text:?}{more}"),
        _ => format!("{}{more}", routes::inspect::hex(shown)),
    }
}

fn handshake_error(out: &mut OutQueue, err: &HandshakeError) {
    out.append(|buf| handshake::write_error_response(buf, err));
}
