//! The seam between the protocol and what the server does with it.
//!
//! A [`crate::connection::Connection`] knows RFC 6455 and nothing else: it
//! turns bytes into the events below and queues the replies the RFC itself
//! requires (the 101, pongs, close answers, refusals). What a message
//! *means* — a chat line, an echo, a file — belongs to an [`App`] (the
//! server's routes), which answers through a [`Handle`]: send a frame to
//! this client, close it, schedule a timer. Neither side sees a socket.

use std::fmt;
use std::net::{SocketAddr, SocketAddrV6};
use std::time::Instant;

use log::trace;

use crate::connection::{Connection, Phase};
use crate::error::HandshakeError;
use crate::frame::{self, FrameHeader, Opcode};
use crate::outqueue::OutQueue;
use crate::timers::{TimerKind, Timers};

/// Payloads at least this long are queued as a chunk of their own.
const LARGE_PAYLOAD: usize = 2048;

/// What happened on a connection, as a route needs to know it.
#[derive(Debug)]
pub enum AppEvent<'a> {
    /// The 101 is queued: the connection is a WebSocket now.
    Opened(Opened<'a>),
    /// A whole message (§5.4: fragments already joined, text already
    /// checked as UTF-8).
    Message { opcode: Opcode, payload: &'a [u8] },
    /// One frame as it arrived (only after [`Handle::report_frames`]).
    Frame {
        header: &'a FrameHeader,
        payload: &'a [u8],
    },
    /// A timer the route scheduled with [`Handle::schedule`] fired.
    Timer,
    /// The connection stopped taking part: the server sent its close, the
    /// peer's close arrived, or the protocol failed. No data may be sent
    /// after this (§5.5.1), and it comes once. `dropped`: the server closed
    /// it for a limit or a policy (1008, 1009, 1013, or idle without a
    /// pong), not the client's choice nor a shutdown.
    Closed { code: u16, dropped: bool },
}

/// The upgrade as the connection accepted it.
#[derive(Debug)]
pub struct Opened<'a> {
    pub path: &'a str,
    /// The subprotocol answered in the 101, if any.
    pub protocol: Option<&'static str>,
    /// The request head, for `/inspect`.
    pub head: &'a [u8],
    /// The client's `Sec-WebSocket-Key`.
    pub ws_key: &'a str,
    /// `Sec-WebSocket-Extensions` as answered in the 101 (RFC 7692), if any.
    pub extensions: Option<&'a str>,
}

/// What the server does with connections: its routes.
pub trait App {
    /// Before the 101: is there anything at `path`, and which of the
    /// offered subprotocols does it speak (§4.2.2 step 5: never one that
    /// was not offered)? An error is the HTTP refusal.
    fn accept(
        &mut self,
        path: &str,
        offered: &[&str],
    ) -> Result<Option<&'static str>, HandshakeError>;

    fn on_event(&mut self, conn: &mut Handle<'_>, event: AppEvent<'_>);

    /// A plain `GET` (or `HEAD`) of `path` that is none of the page's files
    /// (`/healthz`, `/metrics`): the answer, or `None` for a 404. `now` is
    /// the time this round of the loop started.
    fn http_get(&mut self, path: &str, now: Instant) -> Option<HttpAnswer> {
        let _ = (path, now);
        None
    }
}

/// An app's answer to a plain HTTP `GET`: the connection writes it, with
/// the same headers as the page's files, and closes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpAnswer {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

/// What a route may do with the connection an event came from: send to
/// it, ask to close it, set a timer for it. Its fields are private: routes
/// reach the connection only through the methods below, never its state
/// machine, and nothing of the loop.
pub struct Handle<'a> {
    key: usize,
    /// The connection: its queue, its deflate agreement, its close request.
    conn: &'a mut Connection,
    timers: &'a mut Timers,
    now: Instant,
    /// `--deflate-min`.
    deflate_min: usize,
    /// Messages queued through this handle (for `wsloop_deliveries_total`).
    sends: u32,
}

impl<'a> Handle<'a> {
    /// A handle on connection `conn` (slab key `key`) for one event.
    #[inline(always)]
    pub(crate) fn new(
        key: usize,
        conn: &'a mut Connection,
        timers: &'a mut Timers,
        now: Instant,
        deflate_min: usize,
    ) -> Handle<'a> {
        Handle {
            key,
            conn,
            timers,
            now,
            deflate_min,
            sends: 0,
        }
    }
}

