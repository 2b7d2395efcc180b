//! RESP2, the Redis wire protocol: a pure parser for the replies a Redis
//! server sends ([`parse`], [`RespReader`]) and the encoder for the
//! commands we send it ([`encode_command`]). No sockets here.
//!
//! Every value starts with a type byte and ends its header line in CRLF:
//!
//! ```text
//! +OK\r\n                        simple string   (one line, no CR/LF inside)
//! -ERR unknown command\r\n       error           (a simple string that failed)
//! :-12\r\n                       integer         (signed 64-bit, decimal)
//! $5\r\nhello\r\n                bulk string     (length, then exactly that many bytes, then CRLF)
//! $-1\r\n                        nil bulk        ("no such key")
//! *2\r\n$3\r\nget\r\n$1\r\nk\r\n   array           (count, then that many values, nested freely)
//! *-1\r\n                        nil array       (e.g. BLPOP timed out)
//! ```
//!
//! A client sends every command as an array of bulk strings; a server
//! replies with any of the above, and in pub/sub mode pushes
//! `*3\r\n$7\r\nmessage\r\n$<n>\r\n<channel>\r\n$<n>\r\n<payload>\r\n`
//! whenever a message arrives.
//!
//! mini-redis's `frame.rs` is the compact reference this follows; what it
//! lacks and this adds: negative integers and `*-1`, an error (never a
//! panic) on an unknown type byte, limits on every size a peer chooses
//! (bulk length, array count, nesting, line length), and no rescan of a
//! large value that arrives in many reads ([`RespReader`] remembers how
//! many bytes the next parse needs).
//!
//! The bytes come from a network peer: nothing here indexes, unwraps or
//! does arithmetic that can overflow on any input.

use std::fmt;

/// One RESP2 value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// `+...`: a status line such as `OK` or `PONG`. Bytes that are not
    /// UTF-8 become U+FFFD (Redis only sends ASCII here).
    Simple(String),
    /// `-...`: the server refused the command, e.g. `ERR wrong number of arguments`.
    Error(String),
    /// `:...`
    Integer(i64),
    /// `$n` and n bytes: binary-safe.
    Bulk(Vec<u8>),
    /// `$-1`
    Nil,
    /// `*n` and n values.
    Array(Vec<Value>),
    /// `*-1`
    NilArray,
}

impl Value {
    /// The bytes of a bulk or simple string.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Bulk(b) => Some(b),
            Value::Simple(s) => Some(s.as_bytes()),
            _ => None,
        }
    }

    /// An integer, or a bulk/simple string holding one in decimal (a number
    /// stored with `SET` comes back from `GET` as a bulk string).
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Integer(n) => Some(*n),
            Value::Bulk(b) => parse_int(b),
            Value::Simple(s) => parse_int(s.as_bytes()),
            _ => None,
        }
    }

    /// The elements of an array (not of a nil array).
    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(items) => Some(items),
            _ => None,
        }
    }
}

/// Why a stream is not RESP2 (or is beyond our limits). Every one is final:
/// there is no way to find the next value's start, so the connection must
/// be dropped and the reader cleared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RespError {
    /// The first byte of a value is none of `+ - : $ *`.
    UnknownType(u8),
    /// A bulk length or array count below -1.
    BadLength,
    /// A number that is not `-?[0-9]+` or does not fit an i64.
    BadInteger,
    /// A bulk string's body is not followed by exactly CRLF.
    MissingCrlf,
    /// A bulk length above [`Limits::max_bulk`].
    TooLarge,
    /// Arrays nested deeper than [`Limits::max_depth`].
    TooDeep,
    /// An array count above [`Limits::max_elements`].
    TooManyElements,
    /// A line with more than [`Limits::max_line`] bytes before its CRLF.
    LineTooLong,
}

