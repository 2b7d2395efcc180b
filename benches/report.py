#!/usr/bin/env python3
"""Turn benches/results/raw.jsonl (one JSON line per loadgen run) into REPORT.md
and a hand-written SVG chart. Standard library only, no network.

usage: report.py raw.jsonl REPORT.md chart.svg
"""
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys

SERVERS = ["wsloop-before", "wsloop", "wsloop-warn", "tokio-tungstenite", "node-ws", "raw"]
PEERS = ["wsloop-before", "wsloop", "wsloop-warn", "tokio-tungstenite", "node-ws"]
COLORS = {"wsloop-before": "#999999", "wsloop": "#d1495b", "wsloop-warn": "#f2a0a9", "tokio-tungstenite": "#00798c",
          "node-ws": "#edae49"}
# row labels: `wsloop` runs at its default log level (RUST_LOG unset: info, what `make run` does),
# `wsloop-warn` is the same server at RUST_LOG=warn (benches/run, log_env); set_labels() adjusts
# them when the run was made with RUST_LOG set
LABELS = {"wsloop": "wsloop (default log level: info)", "wsloop-warn": "wsloop-warn (RUST_LOG=warn)"}


def wsloop_level(meta):
    """RUST_LOG the `wsloop` rows ran with: None = unset (wsloop's default, info). Runs made
    before benches/run recorded it ("rust_log" missing from the meta line) started every
    server with RUST_LOG=warn unless it was set."""
    if meta and "rust_log" not in meta:
        return "warn"
    return meta.get("rust_log") or None


def set_labels(meta):
    lvl = wsloop_level(meta)
    if lvl:
        LABELS["wsloop"] = f"wsloop (RUST_LOG={lvl}" + (", older run)" if "rust_log" not in meta else ")")


def lab(srv):
    return LABELS.get(srv, srv)


def why(err):
    return "not run" if err == "not run" else f"failed / not run: {err}"

# The targets of issue 14, judged on `wsloop` at its default log level (op, limit)
T_ECHO64 = (">=", 0.95)       # echo 64 B msg/s vs raw
T_ECHO64_NS = ("<=", 1.10)    # echo server ns/msg vs raw (informative)
T_ECHO16K = (">=", 0.85)      # echo 16 KiB MiB/s vs raw
T_PING = ("<=", 1.03)         # ping-pong p50 vs raw
T_BCAST = (">=", 0.92)        # broadcast 1 -> 1,000 deliveries/s vs raw
T_BCAST_NS = ("<=", 1.10)     # broadcast 1 -> 1,000 server ns/delivery vs raw
T_FANOUT = ("<=", 1.05)       # broadcast 1 -> 1,000 latency 1 msg at a time, p50 and p99, vs raw
T_IDLE = ("<=", 200)          # idle B/conn at 10,000 connections
T_UPG = (">=", 0.80)          # upgrades/s vs raw TCP accepts/s


def load(path):
    runs, meta = {}, {}
    for line in open(path):
        line = line.strip()
        if not line:
            continue
        d = json.loads(line)
        if d.get("meta"):
            meta = d
            continue
        runs.setdefault((d["name"], d["server"]), []).append(d)
    return runs, meta


def med(v):
    v = [x for x in v if x is not None]
    return (statistics.median(v), min(v), max(v)) if v else None


def fmt(x, unit=""):
    if x is None:
        return "–"
    a = abs(x)
    if a >= 1e6:
        s = f"{x / 1e6:.2f} M"
    elif a >= 1e4:
        s = f"{x / 1e3:.1f} k"
    elif a >= 100:
        s = f"{x:.0f}"
    elif a >= 10:
        s = f"{x:.1f}"
    else:
        s = f"{x:.2f}"
    return (s + unit).replace("  ", " ")


def fmt_mm(t, unit=""):
    if t is None:
        return "–"
    m, lo, hi = t
    return f"**{fmt(m, unit)}** ({fmt(lo)}–{fmt(hi)})"


def noise(s):
    o = s.other[0] if s.other else None
    return f"{fmt(o)} %" + (" ⚠" if o is not None and o > 30 else "") if o is not None else "–"


class Stat:
    """Medians (and min-max) of one (scenario, server)."""

    def __init__(self, runs):
        self.error = None
        ok = [r for r in runs if "error" not in r]
        if not ok:
            self.error = runs[0]["error"] if runs else "not run"
            return
        self.runs = ok
        reps = [rep for r in ok for rep in r.get("reps", [])]
        self.reps = reps

        def col(k):
            return med([rep.get(k) for rep in reps])

        self.rate = col("rate")
        self.mib = col("mib_s")
        self.ns = col("server_ns_per_op")
        self.srv_pct = col("server_cpu_pct")
        self.lg_pct = col("loadgen_cpu_pct")
        self.other = col("other_cpu_pct")
        self.lg_ns = col("loadgen_ns_per_op")
        self.p50 = col("p50_us")
        self.p99 = col("p99_us")
        sl = [r.get("single_latency") for r in ok if r.get("single_latency")]
        self.sl50 = med([s.get("p50_us") for s in sl])
        self.sl99 = med([s.get("p99_us") for s in sl])
        self.bpc = med([r.get("bytes_per_conn") for r in ok if "bytes_per_conn" in r])
        self.bpc_echo = med([r.get("bytes_per_conn_after_echo") for r in ok if "bytes_per_conn" in r])
        self.rx_wire = col("rx_wire_bytes_per_msg")
        self.tx_wire = col("tx_wire_bytes_per_msg")
        self.ext = next((r["extensions"] for r in ok if r.get("extensions")), "")
        self.deflate = any(r.get("deflate") for r in ok)


def m(t):
    return t[0] if t else None


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


# scenario name, title, main metric attr, unit, higher-is-better, target (op, value), chart label
SCEN = [
    ("echo64", "Echo, 100 conns × 16 in flight, 64 B", "rate", "msg/s", True, T_ECHO64, "echo 64 B"),
    ("pingpong", "Echo ping-pong, 1 conn, 64 B (round trip)", "p50", "µs p50", False, T_PING, "ping-pong p50"),
    ("echo16k", "Echo, 100 conns × 4 in flight, 16 KiB", "mib", "MiB/s", True, T_ECHO16K, "echo 16 KiB"),
    ("bcast100", "Broadcast 1 → 100 receivers, 64 B", "rate", "deliveries/s", True, None, "bcast 100"),
    ("bcast1000", "Broadcast 1 → 1,000 receivers, 64 B", "rate", "deliveries/s", True, T_BCAST, "bcast 1k"),
    ("bcast10000", "Broadcast 1 → 10,000 receivers, 64 B", "rate", "deliveries/s", True, None, "bcast 10k"),
    ("upgrades", "Upgrades/s (connect + handshake + close; raw: TCP accept + line + close)", "rate", "/s", True, T_UPG, "upgrades"),
]


