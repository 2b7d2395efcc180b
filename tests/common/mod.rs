//! Test helpers: start the real `wsloop` binary on a free port, and talk to
//! it over real sockets on 127.0.0.1 — with `tungstenite` (an independent
//! client) or byte by byte for the frames a polite client never sends.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, ChildStderr, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

pub const TIMEOUT: Duration = Duration::from_secs(10);

pub struct Server {
    pub child: Child,
    pub port: u16,
    /// Lines the server printed on stdout after the banner.
    pub stdout: Receiver<String>,
    pub stdin: Option<ChildStdin>,
    /// With [`Server::start_at_default_log`]: stderr, held open and never
    /// read, so a log write on the loop thread would block once it fills.
    pub unread_stderr: Option<ChildStderr>,
}

impl Server {
    pub fn start(args: &[&str]) -> Server {
        Server::start_with(args, Stdio::null())
    }

    pub fn start_with(args: &[&str], stdin: Stdio) -> Server {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_wsloop"));
        cmd.args(["--port", "0"]).args(args).stdin(stdin);
        Server::spawn(cmd, "warn")
    }

    /// At the server's default log level (`RUST_LOG` unset, so `info`),
    /// with stderr on a pipe nobody reads: the log must never stall the
    /// loop (issue 13). What the server logs is not seen by the test.
    pub fn start_at_default_log(args: &[&str]) -> Server {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_wsloop"));
        cmd.args(["--port", "0"])
            .args(args)
            .stdin(Stdio::null())
            .env_remove("RUST_LOG")
            .stderr(Stdio::piped());
        Server::spawn_logged(cmd)
    }

    /// Spawns a prepared wsloop command (it must pass `--port 0`), reads the
    /// port from its banner and forwards the rest of stdout to `stdout`.
    pub fn spawn(mut cmd: Command, default_log: &str) -> Server {
        cmd.env(
            "RUST_LOG",
            std::env::var("RUST_LOG").unwrap_or_else(|_| default_log.into()),
        )
        .stderr(Stdio::inherit());
        Server::spawn_logged(cmd)
    }

    fn spawn_logged(mut cmd: Command) -> Server {
        let mut child = cmd.stdout(Stdio::piped()).spawn().expect("start wsloop");
        let stdout: ChildStdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let first = lines.next().expect("banner").expect("banner line");
        let port = first
            .rsplit(':')
            .next()
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| panic!("no port in banner {first:?}"));
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let stdin = child.stdin.take();
        let unread_stderr = child.stderr.take();
        Server {
            child,
            port,
            stdout: rx,
            stdin,
            unread_stderr,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("ws://127.0.0.1:{}{}", self.port, path)
    }

    /// Waits for a stdout line containing `needle`; returns it.
    pub fn expect_line(&self, needle: &str) -> String {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stdout.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return line,
                Ok(_) => {}
                Err(_) => panic!("server never printed a line containing {needle:?}"),
            }
        }
    }

    /// The server's resident memory in KiB, from /proc.
    pub fn rss_kib(&self) -> u64 {
        self.status_kib("VmRSS:")
    }

    /// The server's peak resident memory in KiB (VmHWM), from /proc.
    pub fn peak_rss_kib(&self) -> u64 {
        self.status_kib("VmHWM:")
    }

    /// One `kB` field of /proc/<pid>/status.
    fn status_kib(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or_else(|| panic!("no {field} in /proc/{}/status", self.child.id()))
    }

    /// Open TCP connections of the server process, from /proc/<pid>/fd.
    pub fn open_sockets(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.child.id()))
            .unwrap()
            .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
            .filter(|p| p.to_string_lossy().starts_with("socket:"))
            .count()
    }

    /// Waits until `f` holds, polling every 20 ms, up to `TIMEOUT`.
    pub fn wait_until(&self, what: &str, mut f: impl FnMut(&Server) -> bool) {
        let deadline = Instant::now() + TIMEOUT;
        while !f(self) {
            assert!(Instant::now() < deadline, "timed out waiting for: {what}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{sig}"), &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok);
    }

    pub fn wait_exit(&mut self) -> std::process::ExitStatus {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "server did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub type Ws = tungstenite::WebSocket<tungstenite::stream::MaybeTlsStream<TcpStream>>;

/// Connects with tungstenite, an independent client.
pub fn ws(server: &Server, path: &str) -> Ws {
    let (mut ws, resp) = tungstenite::connect(server.url(path)).expect("connect");
    assert_eq!(resp.status(), 101);
    if let tungstenite::stream::MaybeTlsStream::Plain(s) = ws.get_mut() {
        s.set_read_timeout(Some(TIMEOUT)).unwrap();
    }
    ws
}

/// Reads the next data message (skipping pings/pongs).
pub fn next_message(ws: &mut Ws) -> tungstenite::Message {
    loop {
        match ws.read().expect("read message") {
            tungstenite::Message::Ping(_) | tungstenite::Message::Pong(_) => {}
            m => return m,
        }
    }
}

pub fn next_text(ws: &mut Ws) -> String {
    match next_message(ws) {
        tungstenite::Message::Text(t) => t.to_string(),
        other => panic!("expected text, got {other:?}"),
    }
}

pub fn next_json(ws: &mut Ws) -> serde_json::Value {
    let text = next_text(ws);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

pub fn tcp(server: &Server) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    s.set_nodelay(true).unwrap();
    s
}

pub const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

pub fn upgrade_request(path: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
}

/// Reads an HTTP response head (up to the blank line) and returns it.
pub fn read_head(s: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = s.read(&mut byte).expect("read response head");
        assert_eq!(
            n,
            1,
            "connection closed inside the response head: {:?}",
            String::from_utf8_lossy(&head)
        );
        head.push(byte[0]);
    }
    String::from_utf8(head).unwrap()
}

