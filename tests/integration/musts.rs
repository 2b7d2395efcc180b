//! The server-side MUSTs of RFC 6455 that need more set-up than one request
//! or one frame (issue 13): extension and header rules of the handshake,
//! control frames between fragments, silence after the server's close on
//! every route, the simultaneous close, UTF-8 in everything the server
//! writes as text, nothing processed after a protocol failure, and close
//! codes an endpoint must never send.
//!
//! Every close read here goes through `expect_close`/`expect_eof`, which
//! fail on a reserved close code and on any frame but a pong after the
//! server's close.

use crate::common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use common::*;

// ---- helpers -------------------------------------------------------------

/// The response head's header fields, names lowercased.
fn header_fields(head: &str) -> Vec<(String, String)> {
    head.split("\r\n")
        .skip(1)
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (name, value) = l
                .split_once(':')
                .unwrap_or_else(|| panic!("bad line {l:?}"));
            (name.trim().to_ascii_lowercase(), value.trim().to_string())
        })
        .collect()
}

fn values<'a>(fields: &'a [(String, String)], name: &str) -> Vec<&'a str> {
    fields
        .iter()
        .filter(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
        .collect()
}

/// Upgrades by hand with `extra` header lines; returns the socket and head.
fn upgrade_with(server: &Server, path: &str, extra: &str) -> (TcpStream, String) {
    let mut s = tcp(server);
    let request = upgrade_request(path).replace("\r\n\r\n", &format!("\r\n{extra}\r\n\r\n"));
    s.write_all(request.as_bytes()).unwrap();
    let head = read_head(&mut s);
    (s, head)
}

/// A masked close frame with a code.
fn close_frame(code: u16) -> Vec<u8> {
    client_frame(0x88, &code.to_be_bytes())
}

/// Reads every frame up to and including the server's close; the frames
/// before the close are returned, the close's code is checked and returned.
fn frames_until_close(s: &mut TcpStream) -> (Vec<(u8, Vec<u8>)>, Option<u16>) {
    let mut before = Vec::new();
    loop {
        let (b0, payload) = read_frame(s);
        if b0 & 0x0F == 0x8 {
            return (before, check_close_frame(b0, &payload));
        }
        before.push((b0, payload));
    }
}

/// Reads until the connection ends; returns every frame, in order.
fn frames_until_eof(s: &mut TcpStream) -> Vec<(u8, Vec<u8>)> {
    let mut all = Vec::new();
    let mut buf = [0u8; 65536];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => all.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("expected the server to end the connection: {e}"),
        }
    }
    let mut frames = Vec::new();
    let mut at = 0;
    while at < all.len() {
        let (b0, payload, used) = parse_server_frame(&all[at..])
            .unwrap_or_else(|| panic!("a partial frame at the end: {:?}", &all[at..]));
        frames.push((b0, payload));
        at += used;
    }
    frames
}

/// §5.6: every text message the server sends is valid UTF-8. Reassembles
/// fragmented text (the server sends FIN frames today, but need not).
fn assert_text_is_utf8(frames: &[(u8, Vec<u8>)], what: &str) -> usize {
    let mut texts = 0;
    let mut partial: Option<Vec<u8>> = None;
    for (b0, payload) in frames {
        let fin = b0 & 0x80 != 0;
        match b0 & 0x0F {
            0x1 => partial = Some(payload.clone()),
            0x0 => {
                if let Some(p) = partial.as_mut() {
                    p.extend_from_slice(payload);
                }
            }
            0x8 => {
                check_close_frame(*b0, payload);
                continue;
            }
            _ => continue,
        }
        if fin && let Some(text) = partial.take() {
            assert!(
                std::str::from_utf8(&text).is_ok(),
                "{what}: the server sent a text message that is not UTF-8: {text:?}"
            );
            texts += 1;
        }
    }
    texts
}

