"""One bad or forged item in one lease table (docs/ha.md known defects 26 and 28): three instances,
each an observer (quorum_kit: k 2 of 3, the strict Route 53 peer, every region truly up).  A second
actor, the test itself, writes into ONE table (us-east-1's) with botocore in-process (boto_kit: the aws CLI's
request without its start-up; the judges are the peers and the instances' own answers):
  (a) defect 26: a malformed view item of a follower (its epoch 1000.5: a number, not a whole one, and
      above the follower's, so its writes cannot replace it (since defect 38 a string epoch, or any
      item a condition can tell bad, is replaced by the next write: bb_test_observers_rename_bad)).  For 5 s
      (more than silent_after_ms, the time after which "cannot reach the coordination tables" would
      make it suspect) the follower keeps writing its view in the two other tables (its seq there
      grows), is not suspect (its own status, alarm observer-suspect), and every reader still counts
      it (fresh, in the quorum's usable views); the leader names the bad item (alarm cluster-view,
      status observers.views[].ignored, regionctl, the log line, metric
      regiond_observer_view_items_ignored).
      The item deleted, the alarm resolves.
  (b) defect 28: a forged view item of the lease holder naming a fail drill on r2, at the epoch limit
      (2^53: valid, the highest in that table), kept above the holder's items by the forger (a seq far
      above the holder's, every 0.2 s; since 35 the holder goes above it when refused): both followers read it as the holder's view (their status shows its drill), yet for 6 s
      no region is drained at the Route 53 peer (weights and change log read from the peer) and no
      follower's item marks r2 down: the drill is named in one table only, not a majority.
  (c) defect 35: a forged valid item of a follower at epoch 2^53 - 1: the follower learns 2^53 and
      writes it everywhere; restarted (kill -9, start), every own item is at the limit, yet it goes
      on writing (epoch 2^53, its seq growing in the other tables) and every reader counts it fresh.
  (d) defect 35 at the top: a forged item of a follower at (2^53, 2^53 - 1): it writes the top
      (2^53, 2^53), then starts again at epoch 1 (a write replaces an item at the top), and every
      reader counts it fresh.
Without fix 35 the restarted follower learnt epoch 1, every table refused it, and it went silent.
Without fix 26 the follower stops writing, goes silent for every reader and marks itself suspect;
without fix 28 (the holder's picked view's drills taken as they are) both followers mark r2 down and
r2 is drained."""
import json
import subprocess
import signal
import threading
import time

import boto_kit
from harness import stop as stop_pid
from harness import REGIONCTL, check, check_eq, run_tests, wait_for
from lease_kit import NAME as CLUSTER, REGIONS as LEASE_REGIONS, TABLE, leaders
from observer_kit import view_items_fast, views
from quorum_kit import SILENT_MS, Cluster, alarms, hold, hold_counted, quorum, ready

BAD_TABLE = LEASE_REGIONS[0]          # the one table the second actor writes
GOOD_TABLES = LEASE_REGIONS[1:]
HOLD_S = SILENT_MS / 1000 + 2         # past the 3 publishes after which a silent writer is called suspect
LIMIT = 9007199254740992              # 2^53 (cluster/view_pick.h VIEW_PICK_NUM_MAX)
FORGED_DRILL = 4242
WHY = "epoch is not a whole number up to 2^53"   # (a)'s item, as view_pick names it

C = None


def put_item(item):
    boto_kit.ddb(C.ddb, BAD_TABLE).put_item(TableName=TABLE, Item=item)


def delete_item(iid):
    boto_kit.ddb(C.ddb, BAD_TABLE).delete_item(TableName=TABLE, Key={"name": {"S": f"{CLUSTER}#view#{iid}"}})


def seqs(iid):
    """{table: (epoch, seq)} of iid's item in each good table (an observer refused in one table may
    learn a higher epoch once, its seq starting again: the pair still only grows)."""
    out = {}
    for r in GOOD_TABLES:
        it = view_items_fast(C.ddb, r).get(iid) or {}
        out[r] = (int(it.get("epoch") or 0), int(it.get("seq") or 0))
    return out


def grew(s0, s1, n):
    """Every table's (epoch, seq) went n writes past s0's: a higher epoch, or n more of the same."""
    return all(s1[r][0] > s0[r][0] or s1[r][1] >= s0[r][1] + n for r in GOOD_TABLES)


