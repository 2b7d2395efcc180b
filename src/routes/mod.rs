//! What each path does with a connection's messages. A route is told about
//! an event and says what to send, broadcast or close; it never touches a
//! socket or a mio type.
//!
//! | path                     | route                                         |
//! |--------------------------|-----------------------------------------------|
//! | `/`, `/chat`, `/chat/r`  | [`chat`]: a broadcast room (plain or JSON v1) |
//! | `/echo`                  | every message back, same opcode               |
//! | `/guest`                 | [`guest`]: timed JSON pushes                  |
//! | `/upload`                | [`upload`]: binary messages become files      |
//! | `/inspect`               | [`inspect`]: every frame dissected, as JSON   |
//! | `/healthz`, `/metrics`   | [`ops`]: plain HTTP GET, for operators        |

pub mod chat;
pub mod guest;
pub mod inspect;
pub mod ops;
pub mod upload;

use std::time::Instant;

use crate::app::{App, AppEvent, Handle, HttpAnswer};
use crate::clock::Clock;
use crate::config::Config;
use crate::error::HandshakeError;
use crate::metrics::Metrics;
use crate::upload_worker::UploadWorker;

/// What the routes keep between events: the rooms, the console's lines.
pub struct State {
    pub rooms: chat::Rooms,
    /// Lines for the operator console (operator mode only).
    pub console: Vec<String>,
    /// Random numbers for `/guest` and name suggestions.
    pub rng: Rng,
    /// The client who spoke last to the operator.
    pub last_speaker: Option<u64>,
    pub clock: Clock,
    /// Where `/upload` hands files (None: uploads are refused).
    pub uploads: Option<UploadWorker>,
    /// Rooms across nodes (`--redis`), None for a single node.
    pub cluster: Option<chat::cluster::Cluster>,
    /// The counters of `/metrics`: the routes count messages and
    /// deliveries, the server the connections and its own cuts.
    pub metrics: Metrics,
    /// Set by the server once its shutdown began: `/healthz` says 503 and
    /// upgrades are refused.
    pub shutting_down: bool,
    /// When the server started, for `wsloop_uptime_seconds`.
    pub started: Instant,
}

impl State {
    pub fn new(clock: Clock, uploads: Option<UploadWorker>) -> State {
        State {
            rooms: chat::Rooms::default(),
            console: Vec::new(),
            rng: Rng::from_time(),
            last_speaker: None,
            clock,
            uploads,
            cluster: None,
            metrics: Metrics::default(),
            shutting_down: false,
            started: Instant::now(),
        }
    }
}

/// Everything a route may touch besides its own connection's handle.
pub struct Ctx<'a> {
    pub config: &'a Config,
    pub now: Instant,
    pub rooms: &'a mut chat::Rooms,
    pub console: &'a mut Vec<String>,
    pub rng: &'a mut Rng,
    pub last_speaker: &'a mut Option<u64>,
    pub clock: Clock,
    pub uploads: Option<&'a UploadWorker>,
    pub cluster: Option<&'a mut chat::cluster::Cluster>,
}

/// The routes as the connection's [`App`]: built by the server for one
/// connection's events, from its route and the shared state.
pub struct Router<'a> {
    pub route: &'a mut Route,
    pub config: &'a Config,
    pub state: &'a mut State,
}

impl Router<'_> {
    fn ctx(&mut self, now: Instant) -> Ctx<'_> {
        Ctx {
            config: self.config,
            now,
            rooms: &mut self.state.rooms,
            console: &mut self.state.console,
            rng: &mut self.state.rng,
            last_speaker: &mut self.state.last_speaker,
            clock: self.state.clock,
            uploads: self.state.uploads.as_ref(),
            cluster: self.state.cluster.as_mut(),
        }
    }
}

