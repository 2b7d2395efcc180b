//! Chat rooms: `/`, `/chat` (the room `lobby`) and `/chat/<room>`.
//!
//! Two kinds of client share a room. A *plain* client (no subprotocol, the
//! tutorials' kind) sends text and gets every member's text back, itself
//! included ([`plain`]). A client that offered the subprotocol
//! `wsloop.chat.v1` (§1.9, §4.2.2) speaks JSON: names, private messages and
//! receipts ([`v1`] is the protocol as data; this file acts on it).
//! [`rooms`] holds the members and the broadcast rounds; [`handoff`] sends
//! messages to the operator console instead.

pub mod cluster;
pub mod handoff;
pub mod plain;
pub mod remote;
pub mod rooms;
pub mod v1;

use log::{debug, info};
use serde_json::Value;

use super::Ctx;
use crate::app::Handle;
use crate::cluster::envelope::{Event, Kind};
use crate::error::close_code;
use crate::frame::Opcode;
use cluster::routes::{self as cluster_routes, Outcome};
use rooms::shared_text;
pub use rooms::{Member, Room, Rooms};
use v1::{ClientEvent, Refusal};

pub const LOBBY: &str = "lobby";
/// The subprotocol name a JSON client offers in `Sec-WebSocket-Protocol`.
pub const PROTOCOL_V1: &str = "wsloop.chat.v1";
/// The longest name, in characters.
pub const MAX_NAME: usize = crate::names::MAX_NAME_CHARS;
/// Free names suggested for a taken one are looked for this many times.
const SUGGESTION_TRIES: u64 = 8;
/// A connection whose `hello` was refused this many times is closed (1008):
/// each refusal costs a lookup, and a client looping on taken names should
/// not cost the room forever.
const MAX_REFUSALS: u8 = 16;

/// A message from a member of room `index`.
pub fn on_message(
    conn: &mut Handle,
    index: usize,
    v1: bool,
    opcode: Opcode,
    payload: &[u8],
    ctx: &mut Ctx,
) {
    if v1 {
        on_v1_message(conn, index, opcode, payload, ctx)
    } else {
        plain::on_message(conn, index, opcode, payload, ctx)
    }
}

/// Sends a JSON event to this member, in order with the room's broadcasts.
/// Replies are bounded while they are made: one read of small requests (64
/// KiB of `who`, say) must not queue an unbounded answer.
fn reply(conn: &mut Handle, index: usize, event: &str, ctx: &mut Ctx) {
    let bytes = shared_text(event.as_bytes());
    let this_round = ctx.rooms.queue_direct(index, conn.key(), conn.id(), bytes);
    if this_round + conn.queued() > ctx.config.backlog_limit() {
        conn.close(
            close_code::POLICY_VIOLATION,
            "output backlog over the limit",
        );
    }
}

fn refuse(conn: &mut Handle, index: usize, refusal: &Refusal, ctx: &mut Ctx) {
    reply(conn, index, &v1::error(refusal), ctx);
}

/// A `wsloop.chat.v1` message: one JSON object per text message.
fn on_v1_message(conn: &mut Handle, index: usize, opcode: Opcode, payload: &[u8], ctx: &mut Ctx) {
    if opcode != Opcode::Text {
        let r = Refusal::new("wsloop.chat.v1 messages are JSON text", None);
        return refuse(conn, index, &r, ctx);
    }
    let request = match v1::parse(payload) {
        Ok(request) => request,
        Err(r) => return refuse(conn, index, &r, ctx),
    };
    let id = request.id.as_ref();
    let Some(room) = ctx.rooms.get(index) else {
        return;
    };
    let my_name = room.member(conn.key()).and_then(|m| m.name.clone());
    let name = match (&request.event, my_name) {
        (ClientEvent::Hello { name }, None) => return hello(conn, index, name, id, ctx),
        (ClientEvent::Hello { .. }, Some(_)) => {
            return refuse(
                conn,
                index,
                &Refusal::new("you already said hello", id),
                ctx,
            );
        }
        (_, None) => {
            let r = Refusal::new("say hello first: {\"type\":\"hello\",\"name\":\"…\"}", id);
            return refuse(conn, index, &r, ctx);
        }
        (_, Some(name)) => name,
    };
    match &request.event {
        ClientEvent::Say { text } | ClientEvent::Whisper { text, .. } if ctx.config.operator => {
            let label = handoff::label(&room.name, Some(&name), "");
            handoff::to_operator(conn, &label, text.as_bytes(), ctx);
        }
        ClientEvent::Say { text } => say(conn, index, &name, text, id, ctx),
        ClientEvent::Whisper { to, text } => whisper(conn, index, &name, to, text, id, ctx),
        ClientEvent::Who => {
            let event = v1::who(&room.name, &room.member_names());
            reply(conn, index, &event, ctx);
        }
        ClientEvent::Hello { .. } => {}
    }
}

