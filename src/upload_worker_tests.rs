//! Unit tests of the upload worker, on real temporary directories.

use super::*;
use std::time::{Duration, Instant};

struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Dir {
        let dir = std::env::temp_dir().join(format!(
            "wsloop-upload-worker-{}-{name}",
            std::process::id()
        ));
        let _ = fs::remove_dir_all(&dir);
        Dir(dir)
    }
    fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(&self.0)
            .map(|d| {
                d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// A worker and the poll its waker belongs to.
struct Rig {
    poll: mio::Poll,
    worker: UploadWorker,
}

impl Rig {
    fn new(dir: &Path, limits: Limits) -> Rig {
        let poll = mio::Poll::new().unwrap();
        let waker = Arc::new(mio::Waker::new(poll.registry(), mio::Token(0)).unwrap());
        let worker = UploadWorker::spawn(dir.to_path_buf(), limits, waker).unwrap();
        Rig { poll, worker }
    }

    /// Waits (on the waker, as the loop does) for `n` results.
    fn collect(&mut self, n: usize) -> Vec<Done> {
        let mut events = mio::Events::with_capacity(4);
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut done: Vec<Done> = Vec::new();
        while done.len() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "only {} of {n} results", done.len());
            self.poll.poll(&mut events, Some(left)).unwrap();
            done.extend(self.worker.results());
        }
        done
    }

    fn save(&mut self, conn_id: u64, data: &[u8]) -> Result<PathBuf, UploadError> {
        self.worker.submit(9, conn_id, data.to_vec())?;
        let done = self.collect(1).pop().unwrap();
        assert_eq!(
            (done.key, done.conn_id, done.bytes),
            (9, conn_id, data.len())
        );
        done.outcome
    }
}

fn name(path: &Path) -> String {
    path.file_name().unwrap().to_string_lossy().into_owned()
}

#[test]
fn files_are_named_by_a_per_connection_counter_and_saved_whole() {
    let dir = Dir::new("names");
    let mut rig = Rig::new(&dir.0, Limits::default());
    let a = rig.save(7, b"%PDF-a").unwrap();
    let b = rig.save(7, b"bytes").unwrap();
    let c = rig.save(8, b"GIF89a").unwrap();
    let d = rig.save(7, b"\x89PNG\r\n\x1a\n").unwrap();
    assert_eq!(
        [name(&a), name(&b), name(&c), name(&d)],
        ["7-1.pdf", "7-2.bin", "8-1.gif", "7-3.png"]
    );
    assert_eq!(fs::read(&a).unwrap(), b"%PDF-a");
    assert_eq!(fs::read(&d).unwrap(), b"\x89PNG\r\n\x1a\n");
    // No `.part` left behind.
    assert_eq!(dir.names(), ["7-1.pdf", "7-2.bin", "7-3.png", "8-1.gif"]);
}

#[test]
fn an_existing_file_is_never_overwritten_the_counter_moves_on() {
    let dir = Dir::new("exists");
    fs::create_dir_all(&dir.0).unwrap();
    fs::write(dir.0.join("3-1.bin"), b"from an earlier run").unwrap();
    let mut rig = Rig::new(&dir.0, Limits::default());
    let saved = rig.save(3, b"new").unwrap();
    assert_eq!(name(&saved), "3-2.bin");
    assert_eq!(
        fs::read(dir.0.join("3-1.bin")).unwrap(),
        b"from an earlier run"
    );
    assert_eq!(rig.save(3, b"next").map(|p| name(&p)), Ok("3-3.bin".into()));
}

#[test]
fn a_failed_write_leaves_no_file_and_keeps_the_connection() {
    let dir = Dir::new("fail");
    fs::create_dir_all(&dir.0).unwrap();
    // The `.part` name is taken by a directory: this file fails.
    fs::create_dir(dir.0.join("5-1.bin.part")).unwrap();
    let mut rig = Rig::new(&dir.0, Limits::default());
    let err = rig.save(5, b"x").unwrap_err();
    assert!(matches!(err, UploadError::Io(_)), "{err:?}");
    assert_eq!(err.close_code(), None);
    assert!(
        err.to_json()["error"]
            .as_str()
            .unwrap()
            .contains("could not save")
    );
    assert!(!dir.0.join("5-1.bin").exists());
    assert_eq!(rig.save(5, b"y").map(|p| name(&p)), Ok("5-2.bin".into()));
    // A directory that cannot exist (under a regular file): an error, no panic.
    let file = dir.0.join("plain");
    fs::write(&file, b"f").unwrap();
    let mut rig = Rig::new(&file.join("sub"), Limits::default());
    assert!(matches!(rig.save(1, b"z"), Err(UploadError::Io(_))));
}