impl App for Router<'_> {
    fn accept(
        &mut self,
        path: &str,
        offered: &[&str],
    ) -> Result<Option<&'static str>, HandshakeError> {
        let path = RoutePath::parse(path)?;
        if self.state.shutting_down {
            return Err(HandshakeError::ShuttingDown);
        }
        Ok(path.select_protocol(offered))
    }

    /// Counts what `/metrics` reports of the event, then routes it.
    #[inline(always)]
    fn on_event(&mut self, conn: &mut Handle<'_>, event: AppEvent<'_>) {
        let metrics = &mut self.state.metrics;
        // `/echo`, the benchmarks' route, goes straight back: no context to
        // build and no send count to diff for one message per event.
        if let (AppEvent::Message { opcode, payload }, Route::Echo) = (&event, *self.route) {
            metrics.messages_received_total += 1;
            let sent_before = conn.sends();
            conn.send(*opcode, payload);
            metrics.deliveries_total += u64::from(conn.sends() - sent_before);
            return;
        }
        match &event {
            AppEvent::Message { .. } => metrics.messages_received_total += 1,
            AppEvent::Closed { dropped: true, .. } => metrics.clients_dropped_total += 1,
            _ => {}
        }
        let sent_before = conn.sends();
        self.route_event(conn, event);
        self.count_sends(conn.sends().saturating_sub(sent_before));
    }

    fn http_get(&mut self, path: &str, now: Instant) -> Option<HttpAnswer> {
        ops::http_get(self.config, self.state, path, now)
    }
}

impl Router<'_> {
    /// Counts messages a route queued through a handle as deliveries.
    pub fn count_sends(&mut self, sends: u32) {
        self.state.metrics.deliveries_total += u64::from(sends);
    }

    fn route_event(&mut self, conn: &mut Handle<'_>, event: AppEvent<'_>) {
        let route = *self.route;
        let mut ctx = self.ctx(conn.now());
        match (event, route) {
            (AppEvent::Opened(opened), _) => {
                let Ok(path) = RoutePath::parse(opened.path) else {
                    return;
                };
                let v1 = opened.protocol.is_some();
                *self.route = match path {
                    RoutePath::Chat(name) => {
                        ctx.rooms.deflate_min = ctx.config.deflate_min;
                        let bits = conn.broadcast_bits();
                        let room = ctx.rooms.join_with(name, conn.key(), conn.id(), v1, bits);
                        if let Some(cl) = ctx.cluster.as_deref_mut() {
                            chat::cluster::routes::joined(cl, ctx.rooms, room, conn.key());
                        }
                        Route::Chat {
                            room: room as u32,
                            v1,
                        }
                    }
                    RoutePath::Echo => Route::Echo,
                    RoutePath::Guest => {
                        guest::on_open(conn, &mut ctx);
                        Route::Guest
                    }
                    RoutePath::Upload => Route::Upload,
                    RoutePath::Inspect => {
                        conn.report_frames(true);
                        inspect::on_open(conn, opened.head, opened.ws_key, opened.extensions);
                        Route::Inspect { compressed: 0 }
                    }
                };
            }
            (AppEvent::Message { opcode, payload }, route) => match route {
                Route::Chat { room, v1 } => {
                    chat::on_message(conn, room as usize, v1, opcode, payload, &mut ctx)
                }
                // The echo is the whole of `/echo`; `/inspect` echoes after
                // its frame reports.
                Route::Echo => conn.send(opcode, payload),
                Route::Inspect { compressed } => {
                    if compressed > 0 {
                        inspect::on_inflated(conn, compressed, payload.len());
                    }
                    *self.route = Route::Inspect { compressed: 0 };
                    conn.send(opcode, payload)
                }
                Route::Guest => guest::on_message(conn, &mut ctx),
                Route::Upload => upload::on_message(conn, opcode, payload, &mut ctx),
                Route::None => {}
            },
            (AppEvent::Frame { header, payload }, Route::Inspect { compressed }) => {
                *self.route = Route::Inspect {
                    compressed: inspect::compressed_so_far(compressed, header),
                };
                inspect::on_frame(conn, header, payload)
            }
            (AppEvent::Timer, Route::Guest) => guest::on_timer(conn, &mut ctx),
            (AppEvent::Closed { .. }, route) => on_gone(route, conn.key(), conn.id(), self.state),
            _ => {}
        }
    }
}

