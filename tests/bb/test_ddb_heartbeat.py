"""The DynamoDB heartbeat never touches application data and never hides a
stall (issue 12), against dynalite behind the strict peer with the aws CLI as
the judge: a dedicated heartbeat table by default, checked at start (a
missing replica -> alarm, no heartbeat, the rest runs); application-table
mode with String, Number (operator-named reserved values), Binary and
composite keys, where items the application wrote before regiond started
are byte-identical afterwards, an item at a reserved key is never
overwritten, and a paused pair is a finding within stale_after."""
import json
import subprocess
import time

import boto_kit
from harness import (REGIOND, DdbPeer, Daemon, Nginx, check, check_eq, eventually, free_port, run_tests, tmpdir,
                     wait_for)
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


def app_items(peer, region, table):
    """The application's items (no heartbeat item) as `aws dynamodb scan --consistent-read` prints them."""
    out = peer.aws(region, "scan", "--table-name", table, "--consistent-read")
    return sorted(json.dumps(i, sort_keys=True) for i in out["Items"] if "hb_seq" not in i)


def put_items(peer, table, items):
    """One BatchWriteItem in us-east-1 (botocore, the aws CLI's request); then wait until the peer replicated them."""
    boto_kit.ddb(peer, "us-east-1").batch_write_item(
        RequestItems={table: [{"PutRequest": {"Item": it}} for it in items]})
    wait_for(lambda: all(len(peer.call("GET", f"/_peer/items?region={r}&table={table}")["items"]) >= len(items)
                         for r in peer.ports), 10, "application items replicated")


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


def test_number_key_refusals_and_reload():
    """A Number key without reserved values, or with a value an application item already uses: an
    alarm, no heartbeat write, the item untouched; a reload with good values starts it."""
    ports = [free_port() for _ in TWO]
    ngx = Nginx(ports)
    peer = DdbPeer(TWO, heartbeat_table=None)
    peer.call("POST", "/_peer/tables", table_spec("appn", [("order_id", "N", "HASH")]))
    put_items(peer, "appn", [{"order_id": {"N": "-5"}, "customer": {"S": "Dee"}, "total": {"N": "7"}}])
    want = {r: app_items(peer, r, "appn") for r in TWO}
    cfg = cfg_for(peer, ports, TWO, {"mode": "application"}, table="appn")
    d = Daemon(cfg, env=ENV)
    a = wait_for(lambda: alarm(d, "ddb-heartbeat"), 15, "heartbeat alarm (Number key, no reserved values)")
    check("number_keys" in a["summary"] and a["severity"] == "critical", f"alarm says why: {a['summary'][:160]}")
    check_eq(hb_state(d)["state"], "off", "heartbeat off")
    cfg["dynamodb"]["heartbeat"]["number_keys"] = {"us-east-1": "-5", "eu-west-1": "-6"}   # -5 is the application's
    d.reload(cfg)
    eventually(lambda: (lambda x: x if x and "did not write" in x["summary"] else None)(alarm(d, "ddb-heartbeat")),
               15, "a reserved value an application item uses is refused (collision alarm after reload)",
               show=lambda a: a["summary"][:160])
    cfg["dynamodb"]["heartbeat"]["number_keys"] = {"us-east-1": "-900000000001", "eu-west-1": "-900000000002"}
    d.reload(cfg)
    eventually(lambda: all(p["samples"] >= 2 for p in pairs(d).values()), 20,
               "reload with unused reserved values: heartbeat on")
    eventually(lambda: alarm(d, "ddb-heartbeat") is None, 10, "reload with unused reserved values: alarm resolved")
    check_eq(d.stop(), 0, "clean exit")
    check({r: app_items(peer, r, "appn") for r in TWO} == want,
          "the application item at the colliding value is byte-identical (aws CLI scan)")
    peer.stop()
    ngx.stop()


# ------------------------------------------------------------------ the dedicated table (default)
def test_dedicated_table():
    ports = [free_port() for _ in THREE]
    ngx = Nginx(ports)
    peer = DdbPeer(THREE)   # orders and regiond-heartbeat, both global over the three regions
    put_items(peer, "orders", [{"pk": {"S": "__regiond#hb#us-east-1#ctl-ddb"}, "total": {"N": "1"}},
                               {"pk": {"S": "A-1"}, "total": {"N": "2"}}])
    want = {r: app_items(peer, r, "orders") for r in THREE}
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
    check({r: app_items(peer, r, "orders") for r in THREE} == want,
          "the application table's items are byte-identical, even one at the reserved prefix (aws CLI scan)")
    orders = peer.call("GET", "/_peer/items?region=us-east-1&table=orders")["items"]
    check_eq(len(orders), 2, "nothing written into the application table")
    hbi = peer.call("GET", "/_peer/items?region=us-east-1&table=regiond-heartbeat")["items"]
    check_eq(sorted(i["hb_writer"]["S"] for i in hbi), sorted(THREE), "one heartbeat item per writer region")
    r = subprocess.run([REGIOND, "--print-iam-policy", "--config", d.cfg_path], capture_output=True, text=True,
                       timeout=10)
    items = [s for s in json.loads(r.stdout)["Statement"] if "dynamodb:PutItem" in s["Action"]]
    check(len(items) == 1 and all(a.endswith(":table/regiond-heartbeat") for a in items[0]["Resource"])
          and len(items[0]["Resource"]) == 3, f"IAM: PutItem/GetItem on the heartbeat table only ({items})")
    check("create-table --region us-east-1 --table-name regiond-heartbeat" in r.stderr
          and r.stderr.count("--replica-updates") == 2, "--print-iam-policy says how to create the heartbeat table")
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
    eventually(lambda: all(p["samples"] >= 2 for p in pairs(d).values()), 20, "replica added: heartbeat on")
    eventually(lambda: alarm(d, "ddb-heartbeat") is None, 10, "replica added: alarm resolved")
    check_eq(d.stop(), 0, "clean exit")
    peer.stop()
    ngx.stop()


if __name__ == "__main__":
    run_tests([test_dedicated_table_missing_replica, test_dedicated_table, test_number_key_refusals_and_reload])
