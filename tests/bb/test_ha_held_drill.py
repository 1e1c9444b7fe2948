"""A drill whose drain is not confirmed (issue 17, docs/ha.md "Replicated
controller state"; known defect 10 before): one leader (held_kit); an
operator's #control items of a higher epoch refuse every write of the state;
a drain drill's answer is held; the operator then takes the lease items
(botocore): the leader steps down, the drill is answered 503 at once and
recorded ACTIVE (timeline "unconfirmed"), its drain in effect on this
instance — never "refused" with its drain applied and untracked; no majority
of the peer's #control items holds the drain."""
import json
import time

from harness import check, check_eq, run_tests, wait_for
from held_kit import HOLD_S, WAIT_S, Ask, Held, check_drill_active
from lease_kit import lease
from test_ha import REGIONS
from test_ha_state import put_by_hand


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


if __name__ == "__main__":
    run_tests([test_drill_lost_while_held])
