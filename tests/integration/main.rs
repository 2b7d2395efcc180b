//! One test binary for the integration tests that share a server's time
//! calmly: each file here is a module, as it was a binary of its own.
//!
//! Why one binary: `cargo test --release` links every test binary with the
//! release profile's fat LTO, 15-20 s of CPU each; nine binaries in one
//! save about a minute of every CI run. The tests that load the machine or
//! time it (`abuse.rs`, `hardening.rs`, `cluster.rs`, `properties.rs`) stay
//! binaries of their own, so that none of them runs beside these.
//!
//! A new `tests/*.rs` file is a binary of its own, as cargo makes it; a new
//! file here needs its `mod` line below.

#[path = "../common/mod.rs"]
mod common;

mod chat_v1;
mod deflate;
mod deflate_dedicated;
mod fuzz_corpus;
mod musts;
mod operations;
mod output;
mod protocol;
mod routes;
