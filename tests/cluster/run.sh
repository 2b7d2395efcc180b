#!/usr/bin/env bash
# `make cluster [N=2] [PORT=8080]`: a throw-away redis-server on a free 127.0.0.1 port (temp dir,
# no persistence) and N wsloop nodes sharing PORT with --reuse-port, all joined through it.
# Open the page in two tabs: connections spread over the nodes, and they chat as one room.
# Ctrl-C stops all of it.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
N="${N:-2}"
PORT="${PORT:-8080}"
BIN="$ROOT/target/release/wsloop"
command -v redis-server >/dev/null || { echo "cluster: redis-server missing (sudo apt-get install -y redis-server, or make setup as root)"; exit 2; }
[ -x "$BIN" ] || { echo "cluster: no $BIN (cargo build --release)"; exit 2; }
DIR="$(mktemp -d)"
RPORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
PIDS=()
cleanup() { kill "${PIDS[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$DIR"; }
trap cleanup EXIT INT TERM
redis-server --port "$RPORT" --bind 127.0.0.1 --save "" --appendonly no --dir "$DIR" >"$DIR/redis.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 50); do redis-cli -p "$RPORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
for i in $(seq 1 "$N"); do
  "$BIN" --port "$PORT" --reuse-port --redis "redis://127.0.0.1:$RPORT" --node "node-$i" &
  PIDS+=($!)
done
echo "cluster: redis on 127.0.0.1:$RPORT, $N nodes on port $PORT — open http://127.0.0.1:$PORT/ in two tabs; Ctrl-C stops all"
wait
