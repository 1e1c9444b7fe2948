#!/usr/bin/env bash
# The regiond demo: three simulated regions (nginx on 127.0.0.11-13), the
# daemon watching them, and one region broken and healed on a timer so you
# can watch the transitions.  Ctrl-C stops everything it started.
#   DEMO_SECONDS=N   stop by itself after N seconds (default: run until Ctrl-C)
#   DEMO_PORT=P      status API port (default 9470)
#   DEMO_CYCLE=S     break eu-west-1 at 1/4 of every S seconds, heal at 2/3 (default 60)
#   DEMO_REGION_PORT=P  the simulated regions' port (default 8080)
#   REGIOND_BUILD=D  use binaries from D, built already (tests use this)
# bash scripts/demo.sh --cluster: three instances instead (one per simulated
# region, ports DEMO_PORT to DEMO_PORT+2; nginx on 127.0.0.41-43) sharing a majority lease over three
# lease tables (one per region), all three observers (cluster.quorum, k 2); eu-west-1
# breaks, all three views say so and the leader drains it; the leader is killed with
# kill -9; another takes over and returns eu-west-1 when it heals; the observers'
# views are printed at each step (scripts/demo-cluster.sh); DEMO_SECONDS then
# counts from that scenario's end.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD
cluster=0
case "${1:-}" in
  "") ;;
  --cluster) cluster=1 ;;
  *) echo "usage: $0 [--cluster]" >&2; exit 2 ;;
esac
bin=${REGIOND_BUILD:-}
if [ -z "$bin" ]; then
  scripts/install-deps.sh demo
  scripts/install-dynalite.sh >/dev/null
  scripts/build.sh build >/dev/null
  bin=$top/build
fi

port=${DEMO_PORT:-9470}
demo=$(mktemp -d /tmp/regiond-demo.XXXXXX)
chmod 755 "$demo"   # nginx workers (user nobody) look for the down-* files here
pids=()
helper=""   # --cluster: a waiting helper (scripts/demo-cluster.sh)
# alive PID: the process runs (a child that exited and is not yet reaped does not)
alive() { [ -r "/proc/$1/status" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null; }
# Stops what the demo started: SIGTERM to each, 20 s for all of them to stop;
# one still running then is named on stderr and killed.
cleanup() {
  if [ -n "$helper" ]; then kill "$helper" 2>/dev/null || true; fi
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  local end=$((SECONDS + 20)) pid
  for pid in "${pids[@]}"; do
    while alive "$pid" && [ "$SECONDS" -lt "$end" ]; do sleep 0.2; done
    if alive "$pid"; then
      echo "demo: pid $pid ($(cat "/proc/$pid/comm" 2>/dev/null)) did not stop within 20 s of SIGTERM: killed" >&2
      kill -9 "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$demo"
}
trap cleanup EXIT
trap 'exit 0' INT TERM

regions=(us-east-1 eu-west-1 ap-southeast-2)
# the regions' addresses: 127.0.0.11-13 (127.0.0.41-43 for --cluster, so both can run at once)
ipnet=127.0.0.1
[ "$cluster" = 0 ] || ipnet=127.0.0.4
rport=${DEMO_REGION_PORT:-8080}   # their port
mkdir -p "$demo/nginx" "$demo/state"
servers=""
for i in 0 1 2; do
  servers+="
    server {
      listen $ipnet$((i + 1)):$rport;
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

# The local Route 53: a strict stand-in (tests/peers) with the weighted record
# api.example.test (one A record per region) and a name server for it.
cat > "$demo/zone.json" <<ZONE
{"id": "Z0DEMO0000000", "name": "example.test.", "records": [
  {"Name": "api.example.test.", "Type": "A", "SetIdentifier": "us-east-1", "Weight": 100, "TTL": 60, "ResourceRecords": [{"Value": "${ipnet}1"}]},
  {"Name": "api.example.test.", "Type": "A", "SetIdentifier": "eu-west-1", "Weight": 100, "TTL": 60, "ResourceRecords": [{"Value": "${ipnet}2"}]},
  {"Name": "api.example.test.", "Type": "A", "SetIdentifier": "ap-southeast-2", "Weight": 100, "TTL": 60, "ResourceRecords": [{"Value": "${ipnet}3"}]}]}
ZONE
if [ "$cluster" = 0 ]; then
  echo '[{"access_key": "AKIDDEMO", "secret_key": "demo/secret/key"}]' > "$demo/creds.json"
else   # one key per instance: the peers' logs say which instance called
  echo '[{"access_key": "AKIDDEMO", "secret_key": "demo/secret/key"},
 {"access_key": "AKIDDEMOUSE1", "secret_key": "demo/secret/key/use1"},
 {"access_key": "AKIDDEMOEUW1", "secret_key": "demo/secret/key/euw1"},
 {"access_key": "AKIDDEMOAPSE2", "secret_key": "demo/secret/key/apse2"}]' > "$demo/creds.json"
fi
/usr/bin/python3 tests/peers/route53_peer.py --zone "$demo/zone.json" --credentials "$demo/creds.json" \
  --port 0 --dns-port 0 --pending-ms "${DEMO_PENDING_MS:-3000}" >"$demo/peer.json" 2>"$demo/peer.log" &
pids+=($!)
for _ in $(seq 50); do [ -s "$demo/peer.json" ] && break; sleep 0.1; done
r53_port=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["port"])' "$demo/peer.json")
dns_port=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["dns_port"])' "$demo/peer.json")

