//! Everything the server prints — log records on stderr, operator console
//! lines on stdout — goes through one bounded buffer drained by one writer
//! thread, so the poll loop never waits on a terminal or a pipe.
//!
//! Why: a write to a pipe nobody reads, a terminal paused with Ctrl-S or a
//! slow SSH link blocks once the kernel's buffer (64 KiB for a pipe) is
//! full. Done on the loop thread, that one write stalls every client. Here
//! the loop only appends the line to memory and returns.
//!
//! The limit (`--output-buffer`, 1 MiB by default) counts the bytes of the
//! lines not yet written. A line that does not fit is dropped and counted;
//! when there is room again, a `… N lines dropped` line takes its place in
//! the stream, so a reader knows output is missing and how much.
//!
//! The writer itself uses ordinary blocking writes: it is the only thread
//! that may wait on the terminal, and waiting is all it does.

use std::collections::VecDeque;
use std::io::{self, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

/// The default of `--output-buffer`.
pub const DEFAULT_CAPACITY: usize = 1 << 20;

/// Which standard stream a line is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout = 0,
    Stderr = 1,
}

#[derive(Default)]
struct Queue {
    lines: VecDeque<(Stream, Vec<u8>)>,
    /// Bytes buffered or being written: what the capacity limits.
    bytes: usize,
    /// Lines refused since the last `… N lines dropped`, per stream.
    dropped: [u64; 2],
    /// Lines refused since start, for tests and diagnostics.
    dropped_total: u64,
    /// The writer has taken a batch and not finished writing it.
    writing: bool,
    /// The writer sleeps on `ready`: only then does a push wake it (a
    /// futex syscall per log line otherwise, on the loop thread).
    waiting: bool,
}

/// A bounded line buffer and the state its writer thread shares.
pub struct Output {
    capacity: AtomicUsize,
    queue: Mutex<Queue>,
    /// Signalled when there is something to write.
    ready: Condvar,
    /// Signalled when the writer has written everything.
    idle: Condvar,
}

impl Output {
    pub fn new(capacity: usize) -> Arc<Output> {
        Arc::new(Output {
            capacity: AtomicUsize::new(capacity),
            queue: Mutex::new(Queue::default()),
            ready: Condvar::new(),
            idle: Condvar::new(),
        })
    }

    /// Never panics: a thread that panicked holding the lock left the
    /// queue consistent (every change is one push or one take).
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues one whole line (it should end with `\n`). Returns at once;
    /// `false` when the line was dropped because the buffer is full.
    pub fn push(&self, stream: Stream, line: Vec<u8>) -> bool {
        let capacity = self.capacity.load(Ordering::Relaxed);
        let mut q = self.lock();
        if q.bytes.saturating_add(line.len()) > capacity {
            q.dropped[stream as usize] += 1;
            q.dropped_total += 1;
            let wake = q.waiting;
            drop(q);
            if wake {
                self.ready.notify_one();
            }
            return false;
        }
        if let Some(note) = take_dropped(&mut q, stream) {
            q.bytes += note.len();
            q.lines.push_back((stream, note));
        }
        q.bytes += line.len();
        q.lines.push_back((stream, line));
        // A writer that is busy takes this line on its next turn unasked.
        let wake = q.waiting;
        drop(q);
        if wake {
            self.ready.notify_one();
        }
        true
    }

    /// Lines dropped since start.
    pub fn dropped(&self) -> u64 {
        self.lock().dropped_total
    }

