"""A rolling rename of cluster.name (docs/ha.md known defect 3, now "Renaming the cluster"): three
instances on the same three plain lease tables of the strict DynamoDB peer, the strict Route 53 peer and
nginx, each instance signing with its own key.  The cluster is named "regiond"; one follower is
restarted with name "renamed" and former_name "regiond" while the old-name leader runs; the leader is
killed with kill -9, so that the renamed follower and the old-name one race for the former name's items;
then the other two are restarted renamed.  Judged on the PEERS:
  - DynamoDB: at every sample (~0.15 s) at most one instance leads BY THE ITEMS (it holds, not released,
    a majority of the items keyed by its own name and renewed them since the sample 1.5 s before); the
    renamed follower writes no item, under either name, while the old-name leader runs;
  - Route 53: while the old-name leader runs, every ChangeResourceRecordSets batch that lands is signed
    with its key, the guard keeps its epoch, and no request at all is signed with a follower's key (a
    leader reads the guard at its term's start; a follower calls nothing); the renamed leader's first batch is a guard bump to a
    higher epoch;
  - the renamed follower alarms (cluster-lease) and says in status that it waits for the former name's
    leader, naming it;
  - after the kill one instance leads (either name: a renamed one holding a majority of both names'
    items), its first batch bumps the guard above the old epoch; after every instance is renamed one
    leads, holding a majority of both names' items;
  - the replicated controller state: a freeze set on the old-name leader ("regiond#control") is in the
    renamed leader's "renamed#control" items (it read the former name's state, finding none under its own).
Without cluster.former_name's checks (the lease ignoring it) the first renamed follower takes the empty
"renamed" items after lease_ms and leads beside the old-name leader: the item judge fails, and so does
the Route 53 judge (its guard bump lands).  Without the former name's state read, the renamed leader's
state holds no freeze."""
import json
import time
import urllib.error
import subprocess
import urllib.request

from harness import (REGIONCTL, TEST_KEY, Daemon, DdbPeer, Nginx, Route53Peer, check, check_eq, eventually, free_port,
                     run_tests, token_file, wait_for, weighted_zone)
import lease_kit
from lease_kit import LEASE_MS, RENEW_MS, REGIONS as LEASE_REGIONS, TABLE, kill9, lease, stop_all

NAME = "api.example.test."
GUARD = "_regiond-epoch.api.example.test."
OLD, NEW = "regiond", "renamed"
REGIONS = ["us-east-1", "eu-west-1", "ap-southeast-2"]
IPS = ["127.0.0.31", "127.0.0.32", "127.0.0.33"]
KEYS = {i: {"access_key": f"AKIDRENAMEINSTANC{i}", "secret_key": f"rename/Secret/Key/Of/Instance/{i}/0000000000"}
        for i in (1, 2, 3)}
FIRST_S = (2 * LEASE_MS + 4 * RENEW_MS) / 1000 + 8   # empty tables, perhaps a split vote; a loaded machine
ROUND_S = 2 * RENEW_MS / 1000 + 3
RENEWED_S = 1.5
NOTE = "frozen before the rename"
TOKENS, TOKS = token_file()
T0 = time.monotonic()