/// Reads frames until `count` text messages arrived (skipping control
/// frames); returns them.
fn texts(s: &mut TcpStream, count: usize) -> Vec<(u8, Vec<u8>)> {
    let mut got = Vec::new();
    let mut n = 0;
    while n < count {
        let (b0, payload) = read_frame(s);
        if b0 & 0x0F == 0x1 {
            n += 1;
        }
        got.push((b0, payload));
    }
    got
}

// ---- the helpers themselves can fail ------------------------------------------

#[test]
fn expect_eof_fails_on_a_data_frame_after_the_close() {
    // A fake server: a close, then a text frame, then the end.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let fake = thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut out = vec![0x88, 0x02, 0x03, 0xE8];
        out.extend_from_slice(&[0x81, 0x04]);
        out.extend_from_slice(b"late");
        s.write_all(&out).unwrap();
    });
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    fake.join().unwrap();
    assert_eq!(expect_close(&mut s), Some(1000));
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| expect_eof(&mut s)));
    assert!(
        caught.is_err(),
        "expect_eof let a text frame after the close pass"
    );
}

#[test]
fn expect_close_fails_on_a_reserved_close_code() {
    for code in [1005u16, 1006, 1015] {
        let caught = std::panic::catch_unwind(|| check_close_frame(0x88, &code.to_be_bytes()));
        assert!(caught.is_err(), "close code {code} passed");
    }
    assert_eq!(check_close_frame(0x88, &1000u16.to_be_bytes()), Some(1000));
}

// ---- §4 the opening handshake -------------------------------------------------

#[test]
fn s4_2_2_an_extension_offer_not_accepted_gets_no_extensions_header() {
    let server = Server::start(&[]);
    for offer in [
        "Sec-WebSocket-Extensions: x-wsloop-unknown",
        "Sec-WebSocket-Extensions: x-foo; bar=1, x-baz\r\nSec-WebSocket-Extensions: x-qux",
    ] {
        let (mut s, head) = upgrade_with(&server, "/echo", offer);
        assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
        let fields = header_fields(&head);
        assert!(
            values(&fields, "sec-websocket-extensions").is_empty(),
            "§9.1: only an accepted extension is named in the 101: {head}"
        );
        // No extension is in use, so RSV1 still fails the connection (§5.2).
        s.write_all(&client_frame(0xC1, b"x")).unwrap();
        assert_eq!(expect_close_then_eof(&mut s), Some(1002));
    }
}

#[test]
fn s4_2_2_the_101_has_upgrade_websocket_connection_upgrade_and_one_accept() {
    let server = Server::start(&[]);
    for (path, extra) in [
        ("/echo", ""),
        ("/chat", ""),
        ("/chat/room-1", "Sec-WebSocket-Protocol: wsloop.chat.v1"),
        ("/guest", ""),
        ("/upload", ""),
        ("/inspect", ""),
    ] {
        let (_s, head) = if extra.is_empty() {
            let mut s = tcp(&server);
            s.write_all(upgrade_request(path).as_bytes()).unwrap();
            let head = read_head(&mut s);
            (s, head)
        } else {
            upgrade_with(&server, path, extra)
        };
        assert!(head.starts_with("HTTP/1.1 101 "), "{path}: {head}");
        let fields = header_fields(&head);
        // §4.2.2 step 5: "an |Upgrade| header field with value websocket"
        // and "a |Connection| header field with value Upgrade".
        let upgrade = values(&fields, "upgrade");
        assert_eq!(upgrade.len(), 1, "{path}: {head}");
        assert!(
            upgrade[0].eq_ignore_ascii_case("websocket"),
            "{path}: {head}"
        );
        let connection = values(&fields, "connection");
        assert_eq!(connection.len(), 1, "{path}: {head}");
        assert!(
            connection[0]
                .split(',')
                .any(|t| t.trim().eq_ignore_ascii_case("upgrade")),
            "{path}: {head}"
        );
        assert_eq!(
            values(&fields, "sec-websocket-accept"),
            ["s3pPLMBiTxaQ9kYGzzhZRbK+xOo="],
            "{path}: {head}"
        );
        let protocol = values(&fields, "sec-websocket-protocol");
        if extra.is_empty() {
            assert!(protocol.is_empty(), "{path}: none offered, none chosen");
        } else {
            assert_eq!(protocol, ["wsloop.chat.v1"], "{path}");
        }
    }
}