def verdict(v, target):
    if v is None or target is None:
        return ""
    op, lim = target
    ok = v >= lim if op == ">=" else v <= lim
    return "**pass**" if ok else "**MISS**"


def machine():
    cpu = "?"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    nproc = os.cpu_count()
    try:
        nproc = int(subprocess.check_output(["nproc"], text=True).strip())
    except Exception:
        pass
    mem = "?"
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 1048576:.1f} GiB"
    except OSError:
        pass
    return cpu, nproc, platform.release(), mem


def git_rev(path):
    try:
        rev = subprocess.check_output(["git", "-C", path, "rev-parse", "--short", "HEAD"], text=True,
                                      stderr=subprocess.DEVNULL).strip()
        dirty = subprocess.check_output(["git", "-C", path, "status", "--porcelain", "--", "src", "Cargo.toml"],
                                        text=True, stderr=subprocess.DEVNULL).strip()
        return rev + (" + uncommitted changes in src/" if dirty else "")
    except Exception:
        return "?"


def method(meta):
    """How the figures were taken: runs since BENCH_PROCS spread the core rows over fresh
    processes; older runs took 5 repetitions from one process per scenario."""
    procs = meta.get("procs")
    if not procs:
        return ("Each figure: **median** (min–max) of 5 repetitions (`BENCH_REPS`) of 2 s after a 1 s "
                "warm-up, each server started fresh for each scenario.")
    reps = meta.get("proc_reps", 1)
    per = "one repetition" if reps == 1 else f"{reps} repetitions"
    secs, warm = meta.get("rep_secs", 2), meta.get("warmup", 1)
    return (f"Core rows (echo, ping-pong, broadcast, upgrades): **median** (min–max) over {procs} fresh "
            f"processes of each server (`BENCH_PROCS`), {per} of {secs:g} s each after a {warm:g} s warm-up "
            "(`BENCH_PROC_REPS`), started in turns: every server once, then every server again, and so on. "
            "Why: on this VM one process can run ~30 % faster or slower than the next, raw TCP as much as "
            "wsloop, while repetitions inside one process agree within 1 %; the min–max is that spread. "
            f"Deflate and cluster rows: median (min–max) of {meta.get('reps', 5)} repetitions (`BENCH_REPS`) "
            f"of {secs:g} s in one fresh process per row.")


