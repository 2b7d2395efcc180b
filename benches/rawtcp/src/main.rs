//! Raw-TCP ceiling for the wsloop benchmarks: the same single-threaded mio
//! loop design as a WebSocket server, with no HTTP and no framing.
//!
//! Protocol: the client sends one mode line, the server answers `OK\n`, then
//!   `ECHO\n`        every byte received is sent back (a byte-stream echo);
//!   `BCAST <n>\n`   the connection joins the one broadcast room; every complete
//!                   n-byte record it sends goes to every member, sender included.
//! Half-close / EOF from the client: the server closes the connection.
//!
//! Broadcast, by default (the strict ceiling, issue #14): on each read from
//! the sender, the bytes read go at once to every member with one `write`
//! per member and no per-message work (only a member whose earlier bytes
//! are still unsent gets them appended, flushed when writable).
//! `--batched` (the earlier peer, kept for comparison): complete records are
//! appended to members' buffers and every touched connection is flushed once
//! per poll wake-up. Echo writes straight back in both.
//!
//! `rawtcp [--port 0] [--batched 1] [--corrupt-every N]` prints `rawtcp listening on 127.0.0.1:PORT`.
//! `--corrupt-every N` flips one byte of every N-th echo read: it exists only so
//! the benchmark smoke test can prove the load generator catches bad echoes.

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use std::io::{self, Read, Write};

const LISTENER: Token = Token(usize::MAX);
const MAX_PENDING: usize = 8 << 20; // stop reading a connection with this much unsent

#[derive(PartialEq)]
enum Mode {
    Line,
    Echo,
    Bcast(usize),
}

struct Conn {
    sock: TcpStream,
    mode: Mode,
    rbuf: Vec<u8>,
    wbuf: Vec<u8>,
    wpos: usize,
    room_idx: usize,
    dirty: bool,
    paused: bool,
    closing: bool,
}

struct Server {
    conns: Vec<Option<Conn>>,
    free: Vec<usize>,
    room: Vec<usize>,
    dirty: Vec<usize>,
    corrupt_every: u64,
    batched: bool,
    reads: u64,
    scratch: Vec<u8>,
    tmp: Vec<u8>,
}

enum Flow {
    Ok,
    Close,
}

impl Server {
    fn flush(&mut self, id: usize) -> Flow {
        let Some(c) = self.conns[id].as_mut() else {
            return Flow::Ok;
        };
        while c.wpos < c.wbuf.len() {
            match c.sock.write(&c.wbuf[c.wpos..]) {
                Ok(0) => return Flow::Close,
                Ok(n) => c.wpos += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Flow::Ok,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Flow::Close,
            }
        }
        c.wbuf.clear();
        c.wpos = 0;
        if c.closing {
            return Flow::Close;
        }
        Flow::Ok
    }

    fn close(&mut self, id: usize) {
        if let Some(c) = self.conns[id].take() {
            if let Mode::Bcast(_) = c.mode {
                let i = c.room_idx;
                self.room.swap_remove(i);
                if i < self.room.len() {
                    let moved = self.room[i];
                    self.conns[moved].as_mut().unwrap().room_idx = i;
                }
            }
            self.free.push(id);
        }
    }

