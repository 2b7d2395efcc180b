//! Deadlines and endings: timers that fire (handshake, close reply,
//! linger, idle pings, `/guest` pushes, accept back-off) and the graceful
//! shutdown that SIGINT, SIGTERM or `/quit` start.

use log::info;

use super::Server;
use crate::app::AppEvent;
use crate::connection::Phase;
use crate::error::close_code;
use crate::timers::TimerKind;

impl Server {
    pub(super) fn fire_timers(&mut self) {
        let now = self.shared.now;
        while let Some(timer) = self.shared.timers.pop_due(now) {
            match timer.kind {
                TimerKind::AcceptRetry => {
                    self.accepting = self.listening;
                    self.accept();
                }
                TimerKind::Shutdown => {
                    // The grace period is over: no more connections, and
                    // whoever is still here is cut.
                    self.listening = false;
                    self.accepting = false;
                    let _ = self.poll.registry().deregister(&mut self.listener);
                    let keys: Vec<usize> = self.clients.iter().map(|(k, _)| k).collect();
                    for key in keys {
                        self.remove(key);
                    }
                }
                _ => self.connection_timer(timer.key as usize, timer.conn_id, timer.kind),
            }
        }
    }

    fn connection_timer(&mut self, key: usize, id: u64, kind: TimerKind) {
        let Some(client) = self.clients.get_mut(key) else {
            return;
        };
        let conn = &mut client.conn;
        if conn.id != id {
            return;
        }
        let idle_first = self.shared.config.idle_timeout < self.shared.config.handshake_timeout;
        let (mut env, mut router) = self.shared.split(&mut client.route);
        // Timers are never cancelled; each checks that the phase it was set
        // for is still the connection's phase.
        match (kind, conn.phase) {
            (TimerKind::Handshake, Phase::Handshaking) => {
                info!("#{} {} handshake timeout", conn.id, conn.peer);
                return self.remove(key);
            }
            (TimerKind::CloseReply, Phase::Closing) => {
                info!("#{} no close reply in time", conn.id);
                return self.remove(key);
            }
            (TimerKind::Linger, Phase::Finishing) => return self.remove(key),
            // The handshake timer doubles as the first idle check, unless the
            // idle timeout is the shorter one: then its own timer runs.
            (TimerKind::Handshake, Phase::Open) if idle_first => return,
            (TimerKind::Handshake | TimerKind::Idle, Phase::Open) => {
                conn.on_idle_check(key, &mut env, &mut router);
            }
            (TimerKind::Progress, Phase::Open | Phase::Closing) => {
                conn.on_progress_check(key, &mut env, &mut router);
            }
            (TimerKind::Route, Phase::Open) => {
                conn.dispatch(key, AppEvent::Timer, &mut env, &mut router);
                if conn.wants_close() {
                    self.closing.push(key);
                }
            }
            _ => return,
        }
        self.mark_dirty(key);
    }

    pub(super) fn on_signals(&mut self) {
        let got: Vec<i32> = self.signals.pending().collect();
        if !got.is_empty() {
            info!("signal received: closing every client with 1001");
            self.begin_shutdown();
        }
    }

    /// Graceful shutdown: send 1001 to everyone, wait at most
    /// --close-timeout for their replies. Meanwhile new connections are
    /// still answered — `/healthz` with 503, so that a load balancer stops
    /// sending clients here, and an upgrade with 503 (the routes refuse
    /// it) — until the clients are gone or the time is up.
    pub(super) fn begin_shutdown(&mut self) {
        if self.shutting_down {
            return;
        }
        self.shutting_down = true;
        self.shared.routes.shutting_down = true;
        let keys: Vec<usize> = self.clients.iter().map(|(k, _)| k).collect();
        for key in keys {
            if let Some(client) = self.clients.get_mut(key) {
                let (mut env, mut router) = self.shared.split(&mut client.route);
                let reason = "server shutting down";
                let code = close_code::GOING_AWAY;
                client
                    .conn
                    .start_close(key, code, reason, &mut env, &mut router);
            }
            self.mark_dirty(key);
        }
        let at = self.shared.now + self.shared.config.close_timeout;
        self.shared.timers.schedule(at, TimerKind::Shutdown, 0, 0);
    }
}
