"""DynamoDB backups and PITR against the strict peer, with the aws CLI as the
judge: a missed schedule runs once at start-up, names follow the template,
retention keeps exactly the configured set and never touches a backup
regiond did not make; PITR off -> turned on and said so; and the client's
behaviour under throttling, 500 storms and broken answers."""
import json
import os
import re
import subprocess
import time

from harness import (REGIOND, REGIONCTL, DdbPeer, Daemon, Nginx, check, check_eq, eventually, free_port, run_tests,
                     wait_for)
from test_dynamodb import ENV, REGIONS, config, replica

NAME_RE = re.compile(r"^regiond-orders-nightly\.\d{8}T\d{6}Z$")
TEMPLATE = "regiond-{table}-{schedule}.{utc:%Y%m%dT%H%M%SZ}"   # seconds: the test need not wait for a new minute
FOREIGN = "regiond-orders-nightly.20200101T000000Z"   # regiond's prefix, but made by someone else


def backups(peer, region="us-east-1"):
    out = peer.aws(region, "list-backups", "--table-name", "orders", "--backup-type", "USER")
    return out["BackupSummaries"]


def job(d):
    return d.status()["dynamodb"]["backups"][0]


def test_backups_and_pitr():
    ports = [free_port() for _ in REGIONS]
    ngx = Nginx(ports)
    peer = DdbPeer(REGIONS, pitr="off", backup_ms=800)
    peer.call("POST", "/_peer/backups", {"region": "us-east-1", "table": "orders", "name": "manual-before-migration"})
    peer.call("POST", "/_peer/backups", {"region": "us-east-1", "table": "orders", "name": FOREIGN})
    cfg = config(peer, ports, dynamodb={
        "backups": [{"name": "nightly", "regions": ["us-east-1"], "schedule": "0 3 * * *", "keep_last": 2,
                     "name_template": TEMPLATE}],
        "pitr": {"enabled": True, "check_interval_s": 5}})
    # Seed: the schedule last ran three days ago, so three runs were missed.
    state = cfg["controller"]["state_dir"]
    with open(os.path.join(state, "backups.json"), "w") as f:
        json.dump({"jobs": {"nightly@us-east-1": {"last_run_s": int(time.time()) - 3 * 86400 - 60}}, "ours": []}, f)
    d = Daemon(cfg, env=ENV)
    j = wait_for(lambda: (lambda j: j if j["last_result"].startswith("AVAILABLE") else None)(job(d)), 20,
                 "the missed run completes")
    ours = [b for b in backups(peer) if NAME_RE.match(b["BackupName"]) and b["BackupName"] != FOREIGN]
    check_eq(len(ours), 1, "three missed runs -> exactly one run at start-up")
    check(NAME_RE.match(j["last_name"]) is not None, f"name from the template: {j['last_name']}")
    check(j["next_run"].endswith("T03:00:00.000Z"), f"next run at the schedule's time: {j['next_run']}")

    for k in range(2):
        r = subprocess.run([REGIONCTL, "--api", d.base, "backup", "now", "orders"], capture_output=True, text=True,
                           timeout=10)
        check_eq(r.returncode, 0, f"regionctl backup now ({r.stdout.strip()})")
        time.sleep(0.3)
        wait_for(lambda: job(d)["phase"] == "idle" and job(d)["last_result"].startswith("AVAILABLE"), 20,
                 "backup and retention done")
        time.sleep(1.1)   # names carry the second
    names = sorted(b["BackupName"] for b in backups(peer))
    mine = [n for n in names if NAME_RE.match(n) and n != FOREIGN]
    check_eq(len(mine), 2, f"retention keeps exactly keep_last 2 of regiond's backups ({mine})")
    check("manual-before-migration" in names, "a backup made outside regiond is never deleted")
    check(FOREIGN in names, "one with regiond's prefix but not made by it is never deleted")
    check(job(d)["deleted"] >= 1, "retention deleted the oldest of regiond's own")

    p = wait_for(lambda: (lambda p: p if p and p[0]["status"] == "ENABLED" else None)(
        d.status()["dynamodb"]["pitr"]), 15, "PITR turned on")
    cli = peer.aws("us-east-1", "describe-continuous-backups", "--table-name", "orders")
    check_eq(cli["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"],
             "ENABLED", "aws CLI: PITR is on")
    check("event=pitr_enabled" in d.read_log(), "an event says regiond turned PITR on")
    p = wait_for(lambda: (lambda p: p if p[0].get("latest_age_s") is not None else None)(
        d.status()["dynamodb"]["pitr"]), 15, "restorable window exported")
    check(p[0]["latest_age_s"] >= 0 and p[0]["earliest_age_s"] >= p[0]["latest_age_s"], "window ages exported")
    check("regiond_pitr_restorable_age_seconds" in d.get("/metrics")[1].decode(), "PITR window in /metrics")
    # Someone changes the recovery period: drift, alarmed.
    peer.call("POST", "/_peer/pitr", {"enabled": True, "region": "us-east-1", "table": "orders", "period": 7})
    p = wait_for(lambda: (lambda p: p if p[0]["alarm"] else None)(d.status()["dynamodb"]["pitr"]), 15,
                 "PITR drift alarm")
    check("recovery period changed" in p[0]["alarm_reason"], f"drift named: {p[0]['alarm_reason']}")
    check_eq(d.stop(), 0, "clean exit")
    r = subprocess.run([REGIOND, "--print-iam-policy", "--config", d.cfg_path],
                       capture_output=True, text=True, timeout=10)
    pol = {s["Sid"]: s for s in json.loads(r.stdout)["Statement"]}
    lb = [s for s in pol.values() if s["Action"] == ["dynamodb:ListBackups"]]
    check(lb and lb[0]["Resource"] == "*" and "Cannot" in lb[0]["Sid"],
          "ListBackups alone on '*', its Sid says why")
    dl = [s for s in pol.values() if "dynamodb:DeleteBackup" in s["Action"]]
    check(dl and dl[0]["Resource"] == ["arn:aws:dynamodb:us-east-1:ACCOUNT_ID:table/orders/backup/*"],
          f"DeleteBackup only on the scheduled region's table backups ({dl[0]['Resource'] if dl else None})")
    check("ACCOUNT_ID" in r.stderr or "account_id" in r.stderr, "asks for aws.account_id when it is missing")
    peer.stop()
    ngx.stop()