/// Reads a whole HTTP response until the server closes.
pub fn read_to_close(s: &mut TcpStream) -> String {
    let mut all = Vec::new();
    let _ = s.read_to_end(&mut all);
    String::from_utf8_lossy(&all).into_owned()
}

/// A raw connection, upgraded by hand.
pub fn raw_ws(server: &Server, path: &str) -> TcpStream {
    let mut s = tcp(server);
    s.write_all(upgrade_request(path).as_bytes()).unwrap();
    let head = read_head(&mut s);
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
    s
}

/// A raw connection upgraded by hand, offering the chat subprotocol;
/// returns it with the response head.
pub fn raw_v1(server: &Server, path: &str) -> (TcpStream, String) {
    let mut s = tcp(server);
    let request = upgrade_request(path).replace(
        "\r\n\r\n",
        "\r\nSec-WebSocket-Protocol: wsloop.chat.v1\r\n\r\n",
    );
    s.write_all(request.as_bytes()).unwrap();
    let head = read_head(&mut s);
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
    (s, head)
}

/// A masked client frame with the given first byte. Written here, apart
/// from the server's codec, so the tests do not just agree with it.
pub fn client_frame(b0: u8, payload: &[u8]) -> Vec<u8> {
    masked_frame(b0, payload, [0x12, 0x34, 0x56, 0x78])
}