def main():
    src, out_md, out_svg = sys.argv[1:4]
    runs, meta = load(src)
    st = {}
    for (name, srv), rs in runs.items():
        st[(name, srv)] = Stat(rs)

    def S(name, srv):
        return st.get((name, srv)) or Stat([])

    set_labels(meta)
    cpu, nproc, kernel, mem = machine()
    L = []
    L.append("# wsloop benchmark report\n")
    L.append(f"Generated {datetime.datetime.now().strftime('%Y-%m-%d %H:%M')} by `benches/run` "
             f"(wsloop commit `{git_rev(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))}`).  ")
    L.append(f"Machine: `nproc` = {nproc}, CPU: {cpu}, kernel {kernel}, memory {mem}; "
             f"ulimit -n {meta.get('nofile', '?')}, {meta.get('ports', '?')} local ports.  ")
    L.append("Server pinned to CPU 0 (`taskset -c 0`), load generator to CPU 1 (`taskset -c 1`); "
             "all traffic on 127.0.0.1. " + method(meta) + " Server CPU = utime+stime of the whole server "
             "process (/proc/PID/stat, all threads) over the repetition; *ns/op* = server CPU ÷ operations. "
             "Load generator CPU is reported next to it: near 100 % means the load generator, not the server, "
             "was the limit for that row. *other CPU* = CPU used by every other process on the machine during "
             "the repetitions (from /proc/stat); a phase with more than 30 % is repeated up to twice after waiting for quiet, and ⚠ marks one that stayed disturbed (treat it with care). Ratios are to the raw-TCP ceiling measured in the same run.\n")
    lvl = wsloop_level(meta)
    L.append(f"Log level: **{lab('wsloop')}** is wsloop "
             + ((f"at `RUST_LOG={lvl}` (set for this run)" if "rust_log" in meta else
                 f"at `RUST_LOG={lvl}`: this run predates the default-level rows, when benches/run started "
                 "every server at warn") if lvl else
                "at its default log level (`RUST_LOG` unset: `info`, what `make run` does)")
             + "; **wsloop-warn** is the same binary and flags at `RUST_LOG=warn`. The targets are judged on "
             "`wsloop`; the `wsloop-warn` rows show what the default level costs. The other servers run at "
             + (f"`RUST_LOG={lvl}`" if lvl else "`RUST_LOG=warn`") + " (which they ignore, bar tt-server's own logging).\n")

    # ---- targets summary: judged on `wsloop` (default log level); the same figure for
    # wsloop-warn (RUST_LOG=warn) next to it
    W, WW, RAW = "wsloop", "wsloop-warn", "raw"
    tgt_rows = []

    def vs_raw(name, attr, label_unit):
        """get(srv) for a ratio srv / raw of S(name, *).attr: (ratio or None, detail)"""
        def get(srv):
            w, r = S(name, srv), S(name, RAW)
            if w.error or r.error:
                return None, why(w.error or r.error)
            a, b = m(getattr(w, attr)), m(getattr(r, attr))
            return ratio(a, b), f"{fmt(a)} vs {fmt(b)} {label_unit}"
        return get

    def add_tgt(label, target, get, info=False, bytes_=False):
        unit = " B/conn" if bytes_ else "×"
        goal = f"{'≥' if target[0] == '>=' else '≤'} {target[1]}{unit}" + (" (info)" if info else "")
        v, detail = get(W)
        vw, werr = get(WW)

        def cell(x):
            return "–" if x is None else fmt(x) + (" B" if bytes_ else "×")

        def judge(x, err):
            if x is None:
                return err if err == "not run" else "not measured"
            return "info" if info else verdict(x, target)
        wcell = f"{cell(vw)} {judge(vw, werr)}" if vw is not None else judge(vw, werr)
        tgt_rows.append(f"| {label} | {goal} | {cell(v)} | {detail} | {judge(v, detail)} | {wcell} |")

    add_tgt("echo 64 B msg/s vs raw", T_ECHO64, vs_raw("echo64", "rate", "msg/s"))
    add_tgt("echo 64 B server ns/msg vs raw", T_ECHO64_NS, vs_raw("echo64", "ns", "ns"), info=True)
    # Broadcast: judged on the servers side by side in turns (bcastturns1000) when the run has them
    bturns = paired_turns(runs, "bcastturns1000", "throughput")
    have_bturns = any(bturns.get(s) for s in (W, WW))
    if have_bturns:
        add_tgt("broadcast 1→1k deliveries/s, servers side by side in turns vs raw", T_BCAST,
                turns_ratio(bturns, "rate", unit="/s"))
        add_tgt("broadcast 1→1k server ns/delivery, servers side by side in turns vs raw", T_BCAST_NS,
                turns_ratio(bturns, "server_ns_per_delivery", unit="ns"))
    add_tgt("broadcast 1→1k deliveries/s, separate processes vs raw", T_BCAST, vs_raw("bcast1000", "rate", "/s"),
            info=have_bturns)
    add_tgt("broadcast 1→1k server ns/delivery, separate processes vs raw", T_BCAST_NS,
            vs_raw("bcast1000", "ns", "ns"), info=have_bturns)
    # Fan-out latency: judged on the servers measured side by side in turns (fanturns1000)
    # when the run has them; the separate-process rows (bcast1000) then count as info.
    turns = paired_turns(runs, "fanturns1000")
    have_turns = any(turns.get(s) for s in (W, WW))
    for q, get in (("p50", turns_ratio(turns, "p50_us")), ("p99", turns_pooled(turns, 99))):
        if have_turns:
            add_tgt(f"fan-out latency 1→1k {q}, servers side by side in turns (1 msg at a time, ≤ 100/s each) vs raw",
                    T_FANOUT, get)
        add_tgt(f"fan-out latency 1→1k {q} (send→last receiver, 1 msg at a time, ≤ 100/s), separate processes vs raw",
                T_FANOUT, vs_raw("bcast1000", "sl" + q[1:], "µs"), info=have_turns)
    add_tgt("echo 16 KiB MiB/s vs raw", T_ECHO16K, vs_raw("echo16k", "mib", "MiB/s"))
    pings = paired_turns(runs, "pingturns")
    have_pings = any(pings.get(s) for s in (W, WW))
    if have_pings:
        add_tgt("ping-pong p50, servers side by side in turns (200 round trips a turn) vs raw", T_PING,
                turns_ratio(pings, "p50_us"))
    add_tgt("ping-pong p50, separate processes vs raw", T_PING, vs_raw("pingpong", "p50", "µs"), info=have_pings)

    def idle(name):
        def get(srv):
            w = S(name, srv)
            if w.error:
                return None, why(w.error)
            return m(w.bpc), f"{fmt(m(w.bpc))} B/conn (raw TCP peer: {fmt(m(S(name, RAW).bpc))})"
        return get
    for n in (100, 1000, 10000):
        add_tgt(f"idle RSS at {n:,} conns", T_IDLE, idle(f"idle{n}"), info=n != 10000, bytes_=True)
    w = S("dfl-idle10000", "wsloop-shared")
    if not (w.error == "not run" and S("dfl-idle10000", W).error == "not run"):
        def dfl_idle(srv):
            if srv != W:
                return None, "not run"
            if w.error:
                return None, why(w.error)
            return m(w.bpc), (f"{fmt(m(w.bpc))} B/conn, `--deflate shared` (without deflate, same method: "
                              f"{fmt(m(S('dfl-idle10000', W).bpc))} B)")
        add_tgt("idle RSS at 10,000 conns, deflate negotiated", T_IDLE, dfl_idle, bytes_=True)
    add_tgt("upgrades/s vs raw TCP accepts/s", T_UPG, vs_raw("upgrades", "rate", "/s"))
    L.append("## wsloop against the targets\n")
    L.append(f"Judged on **{lab(W)}**" + ("" if wsloop_level(meta) else ", the level `make run` uses") + "; the last column is the same server at "
             "`RUST_LOG=warn` (the `wsloop-warn` rows), to show what the default log level costs. *info* rows "
             "are informative, not targets.\n")
    L.append(f"| target | goal | {lab(W)} | detail | | {lab(WW)} |")
    L.append("|---|---|---|---|---|---|")
    L += tgt_rows
    L.append("")

    # ---- per-scenario tables
    L.append("## All scenarios\n")
    for name, title, attr, unit, hib, target, _ in SCEN:
        L.append(f"### {title}\n")
        lat_cols = name.startswith("bcast")
        if name == "pingpong":
            L.append(f"| server | p50 µs | p99 µs | round trips/s | server ns/op | server CPU | loadgen CPU | other CPU | p50 ratio to raw | target ≤{target[1]}× |")
            L.append("|---|---|---|---|---|---|---|---|---|---|")
        elif lat_cols:
            tcol = (f"target ≥{target[1]}× deliveries/s, ≤{T_BCAST_NS[1]}× ns/delivery, "
                    f"≤{T_FANOUT[1]}× p50 and p99 send→last receiver |") if target else "|"
            L.append("| server | deliveries/s | server ns/delivery | server CPU | loadgen CPU | other CPU | p50 send→last receiver, 1 msg at a time | same, window 32 | ratio to raw | "
                     + tcol)
            L.append("|---|---|---|---|---|---|---|---|---|---|" if target else "|---|---|---|---|---|---|---|---|---|")
        else:
            tcol = f"target {'≥' if target[0] == '>=' else '≤'}{target[1]}×" if target else ""
            if name == "echo64":
                tcol += f" (ns/op ≤{T_ECHO64_NS[1]}×: info)"
            tcol += " |"
            L.append(f"| server | {unit} | server ns/op | server CPU | loadgen CPU | other CPU | ratio to raw | ns/op ratio | {tcol}")
            L.append("|---|---|---|---|---|---|---|---|---|" if target else "|---|---|---|---|---|---|---|---|")
        raw = S(name, RAW)
        for srv in SERVERS:
            s = S(name, srv)
            if s.error:
                L.append(f"| {lab(srv)} | {why(s.error)} |" + " |" * 7)
                continue
            rv = None if raw.error else ratio(m(getattr(s, attr)), m(getattr(raw, attr)))
            nsr = None if raw.error else ratio(m(s.ns), m(raw.ns))
            show_t = srv != RAW and target
            if name == "pingpong":
                L.append(f"| {lab(srv)} | {fmt_mm(s.p50)} | {fmt_mm(s.p99)} | {fmt(m(s.rate))} | {fmt(m(s.ns))} | "
                         f"{fmt(m(s.srv_pct))} % | {fmt(m(s.lg_pct))} % | {noise(s)} | {fmt(rv)}× | {verdict(rv, target) if show_t else ''} |")
            elif lat_cols:
                tcell = ""
                if show_t and not raw.error:
                    l50, l99 = ratio(m(s.sl50), m(raw.sl50)), ratio(m(s.sl99), m(raw.sl99))
                    tcell = (f"{verdict(rv, target)} (ns/delivery {fmt(nsr)}× {verdict(nsr, T_BCAST_NS)}; "
                             f"p50 {fmt(l50)}× {verdict(l50, T_FANOUT)}, p99 {fmt(l99)}× {verdict(l99, T_FANOUT)})")
                L.append(f"| {lab(srv)} | {fmt_mm(s.rate)} | {fmt(m(s.ns))} | {fmt(m(s.srv_pct))} % | {fmt(m(s.lg_pct))} % | {noise(s)} | "
                         f"{fmt(m(s.sl50))} µs (p99 {fmt(m(s.sl99))}) | {fmt(m(s.p50))} µs | {fmt(rv)}× |"
                         + (f" {tcell} |" if target else ""))
            else:
                extra = f" {verdict(rv, target) if show_t else ''} |" if target else ""
                if name == "echo64" and srv != RAW:
                    extra = f" {verdict(rv, target)} (ns/op {fmt(nsr)}×: info) |"
                L.append(f"| {lab(srv)} | {fmt_mm(getattr(s, attr))} | {fmt(m(s.ns))} | {fmt(m(s.srv_pct))} % | "
                         f"{fmt(m(s.lg_pct))} % | {noise(s)} | {fmt(rv)}× | {fmt(nsr)}× |{extra}")
        L.append("")

    L.append("### Idle connections: server RSS growth per connection (VmRSS, /proc/PID/status)\n")
    L.append("Fresh server per measurement; RSS read before connecting and 0.5 s after the last upgrade "
             "(connections open, no traffic); then every connection echoes one message (checked) and RSS is "
             "read again. Median (min–max) of 3 fresh servers.\n")
    L.append(f"| server | 100 conns | 1,000 conns | 10,000 conns | 10,000 after one echo each | target ≤{T_IDLE[1]} B/conn at 10,000 |")
    L.append("|---|---|---|---|---|---|")
    for srv in SERVERS:
        cells = []
        for n in (100, 1000, 10000):
            s = S(f"idle{n}", srv)
            cells.append(why(s.error) if s.error else fmt_mm(s.bpc, " B"))
        s = S("idle10000", srv)
        after = "–" if s.error else fmt(m(s.bpc_echo), " B")
        t = "" if srv == RAW or s.error else verdict(m(s.bpc), T_IDLE)
        L.append(f"| {lab(srv)} | " + " | ".join(cells) + f" | {after} | {t} |")
    L.append("")

    turns_section(L, runs)
    deflate_section(L, S)
    cluster_section(L, S)

    L.append("## Notes\n")
    L.append("- Load generator: `benches/loadgen`, one thread, mio, its own HTTP upgrade and masked framing, every "
             "echo/delivery checked byte for byte and in order (a mismatch aborts the phase). Broadcast: 1 sender + N "
             "receivers in the /chat room; at most 32 messages outstanding (a message is complete once every member, "
             "the sender included, has it); deliveries/s counts receivers only. Latency is stamped in the payload.")
    L.append("- raw = `benches/rawtcp`: the same single-thread mio loop with no HTTP and no framing "
             "(a mode line, then a plain byte echo / fixed 64-byte broadcast records). For upgrades it measures "
             "connect + one line + `OK` + close (TCP accepts/s).")
    L.append("- tokio-tungstenite: `benches/tt-server`, current_thread runtime (one thread), library defaults "
             "(its default 128 KiB read buffer per connection dominates its idle RSS). node-ws: `benches/node`, "
             "`ws` with defaults, perMessageDeflate off.")
    L.append("- On loopback much of the TCP work (the receive path of the peer) is charged to the *sending* CPU, "
             "so server ns/op includes part of the load generator's receive path and vice versa; comparisons "
             "between servers are fair because the load generator is the same. Rows where the load generator "
             "runs at ≈100 % CPU understate the server (for raw TCP, the ceiling itself is then partly "
             "load-generator bound, which makes ratios to raw look better than they are).")
    errs = [(k, r) for k, rs in runs.items() for r in rs if "error" in r]
    if errs:
        L.append("- Phases that failed or were skipped in this run:")
        for (name, srv), r in errs:
            L.append(f"  - {name} / {srv}: {r['error']}")
    L.append("")
    L.append(f"Raw per-repetition data: `benches/results/raw.jsonl`. Chart: `chart.svg`.\n")
    L.append("![ratio to raw TCP](chart.svg)\n")
    nd = sum(1 for l in L if l.startswith("| ") and "⚠" in l)
    nr = sum(1 for l in L if l.startswith("| ") and " % |" in l)
    if nd:
        L.insert(4, f"> ⚠ **{nd} of {nr} measured rows ran while other processes used more than 30 % of a CPU** "
                    "(the machine was shared with other work during this run). Their throughput and ratios are "
                    "unreliable; re-run `benches/run` on a quiet machine before drawing conclusions from them.\n")
    open(out_md, "w").write("\n".join(L))

    # ---- chart: grouped bars of ratio-to-raw, higher is better
    groups = []
    for name, title, attr, unit, hib, target, short in SCEN:
        raw = S(name, RAW)
        vals = {}
        for srv in PEERS:
            s = S(name, srv)
            if s.error or raw.error:
                vals[srv] = None
            elif hib:
                vals[srv] = ratio(m(getattr(s, attr)), m(getattr(raw, attr)))
            else:
                vals[srv] = ratio(m(getattr(raw, attr)), m(getattr(s, attr)))  # raw p50 / p50
        tline = None
        if target:
            tline = target[1] if hib else 1 / target[1]
        groups.append((short + ("" if hib else " (raw÷x)"), vals, tline))
    write_svg(out_svg, groups, f"{cpu}, {nproc} CPUs, kernel {kernel}")


