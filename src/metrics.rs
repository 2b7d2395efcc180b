//! What an operator sees of a running node: the counters behind
//! `GET /metrics` (Prometheus text format 0.0.4) and the answer of
//! `GET /healthz`. Counting is a plain integer increment on the loop thread
//! (one thread: no atomics); rendering is pure and happens only when asked.

use std::fmt::Write;
use std::time::Duration;

/// The content type of the Prometheus text exposition format.
pub const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Whether this node is part of a cluster, and if so whether it can reach
/// it. Always `Off` for now: a later change fills it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClusterState {
    /// Not clustered: a single node.
    #[default]
    Off,
    /// Clustered, and connected to the others.
    Up,
    /// Clustered, and cut off: `/healthz` says 503.
    Down,
}

impl ClusterState {
    pub fn as_str(self) -> &'static str {
        match self {
            ClusterState::Off => "off",
            ClusterState::Up => "up",
            ClusterState::Down => "down",
        }
    }
}

/// The node's counters and gauges. No per-room or per-client labels: the
/// cost of a scrape does not grow with the rooms.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Metrics {
    /// Open connections (WebSocket and plain HTTP) in the server's table.
    pub connections: u64,
    /// Whole messages handed to the routes.
    pub messages_received_total: u64,
    /// Messages queued to clients: one per receiver per broadcast message,
    /// one per message a route sends to its own client.
    pub deliveries_total: u64,
    /// Clients the server closed for passing a limit or breaking a policy.
    pub clients_dropped_total: u64,
    /// 1 while connected to a cluster (0: off or down).
    pub cluster_up: u64,
    pub cluster_outbox_bytes: u64,
    pub cluster_published_total: u64,
    pub cluster_received_total: u64,
    pub cluster_recovered_total: u64,
}

/// How a metric's value behaves (`# TYPE`).
#[derive(Debug, Clone, Copy)]
enum Kind {
    Counter,
    Gauge,
}

impl Metrics {
    /// Every metric: name, kind, help text, value.
    fn samples(&self) -> [(&'static str, Kind, &'static str, u64); 9] {
        use Kind::{Counter, Gauge};
        [
            (
                "wsloop_connections",
                Gauge,
                "Open connections (WebSocket and plain HTTP).",
                self.connections,
            ),
            (
                "wsloop_messages_received_total",
                Counter,
                "Whole messages received from clients and handed to the routes.",
                self.messages_received_total,
            ),
            (
                "wsloop_deliveries_total",
                Counter,
                "Messages queued to clients: one per receiver per broadcast message, one per message a route sends to its own client.",
                self.deliveries_total,
            ),
            (
                "wsloop_clients_dropped_total",
                Counter,
                "Clients the server closed for a limit or policy: close 1008, 1009 or 1013, idle without a pong, a backlog cut.",
                self.clients_dropped_total,
            ),
            (
                "wsloop_cluster_up",
                Gauge,
                "1 while this node is connected to its cluster, else 0.",
                self.cluster_up,
            ),
            (
                "wsloop_cluster_outbox_bytes",
                Gauge,
                "Bytes waiting to be published to the cluster.",
                self.cluster_outbox_bytes,
            ),
            (
                "wsloop_cluster_published_total",
                Counter,
                "Messages published to the cluster.",
                self.cluster_published_total,
            ),
            (
                "wsloop_cluster_received_total",
                Counter,
                "Messages received from the cluster.",
                self.cluster_received_total,
            ),
            (
                "wsloop_cluster_recovered_total",
                Counter,
                "Messages recovered from the cluster after a gap.",
                self.cluster_recovered_total,
            ),
        ]
    }

    /// The Prometheus text exposition (format 0.0.4): for every metric a
    /// `# HELP` line, a `# TYPE` line and one `name value` sample.
    pub fn render(&self, uptime: Duration) -> String {
        let mut out = String::with_capacity(2048);
        for (name, kind, help, value) in self.samples() {
            let kind = match kind {
                Kind::Counter => "counter",
                Kind::Gauge => "gauge",
            };
            let _ = write!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"
            );
        }
        let _ = write!(
            out,
            "# HELP wsloop_uptime_seconds Seconds since the server started.\n\
             # TYPE wsloop_uptime_seconds gauge\n\
             wsloop_uptime_seconds {:.3}\n",
            uptime.as_secs_f64()
        );
        out
    }
}

