//! permessage-deflate (RFC 7692): negotiation now; the codec comes next
//! (see /work/wt/notes/deflate.md for the plan).

pub mod codec;
pub mod negotiate;
