//! Abuse over real sockets (issue 5): slow and silent clients, limits,
//! timeouts, signals, vanishing peers and running out of file descriptors.
//! Each test says what the server must hold to, and measures it.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::{self, sleep};
use std::time::{Duration, Instant};

use common::*;
use socket2::{Domain, SockRef, Socket, Type};
use tungstenite::Message;
use tungstenite::protocol::frame::coding::CloseCode;

// ---- helpers -------------------------------------------------------------

/// A raw client socket with a small receive buffer (set before connecting,
/// so the window it advertises is small too), upgraded on `path`.
fn raw_ws_small_rcvbuf(server: &Server, path: &str, rcvbuf: usize) -> TcpStream {
    let sock = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    sock.set_recv_buffer_size(rcvbuf).unwrap();
    let addr = SocketAddr::from(([127, 0, 0, 1], server.port));
    sock.connect(&addr.into()).unwrap();
    let mut s: TcpStream = sock.into();
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    s.set_nodelay(true).unwrap();
    s.write_all(upgrade_request(path).as_bytes()).unwrap();
    let head = read_head(&mut s);
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
    s
}

/// utime + stime of a process, in seconds, from /proc/<pid>/stat.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // The command name may contain spaces: fields are counted after ')'.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    let out = Command::new("getconf").arg("CLK_TCK").output().unwrap();
    let hz: f64 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(100.0);
    ticks as f64 / hz
}

/// Starts wsloop with at most `nofile` open file descriptors.
fn start_with_nofile(nofile: u32, args: &[&str]) -> Server {
    let mut cmd = Command::new("bash");
    cmd.arg("-c")
        .arg(format!("ulimit -n {nofile} && exec \"$0\" --port 0 \"$@\""))
        .arg(env!("CARGO_BIN_EXE_wsloop"))
        .args(args)
        .stdin(Stdio::null());
    Server::spawn(cmd, "error")
}

/// Reads a response head, or `None` when nothing at all arrives before the
/// socket's read timeout.
fn try_read_head(s: &mut TcpStream) -> Option<String> {
    let mut byte = [0u8; 1];
    match s.read(&mut byte) {
        Ok(1) => {}
        Ok(_) => panic!("closed before any response"),
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => return None,
        Err(e) => panic!("read: {e}"),
    }
    let rest = read_head(s);
    Some(format!("{}{rest}", byte[0] as char))
}

fn echo_round_trip(s: &mut TcpStream, text: &[u8]) {
    s.write_all(&client_frame(0x81, text)).unwrap();
    assert_eq!(read_frame(s), (0x81, text.to_vec()));
}

/// Reads a tungstenite connection until the server ends it.
fn read_until_closed(ws: &mut Ws) {
    for _ in 0..100 {
        match ws.read() {
            Ok(_) => {}
            Err(tungstenite::Error::ConnectionClosed) => return,
            Err(e) => panic!("expected a clean end after the close: {e}"),
        }
    }
    panic!("the connection never ended");
}

// ---- slow clients ----------------------------------------------------------

