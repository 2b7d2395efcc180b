//! RFC 6455 over real sockets. A test named `sN_…` pins the rule of that
//! section (RFC 6455 unless the name says `rfc9110`/`rfc9112`); read top to
//! bottom, the list is the spec's server-side MUSTs. A test with a plain
//! name pins robustness the RFC does not spell out (chunking, pipelining).
//! The MUSTs that need more set-up are in `tests/integration/musts.rs`.
//! These run at the default log level with stderr unread (`Server::start_at_default_log`):
//! blocking log output would stall them.

use crate::common;

use std::io::Write;
use std::thread::sleep;
use std::time::Duration;

use common::*;
use tungstenite::Message;

// ---- §4 the opening handshake ------------------------------------------

#[test]
fn s4_2_2_accept_key_for_the_rfc_sample_key() {
    let server = Server::start_at_default_log(&[]);
    let mut s = tcp(&server);
    s.write_all(upgrade_request("/echo").as_bytes()).unwrap();
    let head = read_head(&mut s);
    assert!(
        head.starts_with("HTTP/1.1 101 Switching Protocols\r\n"),
        "{head}"
    );
    assert!(
        head.contains("\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"),
        "{head}"
    );
    assert!(
        head.to_ascii_lowercase()
            .contains("\r\nupgrade: websocket\r\n")
    );
}

#[test]
fn request_written_a_byte_at_a_time_is_upgraded() {
    let server = Server::start_at_default_log(&[]);
    let mut s = tcp(&server);
    for b in upgrade_request("/echo").bytes() {
        s.write_all(&[b]).unwrap();
        sleep(Duration::from_micros(200));
    }
    assert!(read_head(&mut s).starts_with("HTTP/1.1 101 "));
    s.write_all(&client_frame(0x81, b"dribbled")).unwrap();
    assert_eq!(read_frame(&mut s), (0x81, b"dribbled".to_vec()));
}

#[test]
fn request_and_first_frame_in_one_write() {
    let server = Server::start_at_default_log(&[]);
    let mut s = tcp(&server);
    let mut bytes = upgrade_request("/echo").into_bytes();
    bytes.extend(client_frame(0x81, b"glued"));
    s.write_all(&bytes).unwrap();
    assert!(read_head(&mut s).starts_with("HTTP/1.1 101 "));
    assert_eq!(read_frame(&mut s), (0x81, b"glued".to_vec()));
}

fn refused(server: &Server, request: &str) -> String {
    let mut s = tcp(server);
    s.write_all(request.as_bytes()).unwrap();
    read_to_close(&mut s)
}

fn replace(req: &str, from: &str, to: &str) -> String {
    assert!(req.contains(from));
    req.replace(from, to)
}

#[test]
fn s4_2_1_bad_upgrade_requests_get_400_with_a_reason() {
    let server = Server::start_at_default_log(&[]);
    let good = upgrade_request("/echo");
    for (what, request) in [
        ("method", replace(&good, "GET /echo", "POST /echo")),
        (
            "version",
            replace(&good, "HTTP/1.1\r\nHost", "HTTP/1.0\r\nHost"),
        ),
        ("host", replace(&good, "Host: 127.0.0.1\r\n", "")),
        (
            "two hosts",
            replace(&good, "Host: 127.0.0.1\r\n", "Host: a\r\nHost: b\r\n"),
        ),
        (
            "connection",
            replace(&good, "Connection: Upgrade", "Connection: close"),
        ),
        ("key", replace(&good, KEY, "c2hvcnQ=")),
        (
            "no key",
            replace(&good, &format!("Sec-WebSocket-Key: {KEY}\r\n"), ""),
        ),
    ] {
        let response = refused(&server, &request);
        assert!(response.starts_with("HTTP/1.1 400 "), "{what}: {response}");
        let body = response.split("\r\n\r\n").nth(1).unwrap_or("");
        assert!(
            !body.trim().is_empty() && body.trim().lines().count() == 1,
            "{what}: one-line body: {body:?}"
        );
    }
    assert_still_serving(&server);
}

