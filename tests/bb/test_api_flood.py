"""Floods stay out: 3,000 unauthenticated control requests leave audit.log
almost unchanged (the first few written, the rest counted in one summary
line) and the event ring untouched, so the last 64 decisions can still be
replayed from /v1/events.  audit.log is rotated at controller.audit_max_bytes;
a failed audit write is logged and alarmed, and resolved when it works
again.  A DNS-rebinding Host is refused on the listener."""
import http.client
import json
import os
import shutil
import socket
import time

from harness import (Daemon, Nginx, check, check_eq, free_port, make_config, run_tests, tmpdir, token_file,
                     wait_for)

REGIONS = ("r1", "r2", "r3")


def start(**ctl):
    p = free_port()
    ngx = Nginx([p])
    path, toks = token_file()
    cfg = make_config([{"name": r, "api": [{"url": f"http://127.0.0.1:{p}/health"}]} for r in REGIONS], tmpdir(),
                      free_port(), decision={"dry_run": True, "hold_down_s": 0})
    cfg["controller"].update(dict({"token_file": path}, **ctl))
    d = Daemon(cfg)
    for r in REGIONS:
        d.wait_target(r, "up")
    return ngx, cfg, d, toks["ops"]


def call(d, method, path, body=None, token=None, conn=None, headers=None):
    c = conn or http.client.HTTPConnection("127.0.0.1", d.port, timeout=5)
    h = {"Content-Type": "application/json"}
    h.update(headers or {})
    if token:
        h["Authorization"] = f"Bearer {token}"
    c.request(method, path, body=json.dumps(body).encode() if body is not None else None, headers=h)
    r = c.getresponse()
    out = (r.status, r.read())
    if not conn:
        c.close()
    return out


def replay(d, wait=2.0):
    """Every event the ring still holds, from a fresh /v1/events stream."""
    s = socket.create_connection(("127.0.0.1", d.port), timeout=5)
    s.sendall(b"GET /v1/events HTTP/1.1\r\nHost: localhost\r\n\r\n")
    s.settimeout(0.3)
    data, t_end = b"", time.monotonic() + wait
    while time.monotonic() < t_end:
        try:
            b = s.recv(1 << 20)
            if not b:
                break
            data += b
        except socket.timeout:
            continue
    s.close()
    return [json.loads(l[6:]) for l in data.split(b"\n") if l.startswith(b"data: {")]


def metric(d, name):
    for line in d.get("/metrics")[1].decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def test_unauthenticated_flood():
    ngx, cfg, d, tok = start(events_ring=256)
    for w in range(1, 65):   # 64 decisions: r1 pinned to 1, 2, ... 64
        code, body = call(d, "POST", "/v1/overrides", {"region": "r1", "action": "pin", "weight": w,
                                                         "duration_s": 600}, token=tok)
        if code != 200:
            check(False, f"pin {w} accepted ({code} {body[:100]})")
    decisions = wait_for(lambda: (lambda ds: ds if len(ds) >= 64 else None)(
        [e for e in replay(d, 1.0) if e["type"] == "decision"]), 10, "64 decision events in the ring")
    last64 = [e["decision"] for e in decisions][-64:]
    audit = os.path.join(cfg["controller"]["state_dir"], "audit.log")
    size0 = os.path.getsize(audit)
    conn = http.client.HTTPConnection("127.0.0.1", d.port, timeout=5)
    t0 = time.monotonic()
    codes = {}
    for i in range(3000):
        code, _ = call(d, "POST", "/v1/overrides", {"region": "r2", "action": "drain", "duration_s": 60},
                       token=None if i % 2 else "x" * 40, conn=conn)
        codes[code] = codes.get(code, 0) + 1
    conn.close()
    print(f"3000 refused POSTs in {time.monotonic() - t0:.1f} s; audit.log {size0} -> {os.path.getsize(audit)} bytes")
    check_eq(codes, {401: 3000}, "every unauthenticated POST refused 401")
    grew = os.path.getsize(audit) - size0
    check(grew <= 4096, f"audit.log grew by at most 4 KiB ({grew} bytes)")
    check_eq(metric(d, "regiond_api_denied_total"), 3000.0, "refusals counted")
    ring = replay(d, 1.0)
    got = [e["decision"] for e in ring if e["type"] == "decision"][-64:]
    check_eq(got, last64, "the last 64 decisions are still replayable from /v1/events")
    check(not [e for e in ring if e["type"] == "audit" and e.get("status") == 401],
          "no refused request entered the event ring")
    check_eq(json.loads(call(d, "GET", "/v1/overrides")[1])[0]["region"], "r1", "only r1's pin is set")
    check_eq(len(json.loads(call(d, "GET", "/v1/overrides")[1])), 1, "nothing from the flood was applied")
    check_eq(d.stop(), 0, "clean exit")
    lines = [json.loads(l) for l in open(audit)]
    denied = [l for l in lines if l["status"] == 401]
    one_by_one = [l for l in denied if "suppressed" not in l]
    summary = [l for l in denied if "suppressed" in l]
    check(len(one_by_one) <= 10 and summary, f"the first few written one by one ({len(one_by_one)}), then a summary")
    check_eq(len(one_by_one) + sum(l["suppressed"] for l in summary), 3000, "every refusal counted in audit.log")
    ngx.stop()


