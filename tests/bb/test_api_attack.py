"""Found by an attacking review of issues 13 and 14 (API and state/secrets).

A hostile Route 53 endpoint (a proxy or a buggy service: the strict peer
only answers as AWS does) echoes the session token regiond sent in its error
<Message>, in the two forms the old cleaning missed: after a key the field
rules do not know, placed so that the 500-character cut falls inside the
token (its head stayed), and URL-encoded ("/+=" as %2F%2B%3D, so the whole
value never occurs).  No piece of 12 characters of the token may appear in
the log, /v1/status, /v1/weights, /metrics, the event ring or a state file.

A hostile local client (strict Route 53 peer as judge): "Content-Length: +14"
(not 1*DIGIT, RFC 9110 8.6; evhttp's strtoll took it and a freeze landed)
and an absolute-form target naming a foreign host behind "Host: localhost"
(RFC 9112 3.2.2: the target's host is the request's) -> refused, nothing
changed in the peer, not frozen.

A hostile environment: a FIFO in control.json's or event-id's place (open()
blocked until a writer came: regiond hung at start, /healthz never up) or a
directory -> started at once, alarm naming the file, moved aside, safe mode,
no ChangeResourceRecordSets at the strict peer.  A FIFO in audit.log's place
(open() for writing blocked the loop on the first refused request) -> the
audit-log alarm, /healthz answers, the refused request answered 401."""
import glob
import http.server
import os
import json
import threading
import time
import urllib.parse
from xml.sax.saxutils import escape

from harness import Daemon, Nginx, check, check_eq, free_port, free_udp_port, run_tests, tmpdir, wait_for
from test_api_strict import TOKEN, raw, replies
from test_failover import setup, wait_all_up
from test_secrets import events_ring, state_files
from state_kit import Setup

NAME = "api.example.test."
REGIONS = ["us-east-1", "eu-west-1"]
IPS = ["127.0.0.11", "127.0.0.12"]
NS = "https://route53.amazonaws.com/doc/2013-04-01/"


class EchoingR53:
    """Answers every call 400 InvalidInput, its message quoting the
    x-amz-security-token it received: cut at the 500th character, or
    URL-encoded, in turn."""

    def __init__(self):
        self.calls = 0
        self.echoed = []
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def _answer(self):
                n = int(self.headers.get("Content-Length") or 0)
                if n:
                    self.rfile.read(n)
                tok = self.headers.get("x-amz-security-token", "")
                outer.calls += 1
                if outer.calls % 2:
                    msg = "x" * 450 + f' bad header "x-amz-security-token" value \'{tok}\''
                else:
                    msg = "token in request: " + urllib.parse.quote(tok, safe="") + "."
                outer.echoed.append(msg)
                body = (f'<?xml version="1.0"?>\n<ErrorResponse xmlns="{NS}"><Error><Type>Sender</Type>'
                        f"<Code>InvalidInput</Code><Message>{escape(msg)}</Message></Error>"
                        f"<RequestId>r{outer.calls}</RequestId></ErrorResponse>").encode()
                self.send_response(400)
                self.send_header("Content-Type", "text/xml")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _answer

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.srv.server_address[1]}"
        self.th = threading.Thread(target=self.srv.serve_forever, daemon=True)
        self.th.start()

    def stop(self):
        self.srv.shutdown()
        self.srv.server_close()