impl fmt::Display for RespError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RespError::UnknownType(b) => write!(f, "unknown resp type byte 0x{b:02x}"),
            RespError::BadLength => f.write_str("negative length other than -1"),
            RespError::BadInteger => f.write_str("malformed integer"),
            RespError::MissingCrlf => f.write_str("bulk string not followed by crlf"),
            RespError::TooLarge => f.write_str("bulk string longer than the limit"),
            RespError::TooDeep => f.write_str("arrays nested deeper than the limit"),
            RespError::TooManyElements => f.write_str("array count above the limit"),
            RespError::LineTooLong => f.write_str("line longer than the limit"),
        }
    }
}

impl std::error::Error for RespError {}

/// The sizes a peer may ask us to buffer or allocate.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Longest bulk string, in bytes.
    pub max_bulk: usize,
    /// Most elements in one array.
    pub max_elements: usize,
    /// Most arrays nested inside one another (a flat array is depth 1;
    /// 0 allows no arrays at all).
    pub max_depth: usize,
    /// Longest header or simple line, CRLF not counted.
    pub max_line: usize,
}

impl Default for Limits {
    /// Redis's own `proto-max-bulk-len` is 512 MiB; a chat message is far
    /// smaller, so 64 MiB. Pub/sub replies nest 2 deep at most.
    fn default() -> Self {
        Limits {
            max_bulk: 64 << 20,
            max_elements: 1_000_000,
            max_depth: 8,
            max_line: 64 << 10,
        }
    }
}

/// What one parse attempt found.
enum Step {
    /// A whole value and the bytes it took.
    Done(Value, usize),
    /// Incomplete: no answer (value or error) can change until the buffer
    /// holds at least this many bytes.
    Need(usize),
}

/// Pure: parse one value from the front of `buf`. `Ok(None)` = need more
/// bytes (nothing consumed); `Ok(Some((value, used)))` = the value took
/// `buf[..used]`.
pub fn parse(buf: &[u8], limits: &Limits) -> Result<Option<(Value, usize)>, RespError> {
    match parse_step(buf, limits)? {
        Step::Done(value, used) => Ok(Some((value, used))),
        Step::Need(_) => Ok(None),
    }
}

/// The parser, iterative so that nesting costs heap, not stack, whatever
/// `max_depth` is. Errors are decided by the bytes present only, and as
/// early as they can be (a bad type byte at once, a too-large bulk at its
/// header), so parsing a longer prefix of the same stream never turns an
/// error into something else; the reader relies on that.
fn parse_step(buf: &[u8], limits: &Limits) -> Result<Step, RespError> {
    // The arrays being filled: their elements so far, and how many are left.
    let mut open: Vec<(Vec<Value>, usize)> = Vec::new();
    let mut pos = 0usize;
    loop {
        let Some(&kind) = buf.get(pos) else {
            return Ok(Step::Need(grow(pos, 1)?));
        };
        match kind {
            b'+' | b'-' | b':' | b'$' => {}
            b'*' if open.len() >= limits.max_depth => return Err(RespError::TooDeep),
            b'*' => {}
            other => return Err(RespError::UnknownType(other)),
        }
        let Some((line, next)) = line_at(buf, grow(pos, 1)?, limits.max_line)? else {
            return Ok(Step::Need(grow(buf.len(), 1)?));
        };
        pos = next;
        let mut value = match kind {
            b'+' => Value::Simple(String::from_utf8_lossy(line).into_owned()),
            b'-' => Value::Error(String::from_utf8_lossy(line).into_owned()),
            b':' => Value::Integer(parse_int(line).ok_or(RespError::BadInteger)?),
            b'$' => match length(line)? {
                None => Value::Nil,
                Some(len) if len > limits.max_bulk => return Err(RespError::TooLarge),
                Some(len) => {
                    let end = grow(next, len)?;
                    let after = grow(end, 2)?;
                    // Nothing is looked at until the body and its CRLF are
                    // all here: that is what makes `Need(after)` exact.
                    if buf.len() < after {
                        return Ok(Step::Need(after));
                    }
                    if buf.get(end..after) != Some(b"\r\n".as_slice()) {
                        return Err(RespError::MissingCrlf);
                    }
                    pos = after;
                    Value::Bulk(buf.get(next..end).unwrap_or_default().to_vec())
                }
            },
            _ => match length(line)? {
                None => Value::NilArray,
                Some(count) if count > limits.max_elements => {
                    return Err(RespError::TooManyElements);
                }
                Some(0) => Value::Array(Vec::new()),
                Some(count) => {
                    // Every element takes 3 bytes at least (`+\r\n`): a
                    // 10-byte header cannot make us reserve 1,000,000 slots.
                    let present = buf.len().saturating_sub(pos) / 3;
                    open.push((Vec::with_capacity(count.min(present)), count));
                    continue;
                }
            },
        };
        // Hand the value to the array it completes, and that array to its
        // parent when it is full, and so on up.
        loop {
            let Some((items, left)) = open.last_mut() else {
                return Ok(Step::Done(value, pos));
            };
            items.push(value);
            *left = left.saturating_sub(1);
            if *left > 0 {
                break;
            }
            value = Value::Array(std::mem::take(items));
            open.pop();
        }
    }
}

