//! wsloop benchmark load generator.
//!
//! Single thread, one mio poll loop, edge-triggered, buffers reused, one write
//! per connection per wake-up. Does its own HTTP upgrade and masked RFC 6455
//! framing (`--proto ws`), or speaks the raw-TCP peer's protocol (`--proto raw`):
//! a mode line (`ECHO\n` or `BCAST <size>\n`), answered `OK\n`, then fixed-size
//! records with no framing at all.
//!
//! Every payload is checked: a message is `seq u64 | stamp_ns u64 | id u32 |
//! size u32 | pattern[seq % 251 ..]`, and what comes back must be exactly the
//! next expected message for that connection (order, length and every byte).
//! Anything else is a hard failure (exit status 1).
//!
//! `--payload json`: text messages of realistic JSON instead (a fixed-width
//! header object `{"seq":"<hex>","ts":"<hex>","id":"<hex>","n":"<hex>","items":`
//! then an array of chat/API-like objects, one of 61 deterministic bodies),
//! checked the same way. `--deflate 1`: offer permessage-deflate (RFC 7692)
//! with `client_max_window_bits`, fail unless the server accepts, compress
//! every message sent (raw DEFLATE, sync flush, `00 00 ff ff` stripped, RSV1)
//! and inflate every RSV1 message received before the check, keeping or
//! resetting each side's context as the 101 answered.
//!
//! Every phase is bounded in time (`--max-secs`, per-phase timeouts) and count.
//! Traffic goes only to the `--addr` given, which must be a loopback address.
//!
//! Output: one JSON line on stdout per run; a human summary on stderr.

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use std::cell::RefCell;
use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::os::fd::AsRawFd;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

mod turns;

type Res<T> = Result<T, String>;

const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";
const HDR: usize = 24; // seq, stamp, id, size
/// The tail of a sync flush, stripped when sending and appended when receiving (RFC 7692 §7.2).
const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];
/// The Sec-WebSocket-Extensions answer of the first upgrade (for the JSON output).
static EXTENSIONS: OnceLock<String> = OnceLock::new();

#[derive(Clone, Copy, PartialEq, Debug)]
enum Proto {
    Ws,
    Raw,
}

#[derive(Clone)]
struct Opts {
    scenario: String,
    name: String,
    label: String,
    addr: SocketAddr,
    proto: Proto,
    path: String,
    conns: usize,
    inflight: usize,
    size: usize,
    warmup: f64,
    reps: usize,
    rep_secs: f64,
    lat: bool,
    /// the first of `--server-pid` (idle: its VmRSS)
    server_pid: Option<u32>,
    /// every process of `--server-pid A,B,..` (CPU summed over them), named by `--pid-names`
    pids: Vec<(String, u32)>,
    /// bcast: more ports on the `--addr` host; receivers are spread round-robin
    /// over `--addr` and these, the sender stays on `--addr`
    extra_ports: Vec<u16>,
    /// bcast: how long the end waits for outstanding messages to reach every member
    drain_secs: f64,
    max_secs: f64,
    window: usize,
    lat_secs: f64,
    /// bcast's latency phase and fanturns: at most this many messages per
    /// second (per server), one in flight; 0 = each as soon as the last arrived
    lat_rate: f64,
    /// fanturns: the servers, in turn order (label, protocol, port on `--addr`'s host)
    turns: Vec<(String, Proto, u16)>,
    conc: usize,
    settle: f64,
    /// text messages of JSON (`--payload json`) instead of binary
    json: bool,
    /// offer permessage-deflate; the compression level of our compressor
    deflate: Option<u32>,
    /// idle: open and close this many upgraded connections before the baseline RSS
    warm: usize,
}

impl Opts {
    fn parse() -> Res<Opts> {
        let mut a = std::env::args().skip(1);
        let scenario = a.next().ok_or_else(usage)?;
        if scenario == "-h" || scenario == "--help" {
            return Err(usage());
        }
        let mut m: HashMap<String, String> = HashMap::new();
        while let Some(k) = a.next() {
            let k = k
                .strip_prefix("--")
                .ok_or_else(|| format!("bad argument {k}"))?
                .to_string();
            let v = a.next().ok_or_else(|| format!("--{k} needs a value"))?;
            m.insert(k, v);
        }
        fn get<T: std::str::FromStr>(m: &mut HashMap<String, String>, k: &str, d: T) -> Res<T> {
            match m.remove(k) {
                None => Ok(d),
                Some(v) => v.parse().map_err(|_| format!("bad value for --{k}: {v}")),
            }
        }
        let addr: SocketAddr = get(&mut m, "addr", "127.0.0.1:8080".parse().unwrap())?;
        if !addr.ip().is_loopback() {
            return Err(format!("refusing non-loopback target {addr}"));
        }
        let proto = match m.remove("proto").as_deref() {
            None | Some("ws") => Proto::Ws,
            Some("raw") => Proto::Raw,
            Some(p) => return Err(format!("bad --proto {p}")),
        };
        let default_path = if matches!(scenario.as_str(), "bcast" | "fanturns" | "bcastturns") {
            "/chat"
        } else {
            "/echo"
        };
        let o = Opts {
            name: get(&mut m, "name", scenario.clone())?,
            label: get(&mut m, "label", "server".to_string())?,
            addr,
            proto,
            path: get(&mut m, "path", default_path.to_string())?,
            conns: get(&mut m, "conns", 1)?,
            inflight: get(&mut m, "inflight", 1)?,
            size: get(&mut m, "size", 64)?,
            warmup: get(&mut m, "warmup", 1.0)?,
            reps: get(&mut m, "reps", 3)?,
            rep_secs: get(&mut m, "rep-secs", 2.0)?,
            lat: get(&mut m, "lat", 0u8)? != 0,
            server_pid: None,
            pids: {
                let pids = list::<u32>(m.remove("server-pid"), "server-pid")?;
                let names = m.remove("pid-names");
                let names: Vec<String> = names
                    .as_deref()
                    .map_or(Vec::new(), |v| v.split(',').map(str::to_string).collect());
                if names.iter().any(|n| {
                    n.is_empty()
                        || !n
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                }) {
                    return Err("--pid-names: names of [A-Za-z0-9_-]".into());
                }
                if !names.is_empty() && names.len() != pids.len() {
                    return Err("--pid-names needs one name per --server-pid".into());
                }
                if pids.len() > MAX_PIDS {
                    return Err(format!("--server-pid: at most {MAX_PIDS} processes"));
                }
                pids.iter()
                    .enumerate()
                    .map(|(i, &p)| {
                        (
                            names.get(i).cloned().unwrap_or_else(|| format!("pid{p}")),
                            p,
                        )
                    })
                    .collect()
            },
            extra_ports: list(m.remove("extra-ports"), "extra-ports")?,
            drain_secs: get(&mut m, "drain-secs", 10.0)?,
            max_secs: get(&mut m, "max-secs", 60.0)?,
            window: get(&mut m, "window", 32)?,
            lat_secs: get(&mut m, "lat-secs", 1.0)?,
            lat_rate: get(&mut m, "lat-rate", 0.0)?,
            turns: parse_turns(m.remove("turns"))?,
            conc: get(&mut m, "conc", 128)?,
            settle: get(&mut m, "settle", 0.5)?,
            json: match m.remove("payload").as_deref() {
                None | Some("bin") => false,
                Some("json") => true,
                Some(p) => return Err(format!("bad --payload {p} (bin or json)")),
            },
            deflate: {
                let on = get(&mut m, "deflate", 0u8)? != 0;
                let level: u32 = get(&mut m, "deflate-level", 6)?;
                if level > 9 {
                    return Err("--deflate-level 0..9".into());
                }
                on.then_some(level)
            },
            warm: get(&mut m, "warm", 0)?,
            scenario,
        };
        let mut o = o;
        o.server_pid = o.pids.first().map(|p| p.1);
        if !o.extra_ports.is_empty() && o.scenario != "bcast" {
            return Err("--extra-ports is for bcast only".into());
        }
        if o.extra_ports.contains(&0) || o.extra_ports.len() > 15 {
            return Err("--extra-ports: 1..15 ports, none 0".into());
        }
        if !(0.0..=10_000.0).contains(&o.lat_rate) {
            return Err("--lat-rate 0..10000 messages/s".into());
        }
        let in_turns = matches!(o.scenario.as_str(), "fanturns" | "pingturns" | "bcastturns");
        if !o.turns.is_empty() && !in_turns {
            return Err("--turns is for fanturns, bcastturns and pingturns only".into());
        }
        if in_turns && (o.json || o.deflate.is_some()) {
            return Err("the turns scenarios send binary messages without deflate".into());
        }
        if o.drain_secs <= 0.0 || o.drain_secs > 60.0 {
            return Err("--drain-secs 0..60".into());
        }
        if let Some(k) = m.keys().next() {
            return Err(format!("unknown option --{k}\n{}", usage()));
        }
        let min = if o.json { JHDR + 3 } else { HDR };
        if o.size < min || o.size > 1 << 20 {
            return Err(format!("--size must be in {min}..=1MiB"));
        }
        if o.proto == Proto::Raw && (o.json || o.deflate.is_some()) {
            return Err("--payload json and --deflate need --proto ws".into());
        }
        if o.warm > 1000 {
            return Err("--warm 0..1000".into());
        }
        if o.reps == 0 || o.reps > 20 || o.rep_secs <= 0.0 || o.rep_secs > 30.0 {
            return Err("--reps 1..20, --rep-secs 0..30".into());
        }
        if o.conns == 0 || o.conns > 30000 || o.inflight == 0 || o.inflight > 1024 {
            return Err("--conns 1..30000, --inflight 1..1024".into());
        }
        if o.window == 0 || o.window > RING / 2 {
            return Err(format!("--window 1..{}", RING / 2));
        }
        if o.max_secs <= 0.0 || o.max_secs > 600.0 {
            return Err("--max-secs 0..600".into());
        }
        Ok(o)
    }

    /// The server of connection `i` (bcast: 0 is the sender, on `--addr`; the
    /// receivers 1.. go round-robin over `--addr` and `--extra-ports`).
    fn addr_of(&self, i: usize) -> SocketAddr {
        self.addrs()[self.server_of(i)]
    }

    /// Index into [`Opts::addrs`] of connection `i`.
    fn server_of(&self, i: usize) -> usize {
        if i == 0 || self.extra_ports.is_empty() {
            0
        } else {
            (i - 1) % (self.extra_ports.len() + 1)
        }
    }

