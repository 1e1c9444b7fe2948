"""decision.settle_ms on a single instance when every region was down (fail
open) and one comes back for a moment: the regions down for long start to
want a drain only then, and must still wait settle_ms from that change, so a
region that fails again at once is seen and the group stays open.  (A version
that counted the wait from the draining regions' own health change drained
them at once.)  Then the region comes back for good: the drain goes, no
sooner than settle_ms after it came back.  Judged on the Route 53 peer's
change log and records."""
import time

from harness import check, check_eq, run_tests, wait_for
from test_failover import NAME, REGIONS, setup, wait_all_up

SETTLE_MS = 4000


def test_flap_after_fail_open_waits_settle():
    ngx, ports, peer, cfg, d, env = setup(decision={"hold_down_s": 0, "settle_ms": SETTLE_MS})
    wait_all_up(d)
    for p in ports:                       # a shared dependency: every region fails at once
        ngx.down(p)
    for r in REGIONS:
        d.wait_target(r, "down")
    time.sleep(SETTLE_MS / 1000 + 1)      # past every settle the failures started
    check_eq(len(peer.changes()), 0, "every region down: fail open, nothing drained")

    last = REGIONS[2]
    ngx.down(ports[2], False)             # the last region answers again ...
    d.wait_target(last, "up")
    seen_up = time.monotonic()
    ngx.down(ports[2])                    # ... for a moment only
    d.wait_target(last, "down")
    back_down = time.monotonic()
    check(back_down - seen_up < SETTLE_MS / 1000 - 1,
          f"the flap ended well inside settle_ms ({back_down - seen_up:.2f} s), so the test means something")
    time.sleep(max(0.0, seen_up + SETTLE_MS / 1000 + 1 - time.monotonic()))
    check_eq(len(peer.changes()), 0, "a region back for a moment did not drain the two down for long")
    check_eq(peer.weights(NAME), {r: 100 for r in REGIONS}, "weights untouched at the peer")

    t_back = time.monotonic()
    ngx.down(ports[2], False)             # back for good: now the two are drained
    wait_for(lambda: peer.weights(NAME) == {REGIONS[0]: 0, REGIONS[1]: 0, last: 100},
             SETTLE_MS / 1000 + 15, "the two down regions drained once the third stays up")
    took = time.monotonic() - t_back
    check(took >= SETTLE_MS / 1000, f"the drain waited settle_ms after the region came back ({took:.2f} s)")
    check_eq(d.stop(), 0, "clean exit")
    peer.stop()
    ngx.stop()


if __name__ == "__main__":
    run_tests([test_flap_after_fail_open_waits_settle])