# The local DynamoDB: one dynalite per region behind a strict front, the
# application's global table "orders", regiond's dedicated global heartbeat
# table "regiond-heartbeat" (what the README's create-table/update-table
# commands make at AWS), and a replicator (eu-west-1 receives with a 1.5 s delay).
cat > "$demo/tables.json" <<'TABLES'
[{"TableName": "orders", "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}], "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}], "BillingMode": "PAY_PER_REQUEST"},
 {"TableName": "regiond-heartbeat", "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}], "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}], "BillingMode": "PAY_PER_REQUEST"}]
TABLES
/usr/bin/python3 tests/peers/ddb_peer.py --regions us-east-1,eu-west-1,ap-southeast-2 \
  --credentials "$demo/creds.json" --table-config "$demo/tables.json" --pitr off --backup-ms 3000 \
  >"$demo/ddb.json" 2>"$demo/ddb.log" &
pids+=($!)
for _ in $(seq 100); do [ -s "$demo/ddb.json" ] && break; sleep 0.1; done
ddb() { /usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["regions"][sys.argv[2]]["port"] if sys.argv[2] != "control" else d["control_port"])' "$demo/ddb.json" "$1"; }
ddb_ctl=$(ddb control)
curl -fsS -X POST -d '{"to": "eu-west-1", "delay_ms": 1500}' "http://127.0.0.1:$ddb_ctl/_peer/replication" >/dev/null

if [ "$cluster" = 1 ]; then
  . scripts/demo-cluster.sh
  exit 0
fi

# A control-API token for regionctl's drill (the file must be private).
( umask 077; echo "demo $(od -An -tx1 -N20 /dev/urandom | tr -d ' \n')" > "$demo/tokens" )
export REGIOND_TOKEN_FILE="$demo/tokens"

cat > "$demo/regiond.json" <<CFG
{
  "controller": {"id": "demo", "listen": "127.0.0.1:$port", "state_dir": "$demo/state", "token_file": "$demo/tokens"},
  "probe_defaults": {"interval_ms": 1000, "timeout_ms": 800, "rise": 2, "fall": 3},
  "aws": {"endpoints": {"route53": "http://127.0.0.1:$r53_port",
                         "dynamodb.us-east-1": "http://127.0.0.1:$(ddb us-east-1)",
                         "dynamodb.eu-west-1": "http://127.0.0.1:$(ddb eu-west-1)",
                         "dynamodb.ap-southeast-2": "http://127.0.0.1:$(ddb ap-southeast-2)"}},
  "dynamodb": {"table": "orders", "describe_interval_s": 10, "rpo_ms": 5000,
               "heartbeat": {"table": "regiond-heartbeat", "interval_ms": 1000, "read_interval_ms": 200},
               "backups": [{"name": "every-minute", "regions": ["us-east-1"], "schedule": "* * * * *", "keep_last": 3}],
               "pitr": {"enabled": true, "check_interval_s": 10}},
  "route53": {"hosted_zone_id": "Z0DEMO0000000", "record_name": "api.example.test", "record_type": "A",
              "name_servers": ["127.0.0.1:$dns_port"], "dns_check": {"consecutive": 10, "interval_ms": 100}},
  "decision": {"hold_down_s": 5, "min_healthy_regions": 1},
  "regions": [
    {"name": "us-east-1", "api": [{"url": "http://127.0.0.11:$rport/prod/health", "body_contains": "\"ok\"", "latency_ms_max": 500}],
     "route53": {"value": "127.0.0.11", "weight": 100}},
    {"name": "eu-west-1", "api": [{"url": "http://127.0.0.12:$rport/prod/health", "body_contains": "\"ok\"", "latency_ms_max": 500}],
     "route53": {"value": "127.0.0.12", "weight": 100}},
    {"name": "ap-southeast-2", "api": [{"url": "http://127.0.0.13:$rport/prod/health", "body_contains": "\"ok\"", "latency_ms_max": 500}],
     "route53": {"value": "127.0.0.13", "weight": 100}}
  ]
}
CFG
export AWS_ACCESS_KEY_ID=AKIDDEMO AWS_SECRET_ACCESS_KEY=demo/secret/key
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
drill_at=$((cycle * 3 / 4))
drill_s=${DEMO_DRILL_S:-10}
drill_id=""
cat <<TXT

  Dashboard: http://127.0.0.1:$port/      (open it in a browser)