# the permessage-deflate rows (wsloop only): server kind -> label
DFL_ROWS = [
    ("wsloop", "wsloop, no deflate (not offered)"),
    ("wsloop-shared", "wsloop `--deflate shared`"),
    ("wsloop-dedicated", "wsloop `--deflate dedicated`"),
]


def paired_turns(runs, name, field="single_latency"):
    """{server: {round: its `field`}} of a phase in turns (every round's servers ran side by side)."""
    out = {}
    for (n, srv), rs in runs.items():
        if n == name:
            out[srv] = {r["round"]: r[field] for r in rs if "error" not in r and r.get(field)}
    return out


def turns_ratio(turns, key, base="raw", unit="µs"):
    """get(srv) for add_tgt: the median over rounds of srv's `key` ÷ raw's in the same round."""
    def get(srv):
        mine, raws = turns.get(srv) or {}, turns.get(base) or {}
        rounds = sorted(set(mine) & set(raws))
        rs = [mine[k][key] / raws[k][key] for k in rounds if raws[k].get(key)]
        if not rs:
            return None, "not run"
        a = statistics.median(mine[k][key] for k in rounds)
        b = statistics.median(raws[k][key] for k in rounds)
        return statistics.median(rs), (f"median of {len(rs)} rounds' ratios (range {min(rs):.3f}–{max(rs):.3f}); "
                                       f"{fmt(a)} vs {fmt(b)} {unit}")
    return get


