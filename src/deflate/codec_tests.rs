use super::*;

fn roundtrip(msg: &[u8], bits: u8) -> Vec<u8> {
    roundtrip_at(msg, bits, DEFAULT_LEVEL).0
}

/// The message inflated back, and its compressed size, at zlib `level`.
fn roundtrip_at(msg: &[u8], bits: u8, level: u8) -> (Vec<u8>, usize) {
    let mut d = Deflater::new(bits, level);
    let mut wire = Vec::new();
    d.compress(msg, &mut wire);
    assert!(!wire.ends_with(&TAIL) || msg.is_empty(), "tail stripped");
    let mut i = Inflater::new(15);
    let mut got = Vec::new();
    let n = i
        .inflate(&wire, true, 0, u64::MAX, &mut |b| {
            got.extend_from_slice(b);
            true
        })
        .unwrap();
    assert_eq!(n, msg.len() as u64);
    (got, wire.len())
}

#[test]
fn s7_2_roundtrip_sizes() {
    for size in [0usize, 1, 1023, 1024, 64 * 1024, 1 << 20] {
        let msg: Vec<u8> = (0..size)
            .map(|i| b"hello wsloop "[i % 13] ^ (i / 4096) as u8)
            .collect();
        for bits in [9, 12, 15] {
            assert_eq!(roundtrip(&msg, bits), msg, "size {size} bits {bits}");
        }
    }
}

#[test]
fn every_level_inflates_to_the_message_and_9_packs_tighter_than_1() {
    // Text with structure at several distances, like JSON: the levels
    // differ in how hard they search for matches, not in what they mean.
    let msg: Vec<u8> = (0..20_000u32)
        .flat_map(|i| format!("{{\"seq\":{i},\"name\":\"user{}\"}},", i % 97).into_bytes())
        .collect();
    let mut sizes = Vec::new();
    for level in 1..=9 {
        let (got, size) = roundtrip_at(&msg, 15, level);
        assert!(got == msg, "level {level} inflates to something else");
        sizes.push(size);
    }
    // Strictly: a level that were ignored would give equal sizes.
    assert!(
        sizes[8] < sizes[0],
        "level 9 {} vs level 1 {}",
        sizes[8],
        sizes[0]
    );
}

#[test]
fn s7_2_1_reset_between_messages() {
    // The second message must not refer to the first (no context takeover):
    // a fresh inflater must read it.
    let mut d = Deflater::new(15, DEFAULT_LEVEL);
    let mut a = Vec::new();
    d.compress(b"repeat repeat repeat repeat", &mut a);
    let mut b = Vec::new();
    d.compress(b"repeat repeat repeat repeat", &mut b);
    assert_eq!(a, b);
}

#[test]
fn s7_2_3_1_rfc_example_hello() {
    // RFC 7692 §7.2.3.1: "Hello" compressed is f2 48 cd c9 c9 07 00.
    let mut i = Inflater::new(15);
    let mut got = Vec::new();
    i.inflate(
        &[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00],
        true,
        0,
        100,
        &mut |b| {
            got.extend_from_slice(b);
            true
        },
    )
    .unwrap();
    assert_eq!(got, b"Hello");
}

#[test]
fn s7_2_3_4_bfinal_block_is_accepted() {
    // §7.2.3.4: "Hello" with BFINAL set: f3 48 cd c9 c9 07 00.
    let mut i = Inflater::new(15);
    let mut got = Vec::new();
    i.inflate(
        &[0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00],
        true,
        0,
        100,
        &mut |b| {
            got.extend_from_slice(b);
            true
        },
    )
    .unwrap();
    assert_eq!(got, b"Hello");
}

#[test]
fn s7_2_2_split_input_across_frames() {
    let msg = vec![b'x'; 100_000];
    let mut wire = Vec::new();
    Deflater::new(15, DEFAULT_LEVEL).compress(&msg, &mut wire);
    let mut i = Inflater::new(15);
    let mut total = 0;
    let mut n = 0;
    let chunks: Vec<&[u8]> = wire.chunks(3).collect();
    for (k, c) in chunks.iter().enumerate() {
        n = i
            .inflate(c, k + 1 == chunks.len(), n, u64::MAX, &mut |b| {
                total += b.len();
                true
            })
            .unwrap();
    }
    assert_eq!((n, total), (100_000, 100_000));
}

#[test]
fn bomb_stops_at_the_limit_in_bounded_steps() {
    let msg = vec![0u8; 64 << 20];
    let mut wire = Vec::new();
    // Built as an attacker would: at the level that packs it tightest.
    Deflater::new(15, 9).compress(&msg, &mut wire);
    assert!(wire.len() < 128 * 1024, "{}", wire.len());
    let mut i = Inflater::new(15);
    let mut biggest = 0;
    let err = i
        .inflate(&wire, true, 0, 1 << 20, &mut |b| {
            biggest = biggest.max(b.len());
            true
        })
        .unwrap_err();
    assert_eq!(err, InflateError::TooBig { limit: 1 << 20 });
    assert!(biggest <= STEP);
    // The inflater is usable again after the error.
    assert_eq!(roundtrip(b"after", 15), b"after");
}

