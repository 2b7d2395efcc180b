//! One connection to Redis, without the socket: what to write, what was
//! read, and when to try again. The server owns the socket and moves bytes
//! (as it does for WebSocket connections); this knows the state.
//!
//! Reconnecting: capped exponential backoff with jitter and no attempt
//! limit (100 ms, 200 ms, … 5 s, each times a random 0.5–1.0), so a fleet
//! of nodes does not hammer a Redis that comes back, and a node never gives
//! up on one that is gone for an hour.

use std::time::{Duration, Instant};

use super::resp::{Limits, RespReader};

const BACKOFF_FIRST: Duration = Duration::from_millis(100);
const BACKOFF_CAP: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkState {
    /// No socket; the server dials at `retry_at`.
    Down,
    /// The server is dialling (non-blocking connect in progress).
    Connecting,
    /// Connected; the hello commands are on their way.
    Handshake,
    /// Replies to the hello came back: usable.
    Ready,
}

#[derive(Debug)]
pub struct Link {
    pub state: LinkState,
    /// Bytes for the socket, written by the server.
    pub out: Vec<u8>,
    pub reader: RespReader,
    /// When the server should dial next (state Down).
    pub retry_at: Instant,
    /// When the state last changed (connect and handshake time-outs).
    pub since: Instant,
    /// Failed attempts since the last time the link was ready.
    failures: u32,
    /// Set when the cluster wants the socket closed (a time-out, an error
    /// reply that poisons the link); the server closes it and reports
    /// [`super::super::routes::chat::cluster`] the link down.
    pub reset: bool,
}

impl Link {
    pub fn new(now: Instant) -> Link {
        Link {
            state: LinkState::Down,
            out: Vec::new(),
            reader: RespReader::new(Limits::default()),
            retry_at: now,
            since: now,
            failures: 0,
            reset: false,
        }
    }

    pub fn set_state(&mut self, state: LinkState, now: Instant) {
        self.state = state;
        self.since = now;
        if state == LinkState::Ready {
            self.failures = 0;
        }
    }

    /// The socket is gone: forget its bytes and pick the next attempt's
    /// time. `random` is any random number (the jitter).
    pub fn down(&mut self, now: Instant, random: u64) {
        self.out = Vec::new();
        self.reader.clear();
        self.reset = false;
        self.set_state(LinkState::Down, now);
        self.retry_at = now + backoff(self.failures, random);
        self.failures = self.failures.saturating_add(1);
    }

    pub fn is_ready(&self) -> bool {
        self.state == LinkState::Ready
    }
}

/// The wait before attempt `failures + 1`: doubling from 100 ms, capped at
/// 5 s, then scaled by a random factor in [0.5, 1.0).
pub fn backoff(failures: u32, random: u64) -> Duration {
    let doubled = BACKOFF_FIRST.saturating_mul(1u32.checked_shl(failures.min(16)).unwrap_or(1));
    let capped = doubled.min(BACKOFF_CAP);
    let per_mille = 500 + (random % 500) as u32;
    capped * per_mille / 1000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_then_stays_capped_with_jitter() {
        assert_eq!(backoff(0, 0), Duration::from_millis(50));
        assert_eq!(backoff(0, 499), Duration::from_micros(99_900));
        assert_eq!(backoff(1, 0), Duration::from_millis(100));
        assert_eq!(backoff(3, 0), Duration::from_millis(400));
        for failures in [6, 7, 20, 1000, u32::MAX] {
            let wait = backoff(failures, 0);
            assert_eq!(wait, Duration::from_millis(2500), "{failures}");
            assert!(backoff(failures, 499) < BACKOFF_CAP);
        }
    }

    #[test]
    fn a_link_that_goes_down_waits_longer_each_time_until_ready() {
        let t0 = Instant::now();
        let mut link = Link::new(t0);
        link.down(t0, 0);
        let first = link.retry_at - t0;
        link.down(t0, 0);
        let second = link.retry_at - t0;
        assert!(second > first);
        link.set_state(LinkState::Ready, t0);
        link.down(t0, 0);
        assert_eq!(link.retry_at - t0, first);
    }
}
