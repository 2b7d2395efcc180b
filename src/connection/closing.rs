//! Endings and deadlines (§7): failing the connection (§7.1.7), the
//! server's own close and its wait for the answer (§7.1.2), the idle ping
//! (§5.5.2), the message-progress deadline, and the last flush before TCP
//! closes (§7.1.1).

use log::info;

use super::{Connection, Env, Phase};
use crate::app::{App, AppEvent};
use crate::config::MIN_PROGRESS;
use crate::error::{ProtocolError, close_code};
use crate::frame::{self, Opcode};
use crate::timers::TimerKind;

impl Connection {
    /// Every --message-timeout while a message is in progress: it must have
    /// grown by [`MIN_PROGRESS`] since the last check, or it is dropped
    /// (1008) — a trickle of a byte per idle period would otherwise hold up
    /// to --max-message forever.
    pub fn on_progress_check(&mut self, key: usize, env: &mut Env, app: &mut impl App) {
        if self.reader.is_none() || !self.phase.reads_frames() {
            return;
        }
        if (self.partial_progress as usize) < MIN_PROGRESS {
            return self.fail(key, &ProtocolError::MessageStalled, env, app);
        }
        self.partial_progress = 0;
        let at = env.now + env.config.message_timeout;
        env.timers.schedule(at, TimerKind::Progress, key, self.id);
    }

    /// _Fail the WebSocket Connection_ (§7.1.7): send the close code and
    /// stop, without waiting for the peer's reply.
    pub fn fail(&mut self, key: usize, err: &ProtocolError, env: &mut Env, app: &mut impl App) {
        let code = err.close_code();
        info!(
            "#{} protocol error: {} → close {} ({})",
            self.id,
            err,
            code,
            close_code::meaning(code)
        );
        if self.phase == Phase::Open {
            let reason = err.to_string();
            self.out
                .append(|buf| frame::encode_close(buf, code, &reason));
        }
        self.close_code = Some(code);
        self.leave(key, code, close_code::is_limit(code), env, app);
        self.finish(key, env);
    }

    /// Starts a normal close from the server side (kick, shutdown, idle):
    /// send the close and wait, bounded by --close-timeout, for the reply.
    pub fn start_close(
        &mut self,
        key: usize,
        code: u16,
        reason: &str,
        env: &mut Env,
        app: &mut impl App,
    ) {
        match self.phase {
            Phase::Open => {
                self.out
                    .append(|buf| frame::encode_close(buf, code, reason));
                self.close_code = Some(code);
                self.leave(key, code, close_code::is_limit(code), env, app);
                let at = env.now + env.config.close_timeout;
                env.timers.schedule(at, TimerKind::CloseReply, key, self.id);
            }
            Phase::Handshaking => self.finish(key, env),
            Phase::Closing | Phase::Finishing => {}
        }
    }

    /// Tells the app, once, that this connection no longer takes part;
    /// `dropped`: the server ends it for a limit or a policy.
    pub(super) fn leave(
        &mut self,
        key: usize,
        code: u16,
        dropped: bool,
        env: &mut Env,
        app: &mut impl App,
    ) {
        if self.phase == Phase::Open {
            // Leaving Open first: the handle sends nothing from here on.
            self.phase = Phase::Closing;
            self.dispatch(key, AppEvent::Closed { code, dropped }, env, app);
        }
    }

    /// The idle check (every --idle-timeout while open): a client that said
    /// nothing since the last check gets a ping (§5.5.2); one that did not
    /// answer it either is closed with 1001.
    pub fn on_idle_check(&mut self, key: usize, env: &mut Env, app: &mut impl App) {
        if self.flushes == 0 {
            // Nothing written since the last check: not busy.
            self.out.release();
            // Our deflate history may always be forgotten (context.rs); the
            // client's may not: its next message may refer back into it.
            if let Some(context) = self.deflate_context.as_deref_mut() {
                context.sent = Vec::new();
            }
        }
        self.flushes = 0;
        if self.seen {
            // Talked since the last check: alive, nothing to do.
            self.seen = false;
            self.ping_sent = false;
        } else if !self.ping_sent {
            self.send(Opcode::Ping, b"wsloop");
            self.ping_sent = true;
        } else {
            info!("#{} silent and no pong: dropped", self.id);
            let code = close_code::GOING_AWAY;
            self.out
                .append(|buf| frame::encode_close(buf, code, "idle timeout"));
            self.close_code = Some(code);
            self.leave(key, code, true, env, app);
            self.finish(key, env);
        }
        if self.phase == Phase::Open {
            let at = env.now + env.config.idle_timeout;
            env.timers.schedule(at, TimerKind::Idle, key, self.id);
        }
    }

    /// Nothing more will be sent: after the flush, the server shuts down the
    /// write side and lingers a moment so the peer reads our last bytes
    /// instead of a reset.
    pub fn finish(&mut self, key: usize, env: &mut Env) {
        if self.phase != Phase::Finishing {
            self.phase = Phase::Finishing;
            self.reader = None;
            self.head = None;
            // Bounds the flush and the linger together.
            let at = env.now + env.config.close_timeout;
            env.timers.schedule(at, TimerKind::Linger, key, self.id);
        }
    }
}
