//! `--operator`: the console of the PHP `socket_select` tutorial, done
//! right. There, the server printed a client's message and then *waited on
//! stdin* for the reply, freezing every other client. Here stdin is read
//! by one small thread that hands whole lines to the poll loop through a
//! `mio::Waker`; the loop never blocks on the console.
//!
//! Why a thread rather than registering fd 0 with epoll: epoll refuses
//! regular files and `/dev/null` (EPERM), and making a terminal's fd 0
//! non-blocking changes the file description shared with the shell, which
//! would then see EAGAIN after we exit. A blocking reader thread works for
//! a terminal, a pipe, a file and `/dev/null` alike and changes nothing.

use std::io::BufRead;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

/// Whom a reply goes to.
#[derive(Debug, PartialEq, Eq)]
pub enum Target {
    Id(u64),
    Name(String),
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Id(id) => write!(f, "#{id}"),
            Target::Name(name) => write!(f, "named {name}"),
        }
    }
}

/// One console line, parsed.
#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    /// A plain line: to the client who spoke last.
    ReplyLast(String),
    /// `@3 text` or `@alice text`.
    ReplyTo(Target, String),
    /// `/list`
    List,
    /// `/kick 3 [reason]`
    Kick(u64, String),
    /// `/quit`
    Quit,
    /// `/help`
    Help,
    /// An empty line.
    Nothing,
}

pub const HELP: &str = "\
commands:
  text            reply to the client who spoke last
  @3 text         reply to client #3 (or @alice for a named chat client;
                  @alice@rust when alice is in several rooms)
  /list           list the connected clients
  /kick 3 [why]   close client #3 with 1000 and the reason
  /quit           close every client with 1001 and exit
  /help           this text";

/// Parses a console line. `Err` is a one-line message for the console.
pub fn parse(line: &str) -> Result<Command, String> {
    let line = line.trim_end_matches(['\r', '\n']);
    if line.trim().is_empty() {
        return Ok(Command::Nothing);
    }
    if let Some(rest) = line.strip_prefix('@') {
        let (who, text) = rest.split_once(' ').unwrap_or((rest, ""));
        if who.is_empty() {
            return Err("usage: @<id or name> text".into());
        }
        if text.is_empty() {
            return Err(format!("nothing to send to @{who}"));
        }
        let target = match who.parse() {
            Ok(id) => Target::Id(id),
            Err(_) => Target::Name(who.to_string()),
        };
        return Ok(Command::ReplyTo(target, text.to_string()));
    }
    if let Some(cmd) = line.strip_prefix('/') {
        let mut words = cmd.splitn(3, ' ');
        let name = words.next().unwrap_or("");
        return match name {
            "list" => Ok(Command::List),
            "quit" => Ok(Command::Quit),
            "help" => Ok(Command::Help),
            "kick" => {
                let id = words
                    .next()
                    .and_then(|w| w.trim_start_matches('#').parse().ok())
                    .ok_or("usage: /kick <id> [reason]")?;
                let reason = words.next().unwrap_or("").trim().to_string();
                Ok(Command::Kick(id, reason))
            }
            _ => Err(format!("unknown command /{name} (try /help)")),
        };
    }
    Ok(Command::ReplyLast(line.to_string()))
}

/// The longest console line kept; the rest of a longer line is dropped
/// (issue 13: one 400 MB line without a newline must not take 400 MB).
pub const MAX_LINE: usize = 64 * 1024;
/// Lines read but not yet taken by the loop (at most 256 × 64 KiB =
/// 16 MiB); past it the reader thread waits (only it, never the loop).
const QUEUED_LINES: usize = 256;

/// What the reader thread sends: a line, or the end of stdin.
pub enum Input {
    Line(String),
    Eof,
}

