//! Deadlines for the poll loop. mio has no timers: the loop sets its alarm
//! (`server/alarm.rs`) for the nearest deadline, sleeps in `poll` until a
//! socket or the alarm wakes it, then fires what is due.
//!
//! A min-heap ordered by deadline, so the loop never scans connections to
//! find out what is due. Entries are not removed when a deadline changes:
//! each names the connection by slab key *and* id, and the handler checks
//! that the connection still wants it (a cheap, lazy cancel).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

/// What a deadline is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TimerKind {
    /// --handshake-timeout: the upgrade must be done by then. If it is, the
    /// same timer becomes the first idle check (one heap entry per
    /// connection, not two: this is what an idle connection costs).
    Handshake,
    /// --close-timeout after the server sent its close.
    CloseReply,
    /// How long a finishing connection may take to flush and be closed.
    Linger,
    /// Has an open connection been silent since the last check?
    Idle,
    /// Has the message in progress grown since the last check?
    Progress,
    /// A route's own timer (the next `/guest` push): delivered to the
    /// route as `AppEvent::Timer`.
    Route,
    /// Try `accept` again after running out of file descriptors.
    AcceptRetry,
    /// Shutting down: stop waiting for clients' close replies.
    Shutdown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timer {
    pub at: Instant,
    pub conn_id: u64,
    /// The connection's slab key (u32: keeps the entry at 32 bytes).
    pub key: u32,
    pub kind: TimerKind,
}

#[derive(Debug, Default)]
pub struct Timers {
    heap: BinaryHeap<Reverse<Timer>>,
}

impl Timers {
    /// Reserves room for `n` timers up front. Pages not yet touched cost no
    /// memory, and the heap never has to be copied while it grows.
    pub fn with_capacity(n: usize) -> Timers {
        Timers {
            heap: BinaryHeap::with_capacity(n),
        }
    }

    pub fn schedule(&mut self, at: Instant, kind: TimerKind, key: usize, conn_id: u64) {
        self.heap.push(Reverse(Timer {
            at,
            conn_id,
            key: key as u32,
            kind,
        }));
    }

    /// The nearest deadline, if any: the loop's alarm is set for it.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse(t)| t.at)
    }

    /// Takes the next timer that is due at `now`, if any.
    pub fn pop_due(&mut self, now: Instant) -> Option<Timer> {
        match self.heap.peek() {
            Some(Reverse(t)) if t.at <= now => self.heap.pop().map(|Reverse(t)| t),
            _ => None,
        }
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn due_timers_come_out_in_deadline_order() {
        let now = Instant::now();
        let mut t = Timers::default();
        t.schedule(now + Duration::from_millis(30), TimerKind::Idle, 1, 1);
        t.schedule(now + Duration::from_millis(10), TimerKind::Handshake, 2, 2);
        t.schedule(now + Duration::from_millis(20), TimerKind::Route, 3, 3);
        assert_eq!(t.next_deadline(), Some(now + Duration::from_millis(10)));
        assert!(t.pop_due(now).is_none());
        let later = now + Duration::from_millis(25);
        assert_eq!(t.pop_due(later).unwrap().key, 2);
        assert_eq!(t.pop_due(later).unwrap().key, 3);
        assert!(t.pop_due(later).is_none());
        assert_eq!(t.len(), 1);
    }
}
