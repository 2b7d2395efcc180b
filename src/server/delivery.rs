//! The write side of the loop: each round's broadcasts and replies handed
//! to the connections' queues (broadcast bytes shared, never copied per
//! receiver), the answers of the upload worker, and the flush — one
//! vectored write per connection per round, WRITABLE asked for only while
//! a socket is full.

use std::net::Shutdown;
use std::rc::Rc;

use log::warn;
use mio::{Interest, Token};
use slab::Slab;

use super::{Client, Server};
use crate::connection::Phase;
use crate::outqueue::Flushed;
use crate::routes;

impl Server {
    /// Files the upload worker finished: each answer goes to its
    /// connection, if it is still the one that sent the file and still open.
    pub(super) fn on_uploads(&mut self) {
        let Some(worker) = &self.shared.routes.uploads else {
            return;
        };
        let done: Vec<_> = worker.results().collect();
        for done in done {
            let key = done.key;
            let Some(client) = self.clients.get_mut(key) else {
                continue;
            };
            if client.conn.id != done.conn_id || client.conn.phase != Phase::Open {
                continue;
            }
            let (mut env, mut router) = self.shared.split(&mut client.route);
            client.conn.act(key, &mut env, &mut router, |router, h| {
                routes::upload::on_done(h, done);
                router.count_sends(h.sends());
            });
            if client.conn.wants_close() {
                self.closing.push(key);
            }
            self.mark_dirty(key);
        }
    }

    /// Hands this round's broadcasts and direct messages to their queues.
    pub(super) fn deliver(&mut self) {
        let (clients, dirty) = (&mut self.clients, &mut self.dirty);
        let limit = self.shared.config.backlog_limit();
        let mut over = Vec::new();
        let mut delivered = 0u64;
        self.shared
            .routes
            .rooms
            .deliver_round(|key, id, bytes, frames| {
                match push_to(clients, dirty, key, id, bytes, limit) {
                    Pushed::Queued => delivered += u64::from(frames),
                    Pushed::Skipped => {}
                    Pushed::OverLimit => over.push(key),
                }
            });
        self.shared.routes.metrics.deliveries_total += delivered;
        // Sized from the encoded bytes before they are queued: a member
        // whose queue cannot take this round's events is not reading, and
        // is dropped as a flush over the limit would drop it (a close frame
        // behind a full queue would never be read).
        for key in over {
            if let Some(client) = self.clients.get(key) {
                warn!(
                    "#{} dropped: {} bytes queued, and the next broadcast would pass the backlog limit {} (client not reading)",
                    client.conn.id,
                    client.conn.out.len(),
                    limit
                );
            }
            self.cut(key);
        }
        // Closes routes asked for go out after what the round held for the
        // same clients (the error event that explains a close comes first).
        for key in std::mem::take(&mut self.closing) {
            if let Some(client) = self.clients.get_mut(key) {
                let (mut env, mut router) = self.shared.split(&mut client.route);
                client.conn.carry_out_close(key, &mut env, &mut router);
                mark_dirty(client, &mut self.dirty, key);
            }
        }
        // Console lines go to the output writer thread: queued, never a
        // blocking write on the loop.
        for line in self.shared.routes.console.drain(..) {
            crate::output::console_line(line);
        }
    }

    pub(super) fn flush_dirty(&mut self) {
        let mut dirty = std::mem::take(&mut self.dirty);
        for key in dirty.drain(..) {
            self.flush(key);
        }
        // Keep the list's memory for the next turn.
        if self.dirty.is_empty() {
            self.dirty = dirty;
        }
    }