def test_token_pieces_never_leak():
    # Hex only around the base64 "/+=": no 12-character window occurs by chance.
    token = "IQoJb3JpZ2luX2VjE" + "0123456789abcdef"[::-1] * 3 + "/+=" + "fedcba9876543210" * 2 + "Zq/Wk+Rt=="
    ports = [free_port() for _ in REGIONS]
    ngx = Nginx(ports)
    r53 = EchoingR53()
    regions = [{"name": r, "api": [{"url": f"http://127.0.0.1:{p}/health"}], "route53": {"value": ip, "weight": 100}}
               for r, p, ip in zip(REGIONS, ports, IPS)]
    cfg = {
        "controller": {"id": "ctl-attack", "listen": f"127.0.0.1:{free_port()}", "state_dir": tmpdir(),
                       "log_level": "debug"},
        "probe_defaults": {"interval_ms": 300, "timeout_ms": 250, "rise": 2, "fall": 2},
        "aws": {"endpoints": {"route53": r53.url}, "retry": {"base_ms": 20, "max_ms": 200}},
        "route53": {"hosted_zone_id": "Z0REGIONDTEST1", "record_name": NAME, "record_type": "A", "ttl": 60,
                    "name_servers": [f"127.0.0.1:{free_udp_port()}"], "reconcile_s": 5},
        "regions": regions,
    }
    env = {"AWS_ACCESS_KEY_ID": "ASIAREGIONDATTACK01", "AWS_SECRET_ACCESS_KEY": "Secret+abcdef0123456789",
           "AWS_SESSION_TOKEN": token, "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
           "AWS_CONFIG_FILE": "/nonexistent"}
    d = Daemon(cfg, env=env)
    wait_for(lambda: r53.calls >= 4, 20, "four calls answered with the token echoed (both forms twice)")
    check(any(token in m for m in r53.echoed) and any("%2F%2B%3D" in m for m in r53.echoed),
          "the endpoint really echoed the token, raw and URL-encoded")
    wait_for(lambda: "InvalidInput" in d.get("/v1/status")[1].decode(errors="replace"), 10,
             "status shows the failure's code")
    places = {"/v1/status": d.get("/v1/status")[1].decode(errors="replace"),
              "/v1/weights": d.get("/v1/weights")[1].decode(errors="replace"),
              "/metrics": d.get("/metrics")[1].decode(errors="replace"),
              "/v1/events ring": events_ring(d.port)}
    check_eq(d.stop(), 0, "clean exit")
    places["daemon log"] = d.read_log()
    for name, text in state_files(cfg["controller"]["state_dir"]).items():
        places["state_dir/" + name] = text
    check("bad header" in places["daemon log"] and "token in request" in places["daemon log"],
          "the log has both cleaned messages")
    pieces = {token[i:i + 12] for i in range(len(token) - 11)}
    for where, text in places.items():
        found = sorted(p for p in pieces if p in text)
        check(not found, f"no 12-character piece of the token in {where} ({len(text)} bytes)"
              f"{': LEAKED ' + ', '.join(found[:3]) if found else ''}")
    r53.stop()
    ngx.stop()


def test_lax_framing_and_foreign_target_host():
    ngx, ports, peer, cfg, d, env = setup()
    wait_all_up(d)
    p = d.port
    auth = f"Authorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\n".encode()
    freeze = b'{"reason":"smuggled"}'
    for cl in [b"+21", b"-0", b"2_1"]:
        r = replies(raw(p, b"POST /v1/freeze HTTP/1.1\r\nHost: 127.0.0.1\r\n" + auth + b"Content-Length: " + cl +
                        b"\r\n\r\n" + freeze, 1.0))
        check(len(r) == 1 and r[0][0] == 400, f"Content-Length: {cl.decode()} -> 400 ({r})")
    r = replies(raw(p, b"POST /v1/freeze HTTP/1.1\r\nHost: 127.0.0.1\r\n" + auth + b"Content-Length: 021\r\n\r\n" +
                    freeze, 1.0))
    check_eq([c for c, _ in r], [200], "Content-Length: 021 (1*DIGIT, leading zero) is one")
    wait_for(lambda: d.status()["failover"].get("frozen"), 5, "that freeze landed")
    r = replies(raw(p, b"DELETE /v1/freeze HTTP/1.1\r\nHost: 127.0.0.1\r\n" + auth + b"Content-Length: 0\r\n\r\n", 1.0))
    check_eq([c for c, _ in r], [200], "unfrozen")
    for target, host in [(b"http://rebind.attacker.example/v1/status", b"localhost"),
                         (b"http://rebind.attacker.example:9470/v1/overrides", b"127.0.0.1")]:
        r = replies(raw(p, b"GET " + target + b" HTTP/1.1\r\nHost: " + host + b"\r\n\r\n", 1.0))
        check(len(r) == 1 and r[0][0] == 403, f"GET {target.decode()} with Host {host.decode()} -> 403 ({r})")
    r = replies(raw(p, b"POST http://rebind.attacker.example/v1/freeze HTTP/1.1\r\nHost: localhost\r\n" + auth +
                    f"Content-Length: {len(freeze)}\r\n\r\n".encode() + freeze, 1.0))
    check(len(r) == 1 and r[0][0] in (400, 403), f"a freeze to a foreign absolute target refused ({r})")
    r = replies(raw(p, b"GET http://localhost/v1/status HTTP/1.1\r\nHost: localhost\r\n\r\n", 1.0))
    check(len(r) == 1 and r[0][0] == 200 and "controller" in json.loads(r[0][1]), "a loopback absolute target served")
    time.sleep(1.0)
    check(not d.status()["failover"].get("frozen"), "not frozen by any refused request")
    check_eq(len(peer.changes()), 0, "nothing changed in the Route 53 peer")
    check_eq(d.stop(), 0, "clean exit")
    peer.stop()
    ngx.stop()


