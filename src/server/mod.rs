//! The poll loop: one thread, one `mio::Poll`, every connection a token.
//!
//! Each turn of the loop:
//! 1. sleep in `poll` until a socket is ready or the alarm for the nearest
//!    deadline rings;
//! 2. accept, read and parse everything that is ready (mio is
//!    edge-triggered: read until `WouldBlock`, or until a fairness budget
//!    is spent and the rest waits for the next turn);
//! 3. fire due timers;
//! 4. hand each room's gathered broadcast, encoded once, to its members;
//! 5. write every connection that has something queued, once, with one
//!    vectored write — and ask for WRITABLE only when the socket is full.

mod alarm;
mod console;
mod deadlines;
mod delivery;
mod listen;
mod redis;

use delivery::mark_dirty;

use std::io::{self, Read};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use log::info;
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token, Waker};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook_mio::v1_0::Signals;
use slab::Slab;

use crate::clock::Clock;
use crate::config::Config;
use crate::connection::{Connection, Env, Phase};
use crate::error::close_code;
use crate::operator::{self, Input};
use crate::routes::{self, Route, Router, State};
use crate::timers::Timers;
use crate::upload_worker::UploadWorker;

const LISTENER: Token = Token(usize::MAX - 1);
const SIGNALS: Token = Token(usize::MAX - 2);
/// The one waker (mio allows one per Poll): the stdin reader and the upload
/// worker both use it.
const WAKER: Token = Token(usize::MAX - 3);
/// The alarm for the nearest deadline (the Redis sockets take MAX - 4, - 5).
const ALARM: Token = Token(usize::MAX - 6);

/// One read buffer for the whole loop: connections keep only the leftover
/// of a partial frame, never a buffer of their own.
const SCRATCH_LEN: usize = 64 * 1024;
/// Reads per connection per turn before others get theirs (fairness).
const READS_PER_TURN: usize = 16;
/// A connection whose own replies pile up past this is not read from until
/// they drain: TCP pushes back on a client that sends but does not read.
const READ_PAUSE_BACKLOG: usize = 1 << 20;
/// Connections over --max-connections still accepted just to answer 503.
const REFUSAL_SLOTS: usize = 64;
/// How long to stop accepting after running out of file descriptors.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

struct Client {
    socket: TcpStream,
    conn: Connection,
    /// What the connection was upgraded to: the routes' business, kept
    /// here so that the connection knows only the protocol.
    route: Route,
    /// WRITABLE is registered (only while the socket is full).
    wants_writable: bool,
    /// Reading paused while our replies to this client are backed up.
    read_paused: bool,
    /// An event said the peer hung up: read on to the end even after a
    /// short read (edge-triggered epoll will not say it again).
    hangup: bool,
    /// What this client holds as counted in `Shared::memory_used` (u32,
    /// saturating: an idle connection pays 4 bytes for it).
    accounted: u32,
}

/// Brings the server-wide count up to date with what `client` holds now.
fn account(client: &mut Client, memory_used: &mut usize) {
    let now = u32::try_from(client.conn.memory()).unwrap_or(u32::MAX);
    *memory_used = memory_used.saturating_sub(client.accounted as usize) + now as usize;
    client.accounted = now;
}

/// What the protocol and the routes share, kept apart from the connection
/// table so that a connection and its context can be borrowed together.
struct Shared {
    config: Config,
    timers: Timers,
    now: Instant,
    routes: State,
    /// Partial messages and outbound queues of all clients (--max-memory).
    memory_used: usize,
}

impl Shared {
    /// The protocol's view ([`Env`]) and the routes' ([`Router`]) for the
    /// connection whose route is `route`.
    fn split<'a>(&'a mut self, route: &'a mut Route) -> (Env<'a>, Router<'a>) {
        let env = Env {
            config: &self.config,
            now: self.now,
            timers: &mut self.timers,
            memory_room: usize::MAX,
        };
        let router = Router {
            route,
            config: &self.config,
            state: &mut self.routes,
        };
        (env, router)
    }
}

