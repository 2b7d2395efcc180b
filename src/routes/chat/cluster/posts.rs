//! What goes to Redis: a member's event as a post, queued in the bounded
//! outbox, written to the command link while it is up, and what its reply
//! means (the `ack`, the `welcome`, a taken name).

use std::time::Instant;

use log::warn;
use serde_json::Value;

use super::{CMD, Cluster, MAX_IN_FLIGHT, Pending, SUB};
use crate::cluster::envelope::{self, Event, Kind};
use crate::cluster::resp::{Value as Resp, encode_command};
use crate::cluster::scripts;
use crate::routes::chat::rooms::{Rooms, shared_text};
use crate::routes::chat::v1;

/// Who waits for a post's reply.
#[derive(Debug, Clone)]
pub enum ReplyTo {
    Nobody,
    /// A v1 `say` or `whisper`: its `ack` (or the error).
    Ack {
        key: usize,
        id: u64,
        request: Option<Value>,
        to_name: Option<String>,
    },
    /// A `hello`: the `welcome`, or the name is taken.
    Hello {
        key: usize,
        id: u64,
        name: String,
    },
    /// A member's join (or its registration again after an outage).
    Registered {
        key: usize,
        id: u64,
    },
}

/// One event waiting for Redis.
#[derive(Debug)]
pub struct Post {
    pub room: String,
    pub event: Event,
    pub fold: String,
    pub info: String,
    pub target: String,
    pub reply: ReplyTo,
    /// Already shown to this node's members (posted while Redis was away).
    pub shown: bool,
}

impl Post {
    /// What it holds, for `--cluster-outbox`.
    fn size(&self) -> usize {
        let e = &self.event;
        let text = e.text.as_ref().map_or(0, String::len) + e.binary.as_ref().map_or(0, Vec::len);
        256 + self.room.len() + self.info.len() + e.member.len() + text * 2
    }
}

impl Cluster {
    /// A member here joined `room`: follow it (subscribe) if new.
    pub fn ensure_room(&mut self, room: &str) {
        if self.sync.contains_key(room) {
            return;
        }
        self.sync
            .insert(room.to_string(), super::RoomSync::default());
        if self.up {
            let channel = scripts::channel(room);
            self.command(SUB, &[b"SUBSCRIBE", channel.as_bytes()], None);
        }
    }

    /// The last member here left `room`: stop following it.
    pub fn drop_room(&mut self, room: &str) {
        // Nobody here is waiting to see these come back any more.
        self.confirm(room, u64::MAX);
        if self.sync.remove(room).is_some() && self.up {
            let channel = scripts::channel(room);
            self.command(SUB, &[b"UNSUBSCRIBE", channel.as_bytes()], None);
        }
    }

    // ------------------------------------------------------------ posts

    /// Queues an event for Redis. False when the outbox is full: the other
    /// nodes will not see it (counted, and said once per outage).
    pub(super) fn post(&mut self, mut post: Post) -> bool {
        let size = post.size();
        let presence = matches!(
            post.event.kind,
            Some(Kind::Leave | Kind::Join | Kind::Hello)
        );
        // A leave is let past the limit: there is at most one per
        // registered member, and without it a name would stay taken.
        if !presence && self.outbox_bytes + size > self.outbox_limit {
            self.stats.missed += 1;
            if self.stats.missed.is_power_of_two() {
                warn!(
                    "cluster: outbox full ({} bytes); {} message(s) so far not delivered to other nodes",
                    self.outbox_bytes, self.stats.missed
                );
            }
            return false;
        }
        post.event.origin.clone_from(&self.origin);
        post.event.on = self.next_on;
        self.next_on += 1;
        if post.shown
            && let Some(sync) = self.sync.get_mut(&post.room)
        {
            sync.shown.push_back(post.event.on);
        }
        self.outbox_bytes += size;
        self.outbox.push_back(post);
        self.pump();
        true
    }