regiond is running.  Open another terminal and try:
  curl -s http://127.0.0.1:$port/v1/status | python3 -m json.tool
  curl -s http://127.0.0.1:$port/metrics
  curl -sN http://127.0.0.1:$port/v1/events
  $bin/regionctl --api http://127.0.0.1:$port status
  $bin/regionctl --api http://127.0.0.1:$port weights      # Route 53 weights and the last change
  $bin/regionctl --api http://127.0.0.1:$port decisions
  $bin/regionctl --api http://127.0.0.1:$port replicas     # DynamoDB replicas, replication lag per pair
  $bin/regionctl --api http://127.0.0.1:$port backups      # backup schedule (every minute here) and PITR
  curl -s http://127.0.0.1:$r53_port/_peer/records          # what the local Route 53 holds
Daemon log: $demo/regiond.log
Every ${cycle} s eu-west-1 breaks (answers 503) at ${brk} s, and heals at ${heal} s;
at ${drill_at} s a scripted drill drains ap-southeast-2 for ${drill_s} s, and its report follows.

TXT

# One line per Route 53 change: fault -> batch submitted -> INSYNC -> DNS-visible.
timeline() {
  /usr/bin/python3 - "$port" "$demo" <<'PY'
import json, os, sys, urllib.request, datetime
port, demo = sys.argv[1], sys.argv[2]
seen_f = os.path.join(demo, "seen")
seen = set(open(seen_f).read().split()) if os.path.exists(seen_f) else set()
try:
    f = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/weights", timeout=2))
except Exception:
    sys.exit(0)
c = f.get("last_change")
if not c or not c.get("visible_after_ms") or c["change_id"] in seen:
    sys.exit(0)
fault = os.path.join(demo, "fault-at")
sub = datetime.datetime.fromisoformat(c["submitted_at"].replace("Z", "+00:00")).timestamp()
t0 = float(open(fault).read()) if os.path.exists(fault) else sub
print(f">>> change {c['change_id']} (decision {c['decision']}): fault/heal -> batch submitted {sub - t0:.1f} s,"
      f" -> INSYNC {sub - t0 + c['insync_after_ms'] / 1000:.1f} s, -> visible in DNS {sub - t0 + c['visible_after_ms'] / 1000:.1f} s")
open(seen_f, "a").write(c["change_id"] + "\n")
PY
}

start=$SECONDS
limit=${DEMO_SECONDS:-0}
while :; do
  t=$((SECONDS - start))
  phase=$((t % cycle))
  if [ "$phase" -ge "$brk" ] && [ "$phase" -lt "$heal" ]; then
    [ -f "$demo/down-eu-west-1" ] || { echo ">>> t=${t}s: breaking eu-west-1 (nginx answers 503)"; touch "$demo/down-eu-west-1"; date +%s.%N > "$demo/fault-at"; }
  else
    [ -f "$demo/down-eu-west-1" ] && { echo ">>> t=${t}s: healing eu-west-1"; rm -f "$demo/down-eu-west-1"; date +%s.%N > "$demo/fault-at"; }
  fi
  if [ "$phase" -ge "$drill_at" ] && [ -z "$drill_id" ]; then
    echo ">>> t=${t}s: scripted drill: draining ap-southeast-2 for ${drill_s} s"
    out=$("$bin/regionctl" --api "http://127.0.0.1:$port" drill start ap-southeast-2 --for "${drill_s}s" --note "scripted demo drill" || true)
    echo "$out"
    drill_id=$(echo "$out" | sed -n 's/^drill id: \([0-9]*\).*/\1/p')
    [ -n "$drill_id" ] || drill_id=failed
  fi
  if [ -n "$drill_id" ] && [ "$drill_id" != failed ] && [ "$drill_id" != reported ] &&
     "$bin/regionctl" --api "http://127.0.0.1:$port" drill report "$drill_id" --json 2>/dev/null |
       /usr/bin/python3 -c 'import json,sys; r=json.load(sys.stdin); m={x["step"]: x["offset_s"] for x in r["milestones"]}; sys.exit(0 if m.get("traffic restored (DNS-visible)") is not None else 1)'; then
    echo ">>> drill report:"
    "$bin/regionctl" --api "http://127.0.0.1:$port" drill report "$drill_id" | sed -n '1,/^## Timeline/p'
    drill_id=reported
  fi
  echo "--- t=${t}s"
  "$bin/regionctl" --api "http://127.0.0.1:$port" status || true
  echo
  "$bin/regionctl" --api "http://127.0.0.1:$port" weights || true
  echo
  "$bin/regionctl" --api "http://127.0.0.1:$port" replicas || true
  echo
  "$bin/regionctl" --api "http://127.0.0.1:$port" backups || true
  timeline
  if [ "$limit" -gt 0 ] && [ "$t" -ge "$limit" ]; then break; fi
  sleep "${DEMO_TICK:-5}"
done
