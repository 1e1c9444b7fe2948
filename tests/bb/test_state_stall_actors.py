"""Second actors during one stalled disk (review of issue 14): every fsync of
regiond is delayed 2 s (state_kit.fsync_stalled) while two backup schedules
of one table run and an operator pins a region.

test_backups_and_pin_during_stall: two schedules of `orders` (hourly and
daily, cron far away) are started at once with `regionctl backup now orders`;
the operator presses it again while both wait for their record (nothing more
starts); a second operator pins us-east-1 to weight 7 with regionctl.  Judged
at the peers afterwards: the aws CLI's list-backups against the strict
DynamoDB peer shows exactly one backup per schedule, CreateBackup was sent
exactly twice and only after the runs' records could be durable (>= one
stalled fsync after the trigger); control.json on disk holds the pin when
its 200 has come; backups.json on disk records each
schedule's own ARN and nothing pending; the strict Route 53 peer's change log
holds exactly one batch that sets us-east-1 to 7, sent at least one stalled
fsync after the pin was asked for and not before its 200 (the peer's
weights were unchanged while it waited; the batch is no more than 3 s ahead
of regionctl's exit, while the pin's own write takes two stalled fsyncs),
its decision number used once, and the zone ends with the pin and nothing
else changed."""
import json
import os
import re
import subprocess
import threading
import time

from harness import (REGIONCTL, TEST_KEY, DdbPeer, Daemon, Nginx, Route53Peer, check, check_eq, free_port,
                     run_tests, tmpdir, token_file, wait_for, weighted_zone)
from state_kit import fsync_stalled

NAME = "api.example.test."
REGIONS = ["us-east-1", "eu-west-1", "ap-southeast-2"]
IPS = ["127.0.0.11", "127.0.0.12", "127.0.0.13"]
SCHEDULES = ("hourly", "daily")
TEMPLATE = "regiond-{table}-{schedule}.{utc:%Y%m%dT%H%M%SZ}"
STALL_S = 2
ENV = {"AWS_ACCESS_KEY_ID": TEST_KEY["access_key"], "AWS_SECRET_ACCESS_KEY": TEST_KEY["secret_key"],
       "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent", "AWS_CONFIG_FILE": "/nonexistent"}


def config(r53, ddb, ports, tokens):
    endpoints = {f"dynamodb.{r}": ddb.url(r) for r in REGIONS}
    endpoints["route53"] = r53.url
    return {
        "controller": {"id": "ctl-actors", "listen": f"127.0.0.1:{free_port()}", "state_dir": tmpdir("state-"),
                       "log_level": "info", "token_file": tokens},
        "probe_defaults": {"interval_ms": 300, "timeout_ms": 250, "rise": 1, "fall": 2},
        "aws": {"endpoints": endpoints, "retry": {"base_ms": 50, "max_ms": 400, "max_attempts": 6}},
        "route53": {"hosted_zone_id": r53.zone_id, "record_name": NAME, "record_type": "A", "ttl": 60,
                    "name_servers": [f"127.0.0.1:{r53.dns_port}"],
                    "dns_check": {"consecutive": 2, "interval_ms": 50, "timeout_s": 20}},
        "decision": {"hold_down_s": 0, "settle_ms": 0, "max_changes": 1000, "min_healthy_regions": 1},
        "dynamodb": {"table": "orders", "describe_interval_s": 2, "rpo_ms": 60000, "stale_after_s": 30,
                     "backups": [{"name": n, "regions": ["us-east-1"], "schedule": cron, "keep_last": 5,
                                  "name_template": TEMPLATE}
                                 for n, cron in zip(SCHEDULES, ("0 3 1 1 *", "0 4 1 1 *"))]},
        "regions": [{"name": r, "api": [{"url": f"http://127.0.0.1:{p}/health"}],
                     "route53": {"value": ip, "weight": 100}} for r, p, ip in zip(REGIONS, ports, IPS)],
    }


class Ctl(threading.Thread):
    """One regionctl command in the background: exit status, output, and
    when it was sent and answered (monotonic)."""

    def __init__(self, d, tokens, *args):
        super().__init__(daemon=True)
        self.argv = [REGIONCTL, "--api", d.base, "--token-file", tokens, *args]
        self.rc = self.out = self.done_at = None
        self.sent_at = time.monotonic()

    def run(self):
        r = subprocess.run(self.argv, capture_output=True, text=True, timeout=150)
        self.rc, self.out = r.returncode, (r.stdout + r.stderr).strip()
        self.done_at = time.monotonic()


def jobs(d):
    return {j["schedule"]: j for j in d.status()["dynamodb"]["backups"]}


def weight_after(batch, region):
    """region's weight in the group right after the batch, from the peer's record."""
    for r in batch.get("after") or []:
        if r.get("SetIdentifier") == region:
            return r.get("Weight")
    return None


