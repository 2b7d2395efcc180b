//! The opening handshake, server side (§4): collect the request head, answer
//! it with the page, a refusal or `101 Switching Protocols`, and tell the
//! app the connection is open.

use log::{debug, info};

use super::{Connection, Env, Phase};
use crate::app::{App, AppEvent, Opened, printable};
use crate::deflate::{Mode, negotiate};
use crate::error::HandshakeError;
use crate::handshake::{self, MAX_HEAD_LEN, Request};
use crate::http;
use crate::timers::TimerKind;

impl Connection {
    /// Collects the request head (it may come a byte at a time, or glued to
    /// the first frame) and answers it once complete.
    pub(super) fn on_handshake_bytes(
        &mut self,
        key: usize,
        data: &mut [u8],
        env: &mut Env,
        app: &mut impl App,
    ) {
        if self.head.is_none() {
            // The usual case: the whole head in one read, parsed in place.
            if let Some(end) = handshake::find_head_end(data, 0) {
                let (head, rest) = data.split_at_mut(end);
                self.on_request_head(key, head, env, app);
                if !rest.is_empty() && self.phase.reads_frames() {
                    self.on_frame_bytes(key, rest, env, app);
                }
                return;
            }
        }
        // A head in pieces is gathered in a box of its own (an open
        // connection pays 8 bytes for the field, not a whole Vec).
        let mut head = self.head.take().unwrap_or_default();
        let searched = head.len();
        head.extend_from_slice(data);
        match handshake::find_head_end(&head, searched) {
            Some(end) => {
                let mut rest = head.split_off(end);
                self.on_request_head(key, &head, env, app);
                if !rest.is_empty() && self.phase.reads_frames() {
                    self.on_frame_bytes(key, &mut rest, env, app);
                }
            }
            None if head.len() > MAX_HEAD_LEN => {
                self.refuse(key, &HandshakeError::HeadTooLarge, env);
            }
            None => self.head = Some(head),
        }
    }

    /// Answers a complete request head: the page, a refusal, or `101`.
    fn on_request_head(&mut self, key: usize, head: &[u8], env: &mut Env, app: &mut impl App) {
        if head.len() > MAX_HEAD_LEN {
            return self.refuse(key, &HandshakeError::HeadTooLarge, env);
        }
        let req = match Request::parse(head) {
            Ok(req) => req,
            Err(e) => return self.refuse(key, &e, env),
        };
        if !req.wants_upgrade() {
            return self.serve_http(key, &req, env, app);
        }
        if let Err(e) = self.upgrade(key, &req, head, env, app) {
            self.refuse(key, &e, env);
        }
    }

    /// A plain GET: the web page and its assets (never a path built from
    /// the request — only the fixed list in `http`), else whatever the app
    /// answers for the path (`/healthz`, `/metrics`), else 404.
    fn serve_http(&mut self, key: usize, req: &Request, env: &mut Env, app: &mut impl App) {
        if req.method != "GET" && req.method != "HEAD" {
            return self.refuse(key, &HandshakeError::MethodNotAllowed, env);
        }
        let (out, head_only) = (&mut self.out, req.method == "HEAD");
        let status = match http::static_file(req.path()) {
            Some((content_type, body)) => {
                http::write_response(out, 200, content_type, body, head_only)
            }
            None => match app.http_get(req.path(), env.now) {
                Some(answer) => http::write_response(
                    out,
                    answer.status,
                    answer.content_type,
                    &answer.body,
                    head_only,
                ),
                None => http::write_not_found(out, head_only),
            },
        };
        info!(
            "#{} {} {} {} {}",
            self.id,
            self.peer,
            printable(req.method),
            printable(req.target),
            status
        );
        self.finish(key, env);
    }

    /// The opening handshake, server side (§4.2.1, §4.2.2).
    fn upgrade(
        &mut self,
        key: usize,
        req: &Request,
        head: &[u8],
        env: &mut Env,
        app: &mut impl App,
    ) -> Result<(), HandshakeError> {
        let upgrade = handshake::validate_upgrade(req)?;
        if !env.config.allow_origins.is_empty() {
            // §10.2: a browser always sends Origin; refusing unknown ones
            // stops other sites from using a visitor's browser against us.
            let allowed = upgrade
                .origin
                .is_some_and(|o| env.config.allow_origins.iter().any(|a| a == o));
            if !allowed {
                return Err(HandshakeError::ForbiddenOrigin);
            }
        }
        let protocol = app.accept(req.path(), &upgrade.protocols)?;
        let extension = self.negotiate_deflate(req, env)?;
        if protocol.is_none() && !upgrade.protocols.is_empty() {
            debug!(
                "#{} offered subprotocols {:?}; none selected",
                self.id, upgrade.protocols
            );
        }
        let accept = handshake::accept_key(upgrade.key);
        debug!(
            "#{} handshake: {} {} key={} accept={}",
            self.id,
            req.method,
            printable(req.target),
            printable(upgrade.key),
            accept
        );
        self.out.append(|buf| {
            handshake::write_switching_protocols(buf, &accept, protocol, extension.as_deref())
        });
        self.phase = Phase::Open;
        info!("#{} connected from {} ({})", self.id, self.peer, req.path());
        // The handshake timer turns into the idle check when it fires; only
        // an idle timeout shorter than the handshake's needs its own timer.
        if env.config.idle_timeout < env.config.handshake_timeout {
            let at = env.now + env.config.idle_timeout;
            env.timers.schedule(at, TimerKind::Idle, key, self.id);
        }
        let opened = Opened {
            path: req.path(),
            protocol,
            head,
            ws_key: upgrade.key,
            extensions: extension.as_deref(),
        };
        self.dispatch(key, AppEvent::Opened(opened), env, app);
        Ok(())
    }

    /// permessage-deflate (RFC 7692 §5): the answer for the 101, if an offer
    /// is accepted; what was agreed is kept in `self.deflate`. A header
    /// that does not parse is a 400.
    fn negotiate_deflate(
        &mut self,
        req: &Request,
        env: &Env,
    ) -> Result<Option<String>, HandshakeError> {
        let settings = &env.config;
        let offers: Vec<&str> = req.header_values("sec-websocket-extensions").collect();
        if offers.is_empty() || settings.deflate == Mode::Off {
            return Ok(None);
        }
        let header = offers.join(", ");
        let agreed = negotiate::negotiate(&header, settings.deflate, settings.deflate_window)
            .map_err(|negotiate::BadHeader(why)| HandshakeError::BadRequest(why))?;
        let user_agent = req.single_header("user-agent").ok().flatten().unwrap_or("");
        let agreed = match agreed {
            // Safari 15.0–15.3 ignore client_no_context_takeover.
            Some(_)
                if settings.deflate == Mode::Shared && negotiate::is_broken_safari(user_agent) =>
            {
                debug!(
                    "#{} deflate declined for {}",
                    self.id,
                    printable(user_agent)
                );
                None
            }
            agreed => agreed,
        };
        debug!(
            "#{} deflate offer {:?} → answer {:?}",
            self.id,
            printable(&header),
            agreed.as_ref().map(|(_, answer)| answer)
        );
        Ok(agreed.map(|(agreed, answer)| {
            self.deflate = Some(agreed);
            answer
        }))
    }

    /// Answers a request that will not become a WebSocket, then closes.
    pub fn refuse(&mut self, key: usize, err: &HandshakeError, env: &mut Env) {
        info!("#{} {} refused: {}", self.id, self.peer, err);
        self.out
            .append(|buf| handshake::write_error_response(buf, err));
        self.finish(key, env);
    }
}