#[test]
fn s4_4_missing_version_gets_426_with_version_13() {
    let server = Server::start(&[]);
    let request = upgrade_request("/echo").replace("Sec-WebSocket-Version: 13\r\n", "");
    let mut s = tcp(&server);
    s.write_all(request.as_bytes()).unwrap();
    let response = read_to_close(&mut s);
    // §4.2.1 item 6 requires the header; §4.4 answers with the versions
    // the server speaks.
    assert!(response.starts_with("HTTP/1.1 426 "), "{response}");
    assert!(
        response.contains("\r\nSec-WebSocket-Version: 13\r\n"),
        "{response}"
    );
    assert_still_serving(&server);
}

// ---- §5.4 control frames between fragments ----------------------------------

#[test]
fn s5_4_a_pong_between_fragments_leaves_the_message_whole() {
    let server = Server::start(&[]);
    let mut s = raw_ws(&server, "/echo");
    let mut bytes = client_frame(0x01, b"in ");
    bytes.extend(client_frame(0x8A, b"unasked"));
    bytes.extend(client_frame(0x00, b"three "));
    bytes.extend(client_frame(0x8A, b""));
    bytes.extend(client_frame(0x80, b"parts"));
    s.write_all(&bytes).unwrap();
    // The pongs get no answer (§5.5.3); the message comes back whole.
    assert_eq!(read_frame(&mut s), (0x81, b"in three parts".to_vec()));
}

#[test]
fn s5_4_a_close_between_fragments_is_answered_and_the_partial_message_dropped() {
    let server = Server::start(&[]);
    let mut s = raw_ws(&server, "/echo");
    let mut bytes = client_frame(0x01, b"never ");
    bytes.extend(close_frame(1000));
    bytes.extend(client_frame(0x80, b"finished"));
    s.write_all(&bytes).unwrap();
    let frames = frames_until_eof(&mut s);
    assert_eq!(frames.len(), 1, "only the close reply: {frames:?}");
    assert_eq!(check_close_frame(frames[0].0, &frames[0].1), Some(1000));
    assert_still_serving(&server);
}

// ---- §5.5.1 no data frame after the server's close ------------------------------

#[test]
fn s5_5_1_no_data_frame_after_the_servers_close_on_echo() {
    let server = Server::start(&[]);
    // Its reply to the client's close is the last frame.
    let mut s = raw_ws(&server, "/echo");
    let mut bytes = client_frame(0x81, b"before");
    bytes.extend(close_frame(1000));
    bytes.extend(client_frame(0x81, b"after"));
    bytes.extend(client_frame(0x82, b"after"));
    s.write_all(&bytes).unwrap();
    let (before, code) = frames_until_close(&mut s);
    assert_eq!(before, [(0x81, b"before".to_vec())]);
    assert_eq!(code, Some(1000));
    expect_eof(&mut s);
}

/// The server starts the close (SIGTERM: 1001 to everyone, then it waits
/// for the replies); the client, not having read it yet, still sends a
/// message, a ping and then its close. Nothing but a pong may come back.
fn silent_after_shutdown_close(path: &str, late: &[u8]) {
    let mut server = Server::start(&["--close-timeout", "3"]);
    let mut s = raw_ws(&server, path);
    // Let the route say what it says on open, then wait for its close.
    thread::sleep(Duration::from_millis(100));
    server.signal("TERM");
    assert_eq!(expect_close(&mut s), Some(1001), "{path}");
    let mut bytes = client_frame(0x81, late);
    bytes.extend(client_frame(0x82, late));
    bytes.extend(client_frame(0x89, b"ping"));
    bytes.extend(close_frame(1001));
    s.write_all(&bytes).unwrap();
    expect_eof(&mut s);
    assert!(server.wait_exit().success());
}

