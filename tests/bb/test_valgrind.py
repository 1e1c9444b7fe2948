"""The daemon once under valgrind (memcheck): nginx regions, the Route 53 peer,
the DynamoDB peer (heartbeat, a backup schedule seeded to run once at
start-up), a drain through regionctl, a config reload (SIGHUP), an SSE
client and /metrics scrapes, then SIGTERM.  Exit 0 means no definite leak
and no memory error (valgrind exits 99 on either).  Always the normal build:
under the ASan pass (REGIOND_BIN under build-asan) the sibling <src>/build/
regiond is used, and its absence is a failure with a clear message."""
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time

import harness
from harness import (REGIONCTL, SRC, TEST_KEY, DdbPeer, Nginx, Route53Peer, check, check_eq, eventually, free_port,
                     run_tests, spawn, stop, tmpdir, token_file, wait_for, weighted_zone)

NAME = "api.example.test."
TOKENS, _ = token_file()
os.environ["REGIOND_TOKEN_FILE"] = TOKENS
REGIONS = ["us-east-1", "eu-west-1", "ap-southeast-2"]
IPS = ["127.0.0.11", "127.0.0.12", "127.0.0.13"]
ENV = {"AWS_ACCESS_KEY_ID": TEST_KEY["access_key"], "AWS_SECRET_ACCESS_KEY": TEST_KEY["secret_key"],
       "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent", "AWS_CONFIG_FILE": "/nonexistent"}


def regiond_binary():
    b = harness.REGIOND
    if "asan" in b:
        b = os.path.join(SRC, "build", "regiond")
        if not os.path.exists(b):
            raise AssertionError(f"REGIOND_BIN is an ASan build and the normal build {b} is missing: valgrind "
                                 "cannot run an ASan binary; build it first (scripts/build.sh build)")
    return b


