//! Every setting, its flag and its default. Parsed by hand from `argv`: the
//! server has no dependency for that, and a bad flag is one line of error.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Config {
    /// Where to listen. 127.0.0.1 by default: exposing the server is a
    /// deliberate choice (`--host 0.0.0.0`).
    pub host: IpAddr,
    pub port: u16,
    /// The largest message accepted, in bytes (§10.4); over it: close 1009.
    pub max_message: u64,
    /// Messages on the chat routes go to the console (stdin/stdout).
    pub operator: bool,
    /// The random interval between two `/guest` pushes.
    pub push_interval: (Duration, Duration),
    /// Where `/upload` saves files.
    pub uploads: PathBuf,
    /// A connection must finish its upgrade request within this time.
    pub handshake_timeout: Duration,
    /// Silence after which the server pings; as long again without an
    /// answer and the connection is dropped.
    pub idle_timeout: Duration,
    /// How long the server waits for the peer's close after sending its own.
    pub close_timeout: Duration,
    pub max_connections: usize,
    /// Outbound bytes a connection may have queued before it is dropped.
    pub max_backlog: usize,
    /// When not empty, only upgrade requests with one of these `Origin`s.
    pub allow_origins: Vec<String>,
    /// Log and console bytes waiting for a slow stdout/stderr; past it,
    /// lines are dropped and counted (`output`).
    pub output_buffer: usize,
    /// `/upload` quotas and the worker's queue (`upload_worker`).
    pub upload_limits: crate::upload_worker::Limits,
    /// The server's whole budget for partial messages and outbound queues,
    /// across all connections; a connection whose partial message would
    /// pass it is closed with 1013.
    pub max_memory: usize,
    /// A message in progress must gain at least [`MIN_PROGRESS`] bytes per
    /// this much time (or be done), else close 1008: a trickle cannot hold
    /// a buffer forever.
    pub message_timeout: Duration,
    /// permessage-deflate (RFC 7692, `deflate`): shared or off.
    pub deflate: crate::deflate::negotiate::Mode,
    /// Messages shorter than this are sent uncompressed.
    pub deflate_min: usize,
    /// LZ77 window bits for `dedicated` mode (9..=15).
    pub deflate_window: u8,
    /// zlib compression level, 1 (fastest) ..= 9 (smallest).
    pub deflate_level: u8,
    /// `--redis URL`: rooms span every node of the cluster this Redis
    /// defines (None: one node, no Redis).
    pub redis: Option<crate::cluster::url::RedisUrl>,
    /// Room events waiting for Redis, in bytes; past it a message reaches
    /// this node's members only (a v1 sender is told; counted).
    pub cluster_outbox: usize,
    /// This node's name in `/healthz` (see [`default_node_name`]).
    pub node: String,
    /// Bind with SO_REUSEPORT: several processes share one port.
    pub reuse_port: bool,
}

/// The least a message in progress must grow by per --message-timeout.
pub const MIN_PROGRESS: usize = 16 * 1024;

impl Default for Config {
    fn default() -> Config {
        Config {
            host: IpAddr::from([127, 0, 0, 1]),
            port: 8080,
            max_message: 16 << 20,
            deflate: crate::deflate::negotiate::Mode::Shared,
            deflate_min: 1024,
            deflate_window: 12,
            deflate_level: crate::deflate::codec::DEFAULT_LEVEL,
            operator: false,
            push_interval: (Duration::from_secs(3), Duration::from_secs(8)),
            uploads: PathBuf::from("uploads"),
            handshake_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            close_timeout: Duration::from_secs(5),
            max_connections: 10_000,
            max_backlog: 8 << 20,
            allow_origins: Vec::new(),
            output_buffer: crate::output::DEFAULT_CAPACITY,
            upload_limits: crate::upload_worker::Limits::default(),
            max_memory: 512 << 20,
            message_timeout: Duration::from_secs(30),
            redis: None,
            cluster_outbox: 8 << 20,
            node: default_node_name(),
            reuse_port: false,
        }
    }
}

