"""A fail drill survives a takeover without the quorum rule (docs/ha.md known defect 33: "a term that
resumes a fail drill at its replicated read"): three instances (test_ha's Cluster, no observers).
Leader A starts a long fail drill on r2; once its probes have drained r2 at the strict Route 53 peer,
A is killed (SIGKILL).  A survivor B takes the lease and resumes the drill at its replicated read; B's
own probes of r2 are real and have not failed yet, so the resume puts the drill's simulated failures
into r2's health at once (targets_drill_resume), and B's first decision sees r2 down.
  - from the kill until the test stops the drill, no batch at the peer gives r2 a weight above 0;
  - r2 is down in B's status right after the resume (before B's fall rounds could have failed it);
  - the drill stopped on B (the API regionctl uses): r2 is restored at the peer.
Without the resume step (and 33's old special case in ctrl_inputs removed) B's first decision took
r2 as up and restored it mid-drill."""
import json
import time

from harness import check_eq, run_tests, wait_for
from lease_kit import TAKEOVER_S, kill9, lease
from test_ha import REGIONS, Cluster, bumped, control, one_leader
from test_ha_drill import region_changes

DRILL_S = 180        # far longer than the test: only the test's stop ends it
WATCH_S = 8          # after the resume: probe rounds, hold-down 1 s, a batch's time
DRILLED = REGIONS[1]


def status_state(d, region):
    code, body = d.get("/v1/status")
    if code != 200:
        return None
    for r in json.loads(body).get("regions", []):
        if r.get("name") == region or r.get("region") == region:
            return r.get("state")
    return None


def test_fail_drill_survives_kill():
    c = Cluster()
    try:
        a, _ = one_leader(c)
        bumped(c, a, lease(a)["epoch"])
        code, body = control(a, "POST", "/v1/drills", {"region": DRILLED, "action": "fail",
                                                      "duration_s": DRILL_S, "note": "ha fail drill"})
        check_eq(code, 201, f"the leader starts a fail drill on {DRILLED} ({body})")
        did = int(body["id"])
        wait_for(lambda: [x for x in region_changes(c, DRILLED) if x[3] == 0], 30,
                 f"the fail drill drains {DRILLED} at Route 53")
        time.sleep(1.5)   # the drill's time left replicated (DR_PUSH_MS) with the drain in place
        n_before = len(region_changes(c, DRILLED))
        kill9(a)
        rest = [d for d in c.ds if d is not a]
        b, took = one_leader(c, rest, TAKEOVER_S + 5)
        print(f"{b.iid} leads {took:.1f} s after the kill")
        wait_for(lambda: (lambda cb: cb[0] == 200 and json.loads(cb[1]).get("state") == "active")(
            b.get(f"/v1/drills/{did}")), 10, f"the drill resumed on {b.iid}")
        check_eq(status_state(b, DRILLED), "down", f"{DRILLED} down in {b.iid}'s health right after the resume")
        time.sleep(WATCH_S)
        after = region_changes(c, DRILLED)[n_before:]
        check_eq([x for x in after if x[3] and x[3] > 0], [],
                 f"from the kill on no batch gives {DRILLED} a weight above 0 while the drill runs")
        n_stop = len(region_changes(c, DRILLED))
        code, body = control(b, "DELETE", f"/v1/drills/{did}")
        check_eq(code, 200, f"drill {did} stopped on the new leader {b.iid} ({body})")
        wait_for(lambda: [x for x in region_changes(c, DRILLED)[n_stop:] if x[3] == 100], 30,
                 f"{DRILLED} restored (weight 100) at the Route 53 peer once the drill is stopped")
    finally:
        c.stop()


if __name__ == "__main__":
    run_tests([test_fail_drill_survives_kill])
