# Sourced by scripts/demo.sh --cluster, after it has started nginx (the three
# regions on 127.0.0.41-43), the local Route 53 and the local DynamoDB; uses its
# $bin, $port, $demo, $pids, $helper, $ipnet, $r53_port, $dns_port and ddb().
# Three regiond instances, one per simulated region, share a majority lease over
# three plain lease tables (one per region), and all three are observers
# (cluster.quorum, k 2 of 3; docs/ha.md "Observers"). eu-west-1 breaks: all three
# views say it is down and the leader drains it; the leader is killed with
# kill -9: its view goes silent, another takes over and returns eu-west-1 when
# it heals (two fresh views are k). `regionctl status --observers` shows the
# three views side by side at each step.

ids=(use1-a euw1-a apse2-a)
keys=(AKIDDEMOUSE1 AKIDDEMOEUW1 AKIDDEMOAPSE2)
secrets=(demo/secret/key/use1 demo/secret/key/euw1 demo/secret/key/apse2)
ports=("$port" "$((port + 1))" "$((port + 2))")
named=("${ids[0]}=${ports[0]}" "${ids[1]}=${ports[1]}" "${ids[2]}=${ports[2]}")
ipids=()

# The lease tables: a plain table with a String key "name" in each region, what
# the README's aws dynamodb create-table makes at AWS (here signed by curl).
for r in "${regions[@]}"; do
  curl -fsS --aws-sigv4 "aws:amz:$r:dynamodb" --user "AKIDDEMO:demo/secret/key" \
    -H 'Content-Type: application/x-amz-json-1.0' -H 'X-Amz-Target: DynamoDB_20120810.CreateTable' \
    -d '{"TableName": "regiond-lease", "BillingMode": "PAY_PER_REQUEST",
         "KeySchema": [{"AttributeName": "name", "KeyType": "HASH"}],
         "AttributeDefinitions": [{"AttributeName": "name", "AttributeType": "S"}]}' \
    "http://127.0.0.1:$(ddb "$r")/" >/dev/null
done

# peek.py: what the instances and the local Route 53 show, and waits on them.
cat > "$demo/peek.py" <<'PY'
import json, sys, time, urllib.request

GUARD, NAME = "_regiond-epoch.api.example.test.", "api.example.test."


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=1) as r:
            return json.loads(r.read())
    except (OSError, ValueError):
        return None


def lease(port):
    s = get(f"http://127.0.0.1:{port}/v1/status")
    return s and s.get("lease")


def r53(port):
    """(guard epoch, guard holder, {set id: weight}) at the local Route 53."""
    recs = (get(f"http://127.0.0.1:{port}/_peer/records") or {}).get("records", [])
    epoch, holder = None, None
    for r in recs:
        if r["Name"] == GUARD and r["Type"] == "TXT":
            words = dict(w.strip('"').split("=", 1) for w in r["ResourceRecords"][0]["Value"].split() if "=" in w)
            epoch, holder = int(words.get("epoch", 0)), words.get("holder")
    return epoch, holder, {r["SetIdentifier"]: r["Weight"] for r in recs if r["Name"] == NAME and r["Type"] == "A"}


def until(timeout, f):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        v = f()
        if v:
            return v
        time.sleep(0.2)
    return None


cmd, args = sys.argv[1], sys.argv[2:]
if cmd == "wait-leader":            # TIMEOUT PORT...: "ID EPOCH PORT" of the one instance that leads
    def one():
        ls = [(p, lease(p)) for p in args[1:]]
        ls = [(p, l) for p, l in ls if l and l["leading"]]
        return ls[0] if len(ls) == 1 else None
    v = until(float(args[0]), one)
    if not v:
        sys.exit(1)
    print(v[1]["instance_id"], v[1]["epoch"], v[0])
elif cmd == "leases":               # ID=PORT...: one line per instance
    for a in args:
        iid, p = a.split("=")
        l = lease(p)
        if not l:
            print(f"  {iid:<8} not answering")
            continue
        h = l["holder"] or {}
        print(f"  {iid:<8} {'LEADS' if l['leading'] else 'follows':<8}"
              f" holder {h.get('id') or 'none'} (epoch {h.get('epoch', '-')}),"
              f" lease tables reachable {l['reachable']}/{len(l['tables'])}")
