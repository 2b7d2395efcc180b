//! The opening handshake (RFC 6455 §4), as pure functions over bytes.
//!
//! A client asks to switch protocols with an ordinary HTTP/1.1 GET:
//!
//! ```text
//! GET /chat HTTP/1.1
//! Host: localhost:8080
//! Upgrade: websocket
//! Connection: Upgrade
//! Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==
//! Sec-WebSocket-Version: 13
//! ```
//!
//! and the server proves it read the key by hashing it with a fixed GUID:
//!
//! ```text
//! HTTP/1.1 101 Switching Protocols
//! Upgrade: websocket
//! Connection: Upgrade
//! Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=
//! ```

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

use crate::error::HandshakeError;

/// The GUID every server appends to the client's key (§1.3, §4.2.2).
pub const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// The largest request head accepted; past it the answer is 431.
pub const MAX_HEAD_LEN: usize = 8 * 1024;

/// Where the request head ends (the index just past the blank line), if it
/// has fully arrived. `searched` is how many bytes an earlier call already
/// looked at, so a request dribbled in a byte at a time is not rescanned.
pub fn find_head_end(buf: &[u8], searched: usize) -> Option<usize> {
    let start = searched.saturating_sub(3);
    buf.get(start..)?
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| start + i + 4)
}

/// An HTTP request head, borrowed from the bytes it was parsed from.
#[derive(Debug)]
pub struct Request<'a> {
    pub method: &'a str,
    /// The request target as sent, query string included.
    pub target: &'a str,
    pub version: &'a str,
    pub headers: Vec<(&'a str, &'a str)>,
}

impl<'a> Request<'a> {
    /// Parses a complete head (everything up to and including the blank line).
    pub fn parse(head: &'a [u8]) -> Result<Request<'a>, HandshakeError> {
        let text = std::str::from_utf8(head)
            .map_err(|_| HandshakeError::BadRequest("request head is not UTF-8"))?;
        let mut lines = text.split("\r\n");
        let request_line = lines.next().unwrap_or("");
        let mut parts = request_line.split(' ');
        let (Some(method), Some(target), Some(version), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(HandshakeError::BadRequest("malformed request line"));
        };
        if method.is_empty() || origin_form(target).is_none() || http_version(version).is_none() {
            return Err(HandshakeError::BadRequest("malformed request line"));
        }
        let mut headers = Vec::with_capacity(12);
        for line in lines.take_while(|l| !l.is_empty()) {
            // RFC 9112 §5.2: obsolete line folding is rejected.
            if line.starts_with([' ', '\t']) {
                return Err(HandshakeError::BadRequest("folded header line"));
            }
            let Some((name, value)) = line.split_once(':') else {
                return Err(HandshakeError::BadRequest("header line without a colon"));
            };
            if name.is_empty() || name.ends_with([' ', '\t']) {
                return Err(HandshakeError::BadRequest("malformed header name"));
            }
            headers.push((name, value.trim_matches([' ', '\t'])));
        }
        let req = Request {
            method,
            target,
            version,
            headers,
        };
        // RFC 9112 §3.2: "A server MUST respond with a 400 (Bad Request)
        // status code to any HTTP/1.1 request message that lacks a Host
        // header field and to any request message that contains more than
        // one Host header field line". Plain page requests included.
        match req.header_values("host").count() {
            0 if req.at_least_1_1() => Err(HandshakeError::BadRequest("missing Host header")),
            0 | 1 => Ok(req),
            _ => Err(HandshakeError::BadRequest("more than one Host header")),
        }
    }

    /// Is this HTTP/1.1 or higher (RFC 9112 §2.3: `HTTP/` DIGIT `.` DIGIT)?
    pub fn at_least_1_1(&self) -> bool {
        http_version(self.version).is_some_and(|v| v >= (1, 1))
    }

    /// The path without its query string.
    pub fn path(&self) -> &'a str {
        let target = origin_form(self.target).unwrap_or(self.target);
        target.split('?').next().unwrap_or(target)
    }

    /// The values of every header named `name` (case-insensitive, §4.2.1).
    pub fn header_values<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'a str> + 's {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    }

    /// The value of a header that must appear at most once.
    pub fn single_header(&self, name: &str) -> Result<Option<&'a str>, HandshakeError> {
        let mut values = self.header_values(name);
        let first = values.next();
        if values.next().is_some() {
            return Err(HandshakeError::BadRequest("a header appears twice"));
        }
        Ok(first)
    }

    /// Does the client ask to switch to WebSocket? Requests without
    /// `Upgrade: websocket` are plain HTTP (the web page), not failed
    /// handshakes: RFC 9110 §7.8 lets a server ignore an `Upgrade` header
    /// naming protocols it does not speak (`curl --http2` sends `h2c`).
    pub fn wants_upgrade(&self) -> bool {
        self.has_token("upgrade", "websocket")
    }

    /// Does a comma-separated header (like `Connection: keep-alive, Upgrade`)
    /// contain `token`, case-insensitively?
    pub fn has_token(&self, name: &str, token: &str) -> bool {
        self.header_values(name)
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    }
}

/// `HTTP/1.1` → `(1, 1)`; anything not `HTTP/` DIGIT `.` DIGIT is `None`
/// (RFC 9112 §2.3).
fn http_version(version: &str) -> Option<(u8, u8)> {
    match version.strip_prefix("HTTP/")?.as_bytes() {
        [major, b'.', minor] if major.is_ascii_digit() && minor.is_ascii_digit() => {
            Some((major - b'0', minor - b'0'))
        }
        _ => None,
    }
}