def get(base, path, headers=None, timeout=30):
    import urllib.error
    import urllib.request
    req = urllib.request.Request(base + path, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def test_valgrind():
    binary = regiond_binary()
    print(f"valgrind on {binary}", flush=True)
    ports = [free_port() for _ in REGIONS]
    ngx = Nginx(ports)
    r53 = Route53Peer(weighted_zone(NAME, {r: (ip, 100) for r, ip in zip(REGIONS, IPS)}), pending_ms=300)
    ddb = DdbPeer(REGIONS, backup_ms=500)
    sd, dir = tmpdir(), tmpdir("regiond-vg-")
    endpoints = {f"dynamodb.{r}": ddb.url(r) for r in REGIONS}
    endpoints["route53"] = r53.url
    port = free_port()
    cfg = {
        "controller": {"id": "ctl-vg", "listen": f"127.0.0.1:{port}", "state_dir": sd, "log_level": "debug",
                       "token_file": TOKENS},
        "probe_defaults": {"interval_ms": 1000, "timeout_ms": 900, "rise": 1, "fall": 1},
        "aws": {"endpoints": endpoints, "retry": {"base_ms": 200, "max_ms": 2000, "max_attempts": 6}},
        "route53": {"hosted_zone_id": r53.zone_id, "record_name": NAME, "record_type": "A", "ttl": 60,
                    "name_servers": [f"127.0.0.1:{r53.dns_port}"],
                    "dns_check": {"consecutive": 2, "interval_ms": 200, "timeout_s": 20}},
        "decision": {"hold_down_s": 0, "settle_ms": 0, "max_changes": 1000},
        "dynamodb": {"table": "orders", "describe_interval_s": 2, "rpo_ms": 60000, "stale_after_s": 30,
                     "heartbeat": {"interval_ms": 1000, "read_interval_ms": 500},
                     "backups": [{"name": "nightly", "regions": ["us-east-1"], "schedule": "0 3 * * *",
                                  "keep_last": 2, "name_template": "regiond-{table}-{schedule}.{utc:%Y%m%dT%H%M%SZ}"}]},
        "regions": [{"name": r, "api": [{"url": f"http://127.0.0.1:{p}/health"}],
                     "route53": {"value": ip, "weight": 100}} for r, p, ip in zip(REGIONS, ports, IPS)],
    }
    with open(os.path.join(sd, "backups.json"), "w") as f:   # missed a run: one at start-up
        json.dump({"jobs": {"nightly@us-east-1": {"last_run_s": int(time.time()) - 86400 - 60}}, "ours": []}, f)
    cfg_path, log_path = os.path.join(dir, "regiond.json"), os.path.join(dir, "regiond.log")
    with open(cfg_path, "w") as f:
        json.dump(cfg, f)
    vg_log = os.path.join(dir, "valgrind.log")
    log = open(log_path, "ab")
    p = spawn("regiond-valgrind", ["valgrind", "--leak-check=full", "--errors-for-leak-kinds=definite",
                                   "--error-exitcode=99", "--track-fds=no", f"--log-file={vg_log}",
                                   binary, "--config", cfg_path], stdout=log, stderr=log, env=dict(os.environ, **ENV))
    base = f"http://127.0.0.1:{port}"
    t0 = time.monotonic()
    wait_for(lambda: p.poll() is None and get(base, "/healthz")[0] == 200, 60, "regiond under valgrind /healthz",
             interval=0.5)
    print(f"up under valgrind in {time.monotonic() - t0:.1f} s", flush=True)

    # An SSE client for the whole run.
    sse = {"n": 0}

    def reader():
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=120)
            s.sendall(b"GET /v1/events HTTP/1.1\r\nHost: localhost\r\n\r\n")
            for line in s.makefile("rb"):
                if line.startswith(b"id: "):
                    sse["n"] += 1
        except OSError:
            pass
    th = threading.Thread(target=reader, daemon=True)
    th.start()

    def status():
        return json.loads(get(base, "/v1/status")[1])

    wait_for(lambda: all(r["state"] == "up" for r in status()["regions"]), 40, "every region up", interval=0.5)
    eventually(lambda: (lambda j: j if j["last_result"].startswith("AVAILABLE") else None)(
        status()["dynamodb"]["backups"][0]), 60, "missed backup ran", interval=0.5,
        show=lambda job: job["last_result"][:80])
    eventually(lambda: any(x["samples"] >= 2 for x in status()["dynamodb"]["pairs"]), 60, "heartbeat lag measured",
               interval=0.5)

    # A health-driven drain and its restore.
    ngx.down(ports[2])
    eventually(lambda: r53.weights(NAME)["ap-southeast-2"] == 0, 40, "health drain applied", interval=0.5)
    ngx.down(ports[2], False)
    eventually(lambda: r53.weights(NAME)["ap-southeast-2"] == 100, 40, "restore applied", interval=0.5)

    # An operator drain via regionctl (token file), then release.
    r = subprocess.run([REGIONCTL, "--api", base, "drain", "eu-west-1", "--for", "10m", "--note", "vg"],
                       capture_output=True, text=True, timeout=60)
    check_eq(r.returncode, 0, f"regionctl drain ({r.stdout.strip()} {r.stderr.strip()})")
    wait_for(lambda: r53.weights(NAME)["eu-west-1"] == 0, 40, "operator drain lands", interval=0.5)
    r = subprocess.run([REGIONCTL, "--api", base, "release", "eu-west-1"], capture_output=True, text=True, timeout=60)
    check_eq(r.returncode, 0, "regionctl release")
    wait_for(lambda: r53.weights(NAME)["eu-west-1"] == 100, 40, "release lands", interval=0.5)

    for _ in range(3):
        code, body = get(base, "/metrics")
        check(code == 200 and b"regiond_" in body, f"/metrics scrape ({len(body)} bytes)")

    # Reload: a changed probe timeout.
    cfg["probe_defaults"]["timeout_ms"] = 800
    with open(cfg_path, "w") as f:
        json.dump(cfg, f)
    p.send_signal(signal.SIGHUP)
    eventually(lambda: b'"generation":2' in open(log_path, "rb").read(), 30, "config reloaded (generation 2)",
               interval=0.5)
    r = subprocess.run([REGIONCTL, "--api", base, "backup", "now", "orders"], capture_output=True, text=True,
                       timeout=60)
    check_eq(r.returncode, 0, "regionctl backup now")
    # Keep it busy to about a minute: scrapes, status, a flapping region.
    n, down = 0, False
    while time.monotonic() - t0 < 55:
        down = not down
        ngx.down(ports[1], down)
        get(base, "/metrics")
        status()
        n += 1
        time.sleep(2)
    ngx.down(ports[1], False)
    eventually(lambda: r53.weights(NAME)["eu-west-1"] == 100, 40,
               f"{n} rounds of flapping, scrapes and status reads, then the flapping region restored", interval=0.5)
    check(sse["n"] > 10, f"SSE client received events ({sse['n']})")

    print(f"scenario done in {time.monotonic() - t0:.1f} s; SIGTERM", flush=True)
    rc = stop(p, timeout=60)
    log.close()
    text = open(vg_log).read()
    summary = [l for l in text.splitlines() if re.search(r"(definitely|indirectly|possibly) lost:|"
                                                          r"still reachable:|ERROR SUMMARY|in use at exit|All heap blocks", l)]
    print("valgrind summary:\n" + "\n".join(summary), flush=True)
    if rc != 0:
        print("valgrind log tail:\n" + "\n".join(text.splitlines()[-120:]))
    check_eq(rc, 0, "exit 0 under valgrind (99 would mean a definite leak or a memory error)")
    freed = "All heap blocks were freed" in text
    check(freed or any("definitely lost: 0 bytes" in l for l in summary),
          "definitely lost: 0 bytes" + (" (all heap blocks freed)" if freed else ""))
    check(any("ERROR SUMMARY: 0 errors" in l for l in summary), "ERROR SUMMARY: 0 errors")
    ddb.stop()
    r53.stop()
    ngx.stop()


if __name__ == "__main__":
    run_tests([test_valgrind])
