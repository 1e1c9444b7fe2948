"""A rolling change of cluster.lease_tables (issue 17, docs/ha.md known defect 3, now "Changing the lease
tables or name"): three instances on three plain lease tables of the strict DynamoDB peer go to five
tables one by one, the way an on-call engineer would: a follower restarted, the leader reloaded
(SIGHUP), the last follower reloaded.  Judged on the peer's items, sampled every ~0.15 s: at every
sample at most one instance LEADS BY THE ITEMS (it holds, not released, a majority of its configured
set of tables and renewed them since the sample 1.5 s before); the instance with the other set writes
no item while the old leader holds its tables, and raises cluster-lease naming the holder and the
tables that differ; at the end one leader holds every one of the five tables, with the new set's
fingerprint, and no instance alarms.

To make two sets of tables give two leaders without the check, the leader is cut off its third table
(its endpoint for that region moved to a closed port by a reload: same term), so that table's item
expires while the leader keeps the other two: an instance with five tables then finds three free."""
import hashlib
import json
import time
from concurrent.futures import ThreadPoolExecutor

from harness import DdbPeer, check, eventually, free_port, run_tests, wait_for
from lease_kit import LEASE_MS, NAME, REGIONS, RENEW_MS, TABLE, config, lease
from harness import Daemon
from lease_kit import ENV

T0 = 0.0
NEW = REGIONS + ["us-west-2", "eu-central-1"]
OLD = list(REGIONS)
ROUND_S = 2 * RENEW_MS / 1000 + 3       # a few rounds, with room for a loaded machine and ASan
FIRST_S = (2 * LEASE_MS + 4 * RENEW_MS) / 1000 + 8
RENEWED_S = 1.5                          # a leader renews every RENEW_MS: two samples this far apart


def fingerprint(regions):
    """docs/ha.md: the first 16 hex digits of SHA-256(name "\\n" sorted "region/table" joined by ",")."""
    lst = ",".join(sorted(f"{r}/{TABLE}" for r in regions))
    return hashlib.sha256(f"{NAME}\n{lst}".encode()).hexdigest()[:16]


def start_peer():
    """The peer with one plain lease table per region, created with the aws CLI (five at once)."""
    peer = DdbPeer(NEW, table=None, heartbeat_table=None)
    with ThreadPoolExecutor(len(NEW)) as ex:
        list(ex.map(lambda r: peer.aws(r, "create-table", "--table-name", TABLE, "--billing-mode",
                                       "PAY_PER_REQUEST", "--key-schema", "AttributeName=name,KeyType=HASH",
                                       "--attribute-definitions", "AttributeName=name,AttributeType=S"), NEW))
    return peer


def cfg_for(i, peer, tables, cut=None):
    """Instance i's config with lease_tables in the regions `tables`; its endpoint for region `cut` on a
    closed port."""
    eps = {f"dynamodb.{r}": peer.url(r) for r in NEW}
    if cut:
        eps[f"dynamodb.{cut}"] = f"http://127.0.0.1:{free_port()}"
    cfg = config(i, peer, endpoints=eps)
    cfg["cluster"]["lease_tables"] = [{"region": r, "table": TABLE} for r in tables]
    return cfg


def start(i, cfg, tables):
    d = Daemon(cfg, env=ENV)
    d.iid, d.cfg, d.tables = f"ctl-{i}", cfg, list(tables)
    return d


def reload(d, cfg, tables):
    d.cfg, d.tables = cfg, list(tables)
    d.reload(cfg)


def peer_items(peer):
    """region -> the lease item as the peer's store has it (flattened), or None."""
    out = {}
    for r in NEW:
        its = [i for i in peer.call("GET", f"/_peer/items?region={r}&table={TABLE}")["items"]
               if i.get("name", {}).get("S") == NAME]
        out[r] = ({k: (v.get("S") if "S" in v else int(v["N"]) if "N" in v else v.get("BOOL"))
                   for k, v in its[0].items()} if its else None)
    return out


class Judge:
    """Samples the peer's items; an instance leads BY THE ITEMS at a sample when it holds (owner, not
    released) a majority of the tables configured for it now, each renewed (another rvn, same owner, not
    released) since the last sample at least RENEWED_S earlier."""

    def __init__(self, peer, ds):
        self.peer, self.ds, self.hist, self.bad = peer, ds, [], []

    def leaders(self, t, its):
        old = [its0 for t0, its0 in self.hist if t0 <= t - RENEWED_S]
        if not old:
            return []
        prev, out = old[-1], []
        for d in self.ds:
            renewed = [r for r in d.tables
                       if its[r] and prev[r] and its[r].get("owner") == d.iid == prev[r].get("owner")
                       and not its[r].get("released") and not prev[r].get("released")
                       and its[r].get("rvn") != prev[r].get("rvn")]
            if len(renewed) * 2 > len(d.tables):
                out.append(d)
        return out

    def sample(self):
        t, its = time.monotonic(), peer_items(self.peer)
        ls = self.leaders(t, its)
        self.hist.append((t, its))
        self.hist = [h for h in self.hist if h[0] > t - 10]
        if len(ls) > 1 and not self.bad:
            self.bad.append((round(t, 2), [d.iid for d in ls], its))
            check(False, f"at most one instance leads by the peer's items at every sample "
                         f"({[d.iid for d in ls]} at once; items {json.dumps(its)})")
        return ls, its

    def until(self, pred, timeout, what):
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            ls, its = self.sample()
            if self.bad:
                raise AssertionError("two leaders")
            if pred(ls, its):
                return ls, its
            time.sleep(0.1)
        raise AssertionError(f"timed out after {timeout}s waiting for {what}")

    def watch(self, seconds):
        seen = set()
        t0 = time.monotonic()
        while time.monotonic() - t0 < seconds:
            ls, _ = self.sample()
            if self.bad:
                raise AssertionError("two leaders")
            seen |= {d.iid for d in ls}
            time.sleep(0.1)
        return seen


