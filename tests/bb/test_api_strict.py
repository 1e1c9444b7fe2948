"""Strict input on the control API, against the strict Route 53 peer: a
second Content-Length (a smuggled request behind it), Transfer-Encoding with
Content-Length, NUL and %00 in region names, bytes that are not UTF-8, an
override's or a drill's field of the wrong kind or range (the error names it) -> 400,
and nothing changes in the peer.  Every reply, audit line and event stays
strict UTF-8 JSON, and /v1/status does too after a reload whose controller.id
is hostile (rejected, the old config keeps running)."""
import json
import os
import socket
import time

from harness import check, check_eq, run_tests, wait_for
from test_failover import NAME, TOKENS, setup, wait_all_up

TOKEN = [l.split()[1] for l in open(TOKENS) if l.strip() and not l.startswith("#")][0]


def raw(port, data, wait=1.0):
    """Send bytes, read until the server closes (or `wait` passes)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(data)
    s.settimeout(wait)
    out = b""
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            out += b
    except socket.timeout:
        pass
    s.close()
    return out


def req(method, path, body=b"", extra=b"", cl=True):
    h = (f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\n"
         f"Content-Type: application/json\r\n").encode()
    if cl:
        h += f"Content-Length: {len(body)}\r\n".encode()
    return h + extra + b"\r\n" + body


def replies(out):
    """(status, body) of each HTTP/1.1 reply in a byte stream (Content-Length framed)."""
    res = []
    while out.startswith(b"HTTP/1.1 "):
        head, _, rest = out.partition(b"\r\n\r\n")
        code = int(head[9:12])
        n = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                n = int(line.split(b":")[1])
        res.append((code, rest[:n]))
        out = rest[n:]
    return res


def strict_json(b, what):
    try:
        return json.loads(b.decode("utf-8", errors="strict"))
    except (UnicodeDecodeError, ValueError) as e:
        check(False, f"{what}: strict UTF-8 JSON ({e}; {b[:120]!r})")


# A body of the right JSON but a wrong field: 400 naming the first field it
# fails, checked in the order region, action, weight (a pin's), duration_s,
# dry_run (a drill's), note.
OV, DR = "/v1/overrides", "/v1/drills"
BAD_FIELDS = [
    (OV, {"action": "drain", "duration_s": 600}, "region: expected a region name"),
    (OV, {"region": "us-east-1", "action": "fail", "duration_s": 600}, 'action: expected "drain" or "pin"'),
    (OV, {"region": "us-east-1", "action": "pin", "weight": 256, "duration_s": 0}, "weight: expected an integer 0..255"),
    (OV, {"region": "us-east-1", "action": "pin", "weight": 1.5, "duration_s": 600},
     "weight: expected an integer 0..255"),
    (OV, {"region": "us-east-1", "action": "drain", "weight": 999, "duration_s": 604801},
     "duration_s: expected whole seconds from 1 to 604800 (an override always expires)"),
    (OV, {"region": "us-east-1", "action": "drain", "duration_s": 60.5},
     "duration_s: expected whole seconds from 1 to 604800 (an override always expires)"),
    (OV, {"region": "us-east-1", "action": "drain", "duration_s": 600, "note": 5}, "note: expected a string"),
    (DR, {"region": 7, "action": "drain", "duration_s": 60}, "region: expected a region name"),
    (DR, {"region": "eu-west-1", "action": "pin", "duration_s": 60}, 'action: expected "drain" or "fail"'),
    (DR, {"region": "eu-west-1", "action": "fail", "duration_s": 86401, "dry_run": "yes"},
     "duration_s: expected whole seconds from 1 to 86400"),
    (DR, {"region": "eu-west-1", "action": "fail", "duration_s": 60, "dry_run": "yes", "note": 1},
     "dry_run: expected true or false"),
    (DR, {"region": "eu-west-1", "action": "drain", "duration_s": 60, "dry_run": False, "note": []},
     "note: expected a string"),
]


def check_bad_fields(port):
    for path, body, want in BAD_FIELDS:
        r = replies(raw(port, req("POST", path, json.dumps(body).encode())))
        check(len(r) == 1 and r[0][0] == 400, f"POST {path} {body} -> 400 ({r})")
        if r:
            check_eq(strict_json(r[0][1], f"the 400 for {body}").get("error"), want, f"POST {path} {body} says")


def test_hostile_requests_change_nothing():
    ngx, ports, peer, cfg, d, env = setup()
    wait_all_up(d)
    p = d.port
    drain = json.dumps({"region": "us-east-1", "action": "drain", "duration_s": 600}).encode()
    smuggled = req("POST", "/v1/overrides", drain)

    # Two Content-Length headers (0, then the smuggled request's length).
    out = raw(p, req("POST", "/v1/freeze", smuggled, extra=f"Content-Length: {len(smuggled)}\r\n".encode()))
    r = replies(out)
    check(len(r) == 1 and r[0][0] == 400, f"duplicate Content-Length -> one 400, nothing answered behind it ({r})")
    check("Content-Length" in strict_json(r[0][1], "the 400")["error"], "the 400 says why")
    # Conflicting lengths the other way round, and Transfer-Encoding with Content-Length.
    out = raw(p, req("POST", "/v1/overrides", drain, extra=b"Content-Length: 0\r\n"))
    check_eq([c for c, _ in replies(out)], [400], "conflicting Content-Length -> 400")
    chunked = f"{len(drain):x}\r\n".encode() + drain + b"\r\n0\r\n\r\n"
    out = raw(p, req("POST", "/v1/overrides", chunked, extra=b"Transfer-Encoding: chunked\r\n"))
    check_eq([c for c, _ in replies(out)], [400], "Transfer-Encoding with Content-Length -> 400")

    # NUL and bytes that are not UTF-8 in the JSON body: 400 before any lookup.
    for name, body in [("\\u0000 in the region", b'{"region":"us-east-1\\u0000x","action":"drain","duration_s":600}'),
                       ("raw NUL in the body", b'{"region":"us-east-1\x00x","action":"drain","duration_s":600}'),
                       ("invalid UTF-8 region", b'{"region":"us-east-1\xff\xfe","action":"drain","duration_s":600}'),
                       ("overlong UTF-8 NUL", b'{"region":"us-east-1\xc0\x80","action":"drain","duration_s":600}'),
                       ("lone surrogate escape", b'{"region":"us-east-1\\ud800","action":"drain","duration_s":600}'),
                       ("invalid UTF-8 in the note", b'{"region":"us-east-1","action":"drain","duration_s":600,'
                                                     b'"note":"\xed\xa0\x80"}')]:
        r = replies(raw(p, req("POST", "/v1/overrides", body)))
        check(len(r) == 1 and r[0][0] == 400, f"{name} -> 400 ({r})")
        if r:
            strict_json(r[0][1], f"the 400 for {name}")
    r = replies(raw(p, req("POST", "/v1/drills", b'{"region":"eu-west-1\\u0000","action":"drain","duration_s":60}')))
    check_eq([c for c, _ in r], [400], "NUL in a drill's region -> 400")
    check_bad_fields(p)

    time.sleep(1.5)
    check_eq(len(peer.changes()), 0, "the Route 53 peer saw no change from any of them")
    check_eq(d.get("/v1/overrides")[0], 200, "overrides readable")
    check_eq(json.loads(d.get("/v1/overrides")[1]), [], "no override was set")
    check(not d.status()["failover"].get("frozen"), "not frozen (the first request's empty body did not freeze)")

    # A real drain, then %00 and friends in the release path must not release it.
    r = replies(raw(p, req("POST", "/v1/overrides", drain)))
    check_eq([c for c, _ in r], [200], "a well-formed drain is accepted")
    wait_for(lambda: peer.weights(NAME)["us-east-1"] == 0, 20, "the drain lands in the peer")
    n = len(peer.changes())
    for path in ["/v1/overrides/us-east-1%00junk", "/v1/overrides/us-east-1%00", "/v1/overrides/us-east-1%C0%80",
                 "/v1/overrides/us-east-1%FF"]:
        r = replies(raw(p, req("DELETE", path)))
        check(len(r) == 1 and r[0][0] == 400, f"DELETE {path} -> 400 ({r})")
    time.sleep(1.5)
    check_eq(peer.weights(NAME)["us-east-1"], 0, "us-east-1 still drained in the peer")
    check_eq(len(peer.changes()), n, "no change reached the peer")

    # Everything regiond echoed: audit log and events, strict UTF-8 JSON.
    audit = open(os.path.join(cfg["controller"]["state_dir"], "audit.log"), "rb").read()
    for line in audit.splitlines():
        strict_json(line, "an audit line")
    ev = raw(p, b"GET /v1/events HTTP/1.1\r\nHost: localhost\r\n\r\n", wait=1.0)
    body = ev.partition(b"\r\n\r\n")[2]
    try:
        body.decode("utf-8", errors="strict")
        bad = ""
    except UnicodeDecodeError as e:
        bad = f" ({e})"
    check(not bad, f"the event stream is strict UTF-8{bad}")
    for line in body.split(b"\n"):
        if line.startswith(b"data: "):
            strict_json(line[6:], "an event")
    check_eq(d.stop(), 0, "clean exit")
    peer.stop()
    ngx.stop()


def test_hostile_controller_id_reload():
    ngx, ports, peer, cfg, d, env = setup()
    wait_all_up(d)
    good = json.dumps(cfg, indent=1).encode()
    cases = [("invalid UTF-8", good.replace(b'"id": "ctl-test"', b'"id": "ctl\xff\xfe-test"')),
             ("NUL escape", good.replace(b'"id": "ctl-test"', b'"id": "ctl\\u0000-test"')),
             ("a name with a quote and a newline escape", good.replace(b'"id": "ctl-test"', b'"id": "ctl\\"\\n\xc3\xa9"')),
             ("invalid UTF-8 in an unknown key", good.replace(b'"id": "ctl-test"', b'"id": "ctl-test", "\xc3(": 1'))]
    for i, (what, text) in enumerate(cases):
        check(text != good, f"case {what} built")
        with open(d.cfg_path, "wb") as f:
            f.write(text)
        d.proc.send_signal(1)
        wait_for(lambda: d.status()["config"]["reloads_failed"] == i + 1, 10, f"reload {i + 1} rejected")
        code, body = d.get("/v1/status")
        st = strict_json(body, f"/v1/status after a rejected reload ({what})")
        check_eq(st["controller"]["id"], "ctl-test", f"the old controller.id keeps running ({what})")
        err = st["config"]["last_error"] or ""
        check("controller.id" in err or "UTF-8" in err or "NUL" in err or "unknown key" in err,
              f"the error says what is wrong ({err[:120]})")
    for path in ["/metrics", "/v1/weights", "/v1/decisions"]:
        code, body = d.get(path)
        try:
            body.decode("utf-8", errors="strict")
            check(code == 200, f"{path} strict UTF-8")
        except UnicodeDecodeError as e:
            check(False, f"{path} strict UTF-8 ({e})")
    check_eq(len(peer.changes()), 0, "nothing changed in the Route 53 peer")
    check_eq(d.stop(), 0, "clean exit")
    peer.stop()
    ngx.stop()


if __name__ == "__main__":
    run_tests([test_hostile_requests_change_nothing, test_hostile_controller_id_reload])