#[test]
fn corrupt_data_is_an_error() {
    let mut i = Inflater::new(15);
    let err = i.inflate(&[0xff, 0xff, 0xff, 0xff], true, 0, 100, &mut |_| true);
    assert_eq!(err, Err(InflateError::Corrupt));
    // And the next message inflates.
    let mut got = Vec::new();
    i.inflate(
        &[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00],
        true,
        0,
        100,
        &mut |b| {
            got.extend_from_slice(b);
            true
        },
    )
    .unwrap();
    assert_eq!(got, b"Hello");
}

#[test]
fn sink_rejection_stops_inflation() {
    let mut wire = Vec::new();
    Deflater::new(15, DEFAULT_LEVEL).compress(&[0xff; 5000], &mut wire);
    let mut i = Inflater::new(15);
    assert_eq!(
        i.inflate(&wire, true, 0, u64::MAX, &mut |_| false),
        Err(InflateError::Rejected)
    );
}

/// A peer that keeps its zlib stream between messages (context takeover,
/// RFC 7692 §7.2.3.3), as browsers and python-websockets do.
struct StreamingPeer {
    c: Compress,
    d: Decompress,
}

impl StreamingPeer {
    fn new(bits: u8) -> StreamingPeer {
        StreamingPeer {
            c: Compress::new_with_window_bits(Compression::default(), false, bits),
            d: Decompress::new_with_window_bits(false, bits),
        }
    }

    fn compress(&mut self, msg: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(msg.len() + 64);
        let start = self.c.total_in();
        loop {
            let used = (self.c.total_in() - start) as usize;
            self.c
                .compress_vec(&msg[used..], &mut out, FlushCompress::Sync)
                .unwrap();
            if (self.c.total_in() - start) as usize == msg.len() && out.len() < out.capacity() {
                break;
            }
            out.reserve(out.capacity());
        }
        assert!(out.ends_with(&TAIL));
        out.truncate(out.len() - 4);
        out
    }

    fn inflate(&mut self, wire: &[u8]) -> Vec<u8> {
        let input = [wire, &TAIL].concat();
        let mut out = Vec::with_capacity(1 << 20);
        let start = self.d.total_in();
        while ((self.d.total_in() - start) as usize) < input.len() {
            let used = (self.d.total_in() - start) as usize;
            self.d
                .decompress_vec(&input[used..], &mut out, FlushDecompress::Sync)
                .unwrap();
        }
        out
    }
}

fn chat_line(n: usize) -> Vec<u8> {
    format!("{{\"type\":\"say\",\"room\":\"lobby\",\"from\":\"guest-{n}\",\"text\":\"hello again, number {n}\"}} padding to be worth compressing {}", "x".repeat(n % 7)).into_bytes()
}

#[test]
fn s7_1_1_our_history_as_a_dictionary_inflates_on_a_streaming_peer() {
    // Context takeover from a reset compressor: each message is compressed
    // with the last 2^bits bytes of what we sent as its dictionary; a peer
    // that keeps one zlib stream must read exactly our messages.
    for bits in [9u8, 12, 15] {
        let mut d = Deflater::new(bits, DEFAULT_LEVEL);
        let mut peer = StreamingPeer::new(bits);
        let mut history = Vec::new();
        let (mut with, mut without) = (0, 0);
        for n in 0..200 {
            let msg = chat_line(n);
            let mut wire = Vec::new();
            d.compress_after(&history, &msg, &mut wire);
            assert_eq!(peer.inflate(&wire), msg, "bits {bits} message {n}");
            let mut alone = Vec::new();
            d.compress(&msg, &mut alone);
            with += wire.len();
            without += alone.len();
            crate::deflate::context::remember(&mut history, &msg, bits);
        }
        // The point of dedicated mode: small repetitive messages shrink.
        assert!(with * 2 < without, "bits {bits}: {with} vs {without}");
    }
}

#[test]
fn s7_1_1_a_streaming_peers_messages_inflate_from_its_history() {
    for bits in [9u8, 12, 15] {
        let mut peer = StreamingPeer::new(bits);
        let mut i = Inflater::new(15);
        let mut history = Vec::new();
        for n in 0..200 {
            let msg = if n % 50 == 49 {
                vec![b'z'; 70_000] // longer than any window
            } else {
                chat_line(n)
            };
            let wire = peer.compress(&msg);
            let mut got = Vec::new();
            i.prime(&history).unwrap();
            i.inflate(&wire, true, 0, u64::MAX, &mut |b| {
                got.extend_from_slice(b);
                true
            })
            .unwrap();
            assert_eq!(got, msg, "bits {bits} message {n}");
            crate::deflate::context::remember(&mut history, &got, bits);
        }
        // Without the history the same kind of message cannot be read.
        // (a message repeating the one just before: it refers back).
        peer.compress(&chat_line(199));
        let wire = peer.compress(&chat_line(199));
        let mut fresh = Inflater::new(15);
        let mut got = Vec::new();
        let r = fresh.inflate(&wire, true, 0, u64::MAX, &mut |b| {
            got.extend_from_slice(b);
            true
        });
        assert!(r.is_err() || got != chat_line(199), "bits {bits}: {r:?}");
    }
}
