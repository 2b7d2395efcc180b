//! Saving `/upload` files off the poll loop: one worker thread, a bounded
//! job queue, results handed back through the loop's `mio::Waker`.
//!
//! A disk can be slow, full or gone; none of that may delay other clients.
//! So the loop only [`UploadWorker::submit`]s a job (a memory copy, or a
//! refusal when the queue is full) and later collects [`Done`] results.
//!
//! On the worker:
//! - names come from a per-connection counter, `<connection>-<n>.<ext>`,
//!   and no directory is scanned to find a free one;
//! - the bytes go to `<name>.part`, created with `O_EXCL`
//!   (`create_new`), then are hard-linked to the final name — which fails
//!   if that name exists (a file from an earlier run: the counter moves
//!   on), so nothing is ever overwritten — and the `.part` is removed. On
//!   any error the `.part` is removed too: no partial file is left;
//! - quotas: files and bytes per connection, and total bytes in the
//!   directory (counted once at start, on the worker, then kept).
//!
//! Every refusal says which close code fits it ([`UploadError::close_code`]).

use std::collections::{HashMap, VecDeque};
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use serde_json::{Value, json};

/// What one queued job costs besides its bytes, so that a flood of empty
/// messages also fills the queue.
pub const JOB_OVERHEAD: usize = 256;

/// The limits, each a flag (see `config`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// `--upload-files`: files one connection may save.
    pub files_per_connection: u32,
    /// `--upload-bytes`: bytes one connection may save.
    pub bytes_per_connection: u64,
    /// `--uploads-max`: bytes the whole directory may hold.
    pub total_bytes: u64,
    /// `--upload-queue`: bytes (plus [`JOB_OVERHEAD`] each) waiting for
    /// the worker.
    pub queue_bytes: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            files_per_connection: 1000,
            bytes_per_connection: 256 << 20,
            total_bytes: 1 << 30,
            queue_bytes: 64 << 20,
        }
    }
}

/// Why a file was not saved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UploadError {
    /// The job queue is full: the disk is behind.
    Busy,
    /// `--upload-files` reached for this connection.
    TooManyFiles(u32),
    /// This file would take the connection past `--upload-bytes`.
    ConnectionBytes(u64),
    /// This one file is larger than `--upload-bytes` by itself.
    FileTooLarge(u64),
    /// The directory would pass `--uploads-max`.
    TotalBytes(u64),
    /// The disk (or the user's disk quota) is full.
    DiskFull,
    /// Anything else the file system said.
    Io(String),
}

impl UploadError {
    /// The close code that fits (RFC 6455 §7.4.1), or `None` to answer
    /// with the JSON error and keep the connection.
    pub fn close_code(&self) -> Option<u16> {
        match self {
            // 1013 Try Again Later: nothing is wrong with the file.
            UploadError::Busy => Some(1013),
            // 1008 Policy Violation: a quota this server sets.
            UploadError::TooManyFiles(_)
            | UploadError::ConnectionBytes(_)
            | UploadError::TotalBytes(_) => Some(1008),
            // 1009 Message Too Big: too big to store, now or ever.
            UploadError::FileTooLarge(_) | UploadError::DiskFull => Some(1009),
            UploadError::Io(_) => None,
        }
    }

    /// The `{"error": …}` reply.
    pub fn to_json(&self) -> Value {
        let text = match self {
            UploadError::Busy => "the server is busy saving files; try again later".into(),
            UploadError::TooManyFiles(n) => {
                format!("upload quota reached: {n} files per connection")
            }
            UploadError::ConnectionBytes(n) => {
                format!("upload quota reached: {n} bytes per connection")
            }
            UploadError::FileTooLarge(n) => format!("file too large: the limit is {n} bytes"),
            UploadError::TotalBytes(n) => format!("the upload directory is full ({n} bytes)"),
            UploadError::DiskFull => "the disk is full".into(),
            UploadError::Io(e) => format!("could not save the file: {e}"),
        };
        json!({ "error": text })
    }
}

/// A finished job, for the connection at `key` with id `conn_id`.
#[derive(Debug)]
pub struct Done {
    pub key: usize,
    pub conn_id: u64,
    pub bytes: usize,
    pub outcome: Result<PathBuf, UploadError>,
}

enum Job {
    Save {
        key: usize,
        conn_id: u64,
        data: Vec<u8>,
    },
    /// The connection is gone: forget its counter and quota.
    Forget(u64),
}

#[derive(Default)]
struct Queue {
    jobs: VecDeque<Job>,
    bytes: usize,
}

struct Shared {
    queue: Mutex<Queue>,
    ready: Condvar,
    limit: usize,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The loop's side: submit jobs, collect results.
pub struct UploadWorker {
    shared: Arc<Shared>,
    results: Receiver<Done>,
}

impl UploadWorker {
    /// Starts the worker for `dir`; it wakes `waker` after each result.
    pub fn spawn(dir: PathBuf, limits: Limits, waker: Arc<mio::Waker>) -> io::Result<UploadWorker> {
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue::default()),
            ready: Condvar::new(),
            limit: limits.queue_bytes,
        });
        let (tx, results) = channel();
        let worker = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("uploads".into())
            .spawn(move || run(&worker, Disk::new(dir, limits), &tx, &waker))?;
        Ok(UploadWorker { shared, results })
    }

    /// Queues `data` to be saved for a connection. Never blocks; a full
    /// queue is [`UploadError::Busy`].
    pub fn submit(&self, key: usize, conn_id: u64, data: Vec<u8>) -> Result<(), UploadError> {
        let cost = data.len().saturating_add(JOB_OVERHEAD);
        let mut q = self.shared.lock();
        if q.bytes.saturating_add(cost) > self.shared.limit {
            return Err(UploadError::Busy);
        }
        q.bytes += cost;
        q.jobs.push_back(Job::Save { key, conn_id, data });
        drop(q);
        self.shared.ready.notify_one();
        Ok(())
    }

    /// The connection `conn_id` closed. Not subject to the limit (one per
    /// connection that uploaded), so it is never lost.
    pub fn forget(&self, conn_id: u64) {
        self.shared.lock().jobs.push_back(Job::Forget(conn_id));
        self.shared.ready.notify_one();
    }

    /// The results ready now (call when the waker fires).
    pub fn results(&self) -> impl Iterator<Item = Done> + '_ {
        self.results.try_iter()
    }
}

