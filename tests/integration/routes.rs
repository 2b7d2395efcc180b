//! The routes besides plain chat, over real sockets: the operator console
//! (`--operator`, driven through a piped stdin), `/guest`, `/upload` and
//! `/inspect`.

use crate::common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};
use tungstenite::Message;
use tungstenite::client::IntoClientRequest;
use tungstenite::protocol::frame::coding::CloseCode;

// ---- helpers -------------------------------------------------------------

fn local_port(ws: &Ws) -> u16 {
    match ws.get_ref() {
        tungstenite::stream::MaybeTlsStream::Plain(s) => s.local_addr().unwrap().port(),
        _ => unreachable!("plain TCP only"),
    }
}

fn console(server: &mut Server, line: &str) {
    let stdin = server.stdin.as_mut().expect("stdin is piped");
    stdin.write_all(format!("{line}\n").as_bytes()).unwrap();
    stdin.flush().unwrap();
}

/// Every stdout line up to and including the first containing `needle`.
fn lines_until(server: &Server, needle: &str) -> Vec<String> {
    let deadline = Instant::now() + TIMEOUT;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match server.stdout.recv_timeout(left) {
            Ok(line) => {
                let done = line.contains(needle);
                seen.push(line);
                if done {
                    return seen;
                }
            }
            Err(_) => panic!("server never printed {needle:?}; saw {seen:?}"),
        }
    }
}

/// The connection id in a console line `[#<id> label] text`.
fn speaker_id(line: &str) -> u64 {
    line.strip_prefix("[#")
        .and_then(|rest| rest.split(' ').next())
        .and_then(|id| id.parse().ok())
        .unwrap_or_else(|| panic!("no [#id in {line:?}"))
}

fn v1_client(server: &Server, path: &str) -> Ws {
    let mut req = server.url(path).into_client_request().unwrap();
    req.headers_mut()
        .insert("Sec-WebSocket-Protocol", "wsloop.chat.v1".parse().unwrap());
    let (mut ws, resp) = tungstenite::connect(req).expect("connect v1");
    assert_eq!(resp.headers()["Sec-WebSocket-Protocol"], "wsloop.chat.v1");
    if let tungstenite::stream::MaybeTlsStream::Plain(s) = ws.get_mut() {
        s.set_read_timeout(Some(TIMEOUT)).unwrap();
    }
    ws
}

fn send_json(ws: &mut Ws, v: Value) {
    ws.send(Message::text(v.to_string())).unwrap();
}

/// Reads until the close frame; returns its code and reason.
fn next_close(ws: &mut Ws) -> (CloseCode, String) {
    loop {
        match ws.read().expect("read until close") {
            Message::Close(Some(frame)) => return (frame.code, frame.reason.to_string()),
            Message::Close(None) => panic!("close frame without a code"),
            Message::Ping(_) | Message::Pong(_) => {}
            other => panic!("expected a close, got {other:?}"),
        }
    }
}

/// After the close handshake, the server ends the connection.
fn expect_closed(ws: &mut Ws) {
    loop {
        match ws.read() {
            Ok(Message::Ping(_) | Message::Pong(_)) => {}
            Ok(other) => panic!("expected the end, got {other:?}"),
            Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => return,
            Err(tungstenite::Error::Io(e)) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                return;
            }
            Err(e) => panic!("expected a clean end, got {e}"),
        }
    }
}

fn is_hms(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 8
        && b[2] == b':'
        && b[5] == b':'
        && [0, 1, 3, 4, 6, 7].iter().all(|&i| b[i].is_ascii_digit())
}

// ---- operator console ----------------------------------------------------

fn operator() -> Server {
    let server = Server::start_with(&["--operator"], Stdio::piped());
    server.expect_line("operator console");
    server
}

