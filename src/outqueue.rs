//! The bytes a connection still has to write, in order.
//!
//! Replies to one client (an echo, a pong) are appended to an owned buffer;
//! a room's broadcast is one shared allocation that every member's queue
//! points to, so a message to 1,000 clients is encoded once and never copied
//! per receiver. The server writes each queue once per poll iteration, with
//! one vectored `write` for all its chunks.

use std::collections::VecDeque;
use std::io::{self, IoSlice, Write};
use std::rc::Rc;

use crate::frame::{self, Opcode};
use crate::pool;

/// One run of bytes in the queue.
#[derive(Debug)]
enum Chunk {
    /// The tail buffer small frames are appended to.
    Owned(Vec<u8>),
    /// One large frame in a buffer of its own; nothing is appended to it.
    Sealed(Vec<u8>),
    /// A broadcast, shared with other connections' queues.
    Shared(Rc<[u8]>),
}

impl Chunk {
    fn bytes(&self) -> &[u8] {
        match self {
            Chunk::Owned(v) | Chunk::Sealed(v) => v,
            Chunk::Shared(s) => s,
        }
    }
}

/// How a flush ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Flushed {
    /// Everything was written.
    All,
    /// The socket is full; wait for it to become writable.
    WouldBlock,
}

/// The first allocation of an owned chunk.
const TAIL_CAPACITY: usize = 4096;

/// At most this many chunks go into one `writev` call.
const MAX_IOV: usize = 64;

#[derive(Debug, Default)]
pub struct OutQueue {
    chunks: VecDeque<Chunk>,
    /// How much of the front chunk was already written.
    head_written: usize,
    /// Bytes queued and not yet written.
    queued: usize,
}

impl OutQueue {
    pub fn is_empty(&self) -> bool {
        self.queued == 0
    }

    /// Bytes queued and not yet written (the backlog).
    pub fn len(&self) -> usize {
        self.queued
    }

    /// Lets `write` append bytes to the queue's owned tail buffer.
    pub fn append(&mut self, write: impl FnOnce(&mut Vec<u8>)) {
        if let Some(buf) = self.owned_tail() {
            let before = buf.len();
            write(buf);
            self.queued += buf.len() - before;
        }
    }

    /// Appends one small server frame (an echo, a reply) to the tail
    /// buffer: the path of nearly every message a route sends, kept free
    /// of calls. (Through [`OutQueue::append`] the encoding closure stayed
    /// a call of its own per message, in callgrind, even with `append`
    /// inlined.)
    #[inline(always)]
    pub fn append_frame(&mut self, opcode: Opcode, payload: &[u8]) {
        if let Some(buf) = self.owned_tail() {
            let before = buf.len();
            frame::encode_frame(buf, opcode, payload);
            self.queued += buf.len() - before;
        }
    }

    /// Queues a frame whose large payload goes into a buffer of its own (a
    /// pooled one) instead of growing the tail buffer, which would copy it
    /// again on every growth.
    pub fn push_large_frame(&mut self, header: &[u8], payload: &[u8]) {
        let mut buf = pool::take(header.len() + payload.len());
        buf.extend_from_slice(header);
        buf.extend_from_slice(payload);
        self.queued += buf.len();
        self.chunks.push_back(Chunk::Sealed(buf));
    }

    /// Queues a buffer of its own (a large frame encoded elsewhere).
    pub fn push_sealed(&mut self, buf: Vec<u8>) {
        self.queued += buf.len();
        self.chunks.push_back(Chunk::Sealed(buf));
    }

    /// Queues a shared buffer (a broadcast).
    pub fn push_shared(&mut self, bytes: Rc<[u8]>) {
        if bytes.is_empty() {
            return;
        }
        self.queued += bytes.len();
        self.chunks.push_back(Chunk::Shared(bytes));
    }

    /// A broadcast for a connection whose queue is empty goes straight to
    /// the socket, skipping the queue, the dirty list and the flush pass;
    /// what the socket does not take is queued (shared, not copied).
    /// True when all of it was written.
    pub fn write_or_push_shared(&mut self, bytes: &Rc<[u8]>, out: &mut impl Write) -> bool {
        if !self.is_empty() {
            self.push_shared(bytes.clone());
            return false;
        }
        let written = match out.write(bytes) {
            Ok(n) => n.min(bytes.len()),
            // Full, interrupted or broken: the flush retries and reports.
            Err(_) => 0,
        };
        if written == bytes.len() {
            return true;
        }
        self.push_shared(bytes.clone());
        self.consume(written);
        false
    }

