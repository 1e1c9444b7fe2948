"""A backup run is recorded before CreateBackup goes out, without the loop
waiting for the disk (issue 14): with state_dir on a tmpfs remounted
read-only at runtime, `regionctl backup now` ends the run as failed (the
record could not be written), a critical alarm names the schedule, and the
strict DynamoDB peer (judged with the aws CLI) holds no new backup; back on
a writable disk the next run makes exactly one backup and resolves the
alarm."""
import os
import subprocess

from harness import REGIONCTL, DdbPeer, Daemon, Nginx, check, check_eq, free_port, run_tests, tmpdir, wait_for
from test_dynamodb import ENV, REGIONS, config


def sh(*argv):
    r = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        raise AssertionError(f"{' '.join(argv)}: {r.stderr.strip()}")


def ours(peer):
    out = peer.aws("us-east-1", "list-backups", "--table-name", "orders", "--backup-type", "USER")
    return [b["BackupName"] for b in out["BackupSummaries"] if b["BackupName"].startswith("regiond-orders-nightly.")]


def job(d):
    return d.status()["dynamodb"]["backups"][0]


def alarm_keys(d):
    return [a["key"] for a in d.status()["alarms"]["active"]]


def backup_now(d):
    r = subprocess.run([REGIONCTL, "--api", d.base, "backup", "now", "orders"], capture_output=True, text=True,
                       timeout=30)
    check_eq(r.returncode, 0, f"regionctl backup now ({r.stdout.strip()} {r.stderr.strip()})")


def test_run_not_recorded_is_not_started():
    mnt = tmpdir("tmpfs-")
    sh("mount", "-t", "tmpfs", "-o", "size=4m,mode=0750", "tmpfs", mnt)
    ngx = peer = d = None
    try:
        ports = [free_port() for _ in REGIONS]
        ngx = Nginx(ports)
        peer = DdbPeer(REGIONS, backup_ms=500)
        cfg = config(peer, ports, dynamodb={
            "backups": [{"name": "nightly", "regions": ["us-east-1"], "schedule": "0 3 * * *", "keep_last": 5,
                         "name_template": "regiond-{table}-{schedule}.{utc:%Y%m%dT%H%M%SZ}"}]})
        cfg["controller"]["state_dir"] = os.path.join(mnt, "state")
        d = Daemon(cfg, env=ENV)
        wait_for(lambda: job(d)["phase"] == "idle", 10, "the schedule is idle")
        check_eq(ours(peer), [], "no backup yet")
        sh("mount", "-o", "remount,ro", mnt)
        backup_now(d)
        j = wait_for(lambda: (lambda j: j if j["phase"] == "idle" and "not started" in j["last_result"] else None)(
            job(d)), 15, "the run ends as failed")
        check("could not be recorded" in j["last_result"] and "Read-only" in j["last_result"],
              f"the reason is said ({j['last_result']})")
        check("nightly@us-east-1" in alarm_keys(d), f"a critical alarm names the schedule ({alarm_keys(d)})")
        check_eq(ours(peer), [], "aws CLI: no backup was made for the unrecorded run")
        sh("mount", "-o", "remount,rw", mnt)
        backup_now(d)
        wait_for(lambda: job(d)["phase"] == "idle" and job(d)["last_result"].startswith("AVAILABLE"), 30,
                 "the next run completes on a writable disk")
        check_eq(len(ours(peer)), 1, "aws CLI: exactly one backup, from the run that was recorded")
        wait_for(lambda: "nightly@us-east-1" not in alarm_keys(d), 10, "the alarm resolved")
        check_eq(d.stop(), 0, "clean exit")
        d = None
    finally:
        if d:
            d.stop()
        if peer:
            peer.stop()
        if ngx:
            ngx.stop()
        subprocess.run(["umount", "-l", mnt], capture_output=True, timeout=30)


if __name__ == "__main__":
    run_tests([test_run_not_recorded_is_not_started])