elif cmd == "wait-r53":             # TIMEOUT R53PORT EPOCH [SETID WEIGHT]: the guard (and a weight) as given
    def ok():
        e, h, w = r53(args[1])
        return e == int(args[2]) and (len(args) < 5 or w.get(args[3]) == int(args[4])) and (e, h, w)
    v = until(float(args[0]), ok)
    if not v:
        print("Route 53 has:", r53(args[1]))
        sys.exit(1)
    print(f"guard epoch {v[0]} (holder {v[1]}), weights "
          + ", ".join(f"{k} {x}" for k, x in sorted(v[2].items())))
elif cmd == "wait-views":           # TIMEOUT PORT REGION STATE N: N fresh observer views (as PORT reads them) say REGION is STATE
    def agree():
        vs = ((get(f"http://127.0.0.1:{args[1]}/v1/status") or {}).get("observers") or {}).get("views") or []
        n = [v["observer"] for v in vs if v.get("fresh")
             and any(r["region"] == args[2] and r["state"] == args[3] for r in v.get("regions") or [])]
        return n if len(n) >= int(args[4]) else None
    v = until(float(args[0]), agree)
    if not v:
        sys.exit(1)
    print(", ".join(v))
elif cmd == "wait-silent":          # TIMEOUT PORT OBSERVER: PORT shows OBSERVER's view as silent (not fresh)
    def silent():
        vs = ((get(f"http://127.0.0.1:{args[1]}/v1/status") or {}).get("observers") or {}).get("views") or []
        return any(v["observer"] == args[2] and v.get("seen") and not v.get("fresh") for v in vs)
    if not until(float(args[0]), silent):
        sys.exit(1)
elif cmd == "wait-applied":         # TIMEOUT PORT: the instance's last change once visible in DNS
    def vis():
        c = (get(f"http://127.0.0.1:{args[1]}/v1/weights") or {}).get("last_change") or {}
        return c if c.get("visible_after_ms") is not None else None
    c = until(float(args[0]), vis)
    if not c:
        sys.exit(1)
    print(f"decision {c['decision']}, change {c['change_id']}: {c['status']} after {c['insync_after_ms'] / 1000:.1f} s,"
          f" visible in DNS after {c['visible_after_ms'] / 1000:.1f} s")
PY
peek() { /usr/bin/python3 "$demo/peek.py" "$@"; }
# waiting ARGS: a peek.py wait, run in the background so that Ctrl-C (or SIGTERM)
# stops the demo at once (bash's wait is interrupted by a signal, a foreground
# command is not); its output goes to $out.
waiting() {
  peek "$@" > "$demo/peek.out" &
  helper=$!
  local rc=0
  wait "$helper" || rc=$?
  helper=""
  out=$(cat "$demo/peek.out")
  return "$rc"
}
fail() {
  echo "demo: $*" >&2
  for id in "${ids[@]}"; do echo "--- $id's log (last lines):" >&2; tail -n 15 "$demo/$id.log" >&2 || true; done
  exit 1
}
# views PORT ID: every observer's view side by side, as instance ID (on PORT) reads them.
# in_bg ARGS: a command run in the background and waited for, so that a signal
# (Ctrl-C, SIGTERM) stops the demo at once, as waiting does.
in_bg() {
  "$@" &
  helper=$!
  wait "$helper" || true
  helper=""
}
views() {
  echo ">>> regionctl --api http://127.0.0.1:$1 status --observers   (as $2 reads the views)"
  "$bin/regionctl" --api "http://127.0.0.1:$1" status --observers | sed 's/^/    /' || echo "    (regionctl failed)"
}
since() { /usr/bin/python3 -c 'import sys, time; print(f"{time.time() - float(sys.argv[1]):.1f}")' "$1"; }

