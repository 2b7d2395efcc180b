use super::*;

/// A masked client frame, as a browser would send it.
fn client_frame(b0: u8, payload: &[u8]) -> Vec<u8> {
    crate::frame::tests::masked_frame(b0, payload, [0x5A, 0xC3, 0x01, 0xFE])
}

#[derive(Debug, PartialEq)]
enum Owned {
    Message(Opcode, Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<u16>, String),
    Frame(Opcode, bool, usize),
}

fn run(bytes: &[u8], split: usize, observe: bool) -> (Vec<Owned>, Result<Flow, ProtocolError>) {
    let mut reader = FrameReader {
        observe_frames: observe,
        ..Default::default()
    };
    let mut events = Vec::new();
    let mut result = Ok(Flow::Continue);
    for chunk in bytes.chunks(split.max(1)) {
        let mut chunk = chunk.to_vec();
        result = reader.feed(&mut chunk, 1 << 20, &mut |e| {
            events.push(match e {
                Event::Message { opcode, payload } => Owned::Message(opcode, payload.to_vec()),
                Event::Ping(p) => Owned::Ping(p.to_vec()),
                Event::Pong(p) => Owned::Pong(p.to_vec()),
                Event::Close { code, reason } => Owned::Close(code, reason.to_string()),
                Event::Frame { header, payload } => {
                    Owned::Frame(header.opcode, header.fin, payload.len())
                }
            });
            Flow::Continue
        });
        if result.is_err() {
            break;
        }
    }
    (events, result)
}

#[test]
fn s5_4_fragmented_message_with_ping_between_fragments() {
    let mut bytes = client_frame(0x01, b"Hel");
    bytes.extend(client_frame(0x89, b"ping!"));
    bytes.extend(client_frame(0x00, "lo, κ".as_bytes()));
    bytes.extend(client_frame(0x80, b"!"));
    for split in [1, 2, 3, 5, 7, 11, 64] {
        let (events, result) = run(&bytes, split, false);
        assert_eq!(result, Ok(Flow::Continue));
        assert_eq!(
            events,
            vec![
                Owned::Ping(b"ping!".to_vec()),
                Owned::Message(Opcode::Text, "Hello, κ!".as_bytes().to_vec()),
            ],
            "split {split}"
        );
    }
}

#[test]
fn many_frames_in_one_read_come_out_in_order() {
    let mut bytes = Vec::new();
    for i in 0..100u32 {
        bytes.extend(client_frame(0x82, &i.to_be_bytes()));
    }
    let (events, result) = run(&bytes, bytes.len(), false);
    assert!(result.is_ok());
    assert_eq!(events.len(), 100);
    for (i, e) in events.iter().enumerate() {
        assert_eq!(
            e,
            &Owned::Message(Opcode::Binary, (i as u32).to_be_bytes().to_vec())
        );
    }
}

#[test]
fn a_frame_read_whole_and_the_same_frame_in_pieces_agree() {
    // A data frame that a read holds whole takes a short way through the
    // reader; split at any byte it takes the long way. Both must give the
    // same events and the same errors (§5.4, §8.1, §10.4).
    let mut good = client_frame(0x81, "h\u{e9}llo \u{20ac}".as_bytes());
    good.extend(client_frame(0x82, &[0, 159, 255]));
    good.extend(client_frame(0x89, b"ping"));
    good.extend(client_frame(0x81, b""));
    let whole = run(&good, good.len(), false);
    assert!(whole.1.is_ok());
    assert_eq!(whole.0.len(), 4);
    let bad_utf8 = client_frame(0x81, &[b'a', 0xC3, 0x28, b'b']);
    let mut too_big = vec![0x82, 0x80 | 126];
    too_big.extend_from_slice(&2000u16.to_be_bytes());
    too_big.extend_from_slice(&[9, 8, 7, 6]);
    too_big.resize(too_big.len() + 2000, 0x41);
    let mut in_fragment = client_frame(0x01, b"a");
    in_fragment.extend(client_frame(0x82, b"b"));
    for bytes in [&good, &bad_utf8, &in_fragment] {
        let whole = run(bytes, bytes.len(), false);
        for split in 1..bytes.len() {
            assert_eq!(run(bytes, split, false), whole, "split {split}");
        }
    }
    assert_eq!(
        run(&bad_utf8, 100, false).1,
        Err(ProtocolError::InvalidUtf8)
    );
    assert_eq!(
        run(&in_fragment, 100, false).1,
        Err(ProtocolError::ExpectedContinuation)
    );
    let mut reader = FrameReader::default();
    let result = reader.feed(&mut too_big, 1000, &mut |_| Flow::Continue);
    assert!(matches!(
        result,
        Err(ProtocolError::MessageTooBig {
            size: 2000,
            limit: 1000
        })
    ));
}

#[test]
fn s5_4_continuation_without_message_is_1002() {
    let (_, result) = run(&client_frame(0x80, b"x"), 100, false);
    assert_eq!(result, Err(ProtocolError::UnexpectedContinuation));
    assert_eq!(ProtocolError::UnexpectedContinuation.close_code(), 1002);
}

#[test]
fn s5_4_new_data_frame_inside_fragmented_message_is_1002() {
    let mut bytes = client_frame(0x01, b"a");
    bytes.extend(client_frame(0x81, b"b"));
    let (_, result) = run(&bytes, 100, false);
    assert_eq!(result, Err(ProtocolError::ExpectedContinuation));
}

