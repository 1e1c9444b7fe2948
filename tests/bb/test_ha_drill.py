"""A drill survives a takeover (issue 17, item 3): three instances (test_ha's Cluster: three
regions served by nginx, three lease tables on the strict DynamoDB peer, the strict Route 53
peer).  A drain drill is started on the leader; once its drain has landed at Route 53 the leader
is killed with SIGKILL mid-drill.  Judged on the Route 53 peer's change log (each batch with the
peer's monotonic time, its signing key, the records before and after):
  - the region stays drained until the drill's end: no batch gives it weight before
    (request sent + duration_s);
  - the new leader restores it once the drill's time is up: the restore lands no later than the
    drill's end + (kill -> new leader seen leading) + the state's refresh interval (1 s) + 5 s
    for a loaded machine (docs/ha.md: a resumed drill ends at most the time between the last
    leader's last write and the takeover late, never early);
  - nothing is applied twice: across every instance, one batch drains the region and one
    restores it; the new leader's batches are its guard bump and the restore, nothing else
    (without the replicated Route 53 state it took the drain for drift and never restored);
  - the new leader's own report of the drill (GET /v1/drills/ID) says it took it over and ended it."""
import json
import time

from harness import check, check_eq, run_tests, wait_for
from lease_kit import TAKEOVER_S, kill9, lease
from test_ha import NAME, REGIONS, Cluster, bumped, control, epoch_of, one_leader, weights_of

DURATION_S = 30          # long enough for a kill, a takeover (up to TAKEOVER_S) and margin under ASan
REFRESH_S = 1.0          # daemon/drill.c DR_PUSH_MS: an active drill's time left is replicated this often
SLACK_S = 5.0            # decision, fresh read and batch on a loaded 2-core machine (ASan: 2-3x slower)
DRILLED = REGIONS[1]


def region_changes(c, region):
    """The peer's batches that changed region's weight: (mono, key, from, to)."""
    out = []
    for ch in c.r53.changes():
        b, a = weights_of(ch["before"]).get(region), weights_of(ch["after"]).get(region)
        if b != a:
            out.append((ch["mono"], ch["key"], b, a))
    return out


def test_drill_survives_kill():
    c = Cluster()
    try:
        a, _ = one_leader(c)
        bumped(c, a, lease(a)["epoch"])
        t_sent = time.monotonic()
        code, body = control(a, "POST", "/v1/drills", {"region": DRILLED, "action": "drain",
                                                      "duration_s": DURATION_S, "note": "ha drill"})
        t_ack = time.monotonic()
        check_eq(code, 201, f"the leader starts the drill ({body})")
        did = int(body["id"])
        wait_for(lambda: [x for x in region_changes(c, DRILLED) if x[3] == 0], 20,
                 f"the drill's drain of {DRILLED} lands at Route 53")
        time.sleep(3)   # mid-drill: the drain in place for a while, the time left refreshed
        t_kill = time.monotonic()
        kill9(a)
        rest = [d for d in c.ds if d is not a]
        b, took = one_leader(c, rest, TAKEOVER_S + 5)
        t_led = t_kill + took
        eb = lease(b)["epoch"]
        bumped(c, b, eb)
        end_min, end_max = t_sent + DURATION_S, t_ack + DURATION_S
        bound = end_max + (t_led - t_kill) + REFRESH_S + SLACK_S
        restored = wait_for(lambda: [x for x in region_changes(c, DRILLED) if x[3] and x[3] > 0],
                            bound - time.monotonic() + 10, f"{DRILLED} is restored after the drill")
        moves = region_changes(c, DRILLED)
        print(f"kill -9 -> {b.iid} leads: {took:.2f} s; drill end (leader's clock) {end_min - t_kill:.1f}.."
              f"{end_max - t_kill:.1f} s after the kill; restore landed {restored[0][0] - t_kill:.2f} s after "
              f"the kill (bound {bound - t_kill:.1f} s); moves of {DRILLED}: "
              f"{[(round(m - t_kill, 2), k[-1], f, t) for m, k, f, t in moves]}")
        check_eq([(k, f, t) for _, k, f, t in moves], [(a.key, 100, 0), (b.key, 0, 100)],
                 f"{DRILLED} drained once by {a.iid} and restored once by {b.iid}, nothing applied twice")
        check(restored[0][0] >= end_min, f"the drain holds until the drill's end: restored "
              f"{restored[0][0] - end_min:.2f} s after the earliest end")
        check(restored[0][0] <= bound, f"the new leader restores on time: {restored[0][0] - t_kill:.2f} s after "
              f"the kill, bound {bound - t_kill:.2f} s")
        mine = [ch for ch in c.r53.changes() if ch["key"] == b.key]
        check_eq([(epoch_of(ch["after"]), weights_of(ch["before"]) == weights_of(ch["after"])) for ch in mine],
                 [(eb, True), (eb, False)], f"{b.iid}'s batches: its guard bump, then the restore only")
        check_eq(c.r53.weights(NAME), {r: 100 for r in REGIONS},
                 "every region serves at weight 100 after the drill (the peer's records)")
        rep = wait_for(lambda: (lambda r: r if r.get("state") == "done" else None)(
            json.loads(b.get(f"/v1/drills/{did}")[1])), 10, f"{b.iid} reports drill {did} done")
        types = [e["type"] for e in rep["timeline"]]
        check("takeover" in types and "drill_end" in types and types.index("takeover") < types.index("drill_end"),
              f"{b.iid}'s timeline says it took the drill over, then ended it ({types})")
        third = next(d for d in rest if d is not b)
        check_eq(len(c.calls(third.key)), 0, f"the instance that never led ({third.iid}) never called Route 53")
        for d in rest:
            check_eq(d.stop(), 0, f"{d.iid} stops cleanly")
    finally:
        c.stop()


if __name__ == "__main__":
    run_tests([test_drill_survives_kill])
