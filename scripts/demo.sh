#!/usr/bin/env bash
# The regiond demo: three simulated regions (nginx on 127.0.0.11-13), the
# daemon watching them, and one region broken and healed on a timer so you
# can watch the transitions.  Ctrl-C stops everything it started.
#   DEMO_SECONDS=N   stop by itself after N seconds (default: run until Ctrl-C)
#   DEMO_PORT=P      status API port (default 9470)
#   DEMO_CYCLE=S     break eu-west-1 at 1/4 of every S seconds, heal at 2/3 (default 60)
#   REGIOND_BUILD=D  use binaries from D, built already (tests use this)
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD
bin=${REGIOND_BUILD:-}
if [ -z "$bin" ]; then
  scripts/install-deps.sh demo
  scripts/build.sh build >/dev/null
  bin=$top/build
fi

port=${DEMO_PORT:-9470}
demo=$(mktemp -d /tmp/regiond-demo.XXXXXX)
chmod 755 "$demo"   # nginx workers (user nobody) look for the down-* files here
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$demo"
}
trap cleanup EXIT
trap 'exit 0' INT TERM

regions=(us-east-1 eu-west-1 ap-southeast-2)
mkdir -p "$demo/nginx" "$demo/state"
servers=""
for i in 0 1 2; do
  servers+="
    server {
      listen 127.0.0.1$((i + 1)):8080;
      location = /prod/health {
        if (-f $demo/down-${regions[$i]}) { return 503 \"{\\\"status\\\":\\\"unavailable\\\"}\\n\"; }
        return 200 \"{\\\"status\\\":\\\"ok\\\",\\\"region\\\":\\\"${regions[$i]}\\\"}\\n\";
      }
    }"
done
cat > "$demo/nginx/nginx.conf" <<NGX
daemon off;
worker_processes 1;
pid $demo/nginx/nginx.pid;
error_log $demo/nginx/error.log warn;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path $demo/nginx/body;
  proxy_temp_path $demo/nginx/proxy;
  fastcgi_temp_path $demo/nginx/fastcgi;
  uwsgi_temp_path $demo/nginx/uwsgi;
  scgi_temp_path $demo/nginx/scgi;
  default_type application/json;
  $servers
}
NGX
nginx -p "$demo/nginx" -c "$demo/nginx/nginx.conf" -e "$demo/nginx/error.log" &
pids+=($!)

cat > "$demo/regiond.json" <<CFG
{
  "controller": {"id": "demo", "listen": "127.0.0.1:$port", "state_dir": "$demo/state"},
  "probe_defaults": {"interval_ms": 1000, "timeout_ms": 800, "rise": 2, "fall": 3},
  "regions": [
    {"name": "us-east-1", "api": [{"url": "http://127.0.0.11:8080/prod/health", "body_contains": "\"ok\"", "latency_ms_max": 500}]},
    {"name": "eu-west-1", "api": [{"url": "http://127.0.0.12:8080/prod/health", "body_contains": "\"ok\"", "latency_ms_max": 500}]},
    {"name": "ap-southeast-2", "api": [{"url": "http://127.0.0.13:8080/prod/health", "body_contains": "\"ok\"", "latency_ms_max": 500}]}
  ]
}
CFG
"$bin/regiond" --check-config "$demo/regiond.json"
"$bin/regiond" --config "$demo/regiond.json" 2>"$demo/regiond.log" &
pids+=($!)
for _ in $(seq 50); do
  curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
  sleep 0.2
done

cycle=${DEMO_CYCLE:-60}
brk=$((cycle / 4))
heal=$((cycle * 2 / 3))
cat <<TXT

regiond is running.  Open another terminal and try:
  curl -s http://127.0.0.1:$port/v1/status | python3 -m json.tool
  curl -s http://127.0.0.1:$port/metrics
  curl -sN http://127.0.0.1:$port/v1/events
  $bin/regionctl --api http://127.0.0.1:$port status
Daemon log: $demo/regiond.log
Every ${cycle} s eu-west-1 breaks (answers 503) at ${brk} s, and heals at ${heal} s.

TXT

start=$SECONDS
limit=${DEMO_SECONDS:-0}
while :; do
  t=$((SECONDS - start))
  phase=$((t % cycle))
  if [ "$phase" -ge "$brk" ] && [ "$phase" -lt "$heal" ]; then
    [ -f "$demo/down-eu-west-1" ] || { echo ">>> t=${t}s: breaking eu-west-1 (nginx answers 503)"; touch "$demo/down-eu-west-1"; }
  else
    [ -f "$demo/down-eu-west-1" ] && { echo ">>> t=${t}s: healing eu-west-1"; rm -f "$demo/down-eu-west-1"; }
  fi
  echo "--- t=${t}s"
  "$bin/regionctl" --api "http://127.0.0.1:$port" status || true
  if [ "$limit" -gt 0 ] && [ "$t" -ge "$limit" ]; then break; fi
  sleep "${DEMO_TICK:-5}"
done