/// `<hostname>-<pid>-<4 hex digits>`: distinct for every process, also
/// for several on one machine. The hostname is read once, at start, from
/// /proc ("wsloop" when it cannot be read), keeping only the characters a
/// node name may hold, and shortened so the whole fits in 64.
pub fn default_node_name() -> String {
    use std::hash::{BuildHasher, Hasher};
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let host: String = host.chars().filter(|&c| node_char(c)).collect();
    let host = if host.is_empty() {
        "wsloop".into()
    } else {
        host
    };
    // RandomState is seeded from the OS's randomness, per process.
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish()
        & 0xFFFF;
    let suffix = format!("-{}-{random:04x}", std::process::id());
    let keep = MAX_NODE.saturating_sub(suffix.len());
    let host: String = host.chars().take(keep).collect();
    format!("{host}{suffix}")
}

/// The longest node name.
const MAX_NODE: usize = 64;

fn node_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')
}

/// Node names are 1-64 characters of `[A-Za-z0-9._-]`.
pub fn valid_node_name(name: &str) -> bool {
    (1..=MAX_NODE).contains(&name.len()) && name.chars().all(node_char)
}

impl Config {
    /// The backlog past which a client is dropped: --max-backlog, but never
    /// less than one whole largest message (an echo of a 16 MiB message
    /// queues 16 MiB at once, and that is not a client falling behind).
    pub fn backlog_limit(&self) -> usize {
        let one_message = usize::try_from(self.max_message).unwrap_or(usize::MAX);
        self.max_backlog.max(one_message.saturating_add(64 * 1024))
    }
}

pub const USAGE: &str = "\
wsloop — a WebSocket server (RFC 6455) in one poll loop

