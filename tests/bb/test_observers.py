"""Observers' views (issue 18, first slice: items 1 and 4): three running regiond instances, each
an observer, publish their view of the regions to the lease tables and show every observer's; a
fourth configured observer (ctl-4) never runs.  ctl-3 probes region r2 at a closed port (its own
vantage fails), the others at nginx.  Checked: every instance's /v1/status shows the three views,
fresh, with ctl-3's r2 down and the others' up, and ctl-4 never seen; the items at the DynamoDB
peer carry the same (its store, and the aws CLI for the final word); metrics show it.  Input we did
not write ourselves: an operator (botocore, the aws CLI's PutItem) puts a malformed view item under ctl-4's key: every
instance refuses it, names it in alarm cluster-view, and keeps running; deleted (boto3), the alarm
resolves.  A second actor: an operator (boto3) puts a malformed view over ctl-2's with a higher epoch
on every table: ctl-2's next write is refused as older, it reads its epoch again and publishes
above it, and every instance takes ctl-2's view again."""
import json
import subprocess

import boto_kit
from harness import REGIONCTL, check, eventually, free_port, run_tests
from observer_kit import (stop_checked, NAME, PUBLISH_MS, REGIONS, TABLE, alarms, region_state, sdk, start, start_nginx,
                          start_peer, view_item, view_items_fast, views)

OBS = ["ctl-1", "ctl-2", "ctl-3", "ctl-4"]
RUNNING = OBS[:3]
# probes: interval 1 s, fall/rise 2 (lease_kit): a state settles ~3 s after start; one publish and
# one read more to show it everywhere; margin for a loaded 2-core machine (ASan included).
SETTLE_S = 3 + 2 * PUBLISH_MS / 1000 + 10
# a refused item is seen at the next read (every publish_ms), plus margin
SEEN_S = 2 * PUBLISH_MS / 1000 + 6


def want(o):
    return {"r1": "up", "r2": "down" if o == "ctl-3" else "up"}


def all_show_difference(ds):
    for d in ds:
        vs = views(d)
        if set(vs) != set(OBS) or vs["ctl-4"]["seen"] or vs["ctl-4"]["fresh"]:
            return False
        if not all(vs[o]["fresh"] and all(region_state(vs[o], r) == s for r, s in want(o).items())
                   for o in RUNNING):
            return False
    return True


def peer_store_shows_difference(peer):
    """In every table, each running observer's item carries its view (ctl-3: r2 down); none of ctl-4."""
    for r in REGIONS:
        its = view_items_fast(peer, r)
        if "ctl-4" in its:
            return False
        for o in RUNNING:
            it = its.get(o)
            doc = it and it["doc"]
            if not doc or doc.get("observer") != o or it.get("owner") != o or doc["suspect"] is not False:
                return False
            if {x["region"]: x["state"] for x in doc["regions"]} != want(o):
                return False
    return True