class Cluster:
    def __init__(self):
        self.ports = [free_port() for _ in REGIONS]
        self.ngx = Nginx(self.ports)
        self.r53 = Route53Peer(weighted_zone(NAME, {r: (ip, 100) for r, ip in zip(REGIONS, IPS)}),
                               creds=[TEST_KEY] + list(KEYS.values()))
        self.ddb = DdbPeer(LEASE_REGIONS, table=None, heartbeat_table=None, creds=[TEST_KEY] + list(KEYS.values()))
        lease_kit.create_tables(self.ddb)
        self.ds = []

    def start(self, i, name=OLD, former=None):
        eps = {f"dynamodb.{r}": self.ddb.url(r) for r in LEASE_REGIONS}
        eps["route53"] = self.r53.url
        cfg = lease_kit.config(i, self.ddb, endpoints=eps, name=name)
        if former:
            cfg["cluster"]["former_name"] = former
        cfg["controller"].update({"token_file": TOKENS, "log_level": "info"})
        cfg["probe_defaults"] = {"interval_ms": 200, "timeout_ms": 150, "rise": 2, "fall": 2}
        cfg["route53"] = {"hosted_zone_id": self.r53.zone_id, "record_name": NAME, "record_type": "A", "ttl": 60,
                          "reconcile_s": 5}
        cfg["decision"] = {"hold_down_s": 1, "settle_ms": 200, "max_changes": 0}
        cfg["regions"] = [{"name": r, "api": [{"url": f"http://127.0.0.1:{p}/health"}],
                           "route53": {"value": ip, "weight": 100}} for r, p, ip in zip(REGIONS, self.ports, IPS)]
        d = Daemon(cfg, env={"AWS_ACCESS_KEY_ID": KEYS[i]["access_key"],
                             "AWS_SECRET_ACCESS_KEY": KEYS[i]["secret_key"],
                             "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent", "AWS_CONFIG_FILE": "/nonexistent"})
        d.iid, d.cfg, d.key, d.name, d.num = f"ctl-{i}", cfg, KEYS[i]["access_key"], name, i
        return d

    def items(self, name):
        """region -> the lease item keyed name as the peer's store has it (flattened), or None."""
        out = {}
        for r in LEASE_REGIONS:
            its = [i for i in self.ddb.call("GET", f"/_peer/items?region={r}&table={TABLE}")["items"]
                   if i.get("name", {}).get("S") == name]
            out[r] = ({k: (v.get("S") if "S" in v else int(v["N"]) if "N" in v else v.get("BOOL"))
                       for k, v in its[0].items()} if its else None)
        return out

    def control_docs(self, name):
        """region -> (epoch, doc) of the "<name>#control" item at the peer, or None."""
        out = {}
        for r, it in self.items(f"{name}#control").items():
            out[r] = (it["epoch"], json.loads(it["doc"])) if it and it.get("doc") else None
        return out

    def batches(self):
        """Every ChangeResourceRecordSets batch that landed at the Route 53 peer, in order."""
        return self.r53.changes()

    def stop(self):
        stop_all(self.ds, self.ddb, self.r53, self.ngx)


def epoch_of(recs):
    for r in recs or []:
        if r["Name"] == GUARD and r["Type"] == "TXT":
            return int(r["ResourceRecords"][0]["Value"].split("epoch=")[1].split()[0].strip('"'))
    return None


class Judge:
    """Samples the peer's items of both names; an instance leads BY THE ITEMS when it holds (owner, not
    released) a majority of the items keyed by its own name, each renewed (another rvn) since the last
    sample at least RENEWED_S earlier."""

    def __init__(self, c):
        self.c, self.hist, self.bad = c, [], False

    def leaders(self, t, its):
        old = [h for h in self.hist if h[0] <= t - RENEWED_S]
        if not old:
            return []
        prev, out = old[-1][1], []
        for d in self.c.ds:
            if d.proc.poll() is not None:
                continue
            a, b = its[d.name], prev[d.name]
            renewed = [r for r in LEASE_REGIONS if a[r] and b[r] and a[r].get("owner") == d.iid == b[r].get("owner")
                       and not a[r].get("released") and not b[r].get("released") and a[r]["rvn"] != b[r]["rvn"]]
            if len(renewed) * 2 > len(LEASE_REGIONS):
                out.append(d)
        return out

    def sample(self):
        t, its = time.monotonic(), {n: self.c.items(n) for n in (OLD, NEW)}
        ls = self.leaders(t, its)
        self.hist = [h for h in self.hist if h[0] > t - 10] + [(t, its)]
        if len(ls) > 1 and not self.bad:
            self.bad = True
            check(False, f"at most one instance leads by the peer's items at every sample ({[d.iid for d in ls]} "
                         f"at once, {t - T0:.1f} s; items {its})")
        if self.bad:
            raise AssertionError("two leaders by the items")
        return ls, its

    def until(self, pred, timeout, what):
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            ls, its = self.sample()
            if pred(ls, its):
                return ls, its
            time.sleep(0.1)
        raise AssertionError(f"timed out after {timeout}s waiting for {what}")

    def watch(self, seconds, during=None):
        seen, t0 = set(), time.monotonic()
        while time.monotonic() - t0 < seconds:
            ls, its = self.sample()
            seen |= {d.iid for d in ls}
            if during:
                during(its)
            time.sleep(0.1)
        return seen


