"""A backup run parked while its instance follows (issue 17, docs/ha.md):
two regiond instances on one lease (three lease tables in three regions),
each with the same backup schedule on the table `orders` in a fourth region
(us-west-2), whose saved state owes a catch-up run, records two older
backups of its own, and a run a crash interrupted before its CreateBackup
reached DynamoDB (a look-up due at start-up).  Each instance reaches the
lease tables through its own TCP relay, so the test cuts one instance off
the lease while its backup calls still reach the peer.

Second actor: the other instance, which takes the lease over and makes its
own run (CreateBackup, DescribeBackup, ListBackups, DeleteBackup) while the
first one's run is under way.  Judged on the DynamoDB peer's request log
(each instance signs with its own access key; the log names each request's
BackupArn, and the ARN each CreateBackup made) and the peer's backups (aws
CLI):
  - neither instance makes any backup call (ListBackups, DescribeBackup,
    DeleteBackup, CreateBackup) before it leads: the interrupted run's
    look-up found at start-up waits;
  - the leader's run in progress (its backup still CREATING) when it is cut
    off the lease: from the moment it reports not leading until it leads
    again, it makes no backup call, while the new leader makes its own run;
    its status shows the run parked with the reason, and a backup_parked
    event is logged;
  - when it leads again (the other one stopped) the parked run resumes:
    follows its backup to AVAILABLE and applies retention (backup_resumed);
  - every backup deleted is deleted once; the schedule's records are
    replicated (docs/ha.md), so keep_last 1 holds over the cluster: at the
    end the peer holds exactly the newest backup (b's); a's run in progress
    is never deleted from under it by b (only by a, after its resumed run)."""
import json
import os
import re
import socket
import threading
import time

from harness import TEST_KEY, DdbPeer, check, check_eq, free_port, run_tests, tmpdir, wait_for
import lease_kit
from lease_kit import TABLE, TAKEOVER_S, lease, sample_until

LEASE_REGIONS = lease_kit.REGIONS
APP = "us-west-2"                    # the backed-up table's region: never behind a relay
KEYS = {i: {"access_key": f"AKIDPARKBACKUP{i}", "secret_key": f"ha/Park/Secret/Of/Instance/{i}/000000000000000"}
        for i in (1, 2)}
TEMPLATE = "regiond-{table}-{schedule}.{utc:%Y%m%dT%H%M%SZ}"
NAME_RE = re.compile(r"^regiond-orders-nightly\.\d{8}T\d{6}Z$")
BACKUP_OPS = ("ListBackups", "DescribeBackup", "DeleteBackup", "CreateBackup")
FIRST_S = (2 * lease_kit.LEASE_MS + 4 * lease_kit.RENEW_MS) / 1000 + 10
TICK_S = 5                           # the backup module's tick: a parked run resumes at the next one
SLOW_MS = 14000                      # the first leader's backup stays CREATING this long
# A request handed to the HTTP client in the loop turn before the lease was lost reaches the peer a few
# milliseconds later; the follower window starts this long after the instance first reports not leading.
GRACE_S = 0.5


class Relay:
    """A TCP relay on 127.0.0.1 in front of one peer port.  cut(): every relayed connection is closed and
    new ones are closed as soon as accepted (the instance's calls fail at once); mend(): relay again."""

    def __init__(self, port):
        self.target, self.cut_off, self.lock, self.conns = port, False, threading.Lock(), set()
        self.srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen(64)
        self.srv.settimeout(0.2)
        self.port, self.stopped = self.srv.getsockname()[1], False
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while not self.stopped:
            try:
                c, _ = self.srv.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self.lock:
                if self.cut_off or self.stopped:
                    c.close()
                    continue
            try:
                u = socket.create_connection(("127.0.0.1", self.target), timeout=5)
                u.settimeout(None)
            except OSError:
                c.close()
                continue
            with self.lock:
                self.conns |= {c, u}
            for a, b in ((c, u), (u, c)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, a, b):
        try:
            while True:
                data = a.recv(65536)
                if not data:
                    break
                b.sendall(data)
        except OSError:
            pass
        finally:
            for s in (a, b):
                self._close(s)

    def _close(self, s):
        with self.lock:
            self.conns.discard(s)
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        s.close()

    def cut(self, off=True):
        with self.lock:
            self.cut_off = off
            conns = list(self.conns) if off else []
        for s in conns:
            self._close(s)

    def stop(self):
        self.stopped = True
        self.cut()
        self.srv.close()
        self.thread.join(timeout=5)


