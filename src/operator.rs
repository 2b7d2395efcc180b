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
use std::sync::mpsc::{Receiver, Sender, channel};

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
  @3 text         reply to client #3 (or @alice for a named chat client)
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

/// What the reader thread sends: a line, or the end of stdin.
pub enum Input {
    Line(String),
    Eof,
}

/// Starts the stdin reader thread; it wakes the poll loop per line.
pub fn spawn_stdin_reader(waker: Arc<mio::Waker>) -> std::io::Result<Receiver<Input>> {
    let (tx, rx): (Sender<Input>, Receiver<Input>) = channel();
    std::thread::Builder::new()
        .name("stdin".into())
        .spawn(move || {
            let stdin = std::io::stdin();
            let mut lines = stdin.lock();
            loop {
                // Bytes, not read_line: a line that is not UTF-8 is shown
                // with replacement characters, not taken for the end.
                let mut line = Vec::new();
                let input = match lines.read_until(b'\n', &mut line) {
                    Ok(0) | Err(_) => Input::Eof,
                    Ok(_) => Input::Line(String::from_utf8_lossy(&line).into_owned()),
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
