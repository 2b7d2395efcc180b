//! Plain chat, the tutorials' kind: no subprotocol, every text goes to every
//! member of the room, the sender included. v1 members of the same room
//! see it as a `message` from `#<id>` (capped at [`v1::MAX_TEXT`]).

use log::debug;

use super::cluster::routes::{self as cluster_routes, Outcome};
use super::{handoff, v1};
use crate::app::Handle;
use crate::cluster::envelope::{Event, Kind};
use crate::frame::Opcode;
use crate::routes::Ctx;

/// A message from a plain member of room `index`.
pub fn on_message(conn: &mut Handle, index: usize, opcode: Opcode, payload: &[u8], ctx: &mut Ctx) {
    let Some(room) = ctx.rooms.get_mut(index) else {
        return;
    };
    if ctx.config.operator {
        let label = handoff::label(&room.name, None, &conn.peer().to_string());
        return handoff::to_operator(conn, &label, payload, ctx);
    }
    if let Some(cl) = ctx.cluster.as_deref_mut() {
        let text = std::str::from_utf8(payload)
            .ok()
            .filter(|_| opcode == Opcode::Text);
        let event = Event {
            kind: Some(Kind::Plain),
            text: text.map(str::to_string),
            binary: text.is_none().then(|| payload.to_vec()),
            ..Event::default()
        };
        let name = room.name.clone();
        let outcome =
            cluster_routes::message(cl, &name, conn.key(), conn.id(), event, None, None, false);
        if outcome == Outcome::Posted {
            return;
        }
    }
    let Some(room) = ctx.rooms.get_mut(index) else {
        return;
    };
    let receivers = room.members.len();
    let relay_to_v1 = room.v1_count > 0 && opcode == Opcode::Text;
    let seq = match (relay_to_v1, ctx.cluster.is_some()) {
        (true, false) => Some(room.next_seq()),
        _ => None,
    };
    let from = format!("#{}{}", conn.id(), room.id_suffix);
    ctx.rooms.queue_plain(index, opcode, payload);
    if relay_to_v1 {
        let (text, truncated) = v1::relayed_text(payload);
        let event = v1::message(&v1::Message {
            seq,
            from: &from,
            to: None,
            text: &text,
            time: &ctx.clock.hms(),
            truncated,
        });
        ctx.rooms.queue_v1(index, &event);
    }
    // Per message: debug, not info; the default level must not cost a
    // line per chat message.
    debug!(
        "#{} sent {} bytes to {} clients",
        conn.id(),
        payload.len(),
        receivers
    );
}