#[test]
fn s8_1_invalid_utf8_fails_before_frame_ends() {
    // The payload's first bytes are already impossible UTF-8: the error
    // comes from the first chunk, though the frame announces 1000 bytes.
    let mut payload = vec![0xF4, 0x90];
    payload.resize(1000, b'a');
    let bytes = client_frame(0x81, &payload);
    let mut reader = FrameReader::default();
    let mut first = bytes[..20].to_vec();
    let result = reader.feed(&mut first, 1 << 20, &mut |_| Flow::Continue);
    assert_eq!(result, Err(ProtocolError::InvalidUtf8));
    assert_eq!(ProtocolError::InvalidUtf8.close_code(), 1007);
}

#[test]
fn s8_1_text_split_inside_a_character_across_fragments() {
    let text = "€uro";
    let b = text.as_bytes();
    let mut bytes = client_frame(0x01, &b[..1]);
    bytes.extend(client_frame(0x00, &b[1..2]));
    bytes.extend(client_frame(0x80, &b[2..]));
    let (events, result) = run(&bytes, 3, false);
    assert!(result.is_ok());
    assert_eq!(events, vec![Owned::Message(Opcode::Text, b.to_vec())]);
}

#[test]
fn s8_1_text_ending_mid_character_is_1007() {
    let (_, result) = run(&client_frame(0x81, &"€".as_bytes()[..2]), 100, false);
    assert_eq!(result, Err(ProtocolError::InvalidUtf8));
}

#[test]
fn s10_4_oversized_message_refused_from_header() {
    let mut reader = FrameReader::default();
    let mut header = vec![0x82, 0x80 | 127];
    header.extend_from_slice(&(2u64 << 20).to_be_bytes());
    header.extend_from_slice(&[1, 2, 3, 4]);
    let result = reader.feed(&mut header, 1 << 20, &mut |_| Flow::Continue);
    assert!(matches!(result, Err(ProtocolError::MessageTooBig { .. })));
    assert_eq!(result.unwrap_err().close_code(), 1009);
}

#[test]
fn s10_4_oversized_fragmented_message_refused() {
    let mut reader = FrameReader::default();
    let half = vec![0u8; 600 * 1024];
    let mut bytes = client_frame(0x02, &half);
    bytes.extend(client_frame(0x80, &half));
    let result = reader.feed(&mut bytes, 1 << 20, &mut |_| Flow::Continue);
    assert!(matches!(result, Err(ProtocolError::MessageTooBig { .. })));
}

#[test]
fn s5_5_1_close_payloads() {
    assert_eq!(
        parse_close(&[]),
        Ok(Event::Close {
            code: None,
            reason: ""
        })
    );
    assert_eq!(parse_close(&[3]), Err(ProtocolError::CloseTooShort));
    assert_eq!(
        parse_close(&[0x03, 0xE8, b'o', b'k']),
        Ok(Event::Close {
            code: Some(1000),
            reason: "ok"
        })
    );
    assert_eq!(
        parse_close(&[0x03, 0xE8, 0xFF]),
        Err(ProtocolError::InvalidUtf8)
    );
}

#[test]
fn s7_4_close_codes_valid_and_invalid() {
    for code in [
        1000u16, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999,
    ] {
        assert!(parse_close(&code.to_be_bytes()).is_ok(), "{code}");
    }
    for code in [
        0u16, 999, 1004, 1005, 1006, 1012, 1013, 1014, 1015, 1016, 1100, 2000, 2999, 5000, 65535,
    ] {
        assert_eq!(
            parse_close(&code.to_be_bytes()),
            Err(ProtocolError::InvalidCloseCode(code)),
            "{code}"
        );
    }
}

#[test]
fn observed_frames_precede_their_message() {
    let mut bytes = client_frame(0x01, b"ab");
    bytes.extend(client_frame(0x80, b"cd"));
    bytes.extend(client_frame(0x89, b""));
    let (events, _) = run(&bytes, 4, true);
    assert_eq!(
        events,
        vec![
            Owned::Frame(Opcode::Text, false, 2),
            Owned::Frame(Opcode::Continuation, true, 2),
            Owned::Message(Opcode::Text, b"abcd".to_vec()),
            Owned::Frame(Opcode::Ping, true, 0),
            Owned::Ping(vec![]),
        ]
    );
}

#[test]
fn empty_messages_and_reader_returns_to_idle() {
    let mut bytes = client_frame(0x81, b"");
    bytes.extend(client_frame(0x82, b""));
    let mut reader = FrameReader::default();
    let mut n = 0;
    reader
        .feed(&mut bytes, 10, &mut |_| {
            n += 1;
            Flow::Continue
        })
        .unwrap();
    assert_eq!(n, 2);
    assert!(reader.is_idle());
}

#[test]
fn small_whole_frames_keep_every_check_of_the_general_path() {
    // 0, 125 (the last 7-bit length) and 126 (16-bit) bytes in one read:
    // the first two take the short path, the third the general one.
    let sizes = [0usize, 125, 126];
    let mut bytes = Vec::new();
    for &n in &sizes {
        bytes.extend(client_frame(0x82, &vec![7u8; n]));
    }
    let (events, result) = run(&bytes, bytes.len(), false);
    assert_eq!(result, Ok(Flow::Continue));
    let want: Vec<_> = sizes
        .iter()
        .map(|&n| Owned::Message(Opcode::Binary, vec![7u8; n]))
        .collect();
    assert_eq!(events, want);

    // §5.1: an unmasked small frame is still refused.
    let (events, result) = run(&[0x81, 0x02, b'h', b'i', 0, 0, 0, 0], 100, false);
    assert_eq!(result, Err(ProtocolError::UnmaskedFrame));
    assert!(events.is_empty());

    // --max-message below a small frame's length is still enforced.
    let mut reader = FrameReader::default();
    let mut frame = client_frame(0x81, b"hello");
    let result = reader.feed(&mut frame, 4, &mut |_| Flow::Continue);
    assert!(matches!(
        result,
        Err(ProtocolError::MessageTooBig { size: 5, limit: 4 })
    ));
}
