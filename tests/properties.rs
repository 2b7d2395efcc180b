//! Property tests of the pure codec (proptest): whatever the fragmentation
//! and however TCP chunks it, a message decodes to itself; and no input,
//! however hostile, makes the decoder or the handshake parser panic.
//!
//! Random bytes almost never reach the interesting code (they rarely hold
//! a CRLFCRLF, or a valid first frame header), so the hostile inputs here
//! are structured — valid requests and frame streams, then mutated — and
//! each test counts how many cases reached the parser and asserts a share.

mod common;

use std::cell::RefCell;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use proptest::test_runner::{Config, TestRunner};

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
}

/// Runs `cases` generated cases of `strategy` through `test` (which
/// returns whether the case reached the code under test), then returns how
/// many did. Shrinking runs are counted too, which only matters on failure.
fn run_counting<S: Strategy>(
    cases: u32,
    strategy: S,
    test: impl Fn(S::Value, &mut Counts) -> Result<(), TestCaseError>,
) -> Counts {
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let counts = RefCell::new(Counts::default());
    let result = runner.run(&strategy, |value| {
        let mut c = counts.borrow_mut();
        c.cases += 1;
        test(value, &mut c)
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    counts.into_inner()
}

#[derive(Debug, Default)]
struct Counts {
    cases: usize,
    /// Reached the parser / decoder proper.
    reached: usize,
    /// Accepted in full.
    accepted: usize,
    /// Refused with an error.
    refused: usize,
    /// Mutated inputs.
    mutated: usize,
}

impl Counts {
    fn share(&self, n: usize) -> f64 {
        n as f64 / self.cases.max(1) as f64
    }
}

// ---- the handshake parser -------------------------------------------------

/// A valid upgrade request in many spellings: route, header-name case,
/// header order, optional whitespace, extra headers. Returns the request
/// lines (the request line first) and the key.
fn valid_request() -> impl Strategy<Value = (Vec<String>, String)> {
    (
        prop::sample::select(vec![
            "/",
            "/chat",
            "/chat/room-7",
            "/echo",
            "/guest",
            "/upload",
            "/inspect",
            "/echo?x=1",
        ]),
        any::<[u8; 16]>(),
        any::<u64>(),
        prop::sample::subsequence(
            vec![
                "Origin: http://127.0.0.1:8080",
                "Sec-WebSocket-Protocol: wsloop.chat.v1",
                "Sec-WebSocket-Extensions: permessage-deflate",
                "User-Agent: proptest",
                "Pragma: no-cache",
                "Connection: keep-alive",
            ],
            0..4,
        ),
    )
        .prop_map(|(path, key_bytes, bits, extra)| {
            let key = BASE64.encode(key_bytes);
            let connection = if bits & 1 == 0 {
                "Upgrade"
            } else {
                "keep-alive, Upgrade"
            };
            let mut headers: Vec<(String, String)> = [
                ("Host", "127.0.0.1:8080".to_string()),
                ("Upgrade", "websocket".to_string()),
                ("Connection", connection.to_string()),
                ("Sec-WebSocket-Key", key.clone()),
                ("Sec-WebSocket-Version", "13".to_string()),
            ]
            .into_iter()
            .map(|(n, v)| (n.to_string(), v))
            .collect();
            for e in extra {
                let (n, v) = e.split_once(": ").unwrap_or((e, ""));
                // A second Connection line is fine as long as one has Upgrade.
                headers.push((n.to_string(), v.to_string()));
            }
            // A shuffle and a spelling driven by `bits`.
            let n = headers.len();
            for i in 0..n {
                let j = ((bits >> (i * 3)) as usize) % n;
                headers.swap(i, j);
            }
            let mut lines = vec![format!("GET {path} HTTP/1.1")];
            for (i, (name, value)) in headers.into_iter().enumerate() {
                let name = match (bits >> (40 + i)) & 3 {
                    0 => name.to_ascii_lowercase(),
                    1 => name.to_ascii_uppercase(),
                    _ => name,
                };
                let ows = if (bits >> (50 + i)) & 1 == 0 {
                    ""
                } else {
                    " \t"
                };
                lines.push(format!("{name}:{ows} {value}{ows}"));
            }
            (lines, key)
        })
}

#[derive(Debug, Clone)]
enum HeadMutation {
    DropLine(usize),
    DuplicateLine(usize),
    /// Replaces a line's value with one of a few plausible bad values.
    BadValue(usize, &'static str),
    /// Replaces one byte (never the final CRLFCRLF).
    Byte(usize, u8),
    Insert(usize, u8),
    RequestLine(&'static str),
}

fn head_mutation() -> impl Strategy<Value = HeadMutation> {
    prop_oneof![
        any::<usize>().prop_map(HeadMutation::DropLine),
        any::<usize>().prop_map(HeadMutation::DuplicateLine),
        (
            any::<usize>(),
            prop::sample::select(vec![
                "",
                "12",
                "websocket, h2c",
                "close",
                "dGhlIHNhbXBsZQ==",
                "é"
            ])
        )
            .prop_map(|(i, v)| HeadMutation::BadValue(i, v)),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| HeadMutation::Byte(i, b)),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| HeadMutation::Insert(i, b)),
        prop::sample::select(vec![
            "POST /echo HTTP/1.1",
            "GET /echo HTTP/1.0",
            "GET /echo HTTP/2.0",
            "GET http://127.0.0.1/echo HTTP/1.1",
            "GET  /echo HTTP/1.1",
            "GET /echo",
            "get /echo HTTP/1.1",
        ])
        .prop_map(HeadMutation::RequestLine),
    ]
}

fn build_head(lines: &[String], mutations: &[HeadMutation]) -> Vec<u8> {
    let mut lines = lines.to_vec();
    let mut bytes_edits = Vec::new();
    for m in mutations {
        let n = lines.len();
        match m {
            HeadMutation::DropLine(i) if n > 1 => {
                lines.remove(1 + i % (n - 1));
            }
            HeadMutation::DuplicateLine(i) if n > 1 => {
                let line = lines[1 + i % (n - 1)].clone();
                lines.push(line);
            }
            HeadMutation::BadValue(i, v) if n > 1 => {
                let k = 1 + i % (n - 1);
                let name = lines[k].split(':').next().unwrap_or("").to_string();
                lines[k] = format!("{name}: {v}");
            }
            HeadMutation::RequestLine(l) => lines[0] = l.to_string(),
            HeadMutation::Byte(..) | HeadMutation::Insert(..) => bytes_edits.push(m.clone()),
            _ => {}
        }
    }
    let mut head = lines.join("\r\n").into_bytes();
    for m in bytes_edits {
        match m {
            HeadMutation::Byte(i, b) if !head.is_empty() => {
                let at = i % head.len();
                head[at] = b;
            }
            HeadMutation::Insert(i, b) => head.insert(i % (head.len() + 1), b),
            _ => {}
        }
    }
    head.extend_from_slice(b"\r\n\r\n");
    head
}

/// An independent, straightforward reading of §4.2.1 (the test's own, not
/// the server's): the fields a handshake needs, each checked on its own.
fn straightforward_upgrade_check(head: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(head) else {
        return false;
    };
    let mut lines = text.trim_end_matches("\r\n\r\n").split("\r\n");
    let request = lines.next().unwrap_or("");
    let parts: Vec<&str> = request.split(' ').collect();
    let [method, target, version] = parts[..] else {
        return false;
    };
    let version_ok = version
        .strip_prefix("HTTP/")
        .and_then(|v| v.split_once('.'))
        .and_then(|(a, b)| Some((a.parse::<u8>().ok()?, b.parse::<u8>().ok()?)))
        .is_some_and(|v| v >= (1, 1));
    if method != "GET" || !version_ok || target.is_empty() {
        return false;
    }
    let mut fields: Vec<(String, String)> = Vec::new();
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            return false;
        };
        fields.push((name.to_ascii_lowercase(), value.trim().to_string()));
    }
    let all = |name: &str| -> Vec<&str> {
        fields
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    };
    let has_token = |name: &str, token: &str| {
        all(name)
            .iter()
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    };
    let host = all("host");
    let key = all("sec-websocket-key");
    host.len() == 1
        && !host[0].is_empty()
        && has_token("upgrade", "websocket")
        && has_token("connection", "upgrade")
        && all("sec-websocket-version") == ["13"]
        && key.len() == 1
        && BASE64.decode(key[0]).is_ok_and(|k| k.len() == 16)
}

