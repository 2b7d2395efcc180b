//! permessage-deflate (RFC 7692) over real sockets: the 101's answer, the
//! frames byte by byte (compressed with `flate2` here, apart from the
//! server's codec), the limits (zip bomb 1009, corrupt data 1007, RSV1 in
//! the wrong place 1002), and interoperation with python-websockets, an
//! independent client that compresses by default.

use crate::common;

use std::io::Write;
use std::net::TcpStream;
use std::process::Command;

use common::*;
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};

const CHROMIUM: &str = "permessage-deflate; client_max_window_bits";
const SHARED_ANSWER: &str =
    "permessage-deflate; server_no_context_takeover; client_no_context_takeover";

/// Upgrades with `extra` header lines; returns the socket and the head.
fn upgrade(server: &Server, path: &str, extra: &str) -> (TcpStream, String) {
    let mut s = tcp(server);
    let request = upgrade_request(path).replace("\r\n\r\n", &format!("\r\n{extra}\r\n\r\n"));
    s.write_all(request.as_bytes()).unwrap();
    let head = read_head(&mut s);
    (s, head)
}

fn deflate_ws(server: &Server, path: &str) -> TcpStream {
    let (s, head) = upgrade(
        server,
        path,
        &format!("Sec-WebSocket-Extensions: {CHROMIUM}"),
    );
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
    assert!(
        head.contains(&format!(
            "\r\nSec-WebSocket-Extensions: {SHARED_ANSWER}\r\n"
        )),
        "{head}"
    );
    s
}

/// Raw DEFLATE with a sync flush, its `00 00 ff ff` stripped (§7.2.1).
fn compress(data: &[u8]) -> Vec<u8> {
    let mut z = Compress::new(Compression::default(), false);
    let mut out = Vec::with_capacity(data.len() / 2 + 1024);
    loop {
        let done = z.total_in() as usize;
        if out.capacity() - out.len() < 1024 {
            out.reserve(out.capacity());
        }
        z.compress_vec(&data[done..], &mut out, FlushCompress::Sync)
            .unwrap();
        if z.total_in() as usize == data.len() && out.len() < out.capacity() {
            break;
        }
    }
    assert!(out.ends_with(&[0, 0, 0xff, 0xff]));
    out.truncate(out.len() - 4);
    out
}

/// §7.2.2: append `00 00 ff ff`, inflate.
fn inflate(data: &[u8]) -> Vec<u8> {
    let mut input = data.to_vec();
    input.extend_from_slice(&[0, 0, 0xff, 0xff]);
    let mut z = Decompress::new(false);
    let mut out = Vec::with_capacity(data.len() * 8 + 1024);
    loop {
        let done = z.total_in() as usize;
        if out.capacity() - out.len() < 1024 {
            out.reserve(out.capacity());
        }
        z.decompress_vec(&input[done..], &mut out, FlushDecompress::Sync)
            .unwrap();
        if z.total_in() as usize == input.len() && out.len() < out.capacity() {
            return out;
        }
    }
}

#[test]
fn rfc7692_s5_chromium_and_firefox_offers_are_answered_in_the_101() {
    let server = Server::start(&[]);
    for offer in [CHROMIUM, "permessage-deflate"] {
        let (_s, head) = upgrade(
            &server,
            "/echo",
            &format!("Sec-WebSocket-Extensions: {offer}"),
        );
        assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
        let answers: Vec<&str> = head
            .split("\r\n")
            .filter(|l| {
                l.to_ascii_lowercase()
                    .starts_with("sec-websocket-extensions:")
            })
            .collect();
        assert_eq!(
            answers,
            vec![format!("Sec-WebSocket-Extensions: {SHARED_ANSWER}")],
            "{offer}"
        );
    }
}

#[test]
fn rfc7692_s5_an_unparsable_header_is_400_and_off_declines() {
    let server = Server::start(&[]);
    let (mut s, head) = upgrade(
        &server,
        "/echo",
        "Sec-WebSocket-Extensions: permessage-deflate;;",
    );
    assert!(head.starts_with("HTTP/1.1 400 "), "{head}");
    let _ = read_to_close(&mut s);
    let off = Server::start(&["--deflate", "off"]);
    let (_s, head) = upgrade(
        &off,
        "/echo",
        &format!("Sec-WebSocket-Extensions: {CHROMIUM}"),
    );
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
    assert!(
        !head
            .to_ascii_lowercase()
            .contains("sec-websocket-extensions"),
        "{head}"
    );
}

