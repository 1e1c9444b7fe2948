"""Backups and PITR with several controllers (issue 17, item 2): three
regiond instances with the same dynamodb section (a backup schedule whose
last run each instance's saved state puts three days back, so each would
make a catch-up run at start; PITR off at the peer, so each would turn it
on) and the same three lease tables.  Judged on the DynamoDB peer's request
log, keyed by each instance's own access key, and its backups (aws CLI):
  - only the leader calls CreateBackup, DescribeContinuousBackups or
    UpdateContinuousBackups; the missed run is made once, by the leader;
  - kill -9 of the leader: the new leader makes the run its schedule
    still owes (an extra backup, never a missing one) and takes PITR over."""
import json
import os
import re
import time

from harness import (TEST_KEY, DdbPeer, Nginx, check, check_eq, free_port, run_tests, tmpdir,
                     wait_for)
import lease_kit
from lease_kit import TABLE, TAKEOVER_S, kill9, lease, sample_until

REGIONS = lease_kit.REGIONS
KEYS = {i: {"access_key": f"AKIDHABACKUP{i}", "secret_key": f"ha/Backup/Secret/Of/Instance/{i}/0000000000000"}
        for i in (1, 2, 3)}
FIRST_S = (2 * lease_kit.LEASE_MS + 4 * lease_kit.RENEW_MS) / 1000 + 5
NAME_RE = re.compile(r"^regiond-orders-nightly\.\d{8}T\d{6}Z$")
TEMPLATE = "regiond-{table}-{schedule}.{utc:%Y%m%dT%H%M%SZ}"
ACTS = ("CreateBackup", "DescribeContinuousBackups", "UpdateContinuousBackups")


def start(i, peer, ports):
    cfg = lease_kit.config(i, peer)
    cfg["controller"]["log_level"] = "info"
    cfg["dynamodb"] = {"table": "orders", "describe_interval_s": 1, "rpo_ms": 1500, "stale_after_s": 3,
                       "heartbeat": {"interval_ms": 300, "read_interval_ms": 100},
                       "backups": [{"name": "nightly", "regions": ["us-east-1"], "schedule": "0 3 * * *",
                                    "keep_last": 5, "name_template": TEMPLATE}],
                       "pitr": {"enabled": True, "check_interval_s": 5}}
    cfg["regions"] = [{"name": r, "api": [{"url": f"http://127.0.0.1:{p}/health"}]} for r, p in zip(REGIONS, ports)]
    state = cfg["controller"]["state_dir"]
    with open(os.path.join(state, "backups.json"), "w") as f:   # three runs missed: one catch-up run due
        json.dump({"jobs": {"nightly@us-east-1": {"last_run_s": int(time.time()) - 3 * 86400 - 60}}, "ours": []}, f)
    d = lease_kit.instance(i, cfg, KEYS[i], dir=tmpdir("ha-backup-"))
    return d


def acts(peer, key=None, since=0.0):
    """(op, key) of every backup/PITR call the DynamoDB peer logged at or after since."""
    return [(r["op"], r["key"]) for r in peer.call("GET", "/_peer/stats")["requests"]
            if r.get("op") in ACTS and r["t"] >= since and (key is None or r["key"] == key)]


def ours(peer):
    out = peer.aws("us-east-1", "list-backups", "--table-name", "orders", "--backup-type", "USER")
    return [b for b in out["BackupSummaries"] if NAME_RE.match(b["BackupName"])]


def test_backups_and_pitr_leader_only():
    ports = [free_port() for _ in REGIONS]
    ngx = Nginx(ports)
    peer = DdbPeer(REGIONS, pitr="off", backup_ms=800, creds=[TEST_KEY] + list(KEYS.values()))
    ds = []
    try:
        lease_kit.create_tables(peer)
        ds = [start(i, peer, ports) for i in (1, 2, 3)]
        ls, _ = sample_until(ds, lambda ls: len(ls) == 1, FIRST_S, "exactly one leader")
        a = ls[0]
        wait_for(lambda: len(ours(peer)) >= 1, 20, "the missed run's backup at the peer")
        wait_for(lambda: any(op == "UpdateContinuousBackups" for op, _ in acts(peer, a.key)), 20,
                 "the leader turns PITR on")
        time.sleep(6)   # past a PITR check interval (5 s) and several backup ticks of every instance
        keys = {k for _, k in acts(peer)}
        check_eq(keys, {a.key}, f"only the leader {a.iid} calls CreateBackup or the PITR API "
                                f"({sorted(set(acts(peer)))})")
        check_eq(len(ours(peer)), 1, "the missed run was made once, by the leader")
        for d in ds:
            if d is not a:
                check(not lease(d)["leading"], f"{d.iid} follows")

        t_kill = time.monotonic()
        kill9(a)
        rest = [d for d in ds if d is not a]
        ls, took = sample_until(rest, lambda ls: len(ls) == 1, TAKEOVER_S + 5, "a new leader")
        b = ls[0]
        # (from here on: a call the killed leader sent just before the kill may reach the peer's log after t_kill)
        t_lead = time.monotonic()
        wait_for(lambda: any(op == "DescribeContinuousBackups" for op, _ in acts(peer, b.key, t_kill)), 20,
                 f"the new leader {b.iid} checks PITR")
        wait_for(lambda: len(ours(peer)) == 2, 20, "the new leader's catch-up run")
        time.sleep(2)
        after = {k for _, k in acts(peer, since=t_lead)}
        check_eq(after, {b.key}, f"after the takeover only {b.iid} calls the backup and PITR API")
        check_eq(len(ours(peer)), 2, "one catch-up run by the new leader: an extra backup, none missing")
        third = next(d for d in rest if d is not b)
        check_eq(acts(peer, third.key), [], f"{third.iid}, never leading, never called the backup or PITR API")
        for d in rest:
            check_eq(d.stop(), 0, f"{d.iid} stops cleanly")
    finally:
        lease_kit.stop_all(ds, peer, ngx)


if __name__ == "__main__":
    run_tests([test_backups_and_pitr_leader_only])
