"""A reload that removes the cluster section while a fail drill runs (docs/ha.md known defect 33, the
reload part, fixed): one instance leads a cluster of one, starts a fail drill on a region (drained at
the strict Route 53 peer), then a reload (SIGHUP) removes its cluster section.  The gates stay shut
until a restart ("Reload"), and the drill goes on as it did:
  - the region stays down in the instance's own health (its probes still fail by the drill) and the
    drill is shown active, until the drill's end;
  - it stays drained at the Route 53 peer (nothing is sent);
  - at the drill's end the region comes back up in the instance's health (its probes were real all
    along) and the peer's record is still untouched.
Without the fix the drill stops failing probes at the reload (leader_drills_act() false with no lease)
while still shown active: the region is up within a few probe rounds."""
import json
import time

from harness import check, check_eq, run_tests, wait_for
from lease_kit import lease, sample_until
from test_ha import NAME, REGIONS, bumped, control
from test_lease_reload import FIRST_S, Rig, reload_ok

DRILL_S = 20
R = REGIONS[2]


def drill_state(d, did):
    code, body = d.get(f"/v1/drills/{did}")
    return json.loads(body).get("state") if code == 200 else None


def still(a, rig, did):
    """The drill goes on: r down in a's health, the drill active, the peer's record drained."""
    st = a.region(R)["state"]
    ds = drill_state(a, did)
    w = rig.r53.weights(NAME)[R]
    return True if (st, ds, w) == ("down", "active", 0) else (st, ds, w)


def test_reload_removes_section_mid_drill():
    rig = Rig()
    try:
        a = rig.start(1, rig.config(1))
        sample_until([a], lambda ls: ls == [a], FIRST_S, f"{a.iid} leading")
        bumped(rig, a, lease(a)["epoch"])
        code, body = control(a, "POST", "/v1/drills", {"region": R, "action": "fail", "duration_s": DRILL_S,
                                                       "note": "reload drill"})
        check_eq(code, 201, f"the leader starts a fail drill on {R} ({body})")
        t_start = time.monotonic()
        did = int(body["id"])
        wait_for(lambda: rig.r53.weights(NAME)[R] == 0, 15, f"{R} drained at the Route 53 peer by the drill")
        wait_for(lambda: a.region(R)["state"] == "down", 5, f"{a.iid} sees {R} down by the drill")

        reload_ok(a, rig.config(1, cluster=False))
        check(a.status().get("lease") is None, f"{a.iid} has no lease after the reload")
        t_reload = time.monotonic()
        until = t_start + DRILL_S - 2
        check(until - t_reload >= 6, f"the drill has at least 6 s left after the reload ({until - t_reload:.1f} s)")
        bad = None
        while time.monotonic() < until:
            v = still(a, rig, did)
            if v is not True:
                bad = (round(time.monotonic() - t_reload, 2), v)
                break
            time.sleep(0.1)
        check(bad is None, f"until the drill's end {R} stays down in {a.iid}'s health, the drill active and "
                           f"{R} drained at the Route 53 peer (first departure: seconds after the reload, "
                           f"(state, drill, weight) = {bad})")

        wait_for(lambda: drill_state(a, did) not in ("active", None), 10, f"drill {did} ends at its time")
        wait_for(lambda: a.region(R)["state"] == "up", 10, f"{R} up in {a.iid}'s health once the drill ended")
        check_eq(rig.r53.weights(NAME)[R], 0, "the peer's record stays as it was (nothing sent until a restart)")
    finally:
        rig.stop()


if __name__ == "__main__":
    run_tests([test_reload_removes_section_mid_drill])