def alarm(d):
    try:
        return [a["summary"] for a in d.status()["alarms"]["active"] if a["key"] == "cluster-lease"]
    except (OSError, KeyError, AssertionError):
        return []


def ctl(d, *args):
    """regionctl against d with the ops token: (exit code, its output)."""
    r = subprocess.run([REGIONCTL, "--api", d.base, "--token-file", TOKENS, *args], capture_output=True,
                       text=True, timeout=15)
    return r.returncode, (r.stdout + r.stderr).strip()


def freeze(d, note):
    req = urllib.request.Request(d.base + "/v1/freeze", data=json.dumps({"note": note}).encode(), method="POST",
                                 headers={"Authorization": f"Bearer {TOKS['ops']}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def frozen_on_majority(c, name, epoch=None):
    """The "<name>#control" items at the peer that hold the freeze (and were written in epoch), when a
    majority do; else None."""
    docs = c.control_docs(name)
    held = [r for r, x in docs.items() if x and x[1].get("frozen") is True and x[1].get("freeze_note") == NOTE
            and (epoch is None or x[0] == epoch)]
    return held if len(held) * 2 > len(docs) else None


def majority_held(its, iid):
    return sum(1 for it in its.values() if it and it.get("owner") == iid and not it.get("released")) * 2 > len(its)


def test_rolling_rename():
    global T0
    T0 = time.monotonic()
    c = Cluster()
    try:
        c.ds = [c.start(i) for i in (1, 2, 3)]
        judge = Judge(c)
        ls, _ = judge.until(lambda ls, its: len(ls) == 1, FIRST_S, "one old-name leader by the items")
        lead = ls[0]
        g_old = wait_for(lambda: epoch_of(c.r53.records()), 15, f"{lead.iid}'s guard bump")
        check_eq(freeze(lead, NOTE), 200, f"the old-name leader {lead.iid} takes a freeze")
        wait_for(lambda: frozen_on_majority(c, OLD), ROUND_S, f'the freeze on a majority of "{OLD}#control" items')
        n_bat = len(c.batches())
        print(f"info {lead.iid} leads under {OLD!r} (guard epoch {g_old}) at {time.monotonic() - T0:.1f} s",
              flush=True)
        # One follower restarted with the new name, the former name kept, while the old-name leader runs;
        # the other stays on the old name.
        f1, f2 = [d for d in c.ds if d is not lead]
        check(f1.stop() == 0, f"{f1.iid} stops cleanly before its restart")
        c.ds[c.ds.index(f1)] = f1 = c.start(f1.num, NEW, OLD)

        def renamed_writes_nothing(its):
            w = [(n, r) for n in (OLD, NEW) for r, it in its[n].items() if it and it.get("owner") == f1.iid]
            if w:
                check(False, f"the renamed follower {f1.iid} writes no item while {lead.iid} leads under {OLD!r} ({w})")
                raise AssertionError("the renamed follower wrote an item")
        # without the check the renamed follower takes the empty "renamed" items after lease_ms and a round
        seen = judge.watch(LEASE_MS / 1000 + 3 * RENEW_MS / 1000 + 1, during=renamed_writes_nothing)
        check(seen == {lead.iid}, f"only the old-name leader leads by the items meanwhile ({sorted(seen)})")
        late = c.batches()[n_bat:]
        check(all(b["key"] == lead.key for b in late) and epoch_of(c.r53.records()) == g_old,
              f"no batch of another instance landed at Route 53 and the guard kept epoch {g_old} "
              f"({[(b['key'], epoch_of(b['after'])) for b in late]})")
        calls = [(r.get("op") or r.get("action") or r.get("path")) for r in c.r53.stats()["requests"]
                 if r.get("key") in (f1.key, f2.key)]
        check(not calls, f"the followers made no Route 53 call at all, not even a read ({calls[:5]})")
        s = wait_for(lambda: alarm(f1), ROUND_S, f"{f1.iid}'s cluster-lease alarm")[0]
        check(f"waiting for the former name's leader {lead.iid} to stop" in s,
              f"{f1.iid}'s alarm names the former name's leader ({s!r})")
        m = lease(f1)
        check(m and not m["leading"] and m["former_name"] == OLD and m["tables_mismatch"]
              and f"waiting for the former name's leader {lead.iid}" in m["tables_mismatch"],
              f"{f1.iid}'s status says it waits for {lead.iid} ({m and m['tables_mismatch']!r})")
        # kill -9 of the old-name leader: its items stay live for lease_ms; then the renamed follower and the
        # old-name follower race for the former name's items, and one of them leads (the judge: never both).
        kill9(lead)
        t_kill = time.monotonic()
        ls, its = judge.until(lambda ls, its: len(ls) == 1 and majority_held(its[OLD], ls[0].iid),
                              LEASE_MS / 1000 + 3 * RENEW_MS / 1000 + 6,
                              "one leader holding a majority of the former name's items")
        mid = ls[0]
        print(f"info {mid.iid} leads under {mid.name!r} {time.monotonic() - t_kill:.1f} s after the kill", flush=True)
        check(mid.name == OLD or majority_held(its[NEW], mid.iid),
              f"{mid.iid} leads under {mid.name!r} holding a majority of its own name's items too")
        b = wait_for(lambda: [x for x in c.batches()[n_bat:] if x["key"] == mid.key], 15,
                     f"{mid.iid}'s first batch")[0]
        check(epoch_of(b["after"]) is not None and epoch_of(b["after"]) > g_old,
              f"{mid.iid}'s first batch bumps the guard above {g_old} ({epoch_of(b['after'])})")
        seen = judge.watch(2 * RENEW_MS / 1000)
        check(seen <= {mid.iid}, f"nobody else leads meanwhile ({sorted(seen)})")
        # The rest renamed: the old-name follower restarted (SIGTERM: a leader releases), the killed one started.
        check(f2.stop() == 0, f"{f2.iid} stops cleanly before its restart")
        c.ds[c.ds.index(f2)] = c.start(f2.num, NEW, OLD)
        c.ds[c.ds.index(lead)] = c.start(lead.num, NEW, OLD)
        ls, its = judge.until(lambda ls, its: len(ls) == 1 and majority_held(its[NEW], ls[0].iid)
                              and majority_held(its[OLD], ls[0].iid), FIRST_S,
                              "one renamed leader holding a majority of both names' items once all are renamed")
        last = ls[0]
        print(f"info {last.iid} leads with every instance renamed at {time.monotonic() - T0:.1f} s", flush=True)
        check(all(it["cluster"] == NEW for it in its[OLD].values() if it and it.get("owner") == last.iid),
              "the former name's items the renamed leader holds name its cluster")
        e_new = its[NEW][next(r for r, it in its[NEW].items() if it and it.get("owner") == last.iid)]["epoch"]
        eventually(lambda: frozen_on_majority(c, NEW, e_new), 15,
                   f'the freeze set before the rename is in a majority of "{NEW}#control" items of {last.iid}\'s '
                   f'term (epoch {e_new})')
        for d in c.ds:
            if d is not last:
                eventually(lambda: not alarm(d), ROUND_S, f"{d.iid}: no cluster-lease alarm once all are renamed")
        print(f"info checks done at {time.monotonic() - T0:.1f} s", flush=True)
    finally:
        c.stop()


if __name__ == "__main__":
    run_tests([test_rolling_rename])
