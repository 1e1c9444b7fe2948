"""What an operator touches: regionctl over a unix-socket listener, a secret
header from a systemd credential that reaches the target but never a log line,
the status page or /metrics, journald priority prefixes under systemd."""
import json
import os
import re
import subprocess

from harness import (REGIONCTL, Daemon, Nginx, check, check_eq, free_port, make_config, run_tests,
                     tmpdir)

SECRET = "s3cret-value-42"


def test_unix_socket_secret_and_journal():
    p = free_port()
    ngx = Nginx([p])
    d0 = tmpdir()
    creds = os.path.join(d0, "creds")
    os.mkdir(creds)
    with open(os.path.join(creds, "api-key"), "w") as f:
        f.write(SECRET + "\n")
    with open(os.path.join(creds, "wrong-key"), "w") as f:
        f.write("not-the-key\n")
    sock = os.path.join(d0, "api.sock")
    regions = [
        {"name": "keyed", "api": [{"url": f"http://127.0.0.1:{p}/secure",
                                   "headers": {"x-api-key": {"credential": "api-key"}}}]},
        {"name": "badkey", "api": [{"url": f"http://127.0.0.1:{p}/secure",
                                    "headers": {"x-api-key": {"credential": "wrong-key"}}}]},
    ]
    cfg = make_config(regions, tmpdir(), 0)
    cfg["controller"]["listen"] = "unix:" + sock
    d = Daemon(cfg, env={"CREDENTIALS_DIRECTORY": creds, "JOURNAL_STREAM": "8:12345"})
    t = d.wait_target("keyed", "up")
    check_eq(t["reason"], "ok", "secret header from $CREDENTIALS_DIRECTORY reaches the target")
    check_eq(t["headers"], [{"name": "x-api-key", "secret": True, "source": "credential:api-key"}],
             "status names the secret's source only")
    t = d.wait_target("badkey", "down")
    check_eq(t["reason"], "http: status 401", "a wrong key is reported as the target's answer")

    r = subprocess.run([REGIONCTL, "--api", "unix:" + sock, "status"], capture_output=True, text=True, timeout=10)
    check_eq(r.returncode, 0, "regionctl status over the unix socket")
    check(re.search(r"^keyed\s+up\b", r.stdout, re.M) is not None, f"table shows region state:\n{r.stdout}")
    check(re.search(r"^badkey\s+down\b", r.stdout, re.M) is not None, "table shows the down region")
    check("http: status 401" in r.stdout, "table shows the reason")
    r = subprocess.run([REGIONCTL, "--api", "unix:" + sock, "status", "--json"], capture_output=True,
                       text=True, timeout=10)
    doc = json.loads(r.stdout)
    check_eq(sorted(x["name"] for x in doc["regions"]), ["badkey", "keyed"], "regionctl --json is the status document")
    r = subprocess.run([REGIONCTL, "--api", "unix:" + os.path.join(d0, "nope.sock"), "status"],
                       capture_output=True, text=True, timeout=10)
    check(r.returncode != 0 and "nope.sock" in r.stderr, f"unreachable API: clear error ({r.stderr.strip()})")

    status = d.get("/v1/status")[1].decode()
    metrics = d.get("/metrics")[1].decode()
    check_eq(d.stop(), 0, "clean exit")
    log = d.read_log()
    check(SECRET not in status, "secret absent from /v1/status")
    check(SECRET not in metrics, "secret absent from /metrics")
    check(SECRET not in log, "secret absent from the log")
    lines = [l for l in log.splitlines() if l.strip()]
    check(lines and all(re.match(r"^<[0-7]>", l) for l in lines),
          "every log line carries a journald priority prefix under systemd")
    check(not os.path.exists(sock), "unix socket removed at exit")
    ngx.stop()


if __name__ == "__main__":
    run_tests([test_unix_socket_secret_and_journal])
