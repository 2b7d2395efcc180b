//! Time in the cluster: the heartbeat that says this node is alive (and
//! reaps the nodes that are not), and the time-outs that find a link that
//! stopped answering.

use std::time::Instant;

use super::{ALIVE_TTL_MS, CMD, CONNECT_TIMEOUT, Cluster, HEARTBEAT, Pending, REPLY_TIMEOUT, SUB};
use crate::cluster::link::LinkState;
use crate::cluster::scripts::{self, NODES_KEY};

impl Cluster {
    /// The next time [`Cluster::tick`] has work.
    pub fn next_deadline(&self) -> Instant {
        // The heartbeat only runs while linked: a past heartbeat time while
        // Redis is away would make the loop spin.
        let far = self
            .links
            .iter()
            .map(|l| l.retry_at)
            .max()
            .unwrap_or(self.next_heartbeat);
        let mut at = if self.up {
            self.next_heartbeat
        } else {
            far.max(self.next_heartbeat)
        };
        for l in &self.links {
            let due = match l.state {
                LinkState::Down => l.retry_at,
                LinkState::Connecting | LinkState::Handshake => l.since + CONNECT_TIMEOUT,
                LinkState::Ready => continue,
            };
            at = at.min(due);
        }
        // A reply or a PONG that does not come: noticed on time, not at
        // the next heartbeat.
        let oldest = self.pending.front().map(|(_, sent)| *sent);
        for sent in [oldest, self.ping_sent].into_iter().flatten() {
            at = at.min(sent + REPLY_TIMEOUT);
        }
        at
    }

    /// Heartbeats and time-outs.
    pub fn tick(&mut self, now: Instant) {
        for l in &mut self.links {
            let stuck = matches!(l.state, LinkState::Connecting | LinkState::Handshake)
                && now >= l.since + CONNECT_TIMEOUT;
            if stuck {
                l.reset = true;
            }
        }
        if !self.up {
            return;
        }
        let oldest_reply = self.pending.front().map(|(_, at)| *at);
        let late = |sent: Option<Instant>| sent.is_some_and(|at| now >= at + REPLY_TIMEOUT);
        if late(oldest_reply) {
            return self.reset("Redis stopped answering");
        }
        if late(self.ping_sent) {
            return self.reset("the subscription stopped answering PING");
        }
        if now >= self.next_heartbeat {
            self.heartbeat(now);
        }
    }

    /// Says this node is alive, reaps nodes that are not, and pings the
    /// subscription (a half-open TCP or a subscriber Redis dropped would
    /// otherwise look like a quiet room forever).
    pub(super) fn heartbeat(&mut self, now: Instant) {
        self.next_heartbeat = now + HEARTBEAT;
        let alive = scripts::alive_key(&self.node);
        let ttl = ALIVE_TTL_MS.to_string();
        let node = self.node.clone();
        self.command(
            CMD,
            &[b"SET", alive.as_bytes(), b"1", b"PX", ttl.as_bytes()],
            Some(Pending::Ignore),
        );
        self.command(
            CMD,
            &[b"SADD", NODES_KEY.as_bytes(), node.as_bytes()],
            Some(Pending::Ignore),
        );
        let sha = self.shas[2].clone();
        self.command(
            CMD,
            &[b"EVALSHA", sha.as_bytes(), b"0", b""],
            Some(Pending::Ignore),
        );
        if self.ping_sent.is_none() {
            self.command(SUB, &[b"PING"], None);
            self.ping_sent = Some(now);
        }
    }

    /// Outbox bytes (`wsloop_cluster_outbox_bytes`).
    pub fn outbox_len(&self) -> usize {
        self.outbox.len() + self.in_flight.len()
    }
}
