//! Running wsloop in production, over real sockets on 127.0.0.1: `GET
//! /healthz` (200 while serving, 503 once the shutdown began), `GET
//! /metrics` (Prometheus text that parses, counters that move), and
//! `--reuse-port` (two processes share one port; without it the second
//! one fails to start).

use crate::common;

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::Instant;

use common::*;
use serde_json::{Value, json};
use tungstenite::Message;

// ---- helpers -------------------------------------------------------------

/// A plain HTTP response: status, headers (names lowercased), body.
struct Response {
    status: u16,
    headers: HashMap<String, String>,
    body: String,
}

/// Sends one plain HTTP request on a fresh connection to `port` and reads
/// the response until the server closes.
fn http_at(port: u16, method: &str, path: &str) -> Response {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    write!(s, "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
    let all = read_to_close(&mut s);
    let (head, body) = all.split_once("\r\n\r\n").expect("a response head");
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.strip_prefix("HTTP/1.1 "))
        .and_then(|l| l.get(..3))
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {head:?}"));
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Response {
        status,
        headers,
        body: body.to_string(),
    }
}

fn http(server: &Server, method: &str, path: &str) -> Response {
    http_at(server.port, method, path)
}

fn health_at(port: u16) -> (u16, Value) {
    let r = http_at(port, "GET", "/healthz");
    assert_eq!(r.headers["content-type"], "application/json");
    let body = serde_json::from_str(&r.body).unwrap_or_else(|e| panic!("{e}: {}", r.body));
    (r.status, body)
}

/// A strict reading of the Prometheus text format 0.0.4 as wsloop writes
/// it: every line a `# HELP name text`, a `# TYPE name counter|gauge` or a
/// `name value` sample; names match `[a-zA-Z_:][a-zA-Z0-9_:]*`; values
/// parse as f64; each sample's name has its HELP and TYPE before it.
fn parse_prometheus(text: &str) -> HashMap<String, f64> {
    fn valid_name(name: &str) -> bool {
        let mut chars = name.chars();
        chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
    }
    assert!(text.ends_with('\n'), "the last line is not ended: {text:?}");
    let mut helped = HashSet::new();
    let mut typed = HashSet::new();
    let mut samples = HashMap::new();
    for line in text.lines() {
        if let Some(comment) = line.strip_prefix('#') {
            let words: Vec<&str> = comment.trim_start().splitn(3, ' ').collect();
            match words.as_slice() {
                ["HELP", name, help] if valid_name(name) && !help.is_empty() => {
                    assert!(helped.insert(name.to_string()), "HELP twice: {line}");
                }
                ["TYPE", name, "counter" | "gauge"] if valid_name(name) => {
                    assert!(helped.contains(*name), "TYPE before HELP: {line}");
                    assert!(typed.insert(name.to_string()), "TYPE twice: {line}");
                }
                _ => panic!("not a HELP or TYPE line: {line:?}"),
            }
            continue;
        }
        let (name, value) = line
            .split_once(' ')
            .unwrap_or_else(|| panic!("not `name value`: {line:?}"));
        assert!(valid_name(name), "bad metric name: {line:?}");
        assert!(typed.contains(name), "no HELP and TYPE before {line:?}");
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("not a number: {line:?}"));
        assert!(
            samples.insert(name.to_string(), value).is_none(),
            "sample twice: {line:?}"
        );
    }
    samples
}

fn metrics(server: &Server) -> HashMap<String, f64> {
    let r = http(server, "GET", "/metrics");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.headers["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    parse_prometheus(&r.body)
}

/// A port that was free a moment ago.
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Runs wsloop expecting it to fail at start: its exit code and stderr.
fn failed_start(args: &[&str]) -> (Option<i32>, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_wsloop"))
        .args(args)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("wsloop {args:?} started instead of failing");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    (status.code(), stderr)
}

// ---- /healthz --------------------------------------------------------------

#[test]
fn healthz_is_200_with_the_node_name_and_the_cluster_state() {
    let server = Server::start(&["--node", "eu-1.test_a"]);
    let (status, body) = health_at(server.port);
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"status": "ok", "node": "eu-1.test_a", "cluster": "off"})
    );
    // HEAD: the same head, no body.
    let get = http(&server, "GET", "/healthz");
    let head = http(&server, "HEAD", "/healthz");
    assert_eq!(head.status, 200);
    assert_eq!(head.headers["content-length"], get.body.len().to_string());
    assert_eq!(head.body, "");
    // A query string does not change the path; other methods are refused.
    assert_eq!(http(&server, "GET", "/healthz?probe=1").status, 200);
    assert_eq!(http(&server, "POST", "/healthz").status, 405);
    // The page is served as before, and unknown paths are still 404.
    assert_eq!(http(&server, "GET", "/").status, 200);
    assert_eq!(http(&server, "GET", "/healthz/").status, 404);
}