def metric(d, name, iid):
    code, body = d.get("/metrics")
    want = f'{name}{{observer="{iid}"}} '
    for ln in (body.decode() if isinstance(body, bytes) else body).splitlines():
        if ln.startswith(want):
            return float(ln[len(want):])
    return None


def malformed_item(lead, f):
    """(a): a follower's item in one table with an epoch that is not a whole number, above the follower's."""
    put_item({"name": {"S": f"{CLUSTER}#view#{f.iid}"}, "epoch": {"N": "1000.5"}, "seq": {"N": "1"},
             "doc": {"S": "{}"}})
    s0 = seqs(f.iid)

    def counted():
        for d in C.ds:
            q, v = quorum(d), views(d).get(f.iid, {})
            if not q or f.iid not in q["usable"] or not v.get("fresh") or v.get("suspect"):
                return False
        return "observer-suspect" not in alarms(f)
    bad = hold(counted, HOLD_S, interval=0.5)
    if bad is not None:
        print(f"     views of {f.iid}: {[views(d).get(f.iid) for d in C.ds]}; its alarms {list(alarms(f))}")
    check(bad is None, f"for {HOLD_S} s every reader counts {f.iid} (fresh, usable, not suspect), and it does not "
                       f"call itself suspect")
    s1 = seqs(f.iid)
    check(all(s1[r] > s0[r] and (s1[r][0] > s0[r][0] or s1[r][1] >= s0[r][1] + 3) for r in GOOD_TABLES),
          f"{f.iid} kept writing its view in the other tables (seq {s0} -> {s1})")
    named = wait_for(lambda: (lambda a: a if a and f.iid in a["summary"] and BAD_TABLE in a["summary"]
                              and WHY in a["summary"] else None)(
        alarms(lead).get("cluster-view")), 10, "the leader names the bad item in alarm cluster-view")
    print(f"     alarm: {named['summary']}")
    ign = views(lead).get(f.iid, {}).get("ignored") or ""
    check(BAD_TABLE in ign and WHY in ign, f"the leader's status names it ({ign!r})")
    check_eq(metric(lead, "regiond_observer_view_items_ignored", f.iid), 1.0, "the leader's metric counts it")
    out = subprocess.run([REGIONCTL, "--api", lead.base, "status", "--observers"], capture_output=True, text=True,
                         timeout=15).stdout
    row = next((ln for ln in out.splitlines() if ln.startswith(f"{f.iid} ")), "")
    check(f"item ignored in: {BAD_TABLE}/" in row, f"regionctl status --observers names it ({row!r})")
    check("observer view item ignored" in lead.read_log() and f.iid in lead.read_log(), "the leader logs it")
    check("we cannot replace" in f.read_log(), f"{f.iid} logs the item of its own it cannot replace")
    delete_item(f.iid)
    wait_for(lambda: "cluster-view" not in alarms(lead), 10, "the item deleted: alarm cluster-view resolves")


def forged_holder(lead, fs):
    """(b): a forged item of the holder naming a fail drill, in one table, kept fresh."""
    real = view_items_fast(C.ddb, GOOD_TABLES[0])[lead.iid]["doc"]
    doc = dict(real, drills=[{"id": FORGED_DRILL, "region": "r2"}])
    n0 = len(C.r53.changes())
    put_item({"name": {"S": f"{CLUSTER}#view#{lead.iid}"}, "epoch": {"N": str(LIMIT)}, "seq": {"N": "1"},
             "doc": {"S": json.dumps(doc)}, "owner": {"S": lead.iid}})
    stop, op = threading.Event(), boto_kit.ddb(C.ddb, BAD_TABLE)

    def refresh():   # the forger keeps its item above the holder's: a seq far above its, every 0.2 s
        s = 1
        while not stop.wait(0.2):
            hs = max(int((view_items_fast(C.ddb, r).get(lead.iid) or {}).get("seq") or 0) for r in GOOD_TABLES)
            s = max(s + 1, hs + 1000000)
            op.put_item(TableName=TABLE, Item={"name": {"S": f"{CLUSTER}#view#{lead.iid}"},
                                               "epoch": {"N": str(LIMIT)}, "seq": {"N": str(s)},
                                               "doc": {"S": json.dumps(doc)}, "owner": {"S": lead.iid}})
    t = threading.Thread(target=refresh, daemon=True)
    t.start()
    try:
        def read_forged():
            return all({"id": FORGED_DRILL, "region": "r2"} in (views(f).get(lead.iid) or {}).get("drills", [])
                       for f in fs)
        wait_for(read_forged, 10, "both followers read the forged item as the holder's view (its drill shown)")

        def undrained():
            if C.weights().get("r2") != 100 or C.drained_at("r2", n0) is not None:
                return False
            for r in LEASE_REGIONS:
                its = view_items_fast(C.ddb, r)
                for f in fs:
                    r2 = next((x for x in ((its.get(f.iid) or {}).get("doc") or {}).get("regions", [])
                               if x["region"] == "r2"), {})
                    if r2.get("state") == "down" or "drill" in r2.get("reason", ""):
                        return False
            return True
        bad = hold(undrained, 6.0, interval=0.2)
        check(bad is None, f"for 6 s r2 is not drained at the Route 53 peer and no follower marks it "
                           f"(weights {C.weights()}, changes since {len(C.r53.changes()) - n0})")
        wait_for(read_forged, 5, "the followers still read the forged item at the end")
    finally:
        stop.set()
        t.join(5)
    delete_item(lead.iid)


