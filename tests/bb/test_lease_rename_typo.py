"""A misspelled cluster.former_name (docs/ha.md known defect 24, "Renaming the cluster"): the cluster
"regiond" leads on three plain lease tables of the strict DynamoDB peer; a second instance starts with
name "renamed" and former_name "regoind" (a typo).  No item exists under either of its keys, so without
the check it takes every table of both after lease_ms and leads beside the old-name leader.  Judged on
the PEER: the renamed instance writes no item at all (any key, any table) for lease_ms and three rounds,
and the old-name leader keeps a majority; the renamed instance raises cluster-lease and its status names
the misspelled former name.

A rollback of a rename before any renamed instance led (known defect 33): "regiond" leads; a second
instance starts as a rolled-back one, name "regiond" and former_name "renamed", under which no item was
ever written.  It cannot tell this from a misspelling, so it refuses as above, but says what to do: its
status, its cluster-lease alarm and its log name the rollback and "remove cluster.former_name".  The
refusal holds after the leader stops (judged on the peer: it writes no item for lease_ms and three
rounds); once a reload removes former_name it leads (the peer's items name it)."""
import copy
import time

from harness import check, run_tests, wait_for
import lease_kit
from lease_kit import LEASE_MS, RENEW_MS, REGIONS, TABLE, lease


def written_by(peer, iid):
    """(region, key) of every item at the peer whose owner is iid."""
    out = []
    for r in REGIONS:
        for it in peer.call("GET", f"/_peer/items?region={r}&table={TABLE}")["items"]:
            if it.get("owner", {}).get("S") == iid:
                out.append((r, it.get("name", {}).get("S")))
    return out


def no_writes(peer, iid, seconds, what):
    t0 = time.monotonic()
    while time.monotonic() - t0 < seconds:
        w = written_by(peer, iid)
        if w:
            check(False, f"{what}: {iid} writes no item ({w})")
            raise AssertionError(f"{iid} wrote an item")
        time.sleep(0.2)


def test_misspelled_former_name():
    peer = lease_kit.start_peer()
    ds = []
    try:
        ds.append(lease_kit.start(1, peer))
        wait_for(lambda: lease_kit.majority_owner(lease_kit.items_fast(peer))[0] == "ctl-1",
                 2 * LEASE_MS / 1000 + 10, "ctl-1 holding a majority of the old name's items")
        ds.append(lease_kit.start(2, peer, name="renamed", former_name="regoind"))
        # without the check it takes both names' empty items after lease_ms and a round
        no_writes(peer, "ctl-2", LEASE_MS / 1000 + 3 * RENEW_MS / 1000 + 1,
                  "the instance with a misspelled former_name")
        check(lease_kit.majority_owner(lease_kit.items_fast(peer))[0] == "ctl-1",
              "the old-name leader ctl-1 still holds a majority of its items")
        m = wait_for(lambda: (lambda s: s if s and s.get("tables_mismatch") else None)(lease(ds[1])), 5,
                     "ctl-2's tables_mismatch")
        check(not m["leading"] and "no lease item under the former name 'regoind'" in m["tables_mismatch"]
              and "misspelled" in m["tables_mismatch"],
              f"ctl-2 does not lead and says why ({m['tables_mismatch']!r})")
        st = ds[1].status()
        al = [a["summary"] for a in st["alarms"]["active"] if a["key"] == "cluster-lease"]
        check(al and "regoind" in al[0], f"ctl-2 raises cluster-lease naming the former name ({al})")
    finally:
        lease_kit.stop_all(ds, peer)


def test_rollback_before_renamed_led():
    peer = lease_kit.start_peer()
    ds = []
    try:
        ds.append(lease_kit.start(1, peer))
        wait_for(lambda: lease_kit.majority_owner(lease_kit.items_fast(peer))[0] == "ctl-1",
                 2 * LEASE_MS / 1000 + 10, "ctl-1 holding a majority of the old name's items")
        b = lease_kit.start(2, peer, former_name="renamed")   # rolled back: name "regiond" again
        ds.append(b)
        m = wait_for(lambda: (lambda s: s if s and s.get("tables_mismatch") else None)(lease(b)), 10,
                     "ctl-2's tables_mismatch")
        text = m["tables_mismatch"]
        check(not m["leading"] and "former name 'renamed'" in text and "rollback" in text
              and "remove cluster.former_name" in text,
              f"ctl-2 says a rollback before a renamed term needs former_name removed ({text!r})")
        al = [a["summary"] for a in b.status()["alarms"]["active"] if a["key"] == "cluster-lease"]
        check(al and "rollback" in al[0] and "remove cluster.former_name" in al[0],
              f"ctl-2's cluster-lease alarm says the same ({al})")
        check("remove cluster.former_name" in b.read_log(), "ctl-2's log says the same")

        check(ds[0].stop() == 0, "ctl-1 stops cleanly (its items released)")
        no_writes(peer, "ctl-2", LEASE_MS / 1000 + 3 * RENEW_MS / 1000 + 1,
                  "with former_name still set, after the leader stopped")
        cfg = copy.deepcopy(b.cfg)
        del cfg["cluster"]["former_name"]
        b.reload(cfg)
        wait_for(lambda: lease_kit.majority_owner(lease_kit.items_fast(peer))[0] == "ctl-2",
                 lease_kit.TAKEOVER_S + 5, "ctl-2 leading once a reload removed former_name")
        st = lease(b)
        check(st["leading"] and not st.get("tables_mismatch"),
              f"ctl-2 leads, nothing refused ({st['leading']}, {st.get('tables_mismatch')!r})")
    finally:
        lease_kit.stop_all(ds, peer)


if __name__ == "__main__":
    run_tests([test_misspelled_former_name, test_rollback_before_renamed_led])
