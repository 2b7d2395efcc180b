//! Plain HTTP for operators, answered from the routes' state: `/healthz`
//! (is this node serving? for a load balancer) and `/metrics` (its
//! counters, for Prometheus). No WebSocket, no state of their own.

use std::time::Instant;

use super::State;
use crate::app::HttpAnswer;
use crate::config::Config;
use crate::metrics::{self, PROMETHEUS_TEXT};

/// The answer for `path`, or `None` when it is not one of these.
pub fn http_get(config: &Config, state: &State, path: &str, now: Instant) -> Option<HttpAnswer> {
    match path {
        "/healthz" => {
            let (status, body) = metrics::health(&config.node, state.cluster, state.shutting_down);
            Some(HttpAnswer {
                status,
                content_type: "application/json",
                body: body.into_bytes(),
            })
        }
        "/metrics" => {
            let uptime = now.saturating_duration_since(state.started);
            Some(HttpAnswer {
                status: 200,
                content_type: PROMETHEUS_TEXT,
                body: state.metrics.render(uptime).into_bytes(),
            })
        }
        _ => None,
    }
}
