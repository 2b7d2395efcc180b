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
pub fn write_switching_protocols(out: &mut Vec<u8>, accept: &str, protocol: Option<&str>) {
    out.extend_from_slice(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ",
    );
    out.extend_from_slice(accept.as_bytes());
    if let Some(protocol) = protocol {
        out.extend_from_slice(b"\r\nSec-WebSocket-Protocol: ");
        out.extend_from_slice(protocol.as_bytes());
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
        HandshakeError::Busy => "Retry-After: 1\r\n",
        _ => "",
    };
    let head = format!(
        "HTTP/1.1 {code} {text}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n{body}\n",
        body.len() + 1
    );
    out.extend_from_slice(head.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &[u8] = b"GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nOrigin: http://example.com\r\nSec-WebSocket-Protocol: chat, superchat\r\nSec-WebSocket-Version: 13\r\n\r\n";

    fn check(head: &str) -> Result<(), HandshakeError> {
        let req = Request::parse(head.as_bytes())?;
        validate_upgrade(&req).map(|_| ())
    }

    fn with(replace: &str, by: &str) -> String {
        let s = std::str::from_utf8(SAMPLE).unwrap().to_string();
        assert!(s.contains(replace));
        s.replace(replace, by)
    }

    #[test]
    fn s1_3_sample_key_gives_sample_accept() {
        assert_eq!(
            accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn s4_2_1_sample_request_is_valid() {
        let req = Request::parse(SAMPLE).unwrap();
        assert_eq!(req.path(), "/chat");
        let up = validate_upgrade(&req).unwrap();
        assert_eq!(up.key, "dGhlIHNhbXBsZSBub25jZQ==");
        assert_eq!(up.origin, Some("http://example.com"));
        assert_eq!(up.protocols, vec!["chat", "superchat"]);
    }

    #[test]
    fn absolute_form_targets_reduce_to_their_path() {
        let head = with(
            "GET /chat HTTP/1.1",
            "GET http://server.example.com:80/chat?a=1 HTTP/1.1",
        );
        let req = Request::parse(head.as_bytes()).unwrap();
        assert_eq!(req.path(), "/chat");
        let bare = with("GET /chat HTTP/1.1", "GET ws://server.example.com HTTP/1.1");
        assert_eq!(Request::parse(bare.as_bytes()).unwrap().path(), "/");
        let bad = with("GET /chat HTTP/1.1", "GET ftp://x/chat HTTP/1.1");
        assert!(Request::parse(bad.as_bytes()).is_err());
    }

    #[test]
    fn s4_2_1_head_end_found_incrementally() {
        for cut in 0..SAMPLE.len() {
            assert_eq!(find_head_end(&SAMPLE[..cut], cut.saturating_sub(1)), None);
        }
        let mut searched = 0;
        let mut found = None;
        for n in 1..=SAMPLE.len() {
            found = find_head_end(&SAMPLE[..n], searched);
            searched = n;
            if found.is_some() {
                break;
            }
        }
        assert_eq!(found, Some(SAMPLE.len()));
    }

    #[test]
    fn s4_2_1_header_names_and_tokens_are_case_insensitive() {
        let head = with("Upgrade: websocket", "UPGRADE: WebSocket")
            .replace("Connection: Upgrade", "connection: keep-alive, UPGRADE");
        assert_eq!(check(&head), Ok(()));
    }

    #[test]
    fn s4_2_1_method_must_be_get() {
        assert!(matches!(
            check(&with("GET /chat", "POST /chat")),
            Err(HandshakeError::BadRequest(_))
        ));
    }

    #[test]
    fn s4_1_http_version_must_be_1_1_or_higher() {
        assert!(matches!(
            check(&with("HTTP/1.1\r\nHost", "HTTP/1.0\r\nHost")),
            Err(HandshakeError::BadRequest(_))
        ));
        assert_eq!(check(&with("HTTP/1.1\r\nHost", "HTTP/1.2\r\nHost")), Ok(()));
        for bad in ["HTTP/1", "HTTP/1.1.1", "HTTP/x.y", "HTTP/11.1", "http/1.1"] {
            let head = with("HTTP/1.1\r\nHost", &format!("{bad}\r\nHost"));
            assert_eq!(
                Request::parse(head.as_bytes()).err(),
                Some(HandshakeError::BadRequest("malformed request line")),
                "{bad}"
            );
        }
    }

    #[test]
    fn rfc9112_3_2_http_1_1_needs_exactly_one_host() {
        let missing = Request::parse(b"GET / HTTP/1.1\r\nAccept: */*\r\n\r\n");
        assert_eq!(
            missing.err(),
            Some(HandshakeError::BadRequest("missing Host header"))
        );
        for two in [
            &b"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n"[..],
            b"GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n",
            b"GET / HTTP/1.0\r\nHost: a\r\nHOST: b\r\n\r\n",
        ] {
            assert_eq!(
                Request::parse(two).err(),
                Some(HandshakeError::BadRequest("more than one Host header")),
                "{}",
                String::from_utf8_lossy(two)
            );
        }
        // HTTP/1.0 had no Host; an empty Host is allowed (§3.2: no authority).
        assert!(Request::parse(b"GET / HTTP/1.0\r\n\r\n").is_ok());
        assert!(Request::parse(b"GET / HTTP/1.1\r\nHost:\r\n\r\n").is_ok());
    }

    #[test]
    fn rfc9110_7_8_an_upgrade_to_another_protocol_is_plain_http() {
        let req = |upgrade: &str| {
            let head = format!(
                "GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: {upgrade}\r\n\r\n"
            );
            Request::parse(head.as_bytes()).unwrap().wants_upgrade()
        };
        assert!(!req("h2c"));
        assert!(!req("websocket2"));
        assert!(req("websocket"));
        assert!(req("h2c, WebSocket"));
        assert!(
            !Request::parse(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
                .unwrap()
                .wants_upgrade()
        );
    }

    #[test]
    fn rfc9110_15_5_6_405_lists_the_allowed_methods() {
        let mut out = Vec::new();
        write_error_response(&mut out, &HandshakeError::MethodNotAllowed);
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("HTTP/1.1 405 "), "{text}");
        assert!(text.contains("\r\nAllow: GET, HEAD\r\n"), "{text}");
    }

    #[test]
    fn s4_2_1_host_is_required() {
        assert_eq!(
            check(&with("Host: server.example.com\r\n", "")),
            Err(HandshakeError::BadRequest("missing Host header"))
        );
    }

    #[test]
    fn s4_2_1_upgrade_must_be_websocket() {
        assert!(matches!(
            check(&with("Upgrade: websocket", "Upgrade: h2c")),
            Err(HandshakeError::BadRequest(_))
        ));
    }

    #[test]
    fn s4_2_1_connection_must_contain_upgrade() {
        assert!(matches!(
            check(&with("Connection: Upgrade", "Connection: keep-alive")),
            Err(HandshakeError::BadRequest(_))
        ));
    }

    #[test]
    fn s4_4_wrong_version_is_426() {
        assert_eq!(
            check(&with("Version: 13", "Version: 8")),
            Err(HandshakeError::UpgradeRequired)
        );
        let mut out = Vec::new();
        write_error_response(&mut out, &HandshakeError::UpgradeRequired);
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("HTTP/1.1 426 "));
        assert!(text.contains("\r\nSec-WebSocket-Version: 13\r\n"));
    }

    #[test]
    fn s4_2_1_key_must_be_base64_of_16_bytes() {
        for bad in [
            "",
            "abc",
            "dGhlIHNhbXBsZSBub25j",
            "!!!!!!!!!!!!!!!!!!!!!!==",
        ] {
            assert!(
                matches!(
                    check(&with("dGhlIHNhbXBsZSBub25jZQ==", bad)),
                    Err(HandshakeError::BadRequest(_))
                ),
                "{bad:?}"
            );
        }
        assert!(matches!(
            check(&with("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", "")),
            Err(HandshakeError::BadRequest(_))
        ));
    }

    #[test]
    fn s4_2_1_duplicate_key_is_rejected() {
        let head = with(
            "Sec-WebSocket-Version",
            "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==\r\nSec-WebSocket-Version",
        );
        assert!(matches!(check(&head), Err(HandshakeError::BadRequest(_))));
    }

    #[test]
    fn malformed_heads_are_400_not_panics() {
        for head in [
            "\r\n\r\n",
            "GET\r\n\r\n",
            "GET / HTTP/1.1 extra\r\n\r\n",
            "GET nopath HTTP/1.1\r\n\r\n",
            "GET / HTTP/1.1\r\nNoColon\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n",
            "GET / HTTP/1.1\r\n: empty-name\r\n\r\n",
        ] {
            assert!(
                matches!(
                    Request::parse(head.as_bytes()),
                    Err(HandshakeError::BadRequest(_))
                ),
                "{head:?}"
            );
        }
        assert!(Request::parse(b"GET / HTTP/1.1\r\nHost: \xff\r\n\r\n").is_err());
    }

    #[test]
    fn s4_2_2_switching_protocols_response() {
        let mut out = Vec::new();
        write_switching_protocols(&mut out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", Some("chat"));
        assert_eq!(
            out,
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: chat\r\n\r\n"
        );
    }
}
