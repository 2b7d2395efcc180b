//! Rooms across nodes (`--redis`), against a real `redis-server` (the
//! Debian package; `make setup` installs it) on a free 127.0.0.1 port in a
//! temp dir: several wsloop nodes, v1 and plain clients on each, and the
//! faults the issue names — Redis killed and restarted, a node killed.

mod common;

use std::collections::BTreeSet;
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};
use tungstenite::Message;
use tungstenite::client::IntoClientRequest;

const V1: &str = "wsloop.chat.v1";

/// A throw-away Redis: no persistence, its own dir, a free port.
struct Redis {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

impl Redis {
    fn start() -> Redis {
        let dir = std::env::temp_dir().join(format!(
            "wsloop-redis-{}-{}",
            std::process::id(),
            free_port()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let mut r = Redis {
            child: None,
            port: free_port(),
            dir,
        };
        r.spawn();
        r
    }

    fn spawn(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--dir"])
            .arg(&self.dir)
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server (Debian package redis-server; `make setup` installs it)");
        self.child = Some(child);
        let deadline = Instant::now() + TIMEOUT;
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// One command, as redis-cli would send it; the first line of the reply.
    fn cmd(&self, args: &[&str]) -> String {
        use std::io::{BufRead, BufReader, Write};
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        s.set_read_timeout(Some(TIMEOUT)).unwrap();
        let mut req = format!("*{}\r\n", args.len());
        for a in args {
            req.push_str(&format!("${}\r\n{a}\r\n", a.len()));
        }
        s.write_all(req.as_bytes()).unwrap();
        let mut line = String::new();
        BufReader::new(s).read_line(&mut line).unwrap();
        line.trim_end().to_string()
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill9();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A plain HTTP GET: (status, body).
fn get(server: &Server, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = tcp(server);
    write!(s, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    let status = out.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = out
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    (status, body)
}

/// A counter from `/metrics`.
fn metric(server: &Server, name: &str) -> f64 {
    let (_, body) = get(server, "/metrics");
    body.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in /metrics"))
}

fn node(redis: &Redis, name: &str) -> Server {
    Server::start(&["--redis", &redis.url(), "--node", name])
}

fn v1(server: &Server, path: &str) -> Ws {
    let mut req = server.url(path).into_client_request().unwrap();
    req.headers_mut()
        .insert("Sec-WebSocket-Protocol", V1.parse().unwrap());
    let (mut ws, _) = tungstenite::connect(req).expect("connect v1");
    if let tungstenite::stream::MaybeTlsStream::Plain(s) = ws.get_mut() {
        s.set_read_timeout(Some(TIMEOUT)).unwrap();
    }
    ws
}

fn send(ws: &mut Ws, v: Value) {
    ws.send(Message::text(v.to_string())).unwrap();
}

/// The next event of `kind`, skipping others (status, joined, ...).
fn next_of(ws: &mut Ws, kind: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        assert!(Instant::now() < deadline, "no {kind} event");
        let v = next_json(ws);
        assert!(v["type"] != "error" || kind == "error", "{v}");
        if v["type"] == kind {
            return v;
        }
    }
}

/// The welcome or the error a hello gets (skipping room events).
fn answer_to_hello(ws: &mut Ws) -> Value {
    loop {
        let v = next_json(ws);
        if v["type"] == "welcome" || v["type"] == "error" {
            return v;
        }
    }
}

/// Says hello until Redis has linked (the node serves before it links).
fn named(server: &Server, path: &str, name: &str) -> Ws {
    let mut ws = v1(server, path);
    send(&mut ws, json!({"type": "hello", "name": name}));
    let v = answer_to_hello(&mut ws);
    assert_eq!(v["type"], "welcome", "{v}");
    ws
}

/// Waits until `ws`'s `who` lists exactly `names`.
fn wait_who(ws: &mut Ws, names: &[&str]) {
    let want: BTreeSet<String> = names.iter().map(|s| s.to_string()).collect();
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        send(ws, json!({"type": "who"}));
        let who = next_of(ws, "who");
        let got: BTreeSet<String> = who["members"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect();
        if got == want {
            return;
        }
        assert!(Instant::now() < deadline, "who is {got:?}, want {want:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits until both nodes are linked: a hello on each sees the other.
/// (Probe names differ per call: a probe's leave may still be on its way
/// when the next call says hello.)
fn linked(a: &Server, b: &Server, room: &str) {
    static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let (pa, pb) = (format!("probe{n}-a"), format!("probe{n}-b"));
    let mut x = named(a, room, &pa);
    let mut y = named(b, room, &pb);
    wait_who(&mut x, &[&pa, &pb]);
    wait_who(&mut y, &[&pa, &pb]);
}

#[test]
fn two_nodes_are_one_room_for_v1_and_plain_clients() {
    let redis = Redis::start();
    let (a, b) = (node(&redis, "node-a"), node(&redis, "node-b"));
    linked(&a, &b, "/chat/two");
    let mut alice = named(&a, "/chat/two", "alice");
    let mut bob = named(&b, "/chat/two", "bob");
    wait_who(&mut alice, &["alice", "bob"]);
    // Names are unique across the nodes.
    let mut again = v1(&a, "/chat/two");
    send(&mut again, json!({"type": "hello", "name": "BOB"}));
    let refused = next_of(&mut again, "error");
    assert!(
        refused["reason"].as_str().unwrap().contains("taken"),
        "{refused}"
    );

    send(
        &mut alice,
        json!({"type": "say", "text": "hi from a", "id": 1}),
    );
    let m = next_of(&mut bob, "message");
    assert_eq!(
        (m["from"].as_str(), m["text"].as_str()),
        (Some("alice"), Some("hi from a"))
    );
    let seq = m["seq"].as_u64().unwrap();
    // The ack (Redis's reply) and the message (the room's channel) come
    // on two connections: either may be first.
    let (mut mine, mut ack) = (None, None);
    while mine.is_none() || ack.is_none() {
        let v = next_json(&mut alice);
        match v["type"].as_str() {
            Some("message") => mine = Some(v),
            Some("ack") => ack = Some(v),
            _ => {}
        }
    }
    let (mine, ack) = (mine.unwrap(), ack.unwrap());
    assert_eq!(mine["seq"].as_u64(), Some(seq), "one seq for everyone");
    assert_eq!(
        (ack["seq"].as_u64(), ack["id"].as_u64()),
        (Some(seq), Some(1))
    );
    // bob, and the unnamed v1 client on node a.
    assert_eq!(ack["delivered"], 2, "{ack}");

    // A whisper to a member on the other node, acked as delivered.
    send(
        &mut bob,
        json!({"type": "whisper", "to": "alice", "text": "psst", "id": "w"}),
    );
    let ack = next_of(&mut bob, "ack");
    assert_eq!(ack["delivered"], 1, "{ack}");
    let w = next_of(&mut alice, "message");
    assert_eq!(
        (w["text"].as_str(), w["private"].as_bool()),
        (Some("psst"), Some(true))
    );

    // Healthy, linked, and the counters moved.
    let (status, body) = get(&a, "/healthz");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"cluster\":\"up\""), "{body}");
    assert_eq!(metric(&a, "wsloop_cluster_up"), 1.0);
    assert!(metric(&a, "wsloop_cluster_published_total") >= 2.0);
    assert!(metric(&b, "wsloop_cluster_received_total") >= 2.0);

    // A plain client on node b: shown as #id@node-b, gets "alice: ..." lines.
    let mut plain = ws(&b, "/chat/two");
    let plain_name = loop {
        send(&mut alice, json!({"type": "who"}));
        let who = next_of(&mut alice, "who");
        let members: Vec<String> = who["members"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m.as_str().unwrap().to_string())
            .collect();
        if let Some(p) = members
            .iter()
            .find(|m| m.starts_with('#') && m.ends_with("@node-b"))
        {
            break p.clone();
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    send(&mut alice, json!({"type": "say", "text": "to everyone"}));
    loop {
        let t = next_text(&mut plain);
        if t == "alice: to everyone" {
            break;
        }
    }
    plain.send(Message::text("plain hello")).unwrap();
    let m = loop {
        let m = next_of(&mut alice, "message");
        if m["from"] != "alice" {
            break m;
        }
    };
    assert_eq!(
        (m["from"].as_str(), m["text"].as_str()),
        (Some(plain_name.as_str()), Some("plain hello"))
    );
}

#[test]
fn three_senders_on_three_nodes_one_order_for_everyone() {
    let redis = Redis::start();
    let nodes: Vec<Server> = ["n1", "n2", "n3"].iter().map(|n| node(&redis, n)).collect();
    linked(&nodes[0], &nodes[1], "/chat/order");
    linked(&nodes[1], &nodes[2], "/chat/order");
    let mut readers: Vec<Ws> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| named(n, "/chat/order", &format!("reader{i}")))
        .collect();
    let mut senders: Vec<Ws> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| named(n, "/chat/order", &format!("sender{i}")))
        .collect();
    for r in &mut readers {
        wait_who(
            r,
            &[
                "reader0", "reader1", "reader2", "sender0", "sender1", "sender2",
            ],
        );
    }
    let total = 1000;
    for i in 0..total {
        let s = &mut senders[i % 3];
        send(s, json!({"type": "say", "text": format!("m{i}")}));
    }
    let mut orders = Vec::new();
    for r in &mut readers {
        let mut seqs = Vec::new();
        let mut texts = Vec::new();
        while texts.len() < total {
            let m = next_of(r, "message");
            seqs.push(m["seq"].as_u64().unwrap());
            texts.push(m["text"].as_str().unwrap().to_string());
        }
        for pair in seqs.windows(2) {
            assert_eq!(pair[1], pair[0] + 1, "seq strictly +1");
        }
        let distinct: BTreeSet<&String> = texts.iter().collect();
        assert_eq!(distinct.len(), total, "every message once");
        orders.push((seqs, texts));
    }
    assert_eq!(orders[0], orders[1]);
    assert_eq!(orders[1], orders[2]);
}

#[test]
fn a_name_race_on_two_nodes_has_one_winner() {
    let redis = Redis::start();
    let (a, b) = (node(&redis, "race-a"), node(&redis, "race-b"));
    linked(&a, &b, "/chat/race");
    for round in 0..20 {
        let name = format!("winner{round}");
        let mut x = v1(&a, "/chat/race");
        let mut y = v1(&b, "/chat/race");
        send(&mut x, json!({"type": "hello", "name": name}));
        send(&mut y, json!({"type": "hello", "name": name}));
        let rx = answer_to_hello(&mut x);
        let ry = answer_to_hello(&mut y);
        let wins = [&rx, &ry].iter().filter(|v| v["type"] == "welcome").count();
        assert_eq!(wins, 1, "round {round}: {rx} / {ry}");
    }
}

#[test]
fn a_killed_node_leaves_every_room_within_30_s() {
    let redis = Redis::start();
    let a = node(&redis, "stay");
    let mut b = node(&redis, "doomed");
    linked(&a, &b, "/chat/crash");
    let mut watcher = named(&a, "/chat/crash", "watcher");
    if let tungstenite::stream::MaybeTlsStream::Plain(s) = watcher.get_mut() {
        s.set_read_timeout(Some(Duration::from_secs(35))).unwrap();
    }
    let _victim = named(&b, "/chat/crash", "victim");
    wait_who(&mut watcher, &["watcher", "victim"]);
    let killed = Instant::now();
    b.child.kill().unwrap();
    let _ = b.child.wait();
    let deadline = killed + Duration::from_secs(30);
    let mut gone = BTreeSet::new();
    while !gone.contains("victim") {
        assert!(Instant::now() < deadline, "left events so far: {gone:?}");
        let v = next_json(&mut watcher);
        if v["type"] == "left" {
            gone.insert(v["name"].as_str().unwrap().to_string());
        }
    }
    assert!(gone.contains("victim"), "{gone:?}");
    // The name is free again.
    let _heir = named(&a, "/chat/crash", "victim");
}

#[test]
fn redis_killed_and_restarted_loses_nothing() {
    let mut redis = Redis::start();
    let (a, b) = (node(&redis, "ra"), node(&redis, "rb"));
    linked(&a, &b, "/chat/restart");
    let mut readers = vec![
        named(&a, "/chat/restart", "ra-reader"),
        named(&b, "/chat/restart", "rb-reader"),
    ];
    let mut senders = [
        named(&a, "/chat/restart", "s1"),
        named(&b, "/chat/restart", "s2"),
        named(&a, "/chat/restart", "s3"),
    ];
    for r in &mut readers {
        wait_who(r, &["ra-reader", "rb-reader", "s1", "s2", "s3"]);
    }
    for i in 0..100 {
        for (k, s) in senders.iter_mut().enumerate() {
            send(s, json!({"type": "say", "text": format!("{k}-{i}")}));
        }
        if i == 30 {
            redis.kill9();
        }
        if i == 60 {
            std::thread::sleep(Duration::from_secs(2));
            redis.spawn();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    for r in &mut readers {
        let mut seen = Vec::new();
        while seen.len() < 300 {
            let m = next_of(r, "message");
            seen.push(m["text"].as_str().unwrap().to_string());
        }
        let distinct: BTreeSet<&String> = seen.iter().collect();
        assert_eq!(distinct.len(), 300, "all 300, each once");
    }
}

#[test]
fn redis_never_up_local_chat_still_works() {
    let port = free_port();
    let url = format!("redis://127.0.0.1:{port}");
    let a = Server::start(&["--redis", &url, "--node", "alone"]);
    let mut x = named(&a, "/chat/solo", "x");
    let mut y = named(&a, "/chat/solo", "y");
    send(&mut x, json!({"type": "say", "text": "still here"}));
    let m = next_of(&mut y, "message");
    assert_eq!(m["text"], "still here");
    assert_eq!(m["delayed"], true);
    let _ = &mut x;
    let (status, body) = get(&a, "/healthz");
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("\"cluster\":\"down\""), "{body}");
    // Waiting for Redis costs no CPU: the loop sleeps until the next
    // attempt (it once spun on a heartbeat time left in the past).
    let cpu = || {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", a.child.id())).unwrap();
        let after = stat.rsplit_once(')').unwrap().1;
        let f: Vec<u64> = after
            .split_whitespace()
            .filter_map(|x| x.parse().ok())
            .collect();
        f[10] + f[11] // utime + stime, in clock ticks (see proc(5))
    };
    let before = cpu();
    std::thread::sleep(Duration::from_secs(2));
    let used = cpu() - before;
    assert!(used < 40, "{used} ticks of CPU in 2 s while Redis is away");
    assert_eq!(metric(&a, "wsloop_cluster_up"), 0.0);
}

/// Waits until `/healthz` of `server` answers `status`.
fn wait_health(server: &Server, status: u16, within: Duration) -> Duration {
    let (took, last, _) = poll_health(server, within, |s, _| s == status);
    assert_eq!(last, status, "/healthz never said {status}");
    took
}

/// Reads `/healthz` every 50 ms until `until(status, body)` holds or
/// `within` has passed; the time that took and the last answer.
fn poll_health(
    server: &Server,
    within: Duration,
    until: impl Fn(u16, &str) -> bool,
) -> (Duration, u16, String) {
    let t0 = Instant::now();
    loop {
        let (status, body) = get(server, "/healthz");
        if until(status, &body) || t0.elapsed() > within {
            return (t0.elapsed(), status, body);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Reads `n` chat messages (texts), each once.
fn read_texts(ws: &mut Ws, n: usize) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    while seen.len() < n {
        let m = next_of(ws, "message");
        let text = m["text"].as_str().unwrap().to_string();
        assert!(seen.insert(text.clone()), "{text} twice");
    }
    seen
}

#[test]
fn a_killed_subscription_is_noticed_and_what_it_missed_is_read_back() {
    // Redis dropping a subscriber (its pub/sub output-buffer limit does the
    // same as CLIENT KILL TYPE pubsub): the node resubscribes and fills the
    // gap from the room's log.
    let redis = Redis::start();
    let (a, b) = (node(&redis, "ka"), node(&redis, "kb"));
    linked(&a, &b, "/chat/kill");
    let mut sender = named(&a, "/chat/kill", "sender");
    let mut reader = named(&b, "/chat/kill", "reader");
    wait_who(&mut reader, &["sender", "reader"]);
    for i in 0..200 {
        send(&mut sender, json!({"type": "say", "text": format!("k{i}")}));
        if i % 50 == 25 {
            let killed = redis.cmd(&["CLIENT", "KILL", "TYPE", "pubsub"]);
            assert!(killed.starts_with(':'), "{killed}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(read_texts(&mut reader, 200).len(), 200);
    assert!(metric(&b, "wsloop_cluster_up") == 1.0);
}

#[test]
fn a_redis_that_stops_answering_is_noticed_within_5_s_and_nothing_is_lost() {
    // CLIENT PAUSE: the sockets stay open, nothing answers (as a half-open
    // TCP connection looks from here).
    let redis = Redis::start();
    let (a, b) = (node(&redis, "pa"), node(&redis, "pb"));
    linked(&a, &b, "/chat/pause");
    let mut sender = named(&a, "/chat/pause", "sender");
    let mut reader = named(&b, "/chat/pause", "reader");
    wait_who(&mut reader, &["sender", "reader"]);
    assert_eq!(redis.cmd(&["CLIENT", "PAUSE", "9000", "ALL"]), "+OK");
    let noticed = wait_health(&a, 503, Duration::from_secs(8));
    assert!(
        noticed < Duration::from_secs(7),
        "noticed after {noticed:?}"
    );
    for i in 0..50 {
        send(&mut sender, json!({"type": "say", "text": format!("p{i}")}));
    }
    wait_health(&a, 200, Duration::from_secs(30));
    assert_eq!(read_texts(&mut reader, 50).len(), 50);
}

#[test]
fn a_wrong_password_is_one_clear_state_and_local_chat_goes_on() {
    let mut redis = Redis::start();
    assert_eq!(
        redis.cmd(&["CONFIG", "SET", "requirepass", "s3cret"]),
        "+OK"
    );
    let wrong = format!("redis://:nope@127.0.0.1:{}", redis.port);
    let a = Server::start(&["--redis", &wrong, "--node", "badpw"]);
    let mut x = named(&a, "/chat/pw", "x");
    let mut y = named(&a, "/chat/pw", "y");
    send(&mut x, json!({"type": "say", "text": "local"}));
    assert_eq!(next_of(&mut y, "message")["text"], "local");
    // Until Redis has answered the AUTH, /healthz says only "down" (there
    // is no error to name yet): poll until it does, for at most 5 s.
    let (_, status, body) = poll_health(&a, Duration::from_secs(5), |_, body| {
        body.contains("WRONGPASS")
    });
    assert_eq!(status, 503, "{body}");
    assert!(
        body.contains("WRONGPASS"),
        "/healthz names the error within 5 s: {body}"
    );
    let right = format!("redis://:s3cret@127.0.0.1:{}", redis.port);
    let b = Server::start(&["--redis", &right, "--node", "goodpw"]);
    wait_health(&b, 200, Duration::from_secs(10));
    redis.kill9();
}

#[test]
fn a_full_outbox_keeps_messages_here_and_tells_the_v1_sender() {
    let port = free_port();
    let url = format!("redis://127.0.0.1:{port}");
    let a = Server::start(&[
        "--redis",
        &url,
        "--node",
        "full",
        "--cluster-outbox",
        "8KiB",
    ]);
    let mut x = named(&a, "/chat/full", "x");
    let mut y = named(&a, "/chat/full", "y");
    let text = "z".repeat(1000);
    let mut refused = 0;
    for i in 0..10 {
        send(
            &mut x,
            json!({"type": "say", "text": format!("{i}{text}"), "id": i}),
        );
    }
    // Every message still reaches y here.
    assert_eq!(read_texts(&mut y, 10).len(), 10);
    // x: its own 10 messages, 10 acks, and an error for each kept here.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut acks = 0;
    while acks < 10 {
        assert!(Instant::now() < deadline);
        let v = next_json(&mut x);
        match v["type"].as_str() {
            Some("ack") => acks += 1,
            Some("error") => {
                assert!(
                    v["reason"]
                        .as_str()
                        .unwrap()
                        .contains("not delivered to other nodes"),
                    "{v}"
                );
                refused += 1;
            }
            _ => {}
        }
    }
    assert!(refused >= 5, "only {refused} refused with an 8 KiB outbox");
}

#[test]
fn a_member_that_does_not_read_does_not_slow_the_room_on_its_node() {
    let redis = Redis::start();
    let (a, b) = (
        node(&redis, "sa"),
        Server::start(&[
            "--redis",
            &redis.url(),
            "--node",
            "sb",
            "--max-backlog",
            "256KiB",
            "--max-message",
            "16KiB",
        ]),
    );
    linked(&a, &b, "/chat/slow");
    // A plain client on node b that never reads.
    let stuck = {
        let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        s.set_recv_buffer_size(4096).unwrap();
        let addr: std::net::SocketAddr = format!("127.0.0.1:{}", b.port).parse().unwrap();
        s.connect(&addr.into()).unwrap();
        let mut s: TcpStream = s.into();
        use std::io::Write;
        s.write_all(upgrade_request("/chat/slow").as_bytes())
            .unwrap();
        s
    };
    let mut sender = named(&a, "/chat/slow", "sender");
    let mut reader = named(&b, "/chat/slow", "reader");
    wait_who(&mut reader, &["sender", "reader", "#2@sb"]);
    let text = "y".repeat(1000);
    let t0 = Instant::now();
    for i in 0..1000 {
        send(
            &mut sender,
            json!({"type": "say", "text": format!("{i}:{text}")}),
        );
    }
    assert_eq!(read_texts(&mut reader, 1000).len(), 1000);
    assert!(t0.elapsed() < Duration::from_secs(20), "{:?}", t0.elapsed());
    drop(stuck);
}

#[test]
fn a_member_gone_before_its_hello_was_registered_leaves_no_ghost_name() {
    let redis = Redis::start();
    let (a, b) = (node(&redis, "ga"), node(&redis, "gb"));
    linked(&a, &b, "/chat/ghost");
    for round in 0..5 {
        let name = format!("ghost{round}");
        {
            // Hello, then gone at once: the claim reaches Redis after the
            // member left node a.
            let mut x = v1(&a, "/chat/ghost");
            send(&mut x, json!({"type": "hello", "name": name}));
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let mut y = v1(&b, "/chat/ghost");
            send(&mut y, json!({"type": "hello", "name": name}));
            if answer_to_hello(&mut y)["type"] == "welcome" {
                break;
            }
            assert!(Instant::now() < deadline, "{name} stayed taken");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}
