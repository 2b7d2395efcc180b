//! Rooms that span several wsloop nodes through Redis.

pub mod resp;
