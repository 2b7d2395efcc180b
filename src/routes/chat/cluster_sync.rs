//! The receiving side of the cluster: room events from Redis, applied in
//! the room's order, each once.
//!
//! Every event carries `n`, its number in the room. A node applies `n` only
//! after `n - 1`: one that arrives early (a subscription that dropped, a
//! reconnect) waits while the missing ones are read back from the room's
//! log (`XRANGE`). When the log no longer has them, v1 members get a
//! `resync` event instead of a silent hole. Presence (who is in the room on
//! other nodes) comes from the same events, and from a snapshot of the
//! room's members when the node subscribes.

use std::collections::{BTreeMap, HashMap, VecDeque};

use log::{debug, warn};
use serde_json::json;

use super::cluster::{Cluster, Post, ReplyTo};
use super::remote::Change;
use super::rooms::{Rooms, shared_text};
use super::v1;
use crate::clock::Clock;
use crate::cluster::envelope::{self, Event, Kind};
use crate::cluster::resp::Value as Resp;
use crate::frame::Opcode;

/// Events held while a room waits for its snapshot or a backfill; past
/// it the newest are dropped and the hole is reported as a `resync`.
const MAX_BUFFERED: usize = 10_000;

/// One room's place in the cluster's order, on this node.
#[derive(Debug, Default)]
pub struct RoomSync {
    /// The last event applied.
    pub last_n: u64,
    /// The highest message number seen.
    pub last_seq: u64,
    /// Subscribed and snapshot read: events are applied as they come.
    live: bool,
    backfilling: bool,
    buffered: BTreeMap<u64, Event>,
    /// Events were dropped from `buffered`: a `resync` is due.
    lost: bool,
    /// The last `on` applied per origin: a post Redis ran twice (a retry
    /// after a lost reply) is applied once.
    origins: HashMap<String, u64>,
    /// Our own posts already shown here (sent while Redis was away).
    pub shown: VecDeque<u64>,
}

impl RoomSync {
    /// The subscription is gone: events wait until it is back.
    pub fn unsubscribed(&mut self) {
        self.live = false;
        self.backfilling = false;
    }

    fn buffer(&mut self, event: Event) {
        if self.buffered.len() >= MAX_BUFFERED {
            self.lost = true;
            return;
        }
        self.buffered.insert(event.n, event);
    }
}

/// An event published on a room's channel.
pub fn on_event(cl: &mut Cluster, room: &str, payload: &[u8], rooms: &mut Rooms, clock: &Clock) {
    let Some(event) = Event::parse(payload) else {
        warn!("cluster: a malformed event on room {room} skipped");
        return;
    };
    let Some(sync) = cl.sync.get_mut(room) else {
        return;
    };
    if event.n <= sync.last_n && sync.live {
        return;
    }
    sync.buffer(event);
    if sync.live && !sync.backfilling {
        drain(cl, room, rooms, clock);
    }
}

/// Applies what is buffered in order; asks the log for what is missing.
fn drain(cl: &mut Cluster, room: &str, rooms: &mut Rooms, clock: &Clock) {
    loop {
        let Some(sync) = cl.sync.get_mut(room) else {
            return;
        };
        if sync.lost {
            sync.lost = false;
            resync(
                cl,
                room,
                rooms,
                "events were dropped while the room caught up",
            );
            continue;
        }
        let Some((&n, _)) = sync.buffered.first_key_value() else {
            return;
        };
        if n <= sync.last_n {
            sync.buffered.pop_first();
            continue;
        }
        if n > sync.last_n + 1 && sync.last_n > 0 {
            let from = sync.last_n + 1;
            sync.backfilling = true;
            return backfill(cl, room, from, n - 1);
        }
        if let Some((_, event)) = sync.buffered.pop_first() {
            apply(cl, room, event, rooms, clock);
        }
    }
}

fn backfill(cl: &mut Cluster, room: &str, from: u64, to: u64) {
    let key = crate::cluster::scripts::log_key(room);
    let (a, b) = (from.to_string(), to.to_string());
    cl.command(
        super::cluster::CMD,
        &[b"XRANGE", key.as_bytes(), a.as_bytes(), b.as_bytes()],
        Some(super::cluster::Pending::Backfill {
            room: room.to_string(),
            to,
        }),
    );
}

