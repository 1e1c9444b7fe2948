"""Route 53 failover under faults and operators: throttling and the client
rate limit, a record changed behind regiond's back (drift, no blind
overwrite), kill -9 in the middle of a change, wrong and temporary
credentials, overrides and freeze (and both across a restart)."""
import json
import signal
import subprocess
import time

import boto_kit
from harness import (REGIONCTL, Daemon, check, check_eq, eventually, run_tests, stop, tmpdir, wait_for)
from test_failover import NAME, setup, wait_all_up


def test_throttling_and_rate():
    ngx, ports, peer, cfg, d, env = setup()
    check_eq(d.stop(), 0, "first daemon stopped")
    cfg["aws"] = {"endpoints": {"route53": peer.url}, "route53_rate_per_s": 2, "route53_burst": 2,
                  "retry": {"base_ms": 100, "max_ms": 800, "max_attempts": 8}}
    cfg["controller"]["state_dir"] = tmpdir()
    d = Daemon(cfg, env=env)
    wait_all_up(d)
    peer.call("POST", "/_peer/reset-stats", {})
    peer.inject(throttle=3, ops=["ChangeResourceRecordSets"])
    ngx.down(ports[1])
    wait_for(lambda: peer.weights(NAME)["eu-west-1"] == 0, 20, "drain lands after throttling")
    # The peer applies a batch, answers, then records the request: wait for
    # the record of the answer that landed it.
    st = wait_for(lambda: (lambda s: s if len([r for r in s["requests"] if r["op"] == "ChangeResourceRecordSets"])
                           >= 4 else None)(peer.stats()), 5, "the peer to record the fourth attempt")
    ch = [r for r in st["requests"] if r["op"] == "ChangeResourceRecordSets"]
    check_eq([r["status"] for r in ch], [400, 400, 400, 200], "three throttled attempts, then success")
    gaps = [b["t"] - a["t"] for a, b in zip(ch, ch[1:])]
    check(all(g > 0 for g in gaps), f"retries spaced by backoff ({[round(g, 3) for g in gaps]})")
    check(st["max_rate_1s"] <= 4, f"never above rate 2/s + burst 2 in any second (peer saw {st['max_rate_1s']})")
    m = d.get("/metrics")[1].decode()
    thr = [l for l in m.splitlines() if l.startswith('regiond_aws_throttled_total{service="route53"}')]
    check(thr and float(thr[0].split()[1]) >= 3, "throttling counted in /metrics")
    check_eq(d.stop(), 0, "clean exit")
    peer.stop()
    ngx.stop()


def test_drift_no_blind_overwrite():
    ngx, ports, peer, cfg, d, env = setup()
    wait_all_up(d)
    # Someone changes eu-west-1's weight (the aws CLI's request, botocore in-process).
    batch = {"Changes": [{"Action": "UPSERT", "ResourceRecordSet": {
        "Name": NAME, "Type": "A", "SetIdentifier": "eu-west-1", "Weight": 50, "TTL": 60,
        "ResourceRecords": [{"Value": "127.0.0.12"}]}}]}
    boto_kit.r53_change(peer, batch)
    peer.call("POST", "/_peer/reset-stats", {})
    ngx.down(ports[1])
    wait_for(lambda: "event=route53_drift" in d.read_log(), 15, "drift reported")
    # The group is read right before a batch: the drift is seen there and no
    # batch goes out on the old view (a batch on it would fail its exact DELETE).
    reqs = [r for r in peer.stats()["requests"] if r["op"] == "ChangeResourceRecordSets"]
    check(all(r["status"] != 200 for r in reqs),
          f"no batch of ours landed on the drifted record ({[(r['status'], r.get('error')) for r in reqs]})")
    time.sleep(1.5)
    check_eq(peer.weights(NAME)["eu-west-1"], 50, "no blind overwrite of the operator's weight")
    f = d.status()["failover"]
    w = {x["region"]: x for x in f["weights"]}
    check(w["eu-west-1"]["drifted"] is True, "status marks the region drifted")
    check_eq(w["eu-west-1"]["live"], 50, "status shows the live weight read back")
    # The operator accepts: release hands the record back to regiond.
    r = subprocess.run([REGIONCTL, "--api", d.base, "release", "eu-west-1"], capture_output=True, text=True, timeout=10)
    check_eq(r.returncode, 0, f"regionctl release ({r.stdout.strip()} {r.stderr.strip()})")
    eventually(lambda: peer.weights(NAME)["eu-west-1"] == 0, 15, "released region drained by the next decision")
    check_eq(d.stop(), 0, "clean exit")
    peer.stop()
    ngx.stop()


