#!/usr/bin/python3
"""Takeover time and the lease's DynamoDB request rate (issue 17's performance
figures), measured against the real peers of tests/bb/test_ha.py: three
regiond instances, three lease tables on the strict DynamoDB peer (one
dynalite per region), the strict Route 53 peer and nginx.

Each run, from steady state (every weight 100, one leader, the others
following): kill -9 the leader and, at the same moment, make one region's
nginx answer 503. Measured on this host's monotonic clock against the PEERS:
  leading  — kill -> a survivor's /v1/status says leading;
  bump     — kill -> the new leader's guard bump lands at the Route 53 peer;
  applied  — kill -> the batch that drains the failed region lands there.
Then the killed instance is started again (a fresh state directory), the
region comes back, and the next run waits for every weight at 100.

Before the runs, a steady-state window counts the lease's requests per
instance at the DynamoDB peer (signed with each instance's own key) and
prints requests/s per instance and the monthly cost of 3 instances x 3
tables at the on-demand prices given by --price-write / --price-read.

Not a test of speed: nothing asserts a figure; it exits 1 only when a run's
events are missing or out of order (a takeover that never happens).

usage: bench/takeover.py [--runs 20] [--lease-ms 10000] [--renew-ms 2000] [--margin-ms 2000]
                         [--steady-s 60] [--pending-ms 30000] [--json FILE]
Needs build/regiond (scripts/build.sh), nginx and dynalite (scripts/install-deps.sh test)."""
import argparse
import json
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "bb"))

import lease_kit  # noqa: E402
import test_ha  # noqa: E402
from harness import wait_for  # noqa: E402

# Amazon DynamoDB on-demand pricing, US East (N. Virginia), after the price cut
# of November 2024 (https://aws.amazon.com/dynamodb/pricing/on-demand/; the
# figures were read from a stored summary of that page, not the page itself):
# $0.625 per million write request units, $0.125 per million read request
# units. A lease item is under 1 KB: a PutItem is 1 WRU; a strongly consistent
# GetItem of an item up to 4 KB is 1 RRU (DynamoDB developer guide, "Read
# request units").
PRICE_WRITE, PRICE_READ = 0.625, 0.125
MONTH_S = 30 * 24 * 3600


def steady_rates(c, seconds):
    """Lease requests per second per instance, counted at the DynamoDB peer over a window."""
    t0 = time.monotonic()
    time.sleep(seconds)
    t1 = time.monotonic()
    reqs = [r for r in c.ddb.call("GET", "/_peer/stats")["requests"] if t0 <= r["t"] < t1]
    out = {}
    for d in c.ds:
        mine = [r for r in reqs if r.get("key") == d.key]
        writes = sum(1 for r in mine if r["op"] in ("PutItem", "UpdateItem", "DeleteItem"))
        reads = sum(1 for r in mine if r["op"] in ("GetItem", "Query", "Scan"))
        out[d.iid] = {"leading": bool(lease_kit.lease(d)["leading"]), "writes_s": writes / (t1 - t0),
                      "reads_s": reads / (t1 - t0), "other": sorted({r["op"] for r in mine} -
                                                                    {"PutItem", "GetItem"})}
    return out


def one_run(c, n):
    a, _ = test_ha.one_leader(c)
    ea = lease_kit.lease(a)["epoch"]
    n0 = len(c.r53.changes())
    t_kill = time.monotonic()
    lease_kit.kill9(a)
    c.ngx.down(c.ports[2])
    rest = [d for d in c.ds if d is not a]
    b, leading = test_ha.one_leader(c, rest, 3 * args.lease_ms / 1000 + 10)
    eb = lease_kit.lease(b)["epoch"]

    def batch(pred):
        return next((ch for ch in c.r53.changes()[n0:] if ch["key"] == b.key and pred(ch)), None)
    bump = wait_for(lambda: batch(lambda ch: test_ha.epoch_of(ch["after"]) == eb), 30, "the bump")
    drain = wait_for(lambda: batch(lambda ch: test_ha.weights_of(ch["after"]).get(test_ha.REGIONS[2]) == 0),
                     30, "the drain")
    row = {"run": n, "old": a.iid, "new": b.iid, "epochs": [ea, eb], "leading_s": leading,
           "bump_s": bump["mono"] - t_kill, "applied_s": drain["mono"] - t_kill}
    if not (eb > ea and 0 < row["bump_s"] <= row["applied_s"]):
        raise SystemExit(f"run {n}: events out of order: {row}")
    # back to steady state: the killed instance again, the region up, every weight 100
    i = c.ds.index(a)
    c.ds[i] = c.start(i + 1)
    c.ngx.down(c.ports[2], False)
    wait_for(lambda: set(c.r53.weights(test_ha.NAME).values()) == {100}, 60 + 2 * args.pending_ms / 1000,
             "every weight back at 100")
    return row


