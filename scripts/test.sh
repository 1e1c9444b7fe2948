#!/usr/bin/env bash
# Install, build and run every test: once normally, once under ASan+UBSan.
# A test that skips (exit 77, e.g. where network namespaces are refused) is
# reported as skipped, never as passed: after each suite a line gives the
# count of skipped tests and their names, and the run ends by repeating, per
# suite, that count and ctest's own summary lines (also when a suite fails
# and the run stops there).  Skips alone do not fail the run.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "=== floors (scripts/check-layers.py: no include goes up a floor, no cycle)"
/usr/bin/python3 scripts/check-layers.py
scripts/install-deps.sh test
scripts/install-dynalite.sh
scripts/install-browser.sh

recap=()
# run_suite DIR CTEST-ARGS...: ctest in DIR, its output shown as it runs;
# then "=== skipped tests in DIR: N" and one line per skipped test.
run_suite() {
  local dir=$1 log rc=0 n line
  shift
  log=$(mktemp)
  (cd "$dir" && ctest "$@") 2>&1 | tee "$log" || rc=$?
  n=$(grep -c -- '\*\*\*Skipped' "$log" || true)
  line="=== skipped tests in $dir/: $n"
  echo "$line"
  recap+=("$line")
  while IFS= read -r t; do
    echo "    skipped: $t"
    recap+=("    skipped: $t")
  done < <(sed -n 's/^.*Test *#[0-9]*: \([^ ]*\) .*\*\*\*Skipped.*$/\1/p' "$log")
  while IFS= read -r t; do recap+=("$t"); done \
    < <(grep -E '^[0-9]+% tests passed|^Total Test time' "$log")
  rm -f "$log"
  return "$rc"
}

# The summary, also when a suite fails and the run stops there.
summary() {
  echo "=== summary (skipped tests, then ctest's summary, per suite)"
  printf '%s\n' "${recap[@]}"
}

scripts/build.sh build
echo "=== test suite (build/)"
# Three tests at a time on two cores: the black-box tests wait on peers most
# of the time (six ~40 s tests averaged 0.4 of a core; -j2 152 s, -j3 113 s,
# ASan 149 s and 128 s, 6 Dec); their ports, namespaces and nft tables are
# chosen free or named by pid, so they do not meet.  The CPU-heavy tests ask
# for two slots (PROCESSORS 2, tests/CMakeLists.txt), so they never run
# beside two others.
run_suite build --output-on-failure -j3 --timeout 300 || { rc=$?; summary; exit "$rc"; }
scripts/build.sh build-asan asan
# Start the slowest tests first here too (ctest orders by measured times):
# the times the normal pass just measured, where the ASan build has none yet.
if [ ! -e build-asan/Testing/Temporary/CTestCostData.txt ] && [ -e build/Testing/Temporary/CTestCostData.txt ]; then
  mkdir -p build-asan/Testing/Temporary
  cp build/Testing/Temporary/CTestCostData.txt build-asan/Testing/Temporary/CTestCostData.txt
fi
echo "=== test suite under ASan+UBSan (build-asan/)"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:halt_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# Nine tests run nothing the ASan build changes, so the ASan pass does not
# run them a second time; the recap says so.  The same binaries in both
# passes: bb_test_valgrind always runs build/regiond; bb_test_package builds
# the .deb from the sources; bb_test_ddb_peer and bb_test_route53_peer test
# the peers alone, with the aws CLI, botocore and the system's curl.  No
# binary at all (Python reading the sources): bb_test_event_types, and the
# floors' and the test lint's checks with their self-tests (check_layers,
# check_layers_selftest, check_tests_lint, check_tests_lint_selftest).
again_list="bb_test_valgrind bb_test_package bb_test_ddb_peer bb_test_route53_peer bb_test_event_types"
again_list+=" check_layers check_layers_selftest check_tests_lint check_tests_lint_selftest"
again="^(${again_list// /|})\$"
recap+=("=== not run again under ASan (nothing the ASan build changes): $again_list")
run_suite build-asan --output-on-failure -j3 --timeout 600 -E "$again" || { rc=$?; summary; exit "$rc"; }
scripts/fuzz.sh 10
summary