/// Events `.. ..=to` read back from the log.
pub fn on_backfill(
    cl: &mut Cluster,
    room: &str,
    to: u64,
    reply: Resp,
    rooms: &mut Rooms,
    clock: &Clock,
) {
    let entries = reply.as_array().unwrap_or_default();
    let events: Vec<Event> = entries
        .iter()
        .filter_map(|entry| {
            let fields = entry.as_array()?.get(1)?.as_array()?;
            Event::parse(fields.get(1)?.as_bytes()?)
        })
        .collect();
    let Some(sync) = cl.sync.get_mut(room) else {
        return;
    };
    sync.backfilling = false;
    let mut recovered = 0;
    for event in events {
        let Some(sync) = cl.sync.get_mut(room) else {
            return;
        };
        if event.n <= sync.last_n {
            continue;
        }
        if event.n > sync.last_n + 1 {
            let missed = event.n - sync.last_n - 1;
            resync(
                cl,
                room,
                rooms,
                &format!("{missed} event(s) older than the room's log"),
            );
        }
        recovered += 1;
        apply(cl, room, event, rooms, clock);
    }
    cl.stats.recovered += recovered;
    if let Some(sync) = cl.sync.get_mut(room)
        && sync.last_n < to
    {
        let missed = to - sync.last_n;
        sync.last_n = to;
        resync(
            cl,
            room,
            rooms,
            &format!("{missed} event(s) no longer in Redis"),
        );
    }
    drain(cl, room, rooms, clock);
}

/// A hole no log can fill: v1 members are told, and presence is read anew.
fn resync(cl: &mut Cluster, room: &str, rooms: &mut Rooms, why: &str) {
    cl.stats.resyncs += 1;
    warn!("cluster: room {room}: {why}; members told to resync");
    if let Some(index) = rooms.index_of(room) {
        let event = json!({"type": "resync", "room": room, "reason": why}).to_string();
        rooms.queue_v1(index, &event);
    }
    if let Some(sync) = cl.sync.get_mut(room) {
        // Everything up to the hole is as good as applied.
        if let Some((&n, _)) = sync.buffered.first_key_value() {
            sync.last_n = sync.last_n.max(n.saturating_sub(1));
        }
    }
    cl.request_snapshot(room);
}

/// The room as Redis has it: its numbers and its members.
pub fn on_snapshot(cl: &mut Cluster, room: &str, reply: Resp, rooms: &mut Rooms, clock: &Clock) {
    let parts = reply.as_array().unwrap_or_default();
    let n = parts.first().and_then(Resp::as_int).unwrap_or(0).max(0) as u64;
    let seq = parts.get(1).and_then(Resp::as_int).unwrap_or(0).max(0) as u64;
    let members = parts.get(2).and_then(Resp::as_array).unwrap_or_default();
    let snapshot: Vec<(String, bool, Option<String>)> = members
        .chunks(2)
        .filter_map(|pair| {
            let member = std::str::from_utf8(pair.first()?.as_bytes()?).ok()?;
            let (v1, name) = envelope::parse_member_info(pair.get(1)?.as_bytes()?)?;
            (envelope::node_of(member) != cl.node).then(|| (member.to_string(), v1, name))
        })
        .collect();
    debug!(
        "cluster: room {room} snapshot n={n} seq={seq}: {} member(s) on other nodes",
        snapshot.len()
    );
    if let Some(index) = rooms.index_of(room) {
        let (mut named, mut left) = (Vec::new(), Vec::new());
        if let Some(r) = rooms.get_mut(index) {
            for (member, v1, name) in &snapshot {
                if let Change::Named(name) = r.remote.set(member, *v1, name.clone()) {
                    named.push(name);
                }
            }
            let gone: Vec<String> = r
                .remote
                .list
                .iter()
                .filter(|x| !snapshot.iter().any(|(m, ..)| *m == x.member))
                .map(|x| x.member.clone())
                .collect();
            for member in gone {
                if let Some(name) = r.remote.remove(&member).and_then(|g| g.name) {
                    left.push(name);
                }
            }
        }
        for name in named {
            tell_joined(rooms, index, &name, None);
        }
        for name in left {
            rooms.queue_v1(index, &v1::left(&name));
        }
    }
    let Some(sync) = cl.sync.get_mut(room) else {
        return;
    };
    sync.last_seq = sync.last_seq.max(seq);
    let was_live = sync.live;
    sync.live = true;
    if sync.last_n == 0 {
        sync.last_n = n;
    } else if n > sync.last_n && !was_live {
        // Missed while the subscription was away: read them back.
        sync.backfilling = true;
        let from = sync.last_n + 1;
        return backfill(cl, room, from, n);
    }
    drain(cl, room, rooms, clock);
}