def forged_limit(f):
    """(c): a forged valid item of a follower at 2^53 - 1; the follower restarted at the limit."""
    put_item({"name": {"S": f"{CLUSTER}#view#{f.iid}"}, "epoch": {"N": str(LIMIT - 1)}, "seq": {"N": "1"},
             "doc": {"S": "{}"}})

    def at_limit():
        return all(int((view_items_fast(C.ddb, r).get(f.iid) or {}).get("epoch") or 0) == LIMIT
                   for r in LEASE_REGIONS)
    wait_for(at_limit, 10, f"{f.iid} learnt epoch 2^53 and wrote it to every table")
    stop_pid(f.proc, sig=signal.SIGKILL)
    f.log.close()
    g = C.start(f.n)
    C.ds[C.ds.index(f)] = g
    time.sleep(2 * SILENT_MS / 1000)   # past silent_after_ms: a silent writer would be called silent by now
    s0 = seqs(g.iid)

    bad = hold_counted(C.ds, g.iid, HOLD_S)
    check(bad is None, f"for {HOLD_S} s after its restart every reader counts {g.iid} (fresh, usable)")
    s1 = seqs(g.iid)
    check(at_limit() and grew(s0, s1, 3),
          f"restarted, {g.iid} kept writing at epoch 2^53 (seq {s0} -> {s1})")
    return g


def forged_top(f):
    """(d): a forged item of a follower at (2^53, 2^53 - 1): pushed to the top, it starts again below."""
    put_item({"name": {"S": f"{CLUSTER}#view#{f.iid}"}, "epoch": {"N": str(LIMIT)}, "seq": {"N": str(LIMIT - 1)},
             "doc": {"S": "{}"}})

    def below():
        its = [view_items_fast(C.ddb, r).get(f.iid) or {} for r in LEASE_REGIONS]
        return all(0 < int(it.get("epoch") or 0) < LIMIT for it in its)
    wait_for(below, 15, f"{f.iid} wrote the top, then every table's item of it is below the limit again")

    def counted():
        return all((lambda q, v: q and f.iid in q["usable"] and v.get("fresh"))(quorum(d), views(d).get(f.iid, {}))
                   for d in C.ds)
    s0 = seqs(f.iid)
    bad = hold(counted, HOLD_S, interval=0.5)
    check(bad is None and grew(s0, seqs(f.iid), 3), f"for {HOLD_S} s every reader counts {f.iid}, which keeps writing")


def test_bad_items():
    global C
    C = Cluster(k=2)
    try:
        lead = ready(C)
        fs = [d for d in C.ds if d is not lead]
        t0 = time.monotonic()
        malformed_item(lead, fs[0])
        forged_holder(lead, fs)
        g = forged_limit(fs[1])
        forged_top(g)
        check_eq(len(leaders(C.ds)), 1, "one leader throughout")
        print(f"     both phases took {time.monotonic() - t0:.1f} s")
        for d in C.ds:
            check_eq(d.stop(), 0, f"{d.iid} stops cleanly")
    finally:
        C.stop()


if __name__ == "__main__":
    run_tests([test_bad_items])
