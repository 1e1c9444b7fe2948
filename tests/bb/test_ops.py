"""What an operator touches: regionctl over a unix-socket listener, a secret
header from a systemd credential that reaches the target but never a log line,
the status page or /metrics, journald priority prefixes under systemd."""
import json
import os
import re
import subprocess

from harness import (REGIOND, REGIONCTL, Daemon, Nginx, check, check_eq, free_port, make_config, run_tests,
                     tmpdir, token_file)

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
    # JOURNAL_STREAM names the log file regiond's stderr is (sd-daemon's
    # rule); no journal socket here, so each line goes to stderr prefixed.
    ddir = tmpdir("regiond-")
    open(os.path.join(ddir, "regiond.log"), "ab").close()
    st = os.stat(os.path.join(ddir, "regiond.log"))
    d = Daemon(cfg, dir=ddir, env={"CREDENTIALS_DIRECTORY": creds,
                                   "JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"})
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

    # regionctl events --follow streams until stopped; check-config runs regiond's check.
    fp = subprocess.Popen([REGIONCTL, "--socket", sock, "events", "--follow"], stdout=subprocess.PIPE, text=True)
    first = fp.stdout.readline() + fp.stdout.readline()
    fp.terminate()
    fp.wait(timeout=5)
    check("retry:" in first or "id:" in first, f"regionctl events --follow streams ({first.strip()[:60]})")
    r = subprocess.run([REGIONCTL, "check-config", d.cfg_path], capture_output=True, text=True, timeout=10,
                       env=dict(os.environ, CREDENTIALS_DIRECTORY=creds))
    check(r.returncode == 0 and "ok (2 regions" in r.stdout, f"regionctl check-config ({r.stdout.strip()})")
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


def test_tokens_and_audit():
    p = free_port()
    ngx = Nginx([p])
    path, toks = token_file([("alice", None, False), ("wall", None, True)])
    cfg = make_config([{"name": "r1", "api": [{"url": f"http://127.0.0.1:{p}/health"}]},
                       {"name": "r2", "api": [{"url": f"http://127.0.0.1:{p}/health"}]}], tmpdir(), free_port())
    cfg["controller"]["token_file"] = path
    d = Daemon(cfg)
    body = json.dumps({"region": "r1", "action": "drain", "duration_s": 60}).encode()

    def post(headers):
        import urllib.request, urllib.error
        req = urllib.request.Request(d.base + "/v1/overrides", data=body, method="POST",
                                     headers=dict({"Content-Type": "application/json"}, **headers))
        try:
            with urllib.request.urlopen(req, timeout=5) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"{}")

    check_eq(post({})[0], 401, "no token -> 401")
    check_eq(post({"Authorization": "Bearer " + "x" * 40})[0], 401, "wrong token -> 401")
    code, doc = post({"Authorization": "Bearer " + toks["wall"]})
    check_eq(code, 403, "read-only token -> 403")
    code, doc = post({"Authorization": "Bearer " + toks["alice"]})
    check_eq(code, 200, f"write token -> 200 ({doc})")
    check_eq(d.get("/v1/status")[0], 200, "read endpoints stay open on loopback")
    audit = [json.loads(l) for l in open(os.path.join(cfg["controller"]["state_dir"], "audit.log"))]
    check_eq([(a["who"], a["status"]) for a in audit], [("-", 401), ("-", 401), ("wall", 403), ("alice", 200)],
             "audit log: who and result of each action")
    check(all(toks["alice"] not in l and toks["wall"] not in l for l in open(d.log_path)), "tokens never logged")
    check_eq(d.stop(), 0, "clean exit")

    # No token file: control endpoints are off.
    cfg2 = json.loads(json.dumps(cfg))
    del cfg2["controller"]["token_file"]
    cfg2["controller"]["state_dir"] = tmpdir()
    d = Daemon(cfg2)
    code, doc = post({"Authorization": "Bearer " + toks["alice"]})
    check(code == 403 and "token_file" in doc.get("error", ""), f"no token file -> 403 with a clear message ({doc})")
    check_eq(d.stop(), 0, "clean exit")

    # A token file readable by others: the daemon refuses to start.
    bad, _ = token_file(mode=0o644)
    cfg["controller"]["token_file"] = bad
    cf = os.path.join(tmpdir(), "c.json")
    with open(cf, "w") as f:
        json.dump(cfg, f)
    r = subprocess.run([REGIOND, "--config", cf], capture_output=True, text=True, timeout=10)
    check(r.returncode != 0 and "readable by group or others" in r.stderr and bad in r.stderr,
          f"world-readable token file refused: {r.stderr.strip()[:160]}")
    ngx.stop()


if __name__ == "__main__":
    run_tests([test_unix_socket_secret_and_journal, test_tokens_and_audit])