/// The connection stopped taking part: it is closing (it leaves its room at
/// once, so it no longer counts as a member) or gone. Safe to call twice.
pub fn on_gone(route: Route, key: usize, id: u64, state: &mut State) {
    match route {
        Route::Chat { room, .. } => {
            if let Some(cl) = state.cluster.as_mut() {
                chat::cluster::routes::leaving(cl, &state.rooms, room as usize, key);
            }
            state.rooms.leave(room as usize, key)
        }
        // Its counter and quota on the worker are no longer needed.
        Route::Upload => {
            if let Some(worker) = &state.uploads {
                worker.forget(id);
            }
        }
        _ => {}
    }
}

/// The route a connection was upgraded on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// Not upgraded (yet).
    None,
    /// A chat room, by index in [`chat::Rooms`] (u32 keeps a connection
    /// small).
    Chat {
        room: u32,
        /// Speaks `wsloop.chat.v1`.
        v1: bool,
    },
    Echo,
    Guest,
    Upload,
    /// `/inspect`; `compressed`: 1 + the wire bytes of the compressed
    /// message in progress (RFC 7692), 0 when none.
    Inspect {
        compressed: u32,
    },
}

/// A route found by its path, before any room exists for it.
#[derive(Debug, PartialEq, Eq)]
pub enum RoutePath<'a> {
    Chat(&'a str),
    Echo,
    Guest,
    Upload,
    Inspect,
}

/// Chat rooms are named `[a-z0-9-]{1,32}`.
pub fn valid_room_name(name: &str) -> bool {
    (1..=32).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

impl<'a> RoutePath<'a> {
    pub fn parse(path: &'a str) -> Result<RoutePath<'a>, HandshakeError> {
        Ok(match path {
            "/" | "/chat" => RoutePath::Chat(chat::LOBBY),
            "/echo" => RoutePath::Echo,
            "/guest" => RoutePath::Guest,
            "/upload" => RoutePath::Upload,
            "/inspect" => RoutePath::Inspect,
            _ => match path.strip_prefix("/chat/") {
                Some(room) if valid_room_name(room) => RoutePath::Chat(room),
                Some(_) => {
                    return Err(HandshakeError::BadRequest(
                        "room names are 1-32 characters of a-z, 0-9 and -",
                    ));
                }
                None => return Err(HandshakeError::NotFound),
            },
        })
    }

    /// Picks the subprotocol to answer with (§4.2.2 step 5): the first
    /// offered one this route speaks, or none — never one not offered.
    pub fn select_protocol(&self, offered: &[&str]) -> Option<&'static str> {
        match self {
            RoutePath::Chat(_) => offered
                .contains(&chat::PROTOCOL_V1)
                .then_some(chat::PROTOCOL_V1),
            _ => None,
        }
    }
}

/// A small xorshift generator, seeded from the clock.
pub struct Rng(u64);

impl Rng {
    pub fn from_time() -> Rng {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0x9E37_79B9, |d| d.as_nanos() as u64);
        Rng(nanos | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A number in `lo..=hi`.
    pub fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_map_to_routes() {
        assert_eq!(RoutePath::parse("/"), Ok(RoutePath::Chat("lobby")));
        assert_eq!(RoutePath::parse("/chat"), Ok(RoutePath::Chat("lobby")));
        assert_eq!(
            RoutePath::parse("/chat/rust-2"),
            Ok(RoutePath::Chat("rust-2"))
        );
        assert_eq!(RoutePath::parse("/echo"), Ok(RoutePath::Echo));
        assert_eq!(RoutePath::parse("/nope"), Err(HandshakeError::NotFound));
        for bad in [
            "/chat/",
            "/chat/UPPER",
            "/chat/a b",
            "/chat/../x",
            &format!("/chat/{}", "a".repeat(33)),
        ] {
            assert!(
                matches!(RoutePath::parse(bad), Err(HandshakeError::BadRequest(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn s4_2_2_subprotocol_only_when_offered() {
        let chat = RoutePath::Chat("lobby");
        assert_eq!(chat.select_protocol(&[]), None);
        assert_eq!(chat.select_protocol(&["mqtt", "soap"]), None);
        assert_eq!(
            chat.select_protocol(&["mqtt", "wsloop.chat.v1"]),
            Some("wsloop.chat.v1")
        );
        assert_eq!(RoutePath::Echo.select_protocol(&["wsloop.chat.v1"]), None);
    }
}
