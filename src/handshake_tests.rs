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
    write_switching_protocols(&mut out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", Some("chat"), None);
    assert_eq!(
        out,
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: chat\r\n\r\n"
    );
}