/// The answer of `/healthz`: 200 while the node serves, 503 once its
/// shutdown began or its cluster is down; the JSON body says which.
pub fn health(node: &str, cluster: ClusterState, shutting_down: bool) -> (u16, String) {
    let (code, status) = if shutting_down {
        (503, "shutting down")
    } else if cluster == ClusterState::Down {
        (503, "cluster down")
    } else {
        (200, "ok")
    };
    let body = serde_json::json!({
        "status": status,
        "node": node,
        "cluster": cluster.as_str(),
    });
    (code, body.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A strict reading of the text format: (name, value) of every sample,
    /// each name announced by `# HELP` and `# TYPE` before its sample.
    fn parse(text: &str) -> Vec<(String, f64)> {
        let valid_name = |n: &str| {
            let mut chars = n.chars();
            chars
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
                && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
        };
        assert!(text.ends_with('\n'), "the last line ends with a newline");
        let (mut helped, mut typed, mut samples) = (Vec::new(), Vec::new(), Vec::new());
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let (name, help) = rest.split_once(' ').expect("HELP name text");
                assert!(valid_name(name) && !help.is_empty(), "{line}");
                helped.push(name.to_string());
            } else if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').expect("TYPE name kind");
                assert!(valid_name(name), "{line}");
                assert!(matches!(kind, "counter" | "gauge"), "{line}");
                assert!(helped.iter().any(|h| h == name), "TYPE before HELP: {line}");
                typed.push(name.to_string());
            } else {
                assert!(!line.starts_with('#') && !line.is_empty(), "{line:?}");
                let (name, value) = line.split_once(' ').expect("name value");
                assert!(valid_name(name), "{line}");
                assert!(typed.iter().any(|t| t == name), "no TYPE before {line}");
                assert!(!samples.iter().any(|(n, _)| n == name), "twice: {name}");
                let value: f64 = value.parse().unwrap_or_else(|_| panic!("{line}"));
                samples.push((name.to_string(), value));
            }
        }
        samples
    }

    #[test]
    fn render_parses_as_prometheus_text() {
        let metrics = Metrics {
            connections: 3,
            messages_received_total: 12,
            deliveries_total: 40,
            clients_dropped_total: 1,
            ..Metrics::default()
        };
        let text = metrics.render(Duration::from_millis(2500));
        let samples = parse(&text);
        let get = |name: &str| {
            samples
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| *v)
                .unwrap_or_else(|| panic!("no {name} in\n{text}"))
        };
        assert_eq!(samples.len(), 10);
        assert_eq!(get("wsloop_connections"), 3.0);
        assert_eq!(get("wsloop_messages_received_total"), 12.0);
        assert_eq!(get("wsloop_deliveries_total"), 40.0);
        assert_eq!(get("wsloop_clients_dropped_total"), 1.0);
        assert_eq!(get("wsloop_cluster_up"), 0.0);
        assert_eq!(get("wsloop_cluster_outbox_bytes"), 0.0);
        assert_eq!(get("wsloop_cluster_published_total"), 0.0);
        assert_eq!(get("wsloop_cluster_received_total"), 0.0);
        assert_eq!(get("wsloop_cluster_recovered_total"), 0.0);
        assert_eq!(get("wsloop_uptime_seconds"), 2.5);
    }

    #[test]
    fn counters_end_in_total_and_no_sample_has_labels() {
        let text = Metrics::default().render(Duration::ZERO);
        for line in text.lines().filter(|l| l.starts_with("# TYPE ")) {
            let mut words = line.split(' ').skip(2);
            let (name, kind) = (words.next().unwrap(), words.next().unwrap());
            assert_eq!(kind == "counter", name.ends_with("_total"), "{line}");
        }
        assert!(!text.contains('{'), "no labels:\n{text}");
        // Large counts are printed whole, not in exponent form.
        let big = Metrics {
            deliveries_total: u64::MAX,
            ..Metrics::default()
        };
        assert!(
            big.render(Duration::ZERO)
                .contains("\nwsloop_deliveries_total 18446744073709551615\n")
        );
    }

    #[test]
    fn health_is_503_while_shutting_down_or_cut_off() {
        let json = |body: &str| -> serde_json::Value { serde_json::from_str(body).unwrap() };
        let (code, body) = health("n1", ClusterState::Off, false);
        assert_eq!(code, 200);
        assert_eq!(
            json(&body),
            serde_json::json!({"status": "ok", "node": "n1", "cluster": "off"})
        );
        assert_eq!(health("n1", ClusterState::Up, false).0, 200);
        let (code, body) = health("n1", ClusterState::Down, false);
        assert_eq!((code, json(&body)["cluster"].as_str()), (503, Some("down")));
        let (code, body) = health("n1", ClusterState::Off, true);
        assert_eq!(code, 503);
        assert_eq!(json(&body)["status"], "shutting down");
        assert_eq!(json(&body)["node"], "n1");
    }
}
