//! The room table and the broadcast rounds: who is in which room, and how a
//! message reaches them — encoded once per kind of member, the bytes shared
//! by every receiver's queue. (The place remote members will join.)
//!
//! During a poll round a room gathers frames into one buffer per kind of
//! member (plain, `wsloop.chat.v1`). A message for one member (a whisper,
//! an `ack`, a `joined`) first *seals* what the room gathered so far, so it
//! cannot overtake an earlier broadcast nor be overtaken by a later one:
//! each member gets its events in the order they happened. At the end of
//! the round the server hands the sealed pieces out, in that order.

use std::collections::HashMap;
use std::rc::Rc;

use slab::Slab;

use crate::frame::{self, Opcode};

#[path = "rooms_kinds.rs"]
mod kinds;
#[path = "rooms_names.rs"]
mod names;

pub use names::{Target, name_key};

/// A room keeps at most this much of its round buffers between rounds.
const ROUND_BUFFER_KEPT: usize = 64 * 1024;

#[derive(Debug)]
pub struct Member {
    pub key: usize,
    pub id: u64,
    /// Speaks `wsloop.chat.v1`.
    pub v1: bool,
    /// Set by a v1 `hello`.
    pub name: Option<String>,
    /// The window its broadcasts are compressed with (permessage-deflate),
    /// 0 for uncompressed.
    pub deflate_bits: u8,
    /// `hello`s refused so far (names taken or invalid): bounded, so a
    /// client cannot make the room search for free names forever.
    pub refusals: u8,
    /// Cluster (`--redis`): Redis has this member in the room's members.
    pub registered: bool,
    /// Cluster: a `hello` is on its way to Redis (the name is not ours yet).
    pub hello_pending: bool,
}

impl Member {
    /// The name others see: the chosen one, or `#<id>` (`#<id>@<node>` in
    /// a cluster: `suffix` is `@<node>` there, empty otherwise).
    pub fn display(&self, suffix: &str) -> String {
        match &self.name {
            Some(name) => name.clone(),
            None => format!("#{}{suffix}", self.id),
        }
    }
}

#[derive(Debug, Default)]
pub struct Room {
    pub name: String,
    pub members: Vec<Member>,
    /// Names taken in this room, by comparison key, with the slab key of
    /// the member holding each: one lookup per `hello` or `whisper`.
    names: HashMap<String, usize>,
    /// Frames for plain members, gathered this round.
    plain_out: Vec<u8>,
    /// Frames for v1 members, gathered this round.
    v1_out: Vec<u8>,
    /// How many frames `plain_out` and `v1_out` hold (`/metrics` counts
    /// one delivery per frame per receiver).
    plain_frames: u32,
    v1_frames: u32,
    /// The room's message sequence number (v1 `seq`).
    seq: u64,
    /// Members speaking `wsloop.chat.v1` (plain text needs no JSON copy
    /// when there are none).
    pub v1_count: usize,
    /// The compressed kinds of member present, each with its round buffer.
    kinds: Vec<kinds::Kind>,
    /// Members on other nodes (cluster only).
    pub remote: super::remote::RemoteMembers,
    /// `@<node>` in a cluster, so that `#12` is unique across nodes.
    pub id_suffix: String,
}

impl Room {
    pub fn member(&self, key: usize) -> Option<&Member> {
        self.members.iter().find(|m| m.key == key)
    }

    pub fn member_mut(&mut self, key: usize) -> Option<&mut Member> {
        self.members.iter_mut().find(|m| m.key == key)
    }

    pub fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    pub fn has_plain(&self) -> bool {
        self.members.len() > self.v1_count
    }
}

/// One piece of a round, in the order it was made.
#[derive(Debug)]
enum Delivery {
    /// What a room gathered up to this point, per kind of member.
    Room {
        index: usize,
        plain: Option<Rc<[u8]>>,
        v1: Option<Rc<[u8]>>,
        /// The frames in `plain` and in `v1` (also in each compressed kind
        /// of the same v1-ness: it gathers the same messages).
        frames: (u32, u32),
        /// (window bits, v1, bytes) for compressed kinds; `None` bytes: the
        /// uncompressed buffer serves them.
        kinds: Vec<kinds::SealedKind>,
    },
    /// Bytes for one connection.
    Direct {
        key: usize,
        id: u64,
        bytes: Rc<[u8]>,
    },
}

