"""A control request waiting for its change to be durable (held) is owed an
answer: it is never evicted as an idle connection, and held requests never
fill the API (review of issue 14's hold; docs/safety.md, API section).

test_held_not_evicted: max_api_connections 4, every fsync of regiond delayed
3 s (strace, as test_state_stall.py).  An operator freezes; while the freeze
waits for its fsync a hostile local client opens 6 connections, each with a
partial unauthenticated request, more than the cap.  The operator gets 200,
after the fsync; status says frozen, audit.log records 200 for it, and the
strict Route 53 peer got no write since (frozen).  Before the fix the held
operator was the oldest "idle" connection and was evicted: no answer, yet the
freeze applied seconds later and audited 200.

test_held_cap: the same stall and cap (held cap 2).  Two operators pin two
regions (held); three more changes come one after the other, then a flood
of 12 freezes at once: each of them answers 503 within 1 s ("too many
changes waiting for the disk" for the sequential ones) and none is applied:
no override for it in /v1/overrides, not frozen, the strict Route 53 peer
ends with exactly the two held pins' weights.  A second actor polls /healthz
every 100 ms on fresh connections throughout: always 200 within 1 s (before,
14 held freezes turned the listener off and /healthz timed out ~3 s)."""
import http.client
import json
import os
import re
import socket
import struct
import subprocess
import threading
import time

from harness import REGIONCTL, check, check_eq, run_tests, token_file, wait_for
from state_kit import NAME, Setup, fsync_stalled

STALL_S = 3


def addr(d):
    host, port = d.base.split("//")[1].split(":")
    return host, int(port)


def start(s):
    s.cfg["controller"]["max_api_connections"] = 4
    s.cfg["controller"]["max_stream_clients"] = 2
    d = s.start()
    s.live_read(d)
    return d


class Call(threading.Thread):
    """One operator request on its own connection: status, body, duration."""

    def __init__(self, s, d, method, path, body=None):
        super().__init__(daemon=True)
        self.args = (s, d, method, path, body)
        self.code = self.body = self.took = None

    def run(self):
        s, d, method, path, body = self.args
        t = time.monotonic()
        raw = json.dumps(body).encode() if body is not None else b""
        try:
            c = http.client.HTTPConnection(*addr(d), timeout=60)
            c.request(method, path, body=raw, headers={"Authorization": "Bearer " + s.toks["ops"],
                                                        "Content-Type": "application/json"})
            r = c.getresponse()
            self.code, self.body = r.status, r.read().decode(errors="replace")
            c.close()
        except (OSError, http.client.HTTPException) as e:
            self.code, self.body = "no answer", repr(e)
        self.took = time.monotonic() - t


class Poller(threading.Thread):
    """The second actor: GET /healthz every 100 ms on fresh connections."""

    def __init__(self, d):
        super().__init__(daemon=True)
        self.addr = addr(d)
        self.halt = threading.Event()
        self.worst, self.n, self.errors = 0.0, 0, []

    def run(self):
        while not self.halt.is_set():
            t = time.monotonic()
            try:
                c = http.client.HTTPConnection(*self.addr, timeout=10)
                c.request("GET", "/healthz")
                r = c.getresponse()
                r.read()
                c.close()
                if r.status != 200:
                    self.errors.append(r.status)
            except (OSError, http.client.HTTPException) as e:
                self.errors.append(repr(e))
            self.worst = max(self.worst, time.monotonic() - t)
            self.n += 1
            time.sleep(0.1)


def audit(s, what):
    """audit.log's entries (JSON lines) whose `what` is `what`."""
    with open(os.path.join(s.state_dir, "audit.log"), errors="replace") as f:
        return [e for e in map(json.loads, f) if e.get("what") == what]


def evicted(d):
    m = re.search(r'^regiond_api_refused_total\{reason="evicted"\} (\S+)$', d.get("/metrics")[1].decode(), re.M)
    return float(m.group(1)) if m else 0.0


def overrides(d):
    return {o["region"]: o for o in json.loads(d.get("/v1/overrides")[1])}


