"""The majority lease with a second actor (issue 17, item 1): an operator
deletes and overwrites lease items with the aws CLI while a leader holds
them; one instance runs under faketime with a monotonic clock 5 % fast
while leadership moves back and forth between it and an instance at the true
rate.  At every 100 ms sample at most one instance reports leading, and an
instance that reports leading before and after a read of the peer's items is
named, with its epoch, by a majority of those items."""
import json
import time

from harness import check, check_eq, run_tests
from lease_kit import (LEASE_MS, NAME, REGIONS, RENEW_MS, TABLE, TAKEOVER_S, cut_off, items, lease, leaders,
                       majority_owner, sample_until, start, start_peer, watch)

FIRST_S = (2 * LEASE_MS + 4 * RENEW_MS) / 1000 + 5


def honest(ds, peer, rounds, what):
    """rounds x: leaders, the peer's items, leaders; a leader on both sides holds a majority of the items."""
    bad, led = [], 0
    for _ in range(rounds):
        before = {d.iid: lease(d) for d in leaders(ds)}
        its = items(peer)
        after = {d.iid: lease(d) for d in leaders(ds)}
        check(len(before) <= 1 and len(after) <= 1, f"{what}: at most one leader ({list(before)}, {list(after)})")
        for iid in set(before) & set(after):
            led += 1
            if before[iid]["epoch"] == after[iid]["epoch"]:
                owner, epoch = majority_owner(its)
                if (owner, epoch) != (iid, before[iid]["epoch"]):
                    bad.append((iid, before[iid]["epoch"], owner, epoch))
        watch(ds, RENEW_MS / 1000)
    check(not bad, f"{what}: whoever leads holds a majority of the peer's items ({bad})")
    return led


def test_operator_deletes_and_overwrites():
    peer = start_peer()
    ds = [start(i, peer) for i in (1, 2, 3)]
    try:
        ls, _ = sample_until(ds, lambda ls: len(ls) == 1, FIRST_S, "one leader")
        key = json.dumps({"name": {"S": NAME}})
        peer.aws(REGIONS[0], "delete-item", "--table-name", TABLE, "--key", key)
        honest(ds, peer, 6, "an operator deleted one item")
        peer.aws(REGIONS[1], "put-item", "--table-name", TABLE, "--item", json.dumps(
            {"name": {"S": NAME}, "owner": {"S": "ops"}, "rvn": {"S": "by-hand"}, "epoch": {"N": "99"}}))
        honest(ds, peer, 6, "an operator overwrote another")
        peer.aws(REGIONS[2], "put-item", "--table-name", TABLE, "--item", json.dumps(
            {"name": {"S": NAME}, "note": {"S": "no rvn, no owner"}}))
        honest(ds, peer, 4, "an operator wrote an item of another shape")
        ls, _ = sample_until(ds, lambda ls: len(ls) == 1, FIRST_S + LEASE_MS / 1000, "one leader again")
        led = honest(ds, peer, 3, "after the operator")
        check(led >= 1, f"a leader holds a majority of the items again ({led} checks)")
        owner, epoch = majority_owner(items(peer))
        check(owner == ls[0].iid and epoch == lease(ls[0])["epoch"], f"the items name the leader ({owner}, {epoch})")
    finally:
        for d in ds:
            d.stop()
        peer.stop()


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
    run_tests([test_operator_deletes_and_overwrites, test_fast_clock])