/// One line of at most `max` bytes from `reader`, without its newline.
/// A longer line is read to its end but not kept: `Err(n)` with its length.
/// `Ok(None)` is the end of input.
pub fn read_capped_line(
    reader: &mut impl BufRead,
    max: usize,
) -> std::io::Result<Option<Result<Vec<u8>, usize>>> {
    let mut line = Vec::new();
    let mut total = 0usize;
    loop {
        let chunk = match reader.fill_buf() {
            Ok(chunk) => chunk,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if chunk.is_empty() {
            return Ok(match total {
                0 => None,
                n if n > max => Some(Err(n)),
                _ => Some(Ok(line)),
            });
        }
        let (taken, done) = match chunk.iter().position(|&b| b == b'\n') {
            Some(i) => (i, true),
            None => (chunk.len(), false),
        };
        if total.saturating_add(taken) <= max {
            line.extend_from_slice(&chunk[..taken]);
        } else if !line.is_empty() {
            line = Vec::new(); // over the cap: stop keeping it
        }
        total = total.saturating_add(taken);
        reader.consume(taken + usize::from(done));
        if done {
            return Ok(Some(if total > max { Err(total) } else { Ok(line) }));
        }
    }
}

/// Starts the stdin reader thread; it wakes the poll loop per line.
pub fn spawn_stdin_reader(waker: Arc<mio::Waker>) -> std::io::Result<Receiver<Input>> {
    let (tx, rx): (SyncSender<Input>, Receiver<Input>) = sync_channel(QUEUED_LINES);
    std::thread::Builder::new()
        .name("stdin".into())
        .spawn(move || {
            let stdin = std::io::stdin();
            let mut lines = stdin.lock();
            loop {
                // Bytes, not read_line: a line that is not UTF-8 is shown
                // with replacement characters, not taken for the end.
                let input = match read_capped_line(&mut lines, MAX_LINE) {
                    Ok(None) | Err(_) => Input::Eof,
                    Ok(Some(Ok(line))) => Input::Line(String::from_utf8_lossy(&line).into_owned()),
                    Ok(Some(Err(len))) => {
                        // Said here, on this thread: the loop never sees it.
                        crate::output::console_line(format!(
                            "error: console line of {len} bytes dropped (limit {MAX_LINE})"
                        ));
                        continue;
                    }
                };
                let eof = matches!(input, Input::Eof);
                if tx.send(input).is_err() || waker.wake().is_err() || eof {
                    return;
                }
            }
        })?;
    Ok(rx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_console_line_over_the_cap_is_dropped_whole_and_reading_goes_on() {
        let mut input = Vec::new();
        input.extend_from_slice(b"short\n");
        input.extend(std::iter::repeat_n(b'x', 10_000));
        input.extend_from_slice(b"\nnext\nlast");
        // A tiny buffer: the long line arrives in many pieces.
        let mut reader = std::io::BufReader::with_capacity(7, &input[..]);
        let mut got = Vec::new();
        while let Some(line) = read_capped_line(&mut reader, 100).unwrap() {
            got.push(line);
        }
        assert_eq!(
            got,
            vec![
                Ok(b"short".to_vec()),
                Err(10_000),
                Ok(b"next".to_vec()),
                Ok(b"last".to_vec())
            ]
        );
        // Exactly at the cap is kept.
        let exact = [b"a".repeat(100), b"\n".to_vec()].concat();
        let mut reader = &exact[..];
        assert_eq!(
            read_capped_line(&mut reader, 100).unwrap(),
            Some(Ok(b"a".repeat(100)))
        );
    }

    #[test]
    fn console_lines() {
        assert_eq!(
            parse("hello there\n"),
            Ok(Command::ReplyLast("hello there".into()))
        );
        assert_eq!(
            parse("@3 hi"),
            Ok(Command::ReplyTo(Target::Id(3), "hi".into()))
        );
        assert_eq!(
            parse("@alice hi you"),
            Ok(Command::ReplyTo(
                Target::Name("alice".into()),
                "hi you".into()
            ))
        );
        assert_eq!(parse("/list"), Ok(Command::List));
        assert_eq!(
            parse("/kick 4 too loud"),
            Ok(Command::Kick(4, "too loud".into()))
        );
        assert_eq!(parse("/kick 4"), Ok(Command::Kick(4, String::new())));
        assert_eq!(parse("/quit"), Ok(Command::Quit));
        assert_eq!(parse("   "), Ok(Command::Nothing));
        assert!(parse("/kick").is_err());
        assert!(parse("/kick x").is_err());
        assert!(parse("/frobnicate").is_err());
        assert!(parse("@3").is_err());
        assert!(parse("@ hi").is_err());
    }
}
