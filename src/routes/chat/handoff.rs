//! The operator hand-off (`--operator`): chat messages go to the console
//! instead of the room, and the operator answers from there (see
//! [`crate::server`]'s console). Whatever a client sends is escaped first:
//! a client must not drive the operator's terminal.

use super::LOBBY;
use crate::app::{Handle, printable};
use crate::routes::Ctx;

/// Puts a chat message on the console. `label` names the speaker
/// (`127.0.0.1:53412`, or `alice@lobby`).
pub fn to_operator(conn: &Handle, label: &str, payload: &[u8], ctx: &mut Ctx) {
    let text = printable(&String::from_utf8_lossy(payload));
    let label = printable(label);
    ctx.console
        .push(format!("[#{} {}] {}", conn.id(), label, text));
    *ctx.last_speaker = Some(conn.id());
}

/// How the console names a member: its v1 name, or a plain client's
/// address, with the room when it is not the lobby.
pub fn label(room: &str, name: Option<&str>, peer: &str) -> String {
    match (name, room) {
        (Some(name), _) => format!("{name}@{room}"),
        (None, LOBBY) => peer.to_string(),
        (None, _) => format!("{peer}@{room}"),
    }
}
