//! The check of `fuzz_targets/resp.rs`, shared with `tests/integration/fuzz_corpus.rs`
//! (which replays the committed corpus and regressions on stable Rust):
//! `wsloop::cluster::resp` on arbitrary bytes. `parse` never panics, and
//! `RespReader` fed the stream in one push and in arbitrary pieces gives
//! the same values and the same error, at the same point, as calling
//! `parse` on the whole stream one value after another.

use wsloop::cluster::resp::{Limits, RespError, RespReader, Value, encode_command, parse};

/// Limits from a selector byte, two bits each, the last choice the default:
/// small ones so that every limit error is within the fuzzer's reach.
pub fn limits(sel: u8) -> Limits {
    let pick = |shift: u8, small: [usize; 3], default: usize| {
        let i = usize::from((sel >> shift) & 3);
        small.get(i).copied().unwrap_or(default)
    };
    let d = Limits::default();
    Limits {
        max_bulk: pick(0, [0, 5, 64], d.max_bulk),
        max_line: pick(2, [0, 8, 30], d.max_line),
        max_depth: pick(4, [0, 1, 2], d.max_depth),
        max_elements: pick(6, [0, 2, 5], d.max_elements),
    }
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

/// The values of the stream, then the error or the bytes left unread.
#[derive(Debug, PartialEq, Eq)]
pub struct Seen {
    values: Vec<Value>,
    end: Result<usize, RespError>,
}

/// The reference: `parse` on what is left, value after value.
fn reference(stream: &[u8], limits: &Limits) -> Seen {
    let mut values = Vec::new();
    let mut at = 0;
    loop {
        match parse(&stream[at..], limits) {
            Ok(Some((v, used))) => {
                assert!(
                    used > 0 && used <= stream.len() - at,
                    "parse took {used} bytes"
                );
                values.push(v);
                at += used;
            }
            Ok(None) => {
                return Seen {
                    values,
                    end: Ok(stream.len() - at),
                };
            }
            Err(e) => {
                return Seen {
                    values,
                    end: Err(e),
                };
            }
        }
    }
}

/// The reader, the stream pushed in pieces of these sizes.
fn reader(stream: &[u8], limits: Limits, sizes: &[usize]) -> Seen {
    let mut r = RespReader::new(limits);
    let mut values = Vec::new();
    let mut rest = stream;
    for &n in sizes {
        let (piece, tail) = rest.split_at(n.min(rest.len()));
        rest = tail;
        r.push(piece);
        loop {
            match r.next_value() {
                Ok(Some(v)) => values.push(v),
                Ok(None) => break,
                Err(e) => {
                    return Seen {
                        values,
                        end: Err(e),
                    };
                }
            }
        }
    }
    assert!(rest.is_empty());
    Seen {
        values,
        end: Ok(r.buffered()),
    }
}

/// The fuzz input: [piece seed][limit selector] then the stream.
/// Panics when the reader and `parse` disagree.
pub fn check(data: &[u8]) {
    let [seed, sel, stream @ ..] = data else {
        return;
    };
    let limits = limits(*sel);
    let expected = reference(stream, &limits);
    let whole = reader(stream, limits, &[stream.len()]);
    assert_eq!(
        whole, expected,
        "RespReader (one push) disagrees with parse"
    );
    let pieces = reader(stream, limits, &piece_sizes(*seed, stream.len()));
    assert_eq!(
        pieces, expected,
        "RespReader in pieces disagrees with parse"
    );

    // A command made of the stream's space-separated words comes back whole.
    let args: Vec<&[u8]> = stream.split(|&b| b == b' ').take(8).collect();
    let mut out = Vec::new();
    encode_command(&mut out, &args);
    let command = Value::Array(args.iter().map(|a| Value::Bulk(a.to_vec())).collect());
    let big = Limits {
        max_bulk: usize::MAX,
        max_line: 64,
        ..Limits::default()
    };
    assert_eq!(
        parse(&out, &big),
        Ok(Some((command, out.len()))),
        "encode_command does not round-trip"
    );
}
