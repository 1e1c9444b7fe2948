"""A follower takes the moment the items it read expire on its own clock, not
at its next round (docs/ha.md, "The lease", step 2 "When"), and never before.
Two regiond instances on three plain lease tables of the strict DynamoDB
peer, each signing with its own access key, so the peer's request log says
who read and wrote which table when (the peer's monotonic clock, the same
host's as the instances').  lease_ms 6000, renew_ms = follow_ms 1500: a
follower's round every 1.5 s, so a take left to the next round would come up
to 1.5 s late (with lease_ms a multiple of the round, nearly always a whole
round late).

ctl-1 leads; ctl-2 follows; kill -9 of ctl-1; at once an operator (the aws
CLI, the second actor) overwrites the item of the third table with an item
of its own (owner "operator", a random rvn and a random lease_ms from 2000 to
12000, seed printed).  On the peer's log:
  - each of the two other tables is taken by ctl-2 no sooner than lease_ms
    after ctl-1's last accepted write to it (the lock client's rule: the wait
    counts from an answer that showed that version, which came after it),
    and no later than lease_ms + 0.6 s after the first read of ctl-2 that
    surely showed it (one that reached the peer 0.1 s or more after that
    write; ctl-2 may have seen it one read earlier, which only makes the
    take earlier);
  - the operator's table is taken only after the longer of lease_ms and the
    item's lease_ms from the operator's write, and then carries ctl-2's
    epoch;
  - at every 100 ms sample at most one instance reports leading, and a
    majority of the items names ctl-2 with the epoch it reports."""
import os
import random
import secrets

import boto_kit
from harness import TEST_KEY, DdbPeer, check, run_tests, wait_for
import lease_kit
from lease_kit import NAME, REGIONS, TABLE, items_fast, kill9, lease, sample_until, watch

KEYS = {i: {"access_key": f"AKIDTAKEATLEASE{i}", "secret_key": f"take/At/Lease/Secret/Key/{i}/00000000000000"}
        for i in (1, 2)}
TIMING = {"lease_ms": 6000, "renew_ms": 1500, "margin_ms": 1000, "follow_ms": 1500}
LEASE_S, ROUND_S = 6.0, 1.5
SLACK_S = 0.6            # timer, read and write latencies on this loaded 2-core machine (ASan included)
SURE_S = 0.1             # a read that reaches the peer this long after a write shows it


def start_peer():
    peer = DdbPeer(REGIONS, table=None, heartbeat_table=None, creds=[TEST_KEY] + list(KEYS.values()))
    lease_kit.create_tables(peer, REGIONS)
    return peer


def start(i, peer):
    cfg = lease_kit.config(i, peer, **TIMING)
    d = lease_kit.instance(i, cfg, KEYS[i])
    return d


def log(peer, key, region, op, status=None):
    """Peer-clock arrival times of the lease-item calls signed with key in region (op; status when given)."""
    return [r["t"] for r in peer.call("GET", "/_peer/stats")["requests"]
            if r.get("key") == key and r.get("region") == region and r.get("op") == op
            and (r.get("item_key") or {}).get("name", {}).get("S") == NAME
            and (status is None or r.get("status") == status)]


def test_take_at_expiry_with_an_operator():
    seed = int(os.environ.get("TAKE_AT_SEED", secrets.randbelow(1 << 30)))
    rnd = random.Random(seed)
    op_lease = rnd.randrange(2000, 12001)
    print(f"seed {seed}: the operator's item says lease_ms {op_lease}", flush=True)
    peer = start_peer()
    ds = []
    try:
        ds.append(start(1, peer))
        sample_until(ds, lambda ls: len(ls) == 1, 2 * LEASE_S + 4 * ROUND_S + 10, "ctl-1 leads")
        ds.append(start(2, peer))
        wait_for(lambda: (lambda s: s and (s.get("holder") or {}).get("id") == "ctl-1")(lease(ds[1])), 20,
                 "ctl-2 sees ctl-1 leading")
        watch(ds, 2 * ROUND_S)   # a few rounds of both: ctl-2 follows
        a, b = ds
        kill9(a)
        op_rvn = secrets.token_hex(16)
        boto_kit.ddb(peer, REGIONS[2]).put_item(TableName=TABLE, Item={   # an operator's PutItem (the aws CLI's)
            "name": {"S": NAME}, "owner": {"S": "operator"}, "rvn": {"S": op_rvn}, "epoch": {"N": "1"},
            "lease_ms": {"N": str(op_lease)}})
        sample_until([a, b], lambda ls: ls == [b], LEASE_S + 2 * ROUND_S + 5, "ctl-2 leads")
        eb = lease(b)["epoch"]
        # the operator's table, once free for the longer of the two leases
        wait_for(lambda: (items_fast(peer)[REGIONS[2]] or {}).get("owner") == "ctl-2",
                 max(LEASE_S, op_lease / 1000) + 3 * ROUND_S + 5, "ctl-2 takes the operator's table too")
        its = items_fast(peer)
        check(all(its[r] and its[r]["owner"] == "ctl-2" and its[r]["epoch"] == eb for r in REGIONS),
              f"every item names ctl-2 with its epoch {eb} ({its})")
        watch([a, b], 1)
        for r in REGIONS[:2]:
            last_a = max(log(peer, a.key, r, "PutItem", 200))
            took = min(t for t in log(peer, b.key, r, "PutItem", 200) if t > last_a)
            sure = min(t for t in log(peer, b.key, r, "GetItem") if t >= last_a + SURE_S)
            print(f"{r}: ctl-2 took it {took - last_a:.3f} s after ctl-1's last write, "
                  f"{took - sure - LEASE_S:+.3f} s from the moment its read {sure - last_a:.3f} s after that "
                  f"write expired", flush=True)
            check(took >= last_a + LEASE_S - 0.02,
                  f"{r}: no take before lease_ms after the holder's last write ({took - last_a:.3f} s)")
            check(took <= sure + LEASE_S + SLACK_S,
                  f"{r}: taken when the item expired on ctl-2's clock, not at a later round "
                  f"({took - sure - LEASE_S:+.3f} s after; a round is {ROUND_S} s)")
        op_t = max(t for t in log(peer, TEST_KEY["access_key"], REGIONS[2], "PutItem", 200))
        took3 = min(t for t in log(peer, b.key, REGIONS[2], "PutItem", 200) if t > op_t)
        print(f"{REGIONS[2]}: the operator's item taken {took3 - op_t:.3f} s after its write", flush=True)
        check(took3 >= op_t + max(LEASE_S, op_lease / 1000) - 0.02,
              f"{REGIONS[2]}: the operator's item taken no sooner than the longer lease after its write "
              f"({took3 - op_t:.3f} s)")
    finally:
        lease_kit.stop_all(ds, peer)


if __name__ == "__main__":
    run_tests([test_take_at_expiry_with_an_operator])