usage: wsloop [options]

  --host ADDR               address to listen on (default 127.0.0.1)
  --port PORT               port to listen on, 0 = any free port (default 8080)
  --max-message BYTES       largest message accepted; larger ones get close 1009
                            (default 16777216 = 16 MiB)
  --operator                messages on / and /chat go to this console; type replies
  --push-interval MIN-MAX   /guest push interval in ms (default 3000-8000)
  --uploads DIR             where /upload saves files (default ./uploads)
  --handshake-timeout SECS  time to send the upgrade request (default 10)
  --idle-timeout SECS       silence before a ping; as long again and the client is
                            dropped (default 60)
  --close-timeout SECS      wait for the client's close reply (default 5)
  --max-connections N       more get 503 (default 10000)
  --max-backlog BYTES       unsent bytes a client may fall behind before it is dropped
                            (default 8388608 = 8 MiB; never less than --max-message
                            + 64 KiB, so one whole message always fits)
  --allow-origin URL        accept only upgrades from this Origin (repeatable);
                            others get 403 (default: any origin)
  --output-buffer BYTES     log and console output waiting for a slow terminal or
                            pipe; past it lines are dropped and counted, and a
                            line says how many (default 1048576 = 1 MiB)
  --upload-files N          files one /upload connection may save; past it: JSON
                            error and close 1008 (default 1000)
  --upload-bytes BYTES      bytes one /upload connection may save; past it: close
                            1008, or 1009 for one file larger than this (default
                            268435456 = 256 MiB)
  --uploads-max BYTES       bytes the --uploads directory may hold, files already
                            there included; past it: close 1008 (default
                            1073741824 = 1 GiB)
  --upload-queue BYTES      uploads waiting for the disk (plus 256 B each); past it:
                            close 1013, try again later (default 67108864 = 64 MiB)
  --max-memory BYTES        partial messages and outbound queues of all clients
                            together; a client whose partial message would pass it
                            is closed with 1013, try again later (default 536870912
                            = 512 MiB; broadcast bytes count once per queue)
  --message-timeout SECS    a message in progress must grow by 16 KiB per this time
                            or be done, else close 1008 (default 30)
  --deflate MODE            permessage-deflate (RFC 7692): shared = one loop-wide
                            compressor, reset after each message, no deflate state
                            per connection; dedicated = context takeover where the
                            client allows it (better on small repetitive messages),
                            up to 2 x 2^window bytes of history per connection,
                            counted in --max-memory; off = decline (default shared)
  --deflate-min BYTES       shorter messages are sent uncompressed (default 1024)
  --deflate-window BITS     LZ77 window for dedicated mode, 9..15 (default 12)
  --deflate-level N         zlib level, 1 (fastest) .. 9 (smallest): compression
                            runs on the loop, so it is every client's latency
                            (default 1)
  --redis URL               redis://[[user]:password@]host[:port][/db]: rooms span
                            every wsloop node that uses this Redis (one order per
                            room, names unique across nodes); without it, one node.
                            /echo, /guest, /upload, /inspect and the operator
                            console stay per node (the console sees and answers
                            this node's clients only)
  --cluster-outbox BYTES    room events waiting for Redis (while it is slow or
                            away); past it a message reaches this node's members
                            only, a v1 sender gets an error, and it is counted and
                            logged (default 8388608 = 8 MiB)
  --node NAME               this node's name in /healthz: 1-64 characters of
                            A-Z a-z 0-9 . _ - (default <hostname>-<pid>-<4 random
                            hex digits>)
  --reuse-port              bind with SO_REUSEPORT: several wsloop processes on this
                            machine share the port, the kernel spreads connections
                            among them (default off: a port in use is an error)
  -h, --help                this text

Sizes take a unit: 64KiB, 16MiB, 1GiB (also K, M, G; all binary).

Logging: RUST_LOG=info (default), debug (handshakes), trace (every frame).
";

/// What the command line asks for.
#[derive(Debug)]
pub enum Command {
    Run(Box<Config>),
    Help,
}

/// Parses the arguments after the program name. `Err` is a one-line message.
pub fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Command, String> {
    let mut config = Config::default();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let mut value = || -> Result<String, String> {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "--operator" => config.operator = true,
            "--host" => {
                let v = value()?;
                config.host = v
                    .parse()
                    .map_err(|_| format!("--host: not an IP address: {v}"))?;
            }
            "--port" => config.port = number(&flag, &value()?)?,
            "--max-message" => {
                config.max_message = bytes(&flag, &value()?)?;
                if config.max_message == 0 {
                    return Err("--max-message must be at least 1".into());
                }
            }
            "--push-interval" => config.push_interval = interval(&value()?)?,
            "--uploads" => config.uploads = PathBuf::from(value()?),
            "--handshake-timeout" => config.handshake_timeout = seconds(&flag, &value()?)?,
            "--idle-timeout" => config.idle_timeout = seconds(&flag, &value()?)?,
            "--close-timeout" => config.close_timeout = seconds(&flag, &value()?)?,
            "--max-connections" => {
                config.max_connections = number(&flag, &value()?)?;
                if !(1..=10_000_000).contains(&config.max_connections) {
                    return Err("--max-connections must be 1 to 10000000".into());
                }
            }
            "--max-backlog" => config.max_backlog = bytes(&flag, &value()?)?,
            "--max-memory" => config.max_memory = bytes(&flag, &value()?)?,
            "--message-timeout" => config.message_timeout = seconds(&flag, &value()?)?,
            "--allow-origin" => config.allow_origins.push(value()?),
            "--upload-files" => {
                config.upload_limits.files_per_connection = number(&flag, &value()?)?
            }
            "--upload-bytes" => {
                config.upload_limits.bytes_per_connection = bytes(&flag, &value()?)?
            }
            "--uploads-max" => config.upload_limits.total_bytes = bytes(&flag, &value()?)?,
            "--upload-queue" => {
                config.upload_limits.queue_bytes = bytes(&flag, &value()?)?;
                if config.upload_limits.queue_bytes < crate::upload_worker::JOB_OVERHEAD {
                    return Err("--upload-queue must be at least 256".into());
                }
            }
            "--output-buffer" => {
                config.output_buffer = bytes(&flag, &value()?)?;
                if config.output_buffer < 4096 {
                    return Err("--output-buffer must be at least 4096".into());
                }
            }
            "--deflate" => {
                use crate::deflate::negotiate::Mode;
                config.deflate = match value()?.as_str() {
                    "shared" => Mode::Shared,
                    "off" => Mode::Off,
                    "dedicated" => Mode::Dedicated,
                    v => {
                        return Err(format!("--deflate: want shared, dedicated or off: {v}"));
                    }
                };
            }
            "--deflate-min" => config.deflate_min = bytes(&flag, &value()?)?,
            "--deflate-window" => {
                config.deflate_window = number(&flag, &value()?)?;
                if !(9..=15).contains(&config.deflate_window) {
                    return Err("--deflate-window must be 9 to 15".into());
                }
            }
            "--deflate-level" => {
                config.deflate_level = number(&flag, &value()?)?;
                if !(1..=9).contains(&config.deflate_level) {
                    return Err("--deflate-level must be 1 to 9".into());
                }
            }
            "--redis" => {
                config.redis = Some(crate::cluster::url::RedisUrl::parse(&value()?)?);
            }
            "--cluster-outbox" => config.cluster_outbox = bytes(&flag, &value()?)?,
            "--node" => {
                let v = value()?;
                if !valid_node_name(&v) {
                    return Err(format!(
                        "--node: want 1-64 characters of A-Z, a-z, 0-9, '.', '_' and '-': {v}"
                    ));
                }
                config.node = v;
            }
            "--reuse-port" => config.reuse_port = true,
            _ => return Err(format!("unknown option {arg} (see --help)")),
        }
    }
    Ok(Command::Run(Box::new(config)))
}