def pooled(turns, srv, p):
    """Percentile p of every round's samples of srv together (µs), and their count."""
    v = sorted(x for t in (turns.get(srv) or {}).values() for x in t.get("samples_us", []))
    return (v[min(int(len(v) * p / 100), len(v) - 1)], len(v)) if v else (None, 0)


def turns_pooled(turns, p, base="raw"):
    """get(srv) for add_tgt: srv's percentile p over all rounds' samples ÷ raw's. A round holds a
    few hundred samples per server, so its own p99 is one of its slowest few; pooled, the five
    rounds give a p99 that a single slow moment of the host does not decide."""
    def get(srv):
        (a, na), (b, nb) = pooled(turns, srv, p), pooled(turns, base, p)
        if a is None or not b:
            return None, "not run"
        return a / b, f"all rounds' samples pooled ({na:,} and {nb:,}): {fmt(a)} vs {fmt(b)} µs"
    return get


TURNS_INTRO = ("On this machine the host's speed moves by up to ~40 % from one half-second to the next (a "
               "CPU-bound loop pinned to one core shows it), so rows taken from processes run seconds apart "
               "compare stretches of host as much as servers. Here the servers run at once, each a fresh "
               "process on CPU 0, and the load generator (`loadgen fanturns` / `pingturns`) serves them in "
               "turn, so a slow stretch lands on all of them alike; the order of the turns rotates each round. "
               "Server CPU is its process's CPU over the round ÷ the messages sent to it.\n")


def turns_section(L, runs):
    bturns = paired_turns(runs, "bcastturns1000", "throughput")
    if any(bturns.values()):
        L.append("## Broadcast 1 → 1,000, servers side by side in turns\n")
        L.append(TURNS_INTRO)
        L.append("Each server has its own room of 1 sender + 1,000 receivers; in its turn the sender keeps 32 "
                 "messages outstanding for 100 ms, then stops and the room drains (every member has every "
                 "message) before the next server's turn. The drain counts in the turn's time, so the rates are "
                 "below the separate-process rows'; each server's first turn is not counted.\n")
        srvs = [s for s in ("wsloop", "wsloop-warn", "raw") if bturns.get(s)]
        L.append("| round | " + " | ".join(f"{lab(s)} deliveries/s, ns each" for s in srvs) + " | " +
                 " | ".join(f"{lab(s)} ÷ raw, deliveries/s / ns" for s in srvs if s != "raw") + " |")
        L.append("|---" * (1 + len(srvs) + len([s for s in srvs if s != "raw"])) + "|")
        for k in sorted({k for s in srvs for k in bturns[s]}):
            cells = [("–" if not bturns[s].get(k) else
                      f"{fmt(bturns[s][k]['rate'])}, {bturns[s][k]['server_ns_per_delivery']:.0f}") for s in srvs]
            raw = bturns.get("raw", {}).get(k)
            for s in srvs:
                t = bturns[s].get(k)
                if s != "raw":
                    cells.append("–" if not (t and raw) else f"{t['rate'] / raw['rate']:.3f} / "
                                 f"{t['server_ns_per_delivery'] / raw['server_ns_per_delivery']:.3f}")
            L.append(f"| {k} | " + " | ".join(cells) + " |")
        L.append("")
    pings = paired_turns(runs, "pingturns")
    if any(pings.values()):
        L.append("## Ping-pong, servers side by side in turns\n")
        L.append(TURNS_INTRO)
        L.append("One connection to each server; 200 round trips to one, then 200 to the next (~5 ms a turn), "
                 "the first of each turn not counted.\n")
        turns_table(L, pings, 1, "µs")
    turns = paired_turns(runs, "fanturns1000")
    if not any(turns.values()):
        return
    L.append("## Fan-out latency 1 → 1,000, servers side by side in turns\n")
    L.append(TURNS_INTRO)
    L.append("Each server has its own room of 1 sender + 1,000 receivers; one message at a time goes to the "
             "servers in turn, at most 100 a second each. Latency = send → the last member has it. The last "
             "line pools every round's samples (the p99 target is judged on it).\n")
    turns_table(L, turns, 1e3, "ms")


def turns_table(L, turns, div, unit):
    """Per round, each server's p50 / p99 and CPU per message, and its ratios to raw's."""
    srvs = [s for s in ("wsloop", "wsloop-warn", "raw") if turns.get(s)] + \
           sorted(s for s in turns if s not in ("wsloop", "wsloop-warn", "raw") and turns[s])
    rounds = sorted({k for s in srvs for k in turns[s]})
    L.append("| round | " + " | ".join(f"{lab(s)} p50 / p99 {unit}, CPU {unit}/msg" for s in srvs) + " | " +
             " | ".join(f"{lab(s)} ÷ raw, p50 / p99" for s in srvs if s != "raw") + " |")
    L.append("|---" * (1 + len(srvs) + len([s for s in srvs if s != "raw"])) + "|")
    for k in rounds:
        cells = []
        for s in srvs:
            t = turns[s].get(k)
            cells.append("–" if not t else f"{t['p50_us'] / div:.2f} / {t['p99_us'] / div:.2f}, "
                         f"{t.get('server_us_per_msg', 0) / div:.2f} (n={t['n']:,})")
        raw = turns.get("raw", {}).get(k)
        for s in srvs:
            if s == "raw":
                continue
            t = turns[s].get(k)
            cells.append("–" if not (t and raw) else
                         f"{t['p50_us'] / raw['p50_us']:.3f} / {t['p99_us'] / raw['p99_us']:.3f}")
        L.append(f"| {k} | " + " | ".join(cells) + " |")
    if not any(t.get("samples_us") for s in srvs for t in turns[s].values()):
        L.append("")
        return
    cells = []
    for s in srvs:
        (a, n), (b, _) = pooled(turns, s, 50), pooled(turns, s, 99)
        cells.append("–" if a is None else f"{a / div:.2f} / {b / div:.2f} (n={n:,})")
    for s in srvs:
        if s == "raw":
            continue
        r50, _ = turns_pooled(turns, 50)(s)
        r99, _ = turns_pooled(turns, 99)(s)
        cells.append("–" if r50 is None else f"{r50:.3f} / {r99:.3f}")
    L.append("| all rounds pooled | " + " | ".join(cells) + " |")
    L.append("")


def nbytes(t):
    return "–" if t is None else f"{m(t):,.0f} B"


