"""A rename under cluster.quorum (docs/ha.md known defect 30, fixed): three instances, each an observer
(quorum_kit: k = 2 of 3), cluster "regiond".  Mid-rename: the two followers are reloaded (SIGHUP) with
name "renamed" and former_name "regiond" while the old-name leader leads.  A renamed instance writes its
view under both names and reads both (each observer counted once, its newest), so the old-name leader
still counts three views.  Judged on the peers:
  - the DynamoDB peer holds each renamed follower's view item under both names, with the same (epoch,
    seq), still changing after the reload;
  - after three silent_after_ms the old-name leader's quorum is ok with every view usable, and so is
    each renamed follower's (the leader's view read under the former name);
  - r2 truly fails (down for every instance): drained at the Route 53 peer, by the old-name leader.
Without the fix the renamed followers write only "renamed#view#..." items, the leader's views of them
go silent, it has one usable view of k = 2, and r2 is not drained."""
import time

from harness import check, check_eq, eventually, run_tests, wait_for
from lease_kit import REGIONS as LEASE_REGIONS, leaders
from observer_kit import view_items_fast
from quorum_kit import SILENT_MS, Cluster, quorum, ready, rename_reload

DRAIN_S = 15
NEW = "renamed"


def view_key(item):
    return (item or {}).get("epoch"), (item or {}).get("seq")


def test_rename_mid_quorum():
    C = Cluster(k=2)
    try:
        lead = ready(C)
        old = lead.cfg["cluster"].get("name", "regiond")   # the default name
        followers = [d for d in C.ds if d is not lead]
        for d in followers:
            rename_reload(d, NEW, old)
        time.sleep(3 * SILENT_MS / 1000)   # the old-name items of the renamed go silent unless still written
        check_eq([x.iid for x in leaders(C.ds)], [lead.iid], "the old-name leader still leads")

        for d in followers:   # (the two keys' writes land one after the other: sampled until a pair matches)
            last = {}

            def both(d=d, last=last):
                last["old"] = view_key(view_items_fast(C.ddb, LEASE_REGIONS[0]).get(d.iid))
                last["new"] = view_key(view_items_fast(C.ddb, LEASE_REGIONS[0], name=NEW).get(d.iid))
                return last["old"][0] is not None and last["old"] == last["new"]
            if not eventually(both, 5, f"{d.iid}'s view item under both names, the same (epoch, seq)"):
                print(f"{d.iid}'s last (epoch, seq) under each name: {last}", flush=True)
        q = quorum(lead) or {}
        check(q.get("ok") and len(q.get("usable", [])) == 3,
              f"the old-name leader's quorum is ok with every view usable ({q.get('ok')}, {q.get('usable')})")

        for d in followers:   # the old-name leader's view, read under the former name
            q = quorum(d) or {}
            check(q.get("ok") and len(q.get("usable", [])) == 3,
                  f"renamed {d.iid}'s quorum is ok with every view usable ({q.get('ok')}, {q.get('usable')})")
        n0 = len(C.r53.changes())
        for p in C.r2.values():
            C.ngx.down(p)   # r2 truly fails, for every instance
        t0 = time.monotonic()
        ok = wait_for(lambda: C.drained_at("r2", n0), DRAIN_S, "r2 drained at the Route 53 peer mid-rename")
        check(ok is not None, f"r2 drained at the Route 53 peer {time.monotonic() - t0:.1f} s after it failed")
        for d in C.ds:
            check_eq(d.stop(), 0, f"{d.iid} stops cleanly")
    finally:
        C.stop()


if __name__ == "__main__":
    run_tests([test_rename_mid_quorum])