#[test]
fn operator_sees_messages_and_replies_to_the_last_sender_or_by_id() {
    let mut server = operator();
    let mut a = ws(&server, "/chat");
    let mut b = ws(&server, "/");
    let (port_a, port_b) = (local_port(&a), local_port(&b));

    a.send(Message::text("hello")).unwrap();
    let line = server.expect_line("] hello");
    let id_a = speaker_id(&line);
    assert_eq!(line, format!("[#{id_a} 127.0.0.1:{port_a}] hello"));

    b.send(Message::text("from b")).unwrap();
    let line = server.expect_line("] from b");
    let id_b = speaker_id(&line);
    assert_ne!(id_a, id_b);
    assert_eq!(line, format!("[#{id_b} 127.0.0.1:{port_b}] from b"));

    // A plain line goes to whoever spoke last: b.
    console(&mut server, "hi there");
    assert_eq!(next_text(&mut b), "hi there", "b spoke last");
    // `@<id>` picks the client.
    console(&mut server, &format!("@{id_a} just you"));
    assert_eq!(
        next_text(&mut a),
        "just you",
        "a saw nothing before its reply: not b's message"
    );
    console(&mut server, &format!("@{id_b} and you"));
    assert_eq!(next_text(&mut b), "and you", "b saw nothing of a's message");

    // a speaks again: now the last sender.
    a.send(Message::text("again")).unwrap();
    server.expect_line(&format!("[#{id_a} 127.0.0.1:{port_a}] again"));
    console(&mut server, "back to a");
    assert_eq!(next_text(&mut a), "back to a");
}

#[test]
fn operator_console_line_without_newline_is_capped_not_buffered_whole() {
    // Issue 13: a 400 MB line with no newline took 821 MB. Now a line over
    // 64 KiB is read to its end but not kept, and gets one `error:` line.
    let mut server = operator();
    let before = server.rss_kib();
    {
        let stdin = server.stdin.as_mut().unwrap();
        let chunk = vec![b'x'; 1 << 20];
        for _ in 0..400 {
            stdin.write_all(&chunk).unwrap();
        }
        stdin.write_all(b"\n").unwrap();
        stdin.flush().unwrap();
    }
    let line = server.expect_line("error: console line of");
    assert!(line.contains("419430400 bytes dropped"), "{line}");
    let grown = server.peak_rss_kib().saturating_sub(before);
    assert!(
        grown < 100 * 1024,
        "peak RSS grew {grown} KiB for a 400 MiB line"
    );
    // The console still works after it.
    let mut a = ws(&server, "/chat");
    a.send(Message::text("still here")).unwrap();
    server.expect_line("] still here");
    console(&mut server, "yes");
    assert_eq!(next_text(&mut a), "yes");
}

#[test]
fn operator_unknown_id_is_a_console_error_and_sends_nothing() {
    let mut server = operator();
    let mut a = ws(&server, "/chat");
    a.send(Message::text("me")).unwrap();
    let id_a = speaker_id(&server.expect_line("] me"));

    console(&mut server, "@999 nobody");
    let line = server.expect_line("error");
    assert!(line.starts_with("error:"), "{line}");
    console(&mut server, "/kick 999 why");
    let line = server.expect_line("error");
    assert!(line.starts_with("error:") && line.contains("999"), "{line}");
    console(&mut server, "/frobnicate");
    assert!(server.expect_line("error").starts_with("error:"));

    // Nothing reached a: the next thing it sees is this.
    console(&mut server, &format!("@{id_a} marker"));
    assert_eq!(next_text(&mut a), "marker");
}

#[test]
fn operator_list_shows_id_address_route_and_age() {
    let mut server = operator();
    let mut a = ws(&server, "/chat");
    a.send(Message::text("x")).unwrap();
    let id_a = speaker_id(&server.expect_line("] x"));
    let port_a = local_port(&a);
    let e = ws(&server, "/echo");
    let port_e = local_port(&e);
    let r = ws(&server, "/chat/room-1");
    let port_r = local_port(&r);

    console(&mut server, "/list");
    let mut lines = Vec::new();
    while ![port_a, port_e, port_r].iter().all(|p| {
        lines
            .iter()
            .any(|l: &String| l.contains(&format!("127.0.0.1:{p} ")))
    }) {
        lines.push(
            server
                .stdout
                .recv_timeout(TIMEOUT)
                .unwrap_or_else(|_| panic!("/list incomplete: {lines:?}")),
        );
    }
    let find = |port: u16| {
        lines
            .iter()
            .find(|l| l.contains(&format!("127.0.0.1:{port} ")))
            .unwrap_or_else(|| panic!("no line for :{port} in {lines:?}"))
            .clone()
    };
    let la = find(port_a);
    assert!(
        la.starts_with(&format!("#{id_a} 127.0.0.1:{port_a} chat/lobby connected ")),
        "{la}"
    );
    let le = find(port_e);
    assert!(
        le.contains(&format!("127.0.0.1:{port_e} echo connected ")),
        "{le}"
    );
    let lr = find(port_r);
    assert!(
        lr.contains(&format!("127.0.0.1:{port_r} chat/room-1 connected ")),
        "{lr}"
    );
    for line in [&la, &le, &lr] {
        let secs = line
            .split(" connected ")
            .nth(1)
            .unwrap()
            .split('s')
            .next()
            .unwrap();
        assert!(
            secs.parse::<u64>().is_ok_and(|s| s < 60),
            "seconds in {line}"
        );
    }
    drop((e, r));
}