/// `joined` to the named v1 members here (but `except`).
fn tell_joined(rooms: &mut Rooms, index: usize, name: &str, except: Option<usize>) {
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
fn apply(cl: &mut Cluster, room: &str, event: Event, rooms: &mut Rooms, clock: &Clock) {
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
            Some(id) if event.origin.is_empty() => register_again(cl, rooms, index, id),
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
            if rooms.get(index).is_some_and(super::Room::has_plain) {
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

/// Redis answered a post.
pub fn on_posted(
    _cl: &mut Cluster,
    post: Post,
    first: i64,
    second: Option<&Resp>,
    rooms: &mut Rooms,
) {
    let Some(index) = rooms.index_of(&post.room) else {
        return;
    };
    let seq = second.and_then(Resp::as_int).unwrap_or(0).max(0) as u64;
    let member_of = |rooms: &Rooms, key: usize, id: u64| {
        rooms
            .get(index)
            .and_then(|r| r.member(key))
            .is_some_and(|m| m.id == id)
    };
    match post.reply {
        ReplyTo::Nobody => {}
        ReplyTo::Ack {
            key,
            id,
            request,
            to_name,
        } if member_of(rooms, key, id) => {
            let event = match (first, to_name) {
                (-2, Some(to)) => v1::error(&v1::Refusal::new(
                    format!("no member named {to} in {}", post.room),
                    request.as_ref(),
                )),
                _ if post.shown => return,
                (_, to) => {
                    let delivered = match to {
                        Some(_) => 1,
                        None => rooms.get(index).map_or(1, |r| r.everyone()) - 1,
                    };
                    v1::ack(request.as_ref(), Some(seq), delivered)
                }
            };
            rooms.queue_direct(index, key, id, shared_text(event.as_bytes()));
        }
        ReplyTo::Hello { key, id, name } if member_of(rooms, key, id) => {
            let Some(room) = rooms.get_mut(index) else {
                return;
            };
            let event = if first >= 0 && room.take_name(key, &name) {
                if let Some(me) = room.member_mut(key) {
                    me.registered = true;
                    me.hello_pending = false;
                }
                v1::welcome(&name, &room.name, &room.member_names())
            } else {
                if let Some(me) = room.member_mut(key) {
                    me.hello_pending = false;
                }
                let free = (2..10)
                    .map(|n| format!("{name}-{n}"))
                    .find(|c| !room.name_taken(c));
                let reason = match free {
                    Some(free) => format!("the name {name} is taken; try {free}"),
                    None => format!("the name {name} is taken"),
                };
                v1::error(&v1::Refusal::new(reason, None))
            };
            rooms.queue_direct(index, key, id, shared_text(event.as_bytes()));
        }
        ReplyTo::Registered { key, id } if member_of(rooms, key, id) => {
            let named = rooms
                .get(index)
                .and_then(|r| r.member(key))
                .and_then(|m| m.name.clone());
            if first == -1 {
                let reason = format!(
                    "the name {} was taken on another node while this one could not reach it",
                    named.unwrap_or_default()
                );
                let event = v1::error(&v1::Refusal::new(reason, None));
                rooms.queue_direct(index, key, id, shared_text(event.as_bytes()));
            } else if let Some(me) = rooms.get_mut(index).and_then(|r| r.member_mut(key)) {
                me.registered = true;
            }
        }
        _ => {}
    }
}

/// The post that says member `key` is in room `index` (join, or hello
/// with its name).
pub fn registration(cl: &Cluster, rooms: &Rooms, index: usize, key: usize) -> Option<Post> {
    let room = rooms.get(index)?;
    let m = room.member(key)?;
    if m.v1 && m.name.is_none() {
        return None; // not anyone yet: it registers with its hello
    }
    let fold = m.name.as_deref().map(super::rooms::name_key);
    let kind = if m.v1 { Kind::Hello } else { Kind::Join };
    Some(Post {
        room: room.name.clone(),
        event: Event {
            kind: Some(kind),
            member: cl.member_id(m.id),
            name: m.name.clone(),
            ..Event::default()
        },
        info: envelope::member_info(m.v1, m.name.as_deref(), fold.as_deref()),
        fold: fold.unwrap_or_default(),
        target: String::new(),
        reply: ReplyTo::Registered { key, id: m.id },
        shown: false,
    })
}

fn register_again(cl: &mut Cluster, rooms: &mut Rooms, index: usize, id: u64) {
    let key = rooms
        .get(index)
        .and_then(|r| r.members.iter().find(|m| m.id == id))
        .map(|m| m.key);
    if let Some(post) = key.and_then(|key| registration(cl, rooms, index, key)) {
        cl.post(post);
    }
}

/// The link is (back) up: every member here says it is here. Redis may
/// have lost them (a restart) or reaped them (a long outage); for those it
/// still has, the script does nothing.
pub fn register_everyone(cl: &mut Cluster, rooms: &mut Rooms) {
    let mut posts = Vec::new();
    for (index, room) in rooms.iter_indexed() {
        for m in &room.members {
            posts.extend(registration(cl, rooms, index, m.key));
        }
    }
    for post in posts {
        cl.post(post);
    }
}

/// v1 members learn whether other nodes get their messages now.
pub fn tell_status(rooms: &mut Rooms, up: bool) {
    let event = json!({"type": "status", "cluster": if up { "up" } else { "down" }}).to_string();
    let indexes: Vec<usize> = rooms.iter_indexed().map(|(i, _)| i).collect();
    for index in indexes {
        rooms.queue_v1(index, &event);
    }
}