def test_backups_and_pin_during_stall():
    ports = [free_port() for _ in REGIONS]
    ngx = Nginx(ports)
    r53 = Route53Peer(weighted_zone(NAME, {r: (ip, 100) for r, ip in zip(REGIONS, IPS)}), pending_ms=200)
    ddb = DdbPeer(REGIONS, backup_ms=300)
    tokens, _ = token_file()
    cfg = config(r53, ddb, ports, tokens)
    d = Daemon(cfg, env=ENV)
    try:
        wait_for(lambda: all(w["live"] >= 0 for w in d.status()["failover"]["weights"]), 15, "live weights read")
        wait_for(lambda: set(jobs(d)) == set(SCHEDULES) and all(j["phase"] == "idle" for j in jobs(d).values()), 15,
                 "both schedules idle")
        mark = max([c["seq"] for c in r53.changes()], default=0)
        ddb.call("POST", "/_peer/reset-stats", {})
        with fsync_stalled(d.proc.pid, STALL_S):
            t_run = time.monotonic()
            first = Ctl(d, tokens, "backup", "now", "orders")
            first.run()
            check_eq(first.rc, 0, f"backup now: both schedules start ({first.out})")
            check("started 2 backups" in first.out, f"two runs started ({first.out})")
            pin = Ctl(d, tokens, "pin", "us-east-1", "--weight", "7", "--for", "10m", "--note", "second actor")
            pin.start()
            again = Ctl(d, tokens, "backup", "now", "orders")
            again.run()
            check("started 0 backups" in again.out and "2 already running" in again.out,
                  f"pressed again while both wait for their record: nothing more starts ({again.out})")
            time.sleep(0.5)
            check(pin.rc is None, f"the pin is not answered before its write is durable ({pin.rc} {pin.out})")
            check_eq(r53.weights(NAME)["us-east-1"], 100, "the Route 53 peer unchanged while the pin waits")
            pin.join(120)
            check_eq(pin.rc, 0, f"the pin acknowledged ({pin.out})")
            with open(os.path.join(cfg["controller"]["state_dir"], "control.json")) as f:
                on_disk = {o["region"]: o.get("weight") for o in json.load(f).get("overrides", [])}
            check_eq(on_disk, {"us-east-1": 7}, "the pin is in control.json on disk when its 200 has come")
            check(pin.done_at - pin.sent_at >= STALL_S - 0.1,
                  f"the pin answered after a stalled fsync ({pin.done_at - pin.sent_at:.1f} s)")
            wait_for(lambda: all(j["phase"] == "idle" and j["created"] >= 1 for j in jobs(d).values()), 120,
                     "both runs end during the stall")
        wait_for(lambda: r53.weights(NAME)["us-east-1"] == 7, 20, "the pin's weight at the Route 53 peer")
        time.sleep(1.5)   # a second batch or backup, were one coming, would be there by now

        # The DynamoDB peer, judged by the aws CLI.
        listed = ddb.aws("us-east-1", "list-backups", "--table-name", "orders", "--backup-type", "USER")
        names = [b["BackupName"] for b in listed["BackupSummaries"]]
        arns = {}
        for sch in SCHEDULES:
            mine = [b for b in listed["BackupSummaries"]
                    if re.match(rf"^regiond-orders-{sch}\.\d{{8}}T\d{{6}}Z$", b["BackupName"])]
            check_eq(len(mine), 1, f"{sch}: exactly one backup at the peer ({names})")
            arns[sch] = [b["BackupArn"] for b in mine]
        check_eq(len(names), 2, f"no other backup at the peer ({names})")
        creates = [r for r in ddb.call("GET", "/_peer/stats")["requests"] if r["op"] == "CreateBackup"]
        check_eq(len(creates), 2, "CreateBackup sent exactly twice (once per schedule)")
        check(all(r["t"] >= t_run + STALL_S - 0.1 for r in creates),
              f"each CreateBackup only after its run's record could be durable "
              f"({[round(r['t'] - t_run, 1) for r in creates]} s after the trigger)")
        # backups.json on disk, not regiond's status.
        with open(os.path.join(cfg["controller"]["state_dir"], "backups.json")) as f:
            saved = json.load(f)["jobs"]
        for sch in SCHEDULES:
            rec = saved.get(f"{sch}@us-east-1", {})
            check_eq([b["arn"] for b in rec.get("backups", [])], arns[sch], f"backups.json: {sch} records its own ARN")
            check_eq(rec.get("pending", ""), "", f"backups.json: {sch} has nothing pending")

        # The Route 53 peer's change log.
        batches = [c for c in r53.changes() if c["seq"] > mark]
        pins = [c for c in batches if weight_after(c, "us-east-1") == 7]
        check_eq(len(pins), 1, f"exactly one batch set the pin ({[c['comment'] for c in batches]})")
        if pins:
            sent = pins[0]["mono"] - pin.sent_at
            answered = pin.done_at - pin.sent_at
            check(sent >= STALL_S - 0.1, f"the pin's batch went out after a stalled fsync ({sent:.1f} s after it was "
                                         f"asked for; answered after {answered:.1f} s)")
            # Its own write alone takes two stalled fsyncs (file, directory): a batch sent when the write was
            # queued or begun would be 4 s or more ahead of the answer; 3 s leaves room for regionctl's exit.
            check(sent >= answered - 3.0, f"the pin's batch not sent before its 200 ({sent:.1f} s, {answered:.1f} s)")
        nums = [int(m.group(1)) for c in r53.changes() for m in [re.search(r"decision (\d+)", c["comment"] or "")]
                if m]
        check_eq(len(nums), len(set(nums)), f"no decision applied twice ({nums})")
        check_eq(r53.weights(NAME), {"us-east-1": 7, "eu-west-1": 100, "ap-southeast-2": 100},
                 "the zone: the pin, nothing else changed")
        check_eq(d.stop(), 0, "clean exit")
        d = None
    finally:
        if d and d.proc.poll() is None:
            d.proc.kill()
        r53.stop()
        ddb.stop()
        ngx.stop()


if __name__ == "__main__":
    run_tests([test_backups_and_pin_during_stall])