fn hello(conn: &mut Handle, index: usize, name: &str, id: Option<&Value>, ctx: &mut Ctx) {
    let Some(room) = ctx.rooms.get_mut(index) else {
        return;
    };
    if room.member(conn.key()).is_some_and(|m| m.hello_pending) {
        let r = Refusal::new("your hello is on its way; wait for its answer", id);
        return refuse(conn, index, &r, ctx);
    }
    let free_here = check_name(name).is_ok() && !room.name_taken(name);
    if free_here
        && let Some(cl) = ctx.cluster.as_deref_mut()
        && cluster_routes::hello(cl, ctx.rooms, index, conn.key(), name)
    {
        return; // Redis decides; the welcome or the refusal comes back
    }
    let Some(room) = ctx.rooms.get_mut(index) else {
        return;
    };
    let refused = match check_name(name) {
        Err(why) => Some(why.to_string()),
        Ok(()) if room.claim_name(conn.key(), name) => None,
        Ok(()) => Some(match suggest(room, name, ctx.rng) {
            Some(free) => format!("the name {name} is taken; try {free}"),
            None => format!("the name {name} is taken"),
        }),
    };
    if let Some(reason) = refused {
        let too_many = room.member_mut(conn.key()).is_some_and(|me| {
            me.refusals = me.refusals.saturating_add(1);
            me.refusals >= MAX_REFUSALS
        });
        refuse(conn, index, &Refusal::new(reason, id), ctx);
        if too_many {
            conn.close(close_code::POLICY_VIOLATION, "too many refused names");
        }
        return;
    }
    let welcome = v1::welcome(name, &room.name, &room.member_names());
    let joined = shared_text(v1::joined(name).as_bytes());
    let others: Vec<(usize, u64)> = room
        .members
        .iter()
        .filter(|m| m.v1 && m.key != conn.key() && m.name.is_some())
        .map(|m| (m.key, m.id))
        .collect();
    info!("#{} is {} in {}", conn.id(), name, room.name);
    for (key, mid) in others {
        ctx.rooms.queue_direct(index, key, mid, joined.clone());
    }
    reply(conn, index, &welcome, ctx);
}

/// A free variant of a taken name, found in a bounded number of lookups:
/// `name-2` … `name-9`, then random numbers.
fn suggest(room: &Room, name: &str, rng: &mut super::Rng) -> Option<String> {
    let base: String = name.chars().take(MAX_NAME - 5).collect();
    (2..2 + SUGGESTION_TRIES)
        .map(|n| format!("{base}-{n}"))
        .chain((0..SUGGESTION_TRIES).map(|_| format!("{base}-{}", rng.between(10, 9999))))
        .find(|candidate| !room.name_taken(candidate))
}

/// A name is 1–24 visible characters, unique in the room (see
/// [`crate::names`]: no control, format, bidi or default-ignorable
/// characters, no leading `#`, which is how plain clients are named).
pub fn check_name(name: &str) -> Result<(), &'static str> {
    crate::names::check(name).map_err(crate::names::NameError::reason)
}

/// The number of a message delivered here and now: the room's own, or
/// none in a cluster (where Redis numbers messages, and one shown before
/// Redis saw it has no number yet).
fn local_seq(room: &mut Room, clustered: bool) -> Option<u64> {
    if clustered {
        None
    } else {
        Some(room.next_seq())
    }
}

