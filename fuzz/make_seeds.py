#!/usr/bin/env python3
"""Writes the hand-made seeds of the committed corpus, fuzz/seeds/<target>/.

Each seed is a small valid or nearly valid input in the target's format, so
the fuzzers start from inputs that reach the parsers instead of from nothing.
Run it again after changing it; inputs the fuzzers found are kept beside
these (fuzz/seeds/<target>/ after `make fuzz-merge`, crashes in
fuzz/regressions/<target>/).
"""
import os
import struct

ROOT = os.path.dirname(os.path.abspath(__file__))
MASK = bytes([0x12, 0x34, 0x56, 0x78])
KEY = "dGhlIHNhbXBsZSBub25jZQ=="


def frame(b0, payload, masked=True, mask=MASK):
    n = len(payload)
    out = bytearray([b0])
    m = 0x80 if masked else 0
    if n < 126:
        out.append(m | n)
    elif n <= 0xFFFF:
        out.append(m | 126)
        out += struct.pack(">H", n)
    else:
        out.append(m | 127)
        out += struct.pack(">Q", n)
    if masked:
        out += mask
        out += bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    else:
        out += payload
    return bytes(out)


def close(code, reason=b""):
    return frame(0x88, struct.pack(">H", code) + reason)


STREAMS = {
    "text": frame(0x81, b"Hello"),
    "binary": frame(0x82, bytes(range(256))),
    "fragments_ping": frame(0x01, b"frag") + frame(0x89, b"mid") + frame(0x00, b"men") + frame(0x80, b"ted"),
    "utf8_split": frame(0x01, "κό".encode()[:3]) + frame(0x80, "κό".encode()[3:]),
    "utf8_bad": frame(0x81, b"\xce\xba\xff"),
    "utf8_bad_late": frame(0x01, b"ok") + frame(0x80, b"\xed\xa0\x80"),
    "len16": frame(0x82, b"x" * 300),
    "len64": frame(0x82, b"y" * 70000)[:200],
    "len64_top_bit": bytes([0x82, 0xFF]) + struct.pack(">Q", 1 << 63) + MASK,
    "close_1000": close(1000, b"bye"),
    "close_empty": frame(0x88, b""),
    "close_one_byte": frame(0x88, b"\x03"),
    "close_bad_code": close(1005),
    "close_bad_reason": close(1000, b"\xff"),
    "close_then_more": close(1001) + frame(0x81, b"after"),
    "ping_pong": frame(0x89, b"p") + frame(0x8A, b"q"),
    "ping_126": frame(0x89, b"z" * 126),
    "ping_fragmented": frame(0x09, b"p"),
    "rsv1": frame(0xC1, b"x"),
    "reserved_opcode": frame(0x83, b""),
    "unmasked": frame(0x81, b"hi", masked=False),
    "continuation_first": frame(0x80, b"x"),
    "new_inside_fragmented": frame(0x01, b"a") + frame(0x81, b"b"),
    "many_small": b"".join(frame(0x81, b"m%d" % i) for i in range(50)),
    "empty_fragments": frame(0x01, b"") + frame(0x00, b"") + frame(0x80, b""),
    "pipelined_mixed": frame(0x81, b"a") + frame(0x89, b"") + frame(0x02, b"\x00") + frame(0x8A, b"") + frame(0x80, b"\x01") + close(3000),
}


def request(path="/echo", extra=""):
    return (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    ).encode()


REQUESTS = {
    "valid": request(),
    "valid_v1": request("/chat", "Sec-WebSocket-Protocol: wsloop.chat.v1\r\n"),
    "absolute_form": request("http://127.0.0.1:8080/chat"),
    "lowercase": request().lower().replace(KEY.lower().encode(), KEY.encode()),
    "no_host": request().replace(b"Host: 127.0.0.1\r\n", b""),
    "two_hosts": request().replace(b"Host: 127.0.0.1\r\n", b"Host: a\r\nHost: b\r\n"),
    "version_8": request().replace(b"Version: 13", b"Version: 8"),
    "no_version": request().replace(b"Sec-WebSocket-Version: 13\r\n", b""),
    "http10": request().replace(b"HTTP/1.1", b"HTTP/1.0"),
    "short_key": request().replace(KEY.encode(), b"c2hvcnQ="),
    "two_keys": request().replace(b"Sec-WebSocket-Version", f"Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version".encode()),
    "folded": request().replace(b"Upgrade: websocket", b"Upgrade:\r\n websocket"),
    "h2c": b"GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n",
    "plain_get": b"GET /app.js HTTP/1.1\r\nHost: x\r\n\r\n",
    "post": b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
    "not_utf8": request().replace(b"Host: 127.0.0.1", b"Host: \xff\xfe"),
    "unfinished": request()[:-2],
}


