"""A takeover against a Route 53 whose changes stay PENDING for 30 s, as
AWS's often do (its documentation promises propagation "generally within
60 seconds"): the new leader's guard bump changes no weight, so its first
decision must not wait for the bump's INSYNC.  kill -9 of the leader while
a region fails -> the new leader's drain lands at the Route 53 peer within
12 s (issue 17), long before the bump is INSYNC; the drain batch carries
the new term's guard, and the peer's records end drained.  Judged on the
Route 53 peer's change log."""
import time

from harness import check, check_eq, run_tests, wait_for
from lease_kit import TAKEOVER_S, kill9, lease
from test_ha import APPLY_BOUND_S, NAME, REGIONS, Cluster, epoch_of, one_leader, weights_of

PENDING_MS = 30000


def test_first_decision_does_not_wait_for_the_bumps_insync():
    c = Cluster()
    try:
        a, _ = one_leader(c)
        wait_for(lambda: set(c.r53.weights(NAME).values()) == {100}, 30, "every weight at 100")
        c.r53.call("POST", "/_peer/config", {"pending_ms": PENDING_MS})
        n0 = len(c.r53.changes())
        t_kill = time.monotonic()
        kill9(a)
        c.ngx.down(c.ports[2])
        rest = [d for d in c.ds if d is not a]
        b, _ = one_leader(c, rest, TAKEOVER_S + 5)
        eb = lease(b)["epoch"]

        def drained():
            return next((ch for ch in c.r53.changes()[n0:]
                         if ch["key"] == b.key and weights_of(ch["after"]).get(REGIONS[2]) == 0), None)
        ch = wait_for(drained, APPLY_BOUND_S + PENDING_MS / 1000, f"{b.iid} drains {REGIONS[2]}")
        mine = [x for x in c.r53.changes()[n0:] if x["key"] == b.key]
        check_eq(epoch_of(mine[0]["after"]), eb, f"{b.iid}'s first batch is the guard bump to {eb}")
        applied = ch["mono"] - t_kill
        print(f"info kill -9 -> drain applied at Route 53: {applied:.2f} s with changes PENDING for "
              f"{PENDING_MS / 1000:.0f} s", flush=True)
        check(applied <= APPLY_BOUND_S, f"the first decision lands within {APPLY_BOUND_S:.0f} s of the kill "
                                        f"though the bump stays PENDING for {PENDING_MS / 1000:.0f} s "
                                        f"({applied:.2f} s)")
        check(ch["mono"] - mine[0]["mono"] < PENDING_MS / 1000,
              "the drain was sent while the bump was still PENDING")
        check_eq(epoch_of(ch["after"]), eb, "the drain batch carries the new term's guard")
        check_eq(c.r53.weights(NAME)[REGIONS[2]], 0, "the peer's record of the failed region is drained")
    finally:
        c.stop()


if __name__ == "__main__":
    run_tests([test_first_decision_does_not_wait_for_the_bumps_insync])
