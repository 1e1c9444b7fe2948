"""Secrets never leave the process: one run that uses every kind of secret
(an AWS secret key and session token from the environment, signed against
the strict Route 53 peer; an API bearer token used by regionctl for a drain;
a probe header secret read from a file), then every place the daemon writes
or answers is searched for each secret value: its log (stdout and stderr),
/v1/status, /metrics, /v1/overrides, the full /v1/events ring, every file in
state_dir, regionctl's output.  Then the same daemon killed by SIGABRT and
SIGSEGV (under ASan too, when REGIOND_BIN is the sanitizer build): the crash
output holds no secret either."""
import json
import os
import secrets
import signal
import subprocess
import time

from harness import (REGIOND, REGIONCTL, Daemon, Nginx, Route53Peer, check, check_eq, events_ring, free_port, run_tests,
                     stop, tmpdir, token_file, wait_for, weighted_zone)

NAME = "api.example.test."
REGIONS = ["us-east-1", "eu-west-1", "ap-southeast-2"]
IPS = ["127.0.0.11", "127.0.0.12", "127.0.0.13"]
HEADER_SECRET = "s3cret-value-42"        # what harness.Nginx's /secure wants
SESSION = {"access_key": "ASIAREGIONDSESSION01",
           "secret_key": "Sess+ion/" + secrets.token_hex(16),
           "token": "IQoJb3JpZ2luX2VjE" + secrets.token_hex(40) + "/+="}


def state_files(d):
    out = {}
    for root, _, files in os.walk(d):
        for f in files:
            p = os.path.join(root, f)
            with open(p, "rb") as fh:
                out[os.path.relpath(p, d)] = fh.read().decode(errors="replace")
    return out


def setup():
    ports = [free_port() for _ in REGIONS]
    ngx = Nginx(ports)
    peer = Route53Peer(weighted_zone(NAME, {r: (ip, 100) for r, ip in zip(REGIONS, IPS)}),
                       creds=(SESSION,), pending_ms=300)
    base = tmpdir("secrets-")
    hdr = os.path.join(base, "api-key")
    with open(hdr, "w") as f:
        f.write(HEADER_SECRET + "\n")
    os.chmod(hdr, 0o600)
    tokens, toks = token_file([("ops", None, False)])
    regions = [{"name": r, "api": [{"url": f"http://127.0.0.1:{p}/secure",
                                    "headers": {"x-api-key": {"file": hdr}}}],
                "route53": {"value": ip, "weight": 100}} for r, p, ip in zip(REGIONS, ports, IPS)]
    cfg = {
        "controller": {"id": "ctl-secrets", "listen": f"127.0.0.1:{free_port()}", "state_dir": tmpdir(),
                       "log_level": "debug", "token_file": tokens},
        "probe_defaults": {"interval_ms": 300, "timeout_ms": 250, "rise": 2, "fall": 2},
        "aws": {"endpoints": {"route53": peer.url}, "retry": {"base_ms": 50, "max_ms": 1000}},
        "route53": {"hosted_zone_id": peer.zone_id, "record_name": NAME, "record_type": "A", "ttl": 60,
                    "name_servers": [f"127.0.0.1:{peer.dns_port}"],
                    "dns_check": {"consecutive": 4, "interval_ms": 50, "timeout_s": 20}},
        "decision": {"hold_down_s": 3, "settle_ms": 400},
        "regions": regions,
    }
    env = {"AWS_ACCESS_KEY_ID": SESSION["access_key"], "AWS_SECRET_ACCESS_KEY": SESSION["secret_key"],
           "AWS_SESSION_TOKEN": SESSION["token"],
           "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent", "AWS_CONFIG_FILE": "/nonexistent"}
    return ngx, peer, cfg, env, tokens, toks


def leaks(text, secret_values):
    return [n for n, v in secret_values.items() if v in text]


