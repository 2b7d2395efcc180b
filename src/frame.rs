//! The base framing protocol (RFC 6455 §5.2), as pure functions over bytes.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-------+-+-------------+-------------------------------+
//! |F|R|R|R| opcode|M| Payload len |    Extended payload length    |
//! |I|S|S|S|  (4)  |A|     (7)     |             (16/64)           |
//! |N|V|V|V|       |S|             |   (if payload len==126/127)   |
//! | |1|2|3|       |K|             |                               |
//! +-+-+-+-+-------+-+-------------+ - - - - - - - - - - - - - - - +
//! |     Extended payload length continued, if payload len == 127  |
//! + - - - - - - - - - - - - - - - +-------------------------------+
//! |                               |Masking-key, if MASK set to 1  |
//! +-------------------------------+-------------------------------+
//! | Masking-key (continued)       |          Payload Data         |
//! +-------------------------------- - - - - - - - - - - - - - - - +
//! ```
//!
//! [`FrameHeader::parse`] reads one header and answers `Ok(None)` while the
//! bytes are not all there yet; it never looks at the payload, so a payload
//! can be streamed through [`unmask`] as it arrives.

use crate::error::ProtocolError;

/// The opcode, bits 4–7 of the first byte (§5.2, §11.8).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Opcode {
    /// 0x0: continues the data message a previous frame started (§5.4).
    Continuation,
    /// 0x1: a data frame whose message is UTF-8 text (§5.6).
    Text,
    /// 0x2: a data frame whose message is arbitrary bytes (§5.6).
    Binary,
    /// 0x8: the closing handshake (§5.5.1).
    Close,
    /// 0x9: a keep-alive or liveness probe; the peer answers with a pong (§5.5.2).
    Ping,
    /// 0xA: the answer to a ping, or an unsolicited heartbeat (§5.5.3).
    Pong,
}

impl Opcode {
    /// Decodes the 4-bit opcode; 0x3–0x7 and 0xB–0xF are reserved (§5.2).
    pub fn from_bits(bits: u8) -> Result<Opcode, ProtocolError> {
        match bits {
            0x0 => Ok(Opcode::Continuation),
            0x1 => Ok(Opcode::Text),
            0x2 => Ok(Opcode::Binary),
            0x8 => Ok(Opcode::Close),
            0x9 => Ok(Opcode::Ping),
            0xA => Ok(Opcode::Pong),
            other => Err(ProtocolError::ReservedOpcode(other)),
        }
    }

    pub fn bits(self) -> u8 {
        match self {
            Opcode::Continuation => 0x0,
            Opcode::Text => 0x1,
            Opcode::Binary => 0x2,
            Opcode::Close => 0x8,
            Opcode::Ping => 0x9,
            Opcode::Pong => 0xA,
        }
    }

    /// Control frames have opcodes whose most significant bit is 1 (§5.5).
    pub fn is_control(self) -> bool {
        self.bits() & 0x8 != 0
    }

    pub fn name(self) -> &'static str {
        match self {
            Opcode::Continuation => "continuation",
            Opcode::Text => "text",
            Opcode::Binary => "binary",
            Opcode::Close => "close",
            Opcode::Ping => "ping",
            Opcode::Pong => "pong",
        }
    }
}

/// How the payload length was carried (§5.2 "Payload length").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LengthEncoding {
    /// 0–125 in the 7 bits of the second byte.
    Bits7,
    /// 126, then a 16-bit big-endian length.
    Bits16,
    /// 127, then a 64-bit big-endian length whose top bit must be 0.
    Bits64,
}

impl LengthEncoding {
    pub fn name(self) -> &'static str {
        match self {
            LengthEncoding::Bits7 => "7-bit",
            LengthEncoding::Bits16 => "16-bit",
            LengthEncoding::Bits64 => "64-bit",
        }
    }
}

