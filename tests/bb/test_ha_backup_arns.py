"""A schedule's recorded backups reach the next leader (issue 17, item 3): three instances with the
same dynamodb section (two schedules on one table, "nightly" keep_last 2 and "weekly" keep_last
10, both due only on 29 February, so every run here is an operator's "backup now") and the same
three lease tables.  Judged on the strict DynamoDB peer: its backups as the aws CLI lists them,
and its request log (each request's signing key and BackupArn):
  - leader A makes three runs; its retention deletes its own oldest nightly backup;
  - kill -9 of A; the new leader B makes one run, and its retention prunes A's older nightly
    backup (without the replicated records B knew only its own one: nothing pruned);
  - never deleted: any weekly backup, two backups made by hand (botocore, the aws CLI's request; one before, one
    after the takeover), both named with the nightly schedule's prefix, and one with another name;
  - every DeleteBackup names a nightly backup regiond made, and each backup is deleted once."""
import json
import re
import time

import boto_kit
from harness import TEST_KEY, DdbPeer, Nginx, check, check_eq, free_port, run_tests, tmpdir, wait_for
import lease_kit
from lease_kit import TABLE, TAKEOVER_S, kill9, sample_until
from test_ha import TOKENS, control

REGIONS = lease_kit.REGIONS
KEYS = {i: {"access_key": f"AKIDHAARNS{i}", "secret_key": f"ha/Arns/Secret/Of/Instance/{i}/000000000000000"}
        for i in (1, 2, 3)}
FIRST_S = (2 * lease_kit.LEASE_MS + 4 * lease_kit.RENEW_MS) / 1000 + 5
TEMPLATE = "regiond-{table}-{schedule}.{utc:%Y%m%dT%H%M%SZ}"   # seconds: runs a second apart differ
NIGHTLY = re.compile(r"^regiond-orders-nightly\.\d{8}T\d{6}Z$")
WEEKLY = re.compile(r"^regiond-orders-weekly\.\d{8}T\d{6}Z$")
ITEM = lease_kit.NAME + "#control"
RUN_S = 30       # a run: CreateBackup, AVAILABLE (the peer: 300 ms), ListBackups, deletes; ASan, loaded host


def start(i, peer, ports):
    cfg = lease_kit.config(i, peer)
    cfg["controller"]["log_level"] = "info"
    cfg["controller"]["token_file"] = TOKENS
    sched = "0 3 29 2 *"
    cfg["dynamodb"] = {"table": "orders", "describe_interval_s": 1, "rpo_ms": 1500, "stale_after_s": 3,
                       "heartbeat": {"interval_ms": 1000, "read_interval_ms": 500},
                       "backups": [{"name": "nightly", "regions": ["us-east-1"], "schedule": sched,
                                    "keep_last": 2, "name_template": TEMPLATE},
                                   {"name": "weekly", "regions": ["us-east-1"], "schedule": sched,
                                    "keep_last": 10, "name_template": TEMPLATE}]}
    cfg["regions"] = [{"name": r, "api": [{"url": f"http://127.0.0.1:{p}/health"}]} for r, p in zip(REGIONS, ports)]
    d = lease_kit.instance(i, cfg, KEYS[i], dir=tmpdir("ha-arns-"))
    return d


def hand_backup(peer, name):
    """An operator's CreateBackup of orders in us-east-1 (botocore, the aws CLI's request): its ARN."""
    return boto_kit.ddb(peer, "us-east-1").create_backup(TableName="orders", BackupName=name)["BackupDetails"][
        "BackupArn"]


def listed(peer):
    """{arn: name} of every USER backup of orders, as the aws CLI lists them."""
    out = peer.aws("us-east-1", "list-backups", "--table-name", "orders", "--backup-type", "USER")
    return {b["BackupArn"]: b["BackupName"] for b in out["BackupSummaries"]}


def made_by(peer, key):
    """ARNs of the backups whose CreateBackup key signed (the peer's request log)."""
    return [r["backup_arn"] for r in peer.call("GET", "/_peer/stats")["requests"]
            if r.get("op") == "CreateBackup" and r.get("key") == key and r.get("backup_arn")]


def deletes(peer):
    return [(r.get("backup_arn"), r["key"]) for r in peer.call("GET", "/_peer/stats")["requests"]
            if r.get("op") == "DeleteBackup" and r.get("status") == 200]


def jobs_idle(d, n):
    """Every schedule of d made at least n backups and is idle with its last one AVAILABLE."""
    js = d.status()["dynamodb"]["backups"]
    return all(j["phase"] == "idle" and j["created"] >= n and j["last_result"].startswith("AVAILABLE") for j in js)


