//! Chat rooms: `/`, `/chat` (the room `lobby`) and `/chat/<room>`.
//!
//! Two kinds of client share a room. A *plain* client (no subprotocol, the
//! tutorials' kind) sends text and gets every member's text back, itself
//! included. A client that offered the subprotocol `wsloop.chat.v1` (§1.9,
//! §4.2.2) speaks JSON: names, private messages and receipts.
//!
//! Broadcasts are gathered per room during a poll round into one buffer per
//! kind of client; at the end of the round the server shares each buffer
//! (one allocation) among the members' queues.

use std::collections::HashMap;
use std::rc::Rc;

use log::{debug, info};
use serde_json::{Value, json};
use slab::Slab;

use super::Ctx;
use crate::connection::Connection;
use crate::frame::{self, Opcode};

pub const LOBBY: &str = "lobby";
/// The subprotocol name a JSON client offers in `Sec-WebSocket-Protocol`.
pub const PROTOCOL_V1: &str = "wsloop.chat.v1";
/// The longest `text` accepted in a v1 message, in bytes.
pub const MAX_TEXT: usize = 4096;
/// A room keeps at most this much of its round buffers between rounds.
const ROUND_BUFFER_KEPT: usize = 64 * 1024;
/// The longest name, in characters.
pub const MAX_NAME: usize = 24;

#[derive(Debug)]
pub struct Member {
    pub key: usize,
    pub id: u64,
    /// Speaks `wsloop.chat.v1`.
    pub v1: bool,
    /// Set by a v1 `hello`.
    pub name: Option<String>,
}

impl Member {
    /// The name others see: the chosen one, or `#<id>`.
    pub fn display(&self) -> String {
        match &self.name {
            Some(name) => name.clone(),
            None => format!("#{}", self.id),
        }
    }
}

#[derive(Debug, Default)]
pub struct Room {
    pub name: String,
    pub members: Vec<Member>,
    /// Frames for plain members, gathered this round.
    plain_out: Vec<u8>,
    /// Frames for v1 members, gathered this round.
    v1_out: Vec<u8>,
    /// The room's message sequence number (v1 `seq`).
    seq: u64,
    /// Members speaking `wsloop.chat.v1` (plain text needs no JSON copy
    /// when there are none).
    v1_count: usize,
}

impl Room {
    fn member(&self, key: usize) -> Option<&Member> {
        self.members.iter().find(|m| m.key == key)
    }

    /// Names of everyone present who can be addressed: named v1 members and
    /// plain members as `#<id>`.
    fn member_names(&self) -> Vec<String> {
        self.members
            .iter()
            .filter(|m| !m.v1 || m.name.is_some())
            .map(Member::display)
            .collect()
    }

    /// A named member, or a plain one by `#<id>` (no allocation per member:
    /// this runs for every hello and whisper).
    fn find_by_name(&self, name: &str) -> Option<&Member> {
        let plain_id = name.strip_prefix('#').and_then(|n| n.parse::<u64>().ok());
        self.members.iter().find(|m| match (&m.name, plain_id) {
            (Some(n), _) => n == name,
            (None, Some(id)) => !m.v1 && m.id == id,
            (None, None) => false,
        })
    }
}

/// A round buffer as one shared allocation (None when empty), emptied for
/// the next round.
fn share_round(buf: &mut Vec<u8>) -> Option<Rc<[u8]>> {
    if buf.is_empty() {
        return None;
    }
    let shared = Rc::from(&buf[..]);
    buf.clear();
    // A burst should not keep its memory for the room's life.
    if buf.capacity() > ROUND_BUFFER_KEPT {
        *buf = Vec::new();
    }
    Some(shared)
}

#[derive(Debug, Default)]
pub struct Rooms {
    by_name: HashMap<String, usize>,
    rooms: Slab<Room>,
    /// Rooms with something gathered this round.
    dirty: Vec<usize>,
}

impl Rooms {
    pub fn join(&mut self, name: &str, key: usize, id: u64, v1: bool) -> usize {
        let index = match self.by_name.get(name) {
            Some(&index) => index,
            None => {
                let index = self.rooms.insert(Room {
                    name: name.to_string(),
                    ..Room::default()
                });
                self.by_name.insert(name.to_string(), index);
                index
            }
        };
        if let Some(room) = self.rooms.get_mut(index) {
            room.v1_count += usize::from(v1);
            room.members.push(Member {
                key,
                id,
                v1,
                name: None,
            });
        }
        index
    }

