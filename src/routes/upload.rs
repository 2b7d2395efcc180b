//! `/upload`: each binary message becomes a file in `--uploads`, under a
//! name the server chooses (`<connection>-<n>.<ext>`): a client never
//! names a path. The file is written beside its final name and renamed
//! into place, so a failed write leaves nothing behind.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use log::{info, warn};
use serde_json::json;

use super::Ctx;
use crate::app::Handle;
use crate::frame::Opcode;

/// Every extension [`sniff_extension`] gives.
const EXTENSIONS: [&str; 5] = ["png", "jpg", "gif", "pdf", "bin"];

/// The extension for a file, from its first bytes ("magic numbers").
pub fn sniff_extension(data: &[u8]) -> &'static str {
    if data.starts_with(b"\x89PNG\r\n\x1a\n") {
        "png"
    } else if data.starts_with(&[0xFF, 0xD8, 0xFF]) {
        "jpg"
    } else if data.starts_with(b"GIF87a") || data.starts_with(b"GIF89a") {
        "gif"
    } else if data.starts_with(b"%PDF-") {
        "pdf"
    } else {
        "bin"
    }
}

pub fn on_message(conn: &mut Handle, opcode: Opcode, payload: &[u8], ctx: &mut Ctx) {
    if opcode != Opcode::Binary {
        let reply = json!({"error": "send files as binary messages; text is not saved"});
        return conn.send(Opcode::Text, reply.to_string().as_bytes());
    }
    let reply = match save(&ctx.config.uploads, conn.id(), payload) {
        Ok(path) => {
            info!(
                "#{} uploaded {} bytes to {}",
                conn.id(),
                payload.len(),
                path.display()
            );
            json!({"saved": path.display().to_string(), "bytes": payload.len()})
        }
        Err(e) => {
            warn!(
                "#{} upload of {} bytes failed: {}",
                conn.id(),
                payload.len(),
                e
            );
            json!({"error": format!("could not save the file: {e}")})
        }
    };
    conn.send(Opcode::Text, reply.to_string().as_bytes());
}

/// Writes `data` to a new file in `dir`, never overwriting an existing one.
pub fn save(dir: &Path, conn_id: u64, data: &[u8]) -> io::Result<PathBuf> {
    fs::create_dir_all(dir)?;
    let ext = sniff_extension(data);
    // The counter counts a connection's uploads whatever their type
    // (`3-1.png`, `3-2.pdf`), skipping numbers a file already has.
    let n = (1..=10_000)
        .find(|n| {
            EXTENSIONS
                .iter()
                .all(|e| !dir.join(format!("{conn_id}-{n}.{e}")).exists())
        })
        .ok_or_else(|| io::Error::other("too many uploads from this connection"))?;
    let path = dir.join(format!("{conn_id}-{n}.{ext}"));
    let mut part = path.clone().into_os_string();
    part.push(".part");
    let part = PathBuf::from(part);
    let written = fs::write(&part, data).and_then(|()| fs::rename(&part, &path));
    if let Err(e) = written {
        let _ = fs::remove_file(&part);
        return Err(e);
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magic_numbers() {
        assert_eq!(sniff_extension(b"\x89PNG\r\n\x1a\nrest"), "png");
        assert_eq!(sniff_extension(&[0xFF, 0xD8, 0xFF, 0xE0]), "jpg");
        assert_eq!(sniff_extension(b"GIF89a..."), "gif");
        assert_eq!(sniff_extension(b"%PDF-1.7"), "pdf");
        assert_eq!(sniff_extension(b""), "bin");
        assert_eq!(sniff_extension(b"hello"), "bin");
    }

    #[test]
    fn save_numbers_files_and_never_overwrites() {
        let dir = std::env::temp_dir().join(format!("wsloop-upload-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let a = save(&dir, 7, b"%PDF-a").unwrap();
        let b = save(&dir, 7, b"%PDF-b").unwrap();
        let c = save(&dir, 7, b"GIF89a").unwrap();
        assert_eq!(a.file_name().unwrap(), "7-1.pdf");
        assert_eq!(b.file_name().unwrap(), "7-2.pdf");
        assert_eq!(
            c.file_name().unwrap(),
            "7-3.gif",
            "one counter for every type"
        );
        assert_eq!(fs::read(&a).unwrap(), b"%PDF-a");
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 3);
        fs::remove_dir_all(&dir).unwrap();
    }
}