def run(d, n):
    """An operator's "backup now" on leader d (again while it is still reading the state), then
    wait until both schedules made their n-th backup."""
    wait_for(lambda: control(d, "POST", "/v1/backups", {"table": "orders"})[0] == 200, 20,
             f"{d.iid} takes backup now")
    wait_for(lambda: jobs_idle(d, n), RUN_S, f"{d.iid}'s run {n} done")
    time.sleep(1.1)   # the next run's names (seconds) differ


def control_items(peer):
    out = []
    for r in REGIONS:
        its = [i for i in peer.call("GET", f"/_peer/items?region={r}&table={TABLE}")["items"]
               if i.get("name", {}).get("S") == ITEM]
        out.append(json.loads(its[0]["doc"]["S"]) if its else {})
    return out


def test_new_leader_prunes_old_leaders_backups():
    ports = [free_port() for _ in REGIONS]
    ngx = Nginx(ports)
    peer = DdbPeer(REGIONS, backup_ms=300, creds=[TEST_KEY] + list(KEYS.values()))
    ds = []
    try:
        lease_kit.create_tables(peer)
        hand = [hand_backup(peer, n) for n in ("regiond-orders-nightly.20200101T000000Z", "before-the-upgrade")]
        ds = [start(i, peer, ports) for i in (1, 2, 3)]
        ls, _ = sample_until(ds, lambda ls: len(ls) == 1, FIRST_S, "exactly one leader")
        a = ls[0]
        for n in (1, 2, 3):
            run(a, n)
        a_made = made_by(peer, a.key)
        names = listed(peer)
        a_nightly = [x for x in a_made if NIGHTLY.match(names.get(x, ""))]
        gone = [x for x in a_made if x not in names]
        check_eq(len(a_made), 6, f"{a.iid} made three nightly and three weekly backups")
        check_eq(len(gone), 1, f"{a.iid}'s retention deleted one backup: its oldest nightly ({gone})")
        check_eq(len(a_nightly), 2, f"{a.iid}'s two newest nightly backups stand")

        def replicated():
            docs = [(x.get("backups") or {}).get("jobs", {}).get("nightly@us-east-1", []) for x in control_items(peer)]
            return sum(1 for recs in docs if set(a_nightly) <= {r["arn"] for r in recs}) >= 2
        wait_for(replicated, 10, f"{a.iid}'s nightly records on a majority of the #control items")

        kill9(a)
        rest = [d for d in ds if d is not a]
        ls, took = sample_until(rest, lambda ls: len(ls) == 1, TAKEOVER_S + 5, "a new leader")
        b = ls[0]
        hand.append(hand_backup(peer, "regiond-orders-nightly.20200102T000000Z"))
        run(b, 1)
        b_made = made_by(peer, b.key)
        check_eq(len(b_made), 2, f"{b.iid} made one nightly and one weekly backup")
        wait_for(lambda: a_nightly[0] not in listed(peer), 10, f"{b.iid} prunes {a.iid}'s older nightly backup")
        names = listed(peer)
        nightly = sorted(x for x in names if NIGHTLY.match(names[x]) and x not in hand)
        b_nightly = [x for x in b_made if NIGHTLY.match(names.get(x, ""))]
        check_eq(nightly, sorted([a_nightly[1]] + b_nightly),
                 "the nightly schedule keeps its two newest: the old leader's last and the new leader's")
        weekly = [x for x in a_made + b_made if WEEKLY.match(names.get(x, ""))]
        check_eq(len(weekly), 4, "every weekly backup stands (another schedule's: never pruned by nightly)")
        check(all(x in names for x in hand), f"the backups made by hand stand ({hand})")
        dels = deletes(peer)
        check_eq(sorted(x for x, _ in dels), sorted(gone + [a_nightly[0]]),
                 "each DeleteBackup names a nightly backup regiond made, each deleted once")
        check_eq([k for x, k in dels if x == a_nightly[0]], [b.key], f"{b.iid} deleted {a.iid}'s older nightly")
        third = next(d for d in rest if d is not b)
        check_eq(made_by(peer, third.key), [], f"{third.iid}, never leading, made no backup")
        for d in rest:
            check_eq(d.stop(), 0, f"{d.iid} stops cleanly")
    finally:
        lease_kit.stop_all(ds, peer, ngx)


if __name__ == "__main__":
    run_tests([test_new_leader_prunes_old_leaders_backups])
