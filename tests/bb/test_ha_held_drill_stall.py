"""A drill whose drain is saved after its term ended (issue 17, docs/ha.md
"Replicated controller state"; known defects 8 and 10 before): one leader
(held_kit), its fsync stalled by strace; the drill's own file is saved
(drill_start), its drain override's save is stalled, and the operator takes
the lease items meanwhile (botocore): 503 "stopped leading (epoch E) before
the change was saved", the drill recorded active with its drain in effect,
no majority of the peer's #control items holds it (before: 201)."""
import time

from harness import check, check_eq, events_ring, run_tests, wait_for
from held_kit import STALL_S, Ask, Held, check_drill_active
from lease_kit import lease
from state_kit import fsync_stalled
from test_ha import REGIONS


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
    run_tests([test_drill_lost_before_saved])
