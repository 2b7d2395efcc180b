//! What a connection does with each event its reader hands out: the
//! protocol's own answers (pong, close), and data messages passed to the
//! app through a [`Handle`].

use log::{debug, trace};

use super::{Connection, Env, Phase};
use crate::app::{self, App, AppEvent, Handle};
use crate::error::{ProtocolError, close_code};
use crate::frame::Opcode;
use crate::message::{Event, EventSink, Flow};

impl Connection {
    #[inline(always)]
    pub(super) fn on_event(
        &mut self,
        key: usize,
        event: Event<'_>,
        env: &mut Env,
        app: &mut impl App,
    ) -> Flow {
        match event {
            Event::Frame { header, payload } => {
                trace!(
                    "< #{} {} {} masked len={} {}",
                    self.id,
                    if header.fin { "FIN" } else { "---" },
                    header.opcode.name(),
                    header.payload_len,
                    app::first_bytes(payload)
                );
                // §5.5.1: nothing but the close may follow our close frame.
                if self.report_frames && self.phase == Phase::Open {
                    let event = AppEvent::Frame {
                        header: &header,
                        payload,
                    };
                    self.dispatch(key, event, env, app);
                }
            }
            Event::Message { opcode, payload } => {
                // §7.1.2: after sending a close, data is no longer processed
                // (nor once the route asked to close).
                if self.phase == Phase::Open && self.close_request.is_none() {
                    self.dispatch(key, AppEvent::Message { opcode, payload }, env, app);
                }
            }
            Event::Ping(payload) => {
                // §5.5.2: answer with a pong carrying the same payload — also
                // after our close, until the peer's close arrives (§5.5.1
                // forbids only data frames after a close).
                if self.phase.reads_frames() {
                    self.send(Opcode::Pong, payload);
                }
            }
            Event::Pong(payload) => {
                // §5.5.3: an unsolicited pong needs no answer.
                let _ = payload;
                self.ping_sent = false;
            }
            Event::Close { code, reason } => {
                debug!("#{} close received: {:?} {:?}", self.id, code, reason);
                if self.phase == Phase::Open {
                    // §5.5.1: answer with a close, echoing the status code.
                    let reply = code.map_or(Vec::new(), |c| c.to_be_bytes().to_vec());
                    self.send(Opcode::Close, &reply);
                }
                let code = code.unwrap_or(close_code::NO_STATUS);
                self.close_code = Some(code);
                self.leave(key, code, false, env, app);
                self.finish(key, env);
                return Flow::Stop;
            }
        }
        if self.phase == Phase::Finishing {
            return Flow::Stop;
        }
        // Replies are bounded while they are made, not only when a write
        // would block: one read of small requests (64 KiB of `who`, say)
        // must not queue an unbounded answer.
        if self.out.len() > env.config.backlog_limit() {
            self.fail(key, &ProtocolError::OutputBacklog(self.out.len()), env, app);
            return Flow::Stop;
        }
        Flow::Continue
    }

    /// Hands an event to the app with a handle on this connection. (Written
    /// out rather than through [`Connection::act`]: this is every message's
    /// path, and the compiler left `act`'s closure as a call of its own —
    /// seen in callgrind as `dispatch::{{closure}}`, once per message.)
    #[inline(always)]
    pub fn dispatch(&mut self, key: usize, event: AppEvent<'_>, env: &mut Env, app: &mut impl App) {
        app.on_event(&mut self.handle(key, env), event);
    }

    /// Runs `f` with a handle on this connection — for news that is not a
    /// protocol event (a file the upload worker saved).
    pub fn act<A: App>(
        &mut self,
        key: usize,
        env: &mut Env,
        app: &mut A,
        f: impl FnOnce(&mut A, &mut Handle<'_>),
    ) {
        f(app, &mut self.handle(key, env));
    }

    /// The narrow handle a route acts through: this connection, its timers
    /// and the time, nothing of the loop.
    #[inline(always)]
    fn handle<'a>(&'a mut self, key: usize, env: &'a mut Env) -> Handle<'a> {
        let deflate_min = env.config.deflate_min;
        Handle::new(key, self, env.timers, env.now, deflate_min)
    }

    /// Keeps the first close a route asked for while open; the server
    /// carries it out once the round is delivered.
    pub(crate) fn request_close(&mut self, code: u16, reason: &str) {
        if self.close_request.is_none() && self.phase == Phase::Open {
            self.close_request = Some(Box::new((code, reason.to_string())));
        }
    }
}

/// The reader's events, handled by the connection: a struct rather than a
/// closure so that the handler can be marked `#[inline(always)]` (a closure
/// cannot be). Passed as a closure, the handler stayed a call of its own per
/// message (callgrind: `on_frame_bytes::{{closure}}`, ~50 instructions of
/// calls and moves each time).
pub(super) struct Dispatcher<'c, 'e, 'x, A> {
    pub(super) conn: &'c mut Connection,
    pub(super) key: usize,
    pub(super) env: &'e mut Env<'x>,
    pub(super) app: &'e mut A,
}

impl<A: App> EventSink for Dispatcher<'_, '_, '_, A> {
    #[inline(always)]
    fn event(&mut self, event: Event<'_>) -> Flow {
        self.conn.on_event(self.key, event, self.env, self.app)
    }
}
