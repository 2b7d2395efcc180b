//! Property tests of the pure codec (proptest): whatever the fragmentation
//! and however TCP chunks it, a message decodes to itself; and no input,
//! however hostile, makes the decoder panic.

mod common;

use proptest::prelude::*;
use wsloop::frame::Opcode;
use wsloop::message::{Event, Flow, FrameReader};

/// A masked client frame (the tests' own encoder, not the server's).
fn client_frame(fin: bool, opcode: u8, payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
    common::masked_frame((u8::from(fin) << 7) | opcode, payload, mask)
}

#[derive(Debug, PartialEq)]
enum Got {
    Message(Opcode, Vec<u8>),
    Ping(Vec<u8>),
}

/// Feeds `bytes` cut at `cuts` and collects the events.
fn decode(bytes: &[u8], cuts: &[usize]) -> Result<Vec<Got>, String> {
    let mut reader = FrameReader::default();
    let mut got = Vec::new();
    let mut start = 0;
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    points.push(bytes.len());
    points.sort_unstable();
    for end in points {
        let mut chunk = bytes[start..end].to_vec();
        start = end;
        reader
            .feed(&mut chunk, 1 << 24, &mut |e| {
                match e {
                    Event::Message { opcode, payload } => {
                        got.push(Got::Message(opcode, payload.to_vec()))
                    }
                    Event::Ping(p) => got.push(Got::Ping(p.to_vec())),
                    _ => {}
                }
                Flow::Continue
            })
            .map_err(|e| e.to_string())?;
    }
    if !reader.is_idle() {
        return Err("reader not idle at the end".into());
    }
    Ok(got)
}

fn text_or_binary() -> impl Strategy<Value = (bool, Vec<u8>)> {
    prop_oneof![
        any::<String>().prop_map(|s| (true, s.into_bytes())),
        proptest::collection::vec(any::<u8>(), 0..70_000).prop_map(|b| (false, b)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn any_message_in_any_fragmentation_and_chunking_decodes_to_itself(
        (is_text, payload) in text_or_binary(),
        fragment_cuts in proptest::collection::vec(any::<usize>(), 0..6),
        tcp_cuts in proptest::collection::vec(any::<usize>(), 0..20),
        ping_after in proptest::option::of(any::<usize>()),
        mask in any::<[u8; 4]>(),
    ) {
        // Cut the payload into fragments (cuts may fall inside a UTF-8
        // character: the validator must carry it across).
        let mut points: Vec<usize> = fragment_cuts.iter().map(|c| c % (payload.len() + 1)).collect();
        points.sort_unstable();
        points.dedup();
        points.push(payload.len());
        let mut bytes = Vec::new();
        let mut start = 0;
        let n = points.len();
        let ping_at = ping_after.map(|p| p % n);
        for (i, end) in points.into_iter().enumerate() {
            let opcode = if i == 0 { if is_text { 1 } else { 2 } } else { 0 };
            bytes.extend(client_frame(i == n - 1, opcode, &payload[start..end], mask));
            if ping_at == Some(i) && i != n - 1 {
                bytes.extend(client_frame(true, 9, b"p", mask));
            }
            start = end;
        }
        let got = decode(&bytes, &tcp_cuts).map_err(TestCaseError::fail)?;
        let opcode = if is_text { Opcode::Text } else { Opcode::Binary };
        let message = Got::Message(opcode, payload.clone());
        let has_ping = got.iter().any(|g| matches!(g, Got::Ping(_)));
        prop_assert_eq!(got.last(), Some(&message));
        prop_assert_eq!(got.len(), if has_ping { 2 } else { 1 });
    }

    #[test]
    fn the_decoder_never_panics_on_arbitrary_bytes(
        bytes in proptest::collection::vec(any::<u8>(), 0..4096),
        cuts in proptest::collection::vec(any::<usize>(), 0..16),
    ) {
        // Accepted or rejected with a protocol error: never a panic.
        let _ = decode(&bytes, &cuts);
    }

    #[test]
    fn the_handshake_parser_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        if let Some(end) = wsloop::handshake::find_head_end(&bytes, 0)
            && let Ok(req) = wsloop::handshake::Request::parse(&bytes[..end])
        {
            let _ = wsloop::handshake::validate_upgrade(&req);
        }
    }
}