for i in 0 1 2; do
  id=${ids[$i]}
  mkdir -p "$demo/state-$id"
  cat > "$demo/$id.json" <<CFG
{
  "controller": {"id": "$id", "listen": "127.0.0.1:${ports[$i]}", "state_dir": "$demo/state-$id"},
  "probe_defaults": {"interval_ms": 1000, "timeout_ms": 800, "rise": 2, "fall": 3},
  "aws": {"endpoints": {"route53": "http://127.0.0.1:$r53_port",
                         "dynamodb.us-east-1": "http://127.0.0.1:$(ddb us-east-1)",
                         "dynamodb.eu-west-1": "http://127.0.0.1:$(ddb eu-west-1)",
                         "dynamodb.ap-southeast-2": "http://127.0.0.1:$(ddb ap-southeast-2)"}},
  "route53": {"hosted_zone_id": "Z0DEMO0000000", "record_name": "api.example.test", "record_type": "A",
              "name_servers": ["127.0.0.1:$dns_port"], "dns_check": {"consecutive": 10, "interval_ms": 100}},
  "decision": {"hold_down_s": 5, "min_healthy_regions": 1},
  "regions": [
    {"name": "us-east-1", "api": [{"url": "http://${ipnet}1:$rport/prod/health", "body_contains": "\"ok\""}],
     "route53": {"value": "${ipnet}1", "weight": 100}},
    {"name": "eu-west-1", "api": [{"url": "http://${ipnet}2:$rport/prod/health", "body_contains": "\"ok\""}],
     "route53": {"value": "${ipnet}2", "weight": 100}},
    {"name": "ap-southeast-2", "api": [{"url": "http://${ipnet}3:$rport/prod/health", "body_contains": "\"ok\""}],
     "route53": {"value": "${ipnet}3", "weight": 100}}
  ],
  "cluster": {"instance_id": "$id", "advertise_url": "http://127.0.0.1:${ports[$i]}",
              "lease_tables": [{"region": "us-east-1", "table": "regiond-lease"},
                               {"region": "eu-west-1", "table": "regiond-lease"},
                               {"region": "ap-southeast-2", "table": "regiond-lease"}],
              "lease_ms": 5000, "renew_ms": 1000, "margin_ms": 1000,
              "quorum": {"observers": ["${ids[0]}", "${ids[1]}", "${ids[2]}"], "k": 2, "publish_ms": 1000}}
}
CFG
  "$bin/regiond" --check-config "$demo/$id.json" >/dev/null
  AWS_ACCESS_KEY_ID=${keys[$i]} AWS_SECRET_ACCESS_KEY=${secrets[$i]} \
    "$bin/regiond" --config "$demo/$id.json" 2>"$demo/$id.log" &
  pids+=($!)
  ipids+=($!)
done

cat <<TXT

Three regiond instances share one majority lease over three lease tables
(regiond-lease in us-east-1, eu-west-1 and ap-southeast-2, on the local DynamoDB):
  instance ${ids[0]}: pid ${ipids[0]}, api http://127.0.0.1:${ports[0]}, access key ${keys[0]}
  instance ${ids[1]}: pid ${ipids[1]}, api http://127.0.0.1:${ports[1]}, access key ${keys[1]}
  instance ${ids[2]}: pid ${ipids[2]}, api http://127.0.0.1:${ports[2]}, access key ${keys[2]}
  Route 53 peer: http://127.0.0.1:$r53_port      (curl -s http://127.0.0.1:$r53_port/_peer/records)
  DynamoDB peer: us-east-1 http://127.0.0.1:$(ddb us-east-1), eu-west-1 http://127.0.0.1:$(ddb eu-west-1), ap-southeast-2 http://127.0.0.1:$(ddb ap-southeast-2)
  other processes: nginx pid ${pids[0]}, Route 53 peer pid ${pids[1]}, DynamoDB peer pid ${pids[2]}
Logs: $demo/<instance>.log.  Dashboards: http://127.0.0.1:${ports[0]}/ (and the other two ports).
Only the leader calls Route 53; the others probe, decide and show status read-only.
All three are observers (cluster.quorum, k 2 of 3): each publishes its own view of the
regions to the lease tables every second, and the leader drains or returns a region
only when 2 fresh views agree (regionctl --api URL status --observers shows them).

TXT