#[test]
fn s5_5_1_no_data_frame_after_the_servers_close_on_echo_at_shutdown() {
    silent_after_shutdown_close("/echo", b"echo me");
}

#[test]
fn s5_5_1_no_data_frame_after_the_servers_close_on_inspect() {
    silent_after_shutdown_close("/inspect", b"report me");
    // And when the client starts the close: the frames after it are
    // neither reported nor echoed.
    let server = Server::start(&[]);
    let mut s = raw_ws(&server, "/inspect");
    let mut bytes = client_frame(0x81, b"x");
    bytes.extend(close_frame(1000));
    bytes.extend(client_frame(0x81, b"y"));
    bytes.extend(client_frame(0x89, b"p"));
    s.write_all(&bytes).unwrap();
    let (before, code) = frames_until_close(&mut s);
    assert_eq!(code, Some(1000));
    // handshake report, report of "x", echo of "x", report of the close.
    assert_eq!(before.len(), 4, "{before:?}");
    assert_eq!(before[2], (0x81, b"x".to_vec()));
    expect_eof(&mut s);
}

#[test]
fn s5_5_1_no_data_frame_after_the_servers_close_on_guest() {
    // Pushes every 1–2 ms: a push timer that outlives the close would show.
    let server = Server::start(&["--push-interval", "1-2"]);
    let mut s = raw_ws(&server, "/guest");
    texts(&mut s, 5);
    s.write_all(&close_frame(1000)).unwrap();
    assert_eq!(expect_close(&mut s), Some(1000));
    expect_eof(&mut s);

    // The server starts the close and waits 1 s for the reply that never
    // comes: 500 pushes' worth of time.
    let mut server = Server::start(&["--push-interval", "1-2", "--close-timeout", "1"]);
    let mut s = raw_ws(&server, "/guest");
    texts(&mut s, 5);
    server.signal("TERM");
    assert_eq!(expect_close(&mut s), Some(1001));
    let t0 = Instant::now();
    expect_eof(&mut s);
    assert!(t0.elapsed() >= Duration::from_millis(500), "cut early");
    assert!(server.wait_exit().success());
}

#[test]
fn s5_5_1_no_data_frame_after_the_servers_close_on_broadcast() {
    let server = Server::start(&[]);
    let room = "/chat/after-close";
    let mut talker = raw_ws(&server, room);
    // Several listeners end their connection in the middle of a stream of
    // broadcasts, each a different way: a close, a protocol error, a
    // close glued to a message.
    let endings: [&[u8]; 3] = [
        &close_frame(1000),
        &[0x81, 0x01, b'x'], // unmasked: 1002
        &[client_frame(0x81, b"bye"), close_frame(1000)].concat(),
    ];
    let mut listeners: Vec<TcpStream> = endings.iter().map(|_| raw_ws(&server, room)).collect();
    // Everyone is in before the stream starts.
    talker.write_all(&client_frame(0x81, b"ready")).unwrap();
    for s in listeners.iter_mut().chain([&mut talker]) {
        assert_eq!(read_frame(s), (0x81, b"ready".to_vec()));
    }
    let stream = thread::spawn(move || {
        let burst: Vec<u8> = (0..200)
            .flat_map(|i| client_frame(0x81, format!("m{i}").as_bytes()))
            .collect();
        for _ in 0..20 {
            talker.write_all(&burst).unwrap();
            thread::sleep(Duration::from_millis(5));
        }
        talker
    });
    let handles: Vec<_> = listeners
        .into_iter()
        .zip(endings.iter().map(|e| e.to_vec()))
        .map(|(mut s, ending)| {
            thread::spawn(move || {
                // Wait until the stream is flowing, then end.
                let (b0, _) = read_frame(&mut s);
                assert_eq!(b0, 0x81);
                s.write_all(&ending).unwrap();
                let code = expect_close(&mut s);
                expect_eof(&mut s);
                code
            })
        })
        .collect();
    let codes: Vec<Option<u16>> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(codes, [Some(1000), Some(1002), Some(1000)]);
    let talker = stream.join().unwrap();
    drop(talker);
    silent_after_shutdown_close(room, b"to the room");
}

