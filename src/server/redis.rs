//! The cluster's two Redis sockets, in the same poll as every client: a
//! non-blocking connect, reads handed to the cluster as bytes, its output
//! written as the socket takes it. No thread, no blocking call: a Redis
//! that hangs costs the loop nothing, and the cluster notices by its own
//! time-outs ([`crate::routes::chat::cluster`]).

use std::io::{self, Read, Write};
use std::net::SocketAddr;

use log::debug;
use mio::event::Event;
use mio::net::TcpStream;
use mio::{Interest, Token};

use super::Server;
use crate::cluster::link::LinkState;

/// The tokens of the command link and the subscriber link.
pub(super) const TOKENS: [Token; 2] = [Token(usize::MAX - 4), Token(usize::MAX - 5)];

pub(super) struct RedisSockets {
    /// Resolved once, at start (a name lookup would block the loop).
    pub addr: SocketAddr,
    sockets: [Option<TcpStream>; 2],
    /// A read filled the buffer: more may wait, read it next round. One
    /// buffer per round, so a burst from Redis (a backfill, a room's
    /// catch-up) is delivered and flushed in slices, never as one round
    /// too big for the members' backlog limit.
    pub more: [bool; 2],
}

impl RedisSockets {
    pub fn new(addr: SocketAddr) -> RedisSockets {
        RedisSockets {
            addr,
            sockets: [None, None],
            more: [false, false],
        }
    }
}

impl Server {
    /// A Redis socket is ready: finish its connect, read what it has.
    pub(super) fn on_redis_event(&mut self, link: usize, event: &Event) {
        let now = self.shared.now;
        let routes = &mut self.shared.routes;
        let (Some(cl), Some(io)) = (routes.cluster.as_mut(), self.redis.as_mut()) else {
            return;
        };
        let (Some(Some(socket)), Some(state)) = (
            io.sockets.get_mut(link),
            cl.links.get(link).map(|l| l.state),
        ) else {
            return;
        };
        if state == LinkState::Connecting {
            // A non-blocking connect is done when the socket is writable:
            // with an error, or with a peer.
            match socket.take_error() {
                Ok(None) => {}
                Ok(Some(_)) | Err(_) => return fail(cl, link),
            }
            match socket.peer_addr() {
                Ok(_) => cl.on_connected(link, now),
                Err(e) if e.kind() == io::ErrorKind::NotConnected => return,
                Err(_) => return fail(cl, link),
            }
        }
        if event.is_readable() || event.is_read_closed() || event.is_error() {
            self.read_redis(link);
        }
    }

    /// One buffer's worth from a Redis socket (see [`RedisSockets::more`]).
    pub(super) fn read_redis(&mut self, link: usize) {
        let now = self.shared.now;
        let routes = &mut self.shared.routes;
        let (Some(cl), Some(io)) = (routes.cluster.as_mut(), self.redis.as_mut()) else {
            return;
        };
        let Some(Some(socket)) = io.sockets.get_mut(link) else {
            return;
        };
        let clock = routes.clock;
        let more = loop {
            match socket.read(&mut self.scratch) {
                Ok(0) => {
                    fail(cl, link);
                    break false;
                }
                Ok(n) => {
                    let bytes = self.scratch.get(..n).unwrap_or_default();
                    cl.on_bytes(link, bytes, &mut routes.rooms, &clock, now);
                    break n == self.scratch.len();
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    fail(cl, link);
                    break false;
                }
            }
        };
        if let Some(m) = io.more.get_mut(link) {
            *m = more;
        }
    }

    /// Links whose last read filled the buffer: read on.
    pub(super) fn read_redis_more(&mut self) {
        for link in 0..2 {
            if self
                .redis
                .as_ref()
                .is_some_and(|io| io.more.get(link) == Some(&true))
            {
                self.read_redis(link);
            }
        }
    }

    /// Is a Redis read waiting for the next round?
    pub(super) fn redis_has_more(&self) -> bool {
        self.redis
            .as_ref()
            .is_some_and(|io| io.more.contains(&true))
    }

    /// Once per round: time-outs and heartbeats, links to drop or to dial,
    /// and what the cluster has for Redis written out.
    pub(super) fn redis_sync(&mut self) {
        let now = self.shared.now;
        let routes = &mut self.shared.routes;
        let (Some(cl), Some(io)) = (routes.cluster.as_mut(), self.redis.as_mut()) else {
            return;
        };
        cl.tick(now);
        if cl.links.iter().any(|l| l.reset) {
            for socket in &mut io.sockets {
                if let Some(mut s) = socket.take() {
                    let _ = self.poll.registry().deregister(&mut s);
                }
            }
            io.more = [false, false];
            cl.on_link_down(&mut routes.rooms, now);
        }
        for (link, token) in TOKENS.into_iter().enumerate() {
            let (Some(l), Some(socket)) = (cl.links.get_mut(link), io.sockets.get_mut(link)) else {
                continue;
            };
            if l.state == LinkState::Down && now >= l.retry_at {
                match TcpStream::connect(io.addr) {
                    Ok(mut s) => {
                        let interest = Interest::READABLE | Interest::WRITABLE;
                        if self
                            .poll
                            .registry()
                            .register(&mut s, token, interest)
                            .is_ok()
                        {
                            let _ = s.set_nodelay(true);
                            *socket = Some(s);
                            l.set_state(LinkState::Connecting, now);
                        }
                    }
                    Err(e) => {
                        debug!("cluster: connect to {}: {e}", io.addr);
                        l.reset = true;
                    }
                }
                continue;
            }
            let Some(s) = socket.as_mut() else {
                continue;
            };
            if l.state == LinkState::Connecting || l.out.is_empty() {
                continue;
            }
            let mut written = 0;
            while written < l.out.len() {
                match s.write(l.out.get(written..).unwrap_or_default()) {
                    Ok(0) => {
                        l.reset = true;
                        break;
                    }
                    Ok(n) => written += n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => {
                        l.reset = true;
                        break;
                    }
                }
            }
            l.out.drain(..written);
        }
    }
}

fn fail(cl: &mut crate::routes::chat::cluster::Cluster, link: usize) {
    if let Some(l) = cl.links.get_mut(link) {
        l.reset = true;
    }
}