def test_held_not_evicted():
    s = Setup(want_weight=100, decision={"min_healthy_regions": 1})
    d = start(s)
    crowd = []
    try:
        with fsync_stalled(d.proc.pid, STALL_S):
            n_writes = len(s.writes())
            op = Call(s, d, "POST", "/v1/freeze", {"note": "held operator"})
            op.start()
            time.sleep(0.5)   # the request is in and held
            check(op.code is None, f"the freeze not answered before its fsync ({op.code})")
            for _ in range(6):   # more than the cap: each evicts the oldest idle connection
                c = socket.create_connection(addr(d), timeout=5)
                c.sendall(b"GET /v1/status HTTP/1.1\r\nHost: 127.0.0.1\r\n")   # never finished
                crowd.append(c)
                time.sleep(0.05)
            op.join(60)
            check_eq(op.code, 200, f"the held operator answered ({op.body})")
            check(op.took >= STALL_S - 0.2, f"answered after the fsync ({op.took:.1f} s)")
            check_eq(d.status()["failover"]["frozen"], True, "status: frozen")
            check_eq([e["status"] for e in audit(s, "POST /v1/freeze")], [200], "audit.log: the freeze, 200")
            check(evicted(d) >= 2, f"the crowd did evict idle connections ({evicted(d)}): the path was taken")
            check_eq(len(s.writes()), n_writes, "the strict Route 53 peer got no write (frozen)")
    finally:
        for c in crowd:
            c.close()
    check_eq(d.stop(), 0, "clean exit")
    s.stop()


def raw_change(d, tok, method, path, body):
    """A change on a raw connection; (status, body) or ("no answer", why)."""
    raw = json.dumps(body).encode() if body is not None else b""
    try:
        with socket.create_connection(addr(d), timeout=5) as c:
            c.sendall(f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {tok}\r\n"
                      f"Content-Type: application/json\r\nConnection: close\r\n"
                      f"Content-Length: {len(raw)}\r\n\r\n".encode() + raw)
            got = b""
            while True:
                b = c.recv(65536)
                if not b:
                    break
                got += b
        head, _, rest = got.partition(b"\r\n\r\n")
        return int(head.split()[1]), rest.decode(errors="replace")
    except (OSError, IndexError, ValueError) as e:
        return "no answer", repr(e)


def test_held_cap():
    s = Setup(want_weight=100, decision={"min_healthy_regions": 1})
    d = start(s)
    tok = s.toks["ops"]
    poll = Poller(d)
    try:
        with fsync_stalled(d.proc.pid, STALL_S):
            poll.start()
            held = [Call(s, d, "POST", "/v1/overrides",
                         {"region": r, "action": "pin", "weight": w, "duration_s": 600, "note": "held"})
                    for r, w in (("us-east-1", 7), ("eu-west-1", 9))]
            for c in held:
                c.start()
                time.sleep(0.3)
            check(all(c.code is None for c in held), "the two pins wait for the disk")
            surplus = [("POST", "/v1/overrides", {"region": "ap-southeast-2", "action": "pin", "weight": 3,
                                                   "duration_s": 600}),
                       ("POST", "/v1/freeze", {"note": "surplus"}),
                       ("POST", "/v1/overrides", {"region": "us-east-1", "action": "drain", "duration_s": 600})]
            for m, p, b in surplus:
                t = time.monotonic()
                code, body = raw_change(d, tok, m, p, b)
                took = time.monotonic() - t
                check_eq(code, 503, f"{m} {p} past the held cap: 503 ({body[:200]})")
                check("waiting for the disk" in body, f"the 503 says why ({body[:200]})")
                check(took < 1.0, f"the 503 at once ({took:.2f} s)")
            flood = [threading.Thread(target=lambda i=i: flood_res.__setitem__(i, raw_change(
                d, tok, "POST", "/v1/freeze", {"note": f"flood {i}"})), daemon=True) for i in range(12)]
            flood_res = {}
            t = time.monotonic()
            for f in flood:
                f.start()
            for f in flood:
                f.join(10)
            took = time.monotonic() - t
            check(took < 3.0, f"the flood answered while the disk stalls ({took:.1f} s)")
            check_eq(sorted(set(c for c, _ in flood_res.values())), [503], f"every flooding freeze refused "
                     f"({[b[:80] for _, b in flood_res.values()]})")
            check(all(c.code is None for c in held), "the held pins still wait (a stall of 3 s)")
            check_eq(d.status()["failover"]["frozen"], False, "no refused freeze applied")
            for c in held:
                c.join(60)
            check_eq([c.code for c in held], [200, 200], f"the held pins answered ({[c.body for c in held]})")
            time.sleep(0.5)
            poll.halt.set()
            poll.join(15)
    finally:
        poll.halt.set()
    check(not poll.errors, f"/healthz always answered 200 ({poll.errors[:3]})")
    check(poll.worst < 1.0, f"/healthz within 1 s throughout ({poll.worst:.2f} s, {poll.n} requests)")
    check(poll.n >= 20, f"the second actor kept asking ({poll.n})")
    ov = overrides(d)
    check_eq({r: (o.get("action"), o.get("weight")) for r, o in ov.items()},
             {"us-east-1": ("pin", 7), "eu-west-1": ("pin", 9)}, "only the two held pins in effect")
    check_eq(d.status()["failover"]["frozen"], False, "not frozen")
    wait_for(lambda: (lambda w: w["us-east-1"] == 7 and w["eu-west-1"] == 9)(s.peer.weights(NAME)), 20,
             "the held pins' weights at the Route 53 peer")
    time.sleep(1.0)   # a refused change would have followed by now
    check_eq(s.peer.weights(NAME), {"us-east-1": 7, "eu-west-1": 9, "ap-southeast-2": 100},
             "the peer: the two pins, nothing of the refused changes")
    refused = [e for w in ("POST /v1/overrides", "POST /v1/freeze") for e in audit(s, w) if e["status"] == 503]
    check(len(refused) >= 3 and all("waiting for the disk" in e["result"] for e in refused),
          f"the refused changes audited 503 with the reason ({len(refused)})")
    check_eq(d.stop(), 0, "clean exit")
    s.stop()