def deflate_section(L, S):
    names = ("dfl-echo16k", "dfl-bcast1000", "dfl-idle10000")
    if all(S(n, srv).error == "not run" for n in names for srv, _ in DFL_ROWS):
        return
    L.append("## permessage-deflate (RFC 7692)\n")
    L.append("wsloop only: tokio-tungstenite and Node `ws` run without deflate in this suite and raw TCP has no "
             "equivalent, so they are skipped for these rows. The payload is text of realistic JSON (an array of "
             "chat/API-like objects with the same keys, varied names, numbers and sentences; 61 distinct bodies), "
             "the same bytes in every row: *no deflate* = the default wsloop (`--deflate shared`) with a client "
             "that does not offer the extension; the other rows = wsloop started with `--deflate shared` or "
             "`--deflate dedicated` (defaults otherwise: `--deflate-min` 1024, `--deflate-window` 12) and the load "
             "generator offering `permessage-deflate; client_max_window_bits`. The load generator compresses what it "
             "sends like a browser (zlib level 6, sync flush, context kept unless the server answered "
             "`client_no_context_takeover`), inflates every compressed message it receives and checks it byte for "
             "byte. *Wire bytes* = bytes read from (sent to) the socket per message received (sent), frame headers "
             "included. Throughput here is often bounded by the load generator, which deflates and inflates as much "
             "as the server does (see its CPU); *server ns/msg* is the server's own CPU per message either way.\n")
    exts = [(lab, getattr(S(n, srv), "ext", "")) for srv, lab in DFL_ROWS[1:] for n in names]
    exts = [(lab, e) for lab, e in exts if e]
    seen = {}
    for lab, e in exts:
        seen.setdefault(lab, e)
    for lab, e in seen.items():
        L.append(f"- {lab} answered: `{e}`")
    if seen:
        L.append("")

    def ratio_cells(s, base, attr):
        if s is base or base.error:
            return "", ""
        return f"{fmt(ratio(m(getattr(s, attr)), m(getattr(base, attr))))}×", f"{fmt(ratio(m(s.ns), m(base.ns)))}×"

    L.append("### Echo of 16 KiB JSON text, 100 conns × 4 in flight\n")
    L.append("| server | MiB/s of payload | msg/s | wire bytes per message, server → client | wire bytes per message, "
             "client → server | server ns/msg | server CPU | loadgen CPU | other CPU | MiB/s vs no deflate | "
             "ns/msg vs no deflate |")
    L.append("|---|---|---|---|---|---|---|---|---|---|---|")
    base = S("dfl-echo16k", "wsloop")
    for srv, lab in DFL_ROWS:
        s = S("dfl-echo16k", srv)
        if s.error:
            L.append(f"| {lab} | failed / not run: {s.error} |" + " |" * 9)
            continue
        rv, rn = ratio_cells(s, base, "mib")
        L.append(f"| {lab} | {fmt_mm(s.mib)} | {fmt(m(s.rate))} | {nbytes(s.rx_wire)} | {nbytes(s.tx_wire)} | "
                 f"{fmt(m(s.ns))} | {fmt(m(s.srv_pct))} % | {fmt(m(s.lg_pct))} % | {noise(s)} | {rv} | {rn} |")
    L.append("")

    L.append("### Broadcast 1 → 1,000 receivers of 2 KiB JSON text, window 32\n")
    L.append("\"Compressed once\": wsloop compresses a broadcast once per kind of member and sends the same bytes to "
             "all of them, so the cost per delivery should stay close to the uncompressed one. The load generator "
             "inflates and checks each message once (the first member to receive it, with one decoder for the room, "
             "which sees the messages in order) and checks that every other member's copy is byte-identical to "
             "that checked one (so it does not inflate 1,000 times per message).\n")
    L.append("| server | deliveries/s | server ns/delivery | wire bytes per delivery | server CPU | loadgen CPU | "
             "other CPU | p50 send→last receiver, 1 msg at a time | deliveries/s vs no deflate | "
             "ns/delivery vs no deflate |")
    L.append("|---|---|---|---|---|---|---|---|---|---|")
    base = S("dfl-bcast1000", "wsloop")
    for srv, lab in DFL_ROWS:
        s = S("dfl-bcast1000", srv)
        if s.error:
            L.append(f"| {lab} | failed / not run: {s.error} |" + " |" * 8)
            continue
        rv, rn = ratio_cells(s, base, "rate")
        L.append(f"| {lab} | {fmt_mm(s.rate)} | {fmt(m(s.ns))} | {nbytes(s.rx_wire)} | {fmt(m(s.srv_pct))} % | "
                 f"{fmt(m(s.lg_pct))} % | {noise(s)} | {fmt(m(s.sl50))} µs (p99 {fmt(m(s.sl99))}) | {rv} | {rn} |")
    L.append("")

    L.append("### Idle memory at 10,000 connections, deflate negotiated (server RSS growth per connection)\n")
    L.append("Fresh server per measurement; 100 connections opened (upgraded) and closed first as a warm-up, then "
             "VmRSS read; 10,000 connections upgraded (with `--deflate shared`: every one negotiated deflate), "
             "nothing sent, RSS read again 0.5 s later; then one (checked) echo on every connection and RSS read a "
             "third time. Median (min–max) over fresh servers (`BENCH_IDLE_REPS`, 3 by default; *n* below). Unlike the idle rows above (baseline from a server "
             "that never had a connection), both rows here have the warm-up, so they compare with each other.\n")
    L.append("| server | 10,000 conns idle | after one echo each | n | target ≤200 B/conn |")
    L.append("|---|---|---|---|---|")
    for srv, lab in DFL_ROWS[:2]:
        s = S("dfl-idle10000", srv)
        if s.error:
            L.append(f"| {lab} | failed / not run: {s.error} | | | |")
            continue
        L.append(f"| {lab} | {fmt_mm(s.bpc, ' B')} | {fmt(m(s.bpc_echo), ' B')} | {len(s.runs)} | "
                 f"{verdict(m(s.bpc), ('<=', 200))} |")
    L.append("")


# rooms across nodes (Redis): server kind -> label
CL_ROWS = [
    ("wsloop", "plain wsloop, no `--redis` (baseline)"),
    ("wsloop-redis-1node", "1 node + Redis (every receiver on it)"),
    ("wsloop-redis-2nodes", "2 nodes + Redis (receivers half / half, sender on node A)"),
]


def cpu_parts(s):
    """Medians over the repetitions of server ns per delivery: (all wsloop nodes, redis-server)."""
    nodes, redis = [], []
    for rep in s.reps:
        parts = rep.get("server_cpu_by_process") or {}
        if parts:
            nodes.append(sum(v["ns_per_op"] for k, v in parts.items() if k.startswith("node-")))
            redis.append(sum(v["ns_per_op"] for k, v in parts.items() if k == "redis"))
    return med(nodes), med(redis)