#[test]
fn operator_kick_closes_with_1000_and_the_reason() {
    let mut server = operator();
    let mut a = ws(&server, "/chat");
    let mut b = ws(&server, "/chat");
    a.send(Message::text("a here")).unwrap();
    let id_a = speaker_id(&server.expect_line("] a here"));
    b.send(Message::text("b here")).unwrap();
    let id_b = speaker_id(&server.expect_line("] b here"));

    console(&mut server, &format!("/kick {id_a} too loud"));
    server.expect_line(&format!("kicked #{id_a}"));
    assert_eq!(
        next_close(&mut a),
        (CloseCode::Normal, "too loud".to_string())
    );
    expect_closed(&mut a);

    // b is untouched.
    console(&mut server, &format!("@{id_b} still here"));
    assert_eq!(next_text(&mut b), "still here");
    // A kicked id is gone.
    console(&mut server, &format!("@{id_a} hello?"));
    assert!(server.expect_line("error").starts_with("error:"));
}

#[test]
fn operator_eof_on_stdin_keeps_serving() {
    let mut server = operator();
    let mut a = ws(&server, "/chat");
    a.send(Message::text("before")).unwrap();
    let id_a = speaker_id(&server.expect_line("] before"));

    drop(server.stdin.take());
    let line = server.expect_line("stdin");
    assert!(line.contains("closed"), "{line}");

    // Chat messages still reach the (now unattended) console, once each,
    // and the EOF notice is not repeated.
    a.send(Message::text("after")).unwrap();
    let seen = lines_until(
        &server,
        &format!("[#{id_a} 127.0.0.1:{}] after", local_port(&a)),
    );
    assert!(
        !seen.iter().any(|l| l.contains("stdin")),
        "EOF printed again: {seen:?}"
    );
    assert_still_serving(&server);
    assert!(
        server.child.try_wait().unwrap().is_none(),
        "server exited on EOF"
    );
}

#[test]
fn operator_quit_closes_everyone_with_1001_and_exits_0() {
    // A close timeout longer than `TIMEOUT`: the exit must come from the
    // clients' close replies, not from giving up on them.
    let mut server = Server::start_with(&["--operator", "--close-timeout", "60"], Stdio::piped());
    server.expect_line("operator console");
    let mut a = ws(&server, "/chat");
    let mut e = ws(&server, "/echo");
    e.send(Message::text("ping")).unwrap();
    assert_eq!(next_text(&mut e), "ping");
    a.send(Message::text("bye")).unwrap();
    server.expect_line("] bye");

    console(&mut server, "/quit");
    for ws in [&mut a, &mut e] {
        let (code, _) = next_close(ws);
        assert_eq!(code, CloseCode::Away);
        expect_closed(ws);
    }
    drop((a, e));
    let status = server.wait_exit();
    assert_eq!(status.code(), Some(0), "{status:?}");
}

#[test]
fn operator_v1_client_is_shown_by_name_and_reached_by_name() {
    let mut server = operator();
    let mut alice = v1_client(&server, "/chat");
    send_json(&mut alice, json!({"type": "hello", "name": "alice"}));
    assert_eq!(next_json(&mut alice)["type"], "welcome");
    send_json(
        &mut alice,
        json!({"type": "say", "text": "hi op", "id": "c1"}),
    );
    let line = server.expect_line("] hi op");
    let id = speaker_id(&line);
    assert_eq!(line, format!("[#{id} alice@lobby] hi op"));

    console(&mut server, "@alice hello alice");
    let m = next_json(&mut alice);
    assert_eq!(m["type"], "message", "{m}");
    assert_eq!(m["text"], "hello alice", "{m}");
    // And by id, and as the last speaker.
    console(&mut server, "to the last");
    assert_eq!(next_json(&mut alice)["text"], "to the last");
    console(&mut server, &format!("@{id} by id"));
    assert_eq!(next_json(&mut alice)["text"], "by id");
    console(&mut server, "@bob nobody");
    assert!(server.expect_line("error").starts_with("error:"));
}

