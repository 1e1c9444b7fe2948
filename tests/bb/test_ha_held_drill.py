"""Held answers of drills (issue 17, docs/ha.md "Replicated controller
state", known defect 10 before): a drain drill goes through an override, so
its start is answered like one: 201 only once its state is on a majority of
the lease tables.  When it is not, the answer is 503 and the drill is
recorded ACTIVE — its drain is in effect on this instance, and the drill's
end releases it — never "refused" with its drain applied and untracked.
Same set-up as test_ha_held.py (one leader, three lease tables on the strict
DynamoDB peer, nginx, the strict Route 53 peer); second actors: an operator
with the aws CLI, a stalled disk.  Judged on the HTTP status, the drill's
record and the DynamoDB peer's items:
  - test_drill_lost_while_held: an operator's #control items (epoch above
    every term) refuse every write of the state; a drill's answer is held;
    the operator then takes the lease items: 503, the drill active;
  - test_drill_lost_before_saved: the drill's own file is saved, its drain
    override's save is stalled (fsync), the operator takes the lease items
    meanwhile: 503, the drill active, its drain on no majority of the
    #control items."""
import json
import time

from harness import check, check_eq, events_ring, run_tests, wait_for
from lease_kit import lease
from state_kit import fsync_stalled
from test_ha import REGIONS
from test_ha_held import HOLD_S, STALL_S, WAIT_S, Ask, Held
from test_ha_state import control_items, majority, put_by_hand


def check_drill_active(c, a, ea, region, ask):
    """The drill answered 503 is recorded active with its drain in effect; the peer's items lack it."""
    check_eq(ask.code, 503, "the drill whose drain is on no majority is answered 503, not 201")
    err = (ask.body or {}).get("error", "")
    check("started on this instance" in err and "applied on this instance (draining" in err,
          f"the 503 says the drill runs here and why ({err!r})")
    code, body = a.get("/v1/drills")
    drills = json.loads(body)
    drills = drills.get("drills", drills) if isinstance(drills, dict) else drills
    mine = [x for x in drills if x.get("region") == region]
    check(len(mine) == 1 and mine[0].get("state") == "active",
          f"the drill is recorded active, its drain being in effect ({[(x.get('id'), x.get('state')) for x in mine]})")
    ov = [o for o in a.status()["failover"]["overrides"] if o.get("region") == region]
    check(len(ov) == 1 and ov[0].get("action") == "drain" and str(ov[0].get("note", "")).startswith("drill "),
          f"the drill's drain is the override in effect ({ov})")
    if mine:
        code, body = a.get(f"/v1/drills/{mine[0]['id']}")
        text = body.decode(errors="replace")
        check(code == 200 and "refused" not in text and "unconfirmed" in text,
              "its timeline says unconfirmed, not refused")
    check(majority(control_items(c), lambda it: not any(
        o.get("region") == region for o in (it["doc"] or {}).get("overrides", []))) is not None,
          "no majority of the peer's #control items holds the drill's drain")


def test_drill_lost_while_held():
    c = Held()
    try:
        a, ea = c.leader()
        put_by_hand(c, ea + 100, 1, json.dumps({"frozen": False, "decision_seq": 5}))
        ask = Ask(a, "POST", "/v1/drills", {"region": REGIONS[2], "action": "drain", "duration_s": 600,
                                           "note": "held 10"})
        wait_for(lambda: any(o.get("region") == REGIONS[2] for o in a.status()["failover"]["overrides"]),
                 WAIT_S, f"{a.iid} applied the drill's drain (its answer held)")
        held_for = time.monotonic() - ask.sent_at
        if not check(not ask.answered(), f"the drill's answer is held ({held_for:.1f} s)"):
            raise AssertionError("the drill was answered before the lease was taken: nothing to judge")
        c.take_lease_by_hand(ea + 50)
        ask.wait(HOLD_S + 20, "the drill")
        check(not (lease(a) or {}).get("leading"), f"{a.iid} stepped down (the operator's lease items)")
        check(ask.done_at - ask.sent_at < HOLD_S - 0.5,
              f"the drill was answered at the step-down, before the hold's deadline ({ask.done_at - ask.sent_at:.1f} "
              f"s, deadline {HOLD_S} s)")
        print(f"drill answered {ask.done_at - ask.sent_at:.1f} s after it was sent: {ask.code} "
              f"{ask.body or ask.error}")
        check("stopped leading before the change was on a majority" in (ask.body or {}).get("error", ""),
              "the 503 says the term ended before the drain was on a majority")
        check_drill_active(c, a, ea, REGIONS[2], ask)
        check_eq(a.stop(), 0, f"{a.iid} stops cleanly")
    finally:
        c.stop()


def test_drill_lost_before_saved():
    c = Held()
    try:
        a, ea = c.leader()
        with fsync_stalled(a.proc.pid, STALL_S):
            ask = Ask(a, "POST", "/v1/drills", {"region": REGIONS[1], "action": "drain", "duration_s": 600,
                                               "note": "held 10"})
            # the drill's own file is durable (its drill_start event), its drain override's save is stalled
            wait_for(lambda: "drill_start" in events_ring(a.port, 0.5), 8 * STALL_S,
                     "the drill's file saved (drill_start)")
            c.take_lease_by_hand(ea + 50)
            wait_for(lambda: lease(a) and not lease(a)["leading"], 2 * STALL_S, f"{a.iid} steps down")
            lost_at = time.monotonic()
            if not check(not ask.answered(), f"the drill's override save is still stalled when {a.iid} stops "
                                             f"leading ({lost_at - ask.sent_at:.1f} s after it was sent)"):
                raise AssertionError("the stall ended before the lease was lost: nothing to judge")
            ask.wait(6 * STALL_S + 10, "the drill")
        print(f"drill answered {ask.done_at - ask.sent_at:.1f} s after it was sent: {ask.code} "
              f"{ask.body or ask.error}")
        check(f"stopped leading (epoch {ea}) before the change was saved" in (ask.body or {}).get("error", ""),
              "the 503 says the term ended before the drain was saved")
        check_drill_active(c, a, ea, REGIONS[1], ask)
        check_eq(a.stop(), 0, f"{a.iid} stops cleanly")
    finally:
        c.stop()


if __name__ == "__main__":
    run_tests([test_drill_lost_while_held, test_drill_lost_before_saved])