pub struct Server {
    poll: Poll,
    listener: TcpListener,
    clients: Slab<Client>,
    shared: Shared,
    scratch: Vec<u8>,
    dirty: Vec<usize>,
    /// Connections whose read budget ran out while data was left.
    pending_reads: Vec<usize>,
    /// Connections whose route asked to close, closed after this round.
    closing: Vec<usize>,
    next_id: u64,
    signals: Signals,
    console: Option<Receiver<Input>>,
    _waker: Arc<Waker>,
    alarm: alarm::Alarm,
    accepting: bool,
    /// The listener is registered: false once the shutdown's grace period
    /// is over (no more accepts, not even after an accept back-off).
    listening: bool,
    started: Instant,
    /// Set when a shutdown began: stop once every client is gone.
    shutting_down: bool,
    /// The cluster's Redis sockets (`--redis`).
    redis: Option<redis::RedisSockets>,
}

impl Server {
    /// Binds the listener. Errors here are the user's to fix (port in use).
    pub fn bind(config: Config) -> io::Result<Server> {
        let poll = Poll::new()?;
        let addr = SocketAddr::new(config.host, config.port);
        let mut listener = listen::bind(addr, config.reuse_port)?;
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)?;
        let mut signals = Signals::new([SIGINT, SIGTERM])?;
        poll.registry()
            .register(&mut signals, SIGNALS, Interest::READABLE)?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        let alarm = alarm::Alarm::new(poll.registry(), ALARM)?;
        let console = if config.operator {
            Some(operator::spawn_stdin_reader(waker.clone())?)
        } else {
            None
        };
        let uploads =
            UploadWorker::spawn(config.uploads.clone(), config.upload_limits, waker.clone())?;
        // Room for every allowed connection up front: untouched pages cost
        // no memory, and the table is never copied while it grows.
        let capacity = config.max_connections + REFUSAL_SLOTS;
        let mut routes = State::new(Clock::local(), Some(uploads));
        let mut redis = None;
        if let Some(url) = &config.redis {
            // The one name lookup, before the loop runs (see cluster::url).
            let addr = url.resolve().map_err(io::Error::other)?;
            redis = Some(redis::RedisSockets::new(addr));
            let node = config.node.clone();
            routes.rooms.id_suffix = format!("@{node}");
            let cluster = routes::chat::cluster::Cluster::new(
                url.clone(),
                node,
                config.cluster_outbox,
                Instant::now(),
            );
            routes.cluster = Some(cluster);
        }
        Ok(Server {
            poll,
            listener,
            clients: Slab::with_capacity(capacity),
            shared: Shared {
                config,
                timers: Timers::with_capacity(capacity),
                now: Instant::now(),
                routes,
                memory_used: 0,
            },
            scratch: vec![0; SCRATCH_LEN],
            dirty: Vec::new(),
            pending_reads: Vec::new(),
            closing: Vec::new(),
            next_id: 1,
            signals,
            console,
            _waker: waker,
            alarm,
            accepting: true,
            listening: true,
            started: Instant::now(),
            shutting_down: false,
            redis,
        })
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Runs until a signal or `/quit` has closed every client.
    pub fn run(&mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        // The codec is the loop thread's own: set up here, where it runs.
        crate::deflate::set_level(self.shared.config.deflate_level);
        loop {
            // The clock read after the last poll, plus this turn's work: the
            // sleep may end a few microseconds after the deadline, never
            // before it.
            // Work left from the last round (a read budget spent, room
            // events raised while flushing): do not sleep.
            let idle = self.pending_reads.is_empty()
                && !self.redis_has_more()
                && self.closing.is_empty()
                && !self.shared.routes.rooms.has_pending();
            let timeout = if idle {
                self.sleep_until(self.next_deadline())
            } else {
                Some(Duration::ZERO)
            };
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            self.shared.now = Instant::now();
            for key in std::mem::take(&mut self.pending_reads) {
                self.read_client(key, false);
            }
            self.read_redis_more();
            for event in events.iter() {
                match event.token() {
                    LISTENER => self.accept(),
                    SIGNALS => self.on_signals(),
                    ALARM => self.alarm.rang(),
                    WAKER => {
                        self.on_console();
                        self.on_uploads();
                    }
                    token if token == redis::TOKENS[0] => self.on_redis_event(0, event),
                    token if token == redis::TOKENS[1] => self.on_redis_event(1, event),
                    Token(key) => {
                        let hangup = event.is_read_closed() || event.is_error();
                        if event.is_readable() || hangup {
                            self.read_client(key, hangup);
                        }
                        if event.is_writable() {
                            self.mark_dirty(key);
                        }
                    }
                }
            }
            self.fire_timers();
            self.redis_sync();
            self.deliver();
            self.flush_dirty();
            if self.shutting_down && self.clients.is_empty() {
                info!("all clients gone; bye");
                return Ok(());
            }
        }
    }

