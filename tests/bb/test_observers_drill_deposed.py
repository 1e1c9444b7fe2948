"""A deposed leader's local fail drill stops acting (docs/ha.md "Drills under the quorum rule", known
defect 25 fixed): three instances, k = 3 (every view needed to restore).  Leader L starts a long fail
drill on r2 (drained at the Route 53 peer); L is frozen (SIGSTOP) past its lease; another instance N
takes over and resumes the drill from the replicated state; L is thawed (SIGCONT) and is a follower.
Judged at the DynamoDB peer (view items) and the Route 53 peer:
  - L's item no longer names the drill (only the holder's drills are named);
  - the drill stopped on N, r2 is restored at the Route 53 peer within a few publish intervals and L's
    item says r2 up with no drill reason.
Without the fix L keeps failing its own probes of r2 until the drill's end there (DRILL_S after its
start): its view stays down and, with k = 3, r2 is not restored in time."""
import json
import signal
import time

from harness import check, check_eq, run_tests, wait_for
from lease_kit import TAKEOVER_S, leaders
from quorum_kit import SILENT_MS, Cluster, ready
from test_observers_drill import DRAIN_S, post, r2_of
import test_observers_drill as od

TOKENS = od.TOKENS   # post() (test_observers_drill) sends its tokens
DRILL_S = 180   # far longer than the test: only its stop on N may end it


def drill_state(d, did):
    code, body = d.get(f"/v1/drills/{did}")
    return json.loads(body).get("state") if code == 200 else None


def test_deposed_drill():
    C = od.C = Cluster(k=3, token_file=TOKENS)
    lead = None
    try:
        lead = ready(C)
        n0 = len(C.r53.changes())
        code, body = post(lead, "/v1/drills", {"region": "r2", "action": "fail", "duration_s": DRILL_S,
                                               "note": "deposed drill"})
        check_eq(code, 201, f"the leader starts a fail drill on r2 ({body})")
        did = int(body["id"])
        wait_for(lambda: C.drained_at("r2", n0), DRAIN_S, "r2 drained at the Route 53 peer by the fail drill")

        lead.proc.send_signal(signal.SIGSTOP)   # L frozen past its lease: another instance takes over
        others = [d for d in C.ds if d is not lead]
        try:
            new = wait_for(lambda: (lambda ls: ls[0] if len(ls) == 1 else None)(leaders(others)),
                           TAKEOVER_S + 5, "another instance leads while L is frozen")
            wait_for(lambda: drill_state(new, did) == "active", 10,
                     f"the new leader resumed drill {did} from the replicated state")
        finally:
            lead.proc.send_signal(signal.SIGCONT)
        wait_for(lambda: not lead.status()["lease"]["leading"], 10, "L, thawed, no longer leads")
        check(new in leaders(C.ds), "the new leader still leads")
        wait_for(lambda: (lambda it: it if it and "drills" not in it["doc"] else None)(
            od.items().get(lead.iid)), (SILENT_MS + 2000) / 1000,
            "L's item at the DynamoDB peer no longer names the drill")

        code, body = post(new, f"/v1/drills/{did}", method="DELETE")
        check_eq(code, 200, f"drill {did} stopped on the new leader ({body})")
        t0 = time.monotonic()
        wait_for(lambda: C.weights().get("r2") == 100, DRAIN_S,
                 "r2 restored at the Route 53 peer after the drill stopped on the new leader (k = 3: L's view too)")
        check(time.monotonic() - t0 < DRAIN_S, "restored well before the drill's end on L")
        it = wait_for(lambda: (lambda r: r if r and r.get("state") == "up" and "drill" not in r.get("reason", "")
                               else None)(r2_of(od.items().get(lead.iid))), 5,
                      "L's item at the DynamoDB peer says r2 up, no drill")
        check(it is not None, "L's view back to its probes")
        for d in C.ds:
            check_eq(d.stop(), 0, f"{d.iid} stops cleanly")
    finally:
        if lead is not None and lead.proc.poll() is None:
            lead.proc.send_signal(signal.SIGCONT)
        C.stop()


if __name__ == "__main__":
    run_tests([test_deposed_drill])