#[test]
fn mutated_upgrade_requests_reach_the_parser_and_never_panic() {
    let strategy = (
        valid_request(),
        prop::collection::vec(head_mutation(), 0..4),
        prop::collection::vec(any::<usize>(), 0..6),
    );
    let counts = run_counting(1000, strategy, |((lines, key), mutations, cuts), c| {
        let head = build_head(&lines, &mutations);
        if !mutations.is_empty() {
            c.mutated += 1;
        }
        // The head arrives in pieces, as the connection sees it: the end
        // is found incrementally, and only then is the head parsed.
        let mut points: Vec<usize> = cuts.iter().map(|x| x % (head.len() + 1)).collect();
        points.push(head.len());
        points.sort_unstable();
        let mut end = None;
        let mut searched = 0;
        for p in points {
            if let Some(e) = wsloop::handshake::find_head_end(&head[..p], searched) {
                end = Some(e);
                break;
            }
            searched = p;
        }
        let Some(end) = end else {
            return Ok(());
        };
        c.reached += 1;
        let accepted = match wsloop::handshake::Request::parse(&head[..end]) {
            Ok(req) => match wsloop::handshake::validate_upgrade(&req) {
                Ok(upgrade) => {
                    if mutations.is_empty() {
                        prop_assert_eq!(upgrade.key, key.as_str());
                    }
                    true
                }
                Err(_) => false,
            },
            Err(_) => false,
        };
        if mutations.is_empty() {
            prop_assert!(
                accepted,
                "a valid request was refused: {:?}",
                String::from_utf8_lossy(&head)
            );
        }
        // Never accepts what a plain reading of §4.2.1 refuses (only when
        // the whole input is the head: a mutation may end it early).
        if accepted && end == head.len() {
            prop_assert!(
                straightforward_upgrade_check(&head),
                "accepted: {:?}",
                String::from_utf8_lossy(&head)
            );
        }
        if accepted {
            c.accepted += 1;
        } else {
            c.refused += 1;
        }
        Ok(())
    });
    eprintln!("handshake: {counts:?}");
    // The point of the generator: nearly every case reaches Request::parse,
    // and both outcomes are common.
    assert!(counts.share(counts.reached) > 0.95, "{counts:?}");
    assert!(counts.share(counts.accepted) > 0.2, "{counts:?}");
    assert!(counts.share(counts.refused) > 0.2, "{counts:?}");
}

