//! One room event as it travels between nodes: a JSON object, numbered by
//! Redis (see [`super::scripts::POST`]), published on the room's channel and
//! kept in its log. Pure: bytes in, an [`Event`] out, and back.
//!
//! ```text
//! {"n":41,"seq":17,"k":"say","o":"node-a","on":9,"m":"12@node-a","name":"alice","text":"hi"}
//! ```
//! `n` numbers every event of the room (a gap means something was missed),
//! `seq` numbers its chat messages (the v1 `seq`), `o`/`on` are the origin
//! node and its own running count (a retry that Redis ran twice is
//! recognised and shown once), `m` is the member: `<id>@<node>`.

use base64::Engine;
use serde_json::{Map, Value, json};

/// What happened in the room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A plain member arrived.
    Join,
    /// A v1 member took a name (`joined` for v1 members).
    Hello,
    /// A member left (or its node died: origin "").
    Leave,
    /// A v1 `say`.
    Say,
    /// A plain client's message (text, or binary in `b64`).
    Plain,
    /// A v1 `whisper` to `to` (a member id).
    Whisper,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Join => "join",
            Kind::Hello => "hello",
            Kind::Leave => "leave",
            Kind::Say => "say",
            Kind::Plain => "plain",
            Kind::Whisper => "whisper",
        }
    }

    fn parse(s: &str) -> Option<Kind> {
        Some(match s {
            "join" => Kind::Join,
            "hello" => Kind::Hello,
            "leave" => Kind::Leave,
            "say" => Kind::Say,
            "plain" => Kind::Plain,
            "whisper" => Kind::Whisper,
            _ => return None,
        })
    }

    /// Takes a chat message number (`seq`).
    pub fn is_message(self) -> bool {
        matches!(self, Kind::Say | Kind::Plain | Kind::Whisper)
    }
}

/// A room event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Event {
    /// Set by Redis: the event's number in the room (0 before it is posted).
    pub n: u64,
    /// Set by Redis for chat messages: the room's message number.
    pub seq: u64,
    pub kind: Option<Kind>,
    /// The node that posted it ("" for the reaper).
    pub origin: String,
    /// The origin's own count of what it posted.
    pub on: u64,
    /// The member: `<id>@<node>`.
    pub member: String,
    /// The member's name (v1), if it has one.
    pub name: Option<String>,
    pub text: Option<String>,
    /// A plain binary message.
    pub binary: Option<Vec<u8>>,
    /// Whisper: the target's member id and the name it was addressed by.
    pub to: Option<String>,
    pub to_name: Option<String>,
    pub truncated: bool,
}

impl Event {
    /// The JSON members the POST script wraps with `n` and `seq`.
    pub fn body(&self) -> String {
        let mut map = Map::new();
        let kind = self.kind.map_or("", Kind::as_str);
        map.insert("k".into(), json!(kind));
        map.insert("o".into(), json!(self.origin));
        map.insert("on".into(), json!(self.on));
        map.insert("m".into(), json!(self.member));
        let optional = [
            ("name", &self.name),
            ("text", &self.text),
            ("to", &self.to),
            ("toname", &self.to_name),
        ];
        for (key, value) in optional {
            if let Some(v) = value {
                map.insert(key.into(), json!(v));
            }
        }
        if let Some(bytes) = &self.binary {
            let b64 = base64::engine::general_purpose::STANDARD.encode(bytes);
            map.insert("b64".into(), json!(b64));
        }
        if self.truncated {
            map.insert("truncated".into(), json!(true));
        }
        let whole = Value::Object(map).to_string();
        // "{...}" without its braces.
        whole
            .strip_prefix('{')
            .and_then(|s| s.strip_suffix('}'))
            .unwrap_or("")
            .to_string()
    }

