"""The saved view epoch (state_dir/view-epoch.json) is read once, at start before the loop runs, never at
a reload (docs/ha.md "Observers", the saved epoch).  Three instances, each an observer (quorum_kit: k 2
of 3, cluster "regiond").  A follower X has written its view item under epoch E in all three tables and
saved E.  A second actor, the test itself, then replaces X's view-epoch.json on disk with a torn write
(not JSON) while X runs, and X is reloaded (SIGHUP) with a rename (name "renamed", former_name
"regiond"): a reload that starts X's views over (before the fix: the file read again, on the loop).
Judged on the DynamoDB peer's store and X's log:
  - after the reload X's items (both names, all three tables) never go below the (epoch, seq) it wrote
    before, and reach an epoch above E under both names (learnt above the tables, E kept in memory);
  - the reload logs no line about the saved epoch (nothing was read);
  - the new epoch is saved again (the file holds it: the save after a reload lands);
  - the test tears the file again and restarts X (the same state_dir): the start reads it and logs the
    existing warning ("the saved epoch does not read"), X learns from the tables alone and writes above
    what it wrote, and the file is saved again.
test_quorum_added_by_reload: X restarted without cluster.quorum over a state_dir saying it wrote up to epoch
E + 50, then reloaded with it: it writes above E + 50 (the start's read kept for the views' later start).
Before the fix the reload read the torn file and logged "the saved epoch does not read" at the reload."""
import copy
import json
import os
import time

from harness import Daemon, check, check_eq, eventually, run_tests, wait_for
from lease_kit import ENV, NAME as OLD, REGIONS as TABLES, leaders
from observer_kit import view_items_fast
from quorum_kit import Cluster, hold, ready, rename_reload

NEW = "renamed"
EPOCH_FILE = "view-epoch.json"
WARN = "observer view: the saved epoch"
TORN = '{"epoch": 4'          # a write cut short: not JSON
PUBLISH_BOUND_S = 10          # a reload or start, the read of both keys, one write (publish_ms 1 s), margin
HOLD_S = 4                    # four of X's writes after the reload


def pairs(c, iid, names):
    """{(table, name): (epoch, seq) or None} of iid's items as the peer's store holds them."""
    out = {}
    for t in TABLES:
        for n in names:
            it = view_items_fast(c.ddb, t, name=n).get(iid)
            try:
                out[(t, n)] = (int(it["epoch"]), int(it["seq"])) if it and (it["doc"] or {}).get("observer") == iid \
                    else None
            except (KeyError, TypeError, ValueError):
                out[(t, n)] = None
    return out


def saved(state_dir):
    """The epoch in state_dir's view-epoch.json, or None when it does not read."""
    try:
        with open(os.path.join(state_dir, EPOCH_FILE)) as f:
            return json.load(f).get("epoch")
    except (OSError, ValueError, AttributeError):
        return None


def tear(state_dir):
    """The second actor: view-epoch.json replaced on disk (renamed over, as an editor or a restore would)."""
    tmp = os.path.join(state_dir, EPOCH_FILE + ".other")
    with open(tmp, "w") as f:
        f.write(TORN)
    os.replace(tmp, os.path.join(state_dir, EPOCH_FILE))


def settled(c, iid, names):
    """iid's items valid at one epoch under names in all three tables: that epoch, else None."""
    now = {}

    def one():
        now.update(pairs(c, iid, names))
        es = {v[0] for v in now.values() if v}
        return all(now.values()) and len(es) == 1 and next(iter(es))
    return eventually(one, PUBLISH_BOUND_S, f"{iid}'s items valid at one epoch under {names} in all three tables",
                      show=lambda e: f"epoch {e}")


def settled_follower(c):
    """The leader, a follower X, X's state_dir and the epoch X's items settled at (None if they did not)."""
    lead = ready(c)
    x = next(d for d in c.ds if d is not lead)
    return lead, x, x.cfg["controller"]["state_dir"], settled(c, x.iid, (OLD,))


