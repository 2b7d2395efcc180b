//! The chat subprotocol `wsloop.chat.v1` over real sockets: tungstenite
//! clients that offer it in `Sec-WebSocket-Protocol` (§1.9, §4.2.2), mixed
//! with plain clients in the same rooms.

use crate::common;

use std::collections::BTreeSet;
use std::io::Write;

use common::*;
use serde_json::{Value, json};
use tungstenite::Message;
use tungstenite::client::IntoClientRequest;

const V1: &str = "wsloop.chat.v1";

/// Connects offering `wsloop.chat.v1`; asserts the server selected it.
fn v1(server: &Server, path: &str) -> Ws {
    let mut req = server.url(path).into_client_request().unwrap();
    req.headers_mut()
        .insert("Sec-WebSocket-Protocol", V1.parse().unwrap());
    let (mut ws, resp) = tungstenite::connect(req).expect("connect v1");
    assert_eq!(resp.status(), 101);
    assert_eq!(resp.headers()["Sec-WebSocket-Protocol"], V1);
    if let tungstenite::stream::MaybeTlsStream::Plain(s) = ws.get_mut() {
        s.set_read_timeout(Some(TIMEOUT)).unwrap();
    }
    ws
}

fn send(ws: &mut Ws, v: Value) {
    ws.send(Message::text(v.to_string())).unwrap();
}

/// A v1 client that said hello; returns it and its welcome.
fn named(server: &Server, path: &str, name: &str) -> (Ws, Value) {
    let mut ws = v1(server, path);
    send(&mut ws, json!({"type": "hello", "name": name}));
    let welcome = next_json(&mut ws);
    assert_eq!(welcome["type"], "welcome", "{welcome}");
    assert_eq!(welcome["name"], name, "{welcome}");
    (ws, welcome)
}

fn expect_type(ws: &mut Ws, kind: &str) -> Value {
    let v = next_json(ws);
    assert_eq!(v["type"], kind, "{v}");
    v
}

