//! Several servers measured in turns, within one process and one stretch of
//! time: `fanturns` (fan-out latency to a room, one message at a time),
//! `bcastturns` (broadcast throughput) and `pingturns` (ping-pong on one
//! connection).
//!
//! Why: on this project's VM the host's speed moves by up to ~40 % from one
//! half-second to the next (a CPU-bound loop pinned to one core shows it), so
//! servers measured one after the other, a second each, compare stretches of
//! host as much as servers. Here every server has its own room of 1 sender +
//! `--conns` receivers, and messages go to the servers in turn: A, B, C, A, B,
//! C… Each message is sent only when the one before it (to whichever server)
//! has reached every member, so one server works at a time, and a slow
//! stretch of host lands on every server alike. Each server is sent at most
//! `--lat-rate` messages per second (0: as fast as they complete).
//! `bcastturns` measures broadcast throughput the same way: each server's
//! room in turn gets `--window` messages outstanding for 100 ms, then drains.
//! `pingturns` is the same with one connection per server on `--path`
//! (`/echo`), in turns of `PING_BLOCK` round trips, so that each server runs
//! a stretch of plain ping-pong (its caches its own, as when it runs alone);
//! 200 round trips last a few ms here, far shorter than the host's slow
//! stretches. (One round trip a turn measured the same on 2026-12-07.)
//!
//! `--turns LABEL=PROTO@PORT,..` names the servers (on `--addr`'s host);
//! `--server-pid` lists their pids in the same order (CPU per message each).

use super::*;

/// One server of the turns and its room.
struct Side {
    label: String,
    proto: Proto,
    poll: Poll,
    /// 0 is the sender (a member too), 1.. the receivers
    conns: Vec<Conn>,
    gen: Gen,
    next_send: Instant,
    /// latency samples (messages after the warm-up)
    lat: Vec<u64>,
    /// bcastturns: deliveries to receivers in its turns, and how long its turns lasted
    deliveries: u64,
    active: Duration,
}

impl Side {
    /// Queues the sender's next message (stamped `stamp_ns`) on its
    /// connection, unflushed; returns its sequence number.
    fn queue(&mut self, stamp_ns: u64) -> Res<u64> {
        let sender = &mut self.conns[0];
        let seq = sender.sent;
        self.gen
            .push(&mut sender.wbuf, self.proto, seq, stamp_ns, 0, None)?;
        sender.sent += 1;
        Ok(seq)
    }

    /// Waits (at most 20 ms) for events, then hands every message that
    /// arrived to `f(member, seq, latency_ns)`, each checked byte for byte to be
    /// message `seq` of the sender (member 0, or the one ping connection);
    /// text frames (greetings, join notices) are skipped. Returns when the
    /// messages of this wait are handled; `now_ns` stamps their arrival
    /// (latency = that stamp - the send stamp in the payload).
    fn read_round(
        &mut self,
        size: usize,
        events: &mut Events,
        now_ns: impl Fn() -> u64,
        f: &mut dyn FnMut(usize, u64, u64) -> Res<()>,
    ) -> Res<()> {
        self.poll
            .poll(events, Some(Duration::from_millis(20)))
            .map_err(|e| e.to_string())?;
        let now = now_ns();
        for ev in events.iter() {
            let i = ev.token().0;
            let c = &mut self.conns[i];
            c.rdhup = ev.is_read_closed();
            let gen = &self.gen;
            c.read_msgs(self.proto, size, &mut |c, m| {
                let p = match m {
                    Ev::Text => return Ok(()),
                    Ev::Data(p) => p,
                    Ev::Zip(_) => return Err(format!("conn {}: compressed message", c.id)),
                };
                let seq = c.recv;
                let stamp = gen.verify(p, seq, 0)?;
                c.recv += 1;
                f(i, seq, now.saturating_sub(stamp))
            })?;
            if c.eof || c.got_close {
                return Err(format!(
                    "{}: conn {}: server closed the connection",
                    self.label, c.id
                ));
            }
            c.flush()?;
        }
        Ok(())
    }
}

/// Messages per server not measured at the start (first writes, first wake-ups).
const WARM_MSGS: u64 = 10;

/// How long one message may take to reach every member before the run fails.
const MSG_TIMEOUT: Duration = Duration::from_secs(10);

/// One connection to each server of `--turns`, as `conns` says.
fn open_sides(o: &Opts, conns: usize, deadline: Instant) -> Res<Vec<Side>> {
    if o.turns.is_empty() {
        return Err(format!("{} needs --turns LABEL=PROTO@PORT,..", o.scenario));
    }
    let mut sides = Vec::new();
    for (label, proto, port) in &o.turns {
        let so = Opts {
            addr: SocketAddr::new(o.addr.ip(), *port),
            proto: *proto,
            extra_ports: Vec::new(),
            ..o.clone()
        };
        let mut poll = Poll::new().map_err(|e| e.to_string())?;
        let conns = connect_all(&mut poll, &so, conns, &o.path, deadline)
            .map_err(|e| format!("{label}: {e}"))?;
        sides.push(Side {
            label: label.clone(),
            proto: *proto,
            poll,
            conns,
            gen: Gen::new(o.size, false),
            next_send: Instant::now(),
            lat: Vec::new(),
            deliveries: 0,
            active: Duration::ZERO,
        });
    }
    Ok(sides)
}

