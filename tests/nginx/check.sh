#!/usr/bin/env bash
# Checks tests/nginx/nginx.conf for real: nginx -t, then nginx in front of wsloop on free
# loopback ports, the page over https://, a wss:// echo round trip with certificate checking
# on, and the Origin rule behind TLS. Skipped, with the reason, when nginx or openssl is
# missing. Usage: tests/nginx/check.sh (env WSLOOP_BIN, default target/release/wsloop).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=${WSLOOP_BIN:-$root/target/release/wsloop}
nginx=$(command -v nginx || ls /usr/sbin/nginx 2>/dev/null || true)
if [ -z "$nginx" ]; then
  echo "nginx check SKIPPED: nginx is not installed (apt-get install -y nginx-light)"
  exit 0
fi
command -v openssl >/dev/null || { echo "nginx check SKIPPED: openssl is not installed"; exit 0; }
[ -x "$bin" ] || { echo "nginx check: $bin missing; run cargo build --release" >&2; exit 1; }

dir=$(mktemp -d /tmp/wsloop-nginx.XXXXXX)
pids=()
cleanup() {
  "$nginx" -s quit -c "$dir/nginx.conf" -p "$dir/" -e "$dir/logs/error.log" 2>/dev/null || true
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$dir"
}
trap cleanup EXIT
mkdir -p "$dir/tls" "$dir/logs"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ws_port=$(free_port)
tls_port=$(free_port)
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -keyout "$dir/tls/key.pem" -out "$dir/tls/cert.pem" \
  -subj "/CN=localhost" -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" 2>/dev/null
# The committed file, with only the paths and ports of this run changed.
sed -e "s|/tmp/wsloop-nginx|$dir|g" -e "s|127.0.0.1:8080|127.0.0.1:$ws_port|" \
    -e "s|listen 127.0.0.1:8443|listen 127.0.0.1:$tls_port|" "$here/nginx.conf" > "$dir/nginx.conf"
"$nginx" -t -q -c "$dir/nginx.conf" -p "$dir/" -e "$dir/logs/error.log"
echo "nginx -t: ok ($("$nginx" -v 2>&1))"

RUST_LOG=warn "$bin" --host 127.0.0.1 --port "$ws_port" --allow-origin "https://127.0.0.1:$tls_port" \
  >"$dir/logs/wsloop.log" 2>&1 &
pids+=($!)
"$nginx" -c "$dir/nginx.conf" -p "$dir/" -e "$dir/logs/error.log"

python3 - "$tls_port" "$dir/tls/cert.pem" <<'PY'
import base64, os, socket, ssl, struct, sys, time
port, cafile = int(sys.argv[1]), sys.argv[2]
ctx = ssl.create_default_context(cafile=cafile)      # certificate checking stays on

def connect():
    for _ in range(50):
        try:
            return ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=5),
                                   server_hostname="127.0.0.1")
        except (ConnectionRefusedError, ssl.SSLError):
            time.sleep(0.1)
    raise SystemExit("nginx check: cannot connect to https://127.0.0.1:%d" % port)

def head(s):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    return data

s = connect()
s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
page = head(s)
assert page.startswith(b"HTTP/1.1 200"), page[:80]
print("https page: 200 over", s.version())

def upgrade(origin):
    s = connect()
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall(("GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\nOrigin: %s\r\n\r\n" % (key, origin)).encode())
    return s, head(s)

s, resp = upgrade("http://127.0.0.1:%d" % port)
assert resp.startswith(b"HTTP/1.1 403"), resp[:80]
print("http:// origin behind TLS: 403")
s, resp = upgrade("https://127.0.0.1:%d" % port)
assert resp.startswith(b"HTTP/1.1 101"), resp[:80]
payload = os.urandom(70000)
mask = os.urandom(4)
frame = bytes([0x82, 0x80 | 127]) + struct.pack(">Q", len(payload)) + mask + \
    bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
s.sendall(frame)
def exact(n):
    out = b""
    while len(out) < n:
        chunk = s.recv(n - len(out))
        assert chunk, "connection closed"
        out += chunk
    return out
b0, b1 = exact(2)
n = b1 & 0x7F
n = struct.unpack(">H", exact(2))[0] if n == 126 else struct.unpack(">Q", exact(8))[0] if n == 127 else n
assert b0 == 0x82 and exact(n) == payload, "echo differs"
print("wss:// echo of %d bytes through nginx: byte-exact" % len(payload))
PY
echo "nginx check: ok"
