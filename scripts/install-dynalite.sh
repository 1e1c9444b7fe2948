#!/usr/bin/env bash
# Install dynalite 4.0.0 (the local DynamoDB behind tests/peers/ddb_peer.py) into
# tests/peers/node_modules.  Idempotent; on a fresh Debian 12 run it as root so that
# nodejs and npm can come from Debian's packages when node is missing.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
peers="$src/tests/peers"
version=4.0.0

if [ -f "$peers/node_modules/dynalite/cli.js" ]; then
  have=$(node -p "require('$peers/node_modules/dynalite/package.json').version" 2>/dev/null || echo "?")
  if [ "$have" = "$version" ]; then
    echo "dynalite $version already installed in $peers/node_modules"
    exit 0
  fi
  echo "dynalite $have found, installing $version"
fi

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  [ "$(id -u)" = 0 ] || { echo "node/npm missing; need root to install nodejs and npm" >&2; exit 1; }
  echo "installing: nodejs npm"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq nodejs npm >/dev/null
fi

# npm refuses to run lifecycle scripts as root unless told; dynalite's LevelDB binding
# ships prebuilt, so nothing is compiled.
npm install --no-audit --no-fund --no-save --prefix "$peers" "dynalite@$version"
[ -f "$peers/node_modules/dynalite/cli.js" ] || { echo "dynalite install failed" >&2; exit 1; }
echo "dynalite $version installed in $peers/node_modules"
