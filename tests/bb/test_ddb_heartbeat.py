"""The DynamoDB heartbeat never touches application data and never hides a
stall (issue 12), against dynalite behind the strict peer with the aws CLI as
the judge: a dedicated heartbeat table by default, checked at start (a
missing replica -> alarm, no heartbeat, the rest runs); application-table
mode with String, Number (operator-named reserved values), Binary and
composite keys, where items the application wrote before regiond started
are byte-identical afterwards, an item at a reserved key is never
overwritten, and a paused pair is a finding within stale_after."""
import base64
import json
import time

from harness import DdbPeer, Daemon, Nginx, check, check_eq, free_port, run_tests, tmpdir, wait_for
from test_dynamodb import ENV, pairs, replica

TWO = ["us-east-1", "eu-west-1"]
THREE = ["us-east-1", "eu-west-1", "ap-southeast-2"]
STALE_S, HB_MS, READ_MS = 2, 300, 100
# A finding is due stale_after after the first heartbeat that is not replicated; that write comes at
# most one heartbeat interval after the pause, and the check runs every read interval.  1.5 s of slack
# for this shared 2-core machine (ASan builds included).
FINDING_WITHIN_S = STALE_S + (HB_MS + READ_MS) / 1000 + 1.5


def cfg_for(peer, ports, regions, heartbeat, table="orders"):
    return {
        "controller": {"id": "ctl-ddb", "listen": f"127.0.0.1:{free_port()}", "state_dir": tmpdir(),
                       "log_level": "debug"},
        "probe_defaults": {"interval_ms": 300, "timeout_ms": 250, "rise": 2, "fall": 2},
        "aws": {"endpoints": {f"dynamodb.{r}": peer.url(r) for r in regions},
                "retry": {"base_ms": 50, "max_ms": 400, "max_attempts": 6}},
        "dynamodb": {"table": table, "describe_interval_s": 1, "rpo_ms": 60000, "stale_after_s": STALE_S,
                     "heartbeat": dict({"interval_ms": HB_MS, "read_interval_ms": READ_MS}, **heartbeat)},
        "regions": [{"name": r, "api": [{"url": f"http://127.0.0.1:{p}/health"}]} for r, p in zip(regions, ports)],
    }


def table_spec(name, keys):
    """keys: [(attr, type, HASH|RANGE)]"""
    return {"TableName": name, "BillingMode": "PAY_PER_REQUEST",
            "KeySchema": [{"AttributeName": a, "KeyType": k} for a, _, k in keys],
            "AttributeDefinitions": [{"AttributeName": a, "AttributeType": t} for a, t, _ in keys]}


def get_item(peer, region, table, key):
    """The item as the aws CLI prints it (raw JSON text), or None."""
    out = peer.aws(region, "get-item", "--table-name", table, "--key", json.dumps(key), "--consistent-read")
    return json.dumps(out.get("Item"), sort_keys=True) if out and "Item" in out else None


def stall_found(d, peer, src, dst):
    """Pause src -> dst at the peer; seconds until dst has the stall finding."""
    peer.call("POST", "/_peer/replication", {"from": src, "to": dst, "paused": True})
    t0 = time.monotonic()
    r = wait_for(lambda: (lambda x: x if f"replication from {src} stalled" in x["finding"] else None)(
        replica(d, dst)), FINDING_WITHIN_S + 10, f"a stall finding in {dst}", interval=0.05)
    took = time.monotonic() - t0
    peer.call("POST", "/_peer/replication", {"from": src, "to": dst, "paused": False})
    return took, r


def hb_state(d):
    return d.status()["dynamodb"]["heartbeat"]


def alarm(d, key):
    return next((a for a in d.status()["alarms"]["active"] if a["key"] == key), None)


# ------------------------------------------------------------------ application-table mode
APP_CASES = [
    # name, key schema, application items (written before regiond starts), heartbeat settings
    ("S", [("order_id", "S", "HASH")],
     [{"order_id": {"S": "regiond-heartbeat#us-east-1#ctl-ddb"}, "total": {"N": "12.50"}},
      {"order_id": {"S": "A-1"}, "customer": {"S": "Ada"}}], {}),
    ("N", [("order_id", "N", "HASH")],
     [{"order_id": {"N": "0"}, "customer": {"S": "Bob"}, "total": {"N": "99.95"}},
      {"order_id": {"N": "1"}, "customer": {"S": "Cy"}}],
     {"number_keys": {"us-east-1": "-900000000001", "eu-west-1": "-900000000002"}}),
    ("B", [("blob_id", "B", "HASH")],
     [{"blob_id": {"B": base64.b64encode(b"\x00\x01order").decode()}, "v": {"S": "x"}},
      {"blob_id": {"B": base64.b64encode(b"regiond-heartbeat").decode()}, "v": {"S": "y"}}], {}),
    ("composite S+N", [("tenant", "S", "HASH"), ("seq", "N", "RANGE")],
     [{"tenant": {"S": "acme"}, "seq": {"N": "0"}, "v": {"S": "first"}},
      {"tenant": {"S": "regiond-heartbeat"}, "seq": {"N": "0"}, "v": {"S": "looks like ours"}}],
     {"number_keys": {"us-east-1": "-1", "eu-west-1": "-2"}}),
]