def test_views():
    peer = start_peer()
    ng = start_nginx()
    ds = []
    try:
        ds = [start(1, peer, ng, observers=OBS), start(2, peer, ng, observers=OBS),
              start(3, peer, ng, observers=OBS, r2_url=f"http://127.0.0.1:{free_port()}/health")]
        if not eventually(lambda: all_show_difference(ds), SETTLE_S,
                          "every instance shows the three views, fresh, ctl-3's r2 down, the rest up, ctl-4 never seen"):
            print(json.dumps({d.iid: views(d) for d in ds}, indent=1)[:6000], flush=True)
            return
        eventually(lambda: peer_store_shows_difference(peer), 3 * PUBLISH_MS / 1000 + 3,
                   "the DynamoDB peer's tables hold each observer's view (ctl-3: r2 down)")
        it = view_item(peer, REGIONS[1], "ctl-3")
        check(it and it["owner"] == "ctl-3" and it["doc"] and
              {x["region"]: x["state"] for x in it["doc"]["regions"]} == want("ctl-3"),
              f"the aws CLI reads ctl-3's item with r2 down ({it and it['doc']})")
        def metrics_show():
            code, body = ds[0].get("/metrics")
            m = body.decode() if code == 200 else ""
            return ('regiond_observer_region_up{observer="ctl-3",region="r2"} 0' in m
                    and 'regiond_observer_region_up{observer="ctl-2",region="r2"} 1' in m
                    and 'regiond_observer_view_fresh{observer="ctl-3"} 1' in m
                    and 'regiond_observer_view_fresh{observer="ctl-4"} 0' in m)
        eventually(metrics_show, 5, "metrics show the views")

        r = subprocess.run([REGIONCTL, "--api", ds[1].base, "status", "--observers"], capture_output=True,
                           text=True, timeout=10)
        grid = [line.split() for line in r.stdout.splitlines()]
        check(r.returncode == 0 and ["REGION", "ctl-1", "ctl-2", "ctl-3", "ctl-4", "QUORUM"] in grid
              and ["r2", "up", "up", "down", "-"] in [g[:5] for g in grid]
              and ["r1", "up", "up", "up", "-", "up"] in grid
              and any(g[:2] == ["ctl-4", "never"] for g in grid) and any(g[:2] == ["ctl-2", "(self)"] for g in grid),
              f"regionctl status --observers prints the views side by side:\n{r.stdout}{r.stderr}")
        r = subprocess.run([REGIONCTL, "--api", ds[1].base, "status", "--json", "--observers"], capture_output=True,
                           text=True, timeout=10)
        check(r.returncode == 0 and [v["observer"] for v in json.loads(r.stdout)["views"]] == OBS,
              "regionctl status --observers --json prints the status member")

        # input we did not write: a malformed view under ctl-4's key
        bad_doc = json.dumps({"v": 1, "observer": "ctl-4", "elapsed_ms": 1, "window_ms": 1, "suspect": False,
                              "regions": [{"region": "r1", "state": "sideways", "reason": "x", "age_ms": 1,
                                           "probes": 1, "failures": 0}]})
        boto_kit.ddb(peer, REGIONS[0]).put_item(TableName=TABLE, Item={   # an operator's PutItem (the aws CLI's)
            "name": {"S": f"{NAME}#view#ctl-4"}, "epoch": {"N": "1"}, "seq": {"N": "1"},
            "doc": {"S": bad_doc}, "owner": {"S": "ctl-4"}})

        def named(d):
            a = alarms(d).get("cluster-view")
            return bool(a and f"{NAME}#view#ctl-4" in a["summary"] and "regions[0].state" in a["summary"])
        eventually(lambda: all(named(d) for d in ds), SEEN_S,
                   "every instance refuses ctl-4's malformed item and names it in alarm cluster-view")
        for d in ds:
            v = views(d).get("ctl-4", {})
            check(d.proc.poll() is None and not v.get("seen") and "state" in (v.get("refused") or ""),
                  f"{d.iid} runs on, holds no view of ctl-4, shows why it refused the item")

        op = sdk(peer)
        op[REGIONS[0]].delete_item(TableName=TABLE, Key={"name": {"S": f"{NAME}#view#ctl-4"}})
        eventually(lambda: all("cluster-view" not in alarms(d) and views(d)["ctl-4"]["refused"] is None for d in ds),
                   SEEN_S, "once the operator deletes the item, the alarm resolves on every instance")

        # a second actor: a malformed view over ctl-2's own item, with a higher epoch, on every table
        e = max(int(i["ctl-2"]["epoch"]) for i in (view_items_fast(peer, r) for r in REGIONS)) + 5
        for r in REGIONS:
            op[r].put_item(TableName=TABLE, Item={"name": {"S": f"{NAME}#view#ctl-2"}, "epoch": {"N": str(e)},
                                                  "seq": {"N": "1"}, "doc": {"S": "{not json"},
                                                  "owner": {"S": "ctl-2"}})

        def healed():
            above = sum(1 for r in REGIONS for i in [view_items_fast(peer, r).get("ctl-2")]
                        if i and int(i["epoch"]) > e and i["doc"] and i["doc"]["observer"] == "ctl-2")
            return above * 2 > len(REGIONS) and all(
                (lambda v: v["fresh"] and v["epoch"] > e and v["refused"] is None)(views(d)["ctl-2"]) for d in ds)
        eventually(healed, 6 * PUBLISH_MS / 1000 + 8,
                   "ctl-2 publishes above the operator's item (on a majority at the peer); every instance takes it")
        check(all(d.proc.poll() is None for d in ds), "no instance crashed")
    finally:
        stop_checked(ds, ng, peer)


if __name__ == "__main__":
    run_tests([test_views])
