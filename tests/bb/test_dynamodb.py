"""DynamoDB under the API, against dynalite behind the strict peer: replication
lag per ordered pair from heartbeats (delay, pause, resume), the data-safety
gate on failover, backups with retention, PITR kept on, and faults."""
import json
import os
import subprocess
import time

from harness import (REGIONCTL, TEST_KEY, DdbPeer, Daemon, Nginx, Route53Peer, check, check_eq, eventually,
                     free_port, run_tests, tmpdir, token_file, wait_for, weighted_zone)

REGIONS = ["us-east-1", "eu-west-1", "ap-southeast-2"]
TOKENS, _ = token_file()
os.environ["REGIOND_TOKEN_FILE"] = TOKENS
ENV = {"AWS_ACCESS_KEY_ID": TEST_KEY["access_key"], "AWS_SECRET_ACCESS_KEY": TEST_KEY["secret_key"]}


def config(peer, ports, dynamodb=None, **extra):
    cfg = {
        "controller": {"id": "ctl-ddb", "listen": f"127.0.0.1:{free_port()}", "state_dir": tmpdir(),
                       "log_level": "debug", "token_file": TOKENS},
        "probe_defaults": {"interval_ms": 300, "timeout_ms": 250, "rise": 2, "fall": 2},
        "aws": {"endpoints": {f"dynamodb.{r}": peer.url(r) for r in REGIONS},
                "retry": {"base_ms": 50, "max_ms": 400, "max_attempts": 6}},
        "dynamodb": dict({"table": "orders", "describe_interval_s": 1, "rpo_ms": 1500, "stale_after_s": 3,
                          "heartbeat": {"interval_ms": 300, "read_interval_ms": 100}}, **(dynamodb or {})),
        "regions": [{"name": r, "api": [{"url": f"http://127.0.0.1:{p}/health"}]} for r, p in zip(REGIONS, ports)],
    }
    cfg.update(extra)
    return cfg


def pairs(d):
    return {(p["from"], p["to"]): p for p in d.status()["dynamodb"]["pairs"]}


def replica(d, region):
    return next(r for r in d.status()["dynamodb"]["regions"] if r["region"] == region)


def test_lag():
    ports = [free_port() for _ in REGIONS]
    ngx = Nginx(ports)
    peer = DdbPeer(REGIONS)
    d = Daemon(config(peer, ports), env=ENV)
    wait_for(lambda: all(p["samples"] >= 5 for p in pairs(d).values()), 20, "lag samples for every pair")
    # lag_ms is each pair's last sample: one read slowed by a loaded machine
    # (529 ms seen under ASan with the CPUs shared) is replaced 100 ms later,
    # so the pairs must all be under 500 ms at one reading within 10 s; a lag
    # that is wrong (a clock mixed up, a reader counting another item) never is.
    deadline = time.monotonic() + 10
    while True:
        base = pairs(d)
        worst = max(p["lag_ms"] for p in base.values())
        if worst < 500 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    check(worst < 500, f"replicator delay 0: every pair's lag small (worst {worst} ms)")
    figures = {"delay 0 ms": {f"{a}->{b}": p["lag_avg_ms"] for (a, b), p in base.items()}}

    peer.call("POST", "/_peer/replication", {"from": "us-east-1", "to": "eu-west-1", "delay_ms": 2000})
    time.sleep(5)
    p = pairs(d)
    lag = p[("us-east-1", "eu-west-1")]["lag_ms"]
    check(1800 <= lag <= 2700, f"2 s delay: us-east-1 -> eu-west-1 lag near 2 s ({lag} ms)")
    deadline = time.monotonic() + 10   # as above: a last sample slowed by load is replaced
    while True:
        others = [v["lag_ms"] for k, v in pairs(d).items() if k != ("us-east-1", "eu-west-1")]
        if max(others) < 600 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    check(max(others) < 600, f"other pairs unaffected ({max(others)} ms)")
    figures["delay 2000 ms us-east-1->eu-west-1"] = lag

    peer.call("POST", "/_peer/replication", {"from": "us-east-1", "to": "eu-west-1", "delay_ms": 0})
    peer.call("POST", "/_peer/replication", {"from": "ap-southeast-2", "to": "eu-west-1", "paused": True})
    r = wait_for(lambda: (lambda x: x if x["finding"] else None)(replica(d, "eu-west-1")), 10, "a replica finding")
    check("replication from ap-southeast-2 stalled" in r["finding"], f"paused pair is a finding: {r['finding']}")
    check(r["lag_in_ms"] >= 3000, f"lag into eu-west-1 grows while paused ({r['lag_in_ms']} ms)")
    reg = wait_for(lambda: (lambda x: x if x["state"] == "degraded" else None)(d.region("eu-west-1")), 5,
                   "finding marks the region degraded")
    check(reg["reason"].startswith("data: "), f"region reason names the data finding: {reg['reason']}")
    peer.call("POST", "/_peer/replication", {"from": "ap-southeast-2", "to": "eu-west-1", "paused": False})
    eventually(lambda: not replica(d, "eu-west-1")["finding"], 10, "resumed: the finding cleared")
    eventually(lambda: d.region("eu-west-1")["state"] == "up", 5, "resumed: the region is up again")
    m = d.get("/metrics")[1].decode()
    check('regiond_ddb_replication_lag_seconds_count{from="us-east-1",to="eu-west-1"}' in m,
          "lag histogram per ordered pair in /metrics")
    r = subprocess.run([REGIONCTL, "--api", d.base, "replicas"], capture_output=True, text=True, timeout=10)
    check(r.returncode == 0 and "us-east-1" in r.stdout and "LAG ms" in r.stdout, "regionctl replicas")
    print("lag figures observed:", json.dumps(figures))
    check_eq(d.stop(), 0, "clean exit")
    peer.stop()
    ngx.stop()


