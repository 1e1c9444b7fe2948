#!/usr/bin/env bash
# Packages the sandbox test needs beyond install-deps.sh: bubblewrap (bwrap)
# for tests/bb/test_hardening.py (runs regiond as nobody, / read-only).
set -euo pipefail
pkgs=(bubblewrap)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
sudo=""
[ "$(id -u)" -ne 0 ] && sudo=sudo
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends "${missing[@]}"