    /// The least time between two latency messages to one server (`--lat-rate`;
    /// zero when it is 0, unpaced).
    fn lat_period(&self) -> Duration {
        if self.lat_rate > 0.0 {
            Duration::from_secs_f64(1.0 / self.lat_rate)
        } else {
            Duration::ZERO
        }
    }

    /// `--addr`, then the `--extra-ports` on its host.
    fn addrs(&self) -> Vec<SocketAddr> {
        let mut v = vec![self.addr];
        v.extend(
            self.extra_ports
                .iter()
                .map(|&p| SocketAddr::new(self.addr.ip(), p)),
        );
        v
    }
}

/// Most processes `--server-pid` may list.
const MAX_PIDS: usize = 8;

/// A comma-separated list option (`--k a,b,c`); empty when absent.
fn list<T: std::str::FromStr>(v: Option<String>, k: &str) -> Res<Vec<T>> {
    let Some(v) = v else {
        return Ok(Vec::new());
    };
    v.split(',')
        .map(|x| {
            x.trim()
                .parse()
                .map_err(|_| format!("bad value for --{k}: {v}"))
        })
        .collect()
}

fn usage() -> String {
    "usage: loadgen echo|bcast|fanturns|bcastturns|pingturns|idle|upgrade --addr 127.0.0.1:PORT [--proto ws|raw] [--path P]\n\
     \x20 [--conns N] [--inflight K] [--size BYTES] [--warmup S] [--reps R] [--rep-secs S] [--lat 1]\n\
     \x20 [--window W] [--lat-secs S] [--conc C] [--settle S] [--label L] [--name N]\n\
     \x20 [--max-secs S] [--payload bin|json] [--deflate 1] [--deflate-level 0..9] [--warm N]\n\
     \x20 [--server-pid PID[,PID..] [--pid-names A,B,..]] [--extra-ports P[,P..]] [--drain-secs S]\n\
     \x20 [--lat-rate MSG_PER_S] [--turns LABEL=ws|raw@PORT,..]\n\
     echo: --conns connections x --inflight messages in flight, every echo verified.\n\
     bcast: 1 sender + --conns receivers on /chat, --window messages outstanding;\n\
     \x20 --extra-ports: receivers round-robin over --addr and these ports (the sender on --addr),\n\
     \x20 fan-out latency also reported to the last member on each server.\n\
     \x20 --lat-rate: pace the latency phase (one message in flight) at most this fast.\n\
     fanturns: fan-out latency of the --turns servers, each its own room of 1 + --conns,\n\
     \x20 one message at a time, to the servers in turn, for --lat-secs.\n\
     bcastturns: the same rooms, throughput: --window outstanding for 100 ms a turn.\n\
     pingturns: the same for ping-pong: one connection per server, one round trip each in turn.\n\
     idle: --conns idle upgraded connections; server VmRSS delta per connection\n\
     \x20 (after --warm upgraded connections were opened and closed).\n\
     upgrade: --conns concurrent connect+upgrade+close cycles (raw: connect+OK+close).\n\
     server CPU: summed over every --server-pid (idle reads the first one's VmRSS).\n\
     --payload json: text messages of JSON; --deflate 1: negotiate permessage-deflate."
        .to_string()
}

// ---------------------------------------------------------------- process stats

/// `--turns LABEL=PROTO@PORT,..` (fanturns): at most 8 servers.
fn parse_turns(v: Option<String>) -> Res<Vec<(String, Proto, u16)>> {
    let Some(v) = v else { return Ok(Vec::new()) };
    let bad = || format!("bad --turns {v} (LABEL=ws|raw@PORT,..)");
    let mut out = Vec::new();
    for part in v.split(',') {
        let (label, rest) = part.split_once('=').ok_or_else(bad)?;
        let (proto, port) = rest.split_once('@').ok_or_else(bad)?;
        let proto = match proto {
            "ws" => Proto::Ws,
            "raw" => Proto::Raw,
            _ => return Err(bad()),
        };
        let port: u16 = port.parse().map_err(|_| bad())?;
        if label.is_empty() || port == 0 {
            return Err(bad());
        }
        out.push((label.to_string(), proto, port));
    }
    if out.len() > MAX_PIDS {
        return Err(format!("--turns: at most {MAX_PIDS} servers"));
    }
    Ok(out)
}

fn clk_tck() -> f64 {
    unsafe { libc::sysconf(libc::_SC_CLK_TCK) as f64 }
}

/// utime+stime of a whole process (all threads), in seconds.
fn proc_cpu(pid: u32) -> Option<f64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // after ") ": state(3) ... utime is field 14, stime 15 -> indices 11, 12 here
    let ut: u64 = f.get(11)?.parse().ok()?;
    let st: u64 = f.get(12)?.parse().ok()?;
    Some((ut + st) as f64 / clk_tck())
}

fn proc_rss_kb(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let l = s.lines().find(|l| l.starts_with("VmRSS:"))?;
    l.split_whitespace().nth(1)?.parse().ok()
}

fn self_cpu() -> f64 {
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 * 1e-6;
    t(ru.ru_utime) + t(ru.ru_stime)
}

fn raise_nofile() -> u64 {
    unsafe {
        let mut r: libc::rlimit = std::mem::zeroed();
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut r);
        r.rlim_cur = r.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &r);
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut r);
        r.rlim_cur as u64
    }
}

/// Close with RST (SO_LINGER 0) so teardown leaves no TIME_WAIT behind and the
/// ephemeral port range is not exhausted by the 10,000-connection phases.
fn abort_close(s: TcpStream) {
    let l = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            &l as *const _ as *const libc::c_void,
            std::mem::size_of::<libc::linger>() as u32,
        );
    }
    drop(s);
}

// ---------------------------------------------------------------- messages

/// `{"seq":"<16 hex>","ts":"<16 hex>","id":"<8 hex>","n":"<8 hex>","items":` — the
/// fixed-width head of a `--payload json` message; the body follows and closes it.
const JHEAD: [&str; 5] = [
    "{\"seq\":\"",
    "\",\"ts\":\"",
    "\",\"id\":\"",
    "\",\"n\":\"",
    "\",\"items\":",
];
const JHDR: usize = 8 + 16 + 8 + 16 + 8 + 8 + 7 + 8 + 10;
/// Distinct JSON bodies; message `seq` carries body `seq % JBODIES`.
const JBODIES: u64 = 61;

struct Gen {
    pattern: Vec<u8>,
    size: usize,
    rng: u64,
    /// `--payload json`: text frames; the bodies (each `size - JHDR` bytes, `[...]}`)
    json: bool,
    bodies: Vec<Vec<u8>>,
    /// scratch for deflate: the plain message, its compressed form
    msg: Vec<u8>,
    z: Vec<u8>,
}

impl Gen {
    fn new(size: usize, json: bool) -> Gen {
        let mut g = Gen {
            pattern: Vec::new(),
            size,
            rng: 0x9E37_79B9_7F4A_7C15,
            json,
            bodies: Vec::new(),
            msg: Vec::new(),
            z: Vec::new(),
        };
        if json {
            g.bodies = (0..JBODIES).map(|k| json_body(size - JHDR, k)).collect();
        } else {
            g.pattern = (0..size + 256).map(|_| (g.next() >> 24) as u8).collect();
        }
        g
    }
    fn next(&mut self) -> u64 {
        // xorshift64*
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn body(&self, seq: u64) -> &[u8] {
        if self.json {
            return &self.bodies[(seq % JBODIES) as usize];
        }
        let off = (seq % 251) as usize;
        &self.pattern[off..off + self.size - HDR]
    }
    fn head_len(&self) -> usize {
        if self.json {
            JHDR
        } else {
            HDR
        }
    }
    /// Append the plain message (no framing) to `w`.
    fn write_msg(&self, w: &mut Vec<u8>, seq: u64, stamp: u64, id: u32) {
        if self.json {
            json_head(w, seq, stamp, id, self.size);
        } else {
            w.extend_from_slice(&seq.to_le_bytes());
            w.extend_from_slice(&stamp.to_le_bytes());
            w.extend_from_slice(&id.to_le_bytes());
            w.extend_from_slice(&(self.size as u32).to_le_bytes());
        }
        w.extend_from_slice(self.body(seq));
    }
    /// Append one message (framed + masked for ws; compressed with `dfl` when
    /// deflate was agreed) to `w`.
    fn push(
        &mut self,
        w: &mut Vec<u8>,
        proto: Proto,
        seq: u64,
        stamp: u64,
        id: u32,
        dfl: Option<&mut Dfl>,
    ) -> Res<()> {
        if proto == Proto::Raw {
            self.write_msg(w, seq, stamp, id);
            return Ok(());
        }
        let op = if self.json { 0x1 } else { 0x2 };
        let key = (self.next() >> 32) as u32 | 1;
        match dfl {
            None => {
                push_ws_header(w, 0x80 | op, self.size, key);
                let start = w.len();
                self.write_msg(w, seq, stamp, id);
                mask(&mut w[start..], key);
            }
            Some(d) => {
                // RFC 7692 §7.2.1: compress the whole message, RSV1 on its (only) frame
                let mut msg = std::mem::take(&mut self.msg);
                msg.clear();
                self.write_msg(&mut msg, seq, stamp, id);
                let r = d.compress(&msg, &mut self.z);
                self.msg = msg;
                r?;
                push_ws_header(w, 0x80 | 0x40 | op, self.z.len(), key);
                let start = w.len();
                w.extend_from_slice(&self.z);
                mask(&mut w[start..], key);
            }
        }
        Ok(())
    }
    /// Check a received payload is exactly message `seq` from connection `id`.
    /// Returns its send stamp.
    fn verify(&self, p: &[u8], seq: u64, id: u32) -> Res<u64> {
        if p.len() != self.size {
            return Err(format!(
                "conn {id}: message {seq}: length {} != {}",
                p.len(),
                self.size
            ));
        }
        let stamp = if self.json {
            // the stamp: 16 hex digits after `{"seq":"<16>","ts":"`
            let got = p[32..48].iter().try_fold(0u64, |a, &b| {
                (b as char).to_digit(16).map(|d| a << 4 | d as u64)
            });
            let mut want = Vec::with_capacity(JHDR);
            json_head(&mut want, seq, got.unwrap_or(0), id, self.size);
            if got.is_none() || p[..JHDR] != want[..] {
                return Err(format!(
                    "wrong message: expected seq {seq} from conn {id}, got head {:?}",
                    String::from_utf8_lossy(&p[..JHDR])
                ));
            }
            got.unwrap_or(0)
        } else {
            let got = u64::from_le_bytes(p[0..8].try_into().unwrap());
            let gid = u32::from_le_bytes(p[16..20].try_into().unwrap());
            let gsz = u32::from_le_bytes(p[20..24].try_into().unwrap());
            if got != seq || gid != id || gsz as usize != self.size {
                return Err(format!(
                    "wrong message: expected seq {seq} from conn {id}, got seq {got} from conn {gid} (size field {gsz})"
                ));
            }
            u64::from_le_bytes(p[8..16].try_into().unwrap())
        };
        let h = self.head_len();
        if p[h..] != *self.body(seq) {
            let i = p[h..]
                .iter()
                .zip(self.body(seq))
                .position(|(a, b)| a != b)
                .unwrap_or(0);
            return Err(format!(
                "conn {id}: message {seq}: payload corrupted at byte {}",
                h + i
            ));
        }
        Ok(stamp)
    }
}

fn push_hex(w: &mut Vec<u8>, v: u64, digits: u32) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for i in (0..digits).rev() {
        w.push(HEX[((v >> (4 * i)) & 0xf) as usize]);
    }
}