/// A client frame with a chosen masking key.
pub fn masked_frame(b0: u8, payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
    let mut out = vec![b0];
    let len = payload.len();
    if len < 126 {
        out.push(0x80 | len as u8);
    } else if len <= 0xFFFF {
        out.push(0x80 | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(0x80 | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    out.extend_from_slice(&mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    out
}

/// Reads one server frame: (first byte, payload). Asserts it is unmasked.
pub fn read_frame(s: &mut TcpStream) -> (u8, Vec<u8>) {
    let mut h = [0u8; 2];
    s.read_exact(&mut h).expect("frame header");
    assert_eq!(h[1] & 0x80, 0, "server frames must not be masked");
    let len = match h[1] & 0x7F {
        126 => {
            let mut b = [0u8; 2];
            s.read_exact(&mut b).unwrap();
            u16::from_be_bytes(b) as usize
        }
        127 => {
            let mut b = [0u8; 8];
            s.read_exact(&mut b).unwrap();
            u64::from_be_bytes(b) as usize
        }
        n => n as usize,
    };
    let mut payload = vec![0u8; len];
    s.read_exact(&mut payload).unwrap();
    (h[0], payload)
}

/// Reads frames until the server's close frame; returns its code (None when
/// empty). Data frames and pings before the close are the server's right and
/// are skipped; the close itself is checked against §5.5.1 and §7.4.1: FIN,
/// no 1-byte payload, a UTF-8 reason, and never 1005, 1006 or 1015 (codes
/// an endpoint MUST NOT put in a close frame).
pub fn expect_close(s: &mut TcpStream) -> Option<u16> {
    loop {
        let (b0, payload) = read_frame(s);
        if b0 & 0x0F == 0x8 {
            return check_close_frame(b0, &payload);
        }
    }
}

/// Checks one close frame from the server and returns its code.
pub fn check_close_frame(b0: u8, payload: &[u8]) -> Option<u16> {
    assert_eq!(b0 & 0x80, 0x80, "close must have FIN");
    assert_eq!(b0 & 0x70, 0, "no RSV bits on a close without extensions");
    assert_ne!(
        payload.len(),
        1,
        "§5.5.1: a close payload is empty or starts with a 2-byte code"
    );
    assert!(
        payload.len() <= 125,
        "§5.5: a control frame carries at most 125 bytes"
    );
    let code = (payload.len() >= 2).then(|| u16::from_be_bytes([payload[0], payload[1]]));
    if let Some(code) = code {
        assert!(
            !matches!(code, 1005 | 1006 | 1015),
            "§7.4.1: the server sent reserved close code {code}"
        );
        assert!(
            (1000..=1003).contains(&code)
                || (1007..=1014).contains(&code)
                || (3000..5000).contains(&code),
            "§7.4.2: close code {code} is not one an endpoint may send"
        );
        assert!(
            std::str::from_utf8(&payload[2..]).is_ok(),
            "§5.5.1: the close reason must be UTF-8: {:?}",
            &payload[2..]
        );
    }
    code
}

/// After the server's close frame, the server ends the TCP connection: read
/// returns 0 (or a reset). Nothing may come before that but pongs: §5.5.1
/// forbids data frames after a close, a second close is meaningless, and
/// §5.5.2 lets pongs answer pings the peer sent before its own close.
pub fn expect_eof(s: &mut TcpStream) {
    let mut rest = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => rest.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("expected the server to close: {e}"),
        }
    }
    let mut at = 0;
    while at < rest.len() {
        let frame = parse_server_frame(&rest[at..]).unwrap_or_else(|| {
            panic!(
                "after its close the server sent bytes that are not a whole frame: {:?}",
                &rest[at..]
            )
        });
        assert_eq!(
            frame.0,
            0x8A,
            "after its close the server sent a frame other than a pong (first byte {:#04x}, payload {:?})",
            frame.0,
            String::from_utf8_lossy(&frame.1)
        );
        at += frame.2;
    }
}

/// Parses one unmasked server frame at the start of `bytes`:
/// (first byte, payload, bytes used), or None when incomplete.
pub fn parse_server_frame(bytes: &[u8]) -> Option<(u8, Vec<u8>, usize)> {
    let b0 = *bytes.first()?;
    let b1 = *bytes.get(1)?;
    assert_eq!(b1 & 0x80, 0, "server frames must not be masked");
    let (len, start): (usize, usize) = match b1 & 0x7F {
        126 => (
            u16::from_be_bytes(bytes.get(2..4)?.try_into().ok()?) as usize,
            4,
        ),
        127 => (
            u64::from_be_bytes(bytes.get(2..10)?.try_into().ok()?) as usize,
            10,
        ),
        n => (n as usize, 2),
    };
    let payload = bytes.get(start..start.checked_add(len)?)?;
    Some((b0, payload.to_vec(), start + len))
}

/// The server's close, then the end of the connection with nothing but
/// pongs between: returns the close code.
pub fn expect_close_then_eof(s: &mut TcpStream) -> Option<u16> {
    let code = expect_close(s);
    expect_eof(s);
    code
}

/// The server still serves: an echo round trip on a fresh connection.
pub fn assert_still_serving(server: &Server) {
    let mut ws = ws(server, "/echo");
    ws.send(tungstenite::Message::text("still here")).unwrap();
    assert_eq!(next_text(&mut ws), "still here");
}

/// The python interpreter with `websockets` installed (by `make setup`).
pub fn python_with_websockets() -> String {
    let candidates = [
        std::env::var("WSLOOP_PYWS").unwrap_or_default(),
        format!(
            "{}/wsloop-pyws-venv/bin/python",
            std::env::var("XDG_CACHE_HOME").unwrap_or_else(|_| format!(
                "{}/.cache",
                std::env::var("HOME").unwrap_or_default()
            ))
        ),
        "python3".to_string(),
    ];
    for python in candidates.iter().filter(|p| !p.is_empty()) {
        let ok = Command::new(python)
            .args(["-c", "import websockets"])
            .output()
            .is_ok_and(|o| o.status.success());
        if ok {
            return python.clone();
        }
    }
    panic!("no python with websockets: run `make setup` (or set WSLOOP_PYWS)");
}
