//! The `wsloop.chat.v1` subprotocol as data: client events parsed from
//! bytes, server events encoded to JSON text. Pure — no room, no socket —
//! so every rule here is a unit test.
//!
//! One JSON object per text message. The client sends `hello`, `say`,
//! `whisper` and `who`; the server sends `welcome`, `joined`, `left`,
//! `message`, `ack`, `who` and `error` (the README has the table).

use serde_json::{Map, Value, json};

/// The longest `text` accepted in a v1 message, in bytes; also the most a
/// plain client's message carries into a v1 `message` (longer ones are cut
/// at a character boundary and flagged `"truncated":true`).
pub const MAX_TEXT: usize = 4096;
/// A v1 message longer than this is refused before any JSON parsing:
/// 4 KiB of text fully escaped (`\u0001` is 6 bytes per byte) would not
/// fit, but every honest message does, and a 16 MiB array never reaches
/// the parser.
pub const MAX_EVENT: usize = 32 * 1024;

/// What a v1 client asked for.
#[derive(Debug, PartialEq, Eq)]
pub enum ClientEvent {
    Hello { name: String },
    Say { text: String },
    Whisper { to: String, text: String },
    Who,
}

/// A client message with its optional `id` (a string or a number, echoed
/// back in the `ack` or `error` it causes).
#[derive(Debug, PartialEq)]
pub struct Request {
    pub event: ClientEvent,
    pub id: Option<Value>,
}

/// Why a client message was refused: the `reason` of the `error` event.
#[derive(Debug, PartialEq)]
pub struct Refusal {
    pub reason: String,
    pub id: Option<Value>,
}

impl Refusal {
    pub fn new(reason: impl Into<String>, id: Option<&Value>) -> Refusal {
        Refusal {
            reason: reason.into(),
            id: id.cloned(),
        }
    }
}

/// Parses one text message. `payload` is valid UTF-8 (§8.1, checked by the
/// frame reader) but anything else may be wrong with it.
pub fn parse(payload: &[u8]) -> Result<Request, Refusal> {
    if payload.len() > MAX_EVENT {
        return Err(Refusal::new(
            format!("a wsloop.chat.v1 message is at most {MAX_EVENT} bytes"),
            None,
        ));
    }
    let map = match serde_json::from_slice(payload) {
        Ok(Value::Object(map)) => map,
        Ok(_) => return Err(Refusal::new("a message must be a JSON object", None)),
        Err(e) => return Err(Refusal::new(format!("malformed JSON: {e}"), None)),
    };
    let id = map.get("id").filter(|v| v.is_string() || v.is_number());
    let Some(kind) = map.get("type").and_then(Value::as_str) else {
        return Err(Refusal::new("missing field: type", id));
    };
    let event = match kind {
        "hello" => ClientEvent::Hello {
            name: field(&map, "name", id)?,
        },
        "say" => ClientEvent::Say {
            text: text_field(&map, id)?,
        },
        "whisper" => {
            let text = text_field(&map, id)?;
            ClientEvent::Whisper {
                to: field(&map, "to", id)?,
                text,
            }
        }
        "who" => ClientEvent::Who,
        other => return Err(Refusal::new(format!("unknown type: {other}"), id)),
    };
    Ok(Request {
        event,
        id: id.cloned(),
    })
}

fn field(map: &Map<String, Value>, name: &str, id: Option<&Value>) -> Result<String, Refusal> {
    match map.get(name).and_then(Value::as_str) {
        Some(value) => Ok(value.to_string()),
        None => Err(Refusal::new(format!("missing field: {name}"), id)),
    }
}

fn text_field(map: &Map<String, Value>, id: Option<&Value>) -> Result<String, Refusal> {
    let text = field(map, "text", id)?;
    if text.len() > MAX_TEXT {
        return Err(Refusal::new(format!("text over {MAX_TEXT} bytes"), id));
    }
    Ok(text)
}

/// A chat line as v1 members see it.
pub struct Message<'a> {
    /// The room's message number; `None` while a cluster node cannot
    /// reach Redis (the message is shown here at once, `"delayed":true`,
    /// and numbered for nobody: see the README on outages).
    pub seq: Option<u64>,
    pub from: &'a str,
    /// Set for a whisper.
    pub to: Option<&'a str>,
    pub text: &'a str,
    pub time: &'a str,
    /// A plain client's message was longer than [`MAX_TEXT`] and was cut.
    pub truncated: bool,
}

pub fn message(m: &Message) -> String {
    let mut event = json!({"type": "message", "seq": m.seq, "from": m.from, "text": m.text,
                           "time": m.time, "private": m.to.is_some()});
    if let Some(to) = m.to {
        event["to"] = json!(to);
    }
    if m.truncated {
        event["truncated"] = json!(true);
    }
    if m.seq.is_none() {
        event["delayed"] = json!(true);
    }
    event.to_string()
}

/// A plain client's text relayed into a v1 `message`: at most [`MAX_TEXT`]
/// bytes, cut at a character boundary. Returns the text and whether it was
/// cut.
pub fn relayed_text(payload: &[u8]) -> (String, bool) {
    let cut = payload.len() > MAX_TEXT;
    let mut end = payload.len().min(MAX_TEXT);
    // A UTF-8 continuation byte is 0b10xx_xxxx: step back to a start.
    while end > 0 && end < payload.len() && payload.get(end).is_some_and(|b| b & 0xC0 == 0x80) {
        end -= 1;
    }
    let text = String::from_utf8_lossy(payload.get(..end).unwrap_or_default()).into_owned();
    (text, cut)
}

/// The receipt for a `say` or `whisper`; `id` only when the client gave one.
/// `seq` is `None` for a message shown while a cluster node cannot reach
/// Redis (`"delayed":true`; `delivered` counts this node's members).
pub fn ack(id: Option<&Value>, seq: Option<u64>, delivered: usize) -> String {
    let mut ack = json!({"type": "ack", "seq": seq, "delivered": delivered});
    if seq.is_none() {
        ack["delayed"] = json!(true);
    }
    if let Some(id) = id {
        ack["id"] = id.clone();
    }
    ack.to_string()
}

pub fn error(refusal: &Refusal) -> String {
    let mut event = json!({"type": "error", "reason": refusal.reason});
    if let Some(id) = &refusal.id {
        event["id"] = id.clone();
    }
    event.to_string()
}

pub fn welcome(name: &str, room: &str, members: &[String]) -> String {
    json!({"type": "welcome", "name": name, "room": room, "members": members}).to_string()
}

pub fn joined(name: &str) -> String {
    json!({"type": "joined", "name": name}).to_string()
}

pub fn left(name: &str) -> String {
    json!({"type": "left", "name": name}).to_string()
}

pub fn who(room: &str, members: &[String]) -> String {
    json!({"type": "who", "room": room, "members": members}).to_string()
}

#[cfg(test)]
#[path = "v1_tests.rs"]
mod tests;
