//! What the chat routes do differently in a cluster (`--redis`): a member's
//! event is posted to Redis and delivered here when it comes back in the
//! room's order ([`super::sync`]), instead of being delivered at
//! once. While Redis is away, it is shown here at once (`"delayed":true`,
//! no `seq`) and posted when the link returns.

use serde_json::Value;

use super::posts::registration;
use super::{Cluster, Post, ReplyTo};
use crate::cluster::envelope::{self, Event, Kind};
use crate::routes::chat::rooms::{Rooms, Target, name_key};
use crate::routes::chat::v1;

/// Why a message stayed on this node.
pub const NOT_DELIVERED: &str =
    "not delivered to other nodes: the cluster outbox is full (Redis is slow or away)";

/// What the route should do after asking the cluster.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Posted: it is delivered when Redis sends it back.
    Posted,
    /// Deliver it here now, as delayed (no `seq`); it was posted for the
    /// other nodes too.
    LocalNow,
    /// Deliver it here now; the other nodes will not get it (say why).
    LocalOnly,
}

/// A member joined room `index` on this node.
pub fn joined(cl: &mut Cluster, rooms: &Rooms, index: usize, key: usize) {
    let Some(room) = rooms.get(index) else {
        return;
    };
    cl.ensure_room(&room.name);
    if cl.up
        && let Some(post) = registration(cl, rooms, index, key)
    {
        cl.post(post);
    }
}

/// Member `key` is about to leave room `index`.
pub fn leaving(cl: &mut Cluster, rooms: &Rooms, index: usize, key: usize) {
    let Some(room) = rooms.get(index) else {
        return;
    };
    let Some(m) = room.member(key) else {
        return;
    };
    if m.registered {
        let fold = m.name.as_deref().map(name_key).unwrap_or_default();
        cl.post(Post {
            room: room.name.clone(),
            event: Event {
                kind: Some(Kind::Leave),
                member: cl.member_id(m.id),
                name: m.name.clone(),
                ..Event::default()
            },
            fold,
            info: String::new(),
            target: String::new(),
            reply: ReplyTo::Nobody,
            shown: false,
        });
    }
    if room.members.len() == 1 {
        cl.drop_room(&room.name);
    }
}

/// A v1 `hello` for a name free as far as this node knows: Redis decides.
/// False when Redis is away (the caller claims the name here; it is
/// registered when the link returns).
pub fn hello(cl: &mut Cluster, rooms: &mut Rooms, index: usize, key: usize, name: &str) -> bool {
    if !cl.up {
        return false;
    }
    let Some(room) = rooms.get_mut(index) else {
        return true;
    };
    let Some(me) = room.member_mut(key) else {
        return true;
    };
    me.hello_pending = true;
    let id = me.id;
    let fold = name_key(name);
    let post = Post {
        room: room.name.clone(),
        event: Event {
            kind: Some(Kind::Hello),
            member: cl.member_id(id),
            name: Some(name.to_string()),
            ..Event::default()
        },
        info: envelope::member_info(true, Some(name), Some(&fold)),
        fold,
        target: String::new(),
        reply: ReplyTo::Hello {
            key,
            id,
            name: name.to_string(),
        },
        shown: false,
    };
    cl.post(post);
    true
}

/// A chat message (a v1 `say`, a plain message, or a whisper) from member
/// `(key, id)` of `room`.
#[allow(clippy::too_many_arguments)]
pub fn message(
    cl: &mut Cluster,
    room: &str,
    key: usize,
    id: u64,
    mut event: Event,
    target: Option<String>,
    request: Option<&Value>,
    v1: bool,
) -> Outcome {
    event.member = cl.member_id(id);
    let to_name = event.to_name.clone();
    let reply = if v1 {
        ReplyTo::Ack {
            key,
            id,
            request: request.cloned(),
            to_name,
        }
    } else {
        ReplyTo::Nobody
    };
    let up = cl.up;
    let post = Post {
        room: room.to_string(),
        event,
        fold: String::new(),
        info: String::new(),
        target: target.unwrap_or_default(),
        reply,
        shown: !up,
    };
    match (cl.post(post), up) {
        (true, true) => Outcome::Posted,
        (true, false) => Outcome::LocalNow,
        (false, _) => Outcome::LocalOnly,
    }
}

/// The member id a whisper's target has across the cluster.
pub fn target_member(cl: &Cluster, rooms: &Rooms, index: usize, to: &str) -> Option<String> {
    match rooms.get(index)?.find_target(to)? {
        Target::Local(m) => Some(cl.member_id(m.id)),
        Target::Remote(r) => Some(r.member.clone()),
    }
}

/// A v1 refusal for a message kept on this node.
pub fn not_delivered(request: Option<&Value>) -> String {
    v1::error(&v1::Refusal::new(NOT_DELIVERED, request))
}
