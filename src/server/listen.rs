//! The listening socket and new connections: the socket as mio makes it
//! (SO_REUSEADDR, backlog 1024), or with `--reuse-port` also SO_REUSEPORT,
//! so that several wsloop processes on one machine share the port and the
//! kernel spreads new connections among them (that option must be set
//! between `socket()` and `bind()`, which neither std nor mio expose:
//! socket2 makes the socket); then accepting, and each new client's entry
//! in the table.

use std::io;
use std::net::SocketAddr;

use log::warn;
use mio::net::{TcpListener, TcpStream};
use mio::{Interest, Token};
use socket2::{Domain, Protocol, Socket, Type};

use super::{ACCEPT_BACKOFF, Client, REFUSAL_SLOTS, Server};
use crate::connection::Connection;
use crate::error::HandshakeError;
use crate::routes::Route;
use crate::timers::TimerKind;

/// Binds and listens on `addr`.
pub(super) fn bind(addr: SocketAddr, reuse_port: bool) -> io::Result<TcpListener> {
    if !reuse_port {
        return TcpListener::bind(addr);
    }
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(TcpListener::from_std(socket.into()))
}

impl Server {
    pub(super) fn accept(&mut self) {
        while self.accepting {
            let (socket, peer) = match self.listener.accept() {
                Ok(accepted) => accepted,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::ConnectionAborted => continue,
                Err(e) => {
                    // EMFILE/ENFILE/ENOBUFS: the pending connection stays in
                    // the backlog and epoll will not report it again, so
                    // retry on a timer instead of spinning.
                    warn!("accept failed: {e}; pausing accepts for {ACCEPT_BACKOFF:?}");
                    self.accepting = false;
                    let at = self.shared.now + ACCEPT_BACKOFF;
                    self.shared
                        .timers
                        .schedule(at, TimerKind::AcceptRetry, 0, 0);
                    return;
                }
            };
            self.add_client(socket, peer);
        }
    }

    fn add_client(&mut self, mut socket: TcpStream, peer: SocketAddr) {
        let max = self.shared.config.max_connections;
        let busy = self.clients.len() >= max;
        // While shutting down, connections are still taken (until
        // --close-timeout): `/healthz` answers 503, an upgrade gets 503.
        if self.clients.len() >= max + REFUSAL_SLOTS {
            return; // dropped: closes the socket
        }
        // Small frames go out at once; the loop already batches writes.
        let _ = socket.set_nodelay(true);
        let entry = self.clients.vacant_entry();
        let key = entry.key();
        if let Err(e) = self
            .poll
            .registry()
            .register(&mut socket, Token(key), Interest::READABLE)
        {
            warn!("cannot register a connection from {peer}: {e}");
            return;
        }
        let id = self.next_id;
        self.next_id += 1;
        let secs = self.shared.now.duration_since(self.started).as_secs() as u32;
        let mut conn = Connection::new(id, peer, secs);
        let mut route = Route::None;
        let (mut env, _) = self.shared.split(&mut route);
        if busy {
            conn.refuse(key, &HandshakeError::Busy, &mut env);
        } else {
            let at = env.now + env.config.handshake_timeout;
            env.timers.schedule(at, TimerKind::Handshake, key, id);
        }
        entry.insert(Client {
            socket,
            conn,
            route,
            wants_writable: false,
            read_paused: false,
            hangup: false,
            accounted: 0,
        });
        self.shared.routes.metrics.connections = self.clients.len() as u64;
        // No read here: epoll reports a socket that is already readable
        // when it is registered, so the request comes as an event.
        if busy {
            self.mark_dirty(key);
        }
    }
}
