//! An independent oracle for the frame decoder: a straightforward reference
//! decoder written from RFC 6455 §5 alone — whole input in one buffer, one
//! frame after another, no state carried between reads — and a check that
//! `wsloop::message::FrameReader`, fed the same stream whole and in pieces,
//! gives exactly the same frames, messages and verdict.
//!
//! Shared by `fuzz_targets/frames.rs` (libFuzzer) and `tests/integration/fuzz_corpus.rs`
//! (replays the committed corpus and every regression on stable `cargo test`).
//! It imports nothing from the server but the reader it checks.

use wsloop::frame::Opcode;
use wsloop::message::{Event, Flow, FrameReader};

/// What a decoder reported, in order.
#[derive(Debug, PartialEq, Eq, Clone)]
pub enum Seen {
    /// Every complete frame: FIN, opcode, unmasked payload.
    Frame {
        fin: bool,
        opcode: u8,
        payload: Vec<u8>,
    },
    Message {
        text: bool,
        payload: Vec<u8>,
    },
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<u16>, String),
}

/// How the stream ended.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum Verdict {
    /// Between frames, no message open.
    Idle,
    /// Inside a header, a payload, or a fragmented message.
    NeedMore,
    /// A valid close frame arrived; nothing after it is read.
    Closed,
    /// _Fail the WebSocket Connection_ with this close code.
    Failed(u16),
}

/// Close codes a peer may send (§7.4.1, §7.4.2). 1012–1014 were registered
/// with IANA after the RFC; wsloop documents them as not accepted from a
/// client, and so does this oracle.
fn close_code_ok(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1011 | 3000..=4999)
}

/// The reference: decodes a client stream front to back. Checks are made
/// as soon as the bytes they need are there, like a server that fails fast:
/// the base header's bits with 2 bytes, the length and control-frame rules
/// with the whole header, UTF-8 on every payload byte that has arrived.
pub fn reference(stream: &[u8], max_message: u64) -> (Vec<Seen>, Verdict) {
    let mut seen = Vec::new();
    // The data message being assembled: (is text, payload so far).
    let mut message: Option<(bool, Vec<u8>)> = None;
    let mut at = 0;
    loop {
        let rest = &stream[at..];
        if rest.is_empty() {
            let v = if message.is_some() {
                Verdict::NeedMore
            } else {
                Verdict::Idle
            };
            return (seen, v);
        }
        if rest.len() < 2 {
            return (seen, Verdict::NeedMore);
        }
        let (b0, b1) = (rest[0], rest[1]);
        let fin = b0 & 0x80 != 0;
        let opcode = b0 & 0x0F;
        // §5.2: RSV1-3 are 0 without an extension; opcodes 3-7 and B-F are
        // reserved. §5.1: a client frame is masked.
        if b0 & 0x70 != 0 || !matches!(opcode, 0 | 1 | 2 | 8 | 9 | 10) || b1 & 0x80 == 0 {
            return (seen, Verdict::Failed(1002));
        }
        let extra = match b1 & 0x7F {
            126 => 2,
            127 => 8,
            _ => 0,
        };
        let header_len = 2 + extra + 4;
        if rest.len() < header_len {
            return (seen, Verdict::NeedMore);
        }
        let len: u64 = match extra {
            0 => u64::from(b1 & 0x7F),
            2 => u64::from(u16::from_be_bytes([rest[2], rest[3]])),
            _ => {
                let mut be = [0u8; 8];
                be.copy_from_slice(&rest[2..10]);
                u64::from_be_bytes(be)
            }
        };
        // §5.2: the most significant bit of a 64-bit length is 0.
        if len >> 63 != 0 {
            return (seen, Verdict::Failed(1002));
        }
        let control = opcode >= 8;
        // §5.5: control frames are not fragmented and carry ≤ 125 bytes.
        if control && (!fin || len > 125) {
            return (seen, Verdict::Failed(1002));
        }
        if !control {
            // §5.4: a continuation continues something; a new message does
            // not start inside another.
            match (opcode, message.is_some()) {
                (0, false) | (1 | 2, true) => return (seen, Verdict::Failed(1002)),
                _ => {}
            }
            // §10.4: the size limit, judged from the header.
            let so_far = message.as_ref().map_or(0, |m| m.1.len() as u64);
            if so_far + len > max_message {
                return (seen, Verdict::Failed(1009));
            }
        }
        let mask = [
            rest[header_len - 4],
            rest[header_len - 3],
            rest[header_len - 2],
            rest[header_len - 1],
        ];
        let body = &rest[header_len..];
        let have = (body.len() as u64).min(len) as usize;
        let payload: Vec<u8> = body[..have]
            .iter()
            .enumerate()
            .map(|(i, b)| b ^ mask[i % 4])
            .collect();
        let complete = have as u64 == len;
        if !control {
            let text = match &message {
                Some((text, _)) => *text,
                None => opcode == 1,
            };
            if text {
                // §8.1: invalid as soon as no continuation could fix it;
                // unfinished at the end of the message is invalid too.
                let mut all = message.as_ref().map_or(Vec::new(), |m| m.1.clone());
                all.extend_from_slice(&payload);
                if let Err(e) = std::str::from_utf8(&all)
                    && (e.error_len().is_some() || (complete && fin))
                {
                    return (seen, Verdict::Failed(1007));
                }
            }
        }
        if !complete {
            return (seen, Verdict::NeedMore);
        }
        at += header_len + have;
        seen.push(Seen::Frame {
            fin,
            opcode,
            payload: payload.clone(),
        });
        match opcode {
            9 => seen.push(Seen::Ping(payload)),
            10 => seen.push(Seen::Pong(payload)),
            8 => {
                // §5.5.1: empty, or a 2-byte code and a UTF-8 reason.
                if payload.is_empty() {
                    seen.push(Seen::Close(None, String::new()));
                    return (seen, Verdict::Closed);
                }
                if payload.len() == 1 {
                    return (seen, Verdict::Failed(1002));
                }
                let code = u16::from_be_bytes([payload[0], payload[1]]);
                if !close_code_ok(code) {
                    return (seen, Verdict::Failed(1002));
                }
                let Ok(reason) = String::from_utf8(payload[2..].to_vec()) else {
                    return (seen, Verdict::Failed(1007));
                };
                seen.push(Seen::Close(Some(code), reason));
                return (seen, Verdict::Closed);
            }
            _ => {
                let m = message.get_or_insert_with(|| (opcode == 1, Vec::new()));
                m.1.extend_from_slice(&payload);
                if fin && let Some((text, payload)) = message.take() {
                    seen.push(Seen::Message { text, payload });
                }
            }
        }
    }
}

