//! The operator console (`--operator`): lines from the stdin reader
//! thread, run as commands against the connection table. See
//! [`crate::operator`] for the parser and why stdin has a thread.

use serde_json::json;

use super::Server;
use crate::connection::Phase;
use crate::error::close_code;
use crate::frame::Opcode;
use crate::operator::{self, Command, Input, Target};
use crate::routes::Route;

/// Queues a console line for the output writer thread ([`crate::output`]):
/// the loop never waits on a stdout nobody reads (`wsloop --operator |
/// sleep 1000`), and a closed stdout cannot panic it either.
macro_rules! say {
    ($($arg:tt)*) => {{
        let _ = crate::output::console_line(format!($($arg)*));
    }};
}

impl Server {
    pub(super) fn on_console(&mut self) {
        let Some(console) = &self.console else {
            return;
        };
        let inputs: Vec<Input> = console.try_iter().collect();
        for input in inputs {
            match input {
                Input::Line(line) => self.console_line(&line),
                Input::Eof => {
                    say!("console: stdin closed; still serving clients");
                    self.console = None;
                }
            }
        }
    }

    fn console_line(&mut self, line: &str) {
        let command = match operator::parse(line) {
            Ok(command) => command,
            Err(e) => return say!("error: {e}"),
        };
        match command {
            Command::Nothing => {}
            Command::Help => say!("{}", operator::HELP),
            Command::Quit => {
                say!("closing every client and exiting");
                self.begin_shutdown();
            }
            Command::List => {
                if self.clients.is_empty() {
                    say!("no clients");
                }
                for (_, c) in &self.clients {
                    let conn = &c.conn;
                    let route = match c.route {
                        Route::Chat { room, .. } => self
                            .shared
                            .routes
                            .rooms
                            .get(room as usize)
                            .map_or("chat".into(), |r| format!("chat/{}", r.name)),
                        other => format!("{other:?}").to_lowercase(),
                    };
                    let uptime = self.shared.now.duration_since(self.started).as_secs() as u32;
                    let secs = uptime.saturating_sub(conn.connected_secs);
                    say!(
                        "#{} {} {} connected {}s ({:?})",
                        conn.id,
                        conn.peer,
                        route,
                        secs,
                        conn.phase
                    );
                }
            }
            Command::Kick(id, reason) => match self
                .clients
                .iter()
                .find(|(_, c)| c.conn.id == id && c.conn.phase == Phase::Open)
                .map(|(k, _)| k)
            {
                Some(key) => {
                    if let Some(client) = self.clients.get_mut(key) {
                        let (mut env, mut router) = self.shared.split(&mut client.route);
                        let code = close_code::NORMAL;
                        client
                            .conn
                            .start_close(key, code, &reason, &mut env, &mut router);
                    }
                    self.mark_dirty(key);
                    say!("kicked #{id}");
                }
                None => say!("error: no client #{id}"),
            },
            Command::ReplyLast(text) => match self.shared.routes.last_speaker {
                Some(id) => self.reply_to(&Target::Id(id), &text),
                None => say!("error: nobody has spoken yet; use @<id> text"),
            },
            Command::ReplyTo(target, text) => self.reply_to(&target, &text),
        }
    }

    fn find_client(&self, target: &Target) -> Option<usize> {
        match target {
            Target::Id(id) => self
                .clients
                .iter()
                // The console talks to chat clients only.
                .find(|(_, c)| {
                    c.conn.id == *id
                        && c.conn.phase == Phase::Open
                        && matches!(c.route, Route::Chat { .. })
                })
                .map(|(k, _)| k),
            // Open only, as for an id: a client in Closing has been sent
            // its close frame and may get no data after it (§5.5.1).
            Target::Name(name) => self.clients.iter().find_map(|(k, c)| match c.route {
                Route::Chat { room, .. } if c.conn.phase == Phase::Open => self
                    .shared
                    .routes
                    .rooms
                    .get(room as usize)?
                    .members
                    .iter()
                    .any(|m| m.key == k && m.name.as_deref() == Some(name))
                    .then_some(k),
                _ => None,
            }),
        }
    }

    fn reply_to(&mut self, target: &Target, text: &str) {
        let Some(key) = self.find_client(target) else {
            return say!("error: no chat client {target}");
        };
        let Some(client) = self.clients.get_mut(key) else {
            return;
        };
        let v1 = matches!(client.route, Route::Chat { v1: true, .. });
        if v1 {
            let event = json!({"type": "message", "seq": 0, "from": "operator", "text": text,
                               "time": self.shared.routes.clock.hms(), "private": true});
            client.conn.send(Opcode::Text, event.to_string().as_bytes());
        } else {
            client.conn.send(Opcode::Text, text.as_bytes());
        }
        self.mark_dirty(key);
    }
}