#[test]
fn operator_name_in_two_rooms_is_refused_as_ambiguous_and_name_at_room_picks_one() {
    let mut server = operator();
    let mut lobby = v1_client(&server, "/chat");
    send_json(&mut lobby, json!({"type": "hello", "name": "alice"}));
    assert_eq!(next_json(&mut lobby)["type"], "welcome");
    let mut rust = v1_client(&server, "/chat/rust");
    send_json(&mut rust, json!({"type": "hello", "name": "alice"}));
    assert_eq!(next_json(&mut rust)["type"], "welcome");
    console(&mut server, "@alice which one?");
    let line = server.expect_line("error");
    assert!(line.contains("several rooms"), "{line}");
    assert!(line.contains("@alice@rust"), "{line}");
    console(&mut server, "@alice@rust this one");
    assert_eq!(next_json(&mut rust)["text"], "this one");
    // The lobby's alice got nothing: her next event is the one sent now.
    console(&mut server, "@alice@lobby and you");
    assert_eq!(next_json(&mut lobby)["text"], "and you");
}

#[test]
fn operator_reply_by_name_never_follows_a_close() {
    // §5.5.1: after its close frame the server sends no more data frames,
    // not even an operator's reply to a kicked client still in Closing.
    let mut server = operator();
    let (mut s, head) = raw_v1(&server, "/chat");
    assert!(head.contains("Sec-WebSocket-Protocol: wsloop.chat.v1"));
    s.write_all(&client_frame(0x81, br#"{"type":"hello","name":"alice"}"#))
        .unwrap();
    let (_, welcome) = read_frame(&mut s);
    assert!(String::from_utf8_lossy(&welcome).contains("welcome"));
    s.write_all(&client_frame(0x81, br#"{"type":"say","text":"x"}"#))
        .unwrap();
    let id = speaker_id(&server.expect_line("] x"));

    console(&mut server, &format!("/kick {id} bye"));
    server.expect_line(&format!("kicked #{id}"));
    let (b0, payload) = read_frame(&mut s);
    assert_eq!((b0, &payload[..2]), (0x88, &1000u16.to_be_bytes()[..]));
    // Not read: the client has not answered the close yet.
    console(&mut server, "@alice too late");
    console(&mut server, "@999 sync");
    let lines = lines_until(&server, "999");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("error:") && l.contains("alice")),
        "{lines:?}"
    );
    s.write_all(&client_frame(0x88, &1000u16.to_be_bytes()))
        .unwrap();
    let rest = read_to_close(&mut s);
    assert!(rest.is_empty(), "bytes after the close frame: {rest:?}");
}

// ---- /guest ----------------------------------------------------------------

fn assert_guest_push(v: &Value) {
    let obj = v
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"));
    assert_eq!(obj.len(), 2, "{v}");
    assert!(v["guest"].as_str().is_some_and(|g| !g.is_empty()), "{v}");
    assert!(v["time"].as_str().is_some_and(is_hms), "{v}");
}

#[test]
fn guest_greets_then_answers_any_message_at_once() {
    // Default interval (3-8 s): a push within a second is the reply.
    let server = Server::start(&[]);
    let mut g = ws(&server, "/guest");
    assert_eq!(next_text(&mut g), "The server is listening to you now.");
    for msg in [Message::text("anyone?"), Message::binary(vec![1u8, 2, 3])] {
        let sent = Instant::now();
        g.send(msg).unwrap();
        assert_guest_push(&next_json(&mut g));
        assert!(
            sent.elapsed() < Duration::from_secs(2),
            "reply took {:?}",
            sent.elapsed()
        );
    }
}

#[test]
fn guest_pushes_unprompted_at_the_interval() {
    let server = Server::start(&["--push-interval", "50-100"]);
    let mut g = ws(&server, "/guest");
    assert_eq!(next_text(&mut g), "The server is listening to you now.");
    let start = Instant::now();
    for _ in 0..3 {
        assert_guest_push(&next_json(&mut g));
    }
    assert!(
        start.elapsed() >= Duration::from_millis(100),
        "three pushes too fast: {:?}",
        start.elapsed()
    );
}

// ---- /upload ---------------------------------------------------------------

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("wsloop-routes-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn upload(ws: &mut Ws, data: &[u8]) -> Value {
    ws.send(Message::binary(data.to_vec())).unwrap();
    next_json(ws)
}

/// Checks a `saved` reply: the path, the byte count, the file's content.
/// Returns the file name.
fn assert_saved(reply: &Value, dir: &Path, data: &[u8], ext: &str) -> String {
    let saved = reply["saved"]
        .as_str()
        .unwrap_or_else(|| panic!("not saved: {reply}"));
    assert_eq!(reply["bytes"], data.len(), "{reply}");
    let prefix = format!("{}/", dir.display());
    let name = saved
        .strip_prefix(&prefix)
        .unwrap_or_else(|| panic!("{saved} not in {prefix}"));
    let (stem, got_ext) = name.split_once('.').unwrap();
    assert_eq!(got_ext, ext, "{name}");
    let (id, n) = stem.split_once('-').unwrap();
    assert!(
        id.parse::<u64>().is_ok() && n.parse::<u64>().is_ok(),
        "{name}"
    );
    assert_eq!(
        std::fs::read(saved).unwrap(),
        data,
        "{saved} is not byte-exact"
    );
    name.to_string()
}

fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

#[test]
fn upload_saves_binary_messages_byte_exact_with_sniffed_extensions() {
    let tmp = TempDir::new("saves");
    let dir = tmp.0.to_str().unwrap();
    let server = Server::start(&["--uploads", dir]);
    let mut up = ws(&server, "/upload");

    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend(0..=255u8);
    let mut pdf = b"%PDF-1.7\n".to_vec();
    pdf.extend(noise(300 * 1024, 7)); // several reads, several TCP segments
    let mut bin = noise(1000, 9);
    bin[0] = 0; // surely no magic number

    let n1 = assert_saved(&upload(&mut up, &png), &tmp.0, &png, "png");
    let n2 = assert_saved(&upload(&mut up, &pdf), &tmp.0, &pdf, "pdf");
    let n3 = assert_saved(&upload(&mut up, &bin), &tmp.0, &bin, "bin");
    let id = n1.split('-').next().unwrap();
    assert_eq!(n1, format!("{id}-1.png"));
    assert_eq!(n2, format!("{id}-2.pdf"));
    assert_eq!(n3, format!("{id}-3.bin"));

    // Another connection never overwrites: its own id.
    let mut other = ws(&server, "/upload");
    let n4 = assert_saved(&upload(&mut other, &png), &tmp.0, &png, "png");
    assert!(!n4.starts_with(&format!("{id}-")), "{n4}");
    assert_eq!(
        std::fs::read(tmp.0.join(&n1)).unwrap(),
        png,
        "first file intact"
    );
    // Exactly the four files, no leftovers.
    let mut names: Vec<String> = std::fs::read_dir(&tmp.0)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    let mut want = vec![n1, n2, n3, n4];
    want.sort();
    assert_eq!(names, want);
}

#[test]
fn upload_text_is_an_error_and_the_connection_stays_open() {
    let tmp = TempDir::new("text");
    let server = Server::start(&["--uploads", tmp.0.to_str().unwrap()]);
    let mut up = ws(&server, "/upload");
    up.send(Message::text("not a file")).unwrap();
    let reply = next_json(&mut up);
    assert!(
        reply["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{reply}"
    );
    assert!(reply.get("saved").is_none(), "{reply}");
    assert_eq!(
        std::fs::read_dir(&tmp.0).unwrap().count(),
        0,
        "text was saved"
    );

    let data = b"GIF89a and then some".to_vec();
    assert_saved(&upload(&mut up, &data), &tmp.0, &data, "gif");
}

#[test]
fn upload_to_an_unwritable_directory_is_an_error_and_the_server_lives_on() {
    let tmp = TempDir::new("unwritable");
    // A path under a regular file cannot be created, even by root.
    let file = tmp.0.join("a-file");
    std::fs::write(&file, b"i am a file").unwrap();
    let dir = file.join("uploads");
    let server = Server::start(&["--uploads", dir.to_str().unwrap()]);
    let mut up = ws(&server, "/upload");

    let reply = upload(&mut up, &noise(5000, 3));
    let err = reply["error"]
        .as_str()
        .unwrap_or_else(|| panic!("expected an error: {reply}"));
    assert!(!err.is_empty());
    assert!(reply.get("saved").is_none(), "{reply}");
    // Still open, still answering.
    let reply = upload(&mut up, b"%PDF-again");
    assert!(reply["error"].is_string(), "{reply}");
    assert_still_serving(&server);
    // Nothing written anywhere: the file is untouched and alone.
    assert_eq!(std::fs::read(&file).unwrap(), b"i am a file");
    let names: Vec<_> = std::fs::read_dir(&tmp.0)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["a-file"]);
}

#[test]
fn upload_failed_write_leaves_no_partial_file() {
    // The directory exists and is writable, but the temporary name the
    // server writes to is taken by a directory: the write fails midway.
    let tmp = TempDir::new("partial");
    let server = Server::start(&["--uploads", tmp.0.to_str().unwrap()]);
    let mut up = ws(&server, "/upload");
    // Learn this connection's id from a first upload.
    let first = assert_saved(&upload(&mut up, b"first"), &tmp.0, b"first", "bin");
    let id = first.split('-').next().unwrap();
    std::fs::create_dir(tmp.0.join(format!("{id}-2.bin.part"))).unwrap();
    let reply = upload(&mut up, b"second");
    assert!(reply["error"].is_string(), "{reply}");
    assert!(
        !tmp.0.join(format!("{id}-2.bin")).exists(),
        "a file appeared despite the error"
    );
    // And the connection goes on.
    let reply = upload(&mut up, b"%PDF-third");
    assert_saved(&reply, &tmp.0, b"%PDF-third", "pdf");
}

// ---- /inspect --------------------------------------------------------------

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn read_json_frame(s: &mut std::net::TcpStream) -> Value {
    let (b0, payload) = read_frame(s);
    assert_eq!(b0, 0x81, "a report is one text frame");
    serde_json::from_slice(&payload)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&payload)))
}