#[test]
fn rfc7692_s7_2_3_1_the_rfc_hello_inflates_and_short_replies_go_plain() {
    let server = Server::start(&[]);
    let mut s = deflate_ws(&server, "/echo");
    // §7.2.3.1: "Hello" compressed is f2 48 cd c9 c9 07 00, RSV1 set.
    s.write_all(&client_frame(
        0xC1,
        &[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00],
    ))
    .unwrap();
    // Under --deflate-min (1024): echoed uncompressed, RSV1 clear.
    assert_eq!(read_frame(&mut s), (0x81, b"Hello".to_vec()));
}

#[test]
fn rfc7692_s6_messages_of_every_size_round_trip_compressed_both_ways() {
    let server = Server::start(&[]);
    let mut s = deflate_ws(&server, "/echo");
    for len in [0usize, 1, 1023, 1024, 64 * 1024, 1 << 20] {
        for (opcode, payload) in [
            (
                0x1u8,
                "wsloop ".repeat(len / 7 + 1).into_bytes()[..len].to_vec(),
            ),
            (
                0x2,
                (0..len).map(|i| (i * 7 % 251) as u8).collect::<Vec<u8>>(),
            ),
        ] {
            let compressed = compress(&payload);
            // Whole: one frame; fragmented: RSV1 on the first frame only.
            s.write_all(&client_frame(0xC0 | opcode, &compressed))
                .unwrap();
            let (half_a, half_b) = compressed.split_at(compressed.len() / 2);
            let mut frag = client_frame(0x40 | opcode, half_a);
            frag.extend(client_frame(0x80, half_b));
            s.write_all(&frag).unwrap();
            for how in ["whole", "fragmented"] {
                let (b0, body) = read_frame(&mut s);
                if len >= 1024 {
                    assert_eq!(b0, 0xC0 | opcode, "{len} {how}: compressed reply");
                    assert_eq!(inflate(&body), payload, "{len} {how}");
                    assert!(body.len() < len / 2, "{len}: compressed {}", body.len());
                } else {
                    assert_eq!(b0, 0x80 | opcode, "{len} {how}: plain reply");
                    assert_eq!(body, payload, "{len} {how}");
                }
            }
        }
    }
    // An uncompressed message on a deflate connection is fine too (§6).
    s.write_all(&client_frame(0x81, b"plain")).unwrap();
    assert_eq!(read_frame(&mut s), (0x81, b"plain".to_vec()));
}

#[test]
fn rfc7692_s6_1_rsv1_on_a_continuation_or_control_frame_is_1002() {
    let server = Server::start(&[]);
    let mut s = deflate_ws(&server, "/echo");
    let mut bytes = client_frame(0x41, &compress(b"ab")[..1]);
    bytes.extend(client_frame(0xC0, b"x"));
    s.write_all(&bytes).unwrap();
    assert_eq!(expect_close_then_eof(&mut s), Some(1002));
    let mut s = deflate_ws(&server, "/echo");
    s.write_all(&client_frame(0xC9, b"ping")).unwrap();
    assert_eq!(expect_close_then_eof(&mut s), Some(1002));
    assert_still_serving(&server);
}

#[test]
fn rfc7692_s6_rsv1_without_the_extension_is_1002() {
    let server = Server::start(&[]);
    let mut s = raw_ws(&server, "/echo");
    s.write_all(&client_frame(0xC1, &compress(b"Hello")))
        .unwrap();
    assert_eq!(expect_close_then_eof(&mut s), Some(1002));
}

