#!/usr/bin/env python3
"""Memory churn (issue 13): 2,000 clients connect, chat, upload and drop in a
loop against one wsloop on 127.0.0.1 while the server's RSS is sampled once a
second. After the warm-up, RSS must stay within +-10 % of its level at the end
of the warm-up, or the run fails (exit 1).

    benches/churn.py [--seconds 600] [--clients 2000] [--warmup 0.2] [--binary PATH]
    make churn                      # 10 minutes; CHURN_SECONDS=180 make churn to shorten

Everything is bounded: the run stops at --seconds, each client at --max-cycles
connections, the uploads directory is emptied every 5 s. Only 127.0.0.1.
The client is written here from RFC 6455 (masked frames, the handshake), with
the standard library only.
"""
import argparse
import asyncio
import base64
import json
import os
import random
import resource
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time

HOST = "127.0.0.1"


def frame(opcode, payload):
    """A masked client frame with FIN set."""
    mask = os.urandom(4)
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
    elif n < 65536:
        head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return head + mask + body


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Stats:
    def __init__(self):
        self.connections = 0
        self.refused = 0
        self.messages = 0
        self.uploads = 0
        self.bytes_in = 0
        self.errors = 0


async def drain(reader, stats, wait):
    """Reads whatever arrives within `wait` seconds (the client never falls
    far behind, so the server's backlog limit is not what is measured)."""
    try:
        while True:
            data = await asyncio.wait_for(reader.read(65536), wait)
            if not data:
                return False
            stats.bytes_in += len(data)
            wait = 0.001
    except asyncio.TimeoutError:
        return True


async def one_connection(port, n, stats, rng, rooms):
    kind = rng.random()
    if kind < 0.6:
        path, v1 = f"/chat/churn-{rng.randrange(rooms)}", False
    elif kind < 0.7:
        path, v1 = f"/chat/churn-{rng.randrange(rooms)}", True
    elif kind < 0.9:
        path, v1 = "/upload", False
    else:
        path, v1 = "/echo", False
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        key = base64.b64encode(os.urandom(16)).decode()
        proto = "Sec-WebSocket-Protocol: wsloop.chat.v1\r\n" if v1 else ""
        writer.write(
            f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            f"Sec-WebSocket-Version: 13\r\n{proto}\r\n".encode()
        )
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        if not head.startswith(b"HTTP/1.1 101 "):
            stats.refused += 1
            return
        stats.connections += 1
        if v1:
            hello = {"type": "hello", "name": f"c{n}-{rng.randrange(1 << 30)}"}
            writer.write(frame(1, json.dumps(hello).encode()))
        for i in range(rng.randint(2, 6)):
            if path == "/upload":
                writer.write(frame(2, os.urandom(rng.randint(64, 2048))))
                stats.uploads += 1
            elif v1:
                say = {"type": "say", "text": f"message {i} from {n}", "id": str(i)}
                writer.write(frame(1, json.dumps(say).encode()))
            else:
                writer.write(frame(1, f"message {i} from {n} ".encode() * rng.randint(1, 20)))
            stats.messages += 1
            await writer.drain()
            if not await drain(reader, stats, rng.uniform(0.3, 1.2)):
                return
        end = rng.random()
        if end < 0.5:
            # A clean close: ours, then the server's, then TCP ends.
            writer.write(frame(8, struct.pack("!H", 1000)))
            await writer.drain()
            await drain(reader, stats, 2)
        elif end < 0.7:
            # A reset.
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        # else: just gone (FIN without a close frame).
    finally:
        writer.close()


async def client(port, n, deadline, stats, max_cycles, rooms):
    rng = random.Random(n)
    await asyncio.sleep(rng.uniform(0, 5))  # spread the first connects
    for _ in range(max_cycles):
        if time.monotonic() >= deadline:
            return
        try:
            await one_connection(port, n, stats, rng, rooms)
        except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError):
            stats.errors += 1
            await asyncio.sleep(0.5)
        await asyncio.sleep(rng.uniform(0.1, 0.5))