// ---- the frame decoder ------------------------------------------------------

/// One item of a client's stream, before encoding.
#[derive(Debug, Clone)]
enum Item {
    /// A data message, cut into fragments at `cuts`.
    Data {
        text: bool,
        payload: Vec<u8>,
        cuts: Vec<usize>,
    },
    Ping(Vec<u8>),
    Pong(Vec<u8>),
}

fn item() -> impl Strategy<Value = Item> {
    let payload = prop_oneof![
        4 => prop::collection::vec(any::<u8>(), 0..200),
        1 => prop::collection::vec(any::<u8>(), 60_000..70_000),
    ];
    prop_oneof![
        4 => (any::<bool>(), payload, prop::collection::vec(any::<usize>(), 0..4)).prop_map(
            |(text, payload, cuts)| {
                let payload = if text {
                    String::from_utf8_lossy(&payload).into_owned().into_bytes()
                } else {
                    payload
                };
                Item::Data { text, payload, cuts }
            }
        ),
        1 => prop::collection::vec(any::<u8>(), 0..=125).prop_map(Item::Ping),
        1 => prop::collection::vec(any::<u8>(), 0..=125).prop_map(Item::Pong),
    ]
}

#[derive(Debug, PartialEq)]
enum Seen {
    Message(Opcode, Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<u16>, String),
}