def test_every_secret_kind():
    ngx, peer, cfg, env, tokens, toks = setup()
    values = {"aws secret key": SESSION["secret_key"], "aws session token": SESSION["token"],
              "bearer token": toks["ops"], "probe header secret": HEADER_SECRET}
    d = Daemon(cfg, env=env)
    for r in REGIONS:
        t = d.wait_target(r, "up")
    check_eq(t["reason"], "ok", "header secret from a file reaches the target (401 otherwise)")
    live = lambda: {w["region"]: w["live"] for w in d.status()["failover"]["weights"]}
    wait_for(lambda: all(v == 100 for v in live().values()), 10, "live weights read with session credentials")
    ctl_env = dict(os.environ, REGIOND_TOKEN_FILE=tokens)
    r = subprocess.run([REGIONCTL, "--api", d.base, "drain", "eu-west-1", "--for", "10m", "--note", "secrets"],
                       capture_output=True, text=True, timeout=10, env=ctl_env)
    check_eq(r.returncode, 0, f"regionctl drain with the bearer token ({r.stdout.strip()}{r.stderr.strip()})")
    ctl_out = r.stdout + r.stderr
    wait_for(lambda: peer.weights(NAME)["eu-west-1"] == 0, 10, "drain written to Route 53")
    st = peer.stats()
    signed = [x for x in st["requests"] if x.get("status") == 200]
    check(len(signed) > 0 and all(x.get("status") == 200 for x in st["requests"]
                                  if x["op"] == "ChangeResourceRecordSets"),
          f"Route 53 accepted requests signed with the session token ({len(signed)} requests)")
    r = subprocess.run([REGIONCTL, "--api", d.base, "status"], capture_output=True, text=True, timeout=10,
                       env=ctl_env)
    ctl_out += r.stdout + r.stderr
    # A wrong token is refused and audited, and the attempt logs no token
    # either.  The request is a routed one (DELETE of an existing region's
    # override), so only the token check can refuse it.
    wrong = "Bearer " + "f" * 40
    code, body = d.get("/v1/overrides/eu-west-1", headers={"Authorization": wrong}, method="DELETE")
    check_eq(code, 401, f"a wrong bearer token gets nowhere ({body[:120]!r})")
    code, body = d.get("/v1/overrides/eu-west-1", method="DELETE")
    check_eq(code, 401, f"no bearer token gets nowhere ({body[:120]!r})")
    time.sleep(1.0)
    check_eq(peer.weights(NAME)["eu-west-1"], 0, "the refused DELETE left the drain in place at Route 53")
    audit = [json.loads(x) for x in open(os.path.join(cfg["controller"]["state_dir"], "audit.log"))
             if x.strip()]
    refused = [a for a in audit if a.get("status") == 401 and "/v1/overrides/eu-west-1" in a.get("what", "")
               and a.get("who") == "-"]
    check_eq(len(refused), 2, f"both refused attempts are in the audit log ({audit[-3:]})")
    check(not any("f" * 40 in json.dumps(a) for a in audit), "the audit log holds no presented token")
    places = {
        "/v1/status": d.get("/v1/status")[1].decode(errors="replace"),
        "/metrics": d.get("/metrics")[1].decode(errors="replace"),
        "/v1/overrides": d.get("/v1/overrides")[1].decode(errors="replace"),
        "/v1/events ring": events_ring(d.port),
        "regionctl output": ctl_out,
    }
    check("event: " in places["/v1/events ring"] and "override" in places["/v1/events ring"],
          f"events ring read ({places['/v1/events ring'].count('event: ')} events)")
    check_eq(d.stop(), 0, "clean exit")
    places["daemon log (stdout+stderr)"] = d.read_log()
    files = state_files(cfg["controller"]["state_dir"])
    check("audit.log" in files and "control.json" in files, f"state files present: {sorted(files)}")
    for name, text in files.items():
        places["state_dir/" + name] = text
    for where, text in places.items():
        found = leaks(text, values)
        check(not found, f"no secret in {where} ({len(text)} bytes){': LEAKED ' + ', '.join(found) if found else ''}")
    # The search itself can fail: a planted value is found.
    check(leaks("x" + HEADER_SECRET + "y", values) == ["probe header secret"], "the search finds a planted secret")
    peer.stop()
    ngx.stop()


def test_crash_output():
    """SIGABRT and SIGSEGV: whatever the runtime prints (ASan's report under
    the sanitizer build) names no secret; the environment is not dumped."""
    ngx, peer, cfg, env, tokens, toks = setup()
    values = {"aws secret key": SESSION["secret_key"], "aws session token": SESSION["token"],
              "bearer token": toks["ops"], "probe header secret": HEADER_SECRET}
    asan = "asan" in os.path.abspath(REGIOND)
    for sig in (signal.SIGABRT, signal.SIGSEGV):
        cfg["controller"]["state_dir"] = tmpdir()
        cfg["controller"]["listen"] = f"127.0.0.1:{free_port()}"
        d = Daemon(cfg, env=env)
        d.wait_target(REGIONS[0], "up")
        d.proc.send_signal(sig)
        try:
            d.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            pass
        rc = d.proc.returncode
        stop(d.proc)
        d.log.close()
        check(rc is not None and rc != 0, f"{sig.name}: daemon died (rc {rc}{', ASan build' if asan else ''})")
        out = d.read_log()
        tail = out.splitlines()[-3:]
        found = leaks(out, values)
        check(not found, f"{sig.name}: crash output ({len(out)} bytes) holds no secret"
                         f"{': LEAKED ' + ', '.join(found) if found else ''}; tail: {tail}")
        for name, text in state_files(cfg["controller"]["state_dir"]).items():
            check(not leaks(text, values), f"{sig.name}: no secret in state_dir/{name}")
    peer.stop()
    ngx.stop()


if __name__ == "__main__":
    run_tests([test_every_secret_kind, test_crash_output])
