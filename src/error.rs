//! What can go wrong, and the answer each failure gets on the wire:
//! a close code for a broken frame (§7.4.1), an HTTP status for a refused
//! upgrade (§4.2.1, §4.4). The variants read as the RFC's list of MUSTs.

use std::fmt;

/// Close codes the server sends (§7.4.1).
pub mod close_code {
    pub const NORMAL: u16 = 1000;
    pub const GOING_AWAY: u16 = 1001;
    pub const PROTOCOL_ERROR: u16 = 1002;
    pub const UNSUPPORTED_DATA: u16 = 1003;
    /// Reserved: "no status code was present"; never sent on the wire.
    pub const NO_STATUS: u16 = 1005;
    /// Reserved: the connection ended without a close frame (§7.1.5); a
    /// log word, never sent on the wire.
    pub const ABNORMAL: u16 = 1006;
    pub const INVALID_PAYLOAD: u16 = 1007;
    pub const POLICY_VIOLATION: u16 = 1008;
    pub const MESSAGE_TOO_BIG: u16 = 1009;
    pub const INTERNAL_ERROR: u16 = 1011;
    /// Try Again Later: a server-wide limit, not the client's fault.
    pub const TRY_AGAIN_LATER: u16 = 1013;

    /// Does a close the server starts with this code drop the client for
    /// a limit or a policy (1008, 1009, 1013)? Counted in
    /// `wsloop_clients_dropped_total`.
    pub fn is_limit(code: u16) -> bool {
        matches!(code, POLICY_VIOLATION | MESSAGE_TOO_BIG | TRY_AGAIN_LATER)
    }

    /// May a peer send this code in a close frame? (§7.4.1, §7.4.2)
    /// 1004–1006 and 1015 are reserved, 1012–1014 and 1016–2999 are for
    /// future RFCs, 0–999 are unused; 3000–4999 belong to libraries and
    /// applications.
    pub fn is_valid_on_wire(code: u16) -> bool {
        matches!(code, 1000..=1003 | 1007..=1011 | 3000..=4999)
    }

    /// A short English meaning, for logs and the console.
    pub fn meaning(code: u16) -> &'static str {
        match code {
            1000 => "normal",
            1001 => "going away",
            1002 => "protocol error",
            1003 => "unsupported data",
            1005 => "no status",
            1006 => "abnormal",
            1007 => "invalid payload",
            1008 => "policy violation",
            1009 => "message too big",
            1010 => "extension required",
            1011 => "internal error",
            3000..=3999 => "library code",
            4000..=4999 => "application code",
            _ => "unknown",
        }
    }
}

/// A client frame or message that breaks the protocol. Each maps to the
/// close code the server fails the connection with (§7.1.7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProtocolError {
    /// §5.1: a client MUST mask every frame it sends.
    UnmaskedFrame,
    /// §5.2: RSV1-3 set while no extension was negotiated.
    ReservedBits(u8),
    /// RFC 7692 §6.1: RSV1 ("compressed") belongs on the first frame of a
    /// data message only, never on a continuation or a control frame.
    Rsv1NotOnFirstFrame,
    /// RFC 7692 §6.2 / RFC 6455 §7.4.1 (1007): a compressed message that is
    /// not valid DEFLATE data.
    InvalidCompressedData,
    /// §5.2: opcodes 0x3-0x7 and 0xB-0xF are reserved.
    ReservedOpcode(u8),
    /// §5.2: a 64-bit payload length with its most significant bit set.
    LengthTopBitSet,
    /// §5.5: control frames MUST NOT be fragmented.
    FragmentedControlFrame,
    /// §5.5: control frames carry at most 125 bytes.
    ControlFrameTooBig(u64),
    /// §5.4: a continuation frame with no message to continue.
    UnexpectedContinuation,
    /// §5.4: a new text/binary frame while a fragmented message is open.
    ExpectedContinuation,
    /// §8.1: a text message (or close reason) that is not UTF-8.
    InvalidUtf8,
    /// §5.5.1: a close payload of exactly one byte.
    CloseTooShort,
    /// §7.4: a close code that is reserved or not defined.
    InvalidCloseCode(u16),
    /// §10.4: the message is larger than this server accepts.
    MessageTooBig { size: u64, limit: u64 },
    /// §10.4 in spirit: the client asks for more replies than it reads;
    /// the queued bytes passed the backlog limit (policy, 1008).
    OutputBacklog(usize),
    /// The server's --max-memory would be passed by this partial message:
    /// nothing is wrong with it, but not now (1013).
    ServerMemory(usize),
    /// A message in progress stopped growing (--message-timeout; 1008).
    MessageStalled,
}

