//! Rooms that span several wsloop nodes through Redis (`--redis`): the
//! parts that know Redis and nothing of chat, each pure.
//!
//! [`resp`] is the Redis protocol (bytes → values), [`url`] the `--redis`
//! flag, [`scripts`] the keys and the Lua that gives each room one order,
//! [`envelope`] a room event as JSON, [`link`] one connection's state. The
//! node's logic — what a room event means to the members here — is in
//! [`crate::routes::chat::cluster`]; the sockets are the server's
//! ([`crate::server`]), as for every connection.

pub mod envelope;
pub mod link;
pub mod resp;
pub mod scripts;
pub mod url;