fn json_head(w: &mut Vec<u8>, seq: u64, stamp: u64, id: u32, size: usize) {
    w.extend_from_slice(JHEAD[0].as_bytes());
    push_hex(w, seq, 16);
    w.extend_from_slice(JHEAD[1].as_bytes());
    push_hex(w, stamp, 16);
    w.extend_from_slice(JHEAD[2].as_bytes());
    push_hex(w, id as u64, 8);
    w.extend_from_slice(JHEAD[3].as_bytes());
    push_hex(w, size as u64, 8);
    w.extend_from_slice(JHEAD[4].as_bytes());
}

/// A deterministic JSON array of chat/API-like objects, closed with `]}` (it ends
/// the message object), exactly `len` bytes (blank-padded before the `]`): the
/// same keys in every object, varied numbers, names and sentences — about as
/// compressible as real chat or API traffic.
fn json_body(len: usize, k: u64) -> Vec<u8> {
    const USERS: [&str; 24] = [
        "alice", "bob", "carol", "dmitri", "eve", "farah", "gustavo", "hana", "ines", "jamal",
        "kofi", "lena", "mateo", "nadia", "oskar", "priya", "quentin", "rosa", "sven", "tariq",
        "ursula", "viktor", "wen", "yusuf",
    ];
    const WORDS: [&str; 96] = [
        "the",
        "a",
        "we",
        "it",
        "is",
        "to",
        "of",
        "and",
        "in",
        "for",
        "on",
        "with",
        "that",
        "this",
        "you",
        "not",
        "deploy",
        "build",
        "server",
        "client",
        "latency",
        "queue",
        "message",
        "socket",
        "review",
        "merge",
        "branch",
        "test",
        "release",
        "window",
        "buffer",
        "memory",
        "timeout",
        "retry",
        "error",
        "fixed",
        "broken",
        "works",
        "today",
        "tomorrow",
        "meeting",
        "lunch",
        "coffee",
        "ticket",
        "customer",
        "invoice",
        "order",
        "shipped",
        "price",
        "update",
        "config",
        "cluster",
        "node",
        "restart",
        "logs",
        "metrics",
        "dashboard",
        "alert",
        "please",
        "thanks",
        "sure",
        "perhaps",
        "later",
        "now",
        "done",
        "looks",
        "good",
        "bad",
        "faster",
        "slower",
        "compress",
        "frame",
        "room",
        "chat",
        "ping",
        "pong",
        "upload",
        "download",
        "file",
        "page",
        "browser",
        "mobile",
        "desktop",
        "login",
        "logout",
        "session",
        "token",
        "cache",
        "disk",
        "network",
        "packet",
        "route",
        "again",
        "soon",
        "maybe",
        "agreed",
    ];
    const KINDS: [&str; 5] = ["message", "reaction", "edit", "typing", "presence"];
    const ROOMS: [&str; 6] = ["general", "random", "dev", "ops", "support", "sales"];
    const TAGS: [&str; 10] = [
        "rust", "ws", "urgent", "bug", "feature", "question", "docs", "perf", "infra", "ui",
    ];
    let mut rng = 0x2545_F491_4F6C_DD1D ^ (k + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let mut r = move |n: usize| {
        rng ^= rng >> 12;
        rng ^= rng << 25;
        rng ^= rng >> 27;
        (rng.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize % n
    };
    let mut s = String::with_capacity(len);
    s.push('[');
    let mut id = 100_000 + k as usize * 1_000;
    loop {
        id += 1 + r(7);
        let words = 3 + r(18);
        let mut text = String::new();
        for w in 0..words {
            if w > 0 {
                text.push(' ');
            }
            text.push_str(WORDS[r(WORDS.len())]);
        }
        let ntags = r(3);
        let tags: Vec<String> = (0..ntags)
            .map(|_| format!("\"{}\"", TAGS[r(TAGS.len())]))
            .collect();
        let obj = format!(
            "{{\"id\":{id},\"user\":\"{}{}\",\"kind\":\"{}\",\"room\":\"{}\",\"at\":\"2026-12-{:02}T{:02}:{:02}:{:02}.{:03}Z\",\
             \"text\":\"{text}\",\"likes\":{},\"score\":{}.{:03},\"tags\":[{}],\"edited\":{}}}",
            USERS[r(USERS.len())],
            r(100),
            KINDS[r(KINDS.len())],
            ROOMS[r(ROOMS.len())],
            1 + r(28),
            r(24),
            r(60),
            r(60),
            r(1000),
            r(50),
            r(10),
            r(1000),
            tags.join(","),
            r(4) == 0
        );
        let comma = usize::from(s.len() > 1);
        if s.len() + comma + obj.len() + 2 > len {
            break;
        }
        if comma == 1 {
            s.push(',');
        }
        s.push_str(&obj);
    }
    while s.len() + 2 < len {
        s.push(' ');
    }
    s.push_str("]}");
    debug_assert_eq!(s.len(), len);
    s.into_bytes()
}

// ---------------------------------------------------------------- permessage-deflate

/// What the 101 agreed (RFC 7692 §7.1) and our codec state for one connection.
struct Dfl {
    /// client_no_context_takeover: reset our compressor after each message
    client_nct: bool,
    /// server_no_context_takeover: the server resets; so may our decompressor
    server_nct: bool,
    /// client_max_window_bits: the window our compressor may use
    client_bits: u8,
    level: u32,
    comp: Option<Compress>,
    decomp: Option<Decompress>,
}

impl Dfl {
    /// Parse the server's `Sec-WebSocket-Extensions` answer to our offer.
    fn from_answer(v: &str, level: u32) -> Res<Dfl> {
        if v.contains(',') {
            return Err(format!("more than one extension answered: {v:?}"));
        }
        let mut parts = v.split(';').map(str::trim);
        if !parts
            .next()
            .unwrap_or("")
            .eq_ignore_ascii_case("permessage-deflate")
        {
            return Err(format!("unexpected extension answered: {v:?}"));
        }
        let mut d = Dfl {
            client_nct: false,
            server_nct: false,
            client_bits: 15,
            level,
            comp: None,
            decomp: None,
        };
        let bits = |val: Option<&str>| -> Res<u8> {
            let b = val
                .map(|x| x.trim().trim_matches('"'))
                .and_then(|x| x.parse::<u8>().ok());
            match b {
                Some(b @ 8..=15) => Ok(b),
                _ => Err(format!("bad window bits in {v:?}")),
            }
        };
        for p in parts {
            let mut kv = p.splitn(2, '=');
            let k = kv.next().unwrap_or("").trim().to_ascii_lowercase();
            let val = kv.next();
            match k.as_str() {
                "server_no_context_takeover" if val.is_none() => d.server_nct = true,
                "client_no_context_takeover" if val.is_none() => d.client_nct = true,
                "server_max_window_bits" => {
                    bits(val)?; // our decompressor has a 15-bit window: any server window inflates
                }
                "client_max_window_bits" => d.client_bits = bits(val)?,
                _ => return Err(format!("unexpected parameter {p:?} in {v:?}")),
            }
        }
        if d.client_bits < 9 {
            // zlib's raw deflate turns 8 into 9, which would break the agreement
            return Err(format!(
                "client_max_window_bits=8 cannot be honoured with zlib: {v:?}"
            ));
        }
        Ok(d)
    }

    /// Compress one whole message into `out` (cleared), without the sync-flush tail.
    /// After client_no_context_takeover one compressor, reset after each message,
    /// serves every connection (10,000 idle connections need no 256 KiB zlib state
    /// each); otherwise the connection keeps its own, with its context.
    fn compress(&mut self, msg: &[u8], out: &mut Vec<u8>) -> Res<()> {
        let (level, bits) = (self.level, self.client_bits);
        let new = || Compress::new_with_window_bits(Compression::new(level), false, bits);
        if !self.client_nct {
            return deflate_msg(self.comp.get_or_insert_with(new), msg, out);
        }
        NCT_COMPRESS.with(|s| {
            let mut s = s.borrow_mut();
            if !matches!(&*s, Some((l, b, _)) if (*l, *b) == (level, bits)) {
                *s = Some((level, bits, new()));
            }
            let Some((_, _, c)) = s.as_mut() else {
                unreachable!()
            };
            let r = deflate_msg(c, msg, out);
            c.reset();
            r
        })
    }

    /// Inflate one compressed message (RSV1 set) into `out` (cleared).
    fn inflate(&mut self, payload: &[u8], zin: &mut Vec<u8>, out: &mut Vec<u8>) -> Res<()> {
        let d = self.decomp.get_or_insert_with(|| Decompress::new(false));
        inflate_msg(d, payload, zin, out)?;
        if self.server_nct {
            d.reset(false);
        }
        Ok(())
    }
}

thread_local! {
    /// the compressor of connections that agreed on client_no_context_takeover:
    /// (level, window bits, compressor)
    static NCT_COMPRESS: RefCell<Option<(u32, u8, Compress)>> = const { RefCell::new(None) };
}

/// RFC 7692 §7.2.1: compress one whole message into `out` (cleared) with a sync
/// flush and strip the `00 00 ff ff` it ends with.
fn deflate_msg(c: &mut Compress, msg: &[u8], out: &mut Vec<u8>) -> Res<()> {
    {
        out.clear();
        out.reserve(msg.len() / 2 + 64);
        let before = c.total_in();
        loop {
            let used = (c.total_in() - before) as usize;
            if out.capacity() - out.len() < 64 {
                out.reserve(out.capacity().max(1024));
            }
            c.compress_vec(&msg[used..], out, FlushCompress::Sync)
                .map_err(|e| format!("deflate: {e}"))?;
            // a sync flush is complete once zlib leaves output space unused
            if (c.total_in() - before) as usize >= msg.len() && out.len() < out.capacity() {
                break;
            }
        }
        if !out.ends_with(&TAIL) {
            return Err("deflate: sync flush did not end with 00 00 ff ff".into());
        }
        out.truncate(out.len() - TAIL.len());
        Ok(())
    }
}

/// RFC 7692 §7.2.2: append `00 00 ff ff` to the payload and inflate it (into `out`, cleared).
fn inflate_msg(
    d: &mut Decompress,
    payload: &[u8],
    zin: &mut Vec<u8>,
    out: &mut Vec<u8>,
) -> Res<()> {
    zin.clear();
    zin.extend_from_slice(payload);
    zin.extend_from_slice(&TAIL);
    out.clear();
    let before = d.total_in();
    loop {
        let used = (d.total_in() - before) as usize;
        if out.capacity() - out.len() < 1024 {
            out.reserve(out.capacity().max(16 * 1024));
        }
        let (i0, o0) = (d.total_in(), d.total_out());
        let st = d
            .decompress_vec(&zin[used..], out, FlushDecompress::Sync)
            .map_err(|e| format!("inflate: corrupt compressed message: {e}"))?;
        let used = (d.total_in() - before) as usize;
        if used >= zin.len() && out.len() < out.capacity() {
            break;
        }
        if st == Status::StreamEnd {
            return Err(
                "inflate: the message ended the DEFLATE stream (BFINAL) before its end".into(),
            );
        }
        if d.total_in() == i0 && d.total_out() == o0 && out.len() < out.capacity() {
            return Err("inflate: no progress (truncated compressed message)".into());
        }
        if out.len() > 1 << 24 {
            return Err("inflate: message inflates past 16 MiB".into());
        }
    }
    Ok(())
}

fn push_ws_header(w: &mut Vec<u8>, b0: u8, n: usize, key: u32) {
    w.push(b0);
    if n < 126 {
        w.push(0x80 | n as u8);
    } else if n < 65536 {
        w.push(0x80 | 126);
        w.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        w.push(0x80 | 127);
        w.extend_from_slice(&(n as u64).to_be_bytes());
    }
    w.extend_from_slice(&key.to_ne_bytes());
}

fn mask(b: &mut [u8], key: u32) {
    let k = key.to_ne_bytes();
    let k8 = u64::from_ne_bytes([k[0], k[1], k[2], k[3], k[0], k[1], k[2], k[3]]);
    let mut chunks = b.chunks_exact_mut(8);
    for c in &mut chunks {
        let v = u64::from_ne_bytes((&*c).try_into().unwrap()) ^ k8;
        c.copy_from_slice(&v.to_ne_bytes());
    }
    for (i, x) in chunks.into_remainder().iter_mut().enumerate() {
        *x ^= k[i & 3];
    }
}

// ---------------------------------------------------------------- connections

#[derive(Clone, Copy, PartialEq, Debug)]
enum St {
    Connecting,
    Handshake,
    Open,
    Closing,
}

struct Conn {
    sock: TcpStream,
    /// the server this connection goes to (`--addr`, or one of `--extra-ports`)
    addr: SocketAddr,
    st: St,
    rbuf: Vec<u8>,
    rlen: usize,
    wbuf: Vec<u8>,
    wpos: usize,
    id: u32,
    sent: u64,
    recv: u64,
    got_close: bool,
    eof: bool,
    /// the current event reported EPOLLRDHUP: read on to the EOF
    rdhup: bool,
    started: Instant,
    /// data messages are text (`--payload json`)
    text: bool,
    /// offer permessage-deflate (compression level); `dfl` is what was agreed
    offer: Option<u32>,
    dfl: Option<Box<Dfl>>,
    /// bytes read from / written to the socket once open (wire bytes)
    rx_bytes: u64,
    tx_bytes: u64,
}

enum Ev<'a> {
    /// a data message of the expected kind (binary, or text with `--payload json`)
    Data(&'a [u8]),
    /// the same, compressed (RSV1): inflate before checking
    Zip(&'a [u8]),
    /// a text message when binary ones are expected (e.g. a greeting)
    Text,
}

impl Conn {
    /// Connection `tok` (its server: [`Opts::addr_of`]).
    fn connect(poll: &Poll, o: &Opts, tok: usize, id: u32, rcap: usize) -> Res<Conn> {
        let addr = o.addr_of(tok);
        let mut sock = TcpStream::connect(addr).map_err(connect_err)?;
        poll.registry()
            .register(
                &mut sock,
                Token(tok),
                Interest::READABLE | Interest::WRITABLE,
            )
            .map_err(|e| format!("register: {e}"))?;
        Ok(Conn {
            sock,
            addr,
            st: St::Connecting,
            rbuf: vec![0; rcap],
            rlen: 0,
            wbuf: Vec::with_capacity(4096),
            wpos: 0,
            id,
            sent: 0,
            recv: 0,
            got_close: false,
            eof: false,
            rdhup: false,
            started: Instant::now(),
            text: o.json,
            offer: o.deflate,
            dfl: None,
            rx_bytes: 0,
            tx_bytes: 0,
        })
    }

    /// Inflate a compressed message (`Ev::Zip`) with this connection's decompressor.
    fn inflate(&mut self, z: &[u8], zin: &mut Vec<u8>, out: &mut Vec<u8>) -> Res<()> {
        let id = self.id;
        let d = self
            .dfl
            .as_mut()
            .ok_or_else(|| format!("conn {id}: compressed message without deflate"))?;
        d.inflate(z, zin, out)
            .map_err(|e| format!("conn {id}: {e}"))
    }

    fn flush(&mut self) -> Res<()> {
        while self.wpos < self.wbuf.len() {
            match self.sock.write(&self.wbuf[self.wpos..]) {
                Ok(0) => return Err("write returned 0".into()),
                Ok(n) => {
                    self.wpos += n;
                    self.tx_bytes += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(format!("conn {}: write: {e}", self.id)),
            }
        }
        self.wbuf.clear();
        self.wpos = 0;
        Ok(())
    }

    /// Read until EAGAIN (edge-triggered), handing complete messages to `f`.
    fn read_msgs(
        &mut self,
        proto: Proto,
        size: usize,
        f: &mut dyn FnMut(&mut Conn, Ev) -> Res<()>,
    ) -> Res<()> {
        loop {
            if self.rlen == self.rbuf.len() {
                self.drain(proto, size, f)?;
                if self.rlen == self.rbuf.len() {
                    return Err(format!("conn {}: message larger than read buffer", self.id));
                }
            }
            let space = self.rbuf.len() - self.rlen;
            match self.sock.read(&mut self.rbuf[self.rlen..]) {
                Ok(0) => {
                    self.eof = true;
                    break;
                }
                Ok(n) => {
                    self.rlen += n;
                    self.rx_bytes += n as u64;
                    if n < space && !self.rdhup {
                        // a short read on a stream socket drained the receive queue;
                        // data arriving later raises a new edge, so skip the EAGAIN read
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(format!("conn {}: read: {e}", self.id)),
            }
        }
        self.drain(proto, size, f)
    }

    fn drain(
        &mut self,
        proto: Proto,
        size: usize,
        f: &mut dyn FnMut(&mut Conn, Ev) -> Res<()>,
    ) -> Res<()> {
        let rbuf = std::mem::take(&mut self.rbuf);
        let mut pos = 0;
        let res = (|| -> Res<()> {
            loop {
                let b = &rbuf[pos..self.rlen];
                match proto {
                    Proto::Raw => {
                        if b.len() < size {
                            return Ok(());
                        }
                        pos += size;
                        f(self, Ev::Data(&b[..size]))?;
                    }
                    Proto::Ws => {
                        if b.len() < 2 {
                            return Ok(());
                        }
                        let (b0, b1) = (b[0], b[1]);
                        if b1 & 0x80 != 0 {
                            return Err(format!("conn {}: masked frame from server", self.id));
                        }
                        let (hl, len) = match b1 & 0x7f {
                            126 if b.len() >= 4 => (4, u16::from_be_bytes([b[2], b[3]]) as usize),
                            127 if b.len() >= 10 => (
                                10,
                                u64::from_be_bytes(b[2..10].try_into().unwrap()) as usize,
                            ),
                            126 | 127 => return Ok(()),
                            n => (2, n as usize),
                        };
                        if len > (1 << 24) {
                            return Err(format!("conn {}: frame of {len} bytes", self.id));
                        }
                        if b.len() < hl + len {
                            return Ok(());
                        }
                        let p = &b[hl..hl + len];
                        pos += hl + len;
                        // RSV1 = compressed, on data frames when deflate was agreed (RFC 7692 §6)
                        let rsv1 = b0 & 0x40 != 0;
                        if b0 & 0x80 == 0
                            || b0 & 0x30 != 0
                            || (rsv1 && (self.dfl.is_none() || b0 & 0x08 != 0))
                        {
                            return Err(format!(
                                "conn {}: fragmented/rsv frame {b0:#x} not expected",
                                self.id
                            ));
                        }
                        let want = if self.text { 0x1 } else { 0x2 };
                        match b0 & 0x0f {
                            op if op == want && rsv1 => f(self, Ev::Zip(p))?,
                            op if op == want => f(self, Ev::Data(p))?,
                            0x1 => f(self, Ev::Text)?,
                            0x2 => {
                                return Err(format!(
                                    "conn {}: binary message where text was expected",
                                    self.id
                                ))
                            }
                            0x8 => self.got_close = true,
                            0x9 => {
                                let k = 0x5a5a_5a5a;
                                push_ws_header(&mut self.wbuf, 0x8A, p.len(), k);
                                let s = self.wbuf.len();
                                self.wbuf.extend_from_slice(p);
                                mask(&mut self.wbuf[s..], k);
                            }
                            0xA => {}
                            op => return Err(format!("conn {}: unexpected opcode {op}", self.id)),
                        }
                    }
                }
            }
        })();
        self.rbuf = rbuf;
        self.rbuf.copy_within(pos..self.rlen, 0);
        self.rlen -= pos;
        res
    }

    /// Connecting -> Handshake: socket became writable.
    fn on_connected(&mut self, proto: Proto, path: &str, size: usize) -> Res<bool> {
        let addr = self.addr;
        if let Ok(Some(e)) | Err(e) = self.sock.take_error() {
            return Err(connect_err(e));
        }
        match self.sock.peer_addr() {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotConnected => return Ok(false),
            Err(e) => return Err(connect_err(e)),
        }
        let _ = self.sock.set_nodelay(true);
        match proto {
            Proto::Ws => {
                let ext = if self.offer.is_some() {
                    "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
                } else {
                    ""
                };
                let req = format!(
                    "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                     Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n{ext}\r\n"
                );
                self.wbuf.extend_from_slice(req.as_bytes());
            }
            Proto::Raw => {
                let line = if path.starts_with("/chat") {
                    format!("BCAST {size}\n")
                } else {
                    "ECHO\n".into()
                };
                self.wbuf.extend_from_slice(line.as_bytes());
            }
        }
        self.st = St::Handshake;
        self.flush()?;
        Ok(true)
    }

    /// Handshake -> Open once the response is complete; leftover bytes stay.
    fn on_handshake_readable(&mut self, proto: Proto) -> Res<bool> {
        loop {
            if self.rlen == self.rbuf.len() {
                return Err("handshake response too large".into());
            }
            match self.sock.read(&mut self.rbuf[self.rlen..]) {
                Ok(0) => return Err(format!("conn {}: closed during handshake", self.id)),
                Ok(n) => self.rlen += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(format!("conn {}: handshake read: {e}", self.id)),
            }
        }
        let b = &self.rbuf[..self.rlen];
        let end = match proto {
            Proto::Raw => {
                if b.len() < 3 {
                    return Ok(false);
                }
                if &b[..3] != b"OK\n" {
                    return Err(format!(
                        "raw handshake: got {:?}",
                        String::from_utf8_lossy(&b[..3])
                    ));
                }
                3
            }
            Proto::Ws => {
                let Some(i) = b.windows(4).position(|w| w == b"\r\n\r\n") else {
                    return Ok(false);
                };
                let head = String::from_utf8_lossy(&b[..i]);
                let mut lines = head.split("\r\n");
                let status = lines.next().unwrap_or("");
                if !status.starts_with("HTTP/1.1 101") {
                    return Err(format!("upgrade refused: {status:?}"));
                }
                let mut ok = false;
                let mut ext: Vec<&str> = Vec::new();
                for l in lines {
                    let mut kv = l.splitn(2, ':');
                    let (k, v) = (
                        kv.next().unwrap_or("").trim(),
                        kv.next().unwrap_or("").trim(),
                    );
                    if k.eq_ignore_ascii_case("sec-websocket-accept") {
                        ok |= v == ACCEPT;
                    } else if k.eq_ignore_ascii_case("sec-websocket-extensions") {
                        ext.push(v);
                    }
                }
                if !ok {
                    return Err("upgrade response without the right Sec-WebSocket-Accept".into());
                }
                let ext = ext.join(", ");
                match (self.offer, ext.is_empty()) {
                    (None, true) => {}
                    (None, false) => return Err(format!("extension {ext:?} answered though none was offered")),
                    (Some(_), true) => return Err("the server declined permessage-deflate (no Sec-WebSocket-Extensions in the 101)".into()),
                    (Some(level), false) => {
                        self.dfl = Some(Box::new(Dfl::from_answer(&ext, level)?));
                        EXTENSIONS.get_or_init(|| ext.clone());
                    }
                }
                i + 4
            }
        };
        self.rbuf.copy_within(end..self.rlen, 0);
        self.rlen -= end;
        self.st = St::Open;
        Ok(true)
    }
}

fn connect_err(e: io::Error) -> String {
    if e.raw_os_error() == Some(libc::EMFILE) || e.raw_os_error() == Some(libc::ENFILE) {
        format!("fd limit reached (ulimit -n {}): {e}", raise_nofile())
    } else if e.raw_os_error() == Some(libc::EADDRNOTAVAIL) {
        format!("out of local ports: {e}")
    } else {
        format!("connect: {e}")
    }
}

/// Open `n` upgraded connections (ids first_id..), at most `conc` handshakes at once.
fn connect_all(
    poll: &mut Poll,
    o: &Opts,
    n: usize,
    path: &str,
    deadline: Instant,
) -> Res<Vec<Conn>> {
    let rcap = (256 * 1024).max(4 * (o.size + 16));
    let mut conns: Vec<Conn> = Vec::with_capacity(n);
    let mut pending = 0usize;
    let mut open = 0usize;
    let mut events = Events::with_capacity(1024);
    while open < n {
        while conns.len() < n && pending < o.conc {
            let i = conns.len();
            conns.push(Conn::connect(poll, o, i, i as u32, rcap)?);
            pending += 1;
        }
        if Instant::now() > deadline {
            return Err(format!("timeout connecting: {open}/{n} open"));
        }
        poll.poll(&mut events, Some(Duration::from_millis(50)))
            .map_err(|e| e.to_string())?;
        for ev in events.iter() {
            let c = &mut conns[ev.token().0];
            if c.st == St::Connecting && (ev.is_writable() || ev.is_error()) {
                c.on_connected(o.proto, path, o.size)?;
            }
            if c.st == St::Handshake && ev.is_writable() {
                c.flush()?;
            }
            if c.st == St::Handshake
                && (ev.is_readable() || ev.is_read_closed())
                && c.on_handshake_readable(o.proto)?
            {
                pending -= 1;
                open += 1;
            }
        }
    }
    Ok(conns)
}

// ---------------------------------------------------------------- measurement

#[derive(Clone, Copy)]
struct Snap {
    t: Instant,
    ops: u64,
    /// CPU seconds of the server processes (`--server-pid`), summed, and each
    srv: f64,
    srv_by: [f64; MAX_PIDS],
    lg: f64,
    sys_busy: f64,
    steal: f64,
    /// wire counters summed over the connections: bytes read, messages received,
    /// bytes written, messages sent
    wire: [u64; 4],
}

fn wire(conns: &[Conn]) -> [u64; 4] {
    conns.iter().fold([0; 4], |a, c| {
        [
            a[0] + c.rx_bytes,
            a[1] + c.recv,
            a[2] + c.tx_bytes,
            a[3] + c.sent,
        ]
    })
}

/// Busy and steal CPU seconds of the whole machine (all CPUs), from /proc/stat.
fn sys_cpu() -> (f64, f64) {
    let s = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(l) = s.lines().next() else {
        return (f64::NAN, f64::NAN);
    };
    let v: Vec<u64> = l
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    if v.len() < 8 {
        return (f64::NAN, f64::NAN);
    }
    // user nice system idle iowait irq softirq steal
    let busy = v[0] + v[1] + v[2] + v[5] + v[6];
    (busy as f64 / clk_tck(), v[7] as f64 / clk_tck())
}

fn snap(o: &Opts, ops: u64, wire: [u64; 4]) -> Snap {
    let (sys_busy, steal) = sys_cpu();
    let mut srv_by = [f64::NAN; MAX_PIDS];
    for (i, (_, pid)) in o.pids.iter().enumerate() {
        srv_by[i] = proc_cpu(*pid).unwrap_or(f64::NAN);
    }
    Snap {
        t: Instant::now(),
        ops,
        // NaN when there is no --server-pid or one of them cannot be read
        srv: if o.pids.is_empty() {
            f64::NAN
        } else {
            srv_by[..o.pids.len()].iter().sum()
        },
        srv_by,
        lg: self_cpu(),
        sys_busy,
        steal,
        wire,
    }
}

fn pct(v: &mut [u64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_unstable();
    let i = ((v.len() as f64 * p / 100.0) as usize).min(v.len() - 1);
    v[i] as f64
}

fn jnum(x: f64) -> String {
    if x.is_finite() {
        format!("{x:.6}")
    } else {
        "null".into()
    }
}

/// % of a CPU used by every other process on the machine between two snapshots (noise).
fn other_cpu_pct(a: &Snap, b: &Snap) -> f64 {
    let secs = (b.t - a.t).as_secs_f64();
    let other = (b.sys_busy - a.sys_busy) - (b.srv - a.srv) - (b.lg - a.lg);
    (100.0 * other / secs).max(0.0)
}

/// JSON object for one repetition between two snapshots.
fn rep_json(o: &Opts, a: &Snap, b: &Snap, bytes_per_op: f64, lat: &mut Vec<u64>) -> String {
    let secs = (b.t - a.t).as_secs_f64();
    let ops = (b.ops - a.ops) as f64;
    let srv = b.srv - a.srv;
    let lg = b.lg - a.lg;
    let mut s = format!(
        "{{\"secs\":{},\"ops\":{},\"rate\":{},\"mib_s\":{},\"server_cpu_s\":{},\"loadgen_cpu_s\":{},\
         \"server_cpu_pct\":{},\"loadgen_cpu_pct\":{},\"server_ns_per_op\":{},\"loadgen_ns_per_op\":{}",
        jnum(secs),
        ops,
        jnum(ops / secs),
        jnum(ops * bytes_per_op / secs / 1048576.0),
        jnum(srv),
        jnum(lg),
        jnum(100.0 * srv / secs),
        jnum(100.0 * lg / secs),
        jnum(srv * 1e9 / ops),
        jnum(lg * 1e9 / ops)
    );
    if o.pids.len() > 1 {
        // each server process's share (e.g. every node and Redis): CPU seconds, ns per op
        let parts: Vec<String> = o
            .pids
            .iter()
            .enumerate()
            .map(|(i, (name, _))| {
                let cpu = b.srv_by[i] - a.srv_by[i];
                format!(
                    "\"{name}\":{{\"cpu_s\":{},\"ns_per_op\":{}}}",
                    jnum(cpu),
                    jnum(cpu * 1e9 / ops)
                )
            })
            .collect();
        s += &format!(",\"server_cpu_by_process\":{{{}}}", parts.join(","));
    }
    // CPU used by everything else on the machine during the repetition (noise)
    s += &format!(
        ",\"other_cpu_pct\":{},\"steal_pct\":{}",
        jnum(other_cpu_pct(a, b)),
        jnum(100.0 * (b.steal - a.steal) / secs)
    );
    // bytes on the wire (frame headers included, compressed when deflate is on) per
    // message received / sent, over all connections
    let per = |bytes: usize, msgs: usize| {
        (b.wire[bytes] - a.wire[bytes]) as f64 / (b.wire[msgs] - a.wire[msgs]) as f64
    };
    s += &format!(
        ",\"rx_wire_bytes_per_msg\":{},\"tx_wire_bytes_per_msg\":{}",
        jnum(per(0, 1)),
        jnum(per(2, 3))
    );
    if !lat.is_empty() {
        let n = lat.len();
        s += &format!(
            ",\"lat_n\":{n},\"p50_us\":{},\"p99_us\":{},\"max_us\":{}",
            jnum(pct(lat, 50.0) / 1e3),
            jnum(pct(lat, 99.0) / 1e3),
            jnum(pct(lat, 100.0) / 1e3)
        );
        lat.clear();
    }
    s + "}"
}

struct Phases {
    marks: Vec<Instant>, // warm-up end, then end of each rep
    next: usize,
}

impl Phases {
    fn new(o: &Opts) -> Phases {
        let t0 = Instant::now();
        let mut marks = vec![t0 + Duration::from_secs_f64(o.warmup)];
        for r in 1..=o.reps {
            marks.push(marks[0] + Duration::from_secs_f64(o.rep_secs * r as f64));
        }
        Phases { marks, next: 0 }
    }
    /// Returns Some(index of the mark just crossed) when a boundary passed.
    fn tick(&mut self, now: Instant) -> Option<usize> {
        if self.next < self.marks.len() && now >= self.marks[self.next] {
            self.next += 1;
            Some(self.next - 1)
        } else {
            None
        }
    }
    fn done(&self) -> bool {
        self.next >= self.marks.len()
    }
    fn measuring(&self) -> bool {
        self.next >= 1 && !self.done()
    }
}

fn head_json(o: &Opts) -> String {
    format!(
        "{{\"scenario\":\"{}\",\"name\":\"{}\",\"server\":\"{}\",\"proto\":\"{:?}\",\"path\":\"{}\",\
         \"conns\":{},\"inflight\":{},\"size\":{},\"window\":{},\"warmup_s\":{},\"rep_s\":{},\
         \"payload\":\"{}\",\"deflate\":{},\"extensions\":\"{}\"",
        o.scenario,
        o.name,
        o.label,
        o.proto,
        o.path,
        o.conns,
        o.inflight,
        o.size,
        o.window,
        o.warmup,
        o.rep_secs,
        if o.json { "json" } else { "bin" },
        o.deflate.is_some(),
        EXTENSIONS.get().map_or(String::new(), |e| e.replace(['"', '\\'], "'"))
    ) + &if o.extra_ports.is_empty() {
        String::new()
    } else {
        format!(",\"extra_ports\":{:?}", o.extra_ports)
    }
}

// ---------------------------------------------------------------- scenarios

fn run_echo(o: &Opts, deadline: Instant) -> Res<String> {
    let mut poll = Poll::new().map_err(|e| e.to_string())?;
    let mut conns = connect_all(&mut poll, o, o.conns, &o.path, deadline)?;
    let mut gen = Gen::new(o.size, o.json);
    let (mut zin, mut zout) = (Vec::new(), Vec::new());
    let origin = Instant::now();
    let ns = |t: Instant| (t - origin).as_nanos() as u64;
    let mut total: u64 = 0;
    let mut lat: Vec<u64> = Vec::new();
    for c in conns.iter_mut() {
        let now = ns(Instant::now());
        for _ in 0..o.inflight {
            gen.push(
                &mut c.wbuf,
                o.proto,
                c.sent,
                now,
                c.id,
                c.dfl.as_deref_mut(),
            )?;
            c.sent += 1;
        }
        c.flush()?;
    }
    let mut ph = Phases::new(o);
    let mut snaps: Vec<Snap> = Vec::new();
    let mut reps: Vec<String> = Vec::new();
    let mut events = Events::with_capacity(4096);
    let mut sending = true;
    let mut drain_deadline = None;
    let (proto, size, want_lat) = (o.proto, o.size, o.lat);
    loop {
        poll.poll(&mut events, Some(Duration::from_millis(20)))
            .map_err(|e| e.to_string())?;
        for ev in events.iter() {
            let c = &mut conns[ev.token().0];
            c.rdhup = ev.is_read_closed();
            if ev.is_readable() || ev.is_read_closed() {
                let measuring = ph.measuring();
                let now = ns(Instant::now());
                c.read_msgs(proto, size, &mut |c, m| {
                    let p = match m {
                        Ev::Data(p) => p,
                        Ev::Zip(z) => {
                            c.inflate(z, &mut zin, &mut zout)?;
                            &zout[..]
                        }
                        Ev::Text => return Err(format!("conn {}: text frame in echo", c.id)),
                    };
                    let stamp = gen.verify(p, c.recv, c.id)?;
                    c.recv += 1;
                    total += 1;
                    if want_lat && measuring {
                        lat.push(now.saturating_sub(stamp));
                    }
                    if sending {
                        // stamp with a fresh clock only when latency matters (1 connection)
                        let t = if want_lat { ns(Instant::now()) } else { now };
                        gen.push(&mut c.wbuf, proto, c.sent, t, c.id, c.dfl.as_deref_mut())?;
                        c.sent += 1;
                    }
                    Ok(())
                })?;
                if c.eof || c.got_close {
                    return Err(format!("conn {}: server closed the connection", c.id));
                }
            }
            c.flush()?;
        }
        let now = Instant::now();
        if now > deadline {
            return Err(format!("timeout (--max-secs {})", o.max_secs));
        }
        if let Some(i) = ph.tick(now) {
            snaps.push(snap(o, total, wire(&conns)));
            if i >= 1 {
                reps.push(rep_json(
                    o,
                    &snaps[i - 1],
                    &snaps[i],
                    o.size as f64,
                    &mut lat,
                ));
            }
            lat.clear();
            if ph.done() {
                sending = false;
                drain_deadline = Some(now + Duration::from_secs(5));
            }
        }
        if !sending {
            let out: u64 = conns.iter().map(|c| c.sent - c.recv).sum();
            if out == 0 {
                break;
            }
            if now > drain_deadline.unwrap() {
                return Err(format!("{out} echoes never came back"));
            }
        }
    }
    let verified = total;
    for c in conns {
        abort_close(c.sock);
    }
    Ok(format!(
        "{},\"verified\":{verified},\"reps\":[{}]}}",
        head_json(o),
        reps.join(",")
    ))
}

const RING: usize = 4096;

fn run_bcast(o: &Opts, deadline: Instant) -> Res<String> {
    let mut poll = Poll::new().map_err(|e| e.to_string())?;
    let n = o.conns; // receivers; conn 0 is the sender (also a room member)
    let mut conns = connect_all(&mut poll, o, n + 1, &o.path, deadline)?;
    let members = (n + 1) as u32;
    let mut gen = Gen::new(o.size, o.json);
    let origin = Instant::now();
    let ns = |t: Instant| (t - origin).as_nanos() as u64;
    let mut events = Events::with_capacity(4096);
    let (proto, size) = (o.proto, o.size);

    let mut ring = vec![0u32; RING];
    let mut completed: u64 = 0;
    let mut deliveries: u64 = 0; // to receivers only (sender's own copy not counted)
    let mut texts: u64 = 0;
    let mut lat: Vec<u64> = Vec::new();
    let mut window = o.window;
    let mut sending = true;
    let mut keep_lat = false;

    // Members per server (`--extra-ports`): the sender and the receivers of each;
    // per message and server, how many of its members have it (the fan-out
    // latency to the last member on each server, and deliveries per server).
    let addrs = o.addrs();
    let k = addrs.len();
    let mut per_srv_members = vec![0u32; k];
    for i in 0..=n {
        per_srv_members[o.server_of(i)] += 1;
    }
    let mut ring_srv = vec![0u32; RING * k];
    let mut lat_srv: Vec<Vec<u64>> = vec![Vec::new(); k];
    let mut deliveries_srv = vec![0u64; k];
    let mut lat_srv_json = vec![String::from("null"); k];

    // Deflate: the first member to receive message `seq` inflates it with one
    // decoder for the whole room and checks it byte for byte. Members receive in
    // order, so that decoder sees every message once and in order: the history
    // each member's own decoder would hold. Every other member's copy must then be
    // byte-identical to that checked one (the same bytes after the same history
    // inflate the same), which is what "compressed once" promises; a copy that
    // differs is inflated on its own when the server resets its context
    // (server_no_context_takeover), else the run fails.
    let server_nct = conns[0].dfl.as_ref().is_some_and(|d| d.server_nct);
    let mut room_dec = Decompress::new(false);
    let mut zfirst: Vec<Vec<u8>> = vec![Vec::new(); RING];
    let mut zstamp = vec![0u64; RING];
    let (mut zin, mut zout) = (Vec::new(), Vec::new());

    // settle: let joins finish, swallow any text greetings
    let settle_end = Instant::now() + Duration::from_secs_f64(o.settle);
    // phases: settle, warmup + reps (window W), latency phase (window 1), drain
    let mut ph: Option<Phases> = None;
    let mut snaps: Vec<Snap> = Vec::new();
    let mut reps: Vec<String> = Vec::new();
    let mut lat_end: Option<Instant> = None;
    let mut lat_snap: Option<Snap> = None;
    let mut lat_json = String::from("null");
    let mut lat_from = 0u64; // only messages with seq >= this are latency samples
    let mut drain_deadline: Option<Instant> = None;
    let max_lat_samples = 20000u64;
    // --lat-rate: the latency phase sends its next message no earlier than this
    let lat_period = o.lat_period();
    let mut next_lat_send = Instant::now();
    loop {
        let now_i = Instant::now();
        if ph.is_none() && now_i >= settle_end {
            ph = Some(Phases::new(o));
        }
        let paced = lat_end.is_some() && now_i < next_lat_send;
        if ph.is_some() && sending && !paced {
            let s = &mut conns[0];
            while s.sent - completed < window as u64 {
                if lat_end.is_some() {
                    next_lat_send = now_i + lat_period;
                }
                gen.push(
                    &mut s.wbuf,
                    proto,
                    s.sent,
                    ns(Instant::now()),
                    0,
                    s.dfl.as_deref_mut(),
                )?;
                s.sent += 1;
            }
            s.flush()?;
        }
        let wait = if paced {
            (next_lat_send - now_i).min(Duration::from_millis(20))
        } else {
            Duration::from_millis(20)
        };
        poll.poll(&mut events, Some(wait))
            .map_err(|e| e.to_string())?;
        for ev in events.iter() {
            let i = ev.token().0;
            let c = &mut conns[i];
            c.rdhup = ev.is_read_closed();
            if ev.is_readable() || ev.is_read_closed() {
                let now = ns(Instant::now());
                c.read_msgs(proto, size, &mut |c, m| {
                    let seq = c.recv;
                    let slot = (seq as usize) % RING;
                    let stamp = match m {
                        Ev::Text => {
                            texts += 1;
                            return Ok(());
                        }
                        Ev::Data(p) => gen.verify(p, seq, 0)?,
                        Ev::Zip(z) if ring[slot] == 0 => {
                            inflate_msg(&mut room_dec, z, &mut zin, &mut zout).map_err(|e| format!("conn {}: {e}", c.id))?;
                            if server_nct {
                                room_dec.reset(false);
                            }
                            let stamp = gen.verify(&zout, seq, 0)?;
                            zfirst[slot].clear();
                            zfirst[slot].extend_from_slice(z);
                            zstamp[slot] = stamp;
                            stamp
                        }
                        Ev::Zip(z) if zfirst[slot][..] == *z => zstamp[slot],
                        Ev::Zip(z) if server_nct => {
                            let mut d = Decompress::new(false);
                            inflate_msg(&mut d, z, &mut zin, &mut zout).map_err(|e| format!("conn {}: {e}", c.id))?;
                            gen.verify(&zout, seq, 0)?
                        }
                        Ev::Zip(_) => {
                            return Err(format!(
                                "conn {}: message {seq}: compressed bytes differ from the first member's copy \
                                 and the server keeps its context (not supported by this load generator)",
                                c.id
                            ))
                        }
                    };
                    c.recv += 1;
                    let g = o.server_of(i);
                    if i != 0 {
                        deliveries += 1;
                        deliveries_srv[g] += 1;
                    }
                    if k > 1 {
                        let r = &mut ring_srv[slot * k + g];
                        *r += 1;
                        if *r == per_srv_members[g] && sending && lat_end.is_some() && seq >= lat_from {
                            lat_srv[g].push(now.saturating_sub(stamp));
                        }
                    }
                    ring[slot] += 1;
                    if ring[slot] == members {
                        ring[slot] = 0;
                        ring_srv[slot * k..(slot + 1) * k].fill(0);
                        zfirst[slot].clear();
                        if seq != completed {
                            return Err(format!("message {seq} completed before {completed}"));
                        }
                        completed += 1;
                        if keep_lat && seq >= lat_from {
                            lat.push(now.saturating_sub(stamp));
                        }
                    }
                    Ok(())
                })?;
                if c.eof || c.got_close {
                    return Err(format!("conn {}: server closed the connection", c.id));
                }
            }
            c.flush()?;
        }
        let now = Instant::now();
        if now > deadline {
            return Err(format!(
                "timeout (--max-secs {}); completed {completed}/{} messages",
                o.max_secs, conns[0].sent
            ));
        }
        if let Some(p) = ph.as_mut() {
            if let Some(i) = p.tick(now) {
                snaps.push(snap(o, deliveries, wire(&conns)));
                if i >= 1 {
                    reps.push(rep_json(
                        o,
                        &snaps[i - 1],
                        &snaps[i],
                        o.size as f64,
                        &mut lat,
                    ));
                }
                lat.clear();
                keep_lat = true; // latency under load (window W), per rep
                if p.done() {
                    // latency phase: one message at a time, send -> last receiver
                    window = 1;
                    lat_from = conns[0].sent;
                    lat_snap = Some(snaps[i]);
                    lat_end = Some(now + Duration::from_secs_f64(o.lat_secs));
                }
            }
        }
        if let Some(le) = lat_end {
            if sending && (now >= le || lat.len() as u64 >= max_lat_samples) {
                sending = false;
                lat_json = lat_summary(&mut lat);
                if let Some(a) = lat_snap {
                    // the noise during the latency phase (the repetitions report their own)
                    let b = snap(o, deliveries, wire(&conns));
                    lat_json.pop();
                    // and where the time went: the server's and the load generator's CPU
                    // per message of the phase (one message in flight: a busy server is
                    // the fan-out's own cost, a busy load generator the reading of it)
                    let msgs = conns[0].sent.saturating_sub(lat_from).max(1) as f64;
                    lat_json += &format!(
                        ",\"other_cpu_pct\":{},\"secs\":{},\"server_us_per_msg\":{},\"loadgen_us_per_msg\":{}}}",
                        jnum(other_cpu_pct(&a, &b)),
                        jnum((b.t - a.t).as_secs_f64()),
                        jnum((b.srv - a.srv) * 1e6 / msgs),
                        jnum((b.lg - a.lg) * 1e6 / msgs)
                    );
                }
                lat_srv_json = lat_srv.iter_mut().map(|l| lat_summary(l)).collect();
                drain_deadline = Some(now + Duration::from_secs_f64(o.drain_secs));
            }
        }
        if !sending {
            if completed == conns[0].sent {
                break;
            }
            if now > drain_deadline.unwrap() {
                let missing: Vec<String> = (0..k)
                    .map(|g| {
                        let got = conns
                            .iter()
                            .enumerate()
                            .filter(|&(i, _)| o.server_of(i) == g)
                            .map(|(_, c)| c.recv)
                            .sum::<u64>();
                        let want = conns[0].sent * per_srv_members[g] as u64;
                        format!("{}: {} of {want} deliveries missing", addrs[g], want - got)
                    })
                    .collect();
                return Err(format!(
                    "{} messages never reached every receiver ({})",
                    conns[0].sent - completed,
                    missing.join("; ")
                ));
            }
        }
    }
    for c in conns {
        abort_close(c.sock);
    }
    // with --extra-ports: per server, its members, the deliveries its receivers got
    // (all of them: every member gets every message) and the latency phase's
    // send -> last member on that server
    let mut by_server = String::new();
    if k > 1 {
        let parts: Vec<String> = (0..k)
            .map(|g| {
                format!(
                    "{{\"addr\":\"{}\",\"members\":{},\"receivers\":{},\"deliveries\":{},\"single_latency\":{}}}",
                    addrs[g],
                    per_srv_members[g],
                    per_srv_members[g] - u32::from(g == 0),
                    deliveries_srv[g],
                    lat_srv_json[g]
                )
            })
            .collect();
        by_server = format!(",\"by_server\":[{}]", parts.join(","));
    }
    Ok(format!(
        "{},\"receivers\":{n},\"messages\":{completed},\"text_frames\":{texts},\"reps\":[{}],\"single_latency\":{lat_json}{by_server}}}",
        head_json(o),
        reps.join(",")
    ))
}

/// `{"n":..,"p50_us":..,"p99_us":..,"max_us":..}` of latency samples in ns.
fn lat_summary(lat: &mut [u64]) -> String {
    format!(
        "{{\"n\":{},\"p50_us\":{},\"p99_us\":{},\"max_us\":{}}}",
        lat.len(),
        jnum(pct(lat, 50.0) / 1e3),
        jnum(pct(lat, 99.0) / 1e3),
        jnum(pct(lat, 100.0) / 1e3)
    )
}

fn run_idle(o: &Opts, deadline: Instant) -> Res<String> {
    let pid = o.server_pid.ok_or("idle needs --server-pid")?;
    let nofile = raise_nofile();
    let mut poll = Poll::new().map_err(|e| e.to_string())?;
    if o.warm > 0 {
        // warm-up: the server's first connections pay one-off costs (allocator
        // arenas, the first pages of its tables); take the baseline after them
        let mut wpoll = Poll::new().map_err(|e| e.to_string())?;
        let warm = Opts {
            conns: o.warm,
            ..o.clone()
        };
        for c in connect_all(&mut wpoll, &warm, o.warm, &o.path, deadline)? {
            abort_close(c.sock);
        }
    }
    std::thread::sleep(Duration::from_millis(200));
    let before = proc_rss_kb(pid).ok_or("cannot read server VmRSS")?;
    let t = Instant::now();
    let mut conns = connect_all(&mut poll, o, o.conns, &o.path, deadline)?;
    let connect_secs = t.elapsed().as_secs_f64();
    // settle, making sure the server says nothing to idle connections
    let mut events = Events::with_capacity(1024);
    let settle_end = Instant::now() + Duration::from_secs_f64(o.settle);
    while Instant::now() < settle_end {
        poll.poll(&mut events, Some(Duration::from_millis(50)))
            .map_err(|e| e.to_string())?;
        for ev in events.iter() {
            let c = &mut conns[ev.token().0];
            c.rdhup = ev.is_read_closed();
            c.read_msgs(o.proto, o.size, &mut |c, _| {
                Err(format!("conn {}: idle connection got data", c.id))
            })?;
            if c.eof {
                return Err(format!("conn {}: server closed an idle connection", c.id));
            }
        }
    }
    let idle = proc_rss_kb(pid).ok_or("cannot read server VmRSS")?;
    // liveness + correctness: one echo on every connection
    let mut gen = Gen::new(o.size, o.json);
    let (mut zin, mut zout) = (Vec::new(), Vec::new());
    for c in conns.iter_mut() {
        gen.push(&mut c.wbuf, o.proto, 0, 0, c.id, c.dfl.as_deref_mut())?;
        c.sent = 1;
        c.flush()?;
    }
    let mut left = conns.len();
    let echo_deadline = Instant::now() + Duration::from_secs(20);
    while left > 0 {
        if Instant::now() > echo_deadline.min(deadline) {
            return Err(format!("{left} idle connections did not echo"));
        }
        poll.poll(&mut events, Some(Duration::from_millis(50)))
            .map_err(|e| e.to_string())?;
        for ev in events.iter() {
            let c = &mut conns[ev.token().0];
            c.rdhup = ev.is_read_closed();
            let before_recv = c.recv;
            c.read_msgs(o.proto, o.size, &mut |c, m| {
                let p = match m {
                    Ev::Data(p) => p,
                    Ev::Zip(z) => {
                        c.inflate(z, &mut zin, &mut zout)?;
                        &zout[..]
                    }
                    Ev::Text => return Err("text frame".into()),
                };
                gen.verify(p, c.recv, c.id)?;
                c.recv += 1;
                Ok(())
            })?;
            if c.recv > 1 {
                return Err("extra echo".into());
            }
            if c.recv == 1 && before_recv == 0 {
                left -= 1;
            }
            c.flush()?;
        }
    }
    std::thread::sleep(Duration::from_millis(100));
    let after_echo = proc_rss_kb(pid).unwrap_or(0);
    let n = conns.len();
    for c in conns {
        abort_close(c.sock);
    }
    let per = (idle as f64 - before as f64) * 1024.0 / n as f64;
    let per_echo = (after_echo as f64 - before as f64) * 1024.0 / n as f64;
    Ok(format!(
        "{},\"nofile\":{nofile},\"connect_s\":{},\"rss_before_kb\":{before},\"rss_idle_kb\":{idle},\
         \"rss_after_echo_kb\":{after_echo},\"bytes_per_conn\":{},\"bytes_per_conn_after_echo\":{},\"warm\":{},\"reps\":[]}}",
        head_json(o),
        jnum(connect_secs),
        jnum(per),
        jnum(per_echo),
        o.warm
    ))
}

fn run_upgrade(o: &Opts, deadline: Instant) -> Res<String> {
    let mut poll = Poll::new().map_err(|e| e.to_string())?;
    let rcap = 4096;
    let mut slots: Vec<Conn> = Vec::with_capacity(o.conns);
    let mut next_id: u32 = 0;
    for i in 0..o.conns {
        slots.push(Conn::connect(&poll, o, i, next_id, rcap)?);
        next_id += 1;
    }
    let mut done: u64 = 0;
    let mut ph = Phases::new(o);
    let mut snaps: Vec<Snap> = Vec::new();
    let mut reps: Vec<String> = Vec::new();
    let mut events = Events::with_capacity(1024);
    let mut stopping = false;
    let mut lat: Vec<u64> = Vec::new();
    let cycle_timeout = Duration::from_secs(5);
    let mut active = o.conns;
    loop {
        poll.poll(&mut events, Some(Duration::from_millis(20)))
            .map_err(|e| e.to_string())?;
        for ev in events.iter() {
            let i = ev.token().0;
            let c = &mut slots[i];
            c.rdhup = ev.is_read_closed();
            if c.st == St::Connecting
                && (ev.is_writable() || ev.is_error())
                && !c.on_connected(o.proto, &o.path, o.size)?
            {
                continue;
            }
            if c.st == St::Handshake
                && (ev.is_readable() || ev.is_read_closed())
                && c.on_handshake_readable(o.proto)?
            {
                match o.proto {
                    Proto::Ws => {
                        // masked close frame, status 1000
                        let k = 0x1234_5678;
                        push_ws_header(&mut c.wbuf, 0x88, 2, k);
                        let s = c.wbuf.len();
                        c.wbuf.extend_from_slice(&1000u16.to_be_bytes());
                        mask(&mut c.wbuf[s..], k);
                        c.flush()?;
                    }
                    Proto::Raw => {
                        c.sock
                            .shutdown(Shutdown::Write)
                            .map_err(|e| format!("shutdown: {e}"))?;
                    }
                }
                c.st = St::Closing;
            }
            if c.st == St::Closing && (ev.is_readable() || ev.is_read_closed()) {
                c.read_msgs(o.proto, o.size, &mut |c, _| {
                    Err(format!("conn {}: data after close", c.id))
                })?;
                if c.eof {
                    if o.proto == Proto::Ws && !c.got_close {
                        return Err(format!("conn {}: TCP closed without a close frame", c.id));
                    }
                    if ph.measuring() {
                        lat.push(c.started.elapsed().as_nanos() as u64);
                    }
                    done += 1;
                    if stopping {
                        active -= 1;
                        // leave the finished socket in place; it is closed (EOF seen)
                        c.st = St::Open;
                    } else {
                        let old = std::mem::replace(c, Conn::connect(&poll, o, i, next_id, rcap)?);
                        next_id += 1;
                        drop(old);
                    }
                }
            }
            if c.st != St::Connecting {
                c.flush()?;
            }
        }
        let now = Instant::now();
        if now > deadline {
            return Err(format!("timeout (--max-secs {})", o.max_secs));
        }
        for c in slots.iter() {
            if c.st != St::Open && now - c.started > cycle_timeout {
                return Err(format!(
                    "conn {}: upgrade cycle stuck in {:?} for 5 s",
                    c.id, c.st
                ));
            }
        }
        if let Some(i) = ph.tick(now) {
            snaps.push(snap(o, done, [0; 4]));
            if i >= 1 {
                reps.push(rep_json(o, &snaps[i - 1], &snaps[i], 0.0, &mut lat));
            }
            lat.clear();
            if ph.done() {
                stopping = true;
            }
        }
        if stopping && active == 0 {
            break;
        }
    }
    Ok(format!(
        "{},\"cycles\":{done},\"reps\":[{}]}}",
        head_json(o),
        reps.join(",")
    ))
}

fn main() {
    let o = match Opts::parse() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("loadgen: {e}");
            std::process::exit(2);
        }
    };
    raise_nofile();
    let deadline = Instant::now() + Duration::from_secs_f64(o.max_secs);
    let r = match o.scenario.as_str() {
        "echo" => run_echo(&o, deadline),
        "bcast" => run_bcast(&o, deadline),
        "fanturns" => turns::run_fan(&o, deadline),
        "pingturns" => turns::run_ping(&o, deadline),
        "bcastturns" => turns::run_bcast_turns(&o, deadline),
        "idle" => run_idle(&o, deadline),
        "upgrade" => run_upgrade(&o, deadline),
        s => Err(format!("unknown scenario {s}\n{}", usage())),
    };
    match r {
        Ok(j) => {
            println!("{j}");
            eprintln!("loadgen {} {} ok", o.name, o.label);
        }
        Err(e) => {
            eprintln!("loadgen {} {}: FAILED: {e}", o.name, o.label);
            std::process::exit(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dfl(answer: &str) -> Dfl {
        Dfl::from_answer(answer, 6).unwrap()
    }

    #[test]
    fn inflates_the_rfc_examples() {
        // RFC 7692 §7.2.3.1: "Hello" compressed; §7.2.3.2: the second "Hello" with context takeover
        let (mut zin, mut out) = (Vec::new(), Vec::new());
        let mut d = dfl("permessage-deflate");
        d.inflate(
            &[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00],
            &mut zin,
            &mut out,
        )
        .unwrap();
        assert_eq!(out, b"Hello");
        d.inflate(&[0xf2, 0x00, 0x11, 0x00, 0x00], &mut zin, &mut out)
            .unwrap();
        assert_eq!(out, b"Hello");
        // after server_no_context_takeover the decoder forgets: the reference fails
        let mut d = dfl("permessage-deflate; server_no_context_takeover");
        d.inflate(
            &[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00],
            &mut zin,
            &mut out,
        )
        .unwrap();
        assert!(
            d.inflate(&[0xf2, 0x00, 0x11, 0x00, 0x00], &mut zin, &mut out)
                .is_err()
                || out != b"Hello"
        );
    }

    #[test]
    fn round_trips_with_and_without_context() {
        let gen = Gen::new(2048, true);
        for answer in [
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
            "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12",
        ] {
            let mut tx = dfl(answer);
            // the peer inflating what we send: the client's context unless client_no_context_takeover
            let mut rx = dfl(if tx.client_nct {
                "permessage-deflate; server_no_context_takeover"
            } else {
                "permessage-deflate"
            });
            let (mut msg, mut z, mut zin, mut out) =
                (Vec::new(), Vec::new(), Vec::new(), Vec::new());
            for seq in 0..200 {
                msg.clear();
                gen.write_msg(&mut msg, seq, seq * 7, 3);
                tx.compress(&msg, &mut z).unwrap();
                assert!(
                    z.len() < msg.len() / 2,
                    "JSON compresses: {} -> {}",
                    msg.len(),
                    z.len()
                );
                rx.inflate(&z, &mut zin, &mut out).unwrap();
                assert_eq!(gen.verify(&out, seq, 3).unwrap(), seq * 7);
            }
        }
    }

    #[test]
    fn verify_catches_a_corrupted_json_message() {
        let gen = Gen::new(16384, true);
        let mut msg = Vec::new();
        gen.write_msg(&mut msg, 5, 99, 1);
        assert_eq!(msg.len(), 16384);
        assert!(msg.is_ascii() && msg.starts_with(b"{\"seq\":\"") && msg.ends_with(b"]}"));
        assert_eq!(gen.verify(&msg, 5, 1).unwrap(), 99);
        assert!(gen
            .verify(&msg, 6, 1)
            .unwrap_err()
            .contains("wrong message"));
        assert!(gen
            .verify(&msg, 5, 2)
            .unwrap_err()
            .contains("wrong message"));
        msg[9000] ^= 1;
        assert!(gen
            .verify(&msg, 5, 1)
            .unwrap_err()
            .contains("payload corrupted at byte 9000"));
    }

    #[test]
    fn json_bodies_are_exact_balanced_and_varied() {
        for len in [3, 100, 2048 - JHDR, 16384 - JHDR] {
            let b = json_body(len, 7);
            assert_eq!(b.len(), len);
            let s = String::from_utf8(b).unwrap();
            assert_eq!(s.matches('{').count() + 1, s.matches('}').count(), "{s}");
            assert_eq!(s.matches('[').count(), s.matches(']').count());
        }
        assert_ne!(json_body(2000, 1), json_body(2000, 2));
    }

    #[test]
    fn receivers_round_robin_over_the_servers_sender_on_the_first() {
        let mut o = Opts {
            scenario: "bcast".into(),
            name: "t".into(),
            label: "t".into(),
            addr: "127.0.0.1:1000".parse().unwrap(),
            proto: Proto::Ws,
            path: "/chat".into(),
            conns: 4,
            inflight: 1,
            size: 64,
            warmup: 0.0,
            reps: 1,
            rep_secs: 1.0,
            lat: false,
            server_pid: None,
            pids: Vec::new(),
            extra_ports: Vec::new(),
            drain_secs: 1.0,
            max_secs: 1.0,
            window: 1,
            lat_secs: 1.0,
            lat_rate: 0.0,
            turns: Vec::new(),
            conc: 1,
            settle: 0.0,
            json: false,
            deflate: None,
            warm: 0,
        };
        assert!((0..5).all(|i| o.addr_of(i) == o.addr));
        o.extra_ports = vec![2000];
        let ports: Vec<u16> = (0..5).map(|i| o.addr_of(i).port()).collect();
        assert_eq!(ports, [1000, 1000, 2000, 1000, 2000]);
        assert_eq!(list::<u16>(Some("1, 2,3".into()), "x").unwrap(), [1, 2, 3]);
        assert!(list::<u16>(Some("1,x".into()), "x").is_err());
        assert!(list::<u16>(None, "x").unwrap().is_empty());
    }

    #[test]
    fn parses_the_answers() {
        let d = dfl("permessage-deflate; server_no_context_takeover; client_no_context_takeover");
        assert!(d.server_nct && d.client_nct && d.client_bits == 15);
        let d = dfl("permessage-deflate; server_max_window_bits=12; client_max_window_bits=12");
        assert!(!d.server_nct && !d.client_nct && d.client_bits == 12);
        for bad in [
            "x-webkit-deflate-frame",
            "permessage-deflate; foo",
            "permessage-deflate; client_max_window_bits=16",
            "permessage-deflate; client_max_window_bits=8",
            "permessage-deflate, permessage-deflate",
        ] {
            assert!(Dfl::from_answer(bad, 6).is_err(), "{bad}");
        }
    }
}