    /// Writes queued posts to the command link while it is up.
    pub(super) fn pump(&mut self) {
        while self.up && self.in_flight.len() < MAX_IN_FLIGHT {
            let Some(post) = self.outbox.pop_front() else {
                return;
            };
            let sync = self.sync.get(&post.room);
            let floor_n = sync.map_or(0, |s| s.last_n).to_string();
            let floor_seq = sync.map_or(0, |s| s.last_seq).to_string();
            let kind = post.event.kind.map_or("", Kind::as_str);
            let body = post.event.body();
            let maxlen = self.log_len.to_string();
            // Encoded straight into the link's buffer: the script's sha and
            // the node name are borrowed, not cloned, once per message.
            let cmd_link = &mut self.links[CMD];
            encode_command(
                &mut cmd_link.out,
                &[
                    b"EVALSHA",
                    self.shas[0].as_bytes(),
                    b"0",
                    post.room.as_bytes(),
                    kind.as_bytes(),
                    post.event.member.as_bytes(),
                    self.node.as_bytes(),
                    post.fold.as_bytes(),
                    floor_n.as_bytes(),
                    floor_seq.as_bytes(),
                    maxlen.as_bytes(),
                    body.as_bytes(),
                    post.info.as_bytes(),
                    post.target.as_bytes(),
                ],
            );
            self.pending.push_back((Pending::Post, Instant::now()));
            self.in_flight.push_back(post);
        }
    }

    pub(super) fn on_post_reply(&mut self, reply: Resp, rooms: &mut Rooms) {
        let Some(mut post) = self.in_flight.pop_front() else {
            return;
        };
        let parts = reply.as_array().unwrap_or_default();
        let first = parts.first().and_then(Resp::as_int).unwrap_or(0);
        let second = parts.get(1);
        if first > 0 {
            self.stats.published += 1;
        }
        // A published message is kept (and counted) until it comes back on
        // our subscription; anything else is done with.
        let keep = first > 0 && post.event.kind.is_some_and(Kind::is_message);
        if !keep {
            self.outbox_bytes = self.outbox_bytes.saturating_sub(post.size());
        }
        // Takes the reply out: posted again, it waits for none.
        on_posted(self, &mut post, first, second, rooms);
        if keep {
            if self.sent.len() >= MAX_IN_FLIGHT
                && let Some(oldest) = self.sent.pop_front()
            {
                self.outbox_bytes = self.outbox_bytes.saturating_sub(oldest.size());
            }
            self.sent.push_back(post);
        }
        self.pump();
    }

    /// Our post `on` in `room` came back on the subscription (and so did
    /// every earlier one of ours in that room): Redis published them.
    pub(super) fn confirm(&mut self, room: &str, on: u64) {
        if self.sent.is_empty() {
            return;
        }
        let mut freed = 0;
        self.sent.retain(|p| {
            let done = p.room == room && p.event.on <= on;
            if done {
                freed += p.size();
            }
            !done
        });
        self.outbox_bytes = self.outbox_bytes.saturating_sub(freed);
    }
}

/// Redis answered a post: whoever waited for the answer gets it (the
/// post's `reply` is taken, and `Nobody` left in its place).
pub fn on_posted(
    cl: &mut Cluster,
    post: &mut Post,
    first: i64,
    second: Option<&Resp>,
    rooms: &mut Rooms,
) {
    let reply = std::mem::replace(&mut post.reply, ReplyTo::Nobody);
    let registering = matches!(post.event.kind, Some(Kind::Hello | Kind::Join));
    if registering && first >= 0 && !still_here(rooms, &post.room, &reply) {
        // It left while its registration was on the way: Redis now holds a
        // member (and maybe a name) that is gone. Take it back.
        return unregister(cl, post);
    }
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
    match reply {
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
    let fold = m.name.as_deref().map(crate::routes::chat::rooms::name_key);
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

pub(super) fn register_again(cl: &mut Cluster, rooms: &mut Rooms, index: usize, id: u64) {
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

/// Is the member a registration was for still in its room here?
fn still_here(rooms: &Rooms, room: &str, reply: &ReplyTo) -> bool {
    let (ReplyTo::Hello { key, id, .. } | ReplyTo::Registered { key, id }) = *reply else {
        return true;
    };
    let room = rooms.index_of(room).and_then(|i| rooms.get(i));
    room.and_then(|r| r.member(key)).is_some_and(|m| m.id == id)
}

/// Posts the leave of a member that left before Redis registered it.
fn unregister(cl: &mut Cluster, post: &Post) {
    cl.post(Post {
        room: post.room.clone(),
        event: Event {
            kind: Some(Kind::Leave),
            member: post.event.member.clone(),
            name: post.event.name.clone(),
            ..Event::default()
        },
        fold: post.fold.clone(),
        info: String::new(),
        target: String::new(),
        reply: ReplyTo::Nobody,
        shown: false,
    });
}