#[test]
fn rfc7692_s8_corrupt_data_is_1007_and_others_are_served() {
    let server = Server::start(&[]);
    let mut s = deflate_ws(&server, "/echo");
    // BTYPE 11 is reserved (RFC 1951 §3.2.3): not DEFLATE.
    s.write_all(&client_frame(0xC2, &[0xff, 0xff, 0xff, 0x00]))
        .unwrap();
    assert_eq!(expect_close_then_eof(&mut s), Some(1007));
    // Invalid UTF-8 inside compressed text: 1007 as well (§8.1).
    let mut s = deflate_ws(&server, "/echo");
    s.write_all(&client_frame(0xC1, &compress(b"ok \xff\xfe not utf-8")))
        .unwrap();
    assert_eq!(expect_close_then_eof(&mut s), Some(1007));
    assert_still_serving(&server);
    let mut s = deflate_ws(&server, "/echo");
    s.write_all(&client_frame(0xC1, &compress(&[b'z'; 3000])))
        .unwrap();
    let (b0, body) = read_frame(&mut s);
    assert_eq!((b0, inflate(&body)), (0xC1, vec![b'z'; 3000]));
}

#[test]
fn rfc7692_s8_a_zip_bomb_is_1009_at_the_limit_not_its_size() {
    const MAX: usize = 4 << 20;
    let server = Server::start(&["--max-message", "4MiB"]);
    // 256 MiB of zeros: about 256 KiB on the wire, 1,000:1.
    let bomb = compress(&vec![0u8; 256 << 20]);
    assert!(bomb.len() < 512 * 1024, "{}", bomb.len());
    let before = server.rss_kib();
    let mut s = deflate_ws(&server, "/echo");
    let _ = s.write_all(&client_frame(0xC2, &bomb));
    assert_eq!(expect_close(&mut s), Some(1009));
    let grown = server.peak_rss_kib().saturating_sub(before) as usize * 1024;
    assert!(grown < 2 * MAX, "server grew by {grown} bytes");
    assert_still_serving(&server);
}

#[test]
fn broadcast_is_compressed_for_deflate_members_and_plain_for_others() {
    let server = Server::start(&[]);
    let mut zipped = deflate_ws(&server, "/chat/dz");
    let mut plain = raw_ws(&server, "/chat/dz");
    let mut sender = raw_ws(&server, "/chat/dz");
    let text = "a broadcast line that repeats. ".repeat(70);
    sender
        .write_all(&client_frame(0x81, text.as_bytes()))
        .unwrap();
    let (b0, body) = read_frame(&mut zipped);
    assert_eq!((b0, inflate(&body)), (0xC1, text.clone().into_bytes()));
    assert!(body.len() < text.len() / 4, "{}", body.len());
    assert_eq!(read_frame(&mut plain), (0x81, text.clone().into_bytes()));
    assert_eq!(read_frame(&mut sender), (0x81, text.into_bytes()));
}

#[test]
fn python_websockets_interoperates_with_deflate() {
    let server = Server::start(&[]);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/deflate/client.py");
    let out = Command::new(python_with_websockets())
        .args([script, &server.url("")])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("extension: permessage-deflate"), "{stdout}");
    assert!(stdout.trim_end().ends_with("ok"), "{stdout}\n{stderr}");
    print!("{stdout}");
}

#[test]
fn inspect_shows_the_extension_rsv1_and_both_lengths() {
    let server = Server::start(&[]);
    let mut s = deflate_ws(&server, "/inspect");
    let (_, open) = read_frame(&mut s);
    let open: serde_json::Value = serde_json::from_slice(&open).unwrap();
    assert_eq!(open["extensions"], SHARED_ANSWER);
    let text = vec![b'q'; 5000];
    let compressed = compress(&text);
    s.write_all(&client_frame(0xC1, &compressed)).unwrap();
    let (_, frame) = read_frame(&mut s);
    let frame: serde_json::Value = serde_json::from_slice(&frame).unwrap();
    assert_eq!(frame["rsv1"], true);
    assert_eq!(frame["compressed"], true);
    assert_eq!(frame["payload_len"], compressed.len());
    let (_, inflated) = read_frame(&mut s);
    let inflated: serde_json::Value = serde_json::from_slice(&inflated).unwrap();
    assert_eq!(inflated["type"], "inflated");
    assert_eq!(inflated["compressed_len"], compressed.len());
    assert_eq!(inflated["inflated_len"], 5000);
    let (b0, echo) = read_frame(&mut s);
    assert_eq!((b0, inflate(&echo)), (0xC1, text));
}
