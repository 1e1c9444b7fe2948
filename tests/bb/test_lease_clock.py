"""The lease's clock assumption (issue 17, item 1): one instance runs with
libfaketime preloaded and a monotonic clock 5 % fast (measured), the other at
the true rate; leadership moves back and forth between them (the old leader
alive, cut off from the tables by a reload), twice each way, and at every
100 ms sample at most one of them reports leading."""
import time

from harness import check, check_eq, run_tests
from lease_kit import (LEASE_MS, RENEW_MS, TAKEOVER_S, cut_off, lease, leaders, sample_until, start, start_peer,
                       watch)

FIRST_S = (2 * LEASE_MS + 4 * RENEW_MS) / 1000 + 5


def clock(d):
    """(our monotonic s, d's monotonic s) read around one status call."""
    a = time.monotonic()
    m = lease(d)["monotonic_ms"] / 1000
    return (a + time.monotonic()) / 2, m


def rate(d, since):
    (a0, m0), (a1, m1) = since, clock(d)
    return (m1 - m0) / (a1 - a0)


def test_fast_clock():
    peer = start_peer()
    fast = start(1, peer, faketime="+0 x1.05")
    true = start(2, peer)
    ds = [fast, true]
    c_fast, c_true = clock(fast), clock(true)
    try:
        ls, _ = sample_until(ds, lambda ls: len(ls) == 1, FIRST_S, "one leader")
        moves = {}
        for _ in range(4):
            old = ls[0]
            new = next(d for d in ds if d is not old)
            e_old = lease(old)["epoch"]
            cut_off(old)   # alive, believing it leads until its send_until, and unable to renew
            ls, took = sample_until(ds, lambda ls: ls == [new], TAKEOVER_S + 5, f"{new.iid} to take over")
            moves[(old.iid, new.iid)] = moves.get((old.iid, new.iid), 0) + 1
            check(lease(new)["epoch"] > e_old, f"{old.iid} -> {new.iid} after {took:.2f} s, a higher epoch")
            cut_off(old, False)
            watch(ds, 2 * RENEW_MS / 1000)
            ls = leaders(ds)
            check_eq([d.iid for d in ls], [new.iid], "the new leader keeps leading once the old one is back")
        check(moves.get(("ctl-1", "ctl-2"), 0) >= 1 and moves.get(("ctl-2", "ctl-1"), 0) >= 1,
              f"leadership moved both ways between the fast and the true clock ({moves})")
        r_fast, r_true = rate(fast, c_fast), rate(true, c_true)
        check(1.04 <= r_fast <= 1.06, f"faketime ran the fast instance's monotonic clock at x1.05 ({r_fast:.4f})")
        check(0.99 <= r_true <= 1.01, f"the other instance's clock ran at the true rate ({r_true:.4f})")
    finally:
        for d in ds:
            d.stop()
        peer.stop()


if __name__ == "__main__":
    run_tests([test_fast_clock])