/// The request target as a path: `/chat?x=1` as it is, and the absolute
/// form a proxy-minded client may send (`http://host:8080/chat`, RFC 9112
/// §3.2.2, which servers must accept) reduced to its path.
fn origin_form(target: &str) -> Option<&str> {
    if target.starts_with('/') {
        return Some(target);
    }
    let (scheme, rest) = target.split_once("://")?;
    if !["http", "https", "ws", "wss"].contains(&scheme.to_ascii_lowercase().as_str()) {
        return None;
    }
    Some(rest.find('/').map_or("/", |i| &rest[i..]))
}

/// A request that passed every check of §4.2.1.
#[derive(Debug, PartialEq, Eq)]
pub struct Upgrade<'a> {
    pub key: &'a str,
    pub origin: Option<&'a str>,
    /// The subprotocols offered in `Sec-WebSocket-Protocol`, in the client's
    /// order of preference (§4.1, §11.3.4).
    pub protocols: Vec<&'a str>,
}

/// Checks the upgrade request of §4.2.1, in the order a client most needs
/// to hear about: method and version, Host, Upgrade, Connection, the
/// protocol version (426), then the key.
pub fn validate_upgrade<'a>(req: &Request<'a>) -> Result<Upgrade<'a>, HandshakeError> {
    if req.method != "GET" {
        return Err(HandshakeError::BadRequest("the upgrade method must be GET"));
    }
    // §4.1: "an HTTP/1.1 or higher GET request".
    if !req.at_least_1_1() {
        return Err(HandshakeError::BadRequest(
            "the upgrade needs HTTP/1.1 or higher",
        ));
    }
    match req.single_header("host")? {
        Some(host) if !host.is_empty() => {}
        _ => return Err(HandshakeError::BadRequest("missing Host header")),
    }
    if !req.has_token("upgrade", "websocket") {
        return Err(HandshakeError::BadRequest(
            "Upgrade header must be websocket",
        ));
    }
    if !req.has_token("connection", "upgrade") {
        return Err(HandshakeError::BadRequest(
            "Connection header must contain upgrade",
        ));
    }
    // §4.4: an unsupported version is answered with 426 and the versions
    // the server speaks, so the client can retry with one of them.
    match req.single_header("sec-websocket-version")? {
        Some("13") => {}
        Some(_) => return Err(HandshakeError::UpgradeRequired),
        None => return Err(HandshakeError::UpgradeRequired),
    }
    let key = req
        .single_header("sec-websocket-key")?
        .ok_or(HandshakeError::BadRequest("missing Sec-WebSocket-Key"))?;
    // §4.1: the key is a random 16-byte value, base64-encoded (24 chars).
    match BASE64.decode(key) {
        Ok(raw) if raw.len() == 16 => {}
        _ => {
            return Err(HandshakeError::BadRequest(
                "Sec-WebSocket-Key must be base64 of 16 bytes",
            ));
        }
    }
    let origin = req.single_header("origin")?;
    let protocols = req
        .header_values("sec-websocket-protocol")
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    Ok(Upgrade {
        key,
        origin,
        protocols,
    })
}

/// `base64(SHA-1(key + GUID))`: the value of `Sec-WebSocket-Accept` (§4.2.2).
pub fn accept_key(key: &str) -> String {
    BASE64.encode(accept_sha1(key))
}

/// The SHA-1 digest of `key + GUID`, before base64 (shown by `/inspect`).
pub fn accept_sha1(key: &str) -> [u8; 20] {
    let mut sha = sha1_smol::Sha1::new();
    sha.update(key.as_bytes());
    sha.update(GUID.as_bytes());
    sha.digest().bytes()
}

/// Appends the `101 Switching Protocols` response (§4.2.2 step 5).
pub fn write_switching_protocols(
    out: &mut Vec<u8>,
    accept: &str,
    protocol: Option<&str>,
    extensions: Option<&str>,
) {
    out.extend_from_slice(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ",
    );
    out.extend_from_slice(accept.as_bytes());
    if let Some(protocol) = protocol {
        out.extend_from_slice(b"\r\nSec-WebSocket-Protocol: ");
        out.extend_from_slice(protocol.as_bytes());
    }
    // §9.1, RFC 7692 §5: the one extension the server accepted, if any.
    if let Some(extensions) = extensions {
        out.extend_from_slice(b"\r\nSec-WebSocket-Extensions: ");
        out.extend_from_slice(extensions.as_bytes());
    }
    out.extend_from_slice(b"\r\n\r\n");
}

/// Appends the plain-text error response for a refused request.
pub fn write_error_response(out: &mut Vec<u8>, err: &HandshakeError) {
    let (code, text) = err.status();
    let body = err.reason();
    let extra = match err {
        // §4.4: tell the client which versions we speak.
        HandshakeError::UpgradeRequired => "Sec-WebSocket-Version: 13\r\n",
        // RFC 9110 §15.5.6: a 405 lists the methods the resource supports.
        HandshakeError::MethodNotAllowed => "Allow: GET, HEAD\r\n",
        HandshakeError::Busy | HandshakeError::ShuttingDown => "Retry-After: 1\r\n",
        _ => "",
    };
    let head = format!(
        "HTTP/1.1 {code} {text}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n{body}\n",
        body.len() + 1
    );
    out.extend_from_slice(head.as_bytes());
}

#[cfg(test)]
#[path = "handshake_tests.rs"]
mod tests;
