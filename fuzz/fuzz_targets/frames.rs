//! The frame decoder fed an arbitrary byte stream in arbitrary chunks.
//! The first bytes choose the chunk sizes. Whatever the chunking, the same
//! stream must give the same events and the same verdict.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsloop::message::{Event, Flow, FrameReader};

fn run(stream: &[u8], chunk: usize) -> (Vec<String>, Option<String>) {
    let mut reader = FrameReader::default();
    reader.observe_frames = true;
    let mut events = Vec::new();
    for piece in stream.chunks(chunk.max(1)) {
        let mut piece = piece.to_vec();
        let result = reader.feed(&mut piece, 1 << 16, &mut |e| {
            // Fragments are reported per frame and may differ in how the
            // payload was split; messages and control frames may not.
            if !matches!(e, Event::Frame { .. }) {
                events.push(format!("{e:?}"));
            }
            Flow::Continue
        });
        if let Err(e) = result {
            return (events, Some(e.to_string()));
        }
    }
    (events, None)
}

fuzz_target!(|data: &[u8]| {
    let Some((&chunk, stream)) = data.split_first() else {
        return;
    };
    let whole = run(stream, stream.len());
    let chunked = run(stream, usize::from(chunk));
    assert_eq!(whole, chunked, "chunking changed the outcome");
});
