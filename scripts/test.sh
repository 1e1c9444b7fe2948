#!/usr/bin/env bash
# Install, build and run every test: once normally, once under ASan+UBSan.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh test
scripts/install-dynalite.sh
scripts/install-browser.sh
scripts/build.sh build
echo "=== test suite (build/)"
(cd build && ctest --output-on-failure -j2 --timeout 300)
scripts/build.sh build-asan asan
echo "=== test suite under ASan+UBSan (build-asan/)"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:halt_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
(cd build-asan && ctest --output-on-failure -j2 --timeout 600)
scripts/fuzz.sh 10