/// The report `/inspect` must give for `frame` (built by `client_frame`).
fn expected_report(frame: &[u8], payload: &[u8]) -> Value {
    let (header_len, encoding) = match frame[1] & 0x7F {
        126 => (8, "16-bit"),
        127 => (14, "64-bit"),
        _ => (6, "7-bit"),
    };
    let masked = &frame[header_len..];
    let shown = payload.len().min(64);
    let opcode = frame[0] & 0x0F;
    let text = match opcode {
        0 | 1 => json!(String::from_utf8_lossy(&payload[..shown])),
        _ => Value::Null,
    };
    let names = [
        "continuation",
        "text",
        "binary",
        "",
        "",
        "",
        "",
        "",
        "close",
        "ping",
        "pong",
    ];
    json!({
        "type": "frame",
        "fin": frame[0] & 0x80 != 0,
        "rsv1": false, "rsv2": false, "rsv3": false,
        "opcode": opcode,
        "opcode_name": names[opcode as usize],
        "masked": true,
        "mask_key": "12345678",
        "payload_len": payload.len(),
        "compressed": false,
        "length_encoding": encoding,
        "header_hex": hex(&frame[..header_len]),
        "masked_hex": hex(&masked[..shown]),
        "payload_hex": hex(&payload[..shown]),
        "text": text,
        "truncated": payload.len() > 64,
    })
}

