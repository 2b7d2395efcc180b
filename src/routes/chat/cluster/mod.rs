//! Rooms across nodes (`--redis`): this node's side of the cluster.
//!
//! A chat event from a member here (a `say`, a plain message, a `hello`, a
//! join or leave) is *posted*: one Lua script in Redis numbers it in the
//! room's order, appends it to the room's log and publishes it
//! ([`crate::cluster::scripts`]). Every node with members in the room —
//! this one too — delivers it when it comes back on the room's channel, so
//! every member everywhere sees one order. Two Redis connections carry it:
//! `cmd` for pipelined commands (replies come back in order, each matched
//! with a [`Pending`]), `sub` for the subscriptions.
//!
//! When Redis cannot be reached, local chat goes on: a member's message is
//! shown at once to the members of this node (marked `"delayed":true`,
//! with no `seq`), and waits in a bounded outbox until the link returns;
//! then the others get it, and this node's members do not get it twice.
//! Files: this one holds the links and the replies; [`posts`] what goes
//! to Redis, [`sync`] what comes back (order, gaps, presence), [`apply`]
//! what an event means to the members here, [`time`] heartbeats and
//! time-outs, [`routes`] what the chat routes call.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use log::{info, warn};

mod apply;
mod posts;
pub mod routes;
mod sync;
mod time;

pub use posts::{Post, ReplyTo};
pub use sync::RoomSync;

use super::Rooms;
use crate::clock::Clock;
use crate::cluster::link::{Link, LinkState};
use crate::cluster::resp::{Value as Resp, encode_command};
use crate::cluster::scripts;
use crate::cluster::url::RedisUrl;

/// Index of the command link in [`Cluster::links`].
pub const CMD: usize = 0;
/// Index of the subscriber link.
pub const SUB: usize = 1;

/// How often the node refreshes its heartbeat, reaps dead nodes and pings
/// its subscription.
const HEARTBEAT: Duration = Duration::from_secs(1);
/// The heartbeat key's life: a node silent this long is dead to the others.
const ALIVE_TTL_MS: u64 = 10_000;
/// A reply (or a subscription PONG) later than this: the link is wedged.
const REPLY_TIMEOUT: Duration = Duration::from_millis(3500);
/// A connect (or its hello) that takes longer than this is given up.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Posts written to Redis and not yet answered, at most.
const MAX_IN_FLIGHT: usize = 4096;

/// What a reply on the command link answers.
#[derive(Debug)]
pub enum Pending {
    /// The link's hello (AUTH, SELECT, SCRIPT LOAD): an error here is a
    /// configuration problem, logged.
    Hello,
    /// The last hello command: the link is ready when it answers.
    Ready,
    /// A heartbeat command; its answer only has to come.
    Ignore,
    /// The front of `in_flight`.
    Post,
    Snapshot(String),
    /// Events `from..=to` read back from the room's log.
    Backfill {
        room: String,
        to: u64,
    },
}

/// Counters for `/metrics`.
#[derive(Debug, Default, Clone, Copy)]
pub struct Stats {
    pub published: u64,
    pub received: u64,
    pub recovered: u64,
    /// Messages the other nodes will never see (the outbox was full).
    pub missed: u64,
    /// Holes that the room's log no longer covered.
    pub resyncs: u64,
}

pub struct Cluster {
    pub node: String,
    /// This process among the node's incarnations (`<node>/<random>`): the
    /// origin of its posts, whose counter starts again at 1 after a restart.
    pub origin: String,
    /// Not yet linked since start: the first link clears what an earlier
    /// incarnation under the same name left in Redis.
    fresh: bool,
    pub url: RedisUrl,
    pub links: [Link; 2],
    /// Both links ready: events go through Redis.
    pub up: bool,
    pending: VecDeque<(Pending, Instant)>,
    outbox: VecDeque<Post>,
    in_flight: VecDeque<Post>,
    /// Messages Redis answered whose event has not come back on our own
    /// subscription yet. The reply and the publish are two separate writes
    /// of Redis, so a Redis that dies between them can leave the other
    /// nodes with the message and this one without it (its log dies too),
    /// or the other way round. If the link
    /// drops, they are posted again; every node applies a post once per
    /// origin and number, so only the nodes that missed it show it.
    sent: VecDeque<Post>,
    /// Bytes of `outbox`, `in_flight` and `sent` (`--cluster-outbox`).
    pub outbox_bytes: usize,
    pub outbox_limit: usize,
    /// Events kept in each room's log (`XADD MAXLEN ~`).
    pub log_len: usize,
    next_on: u64,
    pub(super) sync: std::collections::HashMap<String, RoomSync>,
    next_heartbeat: Instant,
    ping_sent: Option<Instant>,
    pub stats: Stats,
    /// The last error Redis gave, for `/healthz` and to log each kind once.
    pub last_error: Option<String>,
    rng: u64,
    shas: [String; 3],
}

