use super::*;

fn refused(payload: &str) -> String {
    match parse(payload.as_bytes()) {
        Err(r) => r.reason,
        Ok(req) => panic!("accepted: {req:?}"),
    }
}

#[test]
fn client_events_parse() {
    let hello = parse(br#"{"type":"hello","name":"alice"}"#).unwrap();
    assert_eq!(
        hello.event,
        ClientEvent::Hello {
            name: "alice".into()
        }
    );
    assert_eq!(hello.id, None);
    let say = parse(br#"{"type":"say","text":"hi","id":"c1"}"#).unwrap();
    assert_eq!(say.event, ClientEvent::Say { text: "hi".into() });
    assert_eq!(say.id, Some(json!("c1")));
    let whisper = parse(br#"{"type":"whisper","to":"bob","text":"psst","id":7}"#).unwrap();
    assert_eq!(
        whisper.event,
        ClientEvent::Whisper {
            to: "bob".into(),
            text: "psst".into()
        }
    );
    assert_eq!(whisper.id, Some(json!(7)));
    assert_eq!(parse(br#"{"type":"who"}"#).unwrap().event, ClientEvent::Who);
}

#[test]
fn bad_messages_are_refused_with_a_reason() {
    assert!(refused("[1,2]").contains("JSON object"));
    assert!(refused("{oops").starts_with("malformed JSON"));
    assert_eq!(refused(r#"{"name":"x"}"#), "missing field: type");
    assert_eq!(refused(r#"{"type":"say"}"#), "missing field: text");
    assert_eq!(
        refused(r#"{"type":"whisper","text":"a"}"#),
        "missing field: to"
    );
    assert_eq!(refused(r#"{"type":"dance"}"#), "unknown type: dance");
    let long = format!(r#"{{"type":"say","text":"{}"}}"#, "x".repeat(MAX_TEXT + 1));
    assert_eq!(refused(&long), "text over 4096 bytes");
}

#[test]
fn refusal_keeps_the_clients_id_only_when_it_is_a_string_or_number() {
    let r = parse(br#"{"type":"say","id":"c9"}"#).unwrap_err();
    assert_eq!(r.id, Some(json!("c9")));
    let r = parse(br#"{"type":"say","id":{"x":1}}"#).unwrap_err();
    assert_eq!(r.id, None);
    assert_eq!(
        error(&Refusal::new("no", Some(&json!(3)))),
        r#"{"id":3,"reason":"no","type":"error"}"#
    );
}

#[test]
fn an_oversized_message_is_refused_before_parsing() {
    // A huge array would be a valid JSON document; the size check comes
    // first, so it is never built in memory.
    let huge = format!("[{}0]", "0,".repeat(MAX_EVENT));
    let reason = refused(&huge);
    assert!(reason.contains("at most"), "{reason}");
}

#[test]
fn server_events_encode() {
    let m = Message {
        seq: Some(3),
        from: "alice",
        to: Some("bob"),
        text: "hi",
        time: "12:00:00",
        truncated: false,
    };
    let v: Value = serde_json::from_str(&message(&m)).unwrap();
    assert_eq!(v["type"], "message");
    assert_eq!(v["private"], true);
    assert_eq!(v["to"], "bob");
    assert!(v.get("truncated").is_none());
    let v: Value = serde_json::from_str(&ack(Some(&json!("c1")), Some(3), 2)).unwrap();
    assert_eq!(
        (v["seq"].as_u64(), v["delivered"].as_u64()),
        (Some(3), Some(2))
    );
    assert_eq!(v["id"], "c1");
    assert_eq!(joined("bob"), r#"{"name":"bob","type":"joined"}"#);
    assert_eq!(left("bob"), r#"{"name":"bob","type":"left"}"#);
    let v: Value = serde_json::from_str(&welcome("a", "lobby", &["a".into()])).unwrap();
    assert_eq!(v["members"][0], "a");
    let v: Value = serde_json::from_str(&who("lobby", &[])).unwrap();
    assert_eq!(v["room"], "lobby");
}

#[test]
fn relayed_plain_text_is_capped_at_a_character_boundary() {
    assert_eq!(relayed_text(b"short"), ("short".to_string(), false));
    let exact = "x".repeat(MAX_TEXT);
    assert_eq!(relayed_text(exact.as_bytes()), (exact.clone(), false));
    // 4095 ASCII bytes, then a 3-byte character straddling the limit.
    let straddle = format!("{}€tail", "x".repeat(MAX_TEXT - 1));
    let (text, cut) = relayed_text(straddle.as_bytes());
    assert!(cut);
    assert_eq!(text, "x".repeat(MAX_TEXT - 1));
    // 15 MiB of U+0001 (6× when escaped) becomes a bounded event.
    let control = vec![1u8; 15 << 20];
    let (text, cut) = relayed_text(&control);
    assert!(cut);
    let m = Message {
        seq: Some(1),
        from: "#1",
        to: None,
        text: &text,
        time: "",
        truncated: cut,
    };
    let encoded = message(&m);
    assert!(encoded.len() < 6 * MAX_TEXT + 200, "{}", encoded.len());
    assert!(encoded.contains(r#""truncated":true"#));
}
