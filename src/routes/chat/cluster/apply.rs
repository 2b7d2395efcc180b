//! What one room event means to the members of this node: a message to
//! deliver, a member arriving or leaving elsewhere, a whisper for someone
//! here. Called by [`super::sync`] in the room's order, once per event.

use log::debug;

use super::Cluster;
use crate::clock::Clock;
use crate::cluster::envelope::{Event, Kind};
use crate::frame::Opcode;
use crate::routes::chat::remote::Change;
use crate::routes::chat::rooms::{Rooms, shared_text};
use crate::routes::chat::v1;

/// `joined` to the named v1 members here (but `except`).
pub(super) fn tell_joined(rooms: &mut Rooms, index: usize, name: &str, except: Option<usize>) {
    let Some(room) = rooms.get(index) else {
        return;
    };
    let others: Vec<(usize, u64)> = room
        .members
        .iter()
        .filter(|m| m.v1 && m.name.is_some() && Some(m.key) != except)
        .map(|m| (m.key, m.id))
        .collect();
    let joined = shared_text(v1::joined(name).as_bytes());
    for (key, id) in others {
        rooms.queue_direct(index, key, id, joined.clone());
    }
}

/// The local id of a member of this node (`12@node-a` → 12).
fn local_id(member: &str, node: &str) -> Option<u64> {
    let (id, at) = member.split_once('@')?;
    if at != node {
        return None;
    }
    id.parse().ok()
}

/// One event, in order: what the members of this node see of it.
pub(super) fn apply(cl: &mut Cluster, room: &str, event: Event, rooms: &mut Rooms, clock: &Clock) {
    if event.origin == cl.origin {
        cl.confirm(room, event.on);
    }
    let Some(sync) = cl.sync.get_mut(room) else {
        return;
    };
    sync.last_n = event.n;
    sync.last_seq = sync.last_seq.max(event.seq);
    if !event.origin.is_empty() {
        let last = sync.origins.entry(event.origin.clone()).or_insert(0);
        if event.on <= *last {
            return; // a retry Redis ran twice
        }
        *last = event.on;
    }
    if event.origin == cl.origin {
        while sync.shown.front().is_some_and(|&on| on < event.on) {
            sync.shown.pop_front();
        }
        if sync.shown.front() == Some(&event.on) {
            sync.shown.pop_front();
            return; // shown here while Redis was away
        }
    }
    let Some(index) = rooms.index_of(room) else {
        return;
    };
    let node = cl.node.clone();
    let sender = local_id(&event.member, &node);
    let Some(kind) = event.kind else {
        return;
    };
    debug!(
        "cluster: room {room} n={} {} from {}",
        event.n,
        kind.as_str(),
        event.member
    );
    match kind {
        Kind::Join | Kind::Hello if sender.is_some() => {
            if let (Kind::Hello, Some(name)) = (kind, &event.name) {
                let key = rooms
                    .get(index)
                    .and_then(|r| r.members.iter().find(|m| Some(m.id) == sender))
                    .map(|m| m.key);
                tell_joined(rooms, index, name, key);
            }
        }
        Kind::Join | Kind::Hello => {
            let v1 = kind == Kind::Hello;
            let change = rooms
                .get_mut(index)
                .map(|r| r.remote.set(&event.member, v1, event.name.clone()));
            if let Some(Change::Named(name)) = change {
                tell_joined(rooms, index, &name, None);
            }
        }
        Kind::Leave => match sender {
            // Reaped while alive (this node was away too long): say again
            // that it is here.
            Some(id) if event.origin.is_empty() => {
                super::posts::register_again(cl, rooms, index, id)
            }
            Some(_) => {}
            None => {
                let gone = rooms
                    .get_mut(index)
                    .and_then(|r| r.remote.remove(&event.member));
                if let Some(name) = gone.and_then(|g| g.name) {
                    rooms.queue_v1(index, &v1::left(&name));
                }
            }
        },
        Kind::Say => {
            let from = event.name.as_deref().unwrap_or("?");
            let text = event.text.as_deref().unwrap_or_default();
            let message = v1::Message {
                seq: Some(event.seq),
                from,
                to: None,
                text,
                time: &clock.hms(),
                truncated: false,
            };
            rooms.queue_v1(index, &v1::message(&message));
            if rooms
                .get(index)
                .is_some_and(crate::routes::chat::Room::has_plain)
            {
                rooms.queue_plain(index, Opcode::Text, format!("{from}: {text}").as_bytes());
            }
        }
        Kind::Plain => {
            let from = format!("#{}", event.member);
            match (&event.binary, &event.text) {
                (Some(bytes), _) => rooms.queue_plain(index, Opcode::Binary, bytes),
                (None, Some(text)) => {
                    rooms.queue_plain(index, Opcode::Text, text.as_bytes());
                    let (text, truncated) = v1::relayed_text(text.as_bytes());
                    let message = v1::Message {
                        seq: Some(event.seq),
                        from: &from,
                        to: None,
                        text: &text,
                        time: &clock.hms(),
                        truncated,
                    };
                    if rooms.get(index).is_some_and(|r| r.v1_count > 0) {
                        rooms.queue_v1(index, &v1::message(&message));
                    }
                }
                (None, None) => {}
            }
        }
        Kind::Whisper => whisper(rooms, index, &event, &node, clock),
    }
}

/// A whisper reaches its target if the target is here, and its sender's
/// copy if the sender is here.
fn whisper(rooms: &mut Rooms, index: usize, event: &Event, node: &str, clock: &Clock) {
    let from = event.name.as_deref().unwrap_or("?");
    let text = event.text.as_deref().unwrap_or_default();
    let to_name = event.to_name.as_deref().unwrap_or_default();
    let message = v1::message(&v1::Message {
        seq: Some(event.seq),
        from,
        to: Some(to_name),
        text,
        time: &clock.hms(),
        truncated: false,
    });
    let target = event.to.as_deref().and_then(|to| local_id(to, node));
    let sender = local_id(&event.member, node);
    let Some(room) = rooms.get(index) else {
        return;
    };
    let find = |id: Option<u64>| {
        let id = id?;
        room.members
            .iter()
            .find(|m| m.id == id)
            .map(|m| (m.key, m.id, m.v1))
    };
    let (target, sender) = (find(target), find(sender));
    if let Some((key, id, tv1)) = target {
        let bytes = if tv1 {
            shared_text(message.as_bytes())
        } else {
            shared_text(format!("{from} (private): {text}").as_bytes())
        };
        rooms.queue_direct(index, key, id, bytes);
    }
    if let Some((key, id, _)) = sender
        && target.map(|t| t.0) != Some(key)
    {
        rooms.queue_direct(index, key, id, shared_text(message.as_bytes()));
    }
}
