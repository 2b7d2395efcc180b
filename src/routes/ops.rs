//! Plain HTTP for operators, answered from the routes' state: `/healthz`
//! (is this node serving? for a load balancer) and `/metrics` (its
//! counters, for Prometheus). No WebSocket, no state of their own.

use std::time::Instant;

use super::State;
use crate::app::HttpAnswer;
use crate::config::Config;
use crate::metrics::{self, ClusterState, PROMETHEUS_TEXT};

/// The answer for `path`, or `None` when it is not one of these.
pub fn http_get(config: &Config, state: &State, path: &str, now: Instant) -> Option<HttpAnswer> {
    match path {
        "/healthz" => {
            let cluster = match &state.cluster {
                None => ClusterState::Off,
                Some(cl) if cl.up => ClusterState::Up,
                Some(_) => ClusterState::Down,
            };
            let (status, mut body) = metrics::health(&config.node, cluster, state.shutting_down);
            // What Redis last said (a wrong password, OOM, a read-only
            // replica), so the operator need not search the log.
            let error = state
                .cluster
                .as_ref()
                .and_then(|cl| cl.last_error.as_deref());
            if let (Some(error), Ok(serde_json::Value::Object(mut map))) =
                (error, serde_json::from_str(&body))
            {
                map.insert("cluster_error".into(), error.into());
                body = serde_json::Value::Object(map).to_string();
            }
            Some(HttpAnswer {
                status,
                content_type: "application/json",
                body: body.into_bytes(),
            })
        }
        "/metrics" => {
            let uptime = now.saturating_duration_since(state.started);
            let mut metrics = state.metrics.clone();
            if let Some(cl) = &state.cluster {
                metrics.cluster_up = u64::from(cl.up);
                metrics.cluster_outbox_bytes = cl.outbox_bytes as u64;
                metrics.cluster_published_total = cl.stats.published;
                metrics.cluster_received_total = cl.stats.received;
                metrics.cluster_recovered_total = cl.stats.recovered;
            }
            Some(HttpAnswer {
                status: 200,
                content_type: PROMETHEUS_TEXT,
                body: metrics.render(uptime).into_bytes(),
            })
        }
        _ => None,
    }
}
