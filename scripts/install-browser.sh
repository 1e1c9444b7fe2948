#!/usr/bin/env bash
# Install what tests/bb/test_dashboard.py needs: Debian's chromium (/usr/bin/chromium)
# and playwright-core 1.x (driver only, no browser download) in tests/web/node_modules.
# Idempotent; run as root on a fresh Debian 12.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
web="$src/tests/web"

if [ ! -x /usr/bin/chromium ]; then
  [ "$(id -u)" = 0 ] || { echo "chromium missing; need root to install it" >&2; exit 1; }
  echo "installing: chromium"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi
[ -x /usr/bin/chromium ] || { echo "chromium install failed" >&2; exit 1; }

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  [ "$(id -u)" = 0 ] || { echo "node/npm missing; need root to install nodejs and npm" >&2; exit 1; }
  echo "installing: nodejs npm"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq nodejs npm >/dev/null
fi

if [ -f "$web/node_modules/playwright-core/package.json" ]; then
  echo "playwright-core $(node -p "require('$web/node_modules/playwright-core/package.json').version") already installed in $web/node_modules"
else
  # playwright-core never downloads a browser by itself; drive.js uses /usr/bin/chromium.
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --no-audit --no-fund --no-save --prefix "$web" "playwright-core@1"
  [ -f "$web/node_modules/playwright-core/package.json" ] || { echo "playwright-core install failed" >&2; exit 1; }
  echo "playwright-core installed in $web/node_modules"
fi
