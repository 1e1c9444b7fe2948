#!/usr/bin/env bash
# Build the libFuzzer targets (tests/fuzz/) into build-fuzz/ with clang and run
# each for SECONDS (default 10) over a copy of its seed corpus.  Fails when any
# target crashes (the reproducer is left in build-fuzz/fuzz-out/TARGET/).
# See docs/fuzzing.md.   scripts/fuzz.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
targets=(fuzz_cfg fuzz_r53_xml fuzz_ddb_json fuzz_cron fuzz_api)

if ! command -v clang >/dev/null || ! dpkg -s libclang-rt-14-dev >/dev/null 2>&1; then
  echo "=== installing clang + libclang-rt-14-dev"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y clang libclang-rt-14-dev >/dev/null 2>&1 ||
    { apt-get update >/dev/null && apt-get install -y clang libclang-rt-14-dev >/dev/null; }
fi

echo "=== fuzz targets (build-fuzz/, ${secs}s each)"
CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DREGIOND_FUZZ=ON >/dev/null
cmake --build build-fuzz -j"$(nproc)" --target "${targets[@]}" >/dev/null

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:halt_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
out=build-fuzz/fuzz-out
# The other targets as many at once as there are cores (each still runs its own
# SECONDS); the lines are printed in the targets' order at the end.
run_one() {
  local t=$1 work=$out/$1 log rc=0 execs eps cov ncorp crash
  rm -rf "$work"
  mkdir -p "$work/corpus"
  cp tests/fuzz/corpus/"$t"/* "$work/corpus/"
  log=$work/log
  (cd "$work" && "../../$t" -max_total_time="$secs" -timeout=20 -rss_limit_mb=2048 \
      -print_final_stats=1 corpus) >"$log" 2>&1 || rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1 || true)
  eps=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1 || true)
  cov=$(grep -Eo 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -1 || true)
  ncorp=$(find "$work/corpus" -type f | wc -l)
  if [ "$rc" -ne 0 ]; then
    crash=$(ls "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-* 2>/dev/null | head -1 || true)
    printf '%-14s FAILED (exit %s) execs=%s %s; input: %s\n' "$t" "$rc" "${execs:-?}" "${cov:-}" "${crash:-see $log}"
    grep -E 'ERROR|runtime error|SUMMARY' "$log" | head -5 || true
  else
    printf '%-14s ok  execs=%s (%s/s) %s corpus=%s\n' "$t" "${execs:-?}" "${eps:-?}" "${cov:-?}" "$ncorp"
  fi
  echo "$rc" >"$out/$t.rc"
}
# fuzz_ddb_json runs alone first: each of its inputs runs the daemon's loop
# with state writes (fsync), and one seed (pitr_disabled) took 5-6 s on a
# loaded machine; -timeout is 20 s so that a slow machine is not reported as
# a hang (an input that really hangs is still caught, after 20 s).
mkdir -p "$out"
rm -f "$out"/*.rc "$out"/*.line
run_one fuzz_ddb_json >"$out/fuzz_ddb_json.line" 2>&1 || true
jobs=$(nproc)
running=()
for t in "${targets[@]}"; do
  [ "$t" != fuzz_ddb_json ] || continue
  run_one "$t" >"$out/$t.line" 2>&1 &
  running+=("$!")
  if [ "${#running[@]}" -ge "$jobs" ]; then
    wait "${running[0]}" || true
    running=("${running[@]:1}")
  fi
done
wait || true
fail=0
for t in "${targets[@]}"; do
  cat "$out/$t.line"
  [ "$(cat "$out/$t.rc" 2>/dev/null || echo 1)" = 0 ] || fail=1
done
exit "$fail"