/// A validated frame header, as sent by a client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    pub fin: bool,
    /// RSV1..RSV3 as bits 0b100, 0b010, 0b001. Only RSV1 may be set, and
    /// only when permessage-deflate was negotiated (RFC 7692 §6).
    pub rsv: u8,
    pub opcode: Opcode,
    /// The 32-bit masking key (§5.3). Client frames always carry one.
    pub mask: [u8; 4],
    pub payload_len: u64,
    pub length_encoding: LengthEncoding,
    /// Bytes taken by the header itself: 2 + 0/2/8 + 4.
    pub header_len: usize,
}

/// The longest header a client can send: 2 + 8 (64-bit length) + 4 (mask).
pub const MAX_HEADER_LEN: usize = 14;

/// The largest payload of a control frame (§5.5).
pub const MAX_CONTROL_PAYLOAD: u64 = 125;

impl FrameHeader {
    /// Parses the header at the start of `buf`.
    ///
    /// `Ok(None)`: not enough bytes yet, nothing consumed. `Err`: the frame
    /// breaks a MUST of §5 and the connection must be failed with the
    /// error's close code.
    pub fn parse(buf: &[u8]) -> Result<Option<FrameHeader>, ProtocolError> {
        FrameHeader::parse_with(buf, 0)
    }

    /// [`FrameHeader::parse`] on a connection whose extension defines the
    /// reserved bits in `allowed_rsv` (0b100: RSV1, permessage-deflate).
    /// RSV1 on a control frame is still an error (RFC 7692 §6.1).
    pub fn parse_with(buf: &[u8], allowed_rsv: u8) -> Result<Option<FrameHeader>, ProtocolError> {
        let (b0, b1) = match buf {
            [b0, b1, ..] => (*b0, *b1),
            _ => return Ok(None),
        };
        let fin = b0 & 0x80 != 0;
        let rsv = (b0 >> 4) & 0x07;
        // §5.2: RSV1-3 MUST be 0 unless an extension defining them was negotiated.
        if rsv & !allowed_rsv != 0 {
            return Err(ProtocolError::ReservedBits(rsv));
        }
        let opcode = Opcode::from_bits(b0 & 0x0F)?;
        if rsv != 0 && opcode.is_control() {
            return Err(ProtocolError::Rsv1NotOnFirstFrame);
        }
        // §5.1: the server MUST close the connection on an unmasked client frame.
        if b1 & 0x80 == 0 {
            return Err(ProtocolError::UnmaskedFrame);
        }
        let len7 = b1 & 0x7F;
        let (length_encoding, len_bytes) = match len7 {
            126 => (LengthEncoding::Bits16, 2),
            127 => (LengthEncoding::Bits64, 8),
            _ => (LengthEncoding::Bits7, 0),
        };
        let header_len = 2 + len_bytes + 4;
        let Some(rest) = buf.get(2..header_len) else {
            return Ok(None);
        };
        let (len_field, mask_field) = rest.split_at(len_bytes);
        let payload_len = match length_encoding {
            LengthEncoding::Bits7 => u64::from(len7),
            LengthEncoding::Bits16 => u64::from(u16::from_be_bytes([len_field[0], len_field[1]])),
            LengthEncoding::Bits64 => {
                let mut be = [0u8; 8];
                be.copy_from_slice(len_field);
                let len = u64::from_be_bytes(be);
                // §5.2: "the most significant bit MUST be 0".
                if len >> 63 != 0 {
                    return Err(ProtocolError::LengthTopBitSet);
                }
                len
            }
        };
        if opcode.is_control() {
            // §5.5: control frames MUST NOT be fragmented and MUST have a
            // payload of 125 bytes or less.
            if !fin {
                return Err(ProtocolError::FragmentedControlFrame);
            }
            if payload_len > MAX_CONTROL_PAYLOAD {
                return Err(ProtocolError::ControlFrameTooBig(payload_len));
            }
        }
        let mut mask = [0u8; 4];
        mask.copy_from_slice(mask_field);
        Ok(Some(FrameHeader {
            fin,
            rsv,
            opcode,
            mask,
            payload_len,
            length_encoding,
            header_len,
        }))
    }
}