def summary(rows, key):
    v = sorted(r[key] for r in rows)
    return {"min": v[0], "median": statistics.median(v), "max": v[-1]}


def main():
    lease_kit.LEASE_MS, lease_kit.RENEW_MS, lease_kit.MARGIN_MS = args.lease_ms, args.renew_ms, args.margin_ms
    test_ha.FIRST_S = (2 * args.lease_ms + 4 * args.renew_ms) / 1000 + 5
    c = test_ha.Cluster()
    try:
        c.r53.call("POST", "/_peer/config", {"pending_ms": args.pending_ms})
        test_ha.one_leader(c)
        wait_for(lambda: set(c.r53.weights(test_ha.NAME).values()) == {100}, 60, "every weight at 100")
        rates = steady_rates(c, args.steady_s)
        rows = []
        for n in range(1, args.runs + 1):
            rows.append(one_run(c, n))
            r = rows[-1]
            print(f"run {n:2}: {r['old']} -> {r['new']} epoch {r['epochs'][0]} -> {r['epochs'][1]}: leading "
                  f"{r['leading_s']:.2f} s, bump {r['bump_s']:.2f} s, drain applied {r['applied_s']:.2f} s",
                  flush=True)
    finally:
        c.stop()
    print(f"\nlease_ms {args.lease_ms}, renew_ms {args.renew_ms}, margin_ms {args.margin_ms}, Route 53 changes "
          f"PENDING for {args.pending_ms} ms; "
          f"{args.runs} runs; seconds from kill -9 of the leader:")
    print("| step | min | median | max |\n|---|---:|---:|---:|")
    for k, what in (("leading_s", "a survivor leads"), ("bump_s", "its guard bump lands"),
                    ("applied_s", "its drain lands (first decision)")):
        s = summary(rows, k)
        print(f"| {what} | {s['min']:.2f} | {s['median']:.2f} | {s['max']:.2f} |")
    print(f"\nsteady state over {args.steady_s} s, requests per second per instance at the DynamoDB peer:")
    print("| instance | role | PutItem/s | GetItem/s | other ops |\n|---|---|---:|---:|---|")
    for iid, r in sorted(rates.items()):
        print(f"| {iid} | {'leader' if r['leading'] else 'follower'} | {r['writes_s']:.2f} | {r['reads_s']:.2f} "
              f"| {', '.join(r['other']) or '-'} |")
    w = sum(r["writes_s"] for r in rates.values()) * MONTH_S
    rd = sum(r["reads_s"] for r in rates.values()) * MONTH_S
    cost = w / 1e6 * PRICE_WRITE + rd / 1e6 * PRICE_READ
    print(f"\n3 instances x 3 tables, 30 days: {w / 1e6:.2f} M writes, {rd / 1e6:.2f} M reads: "
          f"${cost:.2f}/month at ${PRICE_WRITE}/M WRU, ${PRICE_READ}/M RRU (on-demand, us-east-1)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": rows, "rates": rates, "cost_month_usd": cost}, f, indent=1)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--lease-ms", type=int, default=10000)
    ap.add_argument("--renew-ms", type=int, default=2000)
    ap.add_argument("--margin-ms", type=int, default=2000)
    ap.add_argument("--steady-s", type=float, default=60)
    ap.add_argument("--pending-ms", type=int, default=30000,
                    help="how long the Route 53 peer keeps a change PENDING (AWS: generally under 60 s)")
    ap.add_argument("--json")
    args = ap.parse_args()
    main()
