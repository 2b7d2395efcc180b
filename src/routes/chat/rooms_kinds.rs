//! The compressed kinds of member of a room (RFC 7692 permessage-deflate):
//! members who agreed on one window size, plain or v1, get each broadcast
//! compressed once for all of them — never once per receiver.

use std::rc::Rc;

use super::{Delivery, Member, ROUND_BUFFER_KEPT, Room, share_round};
use crate::frame::{self, Opcode};

/// Members who get the room's frames compressed with one window size
/// (RFC 7692), plain or v1: each message is compressed once for all of
/// them, never per receiver.
#[derive(Debug)]
pub(super) struct Kind {
    pub(super) bits: u8,
    pub(super) v1: bool,
    members: usize,
    /// Frames gathered this round: compressed when worth it, else as the
    /// uncompressed ones.
    out: Vec<u8>,
    /// Anything in `out` compressed? If not, the uncompressed round buffer
    /// serves these members too.
    compressed: bool,
}

/// A compressed kind's share of a sealed piece: (window bits, v1, bytes).
pub(super) type SealedKind = (u8, bool, Option<Rc<[u8]>>);

impl Room {
    /// Counts a member of kind (`bits`, `v1`) in; 0 bits: uncompressed.
    pub(super) fn add_kind(&mut self, bits: u8, v1: bool) {
        if bits == 0 {
            return;
        }
        match self.kinds.iter_mut().find(|k| k.bits == bits && k.v1 == v1) {
            Some(kind) => kind.members += 1,
            None => self.kinds.push(Kind {
                bits,
                v1,
                members: 1,
                out: Vec::new(),
                compressed: false,
            }),
        }
    }

    /// Counts a member out; a kind with nobody left is dropped.
    pub(super) fn remove_kind(&mut self, bits: u8, v1: bool) {
        let Some(pos) = self.kinds.iter().position(|k| k.bits == bits && k.v1 == v1) else {
            return;
        };
        if let Some(kind) = self.kinds.get_mut(pos) {
            kind.members -= 1;
            if kind.members == 0 {
                self.kinds.swap_remove(pos);
            }
        }
    }

    /// Gathers one message for the compressed kinds of plain (or v1)
    /// members: compressed once per window size, or as it is when short.
    pub(super) fn gather_compressed(
        &mut self,
        v1: bool,
        opcode: Opcode,
        payload: &[u8],
        min: usize,
    ) {
        let worth = crate::deflate::worth_compressing(opcode, payload.len(), min);
        for kind in self.kinds.iter_mut().filter(|k| k.v1 == v1) {
            if worth {
                crate::deflate::compress_frame(kind.bits, opcode, payload, &mut kind.out);
                kind.compressed = true;
            } else {
                frame::encode_frame(&mut kind.out, opcode, payload);
            }
        }
    }

    /// What this room gathered, as one piece of the round; its buffers are
    /// emptied for what comes next.
    pub(super) fn seal(&mut self, index: usize) -> Delivery {
        let kinds = self
            .kinds
            .iter_mut()
            .map(|k| {
                let bytes = if k.compressed {
                    share_round(&mut k.out)
                } else {
                    k.out.clear();
                    if k.out.capacity() > ROUND_BUFFER_KEPT {
                        k.out = Vec::new();
                    }
                    None
                };
                k.compressed = false;
                (k.bits, k.v1, bytes)
            })
            .collect();
        let frames = (
            std::mem::take(&mut self.plain_frames),
            std::mem::take(&mut self.v1_frames),
        );
        Delivery::Room {
            index,
            plain: share_round(&mut self.plain_out),
            v1: share_round(&mut self.v1_out),
            frames,
            kinds,
        }
    }
}

/// The compressed bytes of a sealed piece for member `m`, if its kind got any.
pub(super) fn pick<'a>(kinds: &'a [SealedKind], m: &Member) -> Option<&'a Rc<[u8]>> {
    if m.deflate_bits == 0 {
        return None;
    }
    kinds
        .iter()
        .find(|k| k.0 == m.deflate_bits && k.1 == m.v1)
        .and_then(|k| k.2.as_ref())
}