def test_gate():
    ports = [free_port() for _ in REGIONS]
    ngx = Nginx(ports)
    peer = DdbPeer(REGIONS)
    name = "api.example.test."
    ips = ["127.0.0.11", "127.0.0.12", "127.0.0.13"]
    r53 = Route53Peer(weighted_zone(name, {r: (ip, 100) for r, ip in zip(REGIONS, ips)}), pending_ms=300)
    cfg = config(peer, ports, dynamodb={"finding": "none"})
    cfg["aws"]["endpoints"]["route53"] = r53.url
    cfg["route53"] = {"hosted_zone_id": r53.zone_id, "record_name": name, "record_type": "A"}
    cfg["decision"] = {"settle_ms": 300}
    for reg, ip in zip(cfg["regions"], ips):
        reg["route53"] = {"value": ip}
    d = Daemon(cfg, env=ENV)
    for r in REGIONS:
        d.wait_target(r, "up")
    wait_for(lambda: all(p["samples"] >= 3 for p in pairs(d).values()), 20, "lag samples")
    for src in ("us-east-1", "eu-west-1"):
        peer.call("POST", "/_peer/replication", {"from": src, "to": "ap-southeast-2", "delay_ms": 3000})
    eventually(lambda: not replica(d, "ap-southeast-2")["gate_ok"], 10,
               "ap-southeast-2 lags past the RPO: its gate is shut")
    time.sleep(0.5)
    check_eq(len(r53.changes()), 0, "a lagging region keeps its own traffic while nothing fails")
    ngx.down(ports[0])
    wait_for(lambda: r53.weights(name)["us-east-1"] == 0, 10, "us-east-1 drained")
    w = r53.weights(name)
    check_eq(w, {"us-east-1": 0, "eu-west-1": 100, "ap-southeast-2": 0},
             "region 1's failure moves traffic to region 2 only")
    dec = json.loads(d.get("/v1/decisions")[1])
    check(any("data gate" in x["reason"] for x in dec), "the decision names the data gate")
    check_eq(d.stop(), 0, "clean exit")
    r53.stop()
    peer.stop()
    ngx.stop()


if __name__ == "__main__":
    run_tests([test_lag, test_gate])
