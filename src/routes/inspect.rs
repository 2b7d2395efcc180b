//! `/inspect`: the protocol made visible. On open the client is told how
//! its handshake was answered; then every frame it sends is dissected into
//! a JSON text — header bits, masking key, length encoding, the payload as
//! it travelled (masked) and as it was meant (unmasked) — before the
//! message itself is echoed. The web page's inspector view renders these.
//!
//! The field names are part of the README's documented interface.

use serde_json::json;

use crate::app::{Handle, hex};
use crate::frame::{FrameHeader, Opcode};
use crate::handshake;

/// How many payload bytes a frame report shows.
pub const SHOWN_BYTES: usize = 64;

/// The first report: the handshake as the server saw and answered it.
pub fn on_open(conn: &mut Handle, head: &[u8], key: &str, extensions: Option<&str>) {
    let sha1 = handshake::accept_sha1(key);
    let report = json!({
        "type": "handshake",
        "request": String::from_utf8_lossy(head),
        "key": key,
        "key_guid": format!("{key}{}", handshake::GUID),
        "sha1_hex": hex(&sha1),
        "accept": handshake::accept_key(key),
        // RFC 7692: the extension answered in the 101 (null: none).
        "extensions": extensions,
    });
    conn.send_text(&report.to_string());
}

/// One frame from the client, described. `payload` is already unmasked;
/// masking again with the same key gives back the bytes as sent (§5.3).
pub fn on_frame(conn: &mut Handle, header: &FrameHeader, payload: &[u8]) {
    let report = frame_report(header, payload);
    conn.send_text(&report.to_string());
}

/// 1 + the wire bytes of the compressed data message in progress, after
/// `header`: RSV1 on a first frame starts one (RFC 7692 §6), continuations
/// add to it, control frames leave it; 0 when the message is not compressed.
pub fn compressed_so_far(so_far: u32, header: &FrameHeader) -> u32 {
    let len = u32::try_from(header.payload_len).unwrap_or(u32::MAX);
    match header.opcode {
        Opcode::Text | Opcode::Binary if header.rsv & 4 != 0 => len.saturating_add(1),
        Opcode::Text | Opcode::Binary => 0,
        Opcode::Continuation if so_far > 0 => so_far.saturating_add(len),
        _ => so_far,
    }
}

/// A compressed message is complete: how many bytes it took on the wire and
/// how many it inflated to.
/// `so_far` is [`compressed_so_far`]'s count.
pub fn on_inflated(conn: &mut Handle, so_far: u32, inflated: usize) {
    let report = json!({
        "type": "inflated",
        "compressed_len": so_far - 1,
        "inflated_len": inflated,
    });
    conn.send_text(&report.to_string());
}

pub fn frame_report(header: &FrameHeader, payload: &[u8]) -> serde_json::Value {
    let shown = payload.get(..SHOWN_BYTES).unwrap_or(payload);
    let masked: Vec<u8> = shown
        .iter()
        .zip(header.mask.iter().cycle())
        .map(|(b, m)| b ^ m)
        .collect();
    // A compressed frame (RSV1, RFC 7692 §6) carries deflate data, not
    // text: no text column for it (the `inflated` report and the echo
    // show the message).
    let compressed = header.rsv & 4 != 0;
    let text = match header.opcode {
        Opcode::Text | Opcode::Continuation if !compressed => {
            Some(String::from_utf8_lossy(shown).into_owned())
        }
        Opcode::Close if shown.len() > 2 => shown
            .get(2..)
            .map(|reason| String::from_utf8_lossy(reason).into_owned()),
        _ => None,
    };
    let mut header_bytes =
        vec![(u8::from(header.fin) << 7) | (header.rsv << 4) | header.opcode.bits()];
    let len = header.payload_len;
    match header.length_encoding {
        crate::frame::LengthEncoding::Bits7 => header_bytes.push(0x80 | len as u8),
        crate::frame::LengthEncoding::Bits16 => {
            header_bytes.push(0x80 | 126);
            header_bytes.extend_from_slice(&(len as u16).to_be_bytes());
        }
        crate::frame::LengthEncoding::Bits64 => {
            header_bytes.push(0x80 | 127);
            header_bytes.extend_from_slice(&len.to_be_bytes());
        }
    }
    header_bytes.extend_from_slice(&header.mask);
    json!({
        "type": "frame",
        "fin": header.fin,
        "rsv1": header.rsv & 4 != 0,
        "rsv2": header.rsv & 2 != 0,
        "rsv3": header.rsv & 1 != 0,
        "opcode": header.opcode.bits(),
        "opcode_name": header.opcode.name(),
        "masked": true,
        "mask_key": hex(&header.mask),
        "payload_len": len,
        // RFC 7692 §6: RSV1 on a message's first frame = compressed; the
        // payload shown is then the compressed bytes as they travelled.
        "compressed": header.rsv & 4 != 0,
        "length_encoding": header.length_encoding.name(),
        "header_hex": hex(&header_bytes),
        "masked_hex": hex(&masked),
        "payload_hex": hex(shown),
        "text": text,
        "truncated": payload.len() > SHOWN_BYTES,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::LengthEncoding;

    #[test]
    fn rfc7692_s6_compressed_length_counts_first_frame_and_continuations() {
        let mut h = FrameHeader {
            fin: false,
            rsv: 4,
            opcode: Opcode::Text,
            mask: [0; 4],
            payload_len: 0,
            length_encoding: LengthEncoding::Bits7,
            header_len: 6,
        };
        let mut so_far = compressed_so_far(0, &h);
        assert_eq!(
            so_far, 1,
            "an empty compressed first frame still starts one"
        );
        h.rsv = 0;
        h.opcode = Opcode::Ping;
        h.payload_len = 4;
        so_far = compressed_so_far(so_far, &h);
        h.opcode = Opcode::Continuation;
        h.payload_len = 7;
        so_far = compressed_so_far(so_far, &h);
        assert_eq!(so_far - 1, 7);
        h.opcode = Opcode::Binary;
        assert_eq!(compressed_so_far(so_far, &h), 0, "a plain message");
    }

    #[test]
    fn inspect_reports_the_rfc_hello_frame() {
        let header = FrameHeader {
            fin: true,
            rsv: 0,
            opcode: Opcode::Text,
            mask: [0x37, 0xfa, 0x21, 0x3d],
            payload_len: 5,
            length_encoding: LengthEncoding::Bits7,
            header_len: 6,
        };
        let r = frame_report(&header, b"Hello");
        assert_eq!(r["header_hex"], "818537fa213d");
        assert_eq!(r["masked_hex"], "7f9f4d5158");
        assert_eq!(r["payload_hex"], "48656c6c6f");
        assert_eq!(r["text"], "Hello");
        assert_eq!(r["opcode_name"], "text");
        assert_eq!(r["length_encoding"], "7-bit");
    }
}