#[test]
fn quotas_per_connection_and_in_total_with_their_close_codes() {
    let dir = Dir::new("quota");
    fs::create_dir_all(&dir.0).unwrap();
    fs::write(dir.0.join("old"), vec![0u8; 600]).unwrap();
    let limits = Limits {
        files_per_connection: 2,
        bytes_per_connection: 100,
        total_bytes: 700,
        queue_bytes: 1 << 20,
    };
    let mut rig = Rig::new(&dir.0, limits);
    assert!(rig.save(1, &[1; 40]).is_ok());
    assert_eq!(rig.save(1, &[1; 101]), Err(UploadError::FileTooLarge(100)));
    assert_eq!(
        rig.save(1, &[1; 61]),
        Err(UploadError::ConnectionBytes(100))
    );
    assert!(rig.save(1, &[1; 50]).is_ok());
    assert_eq!(rig.save(1, b"3rd"), Err(UploadError::TooManyFiles(2)));
    // 600 (there at start) + 90 saved: 20 more would pass 700.
    assert_eq!(rig.save(2, &[2; 20]), Err(UploadError::TotalBytes(700)));
    assert!(rig.save(2, &[2; 10]).is_ok());
    assert_eq!(UploadError::TooManyFiles(2).close_code(), Some(1008));
    assert_eq!(UploadError::ConnectionBytes(1).close_code(), Some(1008));
    assert_eq!(UploadError::TotalBytes(1).close_code(), Some(1008));
    assert_eq!(UploadError::FileTooLarge(1).close_code(), Some(1009));
    assert_eq!(UploadError::DiskFull.close_code(), Some(1009));
    assert_eq!(UploadError::Busy.close_code(), Some(1013));
    // Forgetting a connection frees its per-connection quota.
    // (The directory is now at 700: only empty files still fit.)
    assert_eq!(rig.save(1, b""), Err(UploadError::TooManyFiles(2)));
    rig.worker.forget(1);
    assert!(rig.save(1, b"").is_ok());
}

#[test]
fn a_full_disk_is_disk_full() {
    assert_eq!(
        io_error(io::Error::from_raw_os_error(28)),
        UploadError::DiskFull
    );
    assert_eq!(
        io_error(io::Error::from_raw_os_error(122)),
        UploadError::DiskFull
    );
    assert!(matches!(
        io_error(io::Error::from_raw_os_error(13)),
        UploadError::Io(_)
    ));
    // Writing where the kernel always answers ENOSPC.
    if let Ok(mut full) = OpenOptions::new().write(true).open("/dev/full") {
        let e = full
            .write_all(&[0; 10])
            .and_then(|()| full.flush())
            .unwrap_err();
        assert_eq!(io_error(e), UploadError::DiskFull);
    }
}

#[test]
fn a_flood_of_jobs_never_blocks_submit_and_a_full_queue_is_busy() {
    let dir = Dir::new("flood");
    let limits = Limits {
        files_per_connection: 1000,
        queue_bytes: 100 * JOB_OVERHEAD,
        ..Limits::default()
    };
    let mut rig = Rig::new(&dir.0, limits);
    // One message larger than the whole queue: refused at once.
    assert_eq!(
        rig.worker.submit(1, 1, vec![0; 100 * JOB_OVERHEAD]),
        Err(UploadError::Busy)
    );
    // 3,000 empty messages in a burst: at most 100 wait at any time.
    let start = Instant::now();
    let mut accepted = 0;
    for _ in 0..3000 {
        if rig.worker.submit(1, 1, Vec::new()).is_ok() {
            accepted += 1;
        }
    }
    assert!(
        start.elapsed() < Duration::from_millis(500),
        "submit waited: {:?}",
        start.elapsed()
    );
    assert!(accepted >= 100, "{accepted}");
    let done = rig.collect(accepted);
    let saved = done.iter().filter(|d| d.outcome.is_ok()).count();
    assert_eq!(saved, accepted.min(1000));
    assert_eq!(dir.names().len(), saved);
}