async def sampler(pid, deadline, samples, uploads, stats, t0):
    last_clean = time.monotonic()
    while time.monotonic() < deadline:
        samples.append((time.monotonic() - t0, rss_kib(pid)))
        if time.monotonic() - last_clean > 5:
            shutil.rmtree(uploads, ignore_errors=True)
            os.makedirs(uploads, exist_ok=True)
            last_clean = time.monotonic()
        if len(samples) % 30 == 0:
            t, r = samples[-1]
            print(f"  t={t:5.0f}s rss={r / 1024:6.1f} MiB connections={stats.connections} "
                  f"messages={stats.messages} uploads={stats.uploads} errors={stats.errors}",
                  flush=True)
        await asyncio.sleep(1)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=float(os.environ.get("CHURN_SECONDS", 600)))
    ap.add_argument("--clients", type=int, default=2000)
    ap.add_argument("--warmup", type=float, default=0.2, help="share of the run that is warm-up")
    ap.add_argument("--max-cycles", type=int, default=100_000, help="connections per client, at most")
    ap.add_argument("--rooms", type=int, default=200)
    ap.add_argument("--binary", default="target/release/wsloop")
    ap.add_argument("--out", default="", help="write the samples and summary as JSON here")
    args = ap.parse_args()

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, max(soft, 4 * args.clients + 256))
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))  # the server inherits it too

    uploads = tempfile.mkdtemp(prefix="wsloop-churn-")
    env = dict(os.environ, RUST_LOG=os.environ.get("RUST_LOG", "warn"))
    server = subprocess.Popen(
        [args.binary, "--host", HOST, "--port", "0", "--uploads", uploads],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, env=env,
    )
    try:
        banner = server.stdout.readline().decode()
        port = int(banner.strip().rsplit(":", 1)[1].split()[0].strip("/"))
        print(f"churn: wsloop pid {server.pid} on {HOST}:{port}, {args.clients} clients, "
              f"{args.seconds:.0f} s, warm-up {args.warmup:.0%}", flush=True)
        stats = Stats()
        samples = []
        t0 = time.monotonic()
        deadline = t0 + args.seconds

        async def run():
            tasks = [client(port, n, deadline, stats, args.max_cycles, args.rooms)
                     for n in range(args.clients)]
            tasks.append(sampler(server.pid, deadline, samples, uploads, stats, t0))
            await asyncio.gather(*tasks)

        asyncio.run(run())
        alive = server.poll() is None
    finally:
        server.kill()
        server.wait()
        shutil.rmtree(uploads, ignore_errors=True)

    warm = [r for t, r in samples if t >= args.seconds * args.warmup]
    if len(warm) < 10:
        print("churn: too few samples after warm-up", file=sys.stderr)
        return 1
    baseline = statistics.median(warm[:10])
    lo, hi = min(warm), max(warm)
    third = max(1, len(warm) // 3)
    summary = {
        "seconds": args.seconds,
        "clients": args.clients,
        "connections": stats.connections,
        "refused": stats.refused,
        "messages": stats.messages,
        "uploads": stats.uploads,
        "client_errors": stats.errors,
        "mib_received": round(stats.bytes_in / 2**20, 1),
        "rss_start_mib": round(samples[0][1] / 1024, 1),
        "rss_peak_mib": round(max(r for _, r in samples) / 1024, 1),
        "rss_baseline_mib": round(baseline / 1024, 1),
        "rss_after_warmup_min_mib": round(lo / 1024, 1),
        "rss_after_warmup_max_mib": round(hi / 1024, 1),
        "rss_first_third_median_mib": round(statistics.median(warm[:third]) / 1024, 1),
        "rss_last_third_median_mib": round(statistics.median(warm[-third:]) / 1024, 1),
        "max_deviation_pct": round(100 * max(hi - baseline, baseline - lo) / baseline, 1),
        "server_alive": alive,
    }
    summary["flat"] = alive and summary["max_deviation_pct"] <= 10
    print(json.dumps(summary, indent=1))
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"summary": summary, "samples": samples}, f)
    print("churn: RSS flat within 10 % after warm-up" if summary["flat"] else
          "churn: FAIL: RSS moved more than 10 % after warm-up (or the server died)")
    return 0 if summary["flat"] else 1


if __name__ == "__main__":
    sys.exit(main())