impl ProtocolError {
    /// The close code this error fails the connection with.
    pub fn close_code(&self) -> u16 {
        match self {
            ProtocolError::InvalidUtf8 | ProtocolError::InvalidCompressedData => {
                close_code::INVALID_PAYLOAD
            }
            ProtocolError::MessageTooBig { .. } => close_code::MESSAGE_TOO_BIG,
            ProtocolError::OutputBacklog(_) | ProtocolError::MessageStalled => {
                close_code::POLICY_VIOLATION
            }
            ProtocolError::ServerMemory(_) => close_code::TRY_AGAIN_LATER,
            _ => close_code::PROTOCOL_ERROR,
        }
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtocolError::UnmaskedFrame => write!(f, "client frame not masked"),
            ProtocolError::ReservedBits(bits) => {
                write!(f, "reserved bits {bits:03b} set without an extension")
            }
            ProtocolError::Rsv1NotOnFirstFrame => {
                write!(f, "RSV1 (compressed) on a continuation or control frame")
            }
            ProtocolError::InvalidCompressedData => write!(f, "compressed data does not inflate"),
            ProtocolError::ReservedOpcode(op) => write!(f, "reserved opcode 0x{op:X}"),
            ProtocolError::LengthTopBitSet => write!(f, "64-bit length with top bit set"),
            ProtocolError::FragmentedControlFrame => write!(f, "fragmented control frame"),
            ProtocolError::ControlFrameTooBig(n) => {
                write!(f, "control frame of {n} bytes (max 125)")
            }
            ProtocolError::UnexpectedContinuation => {
                write!(f, "continuation frame without a message")
            }
            ProtocolError::ExpectedContinuation => {
                write!(f, "new data frame inside a fragmented message")
            }
            ProtocolError::InvalidUtf8 => write!(f, "invalid UTF-8 in text"),
            ProtocolError::CloseTooShort => write!(f, "close payload of 1 byte"),
            ProtocolError::InvalidCloseCode(c) => write!(f, "invalid close code {c}"),
            ProtocolError::MessageTooBig { size, limit } => {
                write!(f, "message of {size}+ bytes over the {limit}-byte limit")
            }
            ProtocolError::OutputBacklog(n) => {
                write!(f, "{n} bytes of replies queued: over the backlog limit")
            }
            ProtocolError::ServerMemory(n) => {
                write!(f, "server memory limit: {n} bytes held for this client")
            }
            ProtocolError::MessageStalled => write!(f, "message in progress stopped growing"),
        }
    }
}

/// Why an HTTP request did not become a WebSocket (§4.2.1, §4.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandshakeError {
    /// 400: the request is not a valid upgrade; the text says why.
    BadRequest(&'static str),
    /// 403: the Origin is not on the allow list (§10.2).
    ForbiddenOrigin,
    /// 404: no route at this path.
    NotFound,
    /// 405: a plain HTTP request with a method other than GET.
    MethodNotAllowed,
    /// 426: a Sec-WebSocket-Version other than 13 (§4.4).
    UpgradeRequired,
    /// 431: the request head is over the size limit.
    HeadTooLarge,
    /// 503: too many connections.
    Busy,
    /// 503: the server is shutting down; another node may take the client.
    ShuttingDown,
}

impl HandshakeError {
    pub fn status(&self) -> (u16, &'static str) {
        match self {
            HandshakeError::BadRequest(_) => (400, "Bad Request"),
            HandshakeError::ForbiddenOrigin => (403, "Forbidden"),
            HandshakeError::NotFound => (404, "Not Found"),
            HandshakeError::MethodNotAllowed => (405, "Method Not Allowed"),
            HandshakeError::UpgradeRequired => (426, "Upgrade Required"),
            HandshakeError::HeadTooLarge => (431, "Request Header Fields Too Large"),
            HandshakeError::Busy | HandshakeError::ShuttingDown => (503, "Service Unavailable"),
        }
    }

    /// The one-line body of the error response.
    pub fn reason(&self) -> &'static str {
        match self {
            HandshakeError::BadRequest(why) => why,
            HandshakeError::ForbiddenOrigin => "origin not allowed",
            HandshakeError::NotFound => "no such route",
            HandshakeError::MethodNotAllowed => "only GET and HEAD are served",
            HandshakeError::UpgradeRequired => "only WebSocket version 13 is supported",
            HandshakeError::HeadTooLarge => "request head over 8 KiB",
            HandshakeError::Busy => "too many connections, try again later",
            HandshakeError::ShuttingDown => "server shutting down",
        }
    }
}

impl fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (code, text) = self.status();
        write!(f, "{code} {text}: {}", self.reason())
    }
}