    pub(super) fn flush(&mut self, key: usize) {
        // Not dirty: flushed since it was listed (a reply goes out right
        // after its read, and stays on the round's list), or never listed.
        let Some(client) = self.clients.get_mut(key).filter(|c| c.conn.dirty) else {
            return;
        };
        client.conn.dirty = false;
        let flushed = client.conn.out.write_to(&mut client.socket);
        super::account(client, &mut self.shared.memory_used);
        match flushed {
            Ok(Flushed::All) => {
                // The first flush is the handshake reply: a connection that
                // never gets more keeps no queue memory while idle.
                client.conn.flushes = client.conn.flushes.saturating_add(1);
                if client.conn.flushes < 2 {
                    client.conn.out.release();
                }
                if client.wants_writable {
                    client.wants_writable = false;
                    let _ = self.poll.registry().reregister(
                        &mut client.socket,
                        Token(key),
                        Interest::READABLE,
                    );
                }
                if client.conn.phase == Phase::Finishing && !client.conn.write_shut {
                    // §7.1.1: the server closes the TCP connection first;
                    // shutting down the write side sends our FIN after the
                    // last frame, then we read until the peer's FIN.
                    client.conn.write_shut = true;
                    let _ = client.socket.shutdown(Shutdown::Write);
                }
                if client.read_paused {
                    client.read_paused = false;
                    self.pending_reads.push(key);
                }
            }
            Ok(Flushed::WouldBlock) => {
                let backlog = client.conn.out.len();
                let limit = self.shared.config.backlog_limit();
                if backlog > limit {
                    warn!(
                        "#{} dropped: {} bytes queued, over the backlog limit {} (client not reading)",
                        client.conn.id, backlog, limit
                    );
                    return self.cut(key);
                }
                if !client.wants_writable {
                    client.wants_writable = true;
                    let _ = self.poll.registry().reregister(
                        &mut client.socket,
                        Token(key),
                        Interest::READABLE | Interest::WRITABLE,
                    );
                }
            }
            Err(_) => self.remove(key),
        }
    }

    /// Drops a client that stopped reading (its backlog passed the limit),
    /// counted in `wsloop_clients_dropped_total` unless it was already
    /// closing (then any limit that closed it was counted).
    fn cut(&mut self, key: usize) {
        if let Some(client) = self.clients.get(key)
            && client.conn.close_code.is_none()
        {
            self.shared.routes.metrics.clients_dropped_total += 1;
        }
        self.remove(key);
    }
}

/// What became of shared bytes meant for one connection.
enum Pushed {
    /// Written or queued.
    Queued,
    /// Not for it any more (gone, or no longer open), or it is being
    /// closed for its backlog already.
    Skipped,
    /// Not queued: they would take its backlog past the limit.
    OverLimit,
}

/// Queues shared bytes for connection `key`, if it is still the connection
/// `id` meant and still open; marks it for this round's flush.
fn push_to(
    clients: &mut Slab<Client>,
    dirty: &mut Vec<usize>,
    key: usize,
    id: u64,
    bytes: &Rc<[u8]>,
    limit: usize,
) -> Pushed {
    let Some(client) = clients.get_mut(key) else {
        return Pushed::Skipped;
    };
    if client.conn.id != id || client.conn.phase != Phase::Open {
        return Pushed::Skipped;
    }
    if client.conn.out.len() + bytes.len() > limit {
        // A client already being closed for its backlog just misses the
        // rest: its close frame still goes out.
        if client.conn.wants_close() {
            return Pushed::Skipped;
        }
        return Pushed::OverLimit;
    }
    // A queue that is empty (most members, most rounds) is written now:
    // one send, no queue push, no flush pass later.
    if !client.wants_writable
        && client
            .conn
            .out
            .write_or_push_shared(bytes, &mut client.socket)
    {
        client.conn.flushes = client.conn.flushes.saturating_add(1);
        return Pushed::Queued;
    }
    if client.wants_writable {
        client.conn.out.push_shared(bytes.clone());
    }
    mark_dirty(client, dirty, key);
    Pushed::Queued
}

/// Puts a connection on this round's flush list, once.
pub(super) fn mark_dirty(client: &mut Client, dirty: &mut Vec<usize>, key: usize) {
    if !client.conn.dirty {
        client.conn.dirty = true;
        dirty.push(key);
    }
}
