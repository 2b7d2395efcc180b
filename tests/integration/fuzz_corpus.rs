//! The fuzzers' committed corpus (`fuzz/seeds/`, hand-made, and
//! `fuzz/found/`, kept from earlier runs) and every input they ever broke
//! the code with (`fuzz/regressions/`), replayed through the same
//! checks the fuzz targets make — on stable Rust, in every `cargo test`.

use std::path::Path;

#[path = "../../fuzz/oracle/frames.rs"]
mod frames;
#[path = "../../fuzz/oracle/handshake.rs"]
mod handshake;
#[path = "../../fuzz/oracle/resp.rs"]
mod resp;

/// Runs `check` on every file under fuzz/<dir>/<target>/; returns how many.
fn replay(dir: &str, target: &str, check: fn(&[u8])) -> usize {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz")
        .join(dir)
        .join(target);
    let mut n = 0;
    for entry in std::fs::read_dir(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())) {
        let file = entry.unwrap().path();
        if file
            .file_name()
            .is_some_and(|f| f.to_string_lossy().starts_with('.'))
        {
            continue;
        }
        let data = std::fs::read(&file).unwrap();
        let caught = std::panic::catch_unwind(|| check(&data));
        assert!(caught.is_ok(), "{} fails its fuzz check", file.display());
        n += 1;
    }
    n
}

#[test]
fn frame_corpus_agrees_with_the_reference_decoder() {
    let seeds = replay("seeds", "frames", frames::check);
    replay("found", "frames", frames::check);
    replay("regressions", "frames", frames::check);
    assert!(seeds >= 50, "only {seeds} frame seeds");
}

#[test]
fn handshake_corpus_never_panics() {
    let seeds = replay("seeds", "handshake", handshake::check);
    replay("found", "handshake", handshake::check);
    replay("regressions", "handshake", handshake::check);
    assert!(seeds >= 30, "only {seeds} handshake seeds");
}

#[test]
fn resp_corpus_reads_the_same_whole_and_in_pieces() {
    let seeds = replay("seeds", "resp", resp::check);
    replay("found", "resp", resp::check);
    replay("regressions", "resp", resp::check);
    assert!(seeds >= 30, "only {seeds} resp seeds");
}

#[test]
fn the_reference_decoder_sees_what_the_rfc_says() {
    use frames::{Seen, Verdict, reference};
    // RFC 6455 §5.7's examples, masked: "Hello" whole, and in two fragments.
    let hello = [
        0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ];
    let (seen, verdict) = reference(&hello, 1000);
    assert_eq!(verdict, Verdict::Idle);
    assert_eq!(
        seen.last(),
        Some(&Seen::Message {
            text: true,
            payload: b"Hello".to_vec()
        })
    );
    assert_eq!(reference(&hello[..5], 1000).1, Verdict::NeedMore);
    assert_eq!(reference(&hello, 4).1, Verdict::Failed(1009));
    let mut unmasked = hello;
    unmasked[1] = 0x05;
    assert_eq!(reference(&unmasked, 1000).1, Verdict::Failed(1002));
    // And the check catches a reader that disagrees: a corrupted expectation.
    let (mut seen, verdict) = frames::wsloop(&hello, 1000, &[3, 3, 3, 3]);
    assert_eq!((seen.clone(), verdict), reference(&hello, 1000));
    seen.pop();
    assert_ne!((seen, verdict), reference(&hello, 1000));
}
