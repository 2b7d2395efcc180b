//! Negotiating permessage-deflate (RFC 7692 §5, §7.1): a pure parser of the
//! client's `Sec-WebSocket-Extensions` offers and the server's answer.
//!
//! The header is a comma-separated list of extensions, each with
//! `;`-separated parameters whose values may be tokens or quoted strings
//! (RFC 6455 §9.1). Offers are tried in order; the first one the server
//! can honour is answered with exactly one `permessage-deflate`.

/// Which deflate the server runs (`--deflate`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// One loop-wide compressor/decompressor, reset after each message:
    /// answers with both `no_context_takeover` parameters.
    Shared,
    /// Context takeover where the client allows it, window `--deflate-window`.
    Dedicated,
    /// Decline every offer.
    Off,
}

/// What was agreed, for the codec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Agreed {
    /// The server's compressor may not keep its window between messages.
    pub server_no_context_takeover: bool,
    /// The client resets its compressor after each message.
    pub client_no_context_takeover: bool,
    /// LZ77 window of the server's compressor (8..=15; 8 is never chosen).
    pub server_window_bits: u8,
    /// LZ77 window the client compresses with (what we inflate with).
    pub client_window_bits: u8,
}

impl Agreed {
    /// The answer's extension string for the 101 (§7.1).
    pub fn answer(&self, offered_client_bits: bool) -> String {
        let mut s = String::from("permessage-deflate");
        if self.server_no_context_takeover {
            s.push_str("; server_no_context_takeover");
        }
        if self.client_no_context_takeover {
            s.push_str("; client_no_context_takeover");
        }
        if self.server_window_bits < 15 {
            s.push_str(&format!(
                "; server_max_window_bits={}",
                self.server_window_bits
            ));
        }
        // §7.1.2.2: only when the client offered client_max_window_bits.
        if offered_client_bits && self.client_window_bits < 15 {
            s.push_str(&format!(
                "; client_max_window_bits={}",
                self.client_window_bits
            ));
        }
        s
    }
}

/// The header could not be parsed at all: a `400` with this reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadHeader(pub &'static str);

/// One parsed `permessage-deflate` offer (§7.1).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Offer {
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    server_max_window_bits: Option<u8>,
    /// `Some(None)`: offered without a value (§7.1.2.2).
    client_max_window_bits: Option<Option<u8>>,
}

/// Answers the `Sec-WebSocket-Extensions` header values (several header
/// lines are joined by the caller with `,`). `Ok(None)`: deflate declined
/// (no acceptable offer, or mode off). `window` is `--deflate-window`.
pub fn negotiate(
    header: &str,
    mode: Mode,
    window: u8,
) -> Result<Option<(Agreed, String)>, BadHeader> {
    if mode == Mode::Off {
        return Ok(None); // declined without a look, as before #11
    }
    let extensions = parse_list(header)?;
    for (name, params) in extensions {
        // Other extensions are ignored, not answered (RFC 6455 §9.1).
        if !name.eq_ignore_ascii_case("permessage-deflate") {
            continue;
        }
        let Some(offer) = parse_offer(&params) else {
            continue; // §7.1: decline this offer, try the next.
        };
        if let Some(agreed) = accept(&offer, mode, window) {
            let answer = agreed.answer(offer.client_max_window_bits.is_some());
            return Ok(Some((agreed, answer)));
        }
    }
    Ok(None)
}

/// Decides what to agree for one valid offer, or `None` to decline it.
fn accept(offer: &Offer, mode: Mode, window: u8) -> Option<Agreed> {
    let shared = mode == Mode::Shared;
    // §7.1.2.1: our window is at most what the client offered. zlib refuses
    // a raw deflate with an 8-bit window: decline an offer that needs one.
    let ours = if shared { 15 } else { window };
    let server_window_bits = offer.server_max_window_bits.map_or(ours, |b| b.min(ours));
    if server_window_bits < 9 {
        return None;
    }
    // §7.1.2.2: we may limit the client's window only if it offered the
    // parameter; it may not be 8 either (we inflate with zlib).
    let client_window_bits = match offer.client_max_window_bits {
        Some(Some(b)) if b < 9 => return None,
        Some(Some(b)) if shared => b,
        Some(Some(b)) => b.min(window),
        Some(None) if shared => 15,
        Some(None) => window,
        None => 15,
    };
    // The client's history is kept per connection (dedicated mode): a
    // client that cannot be held to `--deflate-window` (it did not offer
    // client_max_window_bits, so it may use 32 KiB) is asked to reset its
    // compressor after each message instead (§7.1.1.2).
    let unbounded_client = client_window_bits > window;
    Some(Agreed {
        // §7.1.1: the server may add both on its own.
        server_no_context_takeover: shared || offer.server_no_context_takeover,
        client_no_context_takeover: shared || offer.client_no_context_takeover || unbounded_client,
        server_window_bits,
        client_window_bits,
    })
}