t0=$(date +%s.%N)
waiting wait-leader 90 "${ports[@]}" || fail "no instance took the lease within 90 s"
read -r lid lep lport <<<"$out"
echo ">>> +$(since "$t0") s: $lid leads (epoch $lep); the others follow:"
peek leases "${named[@]}"
waiting wait-r53 30 "$r53_port" "$lep" || fail "$lid did not bump the guard to epoch $lep within 30 s: $out"
echo ">>> $lid set the fencing guard _regiond-epoch.api.example.test to its epoch at Route 53: $out"

for i in 0 1 2; do if [ "${ports[$i]}" = "$lport" ]; then li=$i; fi; done
lpid=${ipids[$li]}
waiting wait-views 30 "$lport" eu-west-1 up 3 || fail "the three observers' views did not all say eu-west-1 is up within 30 s"
views "$lport" "$lid"

echo ">>> eu-west-1 breaks (its nginx answers 503)"
tb=$(date +%s.%N)
touch "$demo/down-eu-west-1"
waiting wait-views 60 "$lport" eu-west-1 down 3 || fail "the three observers' views did not all say eu-west-1 is down within 60 s"
echo ">>> +$(since "$tb") s after the break: all three observers' views say eu-west-1 is down ($out)"
views "$lport" "$lid"
waiting wait-r53 60 "$r53_port" "$lep" eu-west-1 0 || fail "$lid did not drain eu-west-1 within 60 s: $out"
echo ">>> +$(since "$tb") s after the break: $lid drained eu-west-1 on the quorum rule (k 2 of 3); Route 53 has $out"
waiting wait-applied 60 "$lport" || fail "$lid's change did not become visible in DNS within 60 s"
echo ">>> applied by the leader $lid: $out"

echo ">>> kill -9 $lid (pid $lpid), the leader"
tk=$(date +%s.%N)
kill -9 "$lpid"
wait "$lpid" 2>/dev/null || true
rest=()
for p in "${pids[@]}"; do if [ "$p" != "$lpid" ]; then rest+=("$p"); fi; done
pids=("${rest[@]}")
others=()
for i in 0 1 2; do if [ "$i" != "$li" ]; then others+=("${ports[$i]}"); fi; done
waiting wait-leader 60 "${others[@]}" || fail "no other instance took over within 60 s"
read -r nid nep nport <<<"$out"
echo ">>> +$(since "$tk") s after the kill: $nid leads (epoch $nep, was $lep)"
peek leases "${named[@]}"
waiting wait-r53 60 "$r53_port" "$nep" eu-west-1 0 || fail "$nid did not bump the guard to epoch $nep within 60 s: $out"
echo ">>> +$(since "$tk") s after the kill: $nid bumped the guard, eu-west-1 stays drained; Route 53 has $out"
waiting wait-silent 30 "$nport" "$lid" || fail "$nid did not show $lid's view as silent within 30 s"
echo ">>> $lid's view is silent (its last one still says eu-west-1 is down); two fresh views are enough for k 2"
views "$nport" "$nid"

echo ">>> eu-west-1 heals (its nginx answers 200 again)"
th=$(date +%s.%N)
rm -f "$demo/down-eu-west-1"
waiting wait-r53 90 "$r53_port" "$nep" eu-west-1 100 || fail "$nid did not restore eu-west-1 within 90 s: $out"
r53out=$out
# the quorum takes this instance's own state live, its column shows its view as read back from
# the tables: wait until both fresh views (its own as read back included) say up
waiting wait-views 30 "$nport" eu-west-1 up 2 || fail "the two fresh views did not both say eu-west-1 is up within 30 s"
echo ">>> +$(since "$th") s after healing: $nid returned it (two fresh views say up); Route 53 has $r53out"
views "$nport" "$nid"
echo ">>> cluster demo done: the three observers saw eu-west-1 fail, $lid drained it, was killed; $nid took over and returned it"

start=$SECONDS
limit=${DEMO_SECONDS:-0}
while :; do
  echo "--- t=$((SECONDS - start))s"
  in_bg peek leases "${named[@]}"
  in_bg "$bin/regionctl" --api "http://127.0.0.1:$nport" weights
  in_bg views "$nport" "$nid"
  if [ "$limit" -gt 0 ] && [ "$((SECONDS - start))" -ge "$limit" ]; then break; fi
  sleep "${DEMO_TICK:-5}" & helper=$!
  wait "$helper" || true
  helper=""
done