class Hangup(threading.Thread):
    """A hostile API: reads each request whole, then closes without a word
    (rst: with a reset).  Records what it read."""

    def __init__(self, rst):
        super().__init__(daemon=True)
        self.rst, self.seen = rst, []
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.halt = threading.Event()

    def run(self):
        while not self.halt.is_set():
            try:
                c, _ = self.sock.accept()
            except OSError:
                continue
            c.settimeout(5)
            got = b""
            try:
                while b"\r\n\r\n" not in got:
                    got += c.recv(65536) or b"\r\n\r\n"
                head, _, body = got.partition(b"\r\n\r\n")
                m = re.search(rb"(?i)content-length: *(\d+)", head)
                while m and len(body) < int(m.group(1)):
                    body += c.recv(65536) or b"x" * int(m.group(1))
            except OSError:
                pass
            self.seen.append(got.split(b" ")[0].decode(errors="replace"))
            if self.rst:
                c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            c.close()
        self.sock.close()


def test_regionctl_unanswered_change():
    """regionctl: a change whose connection closes unanswered (nothing, or a
    reset, after the request went out) says the change may still be applied
    and to check regionctl status; a read that fails so does not."""
    tokens, _ = token_file()
    env = dict(os.environ, REGIOND_TOKEN_FILE=tokens)
    for rst in (False, True):
        h = Hangup(rst)
        h.start()
        api = f"http://127.0.0.1:{h.sock.getsockname()[1]}"
        try:
            for args, method, change in ((["freeze", "--note", "x"], "POST", True), (["release", "us-east-1"],
                                         "DELETE", True), (["status"], "GET", False)):
                n = len(h.seen)
                r = subprocess.run([REGIONCTL, "--api", api, *args], capture_output=True, text=True, timeout=30,
                                   env=env)
                what = f"regionctl {' '.join(args)} ({'reset' if rst else 'closed'})"
                check(r.returncode != 0, f"{what}: fails ({r.returncode})")
                check_eq(h.seen[n:], [method], f"{what}: the request went out")
                hint = "the change may still be applied" in r.stderr and "regionctl status" in r.stderr
                check_eq(hint, change, f"{what}: the hint only for a change ({r.stderr.strip()})")
        finally:
            h.halt.set()
            h.join(5)


if __name__ == "__main__":
    run_tests([test_held_not_evicted, test_held_cap, test_regionctl_unanswered_change])