#[test]
fn healthz_default_node_name_is_host_pid_random() {
    let server = Server::start(&[]);
    let (_, body) = health_at(server.port);
    let node = body["node"].as_str().unwrap();
    let pid = format!("-{}-", server.child.id());
    let (host, random) = node.split_once(&pid).unwrap_or_else(|| panic!("{node}"));
    assert!(!host.is_empty(), "{node}");
    assert!(
        random.len() == 4 && random.chars().all(|c| c.is_ascii_hexdigit()),
        "{node}"
    );
}

#[test]
fn healthz_is_503_once_the_shutdown_began_and_upgrades_are_refused() {
    let mut server = Server::start(&["--node", "leaving", "--close-timeout", "8"]);
    // A client that does not answer the close keeps the shutdown going.
    let mut mute = raw_ws(&server, "/echo");
    server.signal("TERM");
    assert_eq!(expect_close(&mut mute), Some(1001), "the shutdown began");
    let (status, body) = health_at(server.port);
    assert_eq!(status, 503);
    assert_eq!(
        body,
        json!({"status": "shutting down", "node": "leaving", "cluster": "off"})
    );
    // A new WebSocket is refused with 503 (another node may take it).
    let mut late = tcp(&server);
    late.write_all(upgrade_request("/echo").as_bytes()).unwrap();
    let head = read_head(&mut late);
    assert!(head.starts_with("HTTP/1.1 503 "), "{head}");
    // /metrics still answers.
    assert!(metrics(&server)["wsloop_connections"] >= 1.0);
    // The last client answers the close: the server exits at once.
    let t0 = Instant::now();
    mute.write_all(&client_frame(0x88, &1001u16.to_be_bytes()))
        .unwrap();
    expect_eof(&mut mute);
    drop((mute, late));
    assert!(server.wait_exit().success());
    assert!(t0.elapsed() < std::time::Duration::from_secs(3));
}

// ---- /metrics ---------------------------------------------------------------

#[test]
fn metrics_parse_as_prometheus_text_and_counters_move_with_echo() {
    let server = Server::start(&[]);
    let before = metrics(&server);
    for name in [
        "wsloop_connections",
        "wsloop_messages_received_total",
        "wsloop_deliveries_total",
        "wsloop_clients_dropped_total",
        "wsloop_cluster_up",
        "wsloop_cluster_outbox_bytes",
        "wsloop_cluster_published_total",
        "wsloop_cluster_received_total",
        "wsloop_cluster_recovered_total",
        "wsloop_uptime_seconds",
    ] {
        assert!(before.contains_key(name), "no {name} in {before:?}");
    }
    assert_eq!(before["wsloop_cluster_up"], 0.0);
    assert_eq!(before["wsloop_cluster_outbox_bytes"], 0.0);
    let mut echo = ws(&server, "/echo");
    for i in 0..3 {
        echo.send(Message::text(format!("m{i}"))).unwrap();
        assert_eq!(next_text(&mut echo), format!("m{i}"));
    }
    let after = metrics(&server);
    let grew = |name: &str| after[name] - before[name];
    assert!(grew("wsloop_messages_received_total") >= 3.0, "{after:?}");
    assert!(grew("wsloop_deliveries_total") >= 3.0, "{after:?}");
    assert!(after["wsloop_connections"] >= 1.0, "{after:?}");
    assert!(after["wsloop_uptime_seconds"] >= before["wsloop_uptime_seconds"]);
    // HEAD: the head only.
    let head = http(&server, "HEAD", "/metrics");
    assert_eq!(head.status, 200);
    assert_eq!(head.body, "");
}

