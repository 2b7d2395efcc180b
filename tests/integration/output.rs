//! Output that nobody reads must not stall the loop (issue 13, item 2).
//!
//! The server's stdout and stderr go to pipes this test holds open and
//! never reads: once the kernel's pipe buffer (64 KiB) is full, a write on
//! the loop thread would block forever. Before the output writer thread,
//! the server stopped after ~1,100 chat messages at the default log level.
//! These tests run at the default level (`RUST_LOG` unset) on purpose.

use std::io::Read;
use std::net::TcpStream;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use tungstenite::Message;

/// One echo round trip may take at most this long. A loop that waited on
/// the unread pipe would stall for good, so the bound is generous: a loaded
/// 2-core CI machine, with the server formatting 14 MB of console lines
/// meanwhile, was seen at 81 ms.
const MAX_ROUND_TRIP: Duration = Duration::from_millis(500);

struct Unread {
    child: Child,
    port: u16,
    /// Held open and never read after the banner's first line.
    _stdout: ChildStdout,
}

impl Drop for Unread {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts wsloop on port 0 with stdout and stderr on pipes that are never
/// read (kept open, so writes block instead of failing with EPIPE). Only
/// the banner's first line is read, a byte at a time so nothing past it
/// is taken from the pipe.
fn start_unread(args: &[&str]) -> Unread {
    let mut child = Command::new(env!("CARGO_BIN_EXE_wsloop"))
        .args(["--port", "0"])
        .args(args)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start wsloop");
    let mut stdout = child.stdout.take().expect("piped stdout");
    let mut banner = Vec::new();
    let mut byte = [0u8; 1];
    while !banner.ends_with(b"\n") {
        assert_eq!(stdout.read(&mut byte).expect("banner"), 1, "no banner");
        banner.push(byte[0]);
    }
    let banner = String::from_utf8_lossy(&banner);
    let port = banner
        .trim()
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in banner {banner:?}"));
    Unread {
        child,
        port,
        _stdout: stdout,
    }
}

type Ws = tungstenite::WebSocket<tungstenite::stream::MaybeTlsStream<TcpStream>>;

fn connect(port: u16, path: &str) -> Ws {
    let (mut ws, _) =
        tungstenite::connect(format!("ws://127.0.0.1:{port}{path}")).expect("connect");
    if let tungstenite::stream::MaybeTlsStream::Plain(s) = ws.get_mut() {
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
        s.set_nodelay(true).unwrap();
    }
    ws
}

fn next_text(ws: &mut Ws) -> String {
    loop {
        match ws.read().expect("read (did the server stall?)") {
            Message::Text(t) => return t.to_string(),
            Message::Ping(_) | Message::Pong(_) => {}
            other => panic!("expected text, got {other:?}"),
        }
    }
}

#[test]
fn chat_at_the_default_log_level_with_stdout_and_stderr_unread() {
    let server = start_unread(&[]);
    let mut alice = connect(server.port, "/chat");
    let mut bob = connect(server.port, "/chat");
    let mut slowest = Duration::ZERO;
    for i in 0..10_000 {
        let (from, to) = if i % 2 == 0 {
            (&mut alice, &mut bob)
        } else {
            (&mut bob, &mut alice)
        };
        let text = format!("message {i}");
        let sent = Instant::now();
        from.send(Message::text(text.clone())).expect("send");
        // A plain room sends every message to every member, sender too.
        assert_eq!(next_text(from), text);
        slowest = slowest.max(sent.elapsed());
        assert_eq!(next_text(to), text);
    }
    assert!(
        slowest < MAX_ROUND_TRIP,
        "slowest chat round trip {slowest:?} (output blocking the loop?)"
    );
}

#[test]
fn operator_console_with_stdout_unread_keeps_serving() {
    let server = start_unread(&["--operator"]);
    let mut speaker = connect(server.port, "/chat");
    let mut echo = connect(server.port, "/echo");
    // In operator mode every chat message becomes a console line: 200 lines
    // of 70 KB are 14 MB, far past the pipe and the output buffer.
    let big = "x".repeat(70_000);
    for _ in 0..200 {
        speaker.send(Message::text(big.clone())).expect("send");
    }
    speaker.flush().expect("flush");
    let mut slowest = Duration::ZERO;
    for i in 0..200 {
        let text = format!("ping {i}");
        let sent = Instant::now();
        echo.send(Message::text(text.clone())).expect("send");
        assert_eq!(next_text(&mut echo), text);
        slowest = slowest.max(sent.elapsed());
    }
    assert!(
        slowest < MAX_ROUND_TRIP,
        "slowest echo {slowest:?} while the console is unread"
    );
}
