//! The operator console (`--operator`): lines from the stdin reader
//! thread, run as commands against the connection table. See
//! [`crate::operator`] for the parser and why stdin has a thread.

use serde_json::json;

use super::Server;
use crate::connection::Phase;
use crate::error::close_code;
use crate::frame::Opcode;
use crate::operator::{self, Command, Input, Target};
use crate::routes::{self, Route};

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

    /// The chat client a console command means, or the `error:` line that
    /// says why there is none.
    fn find_client(&self, target: &Target) -> Result<usize, String> {
        // Open only: a client in Closing has been sent its close frame and
        // may get no data after it (§5.5.1).
        let open_chat = |key: usize| {
            self.clients.get(key).is_some_and(|c| {
                c.conn.phase == Phase::Open && matches!(c.route, Route::Chat { .. })
            })
        };
        match target {
            Target::Id(id) => self
                .clients
                .iter()
                .find(|(k, c)| c.conn.id == *id && open_chat(*k))
                .map(|(k, _)| k)
                .ok_or_else(|| format!("no chat client {target}")),
            Target::Name(wanted) => {
                // `alice@rust` names the room; plain `alice` must be unique.
                let (name, room) = match wanted.rsplit_once('@') {
                    Some((name, room)) if routes::valid_room_name(room) => (name, Some(room)),
                    _ => (wanted.as_str(), None),
                };
                let found: Vec<(usize, &str)> = self
                    .shared
                    .routes
                    .rooms
                    .iter()
                    .filter(|r| room.is_none_or(|want| r.name == want))
                    .filter_map(|r| Some((r.find_by_name(name)?.key, r.name.as_str())))
                    .filter(|(k, _)| open_chat(*k))
                    .collect();
                match found.as_slice() {
                    [] => Err(format!("no chat client {target}")),
                    [(key, _)] => Ok(*key),
                    many => {
                        let rooms: Vec<String> =
                            many.iter().map(|(_, r)| format!("@{name}@{r}")).collect();
                        Err(format!(
                            "{name} is in several rooms; say {}",
                            rooms.join(" or ")
                        ))
                    }
                }
            }
        }
    }

    fn reply_to(&mut self, target: &Target, text: &str) {
        let key = match self.find_client(target) {
            Ok(key) => key,
            Err(why) => return say!("error: {why}"),
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