/// `fanturns`: each server's room gets one message in turn.
pub fn run_fan(o: &Opts, deadline: Instant) -> Res<String> {
    let mut sides = open_sides(o, o.conns + 1, deadline)?;
    let members = o.conns + 1;
    let mut events = Events::with_capacity(4096);
    let origin = Instant::now();
    let ns = |t: Instant| (t - origin).as_nanos() as u64;

    settle(o, &mut sides, &mut events)?;

    let period = o.lat_period();
    let before = snap(o, 0, [0; 4]);
    let end = Instant::now() + Duration::from_secs_f64(o.lat_secs);
    let mut turn = 0usize;
    while Instant::now() < end {
        let s = &mut sides[turn % o.turns.len()];
        turn += 1;
        let now = Instant::now();
        if s.next_send > now {
            std::thread::sleep(s.next_send - now);
        }
        let sent_at = Instant::now();
        s.next_send = sent_at + period;
        let seq = s.queue(ns(sent_at))?;
        s.conns[0].flush()?;
        // Until every member has message `seq`.
        let mut got = 0usize;
        let mut last = 0u64;
        let give_up = sent_at + MSG_TIMEOUT;
        while got < members {
            let now = Instant::now();
            if now > give_up || now > deadline {
                return Err(format!(
                    "{}: message {seq} reached {got} of {members} members in {:?}",
                    s.label, MSG_TIMEOUT
                ));
            }
            s.read_round(
                o.size,
                &mut events,
                || ns(Instant::now()),
                &mut |_, got_seq, lat| {
                    if got_seq != seq {
                        return Err(format!("message {got_seq} while {seq} is in flight"));
                    }
                    got += 1;
                    last = lat;
                    Ok(())
                },
            )?;
        }
        if seq >= WARM_MSGS {
            s.lat.push(last);
        }
    }
    let after = snap(o, 0, [0; 4]);
    finish(o, sides, &before, &after, true)
}

/// The JSON line: per server, its latency and its CPU per message (with every
/// sample when `samples`).
fn finish(
    o: &Opts,
    mut sides: Vec<Side>,
    before: &Snap,
    after: &Snap,
    samples: bool,
) -> Res<String> {
    let secs = (after.t - before.t).as_secs_f64();
    let mut parts = Vec::new();
    for (i, s) in sides.iter_mut().enumerate() {
        // CPU of this side's server over the whole phase, per message sent to it
        // (it idles while the others have their turns)
        let cpu = after.srv_by[i] - before.srv_by[i];
        let msgs = s.conns[0].sent.max(1) as f64;
        // every sample (µs, in the order sent), so that the report can pool the
        // rounds: one round holds a few hundred, too few for a steady p99
        let samples: Vec<String> = if samples {
            s.lat.iter().map(|&l| (l / 1000).to_string()).collect()
        } else {
            Vec::new()
        };
        let mut summary = lat_summary(&mut s.lat);
        summary.pop();
        summary += &format!(
            ",\"server_us_per_msg\":{},\"messages\":{},\"samples_us\":[{}]}}",
            jnum(cpu * 1e6 / msgs),
            s.conns[0].sent,
            samples.join(",")
        );
        // bcastturns: deliveries per second of its own turns, and its CPU per delivery
        let throughput = if s.deliveries > 0 {
            let secs = s.active.as_secs_f64();
            format!(
                ",\"throughput\":{{\"deliveries\":{},\"active_secs\":{},\"rate\":{},\"server_ns_per_delivery\":{}}}",
                s.deliveries,
                jnum(secs),
                jnum(s.deliveries as f64 / secs),
                jnum(cpu * 1e9 / s.deliveries as f64)
            )
        } else {
            String::new()
        };
        parts.push(format!(
            "{{\"server\":\"{}\",\"proto\":\"{:?}\",\"single_latency\":{summary}{throughput}}}",
            s.label, s.proto
        ));
    }
    for s in sides {
        for c in s.conns {
            abort_close(c.sock);
        }
    }
    Ok(format!(
        "{},\"receivers\":{},\"lat_rate\":{},\"secs\":{},\"other_cpu_pct\":{},\"turns\":[{}]}}",
        head_json(o),
        o.conns,
        jnum(o.lat_rate),
        jnum(secs),
        jnum(other_cpu_pct(before, after)),
        parts.join(",")
    ))
}

/// Round trips per turn in `pingturns`.
const PING_BLOCK: u64 = 200;