#[test]
fn s4_4_unsupported_version_gets_426_with_version_13() {
    let server = Server::start_at_default_log(&[]);
    let response = refused(
        &server,
        &replace(&upgrade_request("/echo"), "Version: 13", "Version: 8"),
    );
    assert!(response.starts_with("HTTP/1.1 426 "), "{response}");
    assert!(
        response.contains("\r\nSec-WebSocket-Version: 13\r\n"),
        "{response}"
    );
}

#[test]
fn s4_2_2_unknown_path_is_404() {
    let server = Server::start_at_default_log(&[]);
    let response = refused(&server, &upgrade_request("/nowhere"));
    assert!(response.starts_with("HTTP/1.1 404 "), "{response}");
}

#[test]
fn s4_2_1_request_head_over_8_kib_is_431() {
    let server = Server::start_at_default_log(&[]);
    let big = replace(
        &upgrade_request("/echo"),
        "Host:",
        &format!("X-Filler: {}\r\nHost:", "a".repeat(9000)),
    );
    let response = refused(&server, &big);
    assert!(response.starts_with("HTTP/1.1 431 "), "{response}");
    // Also when the head never ends.
    let mut s = tcp(&server);
    let _ = s.write_all(format!("GET /echo HTTP/1.1\r\nX: {}", "b".repeat(10_000)).as_bytes());
    let response = read_to_close(&mut s);
    assert!(response.starts_with("HTTP/1.1 431 "), "{response}");
    assert_still_serving(&server);
}