/// Encodes `items` (control frames may land between fragments) and an
/// optional close; returns the bytes and the events a decoder must give.
fn encode_stream(
    items: &[Item],
    controls_between: &[usize],
    close: Option<(u16, String)>,
    mask: [u8; 4],
) -> (Vec<u8>, Vec<Seen>) {
    let mut bytes = Vec::new();
    let mut expected = Vec::new();
    let mut pending_controls: Vec<&Item> = Vec::new();
    for (n, item) in items.iter().enumerate() {
        match item {
            Item::Ping(p) | Item::Pong(p) => {
                // A control frame that follows a data message may move
                // inside it, between two of its fragments.
                if controls_between.contains(&n) {
                    pending_controls.push(item);
                    continue;
                }
                let (op, seen) = match item {
                    Item::Ping(_) => (0x9, Seen::Ping(p.clone())),
                    _ => (0xA, Seen::Pong(p.clone())),
                };
                bytes.extend(client_frame(true, op, p, mask));
                expected.push(seen);
            }
            Item::Data {
                text,
                payload,
                cuts,
            } => {
                let mut points: Vec<usize> = cuts.iter().map(|c| c % (payload.len() + 1)).collect();
                points.sort_unstable();
                points.dedup();
                points.push(payload.len());
                let last = points.len() - 1;
                let mut start = 0;
                for (i, end) in points.into_iter().enumerate() {
                    let op = match (i, text) {
                        (0, true) => 0x1,
                        (0, false) => 0x2,
                        _ => 0x0,
                    };
                    bytes.extend(client_frame(i == last, op, &payload[start..end], mask));
                    start = end;
                    if i != last {
                        for c in pending_controls.drain(..) {
                            let (op, p, seen) = match c {
                                Item::Ping(p) => (0x9, p, Seen::Ping(p.clone())),
                                Item::Pong(p) => (0xA, p, Seen::Pong(p.clone())),
                                Item::Data { .. } => continue,
                            };
                            bytes.extend(client_frame(true, op, p, mask));
                            expected.push(seen);
                        }
                    }
                }
                let opcode = if *text { Opcode::Text } else { Opcode::Binary };
                expected.push(Seen::Message(opcode, payload.clone()));
            }
        }
    }
    for c in pending_controls {
        let (op, p, seen) = match c {
            Item::Ping(p) => (0x9, p, Seen::Ping(p.clone())),
            Item::Pong(p) => (0xA, p, Seen::Pong(p.clone())),
            Item::Data { .. } => continue,
        };
        bytes.extend(client_frame(true, op, p, mask));
        expected.push(seen);
    }
    if let Some((code, reason)) = close {
        let mut payload = code.to_be_bytes().to_vec();
        payload.extend_from_slice(reason.as_bytes());
        bytes.extend(client_frame(true, 0x8, &payload, mask));
        expected.push(Seen::Close(Some(code), reason));
    }
    (bytes, expected)
}

/// Feeds `bytes` cut at `cuts`, observing every frame. Returns the events,
/// how many frames completed, and the error if any.
fn decode_observed(bytes: &[u8], cuts: &[usize]) -> (Vec<Seen>, usize, Option<String>) {
    let mut reader = FrameReader::default();
    reader.observe_frames = true;
    let mut seen = Vec::new();
    let mut frames = 0;
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    points.push(bytes.len());
    points.sort_unstable();
    let mut start = 0;
    for end in points {
        let mut chunk = bytes[start..end].to_vec();
        start = end;
        let result = reader.feed(&mut chunk, 1 << 20, &mut |e| {
            match e {
                Event::Frame { .. } => frames += 1,
                Event::Message { opcode, payload } => {
                    seen.push(Seen::Message(opcode, payload.to_vec()))
                }
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
            Err(e) => return (seen, frames, Some(e.to_string())),
            Ok(Flow::Stop) => return (seen, frames, None),
            Ok(Flow::Continue) => {}
        }
    }
    (seen, frames, None)
}

#[test]
fn frame_streams_with_valid_headers_in_random_chunks_reach_the_decoder() {
    let close = prop::option::of((
        prop::sample::select(vec![1000u16, 1001, 1003, 1011, 3000, 4999]),
        "[a-zé€ ]{0,20}",
    ));
    let strategy = (
        prop::collection::vec(item(), 1..8),
        prop::collection::vec(0usize..8, 0..3),
        close,
        any::<[u8; 4]>(),
        prop::collection::vec(any::<usize>(), 0..24),
        // A third of the streams get one byte changed.
        prop::option::weighted(0.33, (any::<usize>(), 1u8..=255)),
    );
    let counts = run_counting(
        1000,
        strategy,
        |(items, between, close, mask, cuts, mutation), c| {
            let (mut bytes, expected) = encode_stream(&items, &between, close, mask);
            if let Some((at, xor)) = mutation {
                let at = at % bytes.len();
                bytes[at] ^= xor;
                c.mutated += 1;
            }
            let (seen, frames, error) = decode_observed(&bytes, &cuts);
            if frames > 0 {
                c.reached += 1;
            }
            match error {
                Some(_) => c.refused += 1,
                None => c.accepted += 1,
            }
            if mutation.is_none() {
                prop_assert_eq!(error, None);
                prop_assert_eq!(seen, expected);
            }
            Ok(())
        },
    );
    eprintln!("frames: {counts:?}");
    assert!(counts.share(counts.reached) > 0.9, "{counts:?}");
    assert!(counts.mutated > counts.cases / 5, "{counts:?}");
    // Mutations reach the error paths, yet most streams decode.
    assert!(counts.refused > counts.mutated / 6, "{counts:?}");
    assert!(counts.share(counts.accepted) > 0.5, "{counts:?}");
}