def seed(peer, i, now):
    """Two older backups made by instance i's schedule (at the peer, and recorded in its saved state)."""
    out = []
    for k in (0, 1):
        t = now - (40 - 10 * i - k) * 86400
        name = "regiond-orders-nightly." + time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(t))
        b = peer.call("POST", "/_peer/backups", {"region": APP, "table": "orders", "name": name, "created_at": t})
        out.append({"arn": b["BackupArn"], "name": name})
    return out


def start(i, peer, relays, own, now):
    endpoints = {f"dynamodb.{r}": f"http://127.0.0.1:{relays[r].port}" for r in LEASE_REGIONS}
    endpoints[f"dynamodb.{APP}"] = peer.url(APP)
    cfg = lease_kit.config(i, peer, endpoints=endpoints)
    cfg["controller"]["log_level"] = "info"
    cfg["regions"] = [{"name": APP, "api": [{"url": f"http://127.0.0.1:{free_port()}/health"}]}]
    cfg["dynamodb"] = {"table": "orders", "describe_interval_s": 1, "rpo_ms": 1500, "stale_after_s": 3,
                       "heartbeat": {"interval_ms": 300, "read_interval_ms": 100},
                       "backups": [{"name": "nightly", "regions": [APP], "schedule": "0 3 * * *",
                                    "keep_last": 1, "name_template": TEMPLATE}]}
    # Three runs missed (one catch-up run due), and a run interrupted before its CreateBackup reached
    # DynamoDB (its name is nowhere at the peer): a look-up at start-up, then the catch-up run.
    lost = "regiond-orders-nightly." + time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now - 120 - i))
    job = {"last_run_s": int(now) - 3 * 86400 - 60, "backups": own, "pending": lost, "pending_s": int(now) - 120 - i}
    with open(os.path.join(cfg["controller"]["state_dir"], "backups.json"), "w") as f:
        json.dump({"jobs": {f"nightly@{APP}": job}, "legacy": []}, f)
    d = lease_kit.instance(i, cfg, KEYS[i], dir=tmpdir("ha-park-"))
    d.relays, d.own = relays, own
    return d


def calls(peer, key=None, since=0.0, until=None):
    """Every backup call (entry) the DynamoDB peer logged from key in [since, until)."""
    return [r for r in peer.call("GET", "/_peer/stats")["requests"]
            if r.get("op") in BACKUP_OPS and r["t"] >= since and (until is None or r["t"] < until)
            and (key is None or r["key"] == key)]


def job(d):
    return d.status()["dynamodb"]["backups"][0]


def ours(peer):
    out = peer.aws(APP, "list-backups", "--table-name", "orders", "--backup-type", "USER")
    return {b["BackupArn"]: b["BackupName"] for b in out["BackupSummaries"] if NAME_RE.match(b["BackupName"])}


def not_leading_since(d, timeout):
    """Sample d's lease every 0.1 s until it reports not leading; the monotonic time of that answer."""
    def f():
        s = lease(d)
        return time.monotonic() if s is not None and not s["leading"] else None
    return wait_for(f, timeout, f"{d.iid} reports not leading")