def app_case(name, keys, items, hb):
    ports = [free_port() for _ in TWO]
    ngx = Nginx(ports)
    peer = DdbPeer(TWO, heartbeat_table=None)
    table = "app" + name.split()[0].lower()
    peer.call("POST", "/_peer/tables", table_spec(table, keys))
    for it in items:
        peer.aws("us-east-1", "put-item", "--table-name", table, "--item", json.dumps(it))
    key_names = [k for k, _, _ in keys]
    before = {}
    for it in items:
        key = {k: it[k] for k in key_names}
        wait_for(lambda: all(get_item(peer, r, table, key) for r in TWO), 10, "application items replicated")
        before[json.dumps(key, sort_keys=True)] = {r: get_item(peer, r, table, key) for r in TWO}
    d = Daemon(cfg_for(peer, ports, TWO, dict({"mode": "application"}, **hb), table=table), env=ENV)
    wait_for(lambda: all(p["samples"] >= 3 for p in pairs(d).values()), 30, f"{name}: lag samples for every pair")
    check_eq(hb_state(d)["state"], "on", f"{name}: heartbeat on in the application table")
    took, r = stall_found(d, peer, "us-east-1", "eu-west-1")
    check(took <= FINDING_WITHIN_S, f"{name}: paused us-east-1 -> eu-west-1 is a finding in {took:.2f} s "
          f"(<= stale_after {STALE_S} s + one write and read interval + slack = {FINDING_WITHIN_S:.1f} s)")
    wait_for(lambda: not replica(d, "eu-west-1")["finding"], 15, f"{name}: finding cleared after resume")
    check_eq(d.stop(), 0, f"{name}: clean exit")
    for k, want in before.items():
        got = {r: get_item(peer, r, table, json.loads(k)) for r in TWO}
        check(got == want, f"{name}: application item {k} byte-identical in both regions (aws CLI)")
    hb_items = [i for i in peer.call("GET", f"/_peer/items?region=eu-west-1&table={table}")["items"]
                if "hb_seq" in i]
    writers = sorted(i["hb_writer"]["S"] for i in hb_items)
    check_eq(writers, sorted(TWO), f"{name}: one heartbeat item per writer region, nothing else written")
    peer.stop()
    ngx.stop()


def test_app_table_key_types():
    for case in APP_CASES:
        app_case(*case)


def test_number_key_refusals_and_reload():
    """A Number key without reserved values, or with a value an application item already uses: an
    alarm, no heartbeat write, the item untouched; a reload with good values starts it."""
    ports = [free_port() for _ in TWO]
    ngx = Nginx(ports)
    peer = DdbPeer(TWO, heartbeat_table=None)
    peer.call("POST", "/_peer/tables", table_spec("appn", [("order_id", "N", "HASH")]))
    item = {"order_id": {"N": "-5"}, "customer": {"S": "Dee"}, "total": {"N": "7"}}
    peer.aws("us-east-1", "put-item", "--table-name", "appn", "--item", json.dumps(item))
    wait_for(lambda: get_item(peer, "eu-west-1", "appn", {"order_id": {"N": "-5"}}), 10, "replicated")
    want = {r: get_item(peer, r, "appn", {"order_id": {"N": "-5"}}) for r in TWO}
    cfg = cfg_for(peer, ports, TWO, {"mode": "application"}, table="appn")
    d = Daemon(cfg, env=ENV)
    a = wait_for(lambda: alarm(d, "ddb-heartbeat"), 15, "heartbeat alarm (Number key, no reserved values)")
    check("number_keys" in a["summary"] and a["severity"] == "critical", f"alarm says why: {a['summary'][:160]}")
    check_eq(hb_state(d)["state"], "off", "heartbeat off")
    cfg["dynamodb"]["heartbeat"]["number_keys"] = {"us-east-1": "-5", "eu-west-1": "-6"}   # -5 is the application's
    d.reload(cfg)
    a = wait_for(lambda: (lambda x: x if x and "did not write" in x["summary"] else None)(alarm(d, "ddb-heartbeat")),
                 15, "collision alarm after reload")
    check(True, f"a reserved value an application item uses is refused: {a['summary'][:160]}")
    cfg["dynamodb"]["heartbeat"]["number_keys"] = {"us-east-1": "-900000000001", "eu-west-1": "-900000000002"}
    d.reload(cfg)
    wait_for(lambda: all(p["samples"] >= 2 for p in pairs(d).values()), 20, "heartbeat runs with good values")
    wait_for(lambda: alarm(d, "ddb-heartbeat") is None, 10, "alarm resolved")
    check(True, "reload with unused reserved values: heartbeat on, alarm resolved")
    check_eq(d.stop(), 0, "clean exit")
    check_eq({r: get_item(peer, r, "appn", {"order_id": {"N": "-5"}}) for r in TWO}, want,
             "the application item at the colliding value is byte-identical (aws CLI)")
    peer.stop()
    ngx.stop()