def by_server_lat(s, i):
    """Median over runs of the fan-out latency to the last member on server i: (p50, p99, samples)."""
    v = [r["by_server"][i]["single_latency"] for r in s.runs if len(r.get("by_server") or []) > i]
    return med([x.get("p50_us") for x in v]), med([x.get("p99_us") for x in v]), med([x.get("n") for x in v])


def lat_noise(s):
    """Other processes' CPU during the latency phase (falls back to the repetitions')."""
    o = med([(r.get("single_latency") or {}).get("other_cpu_pct") for r in s.runs])
    if o is None:
        return noise(s)
    return f"{fmt(m(o))} %" + (" ⚠" if m(o) > 30 else "")


def us_v(x):
    """A time given in µs, shown in ms from 1,000 µs."""
    if x is None:
        return "–"
    return f"{fmt(x / 1e3)} ms" if abs(x) >= 1000 else f"{fmt(x)} µs"


def us(t):
    return us_v(m(t) if t else None)


def cluster_section(L, S):
    name = "cl-bcast1000"
    if all(S(name, srv).error == "not run" for srv, _ in CL_ROWS):
        return
    L.append("## Rooms across nodes (Redis)\n")
    L.append("Broadcast 1 → 1,000 receivers, 64 B binary messages, in the room `lobby` (`/chat`, plain clients). "
             "With `--redis` the sender's node posts each message to Redis (one Lua script: number, `XADD`, "
             "`PUBLISH`) and every node, the sender's too, delivers it when it comes back on its subscription. "
             "Three setups, each started fresh for the phase and stopped after it: plain wsloop without `--redis` "
             "(the baseline); 1 wsloop node with `--redis` (every receiver on it); 2 nodes with `--redis` (the "
             "load generator puts the receivers round-robin, 500 on each, and the sender on node A). Redis is a "
             "throw-away `redis-server` on a free 127.0.0.1 port (temp dir, `--save \"\" --appendonly no`).\n")
    L.append("**Pinning (2-core machine): every wsloop node and redis-server share CPU 0 (`taskset -c 0`), the "
             "load generator has CPU 1.** So 2 nodes do not get 2 cores here: these rows measure what rooms across "
             "nodes *cost*, not how far they scale. *Server CPU* = utime+stime of every node process plus "
             "redis-server over the repetition (/proc/PID/stat), ÷ deliveries (receivers only; the sender's own "
             "copy is not counted). Throughput: at most 32 messages outstanding (a message is complete once every "
             "member on every node has it). Latency: after the repetitions, one message at a time, send (stamped "
             "in the payload) → the last member to get it.\n")

    base = S(name, "wsloop")
    L.append("### Broadcast 1 → 1,000: throughput and server CPU (nodes + Redis)\n")
    L.append("| setup | deliveries/s | server ns/delivery, nodes + Redis | of which wsloop nodes | of which Redis | "
             "server CPU (sum) | loadgen CPU | other CPU | deliveries/s vs plain | ns/delivery vs plain |")
    L.append("|---|---|---|---|---|---|---|---|---|---|")
    for srv, lab in CL_ROWS:
        s = S(name, srv)
        if s.error:
            L.append(f"| {lab} | failed / not run: {s.error} |" + " |" * 8)
            continue
        nodes, redis = cpu_parts(s)
        if srv == "wsloop":
            nodes, redis = s.ns, None
        rv = "" if s is base or base.error else f"{fmt(ratio(m(s.rate), m(base.rate)))}×"
        rn = "" if s is base or base.error else f"{fmt(ratio(m(s.ns), m(base.ns)))}×"
        L.append(f"| {lab} | {fmt_mm(s.rate)} | {fmt_mm(s.ns)} | {fmt(m(nodes))} | "
                 f"{'–' if redis is None else fmt(m(redis))} | {fmt(m(s.srv_pct))} % | {fmt(m(s.lg_pct))} % | "
                 f"{noise(s)} | {rv} | {rn} |")
    L.append("")

    L.append("### Fan-out latency, one message at a time (send → last member)\n")
    L.append("Within one node: the plain and 1-node rows (sender and every receiver on one node). Across nodes: "
             "the 2-node row, sent on node A; *last on node B* is the cross-node fan-out (send on A → the last "
             "of node B's receivers), *last on node A* the same for A's receivers and the sender's own "
             "copy, which also comes back through Redis. With 1,000 receivers one message costs 1,000 loopback "
             "writes on CPU 0 and 1,000 reads on CPU 1 (several ms); the 1 → 10 rows show the trip through Redis "
             "without that on top. A latency phase shares CPU 0 with whatever else runs there: its *other CPU* "
             "column is measured over that phase alone.\n")
    L.append("| room | setup | p50 send → last member | p99 | last on node A: p50 / p99 | last on node B: p50 / p99 | "
             "samples | other CPU during this phase |")
    L.append("|---|---|---|---|---|---|---|---|")
    for row, room in (("cl-bcast1000", "1 → 1,000"), ("cl-lat10", "1 → 10 (5 / 5 on 2 nodes)")):
        if all(S(row, srv).error == "not run" for srv, _ in CL_ROWS):
            continue
        for srv, lab in CL_ROWS:
            s = S(row, srv)
            if s.error:
                L.append(f"| {room} | {lab} | failed / not run: {s.error} |" + " |" * 5)
                continue
            n = med([(r.get("single_latency") or {}).get("n") for r in s.runs])
            cells = []
            for i in (0, 1):
                p50, p99, _ = by_server_lat(s, i)
                cells.append("–" if p50 is None else f"{us(p50)} / {us(p99)}")
            L.append(f"| {room} | {lab} | **{us(s.sl50)}** | {us(s.sl99)} | {cells[0]} | {cells[1]} | "
                     f"{'–' if n is None else f'{m(n):,.0f}'} | {lat_noise(s)} |")
    L.append("")

    L.append("### What a message pays to go through Redis (1 node + Redis vs plain wsloop)\n")
    one = S(name, "wsloop-redis-1node")
    if base.error or one.error:
        L.append(f"Not measured: {base.error or one.error}\n")
        return
    recv = med([r.get("receivers") for r in one.runs])
    nrecv = m(recv) or 1000
    nodes, redis = cpu_parts(one)

    def delta(a, b, scale=1.0, show=lambda x: f"{fmt(x)} ns"):
        if a is None or b is None:
            return "–"
        d = (m(b) - m(a)) * scale
        return ("+" if d >= 0 else "−") + show(abs(d))

    per_msg = lambda x: us_v(x / 1e3)  # ns per message -> µs / ms

    L.append(f"The same broadcast (one sender, {nrecv:,.0f} receivers, one node), with and without `--redis`; "
             "per message = per delivery × receivers. Medians; with the noise of this machine, differences "
             "smaller than the min–max spread of the rows above are not significant.\n")
    L.append("| | plain wsloop | 1 node + Redis | cost of Redis |")
    L.append("|---|---|---|---|")
    L.append(f"| server CPU per message (nodes + Redis) | {per_msg(m(base.ns) * nrecv)} | "
             f"{per_msg(m(one.ns) * nrecv)} | **{delta(base.ns, one.ns, nrecv, per_msg)}** per message |")
    L.append(f"| … of which redis-server | – | {'–' if redis is None else per_msg(m(redis) * nrecv)} | "
             f"{'–' if redis is None else '+' + per_msg(m(redis) * nrecv)} per message |")
    L.append(f"| … of which the wsloop node | {per_msg(m(base.ns) * nrecv)} | "
             f"{'–' if nodes is None else per_msg(m(nodes) * nrecv)} | "
             f"{delta(base.ns, nodes, nrecv, per_msg)} per message |")
    L.append(f"| server CPU per delivery | {fmt(m(base.ns))} ns | {fmt(m(one.ns))} ns | {delta(base.ns, one.ns)} |")
    L.append(f"| deliveries/s (window 32) | {fmt(m(base.rate))} | {fmt(m(one.rate))} | "
             f"{fmt(ratio(m(one.rate), m(base.rate)))}× |")
    L.append(f"| fan-out latency p50, 1 message at a time | {us(base.sl50)} | {us(one.sl50)} | "
             f"**{delta(base.sl50, one.sl50, 1.0, us_v)}** |")
    L.append(f"| fan-out latency p99 | {us(base.sl99)} | {us(one.sl99)} | {delta(base.sl99, one.sl99, 1.0, us_v)} |")
    b10, o10 = S("cl-lat10", "wsloop"), S("cl-lat10", "wsloop-redis-1node")
    if not (b10.error or o10.error):
        L.append(f"| fan-out latency p50, 1 → 10 (the trip through Redis without 1,000 writes on top) | "
                 f"{us(b10.sl50)} | {us(o10.sl50)} | **{delta(b10.sl50, o10.sl50, 1.0, us_v)}** |")
        L.append(f"| fan-out latency p99, 1 → 10 | {us(b10.sl99)} | {us(o10.sl99)} | "
                 f"{delta(b10.sl99, o10.sl99, 1.0, us_v)} |")
    L.append(f"| other CPU (noise): throughput / latency phase | {noise(base)} / {lat_noise(base)} | "
             f"{noise(one)} / {lat_noise(one)} | |")
    L.append("")
    if any("⚠" in noise(x) + lat_noise(x) for x in (base, one, b10, o10) if not x.error):
        L.append("⚠ At least one of the two rows ran while other processes used more than 30 % of a CPU: "
                 "this comparison is unreliable; re-run `BENCH_GROUPS=cluster benches/run` on a quiet machine.\n")