#[test]
fn plain_get_serves_the_page_and_404s_the_rest() {
    let server = Server::start_at_default_log(&[]);
    let page = refused(&server, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(page.starts_with("HTTP/1.1 200 OK\r\n"), "{page}");
    assert!(page.contains("Content-Type: text/html"));
    let js = refused(&server, "GET /app.js HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(js.contains("Content-Type: text/javascript"), "{js}");
    for path in ["/../Cargo.toml", "/web/index.html", "/src/main.rs"] {
        let r = refused(&server, &format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n"));
        assert!(r.starts_with("HTTP/1.1 404 "), "{path}: {r}");
    }
}

#[test]
fn rfc9110_7_8_an_upgrade_to_h2c_is_served_as_plain_http() {
    let server = Server::start_at_default_log(&[]);
    // What `curl --http2 http://…/` sends: the server may ignore the offer.
    let h2c = "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n";
    let page = refused(&server, &format!("GET / HTTP/1.1\r\nHost: x\r\n{h2c}"));
    assert!(page.starts_with("HTTP/1.1 200 OK\r\n"), "{page}");
    assert!(page.contains("Content-Type: text/html"), "{page}");
    // A WebSocket route asked for h2c is a plain request for a page that
    // is not there, not a broken handshake.
    let other = refused(&server, &format!("GET /echo HTTP/1.1\r\nHost: x\r\n{h2c}"));
    assert!(other.starts_with("HTTP/1.1 404 "), "{other}");
}

#[test]
fn rfc9110_15_5_6_405_lists_allow_get_head() {
    let server = Server::start_at_default_log(&[]);
    let response = refused(
        &server,
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
    );
    assert!(response.starts_with("HTTP/1.1 405 "), "{response}");
    assert!(response.contains("\r\nAllow: GET, HEAD\r\n"), "{response}");
}

#[test]
fn rfc9112_3_2_a_plain_request_without_host_or_with_two_is_400() {
    let server = Server::start_at_default_log(&[]);
    for request in [
        "GET / HTTP/1.1\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n",
        "HEAD /app.js HTTP/1.1\r\nHost: x\r\nhost: x\r\n\r\n",
    ] {
        let response = refused(&server, request);
        assert!(
            response.starts_with("HTTP/1.1 400 "),
            "{request:?}: {response}"
        );
    }
    // HTTP/1.0 had no Host header: its page is served.
    let old = refused(&server, "GET / HTTP/1.0\r\n\r\n");
    assert!(old.starts_with("HTTP/1.1 200 OK\r\n"), "{old}");
}

// ---- §5 framing -------------------------------------------------------------

#[test]
fn s5_2_payload_lengths_round_trip_byte_exact() {
    let server = Server::start_at_default_log(&[]);
    let mut ws = ws(&server, "/echo");
    for len in [0usize, 125, 126, 65535, 65536, 1 << 20] {
        let data: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
        ws.send(Message::binary(data.clone())).unwrap();
        match next_message(&mut ws) {
            Message::Binary(got) => assert!(got[..] == data[..], "length {len}"),
            other => panic!("length {len}: {other:?}"),
        }
        let text = "é".repeat(len / 2);
        ws.send(Message::text(text.clone())).unwrap();
        assert_eq!(next_text(&mut ws), text, "text length {len}");
    }
}

#[test]
fn s5_2_server_frames_use_the_shortest_length_encoding() {
    let server = Server::start_at_default_log(&[]);
    use std::io::Read;
    let mut s = raw_ws(&server, "/echo");
    for (len, b1, extra) in [
        (125usize, 125u8, 0usize),
        (126, 126, 2),
        (65535, 126, 2),
        (65536, 127, 8),
    ] {
        s.write_all(&client_frame(0x82, &vec![1u8; len])).unwrap();
        let mut head = [0u8; 2];
        s.read_exact(&mut head).unwrap();
        assert_eq!(
            head,
            [0x82, b1],
            "FIN + binary, unmasked, length code for {len}"
        );
        let mut rest = vec![0u8; extra + len];
        s.read_exact(&mut rest).unwrap();
    }
}

#[test]
fn thousand_pipelined_messages_in_one_write_come_back_in_order() {
    let server = Server::start_at_default_log(&[]);
    let mut s = raw_ws(&server, "/echo");
    let mut bytes = Vec::new();
    for i in 0..1000u32 {
        bytes.extend(client_frame(0x81, format!("m{i}").as_bytes()));
    }
    s.write_all(&bytes).unwrap();
    for i in 0..1000u32 {
        assert_eq!(read_frame(&mut s), (0x81, format!("m{i}").into_bytes()));
    }
}

#[test]
fn s5_4_fragmented_message_with_ping_between_fragments() {
    let server = Server::start_at_default_log(&[]);
    let mut s = raw_ws(&server, "/echo");
    let mut bytes = client_frame(0x01, b"frag");
    bytes.extend(client_frame(0x89, b"mid"));
    bytes.extend(client_frame(0x00, b"men"));
    bytes.extend(client_frame(0x80, b"ted"));
    s.write_all(&bytes).unwrap();
    assert_eq!(
        read_frame(&mut s),
        (0x8A, b"mid".to_vec()),
        "pong first, same payload"
    );
    assert_eq!(
        read_frame(&mut s),
        (0x81, b"fragmented".to_vec()),
        "one FIN frame"
    );
}

#[test]
fn s5_5_2_ping_gets_pong_with_same_payload() {
    let server = Server::start_at_default_log(&[]);
    let mut s = raw_ws(&server, "/echo");
    s.write_all(&client_frame(0x89, b"are you there")).unwrap();
    assert_eq!(read_frame(&mut s), (0x8A, b"are you there".to_vec()));
    s.write_all(&client_frame(0x89, b"")).unwrap();
    assert_eq!(read_frame(&mut s), (0x8A, Vec::new()), "an empty ping too");
}

#[test]
fn s5_5_3_unsolicited_pong_is_ignored() {
    let server = Server::start_at_default_log(&[]);
    let mut s = raw_ws(&server, "/echo");
    s.write_all(&client_frame(0x8A, b"unsolicited")).unwrap();
    s.write_all(&client_frame(0x81, b"after")).unwrap();
    // The next frame is the echo: the pong got no answer and no close.
    assert_eq!(read_frame(&mut s), (0x81, b"after".to_vec()));
}

/// Sends `bytes` on a fresh /echo connection; expects a close with `code`,
/// then the end of the connection; then the server serves others.
fn expect_failure(server: &Server, bytes: &[u8], code: u16) {
    let mut s = raw_ws(server, "/echo");
    s.write_all(bytes).unwrap();
    assert_eq!(expect_close(&mut s), Some(code));
    expect_eof(&mut s);
}

#[test]
fn s5_1_client_frame_must_be_masked() {
    let server = Server::start_at_default_log(&[]);
    expect_failure(&server, &[0x81, 0x02, b'h', b'i'], 1002);
    assert_still_serving(&server);
}

#[test]
fn s5_2_rsv_bits_without_extension_are_1002() {
    let server = Server::start_at_default_log(&[]);
    for b0 in [0xC1u8, 0xA1, 0x91] {
        expect_failure(&server, &client_frame(b0, b"x"), 1002);
    }
    assert_still_serving(&server);
}

#[test]
fn s5_2_reserved_opcodes_are_1002() {
    let server = Server::start_at_default_log(&[]);
    for op in [0x83u8, 0x87, 0x8B, 0x8F] {
        expect_failure(&server, &client_frame(op, b""), 1002);
    }
}

#[test]
fn s5_2_64_bit_length_with_top_bit_is_1002() {
    let server = Server::start_at_default_log(&[]);
    let mut f = vec![0x82, 0x80 | 127];
    f.extend_from_slice(&(1u64 << 63).to_be_bytes());
    f.extend_from_slice(&[1, 2, 3, 4]);
    expect_failure(&server, &f, 1002);
}

#[test]
fn s5_5_control_frame_max_125_bytes() {
    let server = Server::start_at_default_log(&[]);
    expect_failure(&server, &client_frame(0x89, &[0u8; 126]), 1002);
}

#[test]
fn s5_5_control_frame_must_not_be_fragmented() {
    let server = Server::start_at_default_log(&[]);
    expect_failure(&server, &client_frame(0x09, b"x"), 1002);
}

#[test]
fn s5_4_continuation_without_message_is_1002() {
    let server = Server::start_at_default_log(&[]);
    expect_failure(&server, &client_frame(0x80, b"x"), 1002);
}

#[test]
fn s5_4_new_message_inside_fragmented_one_is_1002() {
    let server = Server::start_at_default_log(&[]);
    let mut f = client_frame(0x01, b"a");
    f.extend(client_frame(0x81, b"b"));
    expect_failure(&server, &f, 1002);
}

#[test]
fn s8_1_invalid_utf8_is_1007() {
    let server = Server::start_at_default_log(&[]);
    expect_failure(&server, &client_frame(0x81, &[0xCE, 0xBA, 0xFF]), 1007);
    // Invalid across fragments.
    let mut f = client_frame(0x01, &[0xE2, 0x82]);
    f.extend(client_frame(0x80, &[0x28]));
    expect_failure(&server, &f, 1007);
}

#[test]
fn s8_1_invalid_utf8_fails_fast_before_the_frame_ends() {
    let server = Server::start_at_default_log(&[]);
    let mut s = raw_ws(&server, "/echo");
    let mut payload = vec![0xF4, 0x90, 0x80, 0x80];
    payload.resize(100_000, b'a');
    let frame = client_frame(0x81, &payload);
    // Only the start of the frame: the server must not wait for the rest.
    s.write_all(&frame[..64]).unwrap();
    assert_eq!(expect_close_then_eof(&mut s), Some(1007));
}

#[test]
fn s10_4_message_over_max_message_is_1009_from_the_header() {
    let server = Server::start_at_default_log(&["--max-message", "1000"]);
    let mut s = raw_ws(&server, "/echo");
    // Only the header of a 1 MiB frame is sent: the size is judged from it.
    let mut header = vec![0x82, 0x80 | 127];
    header.extend_from_slice(&(1u64 << 20).to_be_bytes());
    header.extend_from_slice(&[1, 2, 3, 4]);
    s.write_all(&header).unwrap();
    assert_eq!(expect_close_then_eof(&mut s), Some(1009));
    // Fragments adding up past the limit.
    let mut f = client_frame(0x02, &[0u8; 600]);
    f.extend(client_frame(0x80, &[0u8; 600]));
    expect_failure(&server, &f, 1009);
    assert_still_serving(&server);
}

// ---- §5.5.1 / §7 closing -----------------------------------------------------

#[test]
fn s5_5_1_close_is_answered_with_the_same_code_then_tcp_closes() {
    let server = Server::start_at_default_log(&[]);
    for code in [1000u16, 1001, 3000, 4999] {
        let mut s = raw_ws(&server, "/echo");
        let mut payload = code.to_be_bytes().to_vec();
        payload.extend_from_slice(b"bye");
        s.write_all(&client_frame(0x88, &payload)).unwrap();
        assert_eq!(expect_close(&mut s), Some(code));
        expect_eof(&mut s);
    }
}

#[test]
fn s5_5_1_empty_close_is_answered_with_empty_close() {
    let server = Server::start_at_default_log(&[]);
    let mut s = raw_ws(&server, "/echo");
    s.write_all(&client_frame(0x88, b"")).unwrap();
    assert_eq!(expect_close(&mut s), None);
    expect_eof(&mut s);
}

#[test]
fn s7_4_invalid_close_codes_are_1002() {
    let server = Server::start_at_default_log(&[]);
    for code in [0u16, 999, 1004, 1005, 1006, 1012, 1015, 2000, 2999, 5000] {
        expect_failure(&server, &client_frame(0x88, &code.to_be_bytes()), 1002);
    }
}

#[test]
fn s5_5_1_one_byte_close_payload_is_1002() {
    let server = Server::start_at_default_log(&[]);
    expect_failure(&server, &client_frame(0x88, &[0x03]), 1002);
}

#[test]
fn s5_5_1_close_reason_must_be_utf8() {
    let server = Server::start_at_default_log(&[]);
    expect_failure(
        &server,
        &client_frame(0x88, &[0x03, 0xE8, 0xFF, 0xFE]),
        1007,
    );
}

#[test]
fn s7_1_tungstenite_close_handshake_completes() {
    let server = Server::start_at_default_log(&[]);
    let mut ws = ws(&server, "/echo");
    ws.close(None).unwrap();
    loop {
        match ws.read() {
            Ok(_) => {}
            Err(tungstenite::Error::ConnectionClosed) => break,
            Err(e) => panic!("unclean close: {e}"),
        }
    }
}

// ---- the chat room -------------------------------------------------------------

#[test]
fn chat_broadcast_among_three_clients_sender_included() {
    let server = Server::start_at_default_log(&[]);
    let mut a = ws(&server, "/chat");
    let mut b = ws(&server, "/");
    let mut c = ws(&server, "/chat");
    // Everyone is in before anyone speaks: wait for each to see a probe.
    a.send(Message::text("hello from a")).unwrap();
    for w in [&mut a, &mut b, &mut c] {
        assert_eq!(next_text(w), "hello from a");
    }
    c.send(Message::binary(vec![1u8, 2, 3])).unwrap();
    for w in [&mut a, &mut b, &mut c] {
        assert_eq!(next_message(w), Message::binary(vec![1u8, 2, 3]));
    }
}

#[test]
fn chat_rooms_are_isolated() {
    let server = Server::start_at_default_log(&[]);
    let mut lobby = ws(&server, "/chat");
    let mut r1 = ws(&server, "/chat/rust");
    let mut r2 = ws(&server, "/chat/rust");
    r1.send(Message::text("in rust")).unwrap();
    assert_eq!(next_text(&mut r2), "in rust");
    assert_eq!(next_text(&mut r1), "in rust");
    lobby.send(Message::text("in lobby")).unwrap();
    assert_eq!(next_text(&mut lobby), "in lobby", "lobby sees only its own");
    r2.send(Message::text("second")).unwrap();
    assert_eq!(
        next_text(&mut r1),
        "second",
        "rust room never saw the lobby"
    );
}

#[test]
fn invalid_room_name_is_400() {
    let server = Server::start_at_default_log(&[]);
    let r = refused(&server, &upgrade_request("/chat/Not_Valid"));
    assert!(r.starts_with("HTTP/1.1 400 "), "{r}");
}

#[test]
fn command_line_errors_exit_2_with_one_line() {
    for args in [&["--nope"][..], &["--port", "x"]] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_wsloop"))
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.trim().lines().count(), 1, "{err}");
    }
    // A port in use.
    let server = Server::start_at_default_log(&[]);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_wsloop"))
        .args(["--port", &server.port.to_string()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot listen"));
}