# ------------------------------------------------------------------ the dedicated table (default)
def test_dedicated_table():
    ports = [free_port() for _ in THREE]
    ngx = Nginx(ports)
    peer = DdbPeer(THREE)   # orders and regiond-heartbeat, both global over the three regions
    app = {"pk": {"S": "regiond-heartbeat#us-east-1#ctl-ddb"}, "total": {"N": "1"}}
    peer.aws("us-east-1", "put-item", "--table-name", "orders", "--item", json.dumps(app))
    wait_for(lambda: all(get_item(peer, r, "orders", {"pk": app["pk"]}) for r in THREE), 10, "replicated")
    want = {r: get_item(peer, r, "orders", {"pk": app["pk"]}) for r in THREE}
    d = Daemon(cfg_for(peer, ports, THREE, {}), env=ENV)
    wait_for(lambda: all(p["samples"] >= 3 for p in pairs(d).values()), 30, "lag samples for every pair")
    hb = hb_state(d)
    check(hb["state"] == "on" and hb["table"] == "regiond-heartbeat" and hb["mode"] == "table",
          f"the dedicated table by default ({hb})")
    took, _ = stall_found(d, peer, "ap-southeast-2", "us-east-1")
    check(took <= FINDING_WITHIN_S, f"paused ap-southeast-2 -> us-east-1 is a finding in {took:.2f} s "
          f"(<= {FINDING_WITHIN_S:.1f} s)")
    wait_for(lambda: not replica(d, "us-east-1")["finding"], 15, "finding cleared after resume")
    check_eq(d.stop(), 0, "clean exit")
    check_eq({r: get_item(peer, r, "orders", {"pk": app["pk"]}) for r in THREE}, want,
             "the application table's item is byte-identical (aws CLI)")
    orders = peer.call("GET", "/_peer/items?region=us-east-1&table=orders")["items"]
    check_eq(len(orders), 1, "nothing written into the application table")
    hbi = peer.call("GET", "/_peer/items?region=us-east-1&table=regiond-heartbeat")["items"]
    check_eq(sorted(i["hb_writer"]["S"] for i in hbi), sorted(THREE), "one heartbeat item per writer region")
    peer.stop()
    ngx.stop()


def test_dedicated_table_missing_replica():
    ports = [free_port() for _ in THREE]
    ngx = Nginx(ports)
    peer = DdbPeer(THREE)
    peer.call("POST", "/_peer/replicas", {"region": "ap-southeast-2", "status": "ACTIVE",
                                          "table": "regiond-heartbeat", "present": False})
    d = Daemon(cfg_for(peer, ports, THREE, {}), env=ENV)
    a = wait_for(lambda: alarm(d, "ddb-heartbeat"), 15, "heartbeat alarm")
    check("no replica in ap-southeast-2" in a["summary"], f"the alarm names the missing replica: {a['summary'][:160]}")
    for r in THREE:
        d.wait_target(r, "up")
    time.sleep(2)
    st = d.status()
    check_eq(st["dynamodb"]["heartbeat"]["state"], "off", "no heartbeat")
    check(all(x["table_status"] == "ACTIVE" and not x["finding"] for x in st["dynamodb"]["regions"]),
          "the rest runs: every replica described, no finding, regions up")
    reqs = peer.call("GET", "/_peer/stats")["requests"]
    check_eq([x for x in reqs if x["op"] in ("PutItem", "GetItem")], [], "no heartbeat write or read at the peer")
    check(sum(1 for x in reqs if x["op"] == "DescribeTable") >= 6, "DescribeTable keeps running")
    peer.call("POST", "/_peer/replicas", {"region": "ap-southeast-2", "status": "ACTIVE",
                                          "table": "regiond-heartbeat", "present": True})
    wait_for(lambda: all(p["samples"] >= 2 for p in pairs(d).values()), 20, "heartbeat once the replica is there")
    wait_for(lambda: alarm(d, "ddb-heartbeat") is None, 10, "alarm resolved")
    check(True, "replica added: heartbeat on, alarm resolved")
    check_eq(d.stop(), 0, "clean exit")
    peer.stop()
    ngx.stop()


if __name__ == "__main__":
    run_tests([test_dedicated_table_missing_replica, test_dedicated_table, test_number_key_refusals_and_reload,
               test_app_table_key_types])