#[test]
fn metrics_count_a_broadcast_once_per_receiver() {
    let server = Server::start(&[]);
    let room = "/chat/metrics-fanout";
    let mut members: Vec<Ws> = (0..3).map(|_| ws(&server, room)).collect();
    let before = metrics(&server);
    members[0].send(Message::text("to all")).unwrap();
    for m in &mut members {
        assert_eq!(next_text(m), "to all");
    }
    let after = metrics(&server);
    let grew = |name: &str| after[name] - before[name];
    assert_eq!(grew("wsloop_messages_received_total"), 1.0);
    assert_eq!(grew("wsloop_deliveries_total"), 3.0, "one per member");
    assert!(after["wsloop_connections"] >= 3.0);
}

#[test]
fn metrics_count_a_client_dropped_for_a_limit() {
    let server = Server::start(&["--max-message", "1KiB"]);
    let before = metrics(&server)["wsloop_clients_dropped_total"];
    let mut big = raw_ws(&server, "/echo");
    big.write_all(&client_frame(0x82, &[7u8; 2000])).unwrap();
    assert_eq!(expect_close(&mut big), Some(1009));
    // A client that closes on its own is not a drop.
    let mut polite = raw_ws(&server, "/echo");
    polite
        .write_all(&client_frame(0x88, &1000u16.to_be_bytes()))
        .unwrap();
    assert_eq!(expect_close(&mut polite), Some(1000));
    let after = metrics(&server)["wsloop_clients_dropped_total"];
    assert_eq!(after - before, 1.0);
}

// ---- --reuse-port -------------------------------------------------------------

#[test]
fn reuse_port_two_servers_share_one_port_and_both_get_connections() {
    let port = free_port().to_string();
    let a = Server::start(&["--port", &port, "--reuse-port", "--node", "reuse-a"]);
    let b = Server::start(&["--port", &port, "--reuse-port", "--node", "reuse-b"]);
    assert_eq!(a.port.to_string(), port);
    assert_eq!(b.port, a.port);
    let (a_idle, b_idle) = (a.open_sockets(), b.open_sockets());

    // 40 WebSockets through the one port, each answering, all held open.
    let mut clients: Vec<Ws> = (0..40).map(|_| ws(&a, "/echo")).collect();
    for (i, c) in clients.iter_mut().enumerate() {
        c.send(Message::text(format!("hi {i}"))).unwrap();
        assert_eq!(next_text(c), format!("hi {i}"));
    }
    // Each answered, so each is an open socket in one of the processes.
    let (on_a, on_b) = (a.open_sockets() - a_idle, b.open_sockets() - b_idle);
    eprintln!("40 WebSockets: {on_a} on a, {on_b} on b");
    assert_eq!(on_a + on_b, 40);

    // Which node answers, asked through the shared port: both, soon.
    let mut seen = HashMap::new();
    for _ in 0..200 {
        let (status, body) = health_at(a.port);
        assert_eq!(status, 200);
        *seen
            .entry(body["node"].as_str().unwrap().to_string())
            .or_insert(0) += 1;
        if seen.len() == 2 {
            break;
        }
    }
    eprintln!("/healthz through the shared port: {seen:?}");
    assert!(
        seen.contains_key("reuse-a") && seen.contains_key("reuse-b"),
        "both nodes answer within 200 connections: {seen:?}"
    );
    assert!(on_a > 0 && on_b > 0, "{on_a} and {on_b}");
}

#[test]
fn without_reuse_port_a_second_server_on_the_port_fails_with_one_line() {
    let port = free_port().to_string();
    let _first = Server::start(&["--port", &port]);
    let (code, stderr) = failed_start(&["--port", &port]);
    assert_eq!(code, Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr:?}");
    assert!(
        stderr.starts_with(&format!("wsloop: cannot listen on 127.0.0.1:{port}: "))
            && stderr.contains("in use"),
        "{stderr:?}"
    );
    // A reuse-port group does not take in a process that did not ask.
    let port = free_port().to_string();
    let _shared = Server::start(&["--port", &port, "--reuse-port"]);
    let (code, stderr) = failed_start(&["--port", &port]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("in use"), "{stderr:?}");
}

#[test]
fn a_bad_node_name_is_a_one_line_flag_error() {
    let (code, stderr) = failed_start(&["--port", "0", "--node", "no spaces"]);
    assert_eq!(code, Some(2));
    assert_eq!(stderr.lines().count(), 1, "{stderr:?}");
    assert!(stderr.starts_with("wsloop: --node: "), "{stderr:?}");
}
