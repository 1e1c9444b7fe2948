"""A self-partitioned observer marks its own view suspect (issue 18 item 3, cause 1: every region
failing at once): three running regiond instances, each an observer; ctl-3 probes both regions at
closed ports (its own vantage fails everywhere), ctl-1 and ctl-2 probe them on nginx (up).  Checked:
ctl-3's view item at the DynamoDB peer (its store, then the aws CLI for the final word) carries
suspect true and suspect_reason "every region failing at once (2 of 2)" on a majority of the
tables, while ctl-1's and ctl-2's carry suspect false; ctl-1 and ctl-2 show ctl-3 suspect with the
reason in /v1/status, metrics (regiond_observer_suspect) and `regionctl status --observers`; ctl-3
itself raises alarm observer-suspect and logs it.  Then ctl-3 is reloaded onto nginx (its probes
answer): its item first says the cause cleared and the view is held ("cleared, held 2000 ms"),
then suspect false, and the alarm resolves."""
import subprocess
import time

from harness import REGIONCTL, check, eventually, free_port, run_tests
from observer_kit import (PUBLISH_MS, REGIONS, alarms, start, start_nginx, start_peer, stop_checked, view_item,
                          view_items_fast, views)

OBS = ["ctl-1", "ctl-2", "ctl-3"]
REASON = "every region failing at once (2 of 2)"
HOLD_S = 2 * PUBLISH_MS / 1000   # daemon/observers.c HOLD_PUBLISHES
# probes every 1 s: failing once a failure is seen with no good probe within 2 s; one publish and one
# read more to show it everywhere; margin for a loaded 2-core machine (ASan builds too).
SEEN_S = 2 + 3 * PUBLISH_MS / 1000 + 10


def docs(peer, o):
    """Observer o's view documents in each lease table at the peer (its store)."""
    out = []
    for r in REGIONS:
        it = view_items_fast(peer, r).get(o)
        out.append(it and it["doc"])
    return out


def majority(ds, pred):
    return sum(1 for d in ds if d and pred(d)) * 2 > len(REGIONS)


def test_every_region_failing():
    peer = start_peer()
    ng = start_nginx()
    ds = []
    try:
        dead = [f"http://127.0.0.1:{free_port()}/health" for _ in range(2)]
        ds = [start(1, peer, ng, observers=OBS), start(2, peer, ng, observers=OBS),
              start(3, peer, ng, observers=OBS, r1_url=dead[0], r2_url=dead[1])]
        c3 = ds[2]

        def suspect_at_peer():
            return (majority(docs(peer, "ctl-3"), lambda d: d["suspect"] is True and d.get("suspect_reason") == REASON)
                    and all(majority(docs(peer, o), lambda d: d["suspect"] is False and "suspect_reason" not in d
                                     and {x["region"]: x["state"] for x in d["regions"]} == {"r1": "up", "r2": "up"})
                            for o in ("ctl-1", "ctl-2")))
        if not eventually(suspect_at_peer, SEEN_S, "at the DynamoDB peer ctl-3's view is suspect with the reason "
                          "(a majority of tables); ctl-1's and ctl-2's are not and see both regions up"):
            print({o: docs(peer, o) for o in OBS}, flush=True)
            return
        it = view_item(peer, REGIONS[1], "ctl-3")
        check(it and it["doc"] and it["doc"]["suspect"] is True and it["doc"]["suspect_reason"] == REASON,
              f"the aws CLI reads ctl-3's item suspect, with the reason ({it and it['doc']})")

        def others_show():
            return all((lambda v: v and v["suspect"] and v["suspect_reason"] == REASON)(views(d).get("ctl-3"))
                       and not views(d)[d.iid]["suspect"] for d in ds[:2])
        eventually(others_show, 3 * PUBLISH_MS / 1000 + 3, "ctl-1 and ctl-2 show ctl-3's view suspect with the "
                   "reason, their own not")
        own = views(c3).get("ctl-3") or {}
        check(own.get("self") and own.get("suspect") and own.get("suspect_reason") == REASON,
              f"ctl-3's own status says its view is suspect, and why ({own.get('suspect_reason')})")
        a = alarms(c3).get("observer-suspect")
        check(a and a["summary"] == f"this instance's view is suspect: {REASON}",
              f"ctl-3 raises alarm observer-suspect ({a and a['summary']})")
        check("observer-suspect" not in alarms(ds[0]), "ctl-1 raises no observer-suspect alarm")
        check("this instance's view is suspect" in c3.read_log() and REASON in c3.read_log(),
              "ctl-3 logs that its view is suspect, with the reason")

        def metrics_show():
            code, body = ds[0].get("/metrics")
            m = body.decode() if code == 200 else ""
            return ('regiond_observer_suspect{observer="ctl-3"} 1' in m
                    and 'regiond_observer_suspect{observer="ctl-1"} 0' in m
                    and 'regiond_observer_suspect{observer="ctl-2"} 0' in m)
        eventually(metrics_show, 5, "ctl-1's metrics: ctl-3 suspect, ctl-1 and ctl-2 not")
        r = subprocess.run([REGIONCTL, "--api", ds[0].base, "status", "--observers"], capture_output=True,
                           text=True, timeout=10)
        line = next((x for x in r.stdout.splitlines() if x.startswith("ctl-3 ")), "")
        check(r.returncode == 0 and f"SUSPECT: {REASON}" in line
              and not any("SUSPECT" in x for x in r.stdout.splitlines() if x.startswith(("ctl-1", "ctl-2"))),
              f"regionctl status --observers on ctl-1 shows ctl-3 suspect with the reason:\n{r.stdout}{r.stderr}")

        # ctl-3's probes answer again: the cause clears, the view is held suspect, then clears
        cfg = dict(c3.cfg)
        p1, p2 = ng.ports
        cfg["regions"] = [{"name": "r1", "api": [{"url": f"http://127.0.0.1:{p1}/health"}]},
                          {"name": "r2", "api": [{"url": f"http://127.0.0.1:{p2}/health"}]}]
        c3.reload(cfg)
        held, t0, cleared_at, held_at = False, time.monotonic(), None, None
        while time.monotonic() - t0 < SEEN_S + HOLD_S:
            ds3 = docs(peer, "ctl-3")
            if majority(ds3, lambda d: d["suspect"] and d["suspect_reason"].startswith("cleared, held 2000 ms: " + REASON)):
                held, held_at = True, held_at or time.monotonic()
            if majority(ds3, lambda d: d["suspect"] is False):
                cleared_at = time.monotonic()
                break
            time.sleep(0.1)
        check(held, "after the reload ctl-3's item says the cause cleared and the view is held suspect")
        check(cleared_at is not None, "then ctl-3's item is not suspect any more")
        check(held_at is not None and cleared_at is not None and cleared_at - held_at >= HOLD_S - 0.6,
              f"the hold lasted about {HOLD_S} s at the peer "
              f"({cleared_at - held_at if held_at and cleared_at else None})")
        eventually(lambda: "observer-suspect" not in alarms(c3) and not views(ds[0])["ctl-3"]["suspect"]
                   and "no longer suspect" in c3.read_log(), 3 * PUBLISH_MS / 1000 + 3,
                   "ctl-3's alarm resolves and it logs so; ctl-1 shows its view not suspect")
        check(all(d.proc.poll() is None for d in ds), "no instance crashed")
    finally:
        stop_checked(ds, ng, peer)


if __name__ == "__main__":
    run_tests([test_every_region_failing])