def alarm(d):
    try:
        return [a["summary"] for a in d.status()["alarms"]["active"] if a["key"] == "cluster-lease"]
    except (OSError, KeyError, AssertionError):
        return []


def test_rolling_tables_change():
    global T0
    T0 = time.monotonic()
    peer = start_peer()
    print(f"info the peer and its tables ready at {time.monotonic() - T0:.1f} s", flush=True)
    ds = [start(i, cfg_for(i, peer, OLD), OLD) for i in (1, 2, 3)]
    judge = Judge(peer, ds)
    try:
        ls, _ = judge.until(lambda ls, its: len(ls) == 1, FIRST_S, "one leader by the items")
        lead = ls[0]
        print(f"info {lead.iid} leads by the items after {time.monotonic() - T0:.1f} s", flush=True)
        f1, f2 = [d for d in ds if d is not lead]
        # The leader loses its third table (same term): that item stops being renewed and expires.
        reload(lead, cfg_for(int(lead.iid[-1]), peer, OLD, cut=OLD[2]), OLD)
        # A follower restarted with five tables: without the check it finds three free (the third old
        # table and the two new ones) and leads beside the old leader.
        i1 = int(f1.iid[-1])
        check(f1.stop() == 0, f"{f1.iid} stops cleanly before its restart")
        ds[ds.index(f1)] = f1 = start(i1, cfg_for(i1, peer, NEW), NEW)
        judge.ds = ds
        seen = judge.watch(LEASE_MS / 1000 + 2 * RENEW_MS / 1000 + 1)   # the third table's item expired meanwhile
        # (on a loaded machine the leader may miss renewals and the other three-table instance take over)
        check(seen and f1.iid not in seen, f"only an instance with three tables leads by the items while {f1.iid} "
                                           f"has five ({sorted(seen)})")
        its = peer_items(peer)
        check(not any(it and it.get("owner") == f1.iid for it in its.values()),
              f"{f1.iid} wrote no lease item meanwhile ({ {r: it and it.get('owner') for r, it in its.items()} })")
        s = wait_for(lambda: alarm(f1), ROUND_S, f"{f1.iid}'s cluster-lease alarm")[0]
        check(any(f"instance {d.iid} holds" in s for d in (lead, f2)) and "lack" in s and f"{NEW[3]}/{TABLE}" in s
              and f"{NEW[4]}/{TABLE}" in s, f"{f1.iid}'s alarm names the holder and the tables that differ ({s!r})")
        m = lease(f1)
        check(m and m["tables_mismatch"] and "for another set of lease tables" in m["tables_mismatch"]
              and not m["leading"],
              f"{f1.iid}'s status says so ({m and m['tables_mismatch']!r})")
        check("another set of lease tables" in f1.read_log(), f"{f1.iid}'s log says so")
        # The leader reloaded (SIGHUP) with five tables, all reachable again: it stops leading; the
        # instance left with three and the two with five race for the items.
        reload(lead, cfg_for(int(lead.iid[-1]), peer, NEW), NEW)
        ls, _ = judge.until(lambda ls, its: len(ls) == 1, FIRST_S, "one leader after the leader's reload")
        print(f"info {ls[0].iid} leads with {len(ls[0].tables)} tables after the reload "
              f"({time.monotonic() - T0:.1f} s)", flush=True)
        others = [d for d in ds if len(d.tables) != len(ls[0].tables)]
        for d in others:   # (an instance's own items of its old term stay live for lease_ms after a reload)
            s = eventually(lambda: [a for a in alarm(d) if f"instance {ls[0].iid} holds" in a],
                           ROUND_S + LEASE_MS / 1000, f"{d.iid} (the other set) alarms naming the leader {ls[0].iid}")
            if not s:
                print(f"info {d.iid}'s alarms: {alarm(d)}; its lease: {lease(d)}", flush=True)
        # The last one reloaded: every instance has five tables; one leader holds all five.
        i2 = int(f2.iid[-1])
        reload(f2, cfg_for(i2, peer, NEW), NEW)
        fp = fingerprint(NEW)
        ls, its = judge.until(lambda ls, its: len(ls) == 1 and all(
            its[r] and its[r].get("owner") == ls[0].iid and its[r].get("tset") == fp for r in NEW),
            FIRST_S, "one leader holding all five tables with the new set's fingerprint")
        check(all(its[r]["tables"] == ",".join(sorted(f"{x}/{TABLE}" for x in NEW)) and its[r]["cluster"] == NAME
                  for r in NEW), f"{ls[0].iid} leads; every item names the five tables and the name ({fp})")
        for d in ds:
            eventually(lambda: not alarm(d), ROUND_S + LEASE_MS / 1000, f"{d.iid}: its cluster-lease alarm resolved")
        print(f"info all five held by {ls[0].iid} at {time.monotonic() - T0:.1f} s", flush=True)
        after = judge.watch(2)
        check(after <= {ls[0].iid}, f"nobody else leads by the items afterwards ({sorted(after)})")
        print(f"info checks done at {time.monotonic() - T0:.1f} s", flush=True)
    finally:
        for d in ds:
            if d.proc.poll() is None:
                d.stop()
        peer.stop()
        print(f"info stopped at {time.monotonic() - T0:.1f} s", flush=True)


if __name__ == "__main__":
    run_tests([test_rolling_tables_change])