    /// Writes as much as the socket takes.
    pub fn write_to(&mut self, out: &mut impl Write) -> io::Result<Flushed> {
        while let Some(front) = self.chunks.front() {
            let head = front.bytes().get(self.head_written..).unwrap_or(&[]);
            let result = if self.chunks.len() == 1 {
                // One chunk (the usual case: replies to one read) goes out
                // with a plain write: on Linux that is send(2), cheaper in
                // the kernel than writev(2), and no slice table to fill.
                out.write(head)
            } else {
                let mut slices = [IoSlice::new(&[]); MAX_IOV];
                slices[0] = IoSlice::new(head);
                let mut n = 1;
                for chunk in self.chunks.iter().skip(1).take(MAX_IOV - 1) {
                    slices[n] = IoSlice::new(chunk.bytes());
                    n += 1;
                }
                out.write_vectored(&slices[..n])
            };
            match result {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(written) => self.consume(written),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Flushed::WouldBlock),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(Flushed::All)
    }

    /// Gives the queue's memory back. The server calls it for connections
    /// that are not busy, so that an idle connection costs nothing, while a
    /// busy one keeps its queue instead of allocating it every round.
    pub fn release(&mut self) {
        if self.chunks.is_empty() {
            self.chunks = VecDeque::new();
        }
    }

    /// The owned tail buffer, created if the queue ends in a shared chunk.
    #[inline(always)]
    fn owned_tail(&mut self) -> Option<&mut Vec<u8>> {
        if !matches!(self.chunks.back(), Some(Chunk::Owned(_))) {
            self.push_tail();
        }
        match self.chunks.back_mut() {
            Some(Chunk::Owned(buf)) => Some(buf),
            _ => None,
        }
    }

    /// Starts a new owned tail buffer at the back of the queue: once per
    /// read that has replies (a flush empties the queue), not once per
    /// message, so it is kept out of the per-message path that
    /// `append_frame` inlines.
    #[inline(never)]
    fn push_tail(&mut self) {
        // A queue that kept its memory belongs to a busy connection: it
        // takes a pooled buffer, the one its last flush gave back, warm
        // in cache (a fresh allocation here cost a malloc and a free
        // per reply, a seventh of a ping-pong's user time, and filled
        // the pool with buffers nobody took). A cold queue (say, the
        // handshake reply) gets an exact fit.
        let tail = if self.chunks.capacity() > 0 {
            pool::take(TAIL_CAPACITY)
        } else {
            Vec::new()
        };
        self.chunks.push_back(Chunk::Owned(tail));
    }

    /// Drops `written` bytes from the front of the queue.
    fn consume(&mut self, mut written: usize) {
        self.queued -= written.min(self.queued);
        while written > 0 {
            let Some(front) = self.chunks.front() else {
                return;
            };
            let left = front.bytes().len() - self.head_written;
            if written < left {
                self.head_written += written;
                return;
            }
            written -= left;
            self.head_written = 0;
            if let Some(Chunk::Owned(buf) | Chunk::Sealed(buf)) = self.chunks.pop_front() {
                pool::give(buf);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer that takes at most `cap` bytes per call, then blocks.
    struct Trickle {
        got: Vec<u8>,
        cap: usize,
        calls_left: usize,
    }

    impl Write for Trickle {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.calls_left == 0 {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            self.calls_left -= 1;
            let n = buf.len().min(self.cap);
            self.got.extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn partial_writes_keep_order_across_owned_and_shared_chunks() {
        let mut q = OutQueue::default();
        q.append(|b| b.extend_from_slice(b"abc"));
        q.push_shared(Rc::from(&b"defgh"[..]));
        q.append(|b| b.extend_from_slice(b"ij"));
        q.append(|b| b.extend_from_slice(b"k"));
        assert_eq!(q.len(), 11);
        let mut w = Trickle {
            got: Vec::new(),
            cap: 2,
            calls_left: 3,
        };
        assert_eq!(q.write_to(&mut w).unwrap(), Flushed::WouldBlock);
        // The default write_vectored writes the first non-empty slice only:
        // "ab", "c", "de".
        assert_eq!(w.got, b"abcde");
        assert_eq!(q.len(), 6);
        w.calls_left = 100;
        assert_eq!(q.write_to(&mut w).unwrap(), Flushed::All);
        assert_eq!(w.got, b"abcdefghijk");
        assert!(q.is_empty());
    }

    #[test]
    fn a_single_chunk_is_written_in_pieces_from_where_the_last_write_stopped() {
        let mut q = OutQueue::default();
        q.append(|b| b.extend_from_slice(b"hello world"));
        let mut w = Trickle {
            got: Vec::new(),
            cap: 4,
            calls_left: 2,
        };
        assert_eq!(q.write_to(&mut w).unwrap(), Flushed::WouldBlock);
        assert_eq!((w.got.as_slice(), q.len()), (&b"hello wo"[..], 3));
        w.calls_left = 1;
        assert_eq!(q.write_to(&mut w).unwrap(), Flushed::All);
        assert_eq!(w.got, b"hello world");
        assert!(q.is_empty());
    }

    #[test]
    fn a_broadcast_to_an_empty_queue_goes_straight_out_and_the_rest_is_queued() {
        let mut q = OutQueue::default();
        let bytes: Rc<[u8]> = Rc::from(&b"0123456789"[..]);
        let mut w = Trickle {
            got: Vec::new(),
            cap: 100,
            calls_left: 1,
        };
        assert!(q.write_or_push_shared(&bytes, &mut w));
        assert!(q.is_empty() && w.got == b"0123456789");
        // A socket that takes 4 bytes: 6 queued, in order, after nothing.
        let mut w = Trickle {
            got: Vec::new(),
            cap: 4,
            calls_left: 1,
        };
        assert!(!q.write_or_push_shared(&bytes, &mut w));
        assert_eq!(q.len(), 6);
        // Now the queue is not empty: the next one must queue behind it.
        assert!(!q.write_or_push_shared(&bytes, &mut w));
        assert_eq!(q.len(), 16);
        w.calls_left = 100;
        assert_eq!(q.write_to(&mut w).unwrap(), Flushed::All);
        assert_eq!(w.got, b"01234567890123456789");
        // A blocked socket: all of it queued.
        let mut q = OutQueue::default();
        w.calls_left = 0;
        assert!(!q.write_or_push_shared(&bytes, &mut w));
        assert_eq!(q.len(), 10);
    }
}