def write_svg(path, groups, sub):
    W, H = 900, 430
    left, right, top, bottom = 60, 20, 60, 90
    pw, ph = W - left - right, H - top - bottom
    vmax = max([1.2] + [v for _, vals, _ in groups for v in vals.values() if v is not None])
    vmax = min(vmax, 3.0)
    y = lambda v: top + ph - min(v, vmax) / vmax * ph
    gw = pw / len(groups)
    bw = gw * 0.8 / len(PEERS)
    o = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
         f'font-family="sans-serif" font-size="12">',
         f'<rect width="{W}" height="{H}" fill="white"/>',
         f'<text x="{W / 2}" y="22" text-anchor="middle" font-size="16" font-weight="bold">'
         f'Throughput relative to the raw-TCP ceiling, same run (higher is better)</text>',
         f'<text x="{W / 2}" y="40" text-anchor="middle" fill="#555">{esc(sub)}; black tick = target</text>']
    step = 0.2 if vmax <= 1.6 else 0.5
    v = 0.0
    while v <= vmax + 1e-9:
        o.append(f'<line x1="{left}" x2="{W - right}" y1="{y(v):.1f}" y2="{y(v):.1f}" stroke="#ddd"/>')
        o.append(f'<text x="{left - 6}" y="{y(v) + 4:.1f}" text-anchor="end">{v:.1f}×</text>')
        v += step
    o.append(f'<line x1="{left}" x2="{W - right}" y1="{y(1):.1f}" y2="{y(1):.1f}" stroke="#333" '
             f'stroke-dasharray="5,4"/>')
    for gi, (label, vals, tline) in enumerate(groups):
        gx = left + gi * gw + gw * 0.1
        for si, srv in enumerate(PEERS):
            val = vals.get(srv)
            x = gx + si * bw
            if val is None:
                o.append(f'<text x="{x + bw / 2:.1f}" y="{top + ph - 4}" text-anchor="middle" font-size="10">n/a</text>')
                continue
            o.append(f'<rect x="{x:.1f}" y="{y(val):.1f}" width="{bw - 2:.1f}" height="{top + ph - y(val):.1f}" '
                     f'fill="{COLORS[srv]}"><title>{srv} {label}: {val:.2f}×</title></rect>')
            o.append(f'<text x="{x + bw / 2 - 1:.1f}" y="{y(val) - 3:.1f}" text-anchor="middle" font-size="10">'
                     f'{val:.2f}</text>')
        if tline is not None:
            o.append(f'<line x1="{gx - 2:.1f}" x2="{gx + bw * len(PEERS):.1f}" y1="{y(tline):.1f}" '
                     f'y2="{y(tline):.1f}" stroke="black" stroke-width="2"/>')
        o.append(f'<text x="{gx + bw * len(PEERS) / 2:.1f}" y="{top + ph + 18}" text-anchor="middle">'
                 f'{esc(label)}</text>')
    lx = left
    short = {"wsloop": "wsloop (log: default)", "wsloop-warn": "wsloop (RUST_LOG=warn)"}
    for srv in PEERS:
        o.append(f'<rect x="{lx}" y="{H - 30}" width="14" height="14" fill="{COLORS[srv]}"/>')
        o.append(f'<text x="{lx + 20}" y="{H - 19}">{esc(short.get(srv, srv))}</text>')
        lx += 165 if srv.startswith("wsloop") else 140
    o.append(f'<text x="{W - right}" y="{H - 40}" text-anchor="end" fill="#555">1.0× = raw TCP (dashed)</text>')
    o.append("</svg>")
    open(path, "w").write("\n".join(o) + "\n")


def esc(s):
    return str(s).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


if __name__ == "__main__":
    main()
