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

use super::Cluster;
use crate::clock::Clock;
use crate::cluster::envelope::{self, Event};
use crate::cluster::resp::Value as Resp;
use crate::routes::chat::remote::Change;
use crate::routes::chat::rooms::Rooms;
use crate::routes::chat::v1;

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
    pub(super) origins: HashMap<String, u64>,
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
            super::apply::apply(cl, room, event, rooms, clock);
        }
    }
}

fn backfill(cl: &mut Cluster, room: &str, from: u64, to: u64) {
    let key = crate::cluster::scripts::log_key(room);
    let (a, b) = (from.to_string(), to.to_string());
    cl.command(
        super::CMD,
        &[b"XRANGE", key.as_bytes(), a.as_bytes(), b.as_bytes()],
        Some(super::Pending::Backfill {
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
        super::apply::apply(cl, room, event, rooms, clock);
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
            super::apply::tell_joined(rooms, index, &name, None);
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

/// v1 members learn whether other nodes get their messages now.
pub fn tell_status(rooms: &mut Rooms, up: bool) {
    let event = json!({"type": "status", "cluster": if up { "up" } else { "down" }}).to_string();
    let indexes: Vec<usize> = rooms.iter_indexed().map(|(i, _)| i).collect();
    for index in indexes {
        rooms.queue_v1(index, &event);
    }
}