fn say(conn: &mut Handle, index: usize, from: &str, text: &str, id: Option<&Value>, ctx: &mut Ctx) {
    let Some(room) = ctx.rooms.get_mut(index) else {
        return;
    };
    let mut kept_here = false;
    if let Some(cl) = ctx.cluster.as_deref_mut() {
        let event = Event {
            kind: Some(Kind::Say),
            name: Some(from.to_string()),
            text: Some(text.to_string()),
            ..Event::default()
        };
        let name = room.name.clone();
        match cluster_routes::message(cl, &name, conn.key(), conn.id(), event, None, id, true) {
            Outcome::Posted => return,
            Outcome::LocalNow => {}
            Outcome::LocalOnly => kept_here = true,
        }
    }
    let Some(room) = ctx.rooms.get_mut(index) else {
        return;
    };
    let delivered = room.members.len().saturating_sub(1);
    let has_plain = room.has_plain();
    let seq = local_seq(room, ctx.cluster.is_some());
    let event = v1::message(&v1::Message {
        seq,
        from,
        to: None,
        text,
        time: &ctx.clock.hms(),
        truncated: false,
    });
    ctx.rooms.queue_v1(index, &event);
    if has_plain {
        ctx.rooms
            .queue_plain(index, Opcode::Text, format!("{from}: {text}").as_bytes());
    }
    reply(conn, index, &v1::ack(id, seq, delivered), ctx);
    if kept_here {
        reply(conn, index, &cluster_routes::not_delivered(id), ctx);
    }
    debug!(
        "#{} ({}) sent {} bytes to {} clients",
        conn.id(),
        from,
        text.len(),
        delivered + 1
    );
}

fn whisper(
    conn: &mut Handle,
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
    let room_name = room.name.clone();
    let up = ctx.cluster.as_deref().is_some_and(|cl| cl.up);
    let target = match ctx.cluster.as_deref() {
        Some(cl) => cluster_routes::target_member(cl, ctx.rooms, index, to),
        None => None,
    };
    if let (true, Some(cl), Some(target)) = (up, ctx.cluster.as_deref_mut(), target) {
        let event = Event {
            kind: Some(Kind::Whisper),
            name: Some(from.to_string()),
            text: Some(text.to_string()),
            to: Some(target.clone()),
            to_name: Some(to.to_string()),
            ..Event::default()
        };
        let (key, cid) = (conn.key(), conn.id());
        if cluster_routes::message(cl, &room_name, key, cid, event, Some(target), id, true)
            == Outcome::LocalOnly
        {
            reply(conn, index, &cluster_routes::not_delivered(id), ctx);
        }
        return;
    }
    let Some(room) = ctx.rooms.get_mut(index) else {
        return;
    };
    let Some(target) = room.find_by_name(to) else {
        let reason = if room.find_target(to).is_some() {
            format!("{to} is on another node, which this node cannot reach now")
        } else {
            format!("no member named {to} in {}", room.name)
        };
        return refuse(conn, index, &Refusal::new(reason, id), ctx);
    };
    let (tkey, tid, tv1) = (target.key, target.id, target.v1);
    let seq = local_seq(room, ctx.cluster.is_some());
    let event = v1::message(&v1::Message {
        seq,
        from,
        to: Some(to),
        text,
        time: &ctx.clock.hms(),
        truncated: false,
    });
    let for_target = if tv1 {
        shared_text(event.as_bytes())
    } else {
        shared_text(format!("{from} (private): {text}").as_bytes())
    };
    ctx.rooms.queue_direct(index, tkey, tid, for_target);
    if tkey != conn.key() {
        reply(conn, index, &event, ctx);
    }
    reply(conn, index, &v1::ack(id, seq, 1), ctx);
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
        // #13 item 9: invisible characters a review slipped past the check.
        for c in ['\u{200B}', '\u{2060}', '\u{FEFF}', '\u{00AD}', '\u{061C}'] {
            assert!(check_name(&format!("alice{c}")).is_err(), "{c:?}");
        }
    }

    #[test]
    fn suggestions_take_a_bounded_number_of_lookups() {
        let mut rooms = Rooms::default();
        let lobby = rooms.join("lobby", 0, 1, true);
        let room = rooms.get_mut(lobby).unwrap();
        assert!(room.claim_name(0, "x"));
        let mut rng = crate::routes::Rng::from_time();
        assert_eq!(suggest(room, "x", &mut rng).as_deref(), Some("x-2"));
    }
}