def test_faults():
    ports = [free_port() for _ in REGIONS]
    ngx = Nginx(ports)
    peer = DdbPeer(REGIONS)
    d = Daemon(config(peer, ports), env=ENV)
    wait_for(lambda: replica(d, "eu-west-1")["table_status"] == "ACTIVE", 10, "described")
    peer.call("POST", "/_peer/reset-stats", {})
    peer.call("POST", "/_peer/inject", {"region": "eu-west-1", "ops": ["DescribeTable"], "throttle": 2, "limit": 1})

    def answers():   # eu-west-1's DescribeTable answers since the faults were set, once there are four
        st = peer.call("GET", "/_peer/stats")
        seq = [r["status"] for r in st["requests"] if r.get("region") == "eu-west-1" and r.get("op") == "DescribeTable"]
        while seq and seq[0] == 200:   # sent before the faults were set (two tables are described per tick)
            seq = seq[1:]
        return seq if len(seq) >= 4 else None
    seq = wait_for(answers, 15, "four DescribeTable answers in eu-west-1 since the faults were set")
    check(seq[:4] == [400, 400, 400, 200], f"throttling and LimitExceeded retried, then success ({seq[:6]})")
    eventually(lambda: replica(d, "eu-west-1")["finding"] == "", 5, "no finding after the retries succeeded")

    cases = [({"error5xx": 1000}, "InternalServerError"), ({"garbage": 1000}, "invalid JSON in the answer"),
             ({"huge": 1000}, "answer larger than 8 MiB"), ({"truncated": 1000}, "DescribeTable failed")]
    for fault, want in cases:
        peer.call("POST", "/_peer/inject", dict({"region": "eu-west-1", "ops": ["DescribeTable"]}, **fault))
        eventually(lambda: (lambda x: x if want in x["finding"] else None)(replica(d, "eu-west-1")), 25,
                   f"{list(fault)[0]}: a clear reason ({want!r})", show=lambda f: f["finding"][:110])
        check(d.get("/healthz")[0] == 200, "daemon keeps running")
        peer.call("POST", "/_peer/clear-faults", {})
        wait_for(lambda: not replica(d, "eu-west-1")["finding"], 15, "recovers")
    check_eq(d.stop(), 0, "clean exit")
    peer.stop()
    ngx.stop()


if __name__ == "__main__":
    run_tests([test_backups_and_pitr, test_faults])
