use super::*;

fn roundtrip(msg: &[u8], bits: u8) -> Vec<u8> {
    let mut d = Deflater::new(bits);
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
    got
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
fn s7_2_1_reset_between_messages() {
    // The second message must not refer to the first (no context takeover):
    // a fresh inflater must read it.
    let mut d = Deflater::new(15);
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
    Deflater::new(15).compress(&msg, &mut wire);
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
    Deflater::new(15).compress(&msg, &mut wire);
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
    Deflater::new(15).compress(&[0xff; 5000], &mut wire);
    let mut i = Inflater::new(15);
    assert_eq!(
        i.inflate(&wire, true, 0, u64::MAX, &mut |_| false),
        Err(InflateError::Rejected)
    );
}