    /// Parses an event as Redis published or logged it. Anything malformed
    /// is `None`: a node skips it (and counts it) rather than trust it.
    pub fn parse(bytes: &[u8]) -> Option<Event> {
        let Value::Object(map) = serde_json::from_slice(bytes).ok()? else {
            return None;
        };
        let text = |key: &str| map.get(key).and_then(Value::as_str).map(str::to_string);
        let binary = match map.get("b64").and_then(Value::as_str) {
            Some(b64) => Some(base64::engine::general_purpose::STANDARD.decode(b64).ok()?),
            None => None,
        };
        Some(Event {
            n: map.get("n")?.as_u64()?,
            seq: map.get("seq").and_then(Value::as_u64).unwrap_or(0),
            kind: Some(Kind::parse(map.get("k")?.as_str()?)?),
            origin: text("o").unwrap_or_default(),
            on: map.get("on").and_then(Value::as_u64).unwrap_or(0),
            member: text("m")?,
            name: text("name").filter(|n| !n.is_empty()),
            text: text("text"),
            binary,
            to: text("to"),
            to_name: text("toname"),
            truncated: map.get("truncated").and_then(Value::as_bool) == Some(true),
        })
    }
}

/// What a member's entry in the room's `members` hash says.
pub fn member_info(v1: bool, name: Option<&str>, fold: Option<&str>) -> String {
    let mut info = json!({ "v1": v1 });
    if let (Some(name), Some(fold)) = (name, fold) {
        info["name"] = json!(name);
        info["fold"] = json!(fold);
    }
    info.to_string()
}

/// `(v1, name)` from a `members` hash entry.
pub fn parse_member_info(bytes: &[u8]) -> Option<(bool, Option<String>)> {
    let Value::Object(map) = serde_json::from_slice(bytes).ok()? else {
        return None;
    };
    let v1 = map.get("v1").and_then(Value::as_bool).unwrap_or(false);
    let name = map.get("name").and_then(Value::as_str).map(str::to_string);
    Some((v1, name))
}

/// The node part of a member id (`12@node-a` → `node-a`).
pub fn node_of(member: &str) -> &str {
    member.split_once('@').map_or("", |(_, node)| node)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wrap(n: u64, seq: u64, e: &Event) -> Vec<u8> {
        format!("{{\"n\":{n},\"seq\":{seq},{}}}", e.body()).into_bytes()
    }

    #[test]
    fn an_event_survives_the_round_trip_through_the_script() {
        let e = Event {
            kind: Some(Kind::Whisper),
            origin: "node-a".into(),
            on: 7,
            member: "12@node-a".into(),
            name: Some("alice \"quoted\" ✓".into()),
            text: Some("hi\n{\"x\":1}".into()),
            to: Some("3@node-b".into()),
            to_name: Some("bob".into()),
            ..Event::default()
        };
        let back = Event::parse(&wrap(41, 17, &e)).unwrap();
        assert_eq!(back.n, 41);
        assert_eq!(back.seq, 17);
        assert_eq!(
            Event {
                n: 0,
                seq: 0,
                ..back
            },
            e
        );
    }

    #[test]
    fn binary_plain_messages_travel_as_base64() {
        let e = Event {
            kind: Some(Kind::Plain),
            member: "1@a".into(),
            binary: Some(vec![0, 255, 1, 2]),
            truncated: true,
            ..Event::default()
        };
        let back = Event::parse(&wrap(1, 1, &e)).unwrap();
        assert_eq!(back.binary.as_deref(), Some(&[0u8, 255, 1, 2][..]));
        assert!(back.truncated);
    }

    #[test]
    fn malformed_events_are_none() {
        for bad in [
            &b"not json"[..],
            b"[1,2]",
            b"{\"seq\":1,\"k\":\"say\",\"m\":\"1@a\"}",
            b"{\"n\":1,\"k\":\"shout\",\"m\":\"1@a\"}",
            b"{\"n\":1,\"k\":\"say\"}",
            b"{\"n\":-1,\"k\":\"say\",\"m\":\"1@a\"}",
            b"{\"n\":1,\"k\":\"plain\",\"m\":\"1@a\",\"b64\":\"***\"}",
        ] {
            assert_eq!(Event::parse(bad), None, "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn member_info_round_trips() {
        let info = member_info(true, Some("Alice"), Some("alice"));
        assert_eq!(
            parse_member_info(info.as_bytes()),
            Some((true, Some("Alice".into())))
        );
        let info = member_info(false, None, None);
        assert_eq!(parse_member_info(info.as_bytes()), Some((false, None)));
        assert_eq!(node_of("12@node-a"), "node-a");
        assert_eq!(node_of("bad"), "");
    }
}