def write(target, name, data):
    d = os.path.join(ROOT, "seeds", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


for name, stream in STREAMS.items():
    # [piece seed][limit selector] + stream; a few piece sizes and limits.
    for seed, limit in [(0, 3), (7, 2), (200, 1)]:
        write("frames", f"{name}-{seed}-{limit}", bytes([seed, limit]) + stream)
for name, req in REQUESTS.items():
    for step in (1, 13, 255):
        write("handshake", f"{name}-{step}", bytes([step]) + req)


def route_byte(path_index, v1=False, raw=False):
    """The connection target's first byte: bit 0 raw, (r >> 1) % 6 the path,
    (r >> 4) % 2 the chat subprotocol."""
    for r in range(256):
        if r & 1 == raw and (r >> 1) % 6 == path_index and (r >> 4) % 2 == v1:
            return r
    raise ValueError(path_index)


PATHS = ["chat", "echo", "guest", "upload", "inspect", "room"]
for p, path in enumerate(PATHS):
    for v1 in (False, True):
        r = route_byte(p, v1)
        for name in ("text", "fragments_ping", "close_1000", "utf8_bad", "pipelined_mixed"):
            write("connection", f"{path}-v1{int(v1)}-{name}", bytes([r, 5]) + STREAMS[name])
    write("connection", f"{path}-raw", bytes([route_byte(p, raw=True), 9]) + request("/" + path) + STREAMS["text"])
v1 = [b'{"type":"hello","name":"ada"}', b'{"type":"say","text":"hi","id":"1"}', b'{"type":"who"}',
      b'{"type":"whisper","to":"ada","text":"psst"}', b'{"type":"hello","name":"ada"}', b"not json"]
write("connection", "v1-chat", bytes([route_byte(0, True), 17]) + b"".join(frame(0x81, m) for m in v1))
write("connection", "upload", bytes([route_byte(3), 3]) + frame(0x82, b"\x89PNG\r\n\x1a\n" + bytes(40)) + frame(0x81, b"text"))

# Redis replies, as wsloop's cluster code reads them.
REPLIES = {
    "ok": b"+OK\r\n",
    "error": b"-ERR unknown command 'x'\r\n",
    "int_negative": b":-12\r\n",
    "int_min": b":-9223372036854775808\r\n",
    "nil": b"$-1\r\n",
    "nil_array": b"*-1\r\n",
    "empty_bulk": b"$0\r\n\r\n",
    "bulk_crlf_inside": b"$6\r\na\r\nb\r\n\r\n",
    "message": b"*3\r\n$7\r\nmessage\r\n$5\r\nroom1\r\n$5\r\nhello\r\n",
    "subscribe_ack": b"*3\r\n$9\r\nsubscribe\r\n$5\r\nroom1\r\n:1\r\n",
    "nested": b"*2\r\n*1\r\n:1\r\n*2\r\n+x\r\n$-1\r\n",
    "pipelined": b"+OK\r\n:1\r\n$2\r\nhi\r\n*0\r\n",
    "unfinished_bulk": b"$10\r\nabc",
    "bad_type": b"+OK\r\n?\r\n",
}
for name, reply in REPLIES.items():
    # [piece seed][limit selector] + stream; 0xFF is the default limits,
    # 0x55 small ones (bulk 5, line 8, depth 1, 2 elements).
    for seed, limit in [(0, 0xFF), (7, 0xFF), (200, 0x55)]:
        write("resp", f"{name}-{seed}-{limit}", bytes([seed, limit]) + reply)