def test_kill9_mid_change():
    ngx, ports, peer, cfg, d, env = setup()
    wait_all_up(d)
    peer.inject(slow_after=1, slow_after_ms=4000, ops=["ChangeResourceRecordSets"])
    ngx.down(ports[1])
    wait_for(lambda: len(peer.changes()) == 1, 10, "the batch reached the peer")
    d.proc.send_signal(signal.SIGKILL)
    d.proc.wait(timeout=5)
    stop(d.proc)
    d.log.close()
    check_eq(peer.weights(NAME)["eu-west-1"], 0, "the change landed at the peer before the kill")
    d2 = Daemon(cfg, dir=d.dir, env=env)
    eventually(lambda: "event=route53_change_landed" in d2.read_log(), 10,
               "restart: the change in flight is recognised as landed")
    d2.wait_target("eu-west-1", "down")
    time.sleep(2)
    check_eq(len(peer.changes()), 1, "the change is not repeated after the restart")
    check_eq(peer.weights(NAME), {"us-east-1": 100, "eu-west-1": 0, "ap-southeast-2": 100}, "nothing lost")
    check_eq(d2.stop(), 0, "clean exit")
    peer.stop()
    ngx.stop()


def test_credentials():
    ngx, ports, peer, cfg, d, env = setup()
    wait_all_up(d)
    check_eq(d.stop(), 0, "first daemon stopped")
    # Wrong secret: a clear reason in status; the secret never in the log.
    bad = dict(env, AWS_SECRET_ACCESS_KEY="wrong/Secret0Value0That0Must0Never0Be0Logged")
    cfg["controller"]["state_dir"] = tmpdir()
    d = Daemon(cfg, env=bad)
    f = wait_for(lambda: (lambda f: f if f["last_error"] else None)(d.status()["failover"]), 10, "an error in status")
    check("SignatureDoesNotMatch" in f["last_error"], f"status names the AWS error: {f['last_error'][:120]}")
    check_eq(d.stop(), 0, "clean exit")
    check("wrong/Secret0Value0That0Must0Never0Be0Logged" not in d.read_log(), "secret never logged")
    # IMDSv2, with credentials that expire quickly: refreshed, calls keep working.
    peer.call("POST", "/_peer/config", {"cred_ttl_s": 6})
    imds = {"AWS_EC2_METADATA_SERVICE_ENDPOINT": peer.url, "HOME": tmpdir()}   # no credentials file
    cfg["controller"]["state_dir"] = tmpdir()
    cfg["route53"]["reconcile_s"] = 5
    d = Daemon(cfg, env=imds)
    wait_all_up(d)
    ngx.down(ports[1])
    wait_for(lambda: peer.weights(NAME)["eu-west-1"] == 0, 15, "drain with IMDSv2 credentials")
    time.sleep(7)   # past the credentials' expiry: the reconcile read needs fresh ones
    st = peer.stats()
    check(st["imds_fetches"] >= 2, f"IMDS credentials refreshed ({st['imds_fetches']} fetches)")
    expired = [r for r in st["requests"] if r.get("error") == "ExpiredToken"]
    check_eq(len(expired), 0, "no request sent with expired credentials")
    check_eq(d.stop(), 0, "clean exit")
    # Container credentials.
    ngx.down(ports[1], False)
    peer.call("POST", "/_peer/reset-stats", {})
    cont = {"AWS_CONTAINER_CREDENTIALS_FULL_URI": peer.url + "/v2/credentials/regiond",
            "AWS_EC2_METADATA_DISABLED": "true", "HOME": tmpdir()}
    # Same state_dir as the daemon that drained eu-west-1: its 0 is regiond's
    # own change, not drift (a first start with no saved state would leave a
    # live weight that differs from the configured one alone, as drift).
    d = Daemon(cfg, env=cont)
    wait_for(lambda: peer.weights(NAME)["eu-west-1"] == 100, 20, "restore with container credentials")
    check(peer.stats()["container_fetches"] >= 1, "container endpoint used")
    check_eq(d.stop(), 0, "clean exit")
    peer.stop()
    ngx.stop()