    /// Reads what the socket has, feeding it to the connection.
    ///
    /// A read shorter than the buffer means the socket was drained at that
    /// moment, and with edge-triggered epoll any later data raises a new
    /// event: no need for one more `read` just to see `EAGAIN` — unless the
    /// event said the peer hung up, when we read on to find the end.
    fn read_client(&mut self, key: usize, hangup: bool) {
        let Some(client) = self.clients.get_mut(key) else {
            return;
        };
        client.hangup |= hangup;
        let hangup = client.hangup;
        for _ in 0..READS_PER_TURN {
            if client.conn.out.len() >= READ_PAUSE_BACKLOG {
                client.read_paused = true;
                self.mark_dirty(key);
                return;
            }
            match client.socket.read(&mut self.scratch) {
                Ok(0) => {
                    // The peer closed its side. In Finishing this is the
                    // end we waited for; anywhere else it is abnormal (1006).
                    if client.conn.phase == Phase::Finishing && !client.conn.out.is_empty() {
                        return self.mark_dirty(key);
                    }
                    return self.remove(key);
                }
                Ok(n) => {
                    let others = self
                        .shared
                        .memory_used
                        .saturating_sub(client.accounted as usize);
                    let room = self.shared.config.max_memory.saturating_sub(others);
                    let (mut env, mut router) = self.shared.split(&mut client.route);
                    env.memory_room = room;
                    let data = &mut self.scratch[..n];
                    client.conn.on_bytes(key, data, &mut env, &mut router);
                    account(client, &mut self.shared.memory_used);
                    if client.conn.wants_close() {
                        self.closing.push(key);
                    }
                    // A close reply to our close leaves nothing queued but
                    // still needs a flush: that is where our FIN goes out.
                    let finishing =
                        client.conn.phase == Phase::Finishing && !client.conn.write_shut;
                    if finishing || !client.conn.out.is_empty() {
                        mark_dirty(client, &mut self.dirty, key);
                    }
                    if n < self.scratch.len() && !hangup {
                        // Replies to what was just read (an echo, a pong)
                        // go out now, in one write, while the bytes are hot
                        // in cache; broadcasts still gather until the end
                        // of the round.
                        return self.flush(key);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return self.remove(key),
            }
        }
        self.pending_reads.push(key);
    }

    fn mark_dirty(&mut self, key: usize) {
        if let Some(client) = self.clients.get_mut(key) {
            mark_dirty(client, &mut self.dirty, key);
        }
    }

    fn remove(&mut self, key: usize) {
        if !self.clients.contains(key) {
            return;
        }
        let mut client = self.clients.remove(key);
        self.shared.routes.metrics.connections = self.clients.len() as u64;
        let _ = self.poll.registry().deregister(&mut client.socket);
        self.shared.memory_used = self
            .shared
            .memory_used
            .saturating_sub(client.accounted as usize);
        let conn = &client.conn;
        if client.route != Route::None {
            let code = conn.close_code.unwrap_or(close_code::ABNORMAL);
            info!(
                "#{} closed ({} {})",
                conn.id,
                code,
                close_code::meaning(code)
            );
            // Gone without a closing handshake: the routes learn it here.
            routes::on_gone(client.route, key, conn.id, &mut self.shared.routes);
        }
        if self.shared.routes.last_speaker == Some(conn.id) {
            self.shared.routes.last_speaker = None;
        }
    }
}