/// The reader under test, fed `stream` in pieces of the given sizes (the
/// last piece takes whatever is left).
pub fn wsloop(stream: &[u8], max_message: u64, sizes: &[usize]) -> (Vec<Seen>, Verdict) {
    let mut reader = FrameReader::default();
    reader.observe_frames = true;
    let mut seen = Vec::new();
    let mut at = 0;
    let mut sizes = sizes.iter().copied();
    while at < stream.len() {
        let n = sizes
            .next()
            .unwrap_or(stream.len())
            .clamp(1, stream.len() - at);
        let mut piece = stream[at..at + n].to_vec();
        at += n;
        let result = reader.feed(&mut piece, max_message, &mut |e| {
            match e {
                Event::Frame { header, payload } => seen.push(Seen::Frame {
                    fin: header.fin,
                    opcode: header.opcode.bits(),
                    payload: payload.to_vec(),
                }),
                Event::Message { opcode, payload } => seen.push(Seen::Message {
                    text: opcode == Opcode::Text,
                    payload: payload.to_vec(),
                }),
                Event::Ping(p) => seen.push(Seen::Ping(p.to_vec())),
                Event::Pong(p) => seen.push(Seen::Pong(p.to_vec())),
                Event::Close { code, reason } => {
                    seen.push(Seen::Close(code, reason.to_string()));
                    return Flow::Stop;
                }
            }
            Flow::Continue
        });
        match result {
            Err(e) => return (seen, Verdict::Failed(e.close_code())),
            Ok(Flow::Stop) => return (seen, Verdict::Closed),
            Ok(Flow::Continue) => {}
        }
    }
    let v = if reader.is_idle() {
        Verdict::Idle
    } else {
        Verdict::NeedMore
    };
    (seen, v)
}

/// Piece sizes from a seed byte: 0 is a byte at a time, else sizes in
/// `1..=seed` from a small LCG.
pub fn piece_sizes(seed: u8, len: usize) -> Vec<usize> {
    if seed == 0 {
        return vec![1; len];
    }
    let mut x = u32::from(seed);
    let mut sizes = Vec::new();
    let mut total = 0;
    while total < len {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        let n = 1 + (x >> 16) as usize % usize::from(seed);
        sizes.push(n);
        total += n;
    }
    sizes
}

/// The fuzz input: [chunk seed][limit selector] then the client's stream.
/// Panics when the reader and the reference disagree.
pub fn check(data: &[u8]) {
    let [seed, limit, stream @ ..] = data else {
        return;
    };
    let max_message = [1u64, 125, 1000, 1 << 16][usize::from(*limit) % 4];
    let expected = reference(stream, max_message);
    let whole = wsloop(stream, max_message, &[stream.len()]);
    assert_eq!(
        whole, expected,
        "FrameReader (one read) disagrees with the reference decoder"
    );
    let pieces = wsloop(stream, max_message, &piece_sizes(*seed, stream.len()));
    assert_eq!(
        pieces, expected,
        "FrameReader in pieces disagrees with the reference decoder"
    );
}