// ---- §7.1 the simultaneous close --------------------------------------------

#[test]
fn s7_1_3_simultaneous_close_one_close_each_way_then_tcp_ends() {
    // Both ends send a close before reading the other's: each side's close
    // is the answer to the other's (§7.1.3), nobody answers twice, and the
    // server does not wait for a reply it already has.
    let mut server = Server::start(&["--close-timeout", "5"]);
    let mut clients: Vec<TcpStream> = (0..20).map(|_| raw_ws(&server, "/echo")).collect();
    let t0 = Instant::now();
    server.signal("TERM");
    for s in &mut clients {
        s.write_all(&close_frame(1000)).unwrap();
    }
    for mut s in clients {
        let frames = frames_until_eof(&mut s);
        drop(s); // as a client does at the end: the server lingers until then
        assert_eq!(frames.len(), 1, "exactly one close: {frames:?}");
        let code = check_close_frame(frames[0].0, &frames[0].1);
        // 1001 when the shutdown came first, the echo of 1000 otherwise.
        assert!(matches!(code, Some(1000 | 1001)), "{code:?}");
    }
    assert!(server.wait_exit().success());
    assert!(
        t0.elapsed() < Duration::from_secs(3),
        "the server waited for replies it had: {:?}",
        t0.elapsed()
    );
}

// ---- §5.5.2 pings after the server's close -----------------------------------

#[test]
fn s5_5_2_a_ping_after_the_servers_close_still_gets_a_pong() {
    // §5.5.2: "Upon receipt of a Ping frame, an endpoint MUST send a Pong
    // frame in response, unless it already received a Close frame." The
    // server's own close does not end that duty.
    let mut server = Server::start(&["--close-timeout", "5"]);
    let mut s = raw_ws(&server, "/echo");
    server.signal("TERM");
    assert_eq!(expect_close(&mut s), Some(1001));
    s.write_all(&client_frame(0x89, b"still there?")).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    assert_eq!(read_frame(&mut s), (0x8A, b"still there?".to_vec()));
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    s.write_all(&close_frame(1001)).unwrap();
    expect_eof(&mut s);
    assert!(server.wait_exit().success());
}

// ---- §5.6 / §8.1 the server's text is UTF-8 ---------------------------------