/// §7.1: an unknown parameter, a duplicate, or a bad value declines the offer.
fn parse_offer(params: &[(String, Option<String>)]) -> Option<Offer> {
    let mut offer = Offer::default();
    for (name, value) in params {
        match name.to_ascii_lowercase().as_str() {
            "server_no_context_takeover" if !offer.server_no_context_takeover => {
                if value.is_some() {
                    return None; // §7.1.1.1: no value.
                }
                offer.server_no_context_takeover = true;
            }
            "client_no_context_takeover" if !offer.client_no_context_takeover => {
                if value.is_some() {
                    return None; // §7.1.1.2
                }
                offer.client_no_context_takeover = true;
            }
            "server_max_window_bits" if offer.server_max_window_bits.is_none() => {
                // §7.1.2.1: a value is required.
                offer.server_max_window_bits = Some(window_bits(value.as_deref()?)?);
            }
            "client_max_window_bits" if offer.client_max_window_bits.is_none() => {
                // §7.1.2.2: the value is optional in an offer.
                offer.client_max_window_bits = Some(match value {
                    None => None,
                    Some(v) => Some(window_bits(v)?),
                });
            }
            _ => return None, // unknown or duplicate (§7.1)
        }
    }
    Some(offer)
}

/// §7.1.2.1: "a decimal integer value 8 to 15 ... without leading zeros".
fn window_bits(v: &str) -> Option<u8> {
    if v.len() > 2 || v.starts_with('0') || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    v.parse::<u8>().ok().filter(|b| (8..=15).contains(b))
}

type Params = Vec<(String, Option<String>)>;

/// RFC 6455 §9.1 `extension-list`: `1#extension`, `extension = token *(";"
/// param)`, `param = token ["=" (token | quoted-string)]`.
fn parse_list(header: &str) -> Result<Vec<(String, Params)>, BadHeader> {
    let mut p = Parser {
        s: header.as_bytes(),
        i: 0,
    };
    let mut out = Vec::new();
    loop {
        p.ows();
        if p.eat(b',') {
            continue; // empty list elements are allowed (RFC 9110 §5.6.1)
        }
        if p.done() {
            break;
        }
        let name = p
            .token()
            .ok_or(BadHeader("extension name is not a token"))?;
        let mut params = Vec::new();
        loop {
            p.ows();
            if !p.eat(b';') {
                break;
            }
            p.ows();
            let pname = p
                .token()
                .ok_or(BadHeader("extension parameter is not a token"))?;
            p.ows();
            let value = if p.eat(b'=') {
                p.ows();
                Some(p.value()?)
            } else {
                None
            };
            params.push((pname, value));
        }
        p.ows();
        if !p.done() && !p.eat(b',') {
            return Err(BadHeader("extensions must be separated by commas"));
        }
        out.push((name, params));
    }
    Ok(out)
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn done(&self) -> bool {
        self.i >= self.s.len()
    }
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }
    fn eat(&mut self, b: u8) -> bool {
        let hit = self.peek() == Some(b);
        self.i += usize::from(hit);
        hit
    }
    fn ows(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.i += 1;
        }
    }
    fn token(&mut self) -> Option<String> {
        let start = self.i;
        while self.peek().is_some_and(is_tchar) {
            self.i += 1;
        }
        let t = self.s.get(start..self.i)?;
        (!t.is_empty()).then(|| String::from_utf8_lossy(t).into_owned())
    }
    /// A token or a quoted string; RFC 6455 §9.1: the unquoted value must
    /// itself be a token.
    fn value(&mut self) -> Result<String, BadHeader> {
        if !self.eat(b'"') {
            return self
                .token()
                .ok_or(BadHeader("parameter value is not a token"));
        }
        let mut v = Vec::new();
        loop {
            match self.peek() {
                None => return Err(BadHeader("unterminated quoted string")),
                Some(b'"') => {
                    self.i += 1;
                    break;
                }
                Some(b'\\') => {
                    self.i += 1;
                    let c = self.peek().ok_or(BadHeader("unterminated quoted string"))?;
                    v.push(c);
                    self.i += 1;
                }
                Some(c) => {
                    v.push(c);
                    self.i += 1;
                }
            }
        }
        let v = String::from_utf8_lossy(&v).into_owned();
        if v.is_empty() || !v.bytes().all(is_tchar) {
            return Err(BadHeader("quoted parameter value is not a token"));
        }
        Ok(v)
    }
}

/// RFC 9110 §5.6.2 `tchar`.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Safari 15.0–15.3 ignores `client_no_context_takeover` (WebKit bug
/// 228296): in `shared` mode deflate is declined for it. Matches
/// `Version/15.N` with N in 0..=3 next to `Safari/` and not Chrome.
pub fn is_broken_safari(user_agent: &str) -> bool {
    if !user_agent.contains("Safari/") || user_agent.contains("Chrome/") {
        return false;
    }
    let Some(at) = user_agent.find("Version/15") else {
        return false;
    };
    let rest = user_agent.get(at + "Version/15".len()..).unwrap_or("");
    let minor = rest
        .strip_prefix('.')
        .map(|r| r.bytes().take_while(u8::is_ascii_digit).collect::<Vec<_>>());
    match minor.as_deref() {
        None => rest.starts_with(' ') || rest.is_empty(), // "Version/15 " = 15.0
        Some([d]) => (b'0'..=b'3').contains(d),
        Some(_) => false,
    }
}

#[cfg(test)]
#[path = "negotiate_tests.rs"]
mod tests;
