"""The majority lease when lease tables are unreachable (issue 17, item 1),
three regiond instances on three plain lease tables of the strict DynamoDB
peer, which answers 500 to every call of a region: one table down -> the
leader keeps leading; two -> nobody leads within lease_ms, every instance
raises cluster-lease and shows one table reachable; the lease comes back
with the tables.  At every 100 ms sample at most one instance leads."""
from harness import check, eventually, run_tests, wait_for
from lease_kit import LEASE_MS, REGIONS, RENEW_MS, lease, sample_until, start, start_peer, watch

FIRST_S = (2 * LEASE_MS + 4 * RENEW_MS) / 1000 + 5


def one_leader(ds, timeout=FIRST_S):
    ls, _ = sample_until(ds, lambda ls: len(ls) == 1, timeout, "exactly one leader")
    return ls[0]


def alarmed(d):
    try:
        return any(x["key"] == "cluster-lease" for x in d.status()["alarms"]["active"])
    except (OSError, KeyError, AssertionError):
        return False


def test_tables_unreachable():
    peer = start_peer()
    ds = [start(i, peer) for i in (1, 2, 3)]
    try:
        a = one_leader(ds)
        # the first table that a holds goes down: every call answers 500
        peer.call("POST", "/_peer/inject", {"region": REGIONS[0], "error5xx": -1})
        seen = watch(ds, 3 * LEASE_MS / 1000)
        check(set(seen) == {a.iid} and len(seen) > 0, f"one table down: the leader keeps leading ({set(seen)})")
        t0 = lease(a)["tables"][0]
        # (the other two may miss a call's deadline now and then on a loaded machine: not counted here)
        why = t0["last_error"] or ""
        check(not t0["reachable"] and ("HTTP 500" in why or "no answer" in why),
              f"the leader shows the table unreachable and why ({t0})")
        peer.call("POST", "/_peer/inject", {"region": REGIONS[1], "error5xx": -1})
        _, took = sample_until(ds, lambda ls: not ls, LEASE_MS / 1000 + 3, "nobody leading")
        check(took <= LEASE_MS / 1000 + 3, f"two tables down: nobody leads within lease_ms ({took:.2f} s)")
        seen = watch(ds, LEASE_MS / 1000 + 2 * RENEW_MS / 1000)
        check(not seen, f"nobody leads while a majority is unreachable ({set(seen)})")
        for d in ds:
            check(alarmed(d), f"{d.iid} raised cluster-lease")
            check(lease(d)["reachable"] == 1, f"{d.iid} shows 1 table reachable")
        peer.call("POST", "/_peer/clear-faults", {})
        one_leader(ds, FIRST_S)
        if not eventually(lambda: not any(alarmed(d) for d in ds), 3 * RENEW_MS / 1000 + 2,
                          "the alarm resolves once the tables answer"):
            print(f"the instances' leases: {[lease(d) for d in ds]}", flush=True)
        a = one_leader(ds, FIRST_S)
        cfg = dict(a.cfg, cluster=dict(a.cfg["cluster"], name="regiond-other"))
        a.reload(cfg)   # another lease item: a's term under the old one ends at once
        wait_for(lambda: not lease(a)["leading"], 3, "the reloaded leader to stop leading")
        b, _ = sample_until([d for d in ds if d is not a], lambda ls: len(ls) == 1,
                            (2 * LEASE_MS + 2 * RENEW_MS) / 1000 + 5, "another leader of the old item")
        check(b[0] is not a and a.proc.poll() is None, f"a reload to another item hands the old one over ({b[0].iid})")
    finally:
        for d in ds:
            d.stop()
        peer.stop()


if __name__ == "__main__":
    run_tests([test_tables_unreachable])