/// Appends a server frame header to `out`: FIN set, never masked (§5.1:
/// "A server MUST NOT mask any frames"), with the shortest length encoding.
#[inline(always)]
pub fn encode_header(out: &mut Vec<u8>, opcode: Opcode, payload_len: usize) {
    encode_header_rsv(out, opcode, 0, payload_len);
}

/// [`encode_header`] with reserved bits set (`0b100`: RSV1, the first
/// frame of a compressed message, RFC 7692 §6).
#[inline(always)]
pub fn encode_header_rsv(out: &mut Vec<u8>, opcode: Opcode, rsv: u8, payload_len: usize) {
    let b0 = 0x80 | ((rsv & 0x07) << 4) | opcode.bits();
    if payload_len < 126 {
        // Two pushes, not a two-byte slice: no call to memcpy per frame.
        out.push(b0);
        out.push(payload_len as u8);
    } else if payload_len <= usize::from(u16::MAX) {
        let len = (payload_len as u16).to_be_bytes();
        out.extend_from_slice(&[b0, 126, len[0], len[1]]);
    } else {
        out.push(b0);
        out.push(127);
        out.extend_from_slice(&(payload_len as u64).to_be_bytes());
    }
}

/// Appends a whole unmasked server frame (FIN, one frame per message) to `out`.
#[inline(always)]
pub fn encode_frame(out: &mut Vec<u8>, opcode: Opcode, payload: &[u8]) {
    out.reserve(payload.len() + 10);
    encode_header(out, opcode, payload.len());
    out.extend_from_slice(payload);
}

/// Appends a close frame: a 2-byte big-endian code and a UTF-8 reason (§5.5.1).
/// The reason is cut at a character boundary so the payload stays ≤ 125 bytes.
pub fn encode_close(out: &mut Vec<u8>, code: u16, reason: &str) {
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    let reason = &reason.as_bytes()[..end];
    encode_header(out, Opcode::Close, 2 + reason.len());
    out.extend_from_slice(&code.to_be_bytes());
    out.extend_from_slice(reason);
}

/// Unmasks `data` in place (§5.3: `octet i` XOR `key[i mod 4]`), where
/// `offset` is how many payload bytes of this frame came before `data`,
/// so a payload can be unmasked chunk by chunk as it arrives.
///
/// Returns true when every unmasked byte is ASCII: the UTF-8 check of a text
/// payload then has nothing left to do (checked in the same pass, which is
/// much cheaper than a second one over the bytes).
pub fn unmask(data: &mut [u8], mask: [u8; 4], offset: u64) -> bool {
    // The key as it lines up with `data`: byte i of `data` takes key byte
    // (offset + i) mod 4, so the key is rotated by offset mod 4 bytes
    // (little-endian numbering: byte 0 is the low one).
    let shift = (offset % 4) as u32;
    let key4 = u32::from_le_bytes(mask).rotate_right(8 * shift);
    let key = key4.to_le_bytes();
    // A word at a time: the key repeated to 8 bytes lines up with every
    // 8-byte chunk because 8 is a multiple of 4.
    // (Built from the 32-bit key, not from eight separate bytes: the bytes
    // [k0 k1 k2 k3 k0 k1 k2 k3] read as one native word, on either end.)
    let key_word = u64::from(u32::from_ne_bytes(key));
    let key8 = key_word | (key_word << 32);
    let mut high_bits = 0u64;
    let mut chunks = data.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let plain = u64::from_ne_bytes(word) ^ key8;
        high_bits |= plain;
        chunk.copy_from_slice(&plain.to_ne_bytes());
    }
    let mut tail_high = 0u8;
    for (i, byte) in chunks.into_remainder().iter_mut().enumerate() {
        *byte ^= key[i % 4];
        tail_high |= *byte;
    }
    (high_bits & 0x8080_8080_8080_8080) == 0 && tail_high & 0x80 == 0
}

#[cfg(test)]
#[path = "frame_tests.rs"]
pub(crate) mod tests;