    pub fn leave(&mut self, index: usize, key: usize) {
        let Some(room) = self.rooms.get_mut(index) else {
            return;
        };
        let Some(pos) = room.members.iter().position(|m| m.key == key) else {
            return;
        };
        let gone = room.members.swap_remove(pos);
        room.v1_count -= usize::from(gone.v1);
        if room.members.is_empty() {
            self.by_name.remove(&room.name);
            self.rooms.remove(index);
            return;
        }
        if let Some(name) = gone.name {
            self.queue_v1(index, &json!({"type": "left", "name": name}));
        }
    }

    /// Is a broadcast gathered and not yet delivered?
    pub fn has_pending(&self) -> bool {
        !self.dirty.is_empty()
    }

    pub fn get(&self, index: usize) -> Option<&Room> {
        self.rooms.get(index)
    }

    pub fn len(&self) -> usize {
        self.rooms.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rooms.is_empty()
    }

    fn mark_dirty(&mut self, index: usize) {
        let Some(room) = self.rooms.get(index) else {
            return;
        };
        if room.plain_out.is_empty() && room.v1_out.is_empty() {
            self.dirty.push(index);
        }
    }

    /// Gathers a frame for every plain member.
    fn queue_plain(&mut self, index: usize, opcode: Opcode, payload: &[u8]) {
        self.mark_dirty(index);
        if let Some(room) = self.rooms.get_mut(index) {
            frame::encode_frame(&mut room.plain_out, opcode, payload);
        }
    }

    /// Gathers a JSON event for every v1 member.
    fn queue_v1(&mut self, index: usize, event: &Value) {
        self.mark_dirty(index);
        if let Some(room) = self.rooms.get_mut(index) {
            frame::encode_frame(&mut room.v1_out, Opcode::Text, event.to_string().as_bytes());
        }
    }

    /// Hands this round's broadcasts out: each room's gathered frames
    /// become one shared buffer per kind of client, passed to `push` once
    /// per member (no copy of the bytes, nor of the member list).
    pub fn deliver_round(&mut self, mut push: impl FnMut(usize, u64, &Rc<[u8]>)) {
        for index in self.dirty.drain(..) {
            let Some(room) = self.rooms.get_mut(index) else {
                continue;
            };
            let plain = share_round(&mut room.plain_out);
            let v1 = share_round(&mut room.v1_out);
            for m in &room.members {
                if let Some(bytes) = if m.v1 { &v1 } else { &plain } {
                    push(m.key, m.id, bytes);
                }
            }
        }
    }
}

/// A message from a member of room `index`.
#[allow(clippy::too_many_arguments)]
pub fn on_message(
    conn: &mut Connection,
    key: usize,
    index: usize,
    v1: bool,
    opcode: Opcode,
    payload: &[u8],
    ctx: &mut Ctx,
) {
    if v1 {
        return on_v1_message(conn, key, index, opcode, payload, ctx);
    }
    let Some(room) = ctx.rooms.get(index) else {
        return;
    };
    if ctx.config.operator {
        let label = room_label(&room.name, None, &conn.peer.to_string());
        return super::operator_input(conn, label, payload, ctx);
    }
    let receivers = room.members.len();
    let has_v1 = room.v1_count > 0;
    ctx.rooms.queue_plain(index, opcode, payload);
    if has_v1 && opcode == Opcode::Text {
        let from = format!("#{}", conn.id);
        let text = String::from_utf8_lossy(payload);
        let seq = next_seq(ctx, index);
        let event = json!({"type": "message", "seq": seq, "from": from, "text": text,
                           "time": ctx.clock.hms(), "private": false});
        ctx.rooms.queue_v1(index, &event);
    }
    // Per message: debug, not info; the default level must not cost a
    // line per chat message.
    debug!(
        "#{} sent {} bytes to {} clients",
        conn.id,
        payload.len(),
        receivers
    );
}

/// How the operator console names a plain member: its address, and the
/// room when it is not the lobby.
fn room_label(room: &str, name: Option<&str>, peer: &str) -> String {
    match (name, room) {
        (Some(name), _) => format!("{name}@{room}"),
        (None, LOBBY) => peer.to_string(),
        (None, _) => format!("{peer}@{room}"),
    }
}

fn next_seq(ctx: &mut Ctx, index: usize) -> u64 {
    match ctx.rooms.rooms.get_mut(index) {
        Some(room) => {
            room.seq += 1;
            room.seq
        }
        None => 0,
    }
}

/// The receipt for a `say` or `whisper`; `id` only when the client gave one.
fn ack_event(id: Option<&Value>, seq: u64, delivered: usize) -> Value {
    let mut ack = json!({"type": "ack", "seq": seq, "delivered": delivered});
    if let Some(id) = id {
        ack["id"] = id.clone();
    }
    ack
}

