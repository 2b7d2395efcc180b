//! wsloop: a WebSocket server (RFC 6455) in one single-threaded mio poll
//! loop, with the handshake and the frame codec written by hand.
//!
//! Read it top-down, in the order a connection meets it:
//! [`handshake`] (§4) → [`frame`] (§5.2) → [`utf8`] and [`message`]
//! (§5.4–§5.6, §8) → [`connection`] (the state machine, §7) → [`app`]
//! (the seam: events out, a handle in) → [`routes`] (what each path does)
//! → [`server`] (the loop, the only owner of sockets). [`metrics`] is what
//! `/metrics` and `/healthz` report.

pub mod app;
pub mod clock;
pub mod cluster;
pub mod config;
pub mod connection;
pub mod deflate;
pub mod error;
pub mod frame;
pub mod handshake;
pub mod http;
pub mod message;
pub mod metrics;
pub mod names;
pub mod operator;
pub mod output;
pub mod outqueue;
pub mod pool;
pub mod routes;
pub mod server;
pub mod timers;
pub mod tzif;
pub mod upload_worker;
pub mod utf8;