def test_run_parks_while_following_and_resumes():
    peer = DdbPeer(LEASE_REGIONS + [APP], backup_ms=SLOW_MS, creds=[TEST_KEY] + list(KEYS.values()))
    relays, ds = {}, []
    try:
        lease_kit.create_tables(peer)
        now = time.time()
        own = {i: seed(peer, i, now) for i in (1, 2)}
        relays = {i: {r: Relay(peer.ports[r]) for r in LEASE_REGIONS} for i in (1, 2)}
        ds = [start(i, peer, relays[i], own[i], now) for i in (1, 2)]

        # Nobody leads at first: the interrupted runs' look-ups wait (restart as a follower).
        ls, _ = sample_until(ds, lambda ls: len(ls) == 1, FIRST_S, "a leader")
        a = ls[0]
        b = next(d for d in ds if d is not a)
        check_eq(calls(peer, b.key), [], f"{b.iid}, following since its start, made no backup call "
                                         "(its interrupted run's look-up is parked)")
        pb = job(b)
        check(pb["parked"] and "ListBackups" in pb["park_reason"] and "does not lead" in pb["park_reason"],
              f"{b.iid}'s status shows its look-up parked with the reason ({pb['parked']}, {pb['park_reason']!r})")

        # a resumes its look-up (nothing found), then makes its catch-up run; its backup stays CREATING.
        create = wait_for(lambda: [c for c in calls(peer, a.key) if c["op"] == "CreateBackup"], 3 * TICK_S + 10,
                          f"{a.iid}'s catch-up CreateBackup")
        check_eq(len(create), 1, f"{a.iid} called CreateBackup once")
        a_arn = create[0]["backup_arn"]
        peer.call("POST", "/_peer/config", {"backup_ms": 1500})   # backups made from now on: quick
        wait_for(lambda: any(c["op"] == "DescribeBackup" for c in calls(peer, a.key)), 10,
                 f"{a.iid} follows its backup (DescribeBackup)")
        check(any(c["op"] == "ListBackups" and c["t"] < create[0]["t"] for c in calls(peer, a.key)),
              f"{a.iid} looked its interrupted run up (ListBackups) once it led, before its catch-up run")
        check_eq(job(a)["phase"], "waiting", f"{a.iid}'s run waits for its backup (CREATING at the peer)")

        # Cut a off the lease tables: it loses the lease; b takes over and makes its own run.
        t_cut = time.monotonic()
        for r in a.relays.values():
            r.cut()
        t_lost = not_leading_since(a, lease_kit.LEASE_MS / 1000 + 5)
        ls, _ = sample_until(ds, lambda ls: ls == [b], TAKEOVER_S + 5, f"{b.iid} leads")
        wait_for(lambda: (lambda j: j if j["phase"] == "idle" and j["last_result"].startswith("AVAILABLE")
                          and j["deleted"] >= 2 else None)(job(b)), 3 * TICK_S + 45,
                 f"{b.iid}'s own run: AVAILABLE and its retention done")
        wait_for(lambda: peer.aws(APP, "describe-backup", "--backup-arn", a_arn)["BackupDescription"]
                 ["BackupDetails"]["BackupStatus"] == "AVAILABLE", SLOW_MS / 1000 + 10,
                 f"{a.iid}'s backup AVAILABLE at the peer (its run would now list and delete)")
        time.sleep(2 * 2 + 1)   # past two of the parked run's 2-s polls, were it still polling
        check(not lease(a)["leading"], f"{a.iid} still follows")
        pa = job(a)
        check(pa["parked"] and pa["phase"] == "waiting", f"{a.iid}'s run is parked, waiting ({pa['phase']})")
        check("DescribeBackup" in pa["park_reason"] and "does not lead" in pa["park_reason"]
              and "resumes when it leads" in pa["park_reason"],
              f"{a.iid}'s status names why its run is parked ({pa['park_reason']!r})")
        check(pa.get("parked_since"), f"{a.iid}'s status says since when ({pa.get('parked_since')})")
        check("event=backup_parked" in a.read_log(), f"{a.iid} logged a backup_parked event")

        # a comes back to the lease tables (b holds them), then b stops: a leads again.
        for r in a.relays.values():
            r.cut(False)
        time.sleep(lease_kit.RENEW_MS / 1000 * 2)
        t_stop = time.monotonic()
        following = calls(peer, a.key, t_lost + GRACE_S, t_stop)
        check_eq([(c["op"], c.get("backup_arn")) for c in following], [],
                 f"{a.iid} made no backup call while following ({t_stop - t_lost:.1f} s)")
        # b follows at least until the cut: a's items were renewed up to then, and a taker waits lease_ms.
        check_eq([c["op"] for c in calls(peer, b.key, until=t_cut)], [],
                 f"{b.iid} made no backup call while {a.iid} led")
        theirs = {c["op"] for c in calls(peer, b.key, t_lost, t_stop)}
        check(theirs >= set(BACKUP_OPS), f"meanwhile {b.iid}, leading, made its own run ({sorted(theirs)})")
        check_eq(b.stop(), 0, f"{b.iid} stops cleanly (releasing the lease)")
        sample_until([a], lambda ls: ls == [a], TAKEOVER_S + 5, f"{a.iid} leads again")
        ja = wait_for(lambda: (lambda j: j if not j["parked"] and j["phase"] == "idle" else None)(job(a)),
                      TICK_S + 40, f"{a.iid}'s parked run resumes and ends")
        check(ja["last_result"].startswith("AVAILABLE") and ja["park_reason"] == "",
              f"{a.iid}'s resumed run: AVAILABLE, retention applied ({ja['last_result']!r})")
        check("event=backup_resumed" in a.read_log(), f"{a.iid} logged a backup_resumed event")
        resumed = calls(peer, a.key, t_stop)
        check_eq([c["op"] for c in resumed if c["op"] == "CreateBackup"], [],
                 f"{a.iid}'s resumed run made no second CreateBackup")
        check({"DescribeBackup", "ListBackups", "DeleteBackup"} <= {c["op"] for c in resumed},
              f"{a.iid}'s resumed run followed its backup, listed and applied retention")

        # Judged on the whole log: who made each backup, who deleted it, how often.
        log = calls(peer)
        maker = {x["arn"]: d.key for d in ds for x in d.own}
        made = {c["backup_arn"]: c["key"] for c in log if c["op"] == "CreateBackup" and c["status"] == 200}
        check_eq(sorted(made.values()), sorted([a.key, b.key]), "one CreateBackup each (the catch-up runs)")
        maker.update(made)
        # One schedule over the cluster (keep_last 1): the records are replicated (docs/ha.md), so the
        # schedule keeps its newest backup, b's; a's run in progress was never deleted from under it.
        b_arn = next(x for x, k in made.items() if k == b.key)
        dels = [(c["backup_arn"], c["key"]) for c in log if c["op"] == "DeleteBackup"]
        check_eq(sorted(x for x, _ in dels), sorted([x["arn"] for d in ds for x in d.own] + [a_arn]),
                 "every backup but the schedule's newest deleted, each exactly once")
        check_eq([(x, k) for x, k in dels if x not in maker], [], "every DeleteBackup names a backup regiond made")
        check_eq([k for x, k in dels if x == a_arn], [a.key],
                 f"{a.iid}'s backup of the parked run is deleted only by {a.iid}, after its resumed run")
        check_eq(sorted(ours(peer)), [b_arn], f"the peer keeps the schedule's newest backup ({b.iid}'s)")
        for d in ds:
            if d.proc.poll() is None:
                check_eq(d.stop(), 0, f"{d.iid} stops cleanly")
    finally:
        for d in ds:
            if d.proc.poll() is None:
                d.stop()
        for rs in relays.values():
            for r in rs.values():
                r.stop()
        peer.stop()


if __name__ == "__main__":
    run_tests([test_run_parks_while_following_and_resumes])