impl Cluster {
    pub fn new(url: RedisUrl, node: String, outbox_limit: usize, now: Instant) -> Cluster {
        let seed = now.elapsed().as_nanos() as u64 ^ u64::from(std::process::id()) << 32;
        let origin = format!(
            "{node}/{:x}",
            seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40
        );
        Cluster {
            node,
            origin,
            fresh: true,
            url,
            links: [Link::new(now), Link::new(now)],
            up: false,
            pending: VecDeque::new(),
            outbox: VecDeque::new(),
            in_flight: VecDeque::new(),
            sent: VecDeque::new(),
            outbox_bytes: 0,
            outbox_limit,
            log_len: 10_000,
            next_on: 1,
            sync: std::collections::HashMap::new(),
            next_heartbeat: now,
            ping_sent: None,
            stats: Stats::default(),
            last_error: None,
            rng: seed | 1,
            shas: [
                scripts::sha(scripts::POST),
                scripts::sha(scripts::SNAPSHOT),
                scripts::sha(scripts::REAP),
            ],
        }
    }

    fn random(&mut self) -> u64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng
    }

    /// `<id>@<node>`: a member's name across the cluster.
    pub fn member_id(&self, id: u64) -> String {
        format!("{id}@{}", self.node)
    }

    /// Queues one command on a link.
    pub(super) fn command(&mut self, link: usize, args: &[&[u8]], pending: Option<Pending>) {
        if let Some(l) = self.links.get_mut(link) {
            encode_command(&mut l.out, args);
        }
        if let Some(p) = pending {
            self.pending.push_back((p, Instant::now()));
        }
    }

    // ------------------------------------------------------------ links

    /// The server connected link `link`: say hello.
    pub fn on_connected(&mut self, link: usize, now: Instant) {
        let Some(l) = self.links.get_mut(link) else {
            return;
        };
        l.set_state(LinkState::Handshake, now);
        let url = self.url.clone();
        let pending = |p| (link == CMD).then_some(p);
        if let Some(password) = &url.password {
            let mut args: Vec<&[u8]> = vec![b"AUTH"];
            if let Some(user) = &url.user {
                args.push(user.as_bytes());
            }
            args.push(password.as_bytes());
            self.command(link, &args, pending(Pending::Hello));
        }
        if link == SUB {
            // A subscriber's only hello is a PING; its PONG makes it ready.
            self.command(SUB, &[b"PING"], None);
            self.ping_sent = Some(now);
            return;
        }
        if url.db != 0 {
            let db = url.db.to_string();
            self.command(CMD, &[b"SELECT", db.as_bytes()], Some(Pending::Hello));
        }
        for script in [scripts::POST, scripts::SNAPSHOT, scripts::REAP] {
            self.command(
                CMD,
                &[b"SCRIPT", b"LOAD", script.as_bytes()],
                Some(Pending::Hello),
            );
        }
        self.command(CMD, &[b"PING"], Some(Pending::Ready));
    }

    /// A link's socket closed or failed: both links start again (what one
    /// missed, the other cannot tell), and what was on its way to Redis
    /// goes back to the front of the outbox.
    pub fn on_link_down(&mut self, rooms: &mut Rooms, now: Instant) {
        for i in [CMD, SUB] {
            let random = self.random();
            if let Some(l) = self.links.get_mut(i)
                && (l.state != LinkState::Down || l.reset)
            {
                l.down(now, random);
            }
        }
        self.pending.clear();
        self.ping_sent = None;
        while let Some(post) = self.in_flight.pop_back() {
            self.outbox.push_front(post);
        }
        while let Some(post) = self.sent.pop_back() {
            self.outbox.push_front(post);
        }
        for sync in self.sync.values_mut() {
            sync.unsubscribed();
        }
        if self.up {
            self.up = false;
            warn!(
                "cluster: lost the link to Redis at {}:{}; local chat goes on, messages for other nodes wait in the outbox",
                self.url.host, self.url.port
            );
            sync::tell_status(rooms, false);
        }
    }

    /// Asks the server to drop both links (a time-out, an error reply).
    fn reset(&mut self, why: &str) {
        if self.links.iter().any(|l| l.reset) {
            return; // already going down: the first reason is the one (a
            // wrong password, not the NOAUTH of every command after it)
        }
        if self.last_error.as_deref() != Some(why) {
            warn!("cluster: {why}; reconnecting");
        }
        self.last_error = Some(why.to_string());
        for l in &mut self.links {
            if l.state != LinkState::Down {
                l.reset = true;
            }
        }
    }

    /// Bytes read from a link.
    pub fn on_bytes(
        &mut self,
        link: usize,
        bytes: &[u8],
        rooms: &mut Rooms,
        clock: &Clock,
        now: Instant,
    ) {
        let Some(l) = self.links.get_mut(link) else {
            return;
        };
        l.reader.push(bytes);
        loop {
            let Some(l) = self.links.get_mut(link) else {
                return;
            };
            match l.reader.next_value() {
                Ok(Some(value)) if link == CMD => self.on_reply(value, rooms, clock, now),
                Ok(Some(value)) => self.on_push(value, rooms, clock, now),
                Ok(None) => return,
                Err(e) => return self.reset(&format!("unreadable reply from Redis: {e}")),
            }
        }
    }

    fn on_reply(&mut self, reply: Resp, rooms: &mut Rooms, clock: &Clock, now: Instant) {
        let Some((pending, _)) = self.pending.pop_front() else {
            return self.reset("a reply nobody asked for");
        };
        if let (Resp::Error(e), Pending::Hello | Pending::Ready | Pending::Post) =
            (&reply, &pending)
        {
            // Wrong password, OOM, a read-only replica: nothing works
            // until it is fixed; say so once, and try again later.
            return self.reset(&format!("Redis said: {e}"));
        }
        match pending {
            Pending::Hello | Pending::Ignore => {}
            Pending::Ready => self.link_ready(CMD, rooms, now),
            Pending::Post => self.on_post_reply(reply, rooms),
            Pending::Snapshot(room) => sync::on_snapshot(self, &room, reply, rooms, clock),
            Pending::Backfill { room, to } => {
                sync::on_backfill(self, &room, to, reply, rooms, clock)
            }
        }
    }

    /// A message on the subscriber link: a room event, a (un)subscribe
    /// confirmation, or the PONG of our liveness ping.
    fn on_push(&mut self, push: Resp, rooms: &mut Rooms, clock: &Clock, now: Instant) {
        let parts = match &push {
            Resp::Array(parts) => parts.as_slice(),
            Resp::Simple(s) if s == "PONG" => &[],
            Resp::Error(e) => return self.reset(&format!("Redis said: {e}")),
            _ => return,
        };
        let kind = parts.first().and_then(Resp::as_bytes).unwrap_or(b"pong");
        match kind {
            b"message" => {
                let channel = parts.get(1).and_then(Resp::as_bytes).unwrap_or_default();
                let payload = parts.get(2).and_then(Resp::as_bytes).unwrap_or_default();
                if let Some(room) = scripts::room_of_channel(channel) {
                    self.stats.received += 1;
                    let room = room.to_string();
                    sync::on_event(self, &room, payload, rooms, clock);
                }
            }
            b"subscribe" => {
                let channel = parts.get(1).and_then(Resp::as_bytes).unwrap_or_default();
                if let Some(room) = scripts::room_of_channel(channel) {
                    let room = room.to_string();
                    self.request_snapshot(&room);
                }
            }
            b"pong" | b"PONG" => {
                self.ping_sent = None;
                if self.links[SUB].state == LinkState::Handshake {
                    self.link_ready(SUB, rooms, now);
                }
            }
            _ => {}
        }
    }

    pub(super) fn request_snapshot(&mut self, room: &str) {
        let sha = self.shas[1].clone();
        let sync = self.sync.get(room);
        let floor_n = sync.map_or(0, |s| s.last_n).to_string();
        let floor_seq = sync.map_or(0, |s| s.last_seq).to_string();
        self.command(
            CMD,
            &[
                b"EVALSHA",
                sha.as_bytes(),
                b"0",
                room.as_bytes(),
                floor_n.as_bytes(),
                floor_seq.as_bytes(),
            ],
            Some(Pending::Snapshot(room.to_string())),
        );
    }

    fn link_ready(&mut self, link: usize, rooms: &mut Rooms, now: Instant) {
        if let Some(l) = self.links.get_mut(link) {
            l.set_state(LinkState::Ready, now);
        }
        if !self.links.iter().all(Link::is_ready) {
            return;
        }
        self.up = true;
        self.last_error = None;
        if self.fresh {
            self.fresh = false;
            let sha = self.shas[2].clone();
            let node = self.node.clone();
            self.command(
                CMD,
                &[b"EVALSHA", sha.as_bytes(), b"0", node.as_bytes()],
                Some(Pending::Ignore),
            );
        }
        info!(
            "cluster: linked to Redis at {}:{} as node {}",
            self.url.host, self.url.port, self.node
        );
        self.heartbeat(now);
        // Subscribe first: a room's snapshot is read once its channel is
        // live, so nothing falls between the two.
        let names: Vec<String> = self.sync.keys().cloned().collect();
        for room in &names {
            let channel = scripts::channel(room);
            self.command(SUB, &[b"SUBSCRIBE", channel.as_bytes()], None);
        }
        posts::register_everyone(self, rooms);
        sync::tell_status(rooms, true);
        self.pump();
    }
}
