//! `/upload`: each binary message becomes a file in `--uploads`, under a
//! name the server chooses (`<connection>-<n>.<ext>`): a client never
//! names a path. The disk is the upload worker's ([`crate::upload_worker`]):
//! the route hands the bytes over and answers when the worker says how it
//! went, so a slow or full disk never delays another client.

use log::{info, warn};
use serde_json::json;

use super::Ctx;
use crate::app::Handle;
use crate::frame::Opcode;
use crate::upload_worker::{Done, UploadError};

pub fn on_message(conn: &mut Handle, opcode: Opcode, payload: &[u8], ctx: &mut Ctx) {
    if opcode != Opcode::Binary {
        let reply = json!({"error": "send files as binary messages; text is not saved"});
        return conn.send_text(&reply.to_string());
    }
    let submitted = match ctx.uploads {
        Some(worker) => worker.submit(conn.key(), conn.id(), payload.to_vec()),
        None => Err(UploadError::Io("uploads are not enabled".into())),
    };
    if let Err(e) = submitted {
        refuse(conn, payload.len(), &e);
    }
}

/// The worker finished a file for this connection.
pub fn on_done(conn: &mut Handle, done: Done) {
    match done.outcome {
        Ok(path) => {
            info!(
                "#{} uploaded {} bytes to {}",
                conn.id(),
                done.bytes,
                path.display()
            );
            let reply = json!({"saved": path.display().to_string(), "bytes": done.bytes});
            conn.send_text(&reply.to_string());
        }
        Err(e) => refuse(conn, done.bytes, &e),
    }
}

/// The JSON error, then the close its cause calls for (a quota: 1008, too
/// big or a full disk: 1009, a full queue: 1013), or none.
fn refuse(conn: &mut Handle, bytes: usize, e: &UploadError) {
    warn!("#{} upload of {} bytes refused: {:?}", conn.id(), bytes, e);
    let reply = e.to_json();
    conn.send_text(&reply.to_string());
    if let Some(code) = e.close_code() {
        conn.close(code, reply["error"].as_str().unwrap_or_default());
    }
}
