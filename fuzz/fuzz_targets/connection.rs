//! A whole connection state machine — handshake, frames, routes, closing —
//! driven by arbitrary input in arbitrary chunks, on every route. No
//! socket: the same code the poll loop calls, fed bytes directly.
#![no_main]

use std::time::Instant;

use libfuzzer_sys::fuzz_target;
use wsloop::clock::Clock;
use wsloop::config::Config;
use wsloop::connection::{Connection, Env, Phase};
use wsloop::routes::{Route, Router, State};
use wsloop::timers::Timers;

const PATHS: [&str; 6] = [
    "/chat",
    "/echo",
    "/guest",
    "/upload",
    "/inspect",
    "/chat/room-1",
];
const PROTOCOLS: [&str; 2] = ["", "Sec-WebSocket-Protocol: wsloop.chat.v1\r\n"];

fuzz_target!(|data: &[u8]| {
    let [route, chunk, rest @ ..] = data else {
        return;
    };
    // Bit 0: raw input; bits 1..: the path (every one reachable with the
    // built request); bit 4: the chat subprotocol.
    let path = PATHS[usize::from(*route >> 1) % PATHS.len()];
    let protocol = PROTOCOLS[usize::from(*route >> 4) % 2];
    let mut input = format!(
        "GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{protocol}\r\n"
    )
    .into_bytes();
    // Odd route bytes send the fuzz input as the request itself.
    if route & 1 == 1 {
        input.clear();
    }
    input.extend_from_slice(rest);

    let config = Config {
        max_message: 1 << 16,
        // An unwritable path: the upload error path runs, and no disk fills up.
        uploads: "/dev/null/uploads".into(),
        ..Config::default()
    };
    let mut timers = Timers::default();
    let mut state = State::new(Clock::local(), None);
    let mut route = Route::None;
    let now = Instant::now();
    let mut conn = Connection::new(1, "127.0.0.1:1".parse().unwrap(), 0);
    for piece in input.chunks(usize::from(*chunk).max(1)) {
        let mut env = Env {
            config: &config,
            now,
            timers: &mut timers,
            memory_room: usize::MAX,
        };
        let mut router = Router {
            route: &mut route,
            config: &config,
            state: &mut state,
        };
        let mut piece = piece.to_vec();
        conn.on_bytes(0, &mut piece, &mut env, &mut router);
        if conn.phase == Phase::Finishing {
            break;
        }
    }
    state.rooms.deliver_round(|_, _, _, _| {});
});