#[test]
fn s5_6_every_text_frame_the_server_sends_is_utf8() {
    let mut server = Server::start(&["--push-interval", "1-2"]);
    let mut checked = 0;

    // /inspect shows 64 payload bytes of each frame: 64 is not a multiple
    // of 3, so "€€€…" is cut inside a character; and a fragment may end
    // inside one.
    let mut s = raw_ws(&server, "/inspect");
    let euros = "€".repeat(100);
    let mut bytes = client_frame(0x81, euros.as_bytes());
    bytes.extend(client_frame(0x01, &[0xE2, 0x82]));
    bytes.extend(client_frame(0x80, &[0xAC, b'!']));
    s.write_all(&bytes).unwrap();
    // handshake, report, echo, report, report, echo
    checked += assert_text_is_utf8(&texts(&mut s, 6), "/inspect");

    // /guest: the Chinese names and the clock.
    let mut g = raw_ws(&server, "/guest");
    g.write_all(&client_frame(0x81, "👋".as_bytes())).unwrap();
    checked += assert_text_is_utf8(&texts(&mut g, 10), "/guest");

    // /chat: a v1 member hears a plain client's long multibyte text (the
    // v1 relay may cut it: never inside a character), a refused name made
    // of multibyte characters, and errors about multibyte junk.
    let (mut v1, _) = raw_v1(&server, "/chat/utf8");
    let name = "é".repeat(20);
    let hello = format!(r#"{{"type":"hello","name":"{name}"}}"#);
    v1.write_all(&client_frame(0x81, hello.as_bytes())).unwrap();
    checked += assert_text_is_utf8(&texts(&mut v1, 1), "v1 welcome");
    let mut plain = raw_ws(&server, "/chat/utf8");
    let long = "€".repeat(5000);
    plain
        .write_all(&client_frame(0x81, long.as_bytes()))
        .unwrap();
    assert_eq!(read_frame(&mut plain), (0x81, long.as_bytes().to_vec()));
    let (mut v1b, _) = raw_v1(&server, "/chat/utf8");
    let too_long = "ü".repeat(200);
    for request in [
        format!(r#"{{"type":"hello","name":"{name}"}}"#),
        format!(r#"{{"type":"hello","name":"{too_long}"}}"#),
        format!(r#"{{"type":"{too_long}"}}"#),
        "€€€ not json".to_string(),
    ] {
        v1b.write_all(&client_frame(0x81, request.as_bytes()))
            .unwrap();
    }
    checked += assert_text_is_utf8(&texts(&mut v1b, 4), "v1 errors");
    // The first v1 member: events up to the relayed message.
    let mut relay = Vec::new();
    while !relay
        .iter()
        .any(|(_, p): &(u8, Vec<u8>)| String::from_utf8_lossy(p).contains(r#""type":"message""#))
    {
        assert!(relay.len() < 5, "no message event: {relay:?}");
        relay.extend(texts(&mut v1, 1));
    }
    checked += assert_text_is_utf8(&relay, "v1 relay");

    // Close reasons are UTF-8 too (checked inside expect_close).
    for s in [&mut s, &mut g, &mut v1, &mut v1b, &mut plain] {
        s.write_all(&[0x81, 0x00]).unwrap(); // unmasked: 1002 with a reason
        assert_eq!(expect_close(s), Some(1002));
    }
    server.signal("TERM");
    assert!(server.wait_exit().success());
    assert!(checked >= 22, "only {checked} text messages checked");
}

// ---- §7.1.7 nothing processed after a protocol failure -------------------------

#[test]
fn s7_1_7_nothing_is_processed_after_a_protocol_failure() {
    let server = Server::start(&[]);
    // /echo: what follows the bad frame in the same write is not echoed.
    let mut s = raw_ws(&server, "/echo");
    let mut bytes = client_frame(0x81, b"before");
    bytes.extend(client_frame(0x83, b"reserved opcode"));
    bytes.extend(client_frame(0x81, b"after"));
    bytes.extend(client_frame(0x89, b"after"));
    s.write_all(&bytes).unwrap();
    let (before, code) = frames_until_close(&mut s);
    assert_eq!(before, [(0x81, b"before".to_vec())]);
    assert_eq!(code, Some(1002));
    expect_eof(&mut s);

    // A room: the others hear the message before the bad frame, never the
    // one after it. The probe that follows shows the room's order.
    let room = "/chat/failure";
    let mut bad = raw_ws(&server, room);
    let mut other = raw_ws(&server, room);
    bad.write_all(&client_frame(0x81, b"ready")).unwrap();
    assert_eq!(read_frame(&mut other), (0x81, b"ready".to_vec()));
    let mut bytes = client_frame(0x81, b"before");
    bytes.extend(client_frame(0x81, &[0xFF, 0xFE])); // invalid UTF-8: 1007
    bytes.extend(client_frame(0x81, b"after"));
    bad.write_all(&bytes).unwrap();
    assert_eq!(read_frame(&mut other), (0x81, b"before".to_vec()));
    other.write_all(&client_frame(0x81, b"probe")).unwrap();
    assert_eq!(
        read_frame(&mut other),
        (0x81, b"probe".to_vec()),
        "the message after the failure reached the room"
    );
    let (before, code) = frames_until_close(&mut bad);
    assert_eq!(code, Some(1007));
    assert!(!before.iter().any(|(_, p)| p == b"after"), "{before:?}");
    expect_eof(&mut bad);

    // A v1 client: a say after the failure is neither relayed nor acked.
    let (mut v1, _) = raw_v1(&server, room);
    let mut bytes = client_frame(0x81, br#"{"type":"hello","name":"failing"}"#);
    bytes.extend(client_frame(0x81 | 0x40, b"rsv1"));
    bytes.extend(client_frame(0x81, br#"{"type":"say","text":"after"}"#));
    v1.write_all(&bytes).unwrap();
    let (before, code) = frames_until_close(&mut v1);
    assert_eq!(code, Some(1002));
    assert!(
        !before
            .iter()
            .any(|(_, p)| String::from_utf8_lossy(p).contains("after")),
        "{before:?}"
    );
    expect_eof(&mut v1);
    other.write_all(&client_frame(0x81, b"probe 2")).unwrap();
    loop {
        let (_, p) = read_frame(&mut other);
        assert!(
            !String::from_utf8_lossy(&p).contains("\"after\""),
            "relayed"
        );
        if p == b"probe 2" {
            break;
        }
    }
}

// ---- §7.4.1 codes the server never sends -----------------------------------------

#[test]
fn s7_4_1_the_server_never_sends_1005_1006_or_1015() {
    let mut server = Server::start(&["--idle-timeout", "0.3", "--close-timeout", "1"]);
    let mut codes = Vec::new();
    // An empty close is answered with an empty close: 1005 is what the
    // server records, never what it sends.
    let mut s = raw_ws(&server, "/echo");
    s.write_all(&client_frame(0x88, b"")).unwrap();
    let frames = frames_until_eof(&mut s);
    assert_eq!(frames, [(0x88, Vec::new())]);
    // A client that names the reserved codes is failed with 1002.
    for code in [1005u16, 1006, 1015] {
        let mut s = raw_ws(&server, "/echo");
        s.write_all(&close_frame(code)).unwrap();
        codes.push(expect_close_then_eof(&mut s));
    }
    // A client that vanishes mid-frame gets nothing at all (1006 is what
    // the server notes for itself).
    let mut s = raw_ws(&server, "/echo");
    s.write_all(&client_frame(0x82, &[0u8; 100])[..50]).unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    let frames = frames_until_eof(&mut s);
    assert!(
        frames
            .iter()
            .all(|(b0, p)| *b0 != 0x88 || check_close_frame(*b0, p).is_some()),
        "{frames:?}"
    );
    // Too big, bad UTF-8, idle.
    let mut s = raw_ws(&server, "/echo");
    let mut header = vec![0x82, 0x80 | 127];
    header.extend_from_slice(&(1u64 << 40).to_be_bytes());
    header.extend_from_slice(&[1, 2, 3, 4]);
    s.write_all(&header).unwrap();
    codes.push(expect_close_then_eof(&mut s));
    let mut s = raw_ws(&server, "/echo");
    s.write_all(&client_frame(0x81, &[0xC0, 0x80])).unwrap();
    codes.push(expect_close_then_eof(&mut s));
    let mut idle = raw_ws(&server, "/echo");
    codes.push(expect_close_then_eof(&mut idle));
    // Shutdown.
    let mut s = raw_ws(&server, "/echo");
    server.signal("TERM");
    codes.push(expect_close(&mut s));
    s.write_all(&close_frame(1001)).unwrap();
    expect_eof(&mut s);
    assert!(server.wait_exit().success());
    assert_eq!(
        codes,
        [
            Some(1002),
            Some(1002),
            Some(1002),
            Some(1009),
            Some(1007),
            Some(1001),
            Some(1001)
        ]
    );
}