def test_overrides_and_freeze():
    ngx, ports, peer, cfg, d, env = setup(decision={"hold_down_s": 60, "min_healthy_regions": 2})
    wait_all_up(d)
    ctl = [REGIONCTL, "--api", d.base]

    def run(*args):
        return subprocess.run(ctl + list(args), capture_output=True, text=True, timeout=10)

    r = run("pin", "eu-west-1", "--weight", "50", "--for", "10m")
    check_eq(r.returncode, 0, f"pin accepted ({r.stdout.strip()}{r.stderr.strip()})")
    wait_for(lambda: peer.weights(NAME)["eu-west-1"] == 50, 5, "pin applied")
    r = run("drain", "us-east-1", "--for", "10m", "--note", "game day")
    check_eq(r.returncode, 0, f"drain accepted ({r.stdout.strip()}{r.stderr.strip()})")
    t0 = time.monotonic()
    wait_for(lambda: peer.weights(NAME)["us-east-1"] == 0, 5, "drain applied")
    check(time.monotonic() - t0 < 3, "drain applied at once, inside the 60 s hold-down of the pin")
    r = run("drain", "ap-southeast-2", "--for", "10m")
    check(r.returncode != 0 and "min_healthy_regions" in r.stderr,
          f"a drain that breaks min_healthy_regions is refused, rule named: {r.stderr.strip()}")
    ov = json.loads(d.get("/v1/overrides")[1])
    check_eq(sorted((o["region"], o["action"]) for o in ov), [("eu-west-1", "pin"), ("us-east-1", "drain")],
             "overrides listed")
    check_eq(run("freeze", "--note", "incident 42").returncode, 0, "freeze")
    n = len(peer.changes())
    check_eq(run("pin", "ap-southeast-2", "--weight", "30", "--for", "10m").returncode, 0, "pin while frozen")
    f = wait_for(lambda: (lambda f: f if f["applies"] == "frozen" else None)(d.status()["failover"]), 5,
                 "status shows what would be done")
    w = {x["region"]: x for x in f["weights"]}
    check_eq((w["ap-southeast-2"]["desired"], w["ap-southeast-2"]["live"]), (30, 100), "desired shown, not applied")
    time.sleep(1.5)
    check_eq(len(peer.changes()), n, "frozen: no write")
    check_eq(d.stop(), 0, "clean exit")

    d = Daemon(cfg, dir=d.dir, env=env)
    eventually(lambda: d.status()["failover"]["frozen"], 5, "freeze survived the restart")
    ov = json.loads(d.get("/v1/overrides")[1])
    check_eq(sorted(o["region"] for o in ov), ["ap-southeast-2", "eu-west-1", "us-east-1"],
             "overrides survive a restart")
    time.sleep(1.5)
    check_eq(len(peer.changes()), n, "still no write after the restart while frozen")
    r = subprocess.run([REGIONCTL, "--api", d.base, "unfreeze"], capture_output=True, text=True, timeout=10)
    check_eq(r.returncode, 0, "unfreeze")
    eventually(lambda: peer.weights(NAME)["ap-southeast-2"] == 30, 10, "unfreeze applies the decision that waited")
    check_eq(d.stop(), 0, "clean exit")
    peer.stop()
    ngx.stop()


if __name__ == "__main__":
    run_tests([test_throttling_and_rate, test_drift_no_blind_overwrite, test_kill9_mid_change,
               test_credentials, test_overrides_and_freeze])
