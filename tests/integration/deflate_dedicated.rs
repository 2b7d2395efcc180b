//! `--deflate dedicated`: context takeover (RFC 7692 §7.1.1) both ways,
//! checked against peers that keep one zlib stream per direction for the
//! whole connection, as browsers and python-websockets do. The server keeps
//! no zlib state per connection, only the last 2^window bytes of each
//! direction (src/deflate/context.rs); these tests say that is enough.

use crate::common;

use std::io::Write;
use std::net::TcpStream;
use std::process::Command;

use common::*;
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};

const CHROMIUM: &str = "permessage-deflate; client_max_window_bits";
const DEDICATED_ANSWER: &str =
    "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12";
const TAIL: [u8; 4] = [0, 0, 0xff, 0xff];

/// One direction's zlib stream, kept for the connection's life.
struct Peer {
    c: Compress,
    d: Decompress,
}

impl Peer {
    fn new(bits: u8) -> Peer {
        Peer {
            c: Compress::new_with_window_bits(Compression::default(), false, bits),
            d: Decompress::new_with_window_bits(false, bits),
        }
    }

    /// §7.2.1 with context takeover: no reset between messages.
    fn compress(&mut self, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(data.len() + 1024);
        let start = self.c.total_in();
        loop {
            let done = (self.c.total_in() - start) as usize;
            if out.capacity() - out.len() < 1024 {
                out.reserve(out.capacity());
            }
            self.c
                .compress_vec(&data[done..], &mut out, FlushCompress::Sync)
                .unwrap();
            if (self.c.total_in() - start) as usize == data.len() && out.len() < out.capacity() {
                break;
            }
        }
        assert!(out.ends_with(&TAIL));
        out.truncate(out.len() - 4);
        out
    }

    fn inflate(&mut self, data: &[u8]) -> Vec<u8> {
        let input = [data, &TAIL].concat();
        let mut out = Vec::with_capacity(data.len() * 8 + 1024);
        let start = self.d.total_in();
        loop {
            let done = (self.d.total_in() - start) as usize;
            if out.capacity() - out.len() < 1024 {
                out.reserve(out.capacity());
            }
            self.d
                .decompress_vec(&input[done..], &mut out, FlushDecompress::Sync)
                .unwrap();
            if (self.d.total_in() - start) as usize == input.len() && out.len() < out.capacity() {
                return out;
            }
        }
    }
}

fn dedicated_ws(server: &Server, path: &str, offer: &str) -> (TcpStream, String) {
    let mut s = tcp(server);
    let request = upgrade_request(path).replace(
        "\r\n\r\n",
        &format!("\r\nSec-WebSocket-Extensions: {offer}\r\n\r\n"),
    );
    s.write_all(request.as_bytes()).unwrap();
    let head = read_head(&mut s);
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
    (s, head)
}

fn line(n: usize) -> String {
    format!(
        "{{\"type\":\"say\",\"from\":\"guest-{}\",\"text\":\"status report {} of the night shift: all quiet\"}} ",
        n % 5,
        n
    )
    .repeat(12)
}