fn run(shared: &Shared, mut disk: Disk, tx: &Sender<Done>, waker: &mio::Waker) {
    disk.count_existing();
    loop {
        let job = {
            let mut q = shared.lock();
            loop {
                match q.jobs.pop_front() {
                    Some(job) => break job,
                    None => q = shared.ready.wait(q).unwrap_or_else(|e| e.into_inner()),
                }
            }
        };
        match job {
            Job::Forget(conn_id) => disk.forget(conn_id),
            Job::Save { key, conn_id, data } => {
                let outcome = disk.save(conn_id, &data);
                let cost = data.len().saturating_add(JOB_OVERHEAD);
                drop(data);
                {
                    let mut q = shared.lock();
                    q.bytes = q.bytes.saturating_sub(cost);
                }
                let done = Done {
                    key,
                    conn_id,
                    bytes: cost - JOB_OVERHEAD,
                    outcome,
                };
                // The loop is gone: nobody to answer.
                if tx.send(done).is_err() || waker.wake().is_err() {
                    return;
                }
            }
        }
    }
}

/// The worker's state: the directory, its quotas, and each connection's
/// counter.
struct Disk {
    dir: PathBuf,
    limits: Limits,
    used: u64,
    /// Per connection: (next counter, files saved, bytes saved).
    conns: HashMap<u64, (u32, u32, u64)>,
}

impl Disk {
    fn new(dir: PathBuf, limits: Limits) -> Disk {
        Disk {
            dir,
            limits,
            used: 0,
            conns: HashMap::new(),
        }
    }

    /// What the directory already holds counts against `--uploads-max`.
    fn count_existing(&mut self) {
        // ok: on the upload worker thread, never the loop (as all file I/O here).
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return;
        };
        self.used = entries
            .filter_map(|e| e.ok()?.metadata().ok())
            .filter(|m| m.is_file())
            .map(|m| m.len())
            .sum();
    }

    fn forget(&mut self, conn_id: u64) {
        self.conns.remove(&conn_id);
    }

    fn save(&mut self, conn_id: u64, data: &[u8]) -> Result<PathBuf, UploadError> {
        let limits = self.limits;
        let len = data.len() as u64;
        let (next, files, bytes) = self.conns.get(&conn_id).copied().unwrap_or((1, 0, 0));
        if files >= limits.files_per_connection {
            return Err(UploadError::TooManyFiles(limits.files_per_connection));
        }
        if len > limits.bytes_per_connection {
            return Err(UploadError::FileTooLarge(limits.bytes_per_connection));
        }
        if bytes.saturating_add(len) > limits.bytes_per_connection {
            return Err(UploadError::ConnectionBytes(limits.bytes_per_connection));
        }
        if self.used.saturating_add(len) > limits.total_bytes {
            return Err(UploadError::TotalBytes(limits.total_bytes));
        }
        fs::create_dir_all(&self.dir).map_err(io_error)?; // ok: upload worker thread
        let ext = sniff_extension(data);
        // A taken final name (from an earlier run: ids restart at 1) moves
        // the counter on; a bounded number of times, not a scan.
        let mut n = next;
        let result = loop {
            let path = self.dir.join(format!("{conn_id}-{n}.{ext}"));
            n = n.saturating_add(1);
            match write_new(&path, data) {
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && n - next < 100 => {}
                other => break other.map(|()| path),
            }
        };
        let counted = result.is_ok();
        self.conns.insert(
            conn_id,
            (
                n,
                files + u32::from(counted),
                bytes + if counted { len } else { 0 },
            ),
        );
        if counted {
            self.used += len;
        }
        result.map_err(io_error)
    }
}

/// Writes `data` to `<path>.part` (which must not exist), then links it to
/// `path` (which must not exist either) and removes the `.part`. On error
/// nothing is left. `AlreadyExists` means `path` was taken.
fn write_new(path: &Path, data: &[u8]) -> io::Result<()> {
    let mut part = path.as_os_str().to_owned();
    part.push(".part");
    let part = PathBuf::from(part);
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&part)
        .map_err(|e| match e.kind() {
            // A stale or foreign `.part`: an error for this file, not a
            // reason to skip a name.
            io::ErrorKind::AlreadyExists => io::Error::other(format!("{} exists", part.display())),
            _ => e,
        })?;
    let written = file
        .write_all(data)
        .and_then(|()| file.flush())
        .and_then(|()| fs::hard_link(&part, path));
    drop(file);
    // Linked or not, the `.part` goes. (Should only its removal fail after
    // the link, the file is whole and saved: that is still a success.)
    let _ = fs::remove_file(&part); // ok: upload worker thread
    written
}

fn io_error(e: io::Error) -> UploadError {
    // ENOSPC (28) and EDQUOT (122): no room, however the file is named.
    match e.raw_os_error() {
        Some(28 | 122) => UploadError::DiskFull,
        _ => match e.kind() {
            io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded => UploadError::DiskFull,
            _ => UploadError::Io(e.to_string()),
        },
    }
}

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

#[cfg(test)]
#[path = "upload_worker_tests.rs"]
mod tests;
