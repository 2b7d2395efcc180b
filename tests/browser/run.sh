#!/bin/sh
# Run the wsloop real-browser end-to-end tests (headless Debian Chromium via playwright-core).
# Usage: tests/browser/run.sh   (env: WSLOOP_BIN=path/to/wsloop, UPDATE_SCREENSHOT=1)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
chromium=${CHROMIUM_BIN:-/usr/bin/chromium}
if [ ! -x "$chromium" ]; then
  echo "error: Chromium not found at $chromium. Install it with: apt-get install -y chromium" >&2
  exit 1
fi
if ! command -v node >/dev/null 2>&1; then
  echo "error: node not found (Node.js >= 18 is needed)" >&2
  exit 1
fi
if [ ! -d "$here/node_modules/playwright-core" ]; then
  (cd "$here" && npm ci --no-audit --no-fund)
fi
cd "$here"
exec node --test --test-concurrency=1 .