fn members(v: &Value) -> BTreeSet<String> {
    v["members"]
        .as_array()
        .unwrap_or_else(|| panic!("no members: {v}"))
        .iter()
        .map(|m| m.as_str().unwrap().to_string())
        .collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

fn is_hms(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 8
        && b[2] == b':'
        && b[5] == b':'
        && [0, 1, 3, 4, 6, 7].iter().all(|&i| b[i].is_ascii_digit())
}

fn assert_message(v: &Value, from: &str, text: &str, private: bool) {
    assert_eq!(v["type"], "message", "{v}");
    assert_eq!(v["from"], from, "{v}");
    assert_eq!(v["text"], text, "{v}");
    assert_eq!(v["private"], private, "{v}");
    assert!(v["seq"].as_u64().is_some(), "{v}");
    assert!(v["time"].as_str().is_some_and(is_hms), "{v}");
}

/// A member's `#<id>` as others see it, learned from a `who`.
fn plain_name(ws: &mut Ws, known: &[&str]) -> String {
    send(ws, json!({"type": "who"}));
    let who = expect_type(ws, "who");
    let mut rest: Vec<String> = members(&who)
        .into_iter()
        .filter(|m| !known.contains(&m.as_str()))
        .collect();
    assert_eq!(rest.len(), 1, "{who}");
    let name = rest.pop().unwrap();
    assert!(
        name.starts_with('#') && name[1..].parse::<u64>().is_ok(),
        "{name}"
    );
    name
}

// ---- the handshake ---------------------------------------------------------

#[test]
fn s4_2_2_subprotocol_selected_only_when_offered() {
    let server = Server::start(&[]);
    // Offered: selected (checked inside `v1`).
    let _a = v1(&server, "/chat");
    // Not offered: none in the response.
    let (_b, resp) = tungstenite::connect(server.url("/chat")).unwrap();
    assert!(resp.headers().get("Sec-WebSocket-Protocol").is_none());

    // Offered among others: that one is selected.
    let mut s = tcp(&server);
    let req = upgrade_request("/chat").replace(
        "\r\n\r\n",
        "\r\nSec-WebSocket-Protocol: mqtt, wsloop.chat.v1\r\n\r\n",
    );
    s.write_all(req.as_bytes()).unwrap();
    let head = read_head(&mut s);
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
    assert!(
        head.contains("\r\nSec-WebSocket-Protocol: wsloop.chat.v1\r\n"),
        "{head}"
    );

    // Only unknown ones offered: none selected, and the connection is a
    // plain chat client (its text comes back as is).
    let mut s = tcp(&server);
    let req = upgrade_request("/chat/solo")
        .replace("\r\n\r\n", "\r\nSec-WebSocket-Protocol: mqtt, soap\r\n\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let head = read_head(&mut s);
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
    assert!(
        !head.to_ascii_lowercase().contains("sec-websocket-protocol"),
        "{head}"
    );
    s.write_all(&client_frame(0x81, b"{\"type\":\"who\"}"))
        .unwrap();
    assert_eq!(read_frame(&mut s), (0x81, b"{\"type\":\"who\"}".to_vec()));

    // Routes that speak no subprotocol select none even when v1 is offered.
    let mut s = tcp(&server);
    let req = upgrade_request("/echo").replace(
        "\r\n\r\n",
        "\r\nSec-WebSocket-Protocol: wsloop.chat.v1\r\n\r\n",
    );
    s.write_all(req.as_bytes()).unwrap();
    let head = read_head(&mut s);
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
    assert!(
        !head.to_ascii_lowercase().contains("sec-websocket-protocol"),
        "{head}"
    );
}

// ---- hello, say, whisper, who ---------------------------------------------

#[test]
fn hello_gets_welcome_and_others_get_joined() {
    let server = Server::start(&[]);
    let (mut alice, welcome) = named(&server, "/chat", "alice");
    assert_eq!(welcome["room"], "lobby");
    assert_eq!(members(&welcome), set(&["alice"]));

    let (_bob, welcome) = named(&server, "/", "bob");
    assert_eq!(welcome["room"], "lobby", "/ is the lobby too");
    assert_eq!(members(&welcome), set(&["alice", "bob"]));
    assert_eq!(
        next_json(&mut alice),
        json!({"type": "joined", "name": "bob"})
    );

    let (_carol, welcome) = named(&server, "/chat/rust", "carol");
    assert_eq!(welcome["room"], "rust");
    assert_eq!(members(&welcome), set(&["carol"]));

    // A second hello is refused.
    send(
        &mut alice,
        json!({"type": "hello", "name": "alicia", "id": 5}),
    );
    let e = expect_type(&mut alice, "error");
    assert_eq!(e["id"], 5, "{e}");
}

#[test]
fn say_reaches_everyone_and_the_sender_gets_an_ack() {
    let server = Server::start(&[]);
    let (mut alice, _) = named(&server, "/chat", "alice");
    let (mut bob, _) = named(&server, "/chat", "bob");
    let (mut carol, _) = named(&server, "/chat", "carol");
    expect_type(&mut alice, "joined");
    expect_type(&mut alice, "joined");
    expect_type(&mut bob, "joined");

    send(
        &mut alice,
        json!({"type": "say", "text": "hi all", "id": "c1"}),
    );
    let mine = next_json(&mut alice);
    assert_message(&mine, "alice", "hi all", false);
    let seq = mine["seq"].as_u64().unwrap();
    for ws in [&mut bob, &mut carol] {
        let m = next_json(ws);
        assert_message(&m, "alice", "hi all", false);
        assert_eq!(m["seq"], seq);
    }
    let ack = expect_type(&mut alice, "ack");
    assert_eq!(ack["id"], "c1");
    assert_eq!(ack["seq"], seq);
    assert_eq!(ack["delivered"], 2, "queued to bob and carol: {ack}");

    // Sequence numbers go up.
    send(&mut bob, json!({"type": "say", "text": "second", "id": 7}));
    let m = next_json(&mut carol);
    assert_message(&m, "bob", "second", false);
    assert!(m["seq"].as_u64().unwrap() > seq);
    let ack = next_json(&mut bob);
    let ack = if ack["type"] == "message" {
        next_json(&mut bob)
    } else {
        ack
    };
    assert_eq!(ack["type"], "ack", "{ack}");
    assert_eq!(ack["id"], 7);
    assert_eq!(ack["seq"], m["seq"]);
    assert_eq!(ack["delivered"], 2);
}

#[test]
fn whisper_reaches_only_its_addressee() {
    let server = Server::start(&[]);
    let (mut alice, _) = named(&server, "/chat", "alice");
    let (mut bob, _) = named(&server, "/chat", "bob");
    let (mut carol, _) = named(&server, "/chat", "carol");
    expect_type(&mut alice, "joined");
    expect_type(&mut alice, "joined");
    expect_type(&mut bob, "joined");

    send(
        &mut alice,
        json!({"type": "whisper", "to": "bob", "text": "psst", "id": "w1"}),
    );
    let got = next_json(&mut bob);
    assert_message(&got, "alice", "psst", true);
    assert_eq!(got["to"], "bob");
    let copy = next_json(&mut alice);
    assert_message(&copy, "alice", "psst", true);
    assert_eq!(copy["seq"], got["seq"]);
    let ack = expect_type(&mut alice, "ack");
    assert_eq!(ack["id"], "w1");
    assert_eq!(ack["seq"], got["seq"]);
    assert_eq!(ack["delivered"], 1);

    // Unknown addressee: an error naming the message.
    send(
        &mut alice,
        json!({"type": "whisper", "to": "zed", "text": "?", "id": "w2"}),
    );
    let e = expect_type(&mut alice, "error");
    assert_eq!(e["id"], "w2", "{e}");

    // carol saw none of it: her next message is this.
    send(&mut bob, json!({"type": "say", "text": "public"}));
    assert_message(&next_json(&mut carol), "bob", "public", false);
}

#[test]
fn who_lists_the_room() {
    let server = Server::start(&[]);
    let (mut alice, _) = named(&server, "/chat/x", "alice");
    let (_bob, _) = named(&server, "/chat/x", "bob");
    expect_type(&mut alice, "joined");
    // A v1 client that has not said hello is not listed; a plain one is.
    let _shy = v1(&server, "/chat/x");
    let _plain = ws(&server, "/chat/x");
    let plain = plain_name(&mut alice, &["alice", "bob"]);
    send(&mut alice, json!({"type": "who"}));
    let who = expect_type(&mut alice, "who");
    assert_eq!(who["room"], "x");
    assert_eq!(members(&who), set(&["alice", "bob", &plain]));
}

#[test]
fn duplicate_name_is_refused_with_a_suggestion() {
    let server = Server::start(&[]);
    let (mut alice, _) = named(&server, "/chat", "alice");
    let mut second = v1(&server, "/chat");
    send(
        &mut second,
        json!({"type": "hello", "name": "alice", "id": "h"}),
    );
    let e = expect_type(&mut second, "error");
    assert!(e["reason"].as_str().unwrap().contains("alice-2"), "{e}");
    assert_eq!(e["id"], "h");
    // The suggestion works; alice hears of it only now.
    send(&mut second, json!({"type": "hello", "name": "alice-2"}));
    expect_type(&mut second, "welcome");
    assert_eq!(
        next_json(&mut alice),
        json!({"type": "joined", "name": "alice-2"})
    );
    // And the suggestion skips taken ones.
    let mut third = v1(&server, "/chat");
    send(&mut third, json!({"type": "hello", "name": "alice"}));
    let e = expect_type(&mut third, "error");
    assert!(e["reason"].as_str().unwrap().contains("alice-3"), "{e}");
}

// ---- bad input --------------------------------------------------------------

#[test]
fn bad_messages_get_an_error_and_the_room_goes_on() {
    let server = Server::start(&[]);
    let (mut bob, _) = named(&server, "/chat", "bob");
    let mut alice = v1(&server, "/chat");

    // Before hello.
    send(
        &mut alice,
        json!({"type": "say", "text": "too early", "id": "e0"}),
    );
    let e = expect_type(&mut alice, "error");
    assert_eq!(e["id"], "e0", "{e}");
    // Bad names.
    for name in [
        "a\u{7}b",
        "a\nb",
        "evil\u{202E}txt",
        &"n".repeat(25),
        "",
        "#12",
        " bob",
    ] {
        send(
            &mut alice,
            json!({"type": "hello", "name": name, "id": "n"}),
        );
        let e = expect_type(&mut alice, "error");
        assert_eq!(e["id"], "n", "{name:?}: {e}");
    }
    send(&mut alice, json!({"type": "hello", "name": "x".repeat(24)}));
    expect_type(&mut alice, "welcome");
    send(&mut alice, json!({"type": "hello", "name": "alice"}));
    expect_type(&mut alice, "error");
    assert_eq!(expect_type(&mut bob, "joined")["name"], "x".repeat(24));

    let long = "é".repeat(2049); // 4098 bytes, 2049 characters
    let bad: Vec<(Message, Option<&str>)> = vec![
        (Message::text("{not json"), None),
        (Message::text("[1,2,3]"), None),
        (Message::text("\"hello\""), None),
        (Message::text("42"), None),
        (
            Message::text(json!({"type": "dance", "id": "u1"}).to_string()),
            Some("u1"),
        ),
        (
            Message::text(json!({"text": "no type", "id": "u2"}).to_string()),
            Some("u2"),
        ),
        (
            Message::text(json!({"type": "say", "id": "u3"}).to_string()),
            Some("u3"),
        ),
        (
            Message::text(json!({"type": "say", "text": 5, "id": "u4"}).to_string()),
            Some("u4"),
        ),
        (
            Message::text(json!({"type": "whisper", "text": "to whom?", "id": "u5"}).to_string()),
            Some("u5"),
        ),
        (
            Message::text(json!({"type": "say", "text": long, "id": "u6"}).to_string()),
            Some("u6"),
        ),
        (
            Message::binary(b"{\"type\":\"say\",\"text\":\"bin\"}".to_vec()),
            None,
        ),
    ];
    for (msg, id) in bad {
        let shown = format!("{msg:?}").chars().take(80).collect::<String>();
        alice.send(msg).unwrap();
        let e = expect_type(&mut alice, "error");
        assert!(
            e["reason"].as_str().is_some_and(|r| !r.is_empty()),
            "{shown}: {e}"
        );
        match id {
            Some(id) => assert_eq!(e["id"], id, "{shown}: {e}"),
            None => assert!(e.get("id").is_none(), "{shown}: {e}"),
        }
    }
    // Exactly 4096 bytes is fine.
    let max = "y".repeat(4096);
    send(&mut alice, json!({"type": "say", "text": max, "id": "ok"}));
    assert_message(&next_json(&mut alice), &"x".repeat(24), &max, false);
    assert_eq!(expect_type(&mut alice, "ack")["id"], "ok");
    // bob saw only that message: no error or bad input leaked to him.
    assert_message(&next_json(&mut bob), &"x".repeat(24), &max, false);
    send(&mut bob, json!({"type": "say", "text": "still here"}));
    assert_message(&next_json(&mut alice), "bob", "still here", false);
}

// ---- rooms -------------------------------------------------------------------

#[test]
fn rooms_are_isolated() {
    let server = Server::start(&[]);
    let (mut alice, _) = named(&server, "/chat", "alice");
    let (mut olive, welcome) = named(&server, "/chat/other", "olive");
    assert_eq!(members(&welcome), set(&["olive"]));
    let _plain_lobby = ws(&server, "/chat");
    send(&mut alice, json!({"type": "say", "text": "lobby only"}));
    assert_message(&next_json(&mut alice), "alice", "lobby only", false);
    // Same name in another room is fine.
    let (_alice2, _) = named(&server, "/chat/other", "alice");
    assert_eq!(
        next_json(&mut olive),
        json!({"type": "joined", "name": "alice"})
    );
    send(
        &mut olive,
        json!({"type": "say", "text": "other only", "id": 1}),
    );
    let m = next_json(&mut olive);
    assert_message(&m, "olive", "other only", false);
    assert_eq!(m["seq"], 1, "each room counts its own");
    assert_eq!(expect_type(&mut olive, "ack")["delivered"], 1);
    send(&mut olive, json!({"type": "who"}));
    assert_eq!(
        members(&expect_type(&mut olive, "who")),
        set(&["olive", "alice"])
    );
}

#[test]
fn plain_and_v1_clients_share_a_room() {
    let server = Server::start(&[]);
    let (mut alice, _) = named(&server, "/chat", "alice");
    let mut plain = ws(&server, "/chat");
    let plain_id = plain_name(&mut alice, &["alice"]);

    send(
        &mut alice,
        json!({"type": "say", "text": "hi plain", "id": "a1"}),
    );
    assert_eq!(next_text(&mut plain), "alice: hi plain");
    assert_message(&next_json(&mut alice), "alice", "hi plain", false);
    assert_eq!(expect_type(&mut alice, "ack")["delivered"], 1);

    plain.send(Message::text("hi json")).unwrap();
    assert_eq!(
        next_text(&mut plain),
        "hi json",
        "a plain client hears itself"
    );
    assert_message(&next_json(&mut alice), &plain_id, "hi json", false);

    // A whisper to a plain member arrives as text to it alone.
    send(
        &mut alice,
        json!({"type": "whisper", "to": plain_id, "text": "psst", "id": "w"}),
    );
    let got = next_text(&mut plain);
    assert!(got.contains("alice") && got.contains("psst"), "{got}");
    assert_message(&next_json(&mut alice), "alice", "psst", true);
    assert_eq!(expect_type(&mut alice, "ack")["delivered"], 1);
}

#[test]
fn left_when_a_named_member_disconnects() {
    // A close timeout longer than `TIMEOUT`: `left` must follow the close
    // handshake, not the server giving up on bob.
    let server = Server::start(&["--close-timeout", "60"]);
    let (mut alice, _) = named(&server, "/chat", "alice");
    let (mut bob, _) = named(&server, "/chat", "bob");
    expect_type(&mut alice, "joined");
    bob.close(None).unwrap();
    loop {
        match bob.read() {
            Ok(_) => {}
            Err(tungstenite::Error::ConnectionClosed) => break,
            Err(e) => panic!("bob's close: {e}"),
        }
    }
    drop(bob);
    assert_eq!(
        next_json(&mut alice),
        json!({"type": "left", "name": "bob"})
    );
    // An abrupt end (no close frame) too.
    let (carol, _) = named(&server, "/chat", "carol");
    expect_type(&mut alice, "joined");
    drop(carol);
    assert_eq!(
        next_json(&mut alice),
        json!({"type": "left", "name": "carol"})
    );
    send(&mut alice, json!({"type": "who"}));
    assert_eq!(members(&expect_type(&mut alice, "who")), set(&["alice"]));
}

#[test]
fn a_flood_of_requests_whose_replies_pile_up_gets_1008() {
    // Backlog limit here: max(1 byte, 1 KiB + 64 KiB) = 65 KiB of replies.
    let server = Server::start(&["--max-message", "1024", "--max-backlog", "1"]);
    let (mut s, _) = raw_v1(&server, "/chat");
    s.write_all(&client_frame(0x81, br#"{"type":"hello","name":"flood"}"#))
        .unwrap();
    // 5,000 `who` requests in one write, never reading the answers:
    // about 300 KB of replies, far past the limit.
    let who = client_frame(0x81, br#"{"type":"who"}"#);
    let flood: Vec<u8> = who.iter().copied().cycle().take(who.len() * 5000).collect();
    let _ = s.write_all(&flood);
    assert_eq!(expect_close_then_eof(&mut s), Some(1008));
    assert_still_serving(&server);
}