/// `pingturns`: `PING_BLOCK` round trips on each server's connection, in turn.
pub fn run_ping(o: &Opts, deadline: Instant) -> Res<String> {
    let mut sides = open_sides(o, 1, deadline)?;
    let mut events = Events::with_capacity(16);
    let origin = Instant::now();
    let ns = |t: Instant| (t - origin).as_nanos() as u64;
    let before = snap(o, 0, [0; 4]);
    let end = Instant::now() + Duration::from_secs_f64(o.lat_secs);
    while Instant::now() < end {
        for s in &mut sides {
            for _ in 0..PING_BLOCK {
                let sent_at = Instant::now();
                let seq = s.queue(ns(sent_at))?;
                s.conns[0].flush()?;
                let mut lat = None;
                while lat.is_none() {
                    let now = Instant::now();
                    if now > sent_at + MSG_TIMEOUT || now > deadline {
                        return Err(format!(
                            "{}: no echo of message {seq} in {:?}",
                            s.label, MSG_TIMEOUT
                        ));
                    }
                    s.read_round(
                        o.size,
                        &mut events,
                        || ns(Instant::now()),
                        &mut |_, _, l| {
                            lat = Some(l);
                            Ok(())
                        },
                    )?;
                }
                // the first of each turn pays for taking CPU 0 from the last server
                if seq >= WARM_MSGS && seq % PING_BLOCK != 0 {
                    s.lat.extend(lat);
                }
            }
        }
    }
    let after = snap(o, 0, [0; 4]);
    finish(o, sides, &before, &after, false)
}

/// How long each server keeps the load generator in `bcastturns`.
const BCAST_TURN: Duration = Duration::from_millis(100);

/// `bcastturns`: broadcast throughput in turns. Each server's sender keeps
/// `--window` messages outstanding for `BCAST_TURN`, then stops sending and
/// its room drains (every member has every message) before the next server's
/// turn; the drain counts in the turn's time. The first turn of each server
/// is a warm-up and not counted.
pub fn run_bcast_turns(o: &Opts, deadline: Instant) -> Res<String> {
    let mut sides = open_sides(o, o.conns + 1, deadline)?;
    let members = (o.conns + 1) as u32;
    let mut events = Events::with_capacity(4096);
    settle(o, &mut sides, &mut events)?;
    // per message outstanding (seq % RING; --window is at most RING / 2): how many members have it
    let mut ring = vec![0u32; RING];
    let before = snap(o, 0, [0; 4]);
    let end = Instant::now() + Duration::from_secs_f64(o.lat_secs);
    let mut turn = 0usize;
    while Instant::now() < end || turn < 2 * sides.len() {
        let k = sides.len();
        let s = &mut sides[turn % k];
        let counted = turn >= k;
        turn += 1;
        let started = Instant::now();
        let stop_at = started + BCAST_TURN;
        let mut completed = s.conns[0].sent;
        let mut deliveries = 0u64;
        let mut sending = true;
        loop {
            let now = Instant::now();
            if now > deadline || now > stop_at + MSG_TIMEOUT {
                return Err(format!(
                    "{}: a turn did not drain in {:?}",
                    s.label, MSG_TIMEOUT
                ));
            }
            sending &= now < stop_at;
            if !sending && completed == s.conns[0].sent {
                break;
            }
            while sending && s.conns[0].sent - completed < o.window as u64 {
                s.queue(0)?;
            }
            s.conns[0].flush()?;
            s.read_round(o.size, &mut events, || 0, &mut |i, seq, _| {
                if i != 0 {
                    deliveries += 1;
                }
                let slot = &mut ring[seq as usize % RING];
                *slot += 1;
                if *slot == members {
                    *slot = 0;
                    if seq != completed {
                        return Err(format!("message {seq} completed before {completed}"));
                    }
                    completed += 1;
                }
                Ok(())
            })?;
        }
        if counted {
            s.deliveries += deliveries;
            s.active += started.elapsed();
        }
    }
    let after = snap(o, 0, [0; 4]);
    finish(o, sides, &before, &after, false)
}

/// Lets joins finish; text greetings and join notices are read and dropped.
fn settle(o: &Opts, sides: &mut [Side], events: &mut Events) -> Res<()> {
    let settle_end = Instant::now() + Duration::from_secs_f64(o.settle);
    while Instant::now() < settle_end {
        for s in sides.iter_mut() {
            s.poll
                .poll(events, Some(Duration::from_millis(10)))
                .map_err(|e| e.to_string())?;
            for ev in events.iter() {
                let c = &mut s.conns[ev.token().0];
                c.rdhup = ev.is_read_closed();
                c.read_msgs(s.proto, o.size, &mut |c, m| match m {
                    Ev::Text => Ok(()),
                    _ => Err(format!("conn {}: data before anything was sent", c.id)),
                })?;
            }
        }
    }
    Ok(())
}
