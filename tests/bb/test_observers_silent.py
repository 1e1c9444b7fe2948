"""Observers' views (issue 18, first slice): an observer that stops publishing is shown silent.
Three regiond instances, each an observer, every region up.  In steady state every instance shows
all three views fresh at every sample (no false silence) and each observer's item changes at the
DynamoDB peer about once per publish_ms (the heartbeat), with one PutItem per table and one GetItem
per observer per table per publish_ms logged by the peer (the rates docs/performance.md states).
Then ctl-3 is killed (SIGKILL, no goodbye): its item at the peer stops changing, and ctl-1 and ctl-2
show it silent (status and metrics) within silent_after_ms plus one read and a margin, while
ctl-1's and ctl-2's views stay fresh.  Reloads of ctl-1: one with k above the observers is refused
naming cluster.quorum.k (the old quorum runs on); one with a new k and publish_ms takes them and keeps
the views read so far."""
import time

from harness import check, eventually, run_tests
from lease_kit import kill9
from observer_kit import stop_checked, REGIONS, region_state, start, start_nginx, start_peer, \
    view_items_fast, views

OBS = ["ctl-1", "ctl-2", "ctl-3"]
# 1.5 s rather than the kit's 1 s: a view goes silent only after 4.5 s without a change, so the
# steady-state check below holds through a stall of a couple of seconds on a loaded machine
PUBLISH_MS = 1500
SILENT_MS = 3 * PUBLISH_MS   # views.h: silent after 3 publish_ms without a change of the view
SETTLE_S = 3 + 2 * PUBLISH_MS / 1000 + 10
# silent once the view has not changed for silent_after_ms on the reader's clock; the last change a
# reader saw is at most one publish (the writer's) plus one read (the reader's) before the kill;
# 3 s margin for a loaded 2-core machine (ASan included)
SILENT_BOUND_S = (SILENT_MS + 2 * PUBLISH_MS) / 1000 + 3


def fresh_up(d, obs):
    vs = views(d)
    return all(o in vs and vs[o]["fresh"] and region_state(vs[o], "r1") == "up" for o in obs)


def seqs(peer):
    """(epoch, seq) of each observer's item on the first table, from the peer's store."""
    its = view_items_fast(peer, REGIONS[0])
    return {o: (int(its[o]["epoch"]), int(its[o]["seq"])) for o in OBS if o in its}


def view_calls(peer):
    """(PutItem, GetItem) requests on view items the peer has logged so far (every table)."""
    n = {"PutItem": 0, "GetItem": 0}
    for r in peer.call("GET", "/_peer/stats")["requests"]:
        keys = [v.get("S", "") for v in (r.get("item_key") or {}).values() if isinstance(v, dict)]
        if r.get("op") in n and any("#view#" in k for k in keys):
            n[r["op"]] += 1
    return n["PutItem"], n["GetItem"]


