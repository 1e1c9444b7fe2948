"""The majority lease with a second actor (issue 17, item 1): an operator
deletes, overwrites and rewrites lease items with the aws CLI while a leader
holds them.  At every 100 ms sample at most one instance reports leading,
and an instance that reports leading before and after a read of the peer's
items is named, with its epoch, by a majority of those items."""
import json

from harness import check, run_tests
from lease_kit import (LEASE_MS, NAME, REGIONS, RENEW_MS, TABLE, items, items_fast, lease, leaders, majority_owner,
                       sample_until, start, start_peer, watch)

FIRST_S = (2 * LEASE_MS + 4 * RENEW_MS) / 1000 + 5


def honest(ds, peer, rounds, what):
    """rounds x: leaders, the peer's items, leaders; a leader on both sides holds a majority of the items."""
    bad, led = [], 0
    for _ in range(rounds):
        before = {d.iid: lease(d) for d in leaders(ds)}
        its = items_fast(peer)
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
        honest(ds, peer, 5, "an operator deleted one item")
        peer.aws(REGIONS[1], "put-item", "--table-name", TABLE, "--item", json.dumps(
            {"name": {"S": NAME}, "owner": {"S": "ops"}, "rvn": {"S": "by-hand"}, "epoch": {"N": "99"}}))
        honest(ds, peer, 5, "an operator overwrote another")
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


if __name__ == "__main__":
    run_tests([test_operator_deletes_and_overwrites])