def test_reload_keeps_saved_epoch():
    c = Cluster(k=2)
    try:
        lead, x, sd, e = settled_follower(c)
        if not e:
            return
        eventually(lambda: saved(sd) == e, 3, f"{x.iid} saved its epoch {e}")
        before = max(v for v in pairs(c, x.iid, (OLD,)).values() if v)
        tear(sd)
        n0 = len(x.read_log())
        rename_reload(x, NEW, OLD)
        seen = set()

        def not_below():
            now = [v for v in pairs(c, x.iid, (OLD, NEW)).values() if v]
            seen.update(now)
            return all(v >= before for v in now)
        bad = hold(not_below, HOLD_S, interval=0.2)
        check(bad is None, f"{x.iid}'s items never below {before} (what it wrote before the reload) for {HOLD_S} s "
                           f"after it (seen {sorted(seen)})")
        e1 = settled(c, x.iid, (OLD, NEW))
        check(e1 and e1 > e, f"{x.iid} writes under both names above its epoch {e} after the reload ({e1})")
        said = [ln for ln in x.read_log()[n0:].splitlines() if WARN in ln]
        check_eq(said, [], f"{x.iid}'s reload logs nothing about the saved epoch (the file is not read again)")
        if e1:
            eventually(lambda: saved(sd) == e1, 3, f"{x.iid} saved its new epoch {e1} after the reload")

        tear(sd)   # the second actor again; then a restart reads it, at start
        check_eq(x.stop(), 0, f"{x.iid} stops cleanly")
        t0 = time.monotonic()
        g = c.start(x.n, cluster={"name": NEW, "former_name": OLD}, state_dir=sd)
        c.ds[c.ds.index(x)] = g
        said = [ln for ln in g.read_log().splitlines() if WARN in ln]
        check(len(said) == 1 and "does not read" in said[0] and EPOCH_FILE in said[0],
              f"{g.iid}'s start logs the saved epoch's warning once ({said})")
        now = {}

        def above():   # (its items of before the restart are in the tables until it writes)
            now.update(pairs(c, g.iid, (OLD, NEW)))
            es = {v[0] for v in now.values() if v}
            return e1 and all(now.values()) and len(es) == 1 and min(es) > e1 and min(es)
        e2 = eventually(above, PUBLISH_BOUND_S, f"{g.iid} writes above {e1} under both names in all three tables "
                                                f"after its restart", show=lambda v: f"epoch {v}, "
                                                f"{time.monotonic() - t0:.1f} s after its start")
        if e2:
            eventually(lambda: saved(sd) == e2, 3, f"{g.iid} saved its epoch {e2} again")
        check_eq([d.iid for d in leaders(c.ds)], [lead.iid], "one leader throughout")
        for d in c.ds:
            check_eq(d.stop(), 0, f"{d.iid} stops cleanly")
    finally:
        c.stop()


def test_quorum_added_by_reload():
    """The start's read serves a later reload that adds cluster.quorum: X restarted without it, its state_dir
    holding a saved epoch E + 50 above its items' E (an earlier run of X's, restored), logs nothing about it
    at start (no views); reloaded with cluster.quorum, it writes above E + 50 (never an epoch that file says
    it wrote) and logs nothing about the saved epoch."""
    c = Cluster(k=2)
    try:
        lead, x, sd, e = settled_follower(c)
        if not e:
            return
        check_eq(x.stop(), 0, f"{x.iid} stops cleanly")
        with open(os.path.join(sd, EPOCH_FILE), "w") as f:
            f.write(json.dumps({"epoch": e + 50}))
        cfg = copy.deepcopy(x.cfg)
        del cfg["cluster"]["quorum"]
        g = Daemon(cfg, env=dict(ENV, AWS_SHARED_CREDENTIALS_FILE="/nonexistent", AWS_CONFIG_FILE="/nonexistent"))
        g.iid, g.cfg, g.n = x.iid, cfg, x.n
        c.ds[c.ds.index(x)] = g
        check_eq([ln for ln in g.read_log().splitlines() if WARN in ln], [],
                 f"{g.iid} started without cluster.quorum logs nothing about the saved epoch")
        gen = g.status()["config"]["generation"]
        g.reload(x.cfg)
        wait_for(lambda: g.status()["config"]["generation"] == gen + 1, 10, f"{g.iid} taking cluster.quorum")
        now = {}

        def above():
            now.update(pairs(c, g.iid, (OLD,)))
            return all(v and v[0] > e + 50 for v in now.values())
        eventually(above, PUBLISH_BOUND_S, f"{g.iid} writes above its saved epoch {e + 50} in all three tables once "
                                           f"cluster.quorum is added", show=lambda _: now)
        check_eq([ln for ln in g.read_log().splitlines() if WARN in ln], [],
                 f"{g.iid} logs nothing about the saved epoch (it reads)")
        for d in c.ds:
            check_eq(d.stop(), 0, f"{d.iid} stops cleanly")
    finally:
        c.stop()


if __name__ == "__main__":
    run_tests([test_reload_keeps_saved_epoch, test_quorum_added_by_reload])