/// Sends a JSON event to this connection only.
fn reply(conn: &mut Connection, event: &Value) {
    conn.send(Opcode::Text, event.to_string().as_bytes());
}

fn error(conn: &mut Connection, reason: &str, id: Option<&Value>) {
    let mut event = json!({"type": "error", "reason": reason});
    if let Some(id) = id {
        event["id"] = id.clone();
    }
    reply(conn, &event);
}

/// A text frame, encoded once, to share among the queues it goes to.
fn shared_text(text: &[u8]) -> Rc<[u8]> {
    let mut buf = Vec::with_capacity(text.len() + 10);
    frame::encode_frame(&mut buf, Opcode::Text, text);
    Rc::from(buf)
}

/// Queues a JSON event for another connection, after this round's
/// broadcasts (so an `ack` follows the message it acknowledges).
fn direct(ctx: &mut Ctx, key: usize, id: u64, event: &Value) {
    ctx.direct
        .push((key, id, shared_text(event.to_string().as_bytes())));
}

/// A `wsloop.chat.v1` message: one JSON object per text message.
fn on_v1_message(
    conn: &mut Connection,
    key: usize,
    index: usize,
    opcode: Opcode,
    payload: &[u8],
    ctx: &mut Ctx,
) {
    if opcode != Opcode::Text {
        return error(conn, "wsloop.chat.v1 messages are JSON text", None);
    }
    let msg: Value = match serde_json::from_slice(payload) {
        Ok(Value::Object(map)) => Value::Object(map),
        Ok(_) => return error(conn, "a message must be a JSON object", None),
        Err(e) => return error(conn, &format!("malformed JSON: {e}"), None),
    };
    let id = msg.get("id").filter(|v| v.is_string() || v.is_number());
    let Some(kind) = msg.get("type").and_then(Value::as_str) else {
        return error(conn, "missing field: type", id);
    };
    let Some(room) = ctx.rooms.get(index) else {
        return;
    };
    let Some(me) = room.member(key) else {
        return;
    };
    let my_name = me.name.clone();
    if kind != "hello" && my_name.is_none() {
        return error(
            conn,
            "say hello first: {\"type\":\"hello\",\"name\":\"…\"}",
            id,
        );
    }
    match kind {
        "hello" => hello(conn, key, index, &msg, id, ctx),
        "say" | "whisper" => {
            let Some(text) = msg.get("text").and_then(Value::as_str) else {
                return error(conn, "missing field: text", id);
            };
            if text.len() > MAX_TEXT {
                return error(conn, &format!("text over {MAX_TEXT} bytes"), id);
            }
            let from = my_name.unwrap_or_default();
            if ctx.config.operator {
                let label = format!("{}@{}", from, room.name);
                return super::operator_input(conn, label, text.as_bytes(), ctx);
            }
            if kind == "say" {
                say(conn, key, index, &from, text, id, ctx);
            } else {
                let Some(to) = msg.get("to").and_then(Value::as_str) else {
                    return error(conn, "missing field: to", id);
                };
                whisper(conn, key, index, &from, to, text, id, ctx);
            }
        }
        "who" => {
            let event = json!({"type": "who", "room": room.name, "members": room.member_names()});
            reply(conn, &event);
        }
        other => error(conn, &format!("unknown type: {other}"), id),
    }
}

fn hello(
    conn: &mut Connection,
    key: usize,
    index: usize,
    msg: &Value,
    id: Option<&Value>,
    ctx: &mut Ctx,
) {
    let Some(name) = msg.get("name").and_then(Value::as_str) else {
        return error(conn, "missing field: name", id);
    };
    let Some(room) = ctx.rooms.rooms.get_mut(index) else {
        return;
    };
    if room.member(key).is_some_and(|m| m.name.is_some()) {
        return error(conn, "you already said hello", id);
    }
    if let Err(why) = check_name(name) {
        return error(conn, why, id);
    }
    if room.find_by_name(name).is_some() {
        // Some suffix up to members + 2 is always free.
        let free = (2..=room.members.len() + 2)
            .map(|n| format!("{name}-{n}"))
            .find(|c| room.find_by_name(c).is_none())
            .unwrap_or_default();
        return error(conn, &format!("the name {name} is taken; try {free}"), id);
    }
    if let Some(me) = room.members.iter_mut().find(|m| m.key == key) {
        me.name = Some(name.to_string());
    }
    let welcome = json!({"type": "welcome", "name": name, "room": room.name,
                         "members": room.member_names()});
    let joined = shared_text(
        json!({"type": "joined", "name": name})
            .to_string()
            .as_bytes(),
    );
    let others = room
        .members
        .iter()
        .filter(|m| m.v1 && m.key != key && m.name.is_some());
    for m in others {
        ctx.direct.push((m.key, m.id, joined.clone()));
    }
    info!("#{} is {} in {}", conn.id, name, room.name);
    reply(conn, &welcome);
}