    /// Read until EAGAIN (or until too much output is pending), through one
    /// shared scratch buffer (single thread), so idle connections own no buffer.
    fn readable(&mut self, id: usize) -> Flow {
        loop {
            let Some(c) = self.conns[id].as_mut() else {
                return Flow::Ok;
            };
            if c.wbuf.len() - c.wpos > MAX_PENDING {
                c.paused = true;
                return Flow::Ok;
            }
            let n = match c.sock.read(&mut self.scratch) {
                Ok(0) => {
                    c.closing = true;
                    return self.flush(id);
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Flow::Ok,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return Flow::Close,
            };
            if c.mode == Mode::Echo {
                if self.corrupt_every > 0 {
                    self.reads += 1;
                    if self.reads.is_multiple_of(self.corrupt_every) {
                        self.scratch[n / 2] ^= 0x40;
                    }
                }
                let data = &self.scratch[..n];
                if c.wpos == c.wbuf.len() {
                    // nothing queued: write straight from the scratch buffer
                    let mut off = 0;
                    while off < n {
                        match c.sock.write(&data[off..]) {
                            Ok(0) => return Flow::Close,
                            Ok(k) => off += k,
                            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                            Err(_) => return Flow::Close,
                        }
                    }
                    c.wbuf.clear();
                    c.wpos = 0;
                    c.wbuf.extend_from_slice(&data[off..]);
                } else {
                    c.wbuf.extend_from_slice(data);
                }
            } else {
                c.rbuf.extend_from_slice(&self.scratch[..n]);
                if let Flow::Close = self.process(id) {
                    return Flow::Close;
                }
            }
        }
    }

    fn process(&mut self, id: usize) -> Flow {
        let c = self.conns[id].as_mut().unwrap();
        if c.mode == Mode::Line {
            let Some(nl) = c.rbuf.iter().position(|&b| b == b'\n') else {
                return if c.rbuf.len() > 64 {
                    Flow::Close
                } else {
                    Flow::Ok
                };
            };
            let line = String::from_utf8_lossy(&c.rbuf[..nl]).trim().to_string();
            c.rbuf.drain(..=nl);
            if line == "ECHO" {
                c.mode = Mode::Echo;
                let rest = std::mem::take(&mut c.rbuf);
                c.wbuf.extend_from_slice(b"OK\n");
                c.wbuf.extend_from_slice(&rest);
            } else if let Some(n) = line
                .strip_prefix("BCAST ")
                .and_then(|n| n.parse::<usize>().ok())
            {
                if n == 0 || n > 1 << 20 {
                    return Flow::Close;
                }
                c.mode = Mode::Bcast(n);
                c.room_idx = self.room.len();
                c.wbuf.extend_from_slice(b"OK\n");
                self.room.push(id);
            } else {
                return Flow::Close;
            }
            self.mark(id);
        }
        let c = self.conns[id].as_mut().unwrap();
        if let (Mode::Bcast(_), false) = (&c.mode, self.batched) {
            // Strict: every byte read goes out now, one write per member.
            self.tmp.clear();
            self.tmp.append(&mut c.rbuf);
            for i in 0..self.room.len() {
                let m = self.room[i];
                let mc = self.conns[m].as_mut().unwrap();
                let mut off = 0;
                if mc.wpos == mc.wbuf.len() {
                    mc.wbuf.clear();
                    mc.wpos = 0;
                    // Full or broken: appended, and the flush tells.
                    if let Ok(k) = mc.sock.write(&self.tmp) {
                        off = k;
                    }
                }
                if off < self.tmp.len() {
                    mc.wbuf.extend_from_slice(&self.tmp[off..]);
                    if !mc.dirty {
                        mc.dirty = true;
                        self.dirty.push(m);
                    }
                }
            }
            return Flow::Ok;
        }
        let c = self.conns[id].as_mut().unwrap();
        if let Mode::Bcast(n) = c.mode {
            let k = c.rbuf.len() / n * n;
            if k == 0 {
                return Flow::Ok;
            }
            self.tmp.clear();
            self.tmp.extend_from_slice(&c.rbuf[..k]);
            c.rbuf.drain(..k);
            for i in 0..self.room.len() {
                let m = self.room[i];
                let mc = self.conns[m].as_mut().unwrap();
                mc.wbuf.extend_from_slice(&self.tmp);
                if !mc.dirty {
                    mc.dirty = true;
                    self.dirty.push(m);
                }
            }
        }
        Flow::Ok
    }

    fn mark(&mut self, id: usize) {
        let c = self.conns[id].as_mut().unwrap();
        if !c.dirty {
            c.dirty = true;
            self.dirty.push(id);
        }
    }
}

fn main() {
    let mut port: u16 = 0;
    let mut corrupt_every = 0u64;
    let mut batched = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let v = args.next();
        match (a.as_str(), v.and_then(|v| v.parse::<u64>().ok())) {
            ("--port", Some(p)) => port = p as u16,
            ("--corrupt-every", Some(n)) => corrupt_every = n,
            ("--batched", Some(n)) => batched = n != 0,
            _ => {
                eprintln!("usage: rawtcp [--port 0] [--batched 1] [--corrupt-every N]");
                std::process::exit(2);
            }
        }
    }
    let addr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut listener = match TcpListener::bind(addr) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("rawtcp: bind {addr}: {e}");
            std::process::exit(2);
        }
    };
    println!("rawtcp listening on {}", listener.local_addr().unwrap());
    let _ = io::stdout().flush();

    let mut poll = Poll::new().unwrap();
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)
        .unwrap();
    let mut events = Events::with_capacity(1024);
    let mut s = Server {
        conns: Vec::new(),
        free: Vec::new(),
        room: Vec::new(),
        dirty: Vec::new(),
        corrupt_every,
        batched,
        reads: 0,
        scratch: vec![0; 65536],
        tmp: Vec::new(),
    };
    loop {
        if let Err(e) = poll.poll(&mut events, None) {
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            panic!("poll: {e}");
        }
        for ev in events.iter() {
            if ev.token() == LISTENER {
                loop {
                    match listener.accept() {
                        Ok((mut sock, _)) => {
                            let _ = sock.set_nodelay(true);
                            let id = s.free.pop().unwrap_or_else(|| {
                                s.conns.push(None);
                                s.conns.len() - 1
                            });
                            poll.registry()
                                .register(
                                    &mut sock,
                                    Token(id),
                                    Interest::READABLE | Interest::WRITABLE,
                                )
                                .unwrap();
                            s.conns[id] = Some(Conn {
                                sock,
                                mode: Mode::Line,
                                rbuf: Vec::new(),
                                wbuf: Vec::new(),
                                wpos: 0,
                                room_idx: 0,
                                dirty: false,
                                paused: false,
                                closing: false,
                            });
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => {
                            // EMFILE etc: stop accepting this round
                            eprintln!("rawtcp: accept: {e}");
                            break;
                        }
                    }
                }
                continue;
            }
            let id = ev.token().0;
            if s.conns.get(id).is_none_or(|c| c.is_none()) {
                continue;
            }
            let mut flow = Flow::Ok;
            if ev.is_writable() {
                flow = s.flush(id);
                if let (Flow::Ok, Some(c)) = (&flow, s.conns[id].as_mut()) {
                    if c.paused && c.wbuf.len() - c.wpos <= MAX_PENDING {
                        c.paused = false;
                        flow = s.readable(id);
                    }
                }
            }
            if let Flow::Ok = flow {
                if ev.is_readable() || ev.is_read_closed() || ev.is_error() {
                    flow = s.readable(id);
                }
            }
            if let Flow::Close = flow {
                s.close(id);
            }
        }
        // batched writes: one flush per touched connection per wake-up
        let dirty = std::mem::take(&mut s.dirty);
        for &id in &dirty {
            if let Some(c) = s.conns[id].as_mut() {
                c.dirty = false;
                if let Flow::Close = s.flush(id) {
                    s.close(id);
                }
            }
        }
        s.dirty = dirty;
        s.dirty.clear();
    }
}