/// A round buffer as one shared allocation (None when empty), emptied for
/// the next round.
fn share_round(buf: &mut Vec<u8>) -> Option<Rc<[u8]>> {
    if buf.is_empty() {
        return None;
    }
    let shared = Rc::from(&buf[..]);
    buf.clear();
    // A burst should not keep its memory for the room's life.
    if buf.capacity() > ROUND_BUFFER_KEPT {
        *buf = Vec::new();
    }
    Some(shared)
}

/// A text frame, encoded once, to share among the queues it goes to.
pub fn shared_text(text: &[u8]) -> Rc<[u8]> {
    let mut buf = Vec::with_capacity(text.len() + 10);
    frame::encode_frame(&mut buf, Opcode::Text, text);
    Rc::from(buf)
}

#[derive(Debug, Default)]
pub struct Rooms {
    by_name: HashMap<String, usize>,
    rooms: Slab<Room>,
    /// Rooms with something gathered and not yet sealed.
    gathering: Vec<usize>,
    /// This round's pieces, in order.
    round: Vec<Delivery>,
    /// Bytes queued this round for one connection, by slab key: with the
    /// connection's own queue, what its backlog will be after the round.
    direct_bytes: HashMap<usize, usize>,
    /// `--deflate-min`: shorter broadcasts go uncompressed to everyone.
    pub deflate_min: usize,
    /// `@<node>` in a cluster (see [`Room::id_suffix`]).
    pub id_suffix: String,
}

impl Rooms {
    pub fn join(&mut self, name: &str, key: usize, id: u64, v1: bool) -> usize {
        self.join_with(name, key, id, v1, 0)
    }

    /// Joins a member whose broadcasts are compressed with `deflate_bits`
    /// (0: uncompressed).
    pub fn join_with(
        &mut self,
        name: &str,
        key: usize,
        id: u64,
        v1: bool,
        deflate_bits: u8,
    ) -> usize {
        let index = match self.by_name.get(name) {
            Some(&index) => index,
            None => {
                let index = self.rooms.insert(Room {
                    name: name.to_string(),
                    id_suffix: self.id_suffix.clone(),
                    ..Room::default()
                });
                self.by_name.insert(name.to_string(), index);
                index
            }
        };
        if let Some(room) = self.rooms.get_mut(index) {
            room.v1_count += usize::from(v1);
            room.add_kind(deflate_bits, v1);
            room.members.push(Member {
                key,
                id,
                v1,
                deflate_bits,
                name: None,
                refusals: 0,
                registered: false,
                hello_pending: false,
            });
        }
        index
    }

    /// Member `key` leaves room `index`; named v1 members are told. Safe to
    /// call twice.
    pub fn leave(&mut self, index: usize, key: usize) {
        let Some(room) = self.rooms.get_mut(index) else {
            return;
        };
        let Some(pos) = room.members.iter().position(|m| m.key == key) else {
            return;
        };
        let gone = room.members.swap_remove(pos);
        room.v1_count -= usize::from(gone.v1);
        room.remove_kind(gone.deflate_bits, gone.v1);
        if let Some(name) = &gone.name {
            room.names.remove(&name_key(name));
        }
        if room.members.is_empty() {
            self.by_name.remove(&room.name);
            self.rooms.remove(index);
            // Its gathered bytes have no one left to go to.
            self.gathering.retain(|&i| i != index);
            return;
        }
        if let Some(name) = gone.name {
            self.queue_v1(index, &super::v1::left(&name));
        }
    }

    /// Is anything gathered and not yet delivered?
    pub fn has_pending(&self) -> bool {
        !self.gathering.is_empty() || !self.round.is_empty()
    }