/// A name is 1–24 printable characters: no control characters, no bidi
/// overrides (which could make a name read as someone else's), no leading
/// `#` (that is how plain clients are named).
pub fn check_name(name: &str) -> Result<(), &'static str> {
    let count = name.chars().count();
    if count == 0 || count > MAX_NAME {
        return Err("a name is 1 to 24 characters");
    }
    if name.trim() != name {
        return Err("a name may not start or end with a space");
    }
    if name.starts_with('#') {
        return Err("names starting with # are reserved");
    }
    let bidi = |c: char| matches!(c, '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}');
    if name.chars().any(|c| c.is_control() || bidi(c)) {
        return Err("a name may not contain control or bidi characters");
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn say(
    conn: &mut Connection,
    key: usize,
    index: usize,
    from: &str,
    text: &str,
    id: Option<&Value>,
    ctx: &mut Ctx,
) {
    let Some(room) = ctx.rooms.get(index) else {
        return;
    };
    let delivered = room.members.len().saturating_sub(1);
    let seq = next_seq(ctx, index);
    let event = json!({"type": "message", "seq": seq, "from": from, "text": text,
                       "time": ctx.clock.hms(), "private": false});
    ctx.rooms.queue_v1(index, &event);
    if ctx
        .rooms
        .get(index)
        .is_some_and(|r| r.members.iter().any(|m| !m.v1))
    {
        ctx.rooms
            .queue_plain(index, Opcode::Text, format!("{from}: {text}").as_bytes());
    }
    direct(ctx, key, conn.id, &ack_event(id, seq, delivered));
    debug!(
        "#{} ({}) sent {} bytes to {} clients",
        conn.id,
        from,
        text.len(),
        delivered + 1
    );
}

#[allow(clippy::too_many_arguments)]
fn whisper(
    conn: &mut Connection,
    key: usize,
    index: usize,
    from: &str,
    to: &str,
    text: &str,
    id: Option<&Value>,
    ctx: &mut Ctx,
) {
    let Some(room) = ctx.rooms.get(index) else {
        return;
    };
    let Some(target) = room.find_by_name(to) else {
        return error(conn, &format!("no member named {to} in {}", room.name), id);
    };
    let (tkey, tid, tv1) = (target.key, target.id, target.v1);
    let seq = next_seq(ctx, index);
    let event = json!({"type": "message", "seq": seq, "from": from, "to": to, "text": text,
                       "time": ctx.clock.hms(), "private": true});
    if tv1 {
        direct(ctx, tkey, tid, &event);
    } else {
        let plain = shared_text(format!("{from} (private): {text}").as_bytes());
        ctx.direct.push((tkey, tid, plain));
    }
    if tkey != key {
        direct(ctx, key, conn.id, &event);
    }
    direct(ctx, key, conn.id, &ack_event(id, seq, 1));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        assert!(check_name("alice").is_ok());
        assert!(check_name("王小明").is_ok());
        assert!(check_name("").is_err());
        assert!(check_name(&"x".repeat(25)).is_err());
        assert!(check_name("a\u{202E}b").is_err());
        assert!(check_name("a\nb").is_err());
        assert!(check_name("#3").is_err());
        assert!(check_name(" bob").is_err());
    }

    #[test]
    fn rooms_gather_one_shared_buffer_per_round() {
        let mut rooms = Rooms::default();
        let lobby = rooms.join("lobby", 1, 11, false);
        assert_eq!(rooms.join("lobby", 2, 12, false), lobby);
        let other = rooms.join("other", 3, 13, false);
        assert_ne!(lobby, other);
        rooms.queue_plain(lobby, Opcode::Text, b"one");
        rooms.queue_plain(lobby, Opcode::Text, b"two");
        let mut got = Vec::new();
        rooms.deliver_round(|key, _, bytes| got.push((key, bytes.clone())));
        assert_eq!(got.len(), 2, "one delivery per lobby member");
        assert_eq!(&got[0].1[..], b"\x81\x03one\x81\x03two");
        assert!(Rc::ptr_eq(&got[0].1, &got[1].1), "one shared buffer");
        let mut again = 0;
        rooms.deliver_round(|_, _, _| again += 1);
        assert_eq!(again, 0);
        rooms.leave(other, 3);
        assert!(rooms.get(other).is_none());
    }
}