    /// Waits until every queued line is written, at most `timeout`.
    /// `true` when it all went out.
    pub fn flush(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut q = self.lock();
        loop {
            if q.lines.is_empty() && !q.writing && q.dropped == [0, 0] {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            q = match self.idle.wait_timeout(q, left) {
                Ok((q, _)) => q,
                Err(e) => e.into_inner().0,
            };
        }
    }

    /// The writer thread's loop: take everything queued, write it with the
    /// lock released, give the bytes back, repeat. Returns never.
    fn drain(&self, stdout: &mut dyn Write, stderr: &mut dyn Write) {
        loop {
            let batch: Vec<(Stream, Vec<u8>)> = {
                let mut q = self.lock();
                while q.lines.is_empty() && q.dropped == [0, 0] {
                    q.writing = false;
                    self.idle.notify_all();
                    // Set under the lock that `wait` gives up atomically, so
                    // a push that sees it cannot miss the sleeper.
                    q.waiting = true;
                    q = self.ready.wait(q).unwrap_or_else(|e| e.into_inner());
                    q.waiting = false;
                }
                q.writing = true;
                let mut batch: Vec<_> = q.lines.drain(..).collect();
                // Everything queued went out and lines were lost since:
                // output has resumed, so say how many. (Lines still queued
                // go first: they were queued before the drops.)
                for stream in [Stream::Stdout, Stream::Stderr] {
                    if !batch.is_empty() {
                        break;
                    }
                    if let Some(note) = take_dropped(&mut q, stream) {
                        q.bytes += note.len();
                        batch.push((stream, note));
                    }
                }
                batch
            };
            let mut written = 0;
            for (stream, line) in &batch {
                let sink: &mut dyn Write = match stream {
                    Stream::Stdout => &mut *stdout,
                    Stream::Stderr => &mut *stderr,
                };
                // A closed stdout (EPIPE) loses the line; nothing to do.
                let _ = sink.write_all(line);
                written += line.len();
            }
            let _ = stdout.flush();
            let _ = stderr.flush();
            let mut q = self.lock();
            q.bytes = q.bytes.saturating_sub(written);
        }
    }

    /// Starts the writer thread over the given sinks.
    pub fn spawn_writer(
        self: &Arc<Output>,
        mut stdout: Box<dyn Write + Send>,
        mut stderr: Box<dyn Write + Send>,
    ) -> io::Result<()> {
        let output = Arc::clone(self);
        std::thread::Builder::new()
            .name("output".into())
            .spawn(move || output.drain(&mut *stdout, &mut *stderr))
            .map(|_| ())
    }
}

/// The `… N lines dropped` line owed to `stream`, if any; resets the count.
fn take_dropped(q: &mut Queue, stream: Stream) -> Option<Vec<u8>> {
    let n = std::mem::take(&mut q.dropped[stream as usize]);
    (n > 0).then(|| {
        let s = if n == 1 { "" } else { "s" };
        format!("… {n} line{s} dropped (output buffer full)\n").into_bytes()
    })
}

static GLOBAL: OnceLock<Arc<Output>> = OnceLock::new();

/// The process's output, writing to the real stdout and stderr. Started on
/// first use with [`DEFAULT_CAPACITY`]; [`set_capacity`] changes the limit.
pub fn global() -> &'static Arc<Output> {
    GLOBAL.get_or_init(|| {
        let output = Output::new(DEFAULT_CAPACITY);
        // If no thread can be started, lines queue up to the capacity and
        // are then dropped and counted: still never a blocked loop.
        // ok: stdout/stderr are written only by the writer thread, never the loop.
        let _ = output.spawn_writer(Box::new(io::stdout()), Box::new(io::stderr()));
        output
    })
}

/// Sets `--output-buffer`.
pub fn set_capacity(bytes: usize) {
    global().capacity.store(bytes, Ordering::Relaxed);
}

/// Queues one operator console line for stdout (a newline is added).
/// Never blocks; returns `false` when the line was dropped.
pub fn console_line(line: impl Into<String>) -> bool {
    push_line(Stream::Stdout, line.into())
}

/// Queues one line for stderr (a newline is added). Never blocks.
pub fn error_line(line: impl Into<String>) -> bool {
    push_line(Stream::Stderr, line.into())
}

fn push_line(stream: Stream, line: String) -> bool {
    let mut bytes = line.into_bytes();
    bytes.push(b'\n');
    global().push(stream, bytes)
}

/// Waits up to `timeout` for the queued lines to be written (at exit).
pub fn flush(timeout: Duration) -> bool {
    global().flush(timeout)
}

/// A `Write` for `env_logger::Target::Pipe`: env_logger formats a whole
/// record into its own buffer and hands it over in one `write_all`, so each
/// `write` here is one log line, queued for stderr.
pub struct LogPipe;

impl Write for LogPipe {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        global().push(Stream::Stderr, buf.to_vec());
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc::{Receiver, Sender, channel};

    /// A sink that writes only when the test lets it, like a reader that
    /// stopped reading.
    struct Gate {
        open: Receiver<()>,
        out: Sender<Vec<u8>>,
    }

    impl Write for Gate {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.open
                .recv()
                .map_err(|_| io::Error::from(io::ErrorKind::BrokenPipe))?;
            let _ = self.out.send(buf.to_vec());
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn gated(capacity: usize) -> (Arc<Output>, Sender<()>, Receiver<Vec<u8>>) {
        let output = Output::new(capacity);
        let (open_tx, open) = channel();
        let (out, written) = channel();
        output
            .spawn_writer(Box::new(Gate { open, out }), Box::new(io::sink()))
            .unwrap();
        (output, open_tx, written)
    }