/// `a + b`, or TooLarge when a size a peer chose would overflow.
fn grow(a: usize, b: usize) -> Result<usize, RespError> {
    a.checked_add(b).ok_or(RespError::TooLarge)
}

/// The line starting at `from`: its bytes before CRLF and where the next
/// begins. `Ok(None)` while the CRLF has not arrived. The CRLF is only
/// looked for in the first `max_line + 2` bytes, so an endless line is
/// refused once that much is buffered, and a line is never scanned past it.
fn line_at(buf: &[u8], from: usize, max_line: usize) -> Result<Option<(&[u8], usize)>, RespError> {
    let rest = buf.get(from..).unwrap_or_default();
    let window_len = max_line.saturating_add(2);
    let window = rest.get(..window_len).unwrap_or(rest);
    match window.windows(2).position(|w| w == b"\r\n") {
        Some(i) => {
            let line = window.get(..i).unwrap_or_default();
            Ok(Some((line, grow(grow(from, i)?, 2)?)))
        }
        None if window.len() >= window_len => Err(RespError::LineTooLong),
        None => Ok(None),
    }
}

/// A bulk length or array count: `None` for -1, an error for other
/// negatives (BadLength) and for what is not a number (BadInteger).
fn length(line: &[u8]) -> Result<Option<usize>, RespError> {
    let n = parse_int(line).ok_or(RespError::BadInteger)?;
    if n == -1 {
        return Ok(None);
    }
    // Only negatives fail; on a 32-bit target a huge count is refused by
    // the limits check anyway, so saturate rather than fail.
    if n < 0 {
        return Err(RespError::BadLength);
    }
    Ok(Some(usize::try_from(n).unwrap_or(usize::MAX)))
}

/// `-?[0-9]+` as an i64, or None (no `+`, no spaces, no overflow; "-0" is 0).
fn parse_int(bytes: &[u8]) -> Option<i64> {
    let (negative, digits) = match bytes.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, bytes),
    };
    if digits.is_empty() {
        return None;
    }
    // Accumulated on the negative side so that i64::MIN fits.
    let mut n: i64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_sub(i64::from(d - b'0'))?;
    }
    if negative { Some(n) } else { n.checked_neg() }
}

#[path = "resp_reader.rs"]
mod reader;
pub use reader::RespReader;

/// Appends one command as a RESP array of bulk strings:
/// `*N\r\n$len\r\narg\r\n...`. Bulk strings are binary-safe, so any
/// argument (a room name, a message payload) goes as it is.
pub fn encode_command(out: &mut Vec<u8>, args: &[&[u8]]) {
    out.push(b'*');
    push_decimal(out, args.len());
    out.extend_from_slice(b"\r\n");
    for arg in args {
        out.push(b'$');
        push_decimal(out, arg.len());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
}

/// `n` in decimal, without a `format!` allocation per argument.
fn push_decimal(out: &mut Vec<u8>, mut n: usize) {
    let first = out.len();
    loop {
        out.push(b'0' + (n % 10) as u8);
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if let Some(digits) = out.get_mut(first..) {
        digits.reverse();
    }
}

#[cfg(test)]
#[path = "resp_tests.rs"]
mod tests;