#[test]
fn rfc7692_s7_1_1_context_takeover_both_ways_on_echo() {
    let server = Server::start(&["--deflate", "dedicated"]);
    let (mut s, head) = dedicated_ws(&server, "/echo", CHROMIUM);
    assert!(
        head.contains(&format!(
            "\r\nSec-WebSocket-Extensions: {DEDICATED_ANSWER}\r\n"
        )),
        "{head}"
    );
    let mut peer = Peer::new(12);
    let mut first_size = 0;
    let mut later_sizes = Vec::new();
    for n in 0..120 {
        // Mixed: compressed lines (context grows), short plain messages (no
        // RSV1: they enter neither window), and a large one past the window.
        let (msg, compressed) = match n % 30 {
            29 => ("large and plain-ish ".repeat(4000), true),
            9 | 19 => (format!("short {n}"), false),
            _ => (line(n), true),
        };
        let frame = if compressed {
            client_frame(0xC1, &peer.compress(msg.as_bytes()))
        } else {
            client_frame(0x81, msg.as_bytes())
        };
        s.write_all(&frame).unwrap();
        let (b0, body) = read_frame(&mut s);
        if msg.len() < 1024 {
            assert_eq!((b0, body), (0x81, msg.into_bytes()), "message {n}");
            continue;
        }
        assert_eq!(b0, 0xC1, "message {n}: compressed, RSV1");
        let got = peer.inflate(&body);
        assert_eq!(got.len(), msg.len(), "message {n}");
        assert!(got == msg.as_bytes(), "message {n} differs");
        if n == 0 {
            first_size = body.len();
        } else if msg.len() < 4096 {
            later_sizes.push(body.len());
        }
    }
    // The server's compressor refers back into earlier messages: a line
    // like the ones before costs far less than the first one did.
    later_sizes.sort();
    let median = later_sizes[later_sizes.len() / 2];
    assert!(
        median * 3 < first_size,
        "first {first_size} B, median later {median} B"
    );
    assert_still_serving(&server);
}

#[test]
fn rfc7692_s7_1_1_2_a_client_without_client_max_window_bits_must_reset() {
    // Firefox's offer: its window would be 32 KiB, more than the 4 KiB of
    // history the server keeps at --deflate-window 12.
    let server = Server::start(&["--deflate", "dedicated"]);
    let (mut s, head) = dedicated_ws(&server, "/echo", "permessage-deflate");
    assert!(
        head.contains(
            "\r\nSec-WebSocket-Extensions: permessage-deflate; client_no_context_takeover; server_max_window_bits=12\r\n"
        ),
        "{head}"
    );
    // The server still keeps its own context: two identical lines, the
    // second much smaller, both read by one continuous stream.
    let mut down = Peer::new(12);
    let mut sizes = Vec::new();
    for _ in 0..2 {
        let mut up = Peer::new(15); // a fresh compressor per message
        s.write_all(&client_frame(0xC1, &up.compress(line(1).as_bytes())))
            .unwrap();
        let (b0, body) = read_frame(&mut s);
        assert_eq!(b0, 0xC1);
        assert_eq!(down.inflate(&body), line(1).into_bytes());
        sizes.push(body.len());
    }
    assert!(sizes[1] * 3 < sizes[0], "{sizes:?}");
}

#[test]
fn rfc7692_s7_1_1_room_members_read_shared_frames_on_their_own_streams() {
    // Broadcasts are compressed once for every member (no history); each
    // member's stream still reads them, and the sender's own history-using
    // messages in between (none here: joining a room drops it).
    let server = Server::start(&["--deflate", "dedicated"]);
    let (mut a, _) = dedicated_ws(&server, "/chat/ded", CHROMIUM);
    let (mut b, _) = dedicated_ws(&server, "/chat/ded", CHROMIUM);
    let (mut up, mut down_a, mut down_b) = (Peer::new(12), Peer::new(12), Peer::new(12));
    for n in 0..40 {
        let msg = line(n);
        a.write_all(&client_frame(0xC1, &up.compress(msg.as_bytes())))
            .unwrap();
        for (s, peer) in [(&mut a, &mut down_a), (&mut b, &mut down_b)] {
            let (b0, body) = read_frame(s);
            assert_eq!(b0, 0xC1, "message {n}");
            assert!(peer.inflate(&body) == msg.as_bytes(), "message {n}");
        }
    }
}

#[test]
fn python_websockets_interoperates_with_context_takeover() {
    // python-websockets keeps context takeover on by default both ways.
    let server = Server::start(&["--deflate", "dedicated"]);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/deflate/client.py");
    let out = Command::new(python_with_websockets())
        .args([script, &server.url("")])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let ext = stdout
        .lines()
        .find(|l| l.starts_with("extension:"))
        .unwrap_or("");
    assert!(ext.contains("permessage-deflate"), "{stdout}");
    assert!(!ext.contains("no_context_takeover"), "{ext}");
    assert!(stdout.trim_end().ends_with("ok"), "{stdout}\n{stderr}");
}
