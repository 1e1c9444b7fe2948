"""A fail drill survives a takeover under the quorum rule (docs/ha.md "Drills under the quorum rule",
*The leader dies mid-drill*): three instances, each an observer (quorum_kit, k 2 of 3).  Leader L starts
a long fail drill on r2 (drained at the Route 53 peer), then L is killed (SIGKILL): (a) left dead,
(b) restarted at once on its own directory (its views name no drill: its drills act only once it has
led since it started).  A survivor takes the lease, resumes the drill at its replicated read and
decides; the other views say r2 up (their probes are real) until they read its view naming the drill.
  - an instance leads at a higher epoch;
  - from the kill until the test stops the drill, no batch at the Route 53 peer gives r2 a weight
    above 0 (the peer's change log), and r2 is still at 0 there WATCH_S after the drill resumed;
  - the drill is stopped on the new leader (the API regionctl uses): r2 is restored at the peer.
Without the fix (33's special case only without the quorum rule) (b) failed: the new leader's first
decisions counted the restarted instance's view and the other survivor's (both r2 up) and restored r2
mid-drill; (a) passed without it (the survivor's mark drops only after the new leader's read, and a
split keeps the state), kept as the takeover case an operator expects to hold.  Since the special case
moved into the drill (docs/ha.md "33's special case moved into the drill": the resume puts the drill's
simulated failures into health at once, and observers_quorum_resume makes the other views no opinion
for 3 publish_ms) (b) failed with that step reverted, and with the health step alone."""
import json
import time

from harness import Daemon, check, check_eq, run_tests, wait_for
from lease_kit import ENV, TAKEOVER_S, kill9, leaders
from quorum_kit import Cluster, ready
from test_observers_drill import DRAIN_S, post
from test_observers_drill_gap import lease, raised
import test_observers_drill as od

TOKENS = od.TOKENS   # post() (test_observers_drill) sends its tokens
DRILL_S = 180        # far longer than the test: only the test's stop ends it
WATCH_S = 8          # after the takeover: the replicated read, view reads (1 s), probe rounds, hold-down 1 s


def restart(C, d):
    """d (killed) started again on its own directory (its local state) and config."""
    g = Daemon(d.cfg, dir=d.dir, env=dict(ENV, AWS_SHARED_CREDENTIALS_FILE="/nonexistent",
                                            AWS_CONFIG_FILE="/nonexistent"))
    g.iid, g.cfg, g.n = d.iid, d.cfg, d.n
    C.ds[C.ds.index(d)] = g
    return g


def drill_survives(restarted):
    C = od.C = Cluster(k=2, token_file=TOKENS)
    try:
        lead = ready(C)
        e0 = lease(lead)["epoch"]
        others, did, n0 = od.drill_marked(lead, "quorum takeover drill", DRILL_S)
        time.sleep(1.5)   # the replicated drill state written (a drain's batch lands before its record)
        n1 = len(C.r53.changes())

        t0 = time.monotonic()
        kill9(lead)
        cands = others + ([restart(C, lead)] if restarted else [])
        new = wait_for(lambda: (lambda ls: ls[0] if len(ls) == 1 and lease(ls[0]).get("epoch", 0) > e0
                                else None)(leaders(cands)), TAKEOVER_S + 10,
                       f"an instance takes the lease at an epoch above {e0}")
        print(f"{new.iid} leads {time.monotonic() - t0:.1f} s after the kill")
        wait_for(lambda: (lambda cb: cb[0] == 200 and json.loads(cb[1]).get("state") == "active")(
            new.get(f"/v1/drills/{did}")), 10, f"the drill resumed on {new.iid}")
        time.sleep(WATCH_S)
        check_eq(raised(n1), [], "from the kill on no batch at the Route 53 peer gives r2 a weight above 0 "
                                 "while the drill runs ((peer seconds after the last batch before the kill, weight))")
        check_eq(C.weights().get("r2"), 0, "r2 still drained at the Route 53 peer")

        code, body = post(new, f"/v1/drills/{did}", method="DELETE")
        check_eq(code, 200, f"drill {did} stopped on the new leader {new.iid} ({body})")
        wait_for(lambda: C.weights().get("r2") == 100, DRAIN_S, "r2 restored at the Route 53 peer once stopped")
        check(len(raised(n1)) >= 1, "the restore is a batch in the peer's change log")
    finally:
        C.stop()


def test_drill_takeover_quorum():
    drill_survives(False)


def test_drill_restart_quorum():
    drill_survives(True)


if __name__ == "__main__":
    run_tests([test_drill_takeover_quorum, test_drill_restart_quorum])