    /// The index of the room called `name`, if anyone is in it here.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.by_name.get(name).copied()
    }

    pub fn get(&self, index: usize) -> Option<&Room> {
        self.rooms.get(index)
    }

    pub fn get_mut(&mut self, index: usize) -> Option<&mut Room> {
        self.rooms.get_mut(index)
    }

    pub fn len(&self) -> usize {
        self.rooms.len()
    }

    pub fn iter_indexed(&self) -> impl Iterator<Item = (usize, &Room)> {
        self.rooms.iter()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Room> {
        self.rooms.iter().map(|(_, room)| room)
    }

    pub fn is_empty(&self) -> bool {
        self.rooms.is_empty()
    }

    fn start_gathering(&mut self, index: usize) {
        let Some(room) = self.rooms.get(index) else {
            return;
        };
        if room.plain_out.is_empty() && room.v1_out.is_empty() {
            self.gathering.push(index);
        }
    }

    /// Gathers a frame for every plain member.
    pub fn queue_plain(&mut self, index: usize, opcode: Opcode, payload: &[u8]) {
        self.start_gathering(index);
        if let Some(room) = self.rooms.get_mut(index) {
            frame::encode_frame(&mut room.plain_out, opcode, payload);
            room.plain_frames = room.plain_frames.saturating_add(1);
            room.gather_compressed(false, opcode, payload, self.deflate_min);
        }
    }

    /// Gathers a JSON event for every v1 member.
    pub fn queue_v1(&mut self, index: usize, event: &str) {
        self.start_gathering(index);
        if let Some(room) = self.rooms.get_mut(index) {
            frame::encode_frame(&mut room.v1_out, Opcode::Text, event.as_bytes());
            room.v1_frames = room.v1_frames.saturating_add(1);
            room.gather_compressed(true, Opcode::Text, event.as_bytes(), self.deflate_min);
        }
    }

    /// Queues bytes for one member of room `index`, after everything the
    /// room gathered so far. Returns how many bytes this round holds for
    /// that member now, so the caller can bound it.
    pub fn queue_direct(&mut self, index: usize, key: usize, id: u64, bytes: Rc<[u8]>) -> usize {
        self.seal(index);
        let total = self.direct_bytes.entry(key).or_default();
        *total += bytes.len();
        self.round.push(Delivery::Direct { key, id, bytes });
        *total
    }

    /// Ends room `index`'s current gathering: what it holds becomes one
    /// piece of the round.
    fn seal(&mut self, index: usize) {
        let Some(room) = self.rooms.get_mut(index) else {
            return;
        };
        if room.plain_out.is_empty() && room.v1_out.is_empty() {
            return;
        }
        self.round.push(room.seal(index));
        self.gathering.retain(|&i| i != index);
    }

    /// Hands this round out, in order: each room piece is one shared buffer
    /// per kind of member, passed to `push` once per member (no copy of the
    /// bytes, nor of the member list), with the number of frames it holds.
    pub fn deliver_round(&mut self, mut push: impl FnMut(usize, u64, &Rc<[u8]>, u32)) {
        for index in std::mem::take(&mut self.gathering) {
            if let Some(room) = self.rooms.get_mut(index) {
                self.round.push(room.seal(index));
            }
        }
        self.direct_bytes.clear();
        for piece in self.round.drain(..) {
            match piece {
                Delivery::Room {
                    index,
                    plain,
                    v1,
                    frames,
                    kinds,
                } => {
                    let Some(room) = self.rooms.get(index) else {
                        continue;
                    };
                    for m in &room.members {
                        let compressed = kinds::pick(&kinds, m);
                        let (uncompressed, count) = if m.v1 {
                            (&v1, frames.1)
                        } else {
                            (&plain, frames.0)
                        };
                        if let Some(bytes) = compressed.or(uncompressed.as_ref()) {
                            push(m.key, m.id, bytes, count);
                        }
                    }
                }
                // One frame: `shared_text`.
                Delivery::Direct { key, id, bytes } => push(key, id, &bytes, 1),
            }
        }
    }
}

#[cfg(test)]
#[path = "rooms_tests.rs"]
mod tests;
