"""The client side of tests/nginx/cluster_check.sh: every assertion goes through nginx (the
upstream of tests/nginx/cluster.conf: node-a and node-b, joined through one Redis). Talking to a
node directly is only done to wait for it to be ready and to confirm node-b's shutdown window.

A tiny WebSocket client (Python standard library only), every wait bounded.
"""
import argparse
import base64
import json
import os
import re
import signal
import socket
import struct
import sys
import time

ROOM = "/chat/lb"
V1 = "wsloop.chat.v1"
TIMEOUT = 5.0  # any single socket operation


def fail(msg):
    raise SystemExit("nginx cluster check FAILED: " + msg)


def check(cond, msg):
    if not cond:
        fail(msg)


def connect(port, tries=50):
    for _ in range(tries):
        try:
            return socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        except ConnectionRefusedError:
            time.sleep(0.1)
    fail("cannot connect to 127.0.0.1:%d" % port)


def http_get(port, path):
    """(status, body) of a plain GET."""
    s = connect(port)
    s.sendall(("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n" % path).encode())
    data = b""
    try:
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    finally:
        s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    m = re.match(rb"HTTP/1\.1 (\d{3})", head)
    return (int(m.group(1)) if m else 0), body.decode(errors="replace")


class WS:
    """One client connection: the opening handshake, then masked frames out, frames in."""

    def __init__(self, port, origin, protocol=None, path=ROOM):
        self.sock = connect(port)
        self.buf = b""
        key = base64.b64encode(os.urandom(16)).decode()
        req = ("GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\nOrigin: %s\r\n"
               % (path, port, key, origin))
        if protocol:
            req += "Sec-WebSocket-Protocol: %s\r\n" % protocol
        self.sock.sendall((req + "\r\n").encode())
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                break
            self.buf += chunk
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        self.head = head.decode(errors="replace")
        m = re.match(r"HTTP/1\.1 (\d{3})", self.head)
        self.status = int(m.group(1)) if m else 0

    def header(self, name):
        m = re.search(r"(?im)^%s:\s*(.*?)\s*$" % re.escape(name), self.head)
        return m.group(1) if m else None

    def send(self, opcode, payload):
        mask = os.urandom(4)
        n = len(payload)
        if n < 126:
            hdr = bytes([0x80 | opcode, 0x80 | n])
        elif n < 65536:
            hdr = bytes([0x80 | opcode, 0x80 | 126]) + struct.pack(">H", n)
        else:
            hdr = bytes([0x80 | opcode, 0x80 | 127]) + struct.pack(">Q", n)
        self.sock.sendall(hdr + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

    def send_text(self, text):
        self.send(0x1, text.encode())

    def send_json(self, value):
        self.send_text(json.dumps(value))

    def _exact(self, n, deadline):
        while len(self.buf) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            self.sock.settimeout(min(left, TIMEOUT))
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                raise TimeoutError from None
            if not chunk:
                raise ConnectionError("closed")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def recv(self, deadline):
        """The next data message (opcode, payload); answers pings; raises on close/timeout."""
        while True:
            b0, b1 = self._exact(2, deadline)
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack(">H", self._exact(2, deadline))[0]
            elif n == 127:
                n = struct.unpack(">Q", self._exact(8, deadline))[0]
            payload = self._exact(n, deadline)
            op = b0 & 0x0F
            if op == 0x9:
                self.send(0xA, payload)
            elif op == 0x8:
                raise ConnectionError("close frame %r" % payload[:2])
            elif op in (0x1, 0x2):
                return op, payload

    def recv_text(self, deadline):
        return self.recv(deadline)[1].decode()

    def recv_event(self, kind, deadline):
        """The next v1 event of `kind`, skipping others (joined, status, ...)."""
        while True:
            v = json.loads(self.recv_text(deadline))
            if v.get("type") == kind:
                return v
            check(v.get("type") != "error", "v1 error: %r" % v)

    def close(self):
        try:
            self.send(0x8, struct.pack(">H", 1000))
            deadline = time.monotonic() + 2
            while True:  # until the server's close reply (or EOF)
                self.recv(deadline)
        except (ConnectionError, TimeoutError, OSError):
            pass
        self.sock.close()


def open_ws(port, origin, protocol=None):
    ws = WS(port, origin, protocol)
    check(ws.status == 101, "upgrade through nginx: %d, want 101\n%s" % (ws.status, ws.head))
    return ws


def named(port, origin, name):
    ws = open_ws(port, origin, V1)
    check(ws.header("Sec-WebSocket-Protocol") == V1, "v1 not selected:\n" + ws.head)
    ws.send_json({"type": "hello", "name": name})
    v = json.loads(ws.recv_text(time.monotonic() + 10))
    check(v.get("type") == "welcome", "hello %s: %r" % (name, v))
    return ws


def who(observer, want, deadline):
    """Waits until the room has `want` members; returns them."""
    while True:
        observer.send_json({"type": "who"})
        members = observer.recv_event("who", deadline)["members"]
        if len(members) == want:
            return members
        check(time.monotonic() < deadline, "who: %r, want %d members" % (members, want))
        time.sleep(0.1)


def origins_of(observer, texts, deadline):
    """The sender (`#id@node`) of each message in `texts`, as the v1 observer sees it."""
    found = {}
    while len(found) < len(texts):
        try:
            m = observer.recv_event("message", deadline)
        except TimeoutError:
            fail("observer saw %d of %d messages: %r" % (len(found), len(texts), found))
        if m.get("text") in texts:
            found[m["text"]] = m["from"]
    return found


def node_of(member):
    return member.rsplit("@", 1)[1] if "@" in member else "?"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lb", type=int, required=True)
    ap.add_argument("--node-a", type=int, required=True)
    ap.add_argument("--node-b", type=int, required=True)
    ap.add_argument("--b-pid", type=int, required=True)
    ap.add_argument("--access-log", required=True)
    args = ap.parse_args()
    lb = args.lb
    origin = "http://127.0.0.1:%d" % lb

    # Ready: both nodes serve and are linked to Redis (asked directly: set-up, not the check).
    deadline = time.monotonic() + 20
    for port in (args.node_a, args.node_b):
        while True:
            status, body = http_get(port, "/healthz")
            if status == 200 and '"cluster":"up"' in body:
                break
            check(time.monotonic() < deadline, "node :%d not ready: %d %s" % (port, status, body))
            time.sleep(0.1)

    # 1. /healthz through nginx: with nothing open, least_conn ties go round robin.
    seen = set()
    for _ in range(10):
        status, body = http_get(lb, "/healthz")
        check(status == 200, "GET /healthz through nginx: %d %s" % (status, body))
        seen.add(json.loads(body)["node"])
        if seen == {"node-a", "node-b"}:
            break
    check(seen == {"node-a", "node-b"}, "/healthz through nginx saw only %r" % seen)
    print("GET /healthz through nginx: answered by node-a and node-b")

    # 2. Origin passes through nginx unchanged; the nodes check it (403 is not retried).
    bad = WS(lb, "http://evil.example")
    check(bad.status == 403, "foreign Origin through nginx: %d, want 403" % bad.status)
    bad.sock.close()
    print("Origin passed through: %s -> 101 (below), http://evil.example -> 403" % origin)

    # 3. Several clients through nginx land on both nodes and are one room.
    observer = named(lb, origin, "observer")
    k = 6
    plain = [open_ws(lb, origin) for _ in range(k)]
    deadline = time.monotonic() + 20
    members = who(observer, k + 1, deadline)
    nodes = sorted({node_of(m) for m in members if m.startswith("#")})
    check(nodes == ["node-a", "node-b"], "plain members %r: not on both nodes" % members)
    probes = ["probe-%d" % i for i in range(k)]
    for ws, text in zip(plain, probes):
        ws.send_text(text)
    senders = origins_of(observer, set(probes), deadline)
    where = [node_of(senders[t]) for t in probes]
    check(set(where) == {"node-a", "node-b"}, "connections on %r: not on both nodes" % where)
    crossed = 0
    for j, ws in enumerate(plain):
        got = set()
        while got != set(probes):
            try:
                got.add(ws.recv_text(deadline))
            except TimeoutError:
                fail("connection %d (%s) got %r of %r" % (j, where[j], sorted(got), probes))
        crossed += sum(1 for i in range(k) if where[i] != where[j])
    print("%d WebSockets to %s through nginx: %d on node-a, %d on node-b (%s)"
          % (k, ROOM, where.count("node-a"), where.count("node-b"), " ".join(where)))
    print("every connection got all %d messages; %d deliveries crossed from one node to the other"
          % (k, crossed))

    # 4. SIGTERM node-b. Its clients get 1001; these do not answer, so node-b stays in its
    #    shutdown window (--close-timeout) answering 503, and nginx must pass new clients on.
    os.kill(args.b_pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while True:  # directly, to know the window is open
        status, body = http_get(args.node_b, "/healthz")
        if status == 503:
            break
        check(time.monotonic() < deadline, "node-b /healthz after SIGTERM: %d %s" % (status, body))
        time.sleep(0.05)
    direct = WS(args.node_b, origin)
    check(direct.status == 503, "node-b upgrade after SIGTERM: %d, want 503" % direct.status)
    direct.sock.close()
    print("node-b SIGTERMed: directly, /healthz 503 %s and an upgrade 503" % body.strip())

    observer2 = named(lb, origin, "observer2")
    m = 6
    fresh = [open_ws(lb, origin) for _ in range(m)]
    after = ["after-%d" % i for i in range(m)]
    for ws, text in zip(fresh, after):
        ws.send_text(text)
    deadline = time.monotonic() + 20
    senders = origins_of(observer2, set(after), deadline)
    where2 = [node_of(senders[t]) for t in after]
    check(set(where2) == {"node-a"}, "after SIGTERM, new connections on %r" % where2)
    status, body = http_get(args.node_b, "/healthz")
    check(status == 503, "node-b left its shutdown window too early: %d %s" % (status, body))
    print("%d new upgrades through nginx while node-b answers 503: all 101, all on node-a"
          % (m + 1))

    # nginx logs an upgraded request when its tunnel closes: close them, then read the log.
    for ws in fresh + [observer2]:
        ws.close()
    retried = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with open(args.access_log) as f:
            lines = [l for l in f if '"GET %s ' % ROOM in l]
        retried = [l.strip() for l in lines
                   if re.search(r"\" 101 .*upstream_status=503, 101", l)]
        closed = sum(1 for l in lines if " 101 " in l)
        if retried and closed >= m + 1:
            break
        time.sleep(0.1)
    check(retried, "no upgrade in the access log was refused by node-b (503) and retried:\n"
          + "".join(lines))
    print("access log: %d upgrade(s) went to node-b first, got 503 and were passed to node-a:"
          % len(retried))
    print("  " + retried[0])

    # 5. node-b gone for good: its clients hang up, it exits, nginx still takes new clients.
    b_conns = [ws for ws, w in zip(plain, where) if w == "node-b"]
    a_conns = [ws for ws, w in zip(plain, where) if w == "node-a"]
    for ws in b_conns + [observer]:  # observer too: it may be one of node-b's
        ws.sock.close()
    deadline = time.monotonic() + 25
    while True:
        try:
            socket.create_connection(("127.0.0.1", args.node_b), timeout=1).close()
        except ConnectionRefusedError:
            break
        except ConnectionResetError:
            # The probe reached node-b's listen queue just as the process exited, and the
            # kernel reset it; the next probe meets a closed port and is refused.
            pass
        check(time.monotonic() < deadline, "node-b did not exit after its clients left")
        time.sleep(0.1)
    late = open_ws(lb, origin)
    late.send_text("after-exit")
    deadline = time.monotonic() + 10
    for ws in [late] + a_conns:  # the newcomer and the old node-a clients: still one room
        while ws.recv_text(deadline) != "after-exit":
            pass
    status, body = http_get(lb, "/healthz")
    check(status == 200 and '"node":"node-a"' in body, "/healthz through nginx: %d %s" % (status, body))
    print("node-b exited: a new upgrade through nginx is 101, its message reached the %d old "
          "node-a clients; /healthz through nginx: 200 node-a" % len(a_conns))
    for ws in [late] + a_conns:
        ws.close()


if __name__ == "__main__":
    main()
