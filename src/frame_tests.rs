use super::*;

/// A masked client frame with first byte `b0`, as a browser sends it
/// (shared with the other unit tests of the crate).
pub(crate) fn masked_frame(b0: u8, payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
    let mut out = vec![b0];
    let len = payload.len();
    if len < 126 {
        out.push(0x80 | len as u8);
    } else if len <= 0xFFFF {
        out.push(0x80 | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(0x80 | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    out.extend_from_slice(&mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    out
}

#[test]
fn s5_7_single_frame_masked_text_hello() {
    // The RFC's own example: 0x81 0x85 0x37 0xfa 0x21 0x3d 0x7f 0x9f 0x4d 0x51 0x58
    let mut bytes = vec![
        0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ];
    let h = FrameHeader::parse(&bytes).unwrap().unwrap();
    assert!(h.fin);
    assert_eq!(h.opcode, Opcode::Text);
    assert_eq!(h.payload_len, 5);
    assert_eq!(h.header_len, 6);
    assert!(unmask(&mut bytes[6..], h.mask, 0));
    assert_eq!(&bytes[6..], b"Hello");
}

#[test]
fn s5_2_header_needs_more_bytes_until_complete() {
    let frame = masked_frame(0x82, &[7u8; 300], [1, 2, 3, 4]);
    for cut in 0..8 {
        assert_eq!(
            FrameHeader::parse(&frame[..cut]).unwrap(),
            None,
            "cut {cut}"
        );
    }
    let h = FrameHeader::parse(&frame[..8]).unwrap().unwrap();
    assert_eq!(h.payload_len, 300);
    assert_eq!(h.length_encoding, LengthEncoding::Bits16);
}

#[test]
fn s5_2_lengths_7_16_64_bit() {
    for (len, enc, hl) in [
        (0usize, LengthEncoding::Bits7, 6),
        (125, LengthEncoding::Bits7, 6),
        (126, LengthEncoding::Bits16, 8),
        (65535, LengthEncoding::Bits16, 8),
        (65536, LengthEncoding::Bits64, 14),
    ] {
        let frame = masked_frame(0x82, &vec![0u8; len], [9, 9, 9, 9]);
        let h = FrameHeader::parse(&frame).unwrap().unwrap();
        assert_eq!(h.payload_len as usize, len);
        assert_eq!(h.length_encoding, enc);
        assert_eq!(h.header_len, hl);
    }
}

#[test]
fn s5_2_64_bit_length_top_bit_must_be_zero() {
    let mut frame = vec![0x82, 0x80 | 127];
    frame.extend_from_slice(&(1u64 << 63).to_be_bytes());
    frame.extend_from_slice(&[0; 4]);
    assert_eq!(
        FrameHeader::parse(&frame),
        Err(ProtocolError::LengthTopBitSet)
    );
}

#[test]
fn s5_1_client_frame_must_be_masked() {
    assert_eq!(
        FrameHeader::parse(&[0x81, 0x05, b'h', b'e', b'l', b'l', b'o']),
        Err(ProtocolError::UnmaskedFrame)
    );
}

#[test]
fn s5_2_rsv_bits_without_extension_fail() {
    for b0 in [0xC1, 0xA1, 0x91] {
        assert!(matches!(
            FrameHeader::parse(&[b0, 0x80, 0, 0, 0, 0]),
            Err(ProtocolError::ReservedBits(_))
        ));
    }
}

#[test]
fn s5_2_reserved_opcodes_fail() {
    for op in [3u8, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF] {
        assert_eq!(
            FrameHeader::parse(&[0x80 | op, 0x80, 0, 0, 0, 0]),
            Err(ProtocolError::ReservedOpcode(op))
        );
    }
}

#[test]
fn s5_5_control_frame_max_125_bytes() {
    let ok = masked_frame(0x89, &[0u8; 125], [1, 2, 3, 4]);
    assert!(FrameHeader::parse(&ok).unwrap().is_some());
    let big = masked_frame(0x89, &[0u8; 126], [1, 2, 3, 4]);
    assert_eq!(
        FrameHeader::parse(&big),
        Err(ProtocolError::ControlFrameTooBig(126))
    );
}

#[test]
fn s5_5_control_frame_must_not_be_fragmented() {
    assert_eq!(
        FrameHeader::parse(&[0x09, 0x80, 0, 0, 0, 0]),
        Err(ProtocolError::FragmentedControlFrame)
    );
}

#[test]
fn s5_1_server_frames_are_unmasked_with_shortest_length() {
    for (len, hl) in [(0usize, 2), (125, 2), (126, 4), (65535, 4), (65536, 10)] {
        let mut out = Vec::new();
        encode_frame(&mut out, Opcode::Binary, &vec![0xAB; len]);
        assert_eq!(out[0], 0x82);
        assert_eq!(out[1] & 0x80, 0, "server frames are never masked");
        assert_eq!(out.len(), hl + len);
    }
}

#[test]
fn s5_5_1_close_reason_is_cut_at_a_char_boundary() {
    let mut out = Vec::new();
    encode_close(&mut out, 1000, &"é".repeat(100));
    assert_eq!(out[1] as usize, out.len() - 2);
    assert!(out.len() - 2 <= 125);
    assert!(std::str::from_utf8(&out[4..]).is_ok());
}

#[test]
fn s5_3_unmask_in_chunks_matches_whole() {
    let mask = [0x11, 0x22, 0x33, 0x44];
    let plain: Vec<u8> = (0..1000u32).map(|i| (i % 251) as u8).collect();
    let masked: Vec<u8> = plain
        .iter()
        .enumerate()
        .map(|(i, b)| b ^ mask[i % 4])
        .collect();
    for split in [1usize, 3, 7, 8, 13, 500] {
        let mut data = masked.clone();
        let mut offset = 0;
        for chunk in data.chunks_mut(split) {
            let n = chunk.len();
            unmask(chunk, mask, offset);
            offset += n as u64;
        }
        assert_eq!(data, plain, "split {split}");
    }
}

#[test]
fn unmask_reports_non_ascii() {
    let mut ascii = b"plain ascii text, long enough".to_vec();
    assert!(unmask(&mut ascii, [0; 4], 0));
    let mut utf8 = "caf\u{e9} and more bytes".as_bytes().to_vec();
    assert!(!unmask(&mut utf8, [0; 4], 0));
    let mut tail = b"12345678\xff".to_vec();
    assert!(!unmask(&mut tail, [0; 4], 0));
}