    #[test]
    fn a_stuck_reader_never_blocks_push_and_drops_are_counted_then_reported() {
        let (output, open, written) = gated(100);
        let start = Instant::now();
        let mut accepted = 0;
        for i in 0..10_000 {
            if output.push(Stream::Stdout, format!("line {i:04}\n").into_bytes()) {
                accepted += 1;
            }
        }
        assert!(start.elapsed() < Duration::from_secs(1), "push waited");
        // 10 bytes a line, 100 bytes of room: at most 10 lines are held
        // (one more may be in the writer's hands).
        assert!((1..=20).contains(&accepted), "{accepted}");
        assert_eq!(output.dropped(), 10_000 - accepted);
        // The reader comes back: what was kept, in order, and notes that
        // count the rest (one, or two when the writer took its first batch
        // after the first drops), the last line being a note.
        for _ in 0..accepted + 8 {
            open.send(()).unwrap();
        }
        assert!(output.flush(Duration::from_secs(5)));
        let lines: Vec<String> = written
            .try_iter()
            .map(|l| String::from_utf8(l).unwrap())
            .collect();
        let (notes, kept): (Vec<&String>, Vec<&String>) =
            lines.iter().partition(|l| l.starts_with('…'));
        let expected: Vec<String> = (0..accepted).map(|i| format!("line {i:04}\n")).collect();
        assert_eq!(kept, expected.iter().collect::<Vec<_>>());
        let counted: u64 = notes
            .iter()
            .filter_map(|n| n.split_whitespace().nth(1)?.parse::<u64>().ok())
            .sum();
        assert_eq!(counted, 10_000 - accepted);
        assert!(
            lines
                .last()
                .is_some_and(|l| l.ends_with("lines dropped (output buffer full)\n"))
        );
        // And the next line comes after the note, in order.
        assert!(output.push(Stream::Stdout, b"after\n".to_vec()));
        assert!(output.flush(Duration::from_secs(5)));
        assert_eq!(
            written.try_iter().collect::<Vec<_>>(),
            vec![b"after\n".to_vec()]
        );
        assert!(output.flush(Duration::from_secs(5)));
    }

    #[test]
    fn a_line_larger_than_the_buffer_is_dropped_not_split() {
        let (output, open, written) = gated(8);
        assert!(!output.push(Stream::Stdout, b"0123456789\n".to_vec()));
        open.send(()).unwrap();
        assert_eq!(
            written.recv().unwrap(),
            "… 1 line dropped (output buffer full)\n".as_bytes()
        );
        assert!(output.flush(Duration::from_secs(5)));
        assert!(output.push(Stream::Stdout, b"short\n".to_vec()));
        open.send(()).unwrap();
        assert_eq!(written.recv().unwrap(), b"short\n");
    }

    #[test]
    fn flush_gives_up_at_its_timeout_when_the_reader_is_stuck() {
        let (output, open, _written) = gated(1000);
        assert!(output.push(Stream::Stdout, b"stuck\n".to_vec()));
        let start = Instant::now();
        assert!(!output.flush(Duration::from_millis(100)));
        assert!(start.elapsed() >= Duration::from_millis(100));
        open.send(()).unwrap();
        assert!(output.flush(Duration::from_secs(5)));
    }

    #[test]
    fn stdout_and_stderr_lines_keep_their_order_per_stream() {
        let output = Output::new(1 << 16);
        let (out_tx, out_rx) = channel::<Vec<u8>>();
        let (err_tx, err_rx) = channel::<Vec<u8>>();
        struct Chan(Sender<Vec<u8>>);
        impl Write for Chan {
            fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
                let _ = self.0.send(buf.to_vec());
                Ok(buf.len())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        output
            .spawn_writer(Box::new(Chan(out_tx)), Box::new(Chan(err_tx)))
            .unwrap();
        for i in 0..100 {
            let stream = if i % 2 == 0 {
                Stream::Stdout
            } else {
                Stream::Stderr
            };
            assert!(output.push(stream, format!("{i}\n").into_bytes()));
        }
        assert!(output.flush(Duration::from_secs(5)));
        let outs: Vec<_> = out_rx.try_iter().collect();
        let errs: Vec<_> = err_rx.try_iter().collect();
        assert_eq!(outs.len(), 50);
        assert_eq!(errs.len(), 50);
        assert_eq!(outs[1], b"2\n");
        assert_eq!(errs[49], b"99\n");
    }
}
