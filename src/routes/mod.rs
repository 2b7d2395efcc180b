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

pub mod chat;
pub mod guest;
pub mod inspect;
pub mod upload;

use std::rc::Rc;
use std::time::Instant;

use crate::clock::Clock;
use crate::config::Config;
use crate::connection::{Connection, printable};
use crate::error::HandshakeError;
use crate::frame::Opcode;
use crate::timers::Timers;

/// Everything a route may touch besides its own connection.
pub struct Ctx<'a> {
    pub config: &'a Config,
    pub now: Instant,
    pub timers: &'a mut Timers,
    pub rooms: &'a mut chat::Rooms,
    /// Frames for other connections, delivered by the server after this
    /// round's broadcasts: `(slab key, connection id, bytes)`.
    pub direct: &'a mut Vec<(usize, u64, Rc<[u8]>)>,
    /// Lines for the operator console (operator mode only).
    pub console: &'a mut Vec<String>,
    /// Random numbers for `/guest` (no crate needed for a demo's dice).
    pub rng: &'a mut Rng,
    /// The client who spoke last to the operator.
    pub last_speaker: &'a mut Option<u64>,
    pub clock: Clock,
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
    Inspect,
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

/// The connection was just upgraded.
pub fn on_open(
    conn: &mut Connection,
    key: usize,
    path: RoutePath,
    v1: bool,
    head: &[u8],
    ws_key: &str,
    ctx: &mut Ctx,
) {
    conn.route = match path {
        RoutePath::Chat(name) => {
            let room = ctx.rooms.join(name, key, conn.id, v1);
            Route::Chat {
                room: room as u32,
                v1,
            }
        }
        RoutePath::Echo => Route::Echo,
        RoutePath::Guest => {
            guest::on_open(conn, key, ctx);
            Route::Guest
        }
        RoutePath::Upload => Route::Upload,
        RoutePath::Inspect => {
            inspect::on_open(conn, head, ws_key);
            Route::Inspect
        }
    };
}

/// A whole message arrived.
pub fn on_message(
    conn: &mut Connection,
    key: usize,
    opcode: Opcode,
    payload: &[u8],
    ctx: &mut Ctx,
) {
    match conn.route {
        Route::Chat { room, v1 } => {
            chat::on_message(conn, key, room as usize, v1, opcode, payload, ctx)
        }
        // The echo is the whole of `/echo`; `/inspect` echoes after its
        // frame reports.
        Route::Echo | Route::Inspect => conn.send(opcode, payload),
        Route::Guest => guest::on_message(conn, ctx),
        Route::Upload => upload::on_message(conn, opcode, payload, ctx),
        Route::None => {}
    }
}

/// The connection stopped taking part: it is closing (it leaves its room at
/// once, so it no longer counts as a member) or gone. Safe to call twice.
pub fn on_leave(conn: &Connection, key: usize, ctx: &mut Ctx) {
    if let Route::Chat { room, .. } = conn.route {
        ctx.rooms.leave(room as usize, key);
    }
}

/// Operator mode: a chat message goes to the console, not to the room.
/// `label` names the speaker (`127.0.0.1:53412`, or `alice@lobby`).
pub fn operator_input(conn: &Connection, label: String, payload: &[u8], ctx: &mut Ctx) {
    // Escaped: a client must not drive the operator's terminal.
    let text = printable(&String::from_utf8_lossy(payload));
    let label = printable(&label);
    ctx.console
        .push(format!("[#{} {}] {}", conn.id, label, text));
    *ctx.last_speaker = Some(conn.id);
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