def test_silent():
    peer = start_peer()
    ng = start_nginx()
    ds = []
    try:
        ds = [start(i, peer, ng, observers=OBS, publish_ms=PUBLISH_MS) for i in (1, 2, 3)]
        if not eventually(lambda: all(fresh_up(d, OBS) for d in ds), SETTLE_S,
                          "every instance shows the three views fresh, r1 up"):
            return
        # steady state: sampled over 2 silent_after_ms, no instance shows any view silent
        s0, c0, t0, bad = seqs(peer), view_calls(peer), time.monotonic(), []
        while time.monotonic() - t0 < 2 * SILENT_MS / 1000:
            bad += [d.iid for d in ds if not fresh_up(d, OBS)]
            time.sleep(0.2)
        s1, c1, dt = seqs(peer), view_calls(peer), time.monotonic() - t0
        check(not bad, f"in steady state every sample shows every view fresh (not: {sorted(set(bad))})")
        rates = {o: (s1[o][1] - s0[o][1]) / dt for o in OBS if o in s0 and o in s1 and s0[o][0] == s1[o][0]}
        # the heartbeat: one write per publish_ms, no region changing (at most one more per change)
        check(len(rates) == 3 and all(0.5 * 1000 / PUBLISH_MS <= r <= 1.5 * 1000 / PUBLISH_MS
                                      for r in rates.values()),
              f"each observer's item changes about once per publish_ms at the peer ({rates} writes/s)")
        # per observer, at the peer: a PutItem per table per publish_ms, a GetItem per observer per table
        puts, gets = ((c1[i] - c0[i]) / dt / 3 for i in (0, 1))
        hz, tabs = 1000 / PUBLISH_MS, len(REGIONS)
        check(0.5 * tabs * hz <= puts <= 1.5 * tabs * hz and 0.5 * 3 * tabs * hz <= gets <= 1.5 * 3 * tabs * hz,
              f"per observer: {puts:.2f} PutItem/s (about {tabs * hz:.0f}), {gets:.2f} GetItem/s "
              f"(about {3 * tabs * hz:.0f}) on view items, at the peer")
        a, b, c = ds
        kill9(c)
        t_kill = time.monotonic()
        ds = [a, b]
        time.sleep(1)   # a write sent just before the kill may still land
        frozen = seqs(peer).get("ctl-3")

        def silent_everywhere():
            return all((lambda v: v and not v["fresh"] and v["seen"])(views(d).get("ctl-3")) for d in ds)
        got = eventually(silent_everywhere, SILENT_BOUND_S, "ctl-1 and ctl-2 show ctl-3 silent")
        took = time.monotonic() - t_kill
        check(bool(got) and took <= SILENT_BOUND_S,
              f"shown silent {took:.1f} s after the kill (bound {SILENT_BOUND_S:.1f} s: silent_after_ms "
              f"{SILENT_MS} + a publish + a read + margin)")
        check(seqs(peer).get("ctl-3") == frozen and frozen is not None,
              f"ctl-3's item at the peer stopped changing ({frozen})")
        for d in ds:
            v = views(d)["ctl-3"]
            check(v["age_ms"] >= SILENT_MS and region_state(v, "r1") == "up",
                  f"{d.iid} shows ctl-3's last view (r1 up) and its age {v['age_ms']} ms")
            code, body = d.get("/metrics")
            m = body.decode() if code == 200 else ""
            check('regiond_observer_view_fresh{observer="ctl-3"} 0' in m
                  and f'regiond_observer_view_fresh{{observer="{d.iid}"}} 1' in m,
                  f"{d.iid}'s metrics: ctl-3 not fresh, itself fresh")
        check(all(fresh_up(d, ["ctl-1", "ctl-2"]) for d in ds), "ctl-1's and ctl-2's views stay fresh")

        # reloads: a bad quorum is refused naming the key, the old one runs on; a new publish_ms keeps the views
        import copy
        cfg = copy.deepcopy(a.cfg)
        cfg["cluster"]["quorum"]["k"] = 4
        a.reload(cfg)
        err = eventually(lambda: (a.status()["config"].get("last_error") or "") or None, 10,
                         "a reload with cluster.quorum.k 4 of 3 is refused")
        check(err and "cluster.quorum.k" in err and a.status()["observers"]["k"] == 2
              and views(a)["ctl-2"]["fresh"], f"the refusal names the key path; the old quorum runs on ({err})")
        cfg["cluster"]["quorum"]["k"] = 3
        cfg["cluster"]["quorum"]["publish_ms"] = 500
        a.reload(cfg)
        eventually(lambda: (lambda o: o["publish_ms"] == 500 and o["k"] == 3 and o["silent_after_ms"] == 1500)(
                   a.status()["observers"]), 10, "a reload takes the new k and publish_ms")
        v = views(a)
        check(v["ctl-3"]["seen"] and not v["ctl-3"]["fresh"] and v["ctl-2"]["fresh"],
              "the views read so far are kept across the reload (ctl-3 still seen, silent)")
    finally:
        stop_checked(ds, ng, peer)


if __name__ == "__main__":
    run_tests([test_silent])