/// A size in bytes, with an optional binary unit: `65536`, `64KiB`, `16M`.
fn bytes<T: TryFrom<u64>>(flag: &str, v: &str) -> Result<T, String> {
    let bad = || format!("{flag}: not a size: {v} (say 65536, 64KiB or 16MiB)");
    let units = [
        ("GiB", 30),
        ("MiB", 20),
        ("KiB", 10),
        ("G", 30),
        ("M", 20),
        ("K", 10),
    ];
    let (num, shift) = units
        .iter()
        .find_map(|(unit, shift)| v.strip_suffix(unit).map(|n| (n, *shift)))
        .unwrap_or((v, 0));
    let n: u64 = number(flag, num).map_err(|_| bad())?;
    let n = n.checked_mul(1 << shift).ok_or_else(bad)?;
    T::try_from(n).map_err(|_| bad())
}

fn number<T: std::str::FromStr>(flag: &str, v: &str) -> Result<T, String> {
    v.replace('_', "")
        .parse()
        .map_err(|_| format!("{flag}: not a valid number: {v}"))
}

/// Seconds, fractions allowed (`0.5`), or with a unit: `500ms`, `10s`.
fn seconds(flag: &str, v: &str) -> Result<Duration, String> {
    let bad = || format!("{flag}: not a duration: {v} (say 10, 2.5 or 500ms)");
    let (num, scale) = if let Some(ms) = v.strip_suffix("ms") {
        (ms, 0.001)
    } else {
        (v.strip_suffix('s').unwrap_or(v), 1.0)
    };
    let n: f64 = num.parse().map_err(|_| bad())?;
    if !n.is_finite() || n <= 0.0 || n * scale > 1e7 {
        return Err(bad());
    }
    Ok(Duration::from_secs_f64(n * scale))
}

/// `MIN-MAX` in milliseconds.
fn interval(v: &str) -> Result<(Duration, Duration), String> {
    let bad = || format!("--push-interval: want MIN-MAX in ms, like 3000-8000: {v}");
    let (lo, hi) = v.split_once('-').ok_or_else(bad)?;
    let lo: u64 = lo.trim().parse().map_err(|_| bad())?;
    let hi: u64 = hi.trim().parse().map_err(|_| bad())?;
    if lo == 0 || lo > hi || hi > 86_400_000 {
        return Err(bad());
    }
    Ok((Duration::from_millis(lo), Duration::from_millis(hi)))
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