impl Handle<'_> {
    /// The connection's number, never reused (`#3` in logs).
    pub fn id(&self) -> u64 {
        self.conn.id
    }

    /// The connection's slab key: with [`Handle::id`], how the server finds
    /// it again for a broadcast.
    pub fn key(&self) -> usize {
        self.key
    }

    pub fn peer(&self) -> &PeerAddr {
        &self.conn.peer
    }

    /// Queues one whole message as a single FIN frame.
    /// Compressed (RFC 7692) when the connection agreed on deflate and the
    /// message is worth it. Nothing is sent once the connection left
    /// `Open` (§5.5.1: no data after a close frame).
    #[inline(always)]
    pub fn send(&mut self, opcode: Opcode, payload: &[u8]) {
        let conn = &mut *self.conn;
        if conn.phase != Phase::Open {
            return;
        }
        self.sends = self.sends.saturating_add(1);
        let agreed = match conn.deflate {
            Some(agreed)
                if crate::deflate::worth_compressing(opcode, payload.len(), self.deflate_min) =>
            {
                agreed
            }
            _ => return queue_frame(&mut conn.out, conn.id, opcode, payload),
        };
        let bits = agreed.server_window_bits;
        if agreed.server_no_context_takeover {
            return queue_compressed(&mut conn.out, conn.id, bits, &[], opcode, payload);
        }
        // Context takeover (dedicated mode): the message may refer back into
        // what this client's window holds, and then joins it.
        let context = conn.deflate_context.get_or_insert_with(Box::default);
        queue_compressed(&mut conn.out, conn.id, bits, &context.sent, opcode, payload);
        crate::deflate::context::remember(&mut context.sent, payload, bits);
    }

    /// The window this client's broadcasts are compressed with (0: sent
    /// uncompressed), for the room it joins. A room compresses each message
    /// once for all its members, with no history, so from now on this
    /// connection's own messages use none either: its compressor context
    /// (dedicated mode) is dropped, which is always allowed (§7.1.1.1).
    pub fn broadcast_bits(&mut self) -> u8 {
        if let Some(agreed) = self.conn.deflate.as_mut() {
            agreed.server_no_context_takeover = true;
        }
        if let Some(context) = self.conn.deflate_context.as_mut() {
            context.sent = Vec::new();
        }
        crate::deflate::broadcast_bits(self.conn.deflate.as_ref())
    }

    pub fn send_text(&mut self, text: &str) {
        self.send(Opcode::Text, text.as_bytes());
    }

    /// How many messages were queued through this handle so far.
    pub fn sends(&self) -> u32 {
        self.sends
    }

    /// Bytes queued for this client and not yet written.
    pub fn queued(&self) -> usize {
        self.conn.out.len()
    }

    /// Asks for the closing handshake with `code` (§7.1.2): the server
    /// starts it at the end of the round, after what the round holds for
    /// this client. The first close asked for wins; none is taken once the
    /// connection left `Open`.
    pub fn close(&mut self, code: u16, reason: &str) {
        self.conn.request_close(code, reason);
    }

    /// Delivers [`AppEvent::Timer`] to this connection at `at`.
    pub fn schedule(&mut self, at: Instant) {
        self.timers
            .schedule(at, TimerKind::Route, self.key, self.conn.id);
    }

    /// The time this round of the loop started.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// Asks for [`AppEvent::Frame`] for every frame from now on.
    pub fn report_frames(&mut self, on: bool) {
        self.conn.report_frames = on;
    }
}

/// Queues one FIN frame on `out`.
#[inline(always)]
pub(crate) fn queue_frame(out: &mut OutQueue, id: u64, opcode: Opcode, payload: &[u8]) {
    trace!(
        "> #{} FIN {} unmasked len={} {}",
        id,
        opcode.name(),
        payload.len(),
        first_bytes(payload)
    );
    if payload.len() < LARGE_PAYLOAD {
        out.append_frame(opcode, payload);
    } else {
        // A large payload gets a (pooled) buffer of its own rather than
        // growing the tail buffer, which would copy it on every growth.
        let mut header = Vec::with_capacity(10);
        frame::encode_header(&mut header, opcode, payload.len());
        out.push_large_frame(&header, payload);
    }
}

/// Queues one compressed FIN frame (RSV1 set) on `out`, free to refer back
/// into `history` (empty: no context takeover).
pub(crate) fn queue_compressed(
    out: &mut OutQueue,
    id: u64,
    bits: u8,
    history: &[u8],
    opcode: Opcode,
    payload: &[u8],
) {
    use crate::deflate::compress_frame_after;
    if payload.len() < LARGE_PAYLOAD {
        out.append(|buf| compress_frame_after(bits, history, opcode, payload, buf));
    } else {
        let mut buf = crate::pool::take(payload.len() / 2 + 64);
        compress_frame_after(bits, history, opcode, payload, &mut buf);
        out.push_sealed(buf);
    }
    trace!(
        "> #{} FIN RSV1 {} unmasked inflated len={} {}",
        id,
        opcode.name(),
        payload.len(),
        first_bytes(payload)
    );
}

/// The first bytes of a payload for the frame log: text when printable,
/// else hex.
pub(crate) fn first_bytes(payload: &[u8]) -> String {
    let shown = payload.get(..16).unwrap_or(payload);
    let more = if payload.len() > 16 { "…" } else { "" };
    match std::str::from_utf8(shown) {
        Ok(text) if !text.chars().any(char::is_control) => format!("{text:?}{more}"),
        _ => format!("{}{more}", hex(shown)),
    }
}

/// Bytes as lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
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
