"""A change answered after leading ended (issue 17, docs/ha.md "Replicated
controller state"; known defect 8 before): one leader (held_kit), its fsync
stalled by strace; an override is sent, and while its save is stalled an
operator writes the lease items with a higher epoch (botocore), so the
leader steps down before the save finishes.  The client gets 503 ("stopped
leading (epoch E) before the change was saved"), never 200; the peer's
#control items do not hold the override; the lease items are the
operator's."""
import time

from harness import check, check_eq, run_tests, wait_for
from held_kit import STALL_S, Ask, Held, no_pin
import lease_kit
from lease_kit import lease
from state_kit import fsync_stalled
from test_ha import REGIONS
from test_ha_state import control_items, majority


def test_lost_before_saved():
    c = Held()
    try:
        a, ea = c.leader()
        with fsync_stalled(a.proc.pid, STALL_S):
            ask = Ask(a, "POST", "/v1/overrides", {"region": REGIONS[0], "action": "pin", "weight": 30,
                                                  "duration_s": 3600, "note": "held 8"})
            c.take_lease_by_hand(ea + 50)
            wait_for(lambda: lease(a) and not lease(a)["leading"], 2 * STALL_S,
                     f"{a.iid} steps down (the operator's items)")
            lost_at = time.monotonic()
            if not check(not ask.answered(), f"the override's save is still stalled when {a.iid} stops leading "
                                             f"({lost_at - ask.sent_at:.1f} s after it was sent)"):
                raise AssertionError("the stall ended before the lease was lost: nothing to judge")
            ask.wait(4 * STALL_S + 10, "the override")
        print(f"override answered {ask.done_at - ask.sent_at:.1f} s after it was sent, "
              f"{ask.done_at - lost_at:.1f} s after the step-down: {ask.code} {ask.body or ask.error}")
        check_eq(ask.code, 503, "the override saved after the term ended is answered 503, not 200")
        err = (ask.body or {}).get("error", "")
        check(f"stopped leading (epoch {ea}) before the change was saved" in err and "pinning" in err,
              f"the 503 says it is applied here only and why ({err!r})")
        check(any(o.get("region") == REGIONS[0] and o.get("weight") == 30
                  for o in a.status()["failover"]["overrides"]),
              f"{a.iid} shows the override it applied (as the 503 says)")
        its = control_items(c)
        check(majority(its, lambda it: it["epoch"] == ea and no_pin(it, 30)) is not None,
              f"the peer's #control items (epoch {ea}) do not hold the pin: it was never replicated")
        owner, _ = lease_kit.majority_owner(lease_kit.items_fast(c.ddb))
        check_eq(owner, "an operator", "the peer's lease items are the operator's")
        check_eq(a.stop(), 0, f"{a.iid} stops cleanly")
    finally:
        c.stop()


if __name__ == "__main__":
    run_tests([test_lost_before_saved])