def test_audit_rotation_and_failure():
    ngx, cfg, d, tok = start(audit_max_bytes=65536)
    audit = os.path.join(cfg["controller"]["state_dir"], "audit.log")
    for i in range(400):   # 2 lines of ~125 bytes each: past 64 KiB
        call(d, "POST", "/v1/freeze", {"note": "n" * 100}, token=tok)
        call(d, "DELETE", "/v1/freeze", token=tok)
    check(os.path.exists(audit + ".1"), "audit.log rotated to audit.log.1")
    for f in (audit, audit + ".1"):
        check(os.path.getsize(f) <= 65536, f"{os.path.basename(f)} within audit_max_bytes ({os.path.getsize(f)})")
        for line in open(f, "rb"):
            json.loads(line.decode("utf-8"))
    total = sum(1 for f in (audit, audit + ".1") for _ in open(f))
    check(total >= 300, f"the newest lines kept across the two files ({total})")
    # The audit log cannot be written: logged and alarmed, the action itself still answered.
    os.rename(audit, audit + ".moved")
    os.mkdir(audit)
    check_eq(call(d, "POST", "/v1/freeze", {}, token=tok)[0], 200, "a control action while audit.log is broken")
    st = d.status()
    active = {a["key"]: a for a in st["alarms"]["active"]}
    check("audit-log" in active and active["audit-log"]["severity"] == "critical",
          f"audit-log alarm raised ({list(active)})")
    check("audit log failed" in d.read_log(), "the failure is logged")
    check(metric(d, "regiond_audit_write_failures_total") >= 1, "and counted")
    shutil.rmtree(audit)
    check_eq(call(d, "DELETE", "/v1/freeze", token=tok)[0], 200, "the next action")
    wait_for(lambda: "audit-log" not in [a["key"] for a in d.status()["alarms"]["active"]], 5,
             "the audit-log alarm resolved once a write works again")
    check("DELETE /v1/freeze" in open(audit).read(), "and the action is in audit.log")
    check_eq(d.stop(), 0, "clean exit")
    ngx.stop()


def test_host_allow_list():
    ngx, cfg, d, tok = start(allowed_hosts=["ops-wall.example.test"])
    for host, want in [("rebind.attacker.example", 403), (f"rebind.attacker.example:{d.port}", 403),
                       ("localhost.attacker.example", 403), ("127.0.0.1.nip.io", 403),
                       (f"localhost:{d.port}", 200), ("localhost", 200), (f"127.0.0.1:{d.port}", 200),
                       (f"[::1]:{d.port}", 200), ("ops-wall.example.test", 200), ("OPS-WALL.example.test:443", 200),
                       ("a.localhost", 200)]:
        for path in ("/", "/v1/status", "/v1/events"):
            c = http.client.HTTPConnection("127.0.0.1", d.port, timeout=5)
            c.putrequest("GET", path, skip_host=True)
            c.putheader("Host", host)
            c.endheaders()
            code = c.getresponse().status
            c.close()
            check_eq(code, want, f"Host {host} {path}")
    code, body = call(d, "POST", "/v1/freeze", {}, token=tok, headers={"Host": "rebind.attacker.example"})
    check_eq(code, 403, "a control request with a rebinding Host is refused too (even with a token)")
    check(not d.status()["failover"]["frozen"], "and not applied")
    m = [l for l in d.get("/metrics")[1].decode().splitlines() if l.startswith('regiond_api_refused_total{reason="host"}')]
    check(m and float(m[0].split()[1]) >= 12, f"Host refusals counted ({m})")
    check_eq(d.stop(), 0, "clean exit")
    ngx.stop()


def test_request_deadline():
    """A request trickled one header line a second (each well inside the 30 s
    inactivity timeout) is cut at request_deadline_ms; a prompt one on the
    same listener is served."""
    ngx, cfg, d, tok = start(request_deadline_ms=2000)
    s = socket.create_connection(("127.0.0.1", d.port), timeout=5)
    t0 = time.monotonic()
    s.sendall(b"GET /v1/status HTTP/1.1\r\nHost: localhost\r\n")
    data, i = b"", 0
    s.settimeout(1.0)
    while time.monotonic() - t0 < 8:
        try:
            b = s.recv(4096)
            if not b:
                break
            data += b
        except socket.timeout:
            i += 1
            try:
                s.sendall(b"X-Slow-%d: 1\r\n" % i)
            except OSError:
                break
    took = time.monotonic() - t0
    s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    check(head.startswith(b"HTTP/1.1 408"), f"the trickle got 408 ({data[:40]!r})")
    cl = [int(l.split(b":")[1]) for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")]
    check(cl and cl[0] == len(body) and json.loads(body[:cl[0]])["status"] == 408,
          f"with a whole JSON body and its right Content-Length ({cl}, {len(body)} bytes)")
    check(1.9 <= took <= 4.0, f"cut at the deadline, not at the inactivity timeout ({took:.1f} s)")
    check_eq(d.get("/healthz")[0], 200, "a prompt request is served")
    m = [l for l in d.get("/metrics")[1].decode().splitlines()
         if l.startswith('regiond_api_refused_total{reason="deadline"}')]
    check(m and float(m[0].split()[1]) >= 1, f"counted ({m})")
    check_eq(d.stop(), 0, "clean exit")
    ngx.stop()


if __name__ == "__main__":
    run_tests([test_unauthenticated_flood, test_audit_rotation_and_failure, test_host_allow_list,
               test_request_deadline])
