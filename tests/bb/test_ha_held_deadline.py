"""Held answers end (issue 17, docs/ha.md "Replicated controller state";
known defects 9 and 12 before): one leader (held_kit); an operator writes
the #control items with an epoch above every term (aws CLI), so every write
of the state is refused.  An override is answered 503 "not confirmed on a
majority ... within 10000 ms" at lease_ms (10 s), not held until the client
gives up; the peer's items stay the operator's.  Then a freeze is held and
regiond gets SIGTERM: the client gets 503 "regiond is stopping" before it
exits, and it exits 0 (no leak under ASan)."""
import json
import time

from harness import check, check_eq, run_tests, wait_for
from held_kit import HOLD_S, LEASE_MS, WAIT_S, Ask, Held
from lease_kit import lease
from test_ha import REGIONS
from test_ha_state import control_items, majority, put_by_hand


def test_blocked_deadline_and_sigterm():
    c = Held()
    try:
        a, ea = c.leader()
        high = ea + 100
        put_by_hand(c, high, 1, json.dumps({"frozen": False, "decision_seq": 5}))
        # 9: every write of the state is refused (ConditionalCheckFailed): the answer has a deadline
        ask = Ask(a, "POST", "/v1/overrides", {"region": REGIONS[0], "action": "pin", "weight": 40,
                                              "duration_s": 3600, "note": "held 9"})
        ask.wait(HOLD_S + 20, "the override while the operator's items refuse every write")
        took = ask.done_at - ask.sent_at
        print(f"override answered after {took:.1f} s: {ask.code} {ask.body or ask.error}")
        check_eq(ask.code, 503, "the override whose state cannot reach a majority is answered 503")
        check(HOLD_S - 0.5 <= took <= HOLD_S + 10, f"... after the hold's deadline, lease_ms {HOLD_S} s "
                                                   f"({took:.1f} s)")
        err = (ask.body or {}).get("error", "")
        check(f"not confirmed on a majority of the lease tables within {LEASE_MS} ms" in err
              and "newer state" in err, f"the 503 names the deadline and the tables' refusal ({err!r})")
        check((lease(a) or {}).get("leading"), f"{a.iid} still leads (the lease items are its own)")
        check(majority(control_items(c), lambda it: it["epoch"] == high) is not None,
              "the peer's #control items are still the operator's: the pin is on no majority")
        # 12: a held answer at SIGTERM is answered before regiond exits
        ask = Ask(a, "POST", "/v1/freeze", {"note": "held 12"})
        wait_for(lambda: a.status()["failover"]["frozen"], WAIT_S, f"{a.iid} applied the freeze (held)")
        held_for = time.monotonic() - ask.sent_at
        if not check(not ask.answered() and held_for < HOLD_S - 2,
                     f"the freeze's answer is held when SIGTERM comes ({held_for:.1f} s, deadline {HOLD_S} s)"):
            raise AssertionError("the freeze was answered before SIGTERM: nothing to judge")
        rc = a.stop(timeout=15)
        ask.wait(10, "the freeze held at SIGTERM")
        print(f"freeze at SIGTERM: {ask.code} {ask.body or ask.error}")
        check_eq(ask.code, 503, "the freeze held at SIGTERM is answered 503 before regiond exits")
        err = (ask.body or {}).get("error", "")
        check("regiond is stopping before the change was confirmed on a majority" in err and "frozen" in err,
              f"the 503 says regiond is stopping ({err!r})")
        check_eq(rc, 0, f"{a.iid} exits 0 (under ASan: nothing leaked)")
        check(majority(control_items(c), lambda it: it["epoch"] == high) is not None,
              "the peer's #control items are still the operator's: the freeze is on no majority")
    finally:
        c.stop()


if __name__ == "__main__":
    run_tests([test_blocked_deadline_and_sigterm])