#[test]
fn inspect_reports_the_handshake_first() {
    let server = Server::start(&[]);
    let mut s = raw_ws(&server, "/inspect");
    let h = read_json_frame(&mut s);
    assert_eq!(h["type"], "handshake");
    assert_eq!(h["key"], KEY);
    assert_eq!(
        h["key_guid"],
        format!("{KEY}258EAFA5-E914-47DA-95CA-C5AB0DC85B11")
    );
    // RFC 6455 §1.3's worked example.
    assert_eq!(h["sha1_hex"], "b37a4f2cc0624f1690f64606cf385945b2bec4ea");
    assert_eq!(h["accept"], "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    let request = h["request"].as_str().unwrap();
    assert!(
        request.starts_with("GET /inspect HTTP/1.1\r\n"),
        "{request}"
    );
    assert!(
        request.contains(&format!("Sec-WebSocket-Key: {KEY}")),
        "{request}"
    );
}

#[test]
fn inspect_dissects_text_frames_then_echoes() {
    let server = Server::start(&[]);
    let mut s = raw_ws(&server, "/inspect");
    read_json_frame(&mut s);

    // 7-bit length.
    let frame = client_frame(0x81, b"Hello");
    s.write_all(&frame).unwrap();
    let report = read_json_frame(&mut s);
    assert_eq!(report, expected_report(&frame, b"Hello"));
    assert_eq!(report["masked_hex"], "5a513a147d", "Hello ^ 12345678");
    assert_eq!(
        read_frame(&mut s),
        (0x81, b"Hello".to_vec()),
        "then the echo"
    );
}

#[test]
fn inspect_dissects_a_16_bit_length_frame_showing_64_bytes() {
    let server = Server::start(&[]);
    let mut s = raw_ws(&server, "/inspect");
    read_json_frame(&mut s);
    let text: Vec<u8> = (0..300).map(|i| b'a' + (i % 26) as u8).collect();
    let frame = client_frame(0x81, &text);
    assert_eq!(&frame[..4], &[0x81, 0xFE, 0x01, 0x2C]);
    s.write_all(&frame).unwrap();
    let report = read_json_frame(&mut s);
    assert_eq!(report, expected_report(&frame, &text));
    assert_eq!(report["length_encoding"], "16-bit");
    assert_eq!(report["payload_len"], 300);
    assert_eq!(report["truncated"], true);
    assert_eq!(report["text"].as_str().unwrap().len(), 64);
    assert_eq!(read_frame(&mut s), (0x81, text), "then the whole echo");
}

#[test]
fn inspect_reports_fragments_binary_and_a_ping_then_pongs() {
    let server = Server::start(&[]);
    let mut s = raw_ws(&server, "/inspect");
    read_json_frame(&mut s);

    // A fragmented text message: one report per frame, then one echo.
    let first = client_frame(0x01, b"Hel");
    let last = client_frame(0x80, b"lo");
    s.write_all(&first).unwrap();
    assert_eq!(read_json_frame(&mut s), expected_report(&first, b"Hel"));
    s.write_all(&last).unwrap();
    let report = read_json_frame(&mut s);
    assert_eq!(report, expected_report(&last, b"lo"));
    assert_eq!(report["opcode_name"], "continuation");
    assert_eq!(read_frame(&mut s), (0x81, b"Hello".to_vec()));

    // Binary: no text.
    let frame = client_frame(0x82, &[0, 1, 2, 0xFF]);
    s.write_all(&frame).unwrap();
    let report = read_json_frame(&mut s);
    assert_eq!(report, expected_report(&frame, &[0, 1, 2, 0xFF]));
    assert!(report["text"].is_null());
    assert_eq!(read_frame(&mut s), (0x82, vec![0, 1, 2, 0xFF]));

    // A ping: its report, then the pong.
    let frame = client_frame(0x89, b"p1");
    s.write_all(&frame).unwrap();
    let report = read_json_frame(&mut s);
    assert_eq!(report, expected_report(&frame, b"p1"));
    assert_eq!(report["opcode"], 9);
    assert_eq!(report["opcode_name"], "ping");
    assert_eq!(read_frame(&mut s), (0x8A, b"p1".to_vec()));

    // A close: reported (with its reason as text), then answered.
    let mut payload = 1000u16.to_be_bytes().to_vec();
    payload.extend_from_slice(b"done");
    let frame = client_frame(0x88, &payload);
    s.write_all(&frame).unwrap();
    let report = read_json_frame(&mut s);
    assert_eq!(report["opcode_name"], "close");
    assert_eq!(report["text"], "done");
    assert_eq!(expect_close(&mut s), Some(1000));
    expect_eof(&mut s);
}

#[test]
fn operator_console_escapes_control_characters_from_clients() {
    let server = Server::start_with(&["--operator"], std::process::Stdio::piped());
    let mut ws = ws(&server, "/chat");
    ws.send(tungstenite::Message::text("\u{1b}[2Jgotcha\nfake line"))
        .unwrap();
    let line = server.expect_line("gotcha");
    assert!(
        !line.contains('\u{1b}'),
        "raw escape reached the console: {line:?}"
    );
    assert!(line.contains("\\u{1b}[2Jgotcha\\nfake line"), "{line:?}");
}
