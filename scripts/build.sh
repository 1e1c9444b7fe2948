#!/usr/bin/env bash
# Build regiond into build/ (or $1), optionally with sanitizers: scripts/build.sh build-asan asan
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build}
flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo)
[ "${2:-}" = asan ] && flags=(-DCMAKE_BUILD_TYPE=Debug -DREGIOND_SANITIZE=ON)
cmake -S . -B "$dir" "${flags[@]}" >/dev/null
cmake --build "$dir" -j"$(nproc)"
