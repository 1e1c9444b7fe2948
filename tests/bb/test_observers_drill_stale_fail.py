"""Known defect 41's harm: a region that REALLY fails while the followers hold a stale drill mark is
drained.  Three instances, each an observer, k = 2 (quorum_kit).  As in test_observers_drill_stale: a fail
drill on r2 drained at the Route 53 peer, the leader's view item writes denied at the DynamoDB peer (its
lease still renews), the drill stopped, and r2 restored at the peer while the followers keep marking r2
down from the leader's last view.  Then r2's endpoint fails for every observer (nginx answers 503 on all
three of r2's ports): each follower's mark now names "own probes: down", the leader counts those as down
votes (without the fix: no opinion, and its own down vote alone is short of k) and r2 is drained at the
Route 53 peer within the bound below; alarm cluster-mark-stale names both marks as counted down (status
JSON).  The operator (second actor) brings r2's endpoint back: r2 is restored at the peer, the marks still
held; then the view write policy is fixed at the DynamoDB peer: the marks go, the alarm resolves, r2 stays
up."""
import time

from harness import check, check_eq, run_tests, wait_for
from lease_kit import REGIONS as LEASE_REGIONS
from observer_kit import view_items_fast
from quorum_kit import FALL, PROBE_MS, PUBLISH_MS, Cluster, alarms, qregion
from test_observers_drill_stale import DRAIN_S, TOKENS, mark, r2_of, stale_marks

# Fault -> drain batch at the Route 53 peer, at most:
#   (FALL + 1) * PROBE_MS  each follower's probes call r2 down (a round in flight at the fault, then FALL
#                          failed rounds; r1 and r3 answer meanwhile, so the down verdict is vouched, defect 34)
# + POLL_MS                its view written with "own probes: down" at the views' next poll: the view's state
#                          stays down by the mark, but the own probes' state under it is in the change
#                          signature, so it is written at once (cluster/view_mark.h view_mark_sig)
# + PUBLISH_MS             the leader's next read of the views
# + 0                      a drain never waits for hold_down_s, settle_ms is 0: the batch is sent at once
# + MARGIN_S               the batch's fresh read of the group, DynamoDB and Route 53 round trips on a machine
#                          shared with other test runs
POLL_MS = 250              # cluster/views.c VW_POLL_MS
MARGIN_S = 3.0
BOUND_S = ((FALL + 1) * PROBE_MS + POLL_MS + PUBLISH_MS) / 1000 + MARGIN_S


def followers_mark(C, others, want):
    its = view_items_fast(C.ddb, LEASE_REGIONS[0])
    return all(r2_of(its.get(d.iid)).get("reason") == want for d in others)


def counted_down(lead, others, did):
    """The leader's cluster-mark-stale alarm names each follower's mark of r2 as counted down."""
    a = alarms(lead).get("cluster-mark-stale") or {}
    s = a.get("summary", "")
    return s if all(f"observer {d.iid} region r2 drill {did} (counted down)" in s for d in others) else None


def test_real_failure_under_stale_marks():
    C = Cluster(k=2, token_file=TOKENS)
    try:
        lead, others, did = stale_marks(C)
        wait_for(lambda: C.weights().get("r2") == 100, DRAIN_S,
                 "r2 restored at the Route 53 peer after the drill is stopped (the followers' own probes: up)")
        check(followers_mark(C, others, mark(did, "up")), "the followers still mark r2 down from the leader's view")

        n1 = len(C.r53.changes())
        t0 = time.monotonic()
        for i in (1, 2, 3):
            C.ngx.down(C.r2[i])   # r2's endpoint answers 503 for every observer
        at = wait_for(lambda: C.drained_at("r2", n1), DRAIN_S,
                      "r2 drained at the Route 53 peer: the followers' marks count as their own probes (down)")
        print(f"fault -> drain batch at the Route 53 peer: {at - t0:.2f} s (bound {BOUND_S:.2f} s)", flush=True)
        last = (qregion(lead, "r2") or {}).get("last_decision") or {}
        if last.get("call") == "down":   # when the leader called it, as its status tells (for the record)
            print(f"fault -> the leader's quorum call down: {time.monotonic() - last['age_ms'] / 1000 - t0:.2f} s",
                  flush=True)
        check(at - t0 <= BOUND_S, f"drained within {BOUND_S:.2f} s of the fault ({at - t0:.2f} s)")
        check_eq(C.weights().get("r2"), 0, "the peer's r2 record is drained")
        check(followers_mark(C, others, mark(did, "down")),
              "the followers still hold the stale mark, now naming their own probes down")
        s = wait_for(lambda: counted_down(lead, others, did), 5,
                     "alarm cluster-mark-stale names both followers' marks of r2 as counted down")
        print(f"alarm: {s}", flush=True)
        q = qregion(lead, "r2") or {}
        check(all(d.iid in q.get("down", []) for d in others), f"the leader's quorum counts both followers down ({q})")

        # the operator brings r2 back; the view write policy is still wrong, so the marks stay
        for i in (1, 2, 3):
            C.ngx.down(C.r2[i], False)
        wait_for(lambda: C.weights().get("r2") == 100, DRAIN_S, "r2 restored at the Route 53 peer once it answers")
        check(followers_mark(C, others, mark(did, "up")), "the followers' marks name their own probes up again")
        # ... then fixes the policy: the leader's view is written, the marks go, the alarm resolves
        C.ddb.call("POST", "/_peer/clear-faults", {})
        wait_for(lambda: all(not str(r2_of(view_items_fast(C.ddb, LEASE_REGIONS[0]).get(d.iid)).get("reason", ""))
                             .startswith("drill ") for d in others), DRAIN_S, "the followers' marks go")
        wait_for(lambda: "cluster-mark-stale" not in alarms(lead), DRAIN_S, "the alarm resolves")
        check_eq(C.weights().get("r2"), 100, "r2 stays up at the Route 53 peer")
        for d in C.ds:
            check_eq(d.stop(), 0, f"{d.iid} stops cleanly")
    finally:
        C.stop()


if __name__ == "__main__":
    run_tests([test_real_failure_under_stale_marks])
