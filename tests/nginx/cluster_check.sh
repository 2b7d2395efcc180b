#!/usr/bin/env bash
# Checks tests/nginx/cluster.conf for real: nginx -t, then a throw-away redis-server, two wsloop
# nodes (node-a, node-b) joined through it and nginx in front of them, all on free 127.0.0.1
# ports in a temp dir. Through nginx only, tests/nginx/cluster_check.py then shows that clients
# land on both nodes and chat as one room, that Origin is passed through, and that after SIGTERM
# to node-b new upgrades still succeed (node-b's 503 makes nginx try node-a). Skipped, with the
# reason, when nginx or redis-server is missing.
# Usage: tests/nginx/cluster_check.sh (env WSLOOP_BIN, default target/release/wsloop).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=${WSLOOP_BIN:-$root/target/release/wsloop}
nginx=$(command -v nginx || ls /usr/sbin/nginx 2>/dev/null || true)
if [ -z "$nginx" ]; then
  echo "nginx cluster check SKIPPED: nginx is not installed (apt-get install -y nginx-light)"
  exit 0
fi
if ! command -v redis-server >/dev/null; then
  echo "nginx cluster check SKIPPED: redis-server is not installed (apt-get install -y redis-server)"
  exit 0
fi
[ -x "$bin" ] || { echo "nginx cluster check: $bin missing; run cargo build --release" >&2; exit 1; }

dir=$(mktemp -d /tmp/wsloop-lb.XXXXXX)
pids=()
cleanup() {
  rc=$?
  # nginx daemonizes: stop it by its pid file (fast shutdown: open tunnels are cut), bounded.
  "$nginx" -s stop -c "$dir/nginx.conf" -p "$dir/" -e "$dir/logs/error.log" 2>/dev/null || true
  for _ in $(seq 1 30); do [ -e "$dir/logs/nginx.pid" ] || break; sleep 0.1; done
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  # Bounded: a node that has not gone after 3 s is killed.
  for _ in $(seq 1 30); do
    alive=0
    for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ $alive = 0 ] && break
    sleep 0.1
  done
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  if [ $rc -ne 0 ]; then
    for f in "$dir"/logs/*.log; do echo "--- $f (last 20 lines)"; tail -n 20 "$f"; done 2>/dev/null || true
  fi
  rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$dir/logs" "$dir/redis"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
redis_port=$(free_port)
a_port=$(free_port)
b_port=$(free_port)
lb_port=$(free_port)

# The committed file, with only the ports of this run changed.
sed -e "s|127.0.0.1:8081|127.0.0.1:$a_port|" -e "s|127.0.0.1:8082|127.0.0.1:$b_port|" \
    -e "s|listen 127.0.0.1:8000|listen 127.0.0.1:$lb_port|" "$here/cluster.conf" > "$dir/nginx.conf"
grep -q "127.0.0.1:$a_port max_fails" "$dir/nginx.conf" && grep -q "127.0.0.1:$b_port max_fails" "$dir/nginx.conf" \
  && grep -q "listen 127.0.0.1:$lb_port;" "$dir/nginx.conf" \
  || { echo "nginx cluster check: the placeholders in cluster.conf changed; update the sed above" >&2; exit 1; }
"$nginx" -t -q -c "$dir/nginx.conf" -p "$dir/" -e "$dir/logs/error.log"
echo "nginx -t: ok ($("$nginx" -v 2>&1))"

redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no --dir "$dir/redis" \
  >"$dir/logs/redis.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 50); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.1; done
redis-cli -p "$redis_port" ping >/dev/null || { echo "nginx cluster check: redis-server did not start" >&2; exit 1; }

# --close-timeout 20: node-b, once SIGTERMed, keeps answering (503) while clients that do not
# answer its close frame stay open; the check holds a few such clients to keep that window open.
node() { # name port
  RUST_LOG=info "$bin" --host 127.0.0.1 --port "$2" --redis "redis://127.0.0.1:$redis_port" --node "$1" \
    --allow-origin "http://127.0.0.1:$lb_port" --close-timeout 20 >"$dir/logs/$1.log" 2>&1 &
  pids+=($!)
}
node node-a "$a_port"
a_pid=${pids[-1]}
node node-b "$b_port"
b_pid=${pids[-1]}
"$nginx" -c "$dir/nginx.conf" -p "$dir/" -e "$dir/logs/error.log"
echo "redis 127.0.0.1:$redis_port, node-a :$a_port (pid $a_pid), node-b :$b_port (pid $b_pid), nginx :$lb_port"

python3 "$here/cluster_check.py" --lb "$lb_port" --node-a "$a_port" --node-b "$b_port" \
  --b-pid "$b_pid" --access-log "$dir/logs/access.log"
echo "nginx cluster check: ok"
