"""Instances with different lease_ms (docs/ha.md, "What is guaranteed";
issue 17's review, defect 2).  Two regiond instances on three plain lease
tables of the strict DynamoDB peer, each signing with its own access key so
the peer's request log says who wrote what and when (the peer's clock):
  1. a rolling change: ctl-1 leads with lease_ms 5000 and is reloaded to
     20000 (its items then say lease_ms 20000 at the peer); ctl-2 runs with
     5000.  ctl-1 is cut off from the tables (a reload to dead endpoints):
     ctl-2 takes over only after the item's 20 s, not its own 5 s, measured
     at the peer from ctl-1's last accepted write to ctl-2's first;
  2. the holder's reload: ctl-2 (lease_ms 5000) leads and is reloaded to
     lease_ms 20000 in the same reload that cuts it off, so it cannot renew
     with the new value: its term stays the one its items advertise (5 s),
     and ctl-1 (back to 5000) takes over after those 5 s.
At every 100 ms sample at most one instance reports leading."""
import copy

from harness import TEST_KEY, DdbPeer, check, free_port, run_tests, wait_for
import lease_kit
from lease_kit import REGIONS, TABLE, items_fast, lease, sample_until, watch

KEYS = {i: {"access_key": f"AKIDMIXEDLEASE{i}", "secret_key": f"mixed/Lease/Secret/Key/{i}/000000000000000"}
        for i in (1, 2)}
LONG = {"lease_ms": 20000, "margin_ms": 2000}
SHORT = {"lease_ms": 5000, "margin_ms": 1000}
FIRST_S = (2 * 5000 + 4 * 1000) / 1000 + 10


def start_peer():
    peer = DdbPeer(REGIONS, table=None, heartbeat_table=None, creds=[TEST_KEY] + list(KEYS.values()))
    lease_kit.create_tables(peer)
    return peer


def start(i, peer):
    cfg = lease_kit.config(i, peer, **SHORT)
    d = lease_kit.instance(i, cfg, KEYS[i])
    return d


def reload(d, off=None, **cluster):
    """Reload d with new cluster settings; off=True: DynamoDB endpoints on a closed port, False: the peer's."""
    cfg = copy.deepcopy(d.cfg)
    cfg["cluster"].update(cluster)
    d.cfg = copy.deepcopy(cfg)   # what "back on the peer" returns to
    if off:
        dead = f"http://127.0.0.1:{free_port()}"
        cfg["aws"]["endpoints"] = {k: dead for k in cfg["aws"]["endpoints"]}
    d.reload(cfg)


def writes(peer, key, region):
    """Peer-clock times of the PutItems signed with key in region that the peer accepted (200)."""
    return [r["t"] for r in peer.call("GET", "/_peer/stats")["requests"]
            if r.get("key") == key and r.get("region") == region and r.get("op") == "PutItem"
            and r.get("status") == 200]


def held(peer, owner, lease_ms):
    """The regions whose item owner wrote with lease_ms (the peer's items)."""
    return [r for r, i in items_fast(peer).items() if i and i.get("owner") == owner and i.get("lease_ms") == lease_ms]


def handover(peer, ds, old, new, regions, bound_s):
    """old is cut off holding regions' items; sample until new leads (at most one leader at every sample).
    Returns {region: peer-clock gap between old's last accepted write there and new's first one after it}
    for each of those regions new took (a majority needs at least one of them)."""
    _, took = sample_until(ds, lambda ls: ls == [new], bound_s, f"{new.iid} to take over")
    gaps = {}
    for r in regions:
        last_old = max(writes(peer, old.key, r))
        after = [t for t in writes(peer, new.key, r) if t > last_old]
        if after:
            gaps[r] = min(after) - last_old
    return gaps, took


def test_mixed_lease_ms():
    peer = start_peer()
    a = start(1, peer)
    ds = [a]
    try:
        sample_until(ds, lambda ls: ls == [a], FIRST_S, "ctl-1 to lead")
        reload(a, **LONG)   # a rolling change of lease_ms begins with ctl-1
        # its next renewals carry 20000 (a table it did not hold yet stays as it is)
        wait_for(lambda: len(held(peer, "ctl-1", LONG["lease_ms"])) >= 2, 10,
                 "a majority of ctl-1's items to say lease_ms 20000 at the peer")
        b = start(2, peer)   # lease_ms 5000
        ds = [a, b]
        watch(ds, 3)   # b reads a's items
        reload(a, off=True)   # (a renewal sent before the reload is taken may still land: gaps count from it)
        long_regions = held(peer, "ctl-1", LONG["lease_ms"])
        check(len(long_regions) >= 2, f"when cut off, ctl-1's items on a majority say lease_ms 20000 ({long_regions})")
        gaps, took = handover(peer, ds, a, b, long_regions, LONG["lease_ms"] / 1000 + 2 + 15)
        check(gaps and all(g >= LONG["lease_ms"] / 1000 for g in gaps.values()),
              f"ctl-2 (lease_ms 5000) took each of ctl-1's 20000 items no sooner than 20 s after ctl-1's last write "
              f"to it, at the peer ({ {r: round(g, 2) for r, g in gaps.items()} }; {took:.2f} s after the cut)")
        check(len(held(peer, "ctl-2", 5000)) >= 2, f"ctl-2's items carry its own lease_ms 5000 ({items_fast(peer)})")

        # 2. the holder's reload: ctl-2 goes to 20000 but cannot write it; ctl-1 back on the tables at 5000
        reload(a, off=False, **SHORT)
        watch(ds, 3)   # a reads b's items (lease_ms 5000)
        short_regions = held(peer, "ctl-2", SHORT["lease_ms"])
        reload(b, off=True, **LONG)
        gaps, took = handover(peer, ds, b, a, short_regions, SHORT["lease_ms"] / 1000 + 2 + 15)
        check(gaps and all(g >= SHORT["lease_ms"] / 1000 for g in gaps.values()),
              f"ctl-1 took ctl-2's items no sooner than their 5 s ({ {r: round(g, 2) for r, g in gaps.items()} }; "
              f"{took:.2f} s after the reload), and ctl-2 had stopped leading before (every sample)")
        check(not lease(b)["leading"], "the reloaded holder does not lead")
    finally:
        for d in ds:
            d.stop()
        peer.stop()


if __name__ == "__main__":
    run_tests([test_mixed_lease_ms])