def test_state_file_not_regular():
    s = Setup()
    for name, kind in [("control.json", "fifo"), ("event-id", "fifo"), ("control.json", "directory")]:
        for f in glob.glob(os.path.join(s.state_dir, "*")):
            (os.rmdir if os.path.isdir(f) and not os.path.islink(f) else os.unlink)(f)
        path = os.path.join(s.state_dir, name)
        (os.mkfifo if kind == "fifo" else os.mkdir)(path)
        s.peer.call("POST", "/_peer/reset-stats")
        t0 = time.monotonic()
        d = s.start()   # waits for /healthz (15 s at most)
        label = f"{name} a {kind}"
        check(time.monotonic() - t0 < 10, f"{label}: regiond up at once ({time.monotonic() - t0:.1f} s)")
        st = wait_for(lambda: (lambda x: x if any(a["key"] == f"state-corrupt-{name}" for a in x["alarms"]["active"])
                               else None)(d.status()), 10, f"{label}: corrupt-state alarm")
        a = [a for a in st["alarms"]["active"] if a["key"] == f"state-corrupt-{name}"][0]
        check("regular file" in a["summary"] or "regular file" in json.dumps(a), f"{label}: says why ({a['summary']})")
        check(len(glob.glob(path + ".corrupt-*")) == 1, f"{label}: moved aside")
        check(st["failover"]["frozen"] and st["failover"]["safe_mode"], f"{label}: frozen, safe mode")
        s.live_read(d)
        time.sleep(1.0)
        check_eq(len(s.writes()), 0, f"{label}: no ChangeResourceRecordSets at the peer")
        check_eq(d.stop(), 0, f"{label}: clean exit")
    s.stop()


def test_audit_log_fifo_never_blocks():
    ngx, ports, peer, cfg, d, env = setup()
    wait_all_up(d)
    d.stop()
    audit = os.path.join(cfg["controller"]["state_dir"], "audit.log")
    if os.path.exists(audit):
        os.unlink(audit)
    os.mkfifo(audit)
    cfg["controller"]["listen"] = f"127.0.0.1:{free_port()}"
    d = Daemon(cfg, env=env)
    p = d.port
    body = b'{"reason":"x"}'
    r = replies(raw(p, b"POST /v1/freeze HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                    b"Authorization: Bearer wrong-token-wrong-token-wrong\r\n" +
                    f"Content-Length: {len(body)}\r\n\r\n".encode() + body, 2.0))
    check_eq([c for c, _ in r], [401], "a wrong token is answered 401")
    t0 = time.monotonic()
    check_eq(d.get("/healthz")[0], 200, "/healthz answers")
    check(time.monotonic() - t0 < 1.0, f"/healthz within 1 s ({time.monotonic() - t0:.2f} s)")
    st = wait_for(lambda: (lambda x: x if any(a["key"] == "audit-log" for a in x["alarms"]["active"]) else None)(
        d.status()), 10, "the audit-log alarm")
    check(not st["failover"].get("frozen"), "not frozen")
    check_eq(len(peer.changes()), 0, "nothing changed in the Route 53 peer")
    check_eq(d.stop(), 0, "clean exit")
    peer.stop()
    ngx.stop()


def test_state_tmp_symlink_not_followed():
    """A symlink at the temporary name a state file is written through
    (.control.json.tmp -> a file elsewhere): the save replaces the link, the
    file elsewhere keeps its bytes, the freeze is durable."""
    s = Setup()
    victim = os.path.join(tmpdir("victim-"), "precious")
    with open(victim, "wb") as f:
        f.write(b"precious bytes\n")
    os.symlink(victim, os.path.join(s.state_dir, ".control.json.tmp"))
    d = s.start()
    rc, out = s.ctl(d, "freeze", "--note", "tmp symlink")
    check_eq(rc, 0, f"freeze accepted ({out.strip()[:160]})")
    with open(victim, "rb") as f:
        check_eq(f.read(), b"precious bytes\n", "the file the symlink pointed at is untouched")
    with open(os.path.join(s.state_dir, "control.json")) as f:
        check(json.load(f).get("frozen") is True, "control.json holds the freeze")
    check_eq(d.stop(), 0, "clean exit")
    s.stop()


if __name__ == "__main__":
    run_tests([test_token_pieces_never_leak, test_lax_framing_and_foreign_target_host, test_state_file_not_regular,
               test_audit_log_fifo_never_blocks, test_state_tmp_symlink_not_followed])