#[test]
fn slowloris_neither_delays_others_nor_outlives_the_handshake_timeout() {
    const SLOW: usize = 200;
    const LIMIT: Duration = Duration::from_secs(2);
    let server = Server::start(&["--handshake-timeout", "2"]);
    let base = server.open_sockets();
    let request = upgrade_request("/echo").into_bytes();
    // (socket, connected at, closed after)
    let mut slow: Vec<(TcpStream, Instant, Option<Duration>)> = (0..SLOW)
        .map(|_| {
            let mut s = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
            let at = Instant::now();
            s.write_all(&request[..1]).unwrap();
            s.set_nonblocking(true).unwrap();
            (s, at, None)
        })
        .collect();
    let mut echo = ws(&server, "/echo");
    let start = Instant::now();
    let mut sent = 1;
    let mut next_drip = start + Duration::from_secs(1);
    let mut worst_rtt = Duration::ZERO;
    let mut rtts = 0;
    let mut buf = [0u8; 256];
    while slow.iter().any(|c| c.2.is_none()) {
        assert!(
            start.elapsed() < LIMIT + Duration::from_secs(4),
            "slow clients still open"
        );
        if Instant::now() >= next_drip {
            for (s, _, closed) in &mut slow {
                if closed.is_none() {
                    let _ = s.write(&request[sent..sent + 1]);
                }
            }
            sent += 1;
            next_drip += Duration::from_secs(1);
        }
        let t = Instant::now();
        echo.send(Message::text("still quick?")).unwrap();
        assert_eq!(next_text(&mut echo), "still quick?");
        let rtt = t.elapsed();
        if slow.iter().all(|c| c.2.is_none()) {
            worst_rtt = worst_rtt.max(rtt);
            rtts += 1;
        }
        for (s, at, closed) in &mut slow {
            if closed.is_some() {
                continue;
            }
            match s.read(&mut buf) {
                Ok(0) => *closed = Some(at.elapsed()),
                Ok(n) => panic!("server answered an unfinished request: {:?}", &buf[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == ErrorKind::ConnectionReset => *closed = Some(at.elapsed()),
                Err(e) => panic!("slow client read: {e}"),
            }
        }
        sleep(Duration::from_millis(10));
    }
    eprintln!("slowloris: {rtts} echo round trips while {SLOW} dribbled, worst {worst_rtt:?}");
    assert!(rtts >= 20, "too few round trips measured: {rtts}");
    assert!(
        worst_rtt < Duration::from_millis(200),
        "echo slowed to {worst_rtt:?}"
    );
    let first = slow.iter().filter_map(|c| c.2).min().unwrap();
    let last = slow.iter().filter_map(|c| c.2).max().unwrap();
    eprintln!("slowloris: cut after {first:?}..{last:?} (timeout {LIMIT:?})");
    assert!(
        first >= LIMIT - Duration::from_millis(100),
        "cut before the timeout: {first:?}"
    );
    assert!(last <= LIMIT + Duration::from_secs(1), "cut late: {last:?}");
    server.wait_until("slow sockets gone", |s| s.open_sockets() == base + 1);
    echo.send(Message::text("after")).unwrap();
    assert_eq!(next_text(&mut echo), "after");
}

#[test]
fn slow_consumer_in_a_room_is_dropped_and_the_others_get_everything_in_order() {
    const COUNT: usize = 800;
    const SIZE: usize = 64 * 1024;
    /// The sender stays at most this many messages ahead of the readers, so
    /// a reader that keeps up is never behind by more than the backlog limit.
    const WINDOW: usize = 8;
    const RSS_BOUND_KIB: u64 = 32 * 1024;
    let server = Server::start(&["--max-backlog", "1048576", "--max-message", "65536"]);
    let base = server.open_sockets();
    let mut silent = raw_ws_small_rcvbuf(&server, "/chat", 4096);
    let reader = raw_ws(&server, "/chat");
    let mut sender = raw_ws(&server, "/chat");
    let rss_start = server.rss_kib();

    // The reader and the sender (who is in the room too) read everything,
    // checking the sequence number at both ends of each payload.
    let spawn_reader = |mut s: TcpStream, got: Arc<AtomicUsize>| {
        thread::spawn(move || {
            for i in 0..COUNT {
                let (b0, payload) = read_frame(&mut s);
                assert_eq!(b0, 0x82, "message {i}: binary with FIN");
                assert_eq!(payload.len(), SIZE, "message {i}");
                let head = u32::from_be_bytes(payload[..4].try_into().unwrap());
                let tail = u32::from_be_bytes(payload[SIZE - 4..].try_into().unwrap());
                assert_eq!(
                    (head, tail),
                    (i as u32, i as u32),
                    "message {i} out of order"
                );
                got.store(i + 1, Ordering::Release);
            }
            s
        })
    };
    let reader_got = Arc::new(AtomicUsize::new(0));
    let sender_got = Arc::new(AtomicUsize::new(0));
    let reader_thread = spawn_reader(reader, reader_got.clone());
    let sender_thread = spawn_reader(sender.try_clone().unwrap(), sender_got.clone());

    let started = Instant::now();
    let mut rss_max = rss_start;
    let mut silent_gone_at = None;
    let mut payload = vec![0xA5u8; SIZE];
    for i in 0..COUNT {
        let deadline = Instant::now() + TIMEOUT;
        while i
            >= reader_got
                .load(Ordering::Acquire)
                .min(sender_got.load(Ordering::Acquire))
                + WINDOW
        {
            assert!(Instant::now() < deadline, "readers stalled at message {i}");
            sleep(Duration::from_micros(200));
        }
        payload[..4].copy_from_slice(&(i as u32).to_be_bytes());
        payload[SIZE - 4..].copy_from_slice(&(i as u32).to_be_bytes());
        sender.write_all(&client_frame(0x82, &payload)).unwrap();
        if i % 4 == 0 {
            rss_max = rss_max.max(server.rss_kib());
            if silent_gone_at.is_none() && server.open_sockets() == base + 2 {
                silent_gone_at = Some(i);
            }
        }
    }
    let reader = reader_thread
        .join()
        .expect("reader got every message in order");
    let _ = sender_thread
        .join()
        .expect("sender got its own copies in order");
    let elapsed = started.elapsed();
    rss_max = rss_max.max(server.rss_kib());
    eprintln!(
        "slow consumer: {} MB in {elapsed:?}; VmRSS {rss_start} KiB at start, max {rss_max} KiB; \
         silent client gone by message {silent_gone_at:?}",
        COUNT * SIZE / 1_000_000
    );
    assert_eq!(reader_got.load(Ordering::Acquire), COUNT);
    assert!(rss_max < RSS_BOUND_KIB, "VmRSS reached {rss_max} KiB");
    // The silent client was dropped, and long before the end.
    server.wait_until("silent client dropped", |s| s.open_sockets() == base + 2);
    let gone = silent_gone_at.expect("silent client still connected after all messages");
    assert!(
        gone < COUNT / 4,
        "silent client dropped only at message {gone}"
    );
    // Its socket ends: what the kernel still holds, then EOF or a reset.
    let mut buf = vec![0u8; 64 * 1024];
    let mut drained = 0usize;
    loop {
        match silent.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => drained += n,
            Err(e) if e.kind() == ErrorKind::ConnectionReset => break,
            Err(e) => panic!("silent client's socket never ended: {e}"),
        }
        assert!(drained < 16 << 20, "the silent client is still being fed");
    }
    eprintln!("slow consumer: the silent client's socket held {drained} bytes before it ended");
    drop(reader);
}

// ---- limits ------------------------------------------------------------------

#[test]
fn max_connections_refuses_with_503_and_admits_again_after_a_close() {
    let server = Server::start(&["--max-connections", "5"]);
    let base = server.open_sockets();
    let mut held: Vec<TcpStream> = (0..5).map(|_| raw_ws(&server, "/echo")).collect();
    let mut sixth = tcp(&server);
    sixth
        .write_all(upgrade_request("/echo").as_bytes())
        .unwrap();
    let response = read_to_close(&mut sixth);
    assert!(response.starts_with("HTTP/1.1 503 "), "{response}");
    drop(sixth);
    // One leaves politely.
    let mut first = held.remove(0);
    first
        .write_all(&client_frame(0x88, &1000u16.to_be_bytes()))
        .unwrap();
    assert_eq!(expect_close(&mut first), Some(1000));
    expect_eof(&mut first);
    drop(first);
    server.wait_until("the closed one and the refused one are gone", |s| {
        s.open_sockets() == base + 4
    });
    let mut next = raw_ws(&server, "/echo");
    echo_round_trip(&mut next, b"admitted");
    for s in &mut held {
        echo_round_trip(s, b"still here");
    }
}

#[test]
fn allow_origin_admits_only_the_listed_origin() {
    let server = Server::start(&["--allow-origin", "http://good.example"]);
    let with_origin = |origin: Option<&str>| {
        let mut request = upgrade_request("/echo");
        if let Some(origin) = origin {
            request = request.replace(
                "Host: 127.0.0.1\r\n",
                &format!("Host: 127.0.0.1\r\nOrigin: {origin}\r\n"),
            );
        }
        let mut s = tcp(&server);
        s.write_all(request.as_bytes()).unwrap();
        (read_head(&mut s), s)
    };
    let (head, mut s) = with_origin(Some("http://good.example"));
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
    echo_round_trip(&mut s, b"good");
    for origin in [
        Some("http://evil.example"),
        Some("http://good.example.evil.example"),
        None,
    ] {
        let (head, _) = with_origin(origin);
        assert!(head.starts_with("HTTP/1.1 403 "), "{origin:?}: {head}");
    }
}

// ---- timeouts ------------------------------------------------------------------

#[test]
fn idle_client_answering_pings_stays_and_a_mute_one_is_dropped() {
    let server = Server::start(&["--idle-timeout", "0.3"]);
    let mut mute = raw_ws(&server, "/echo");
    let t0 = Instant::now();
    let mute_thread = thread::spawn(move || {
        // Never answers anything; reading does not answer a ping.
        let (b0, payload) = read_frame(&mut mute);
        let ping_at = t0.elapsed();
        assert_eq!(
            (b0, payload.as_slice()),
            (0x89, &b"wsloop"[..]),
            "first a ping"
        );
        let code = expect_close(&mut mute);
        expect_eof(&mut mute);
        (ping_at, code, t0.elapsed())
    });

    let mut polite = ws(&server, "/echo");
    if let tungstenite::stream::MaybeTlsStream::Plain(s) = polite.get_mut() {
        s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    }
    let start = Instant::now();
    let mut pings = 0;
    while start.elapsed() < Duration::from_millis(1500) {
        match polite.read() {
            Ok(Message::Ping(p)) => {
                assert_eq!(&p[..], b"wsloop");
                pings += 1;
            }
            Ok(other) => panic!("unexpected {other:?}"),
            Err(tungstenite::Error::Io(e))
                if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => panic!("the polite client was dropped: {e}"),
        }
    }
    if let tungstenite::stream::MaybeTlsStream::Plain(s) = polite.get_mut() {
        s.set_read_timeout(Some(TIMEOUT)).unwrap();
    }
    polite.send(Message::text("still here")).unwrap();
    assert_eq!(next_text(&mut polite), "still here");

    let (ping_at, code, eof_at) = mute_thread.join().unwrap();
    eprintln!(
        "idle: {pings} pings answered in 1.5 s; mute client pinged at {ping_at:?}, cut at {eof_at:?}"
    );
    // A check every 0.3 s; a silent client is pinged at the first check
    // that finds it silent, so a polite one answers a ping every 0.6 s.
    assert!(
        pings >= 2,
        "only {pings} pings in 1.5 s with --idle-timeout 0.3"
    );
    assert!(
        ping_at >= Duration::from_millis(250) && ping_at < Duration::from_secs(1),
        "{ping_at:?}"
    );
    assert_eq!(code, Some(1001));
    assert!(
        eof_at >= Duration::from_millis(550) && eof_at < Duration::from_secs(3),
        "{eof_at:?}"
    );
}

fn shutdown_on(sig: &str) {
    let mut server = Server::start(&[]);
    let mut echo = ws(&server, "/echo");
    let mut chat = ws(&server, "/chat");
    echo.send(Message::text("e")).unwrap();
    assert_eq!(next_text(&mut echo), "e");
    chat.send(Message::text("c")).unwrap();
    assert_eq!(next_text(&mut chat), "c");
    let t0 = Instant::now();
    server.signal(sig);
    for mut ws in [echo, chat] {
        match next_message(&mut ws) {
            Message::Close(Some(frame)) => assert_eq!(frame.code, CloseCode::Away),
            other => panic!("SIG{sig}: expected close 1001, got {other:?}"),
        }
        // §7.1.1: once the close handshake is done the server closes TCP
        // first; this client keeps its socket and still sees the EOF.
        let t = Instant::now();
        read_until_closed(&mut ws);
        assert!(
            t.elapsed() < Duration::from_secs(1),
            "SIG{sig}: server's FIN after {:?}",
            t.elapsed()
        );
    }
    let status = server.wait_exit();
    let took = t0.elapsed();
    eprintln!("SIG{sig}: both clients closed with 1001, exit {status} after {took:?}");
    assert_eq!(status.code(), Some(0), "SIG{sig}");
    // The clients answered, so no need to wait out --close-timeout (5 s).
    assert!(
        took < Duration::from_secs(2),
        "SIG{sig}: exit took {took:?}"
    );
}

#[test]
fn sigterm_closes_clients_with_1001_and_exits_0() {
    shutdown_on("TERM");
}

#[test]
fn sigint_closes_clients_with_1001_and_exits_0() {
    shutdown_on("INT");
}

#[test]
fn shutdown_cuts_a_client_that_never_answers_the_close_at_close_timeout() {
    let mut server = Server::start(&["--close-timeout", "0.5"]);
    let mut mute = raw_ws(&server, "/echo");
    echo_round_trip(&mut mute, b"open");
    let mut polite = ws(&server, "/echo");
    let t0 = Instant::now();
    server.signal("TERM");
    match next_message(&mut polite) {
        Message::Close(Some(frame)) => assert_eq!(frame.code, CloseCode::Away),
        other => panic!("expected close 1001, got {other:?}"),
    }
    read_until_closed(&mut polite);
    drop(polite);
    assert_eq!(expect_close(&mut mute), Some(1001));
    expect_eof(&mut mute);
    let cut = t0.elapsed();
    let status = server.wait_exit();
    let exited = t0.elapsed();
    eprintln!("close timeout 0.5 s: mute client cut after {cut:?}, exit {status} after {exited:?}");
    assert!(
        cut >= Duration::from_millis(450),
        "cut before the close timeout: {cut:?}"
    );
    assert!(cut < Duration::from_millis(1500), "cut late: {cut:?}");
    assert_eq!(status.code(), Some(0));
    assert!(exited < Duration::from_secs(2), "{exited:?}");
}

// ---- vanishing peers -----------------------------------------------------------

#[test]
fn clients_vanishing_mid_frame_mid_handshake_or_with_a_reset_are_cleaned_up() {
    let server = Server::start(&[]);
    let base = server.open_sockets();
    let half_frame = {
        let f = client_frame(0x82, &[7u8; 1000]);
        f[..500].to_vec()
    };
    // Half a frame, then FIN.
    for _ in 0..10 {
        let mut s = raw_ws(&server, "/echo");
        s.write_all(&half_frame).unwrap();
        drop(s);
    }
    // Half a frame, then RST.
    for _ in 0..10 {
        let mut s = raw_ws(&server, "/echo");
        s.write_all(&half_frame).unwrap();
        SockRef::from(&s).set_linger(Some(Duration::ZERO)).unwrap();
        drop(s);
    }
    // Half a request head, then FIN or RST.
    for i in 0..10 {
        let mut s = tcp(&server);
        s.write_all(&upgrade_request("/chat").as_bytes()[..40])
            .unwrap();
        if i % 2 == 0 {
            SockRef::from(&s).set_linger(Some(Duration::ZERO)).unwrap();
        }
        drop(s);
    }
    // Half-close mid-frame: the server must end the connection, not keep
    // a half-open one around.
    for _ in 0..5 {
        let mut s = raw_ws(&server, "/echo");
        s.write_all(&half_frame).unwrap();
        s.shutdown(Shutdown::Write).unwrap();
        expect_eof(&mut s);
    }
    // RST while the server is writing a big echo to a client that does not read.
    for _ in 0..3 {
        let mut s = raw_ws_small_rcvbuf(&server, "/echo", 16 * 1024);
        s.write_all(&client_frame(0x82, &vec![0x5A; 8 << 20]))
            .unwrap();
        let mut header = [0u8; 2];
        s.read_exact(&mut header).unwrap();
        assert_eq!(header, [0x82, 127], "the echo has begun");
        SockRef::from(&s).set_linger(Some(Duration::ZERO)).unwrap();
        drop(s);
    }
    server.wait_until("every vanished client removed", |s| {
        s.open_sockets() == base
    });
    assert_still_serving(&server);
    server.wait_until("back to the listener alone", |s| s.open_sockets() == base);
}

// ---- file descriptors --------------------------------------------------------

#[test]
fn out_of_file_descriptors_the_server_neither_spins_nor_stops_serving() {
    let server = start_with_nofile(40, &[]);
    let pid = server.child.id();
    let mut held = Vec::new();
    let mut waiting = Vec::new();
    for _ in 0..60 {
        let mut s = tcp(&server);
        s.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        s.write_all(upgrade_request("/echo").as_bytes()).unwrap();
        match try_read_head(&mut s) {
            Some(head) => {
                assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
                assert!(waiting.is_empty(), "admitted after one was left waiting");
                held.push(s);
            }
            None => {
                waiting.push(s);
                if waiting.len() == 5 {
                    break;
                }
            }
        }
    }
    eprintln!(
        "EMFILE: {} connections admitted under ulimit -n 40, {} waiting",
        held.len(),
        waiting.len()
    );
    assert_eq!(waiting.len(), 5, "never ran out of descriptors");
    assert!(held.len() >= 20, "only {} admitted", held.len());
    for s in &mut held {
        s.set_read_timeout(Some(TIMEOUT)).unwrap();
    }
    echo_round_trip(&mut held[0], b"with no descriptor left");

    let cpu0 = cpu_seconds(pid);
    sleep(Duration::from_secs(1));
    let used = cpu_seconds(pid) - cpu0;
    eprintln!("EMFILE: {used:.2} s of CPU in 1 s with connections waiting");
    assert!(used < 0.3, "the server spins: {used:.2} s CPU in 1 s");

    drop(held);
    for s in &mut waiting {
        s.set_read_timeout(Some(TIMEOUT)).unwrap();
        let head = read_head(s);
        assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
        echo_round_trip(s, b"admitted at last");
    }
    drop(waiting);
    assert_still_serving(&server);
}
