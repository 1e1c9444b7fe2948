"""The status feed: /metrics through a real Prometheus parser, the SSE stream
delivering transitions in order, Last-Event-ID resume, ids monotonic across a
restart, and malformed requests answered without harm."""
import http.client
import json
import queue
import socket
import threading
import time

from prometheus_client.parser import text_string_to_metric_families

from harness import (Daemon, Nginx, check, check_eq, free_port, make_config, run_tests,
                     tmpdir)


class SSE:
    """Reads an event stream in a thread; events land in a queue."""

    def __init__(self, port, last_id=None):
        self.q = queue.Queue()
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        headers = {"Accept": "text/event-stream"}
        if last_id is not None:
            headers["Last-Event-ID"] = str(last_id)
        self.conn.request("GET", "/v1/events", headers=headers)
        self.sock = self.conn.sock
        self.resp = self.conn.getresponse()
        self.status = self.resp.status
        self.ctype = self.resp.getheader("Content-Type")
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        ev = {}
        try:
            while True:
                line = self.resp.fp.readline()
                if not line:
                    break
                line = line.decode().rstrip("\n")
                if line == "":
                    if "data" in ev:
                        self.q.put(ev)
                    ev = {}
                elif line.startswith(":"):
                    continue
                else:
                    k, _, v = line.partition(":")
                    ev[k] = v.lstrip(" ")
        except Exception:
            pass
        self.q.put(None)

    def next(self, timeout=10):
        return self.q.get(timeout=timeout)

    def until(self, pred, timeout=15):
        deadline = time.monotonic() + timeout
        seen = []
        while time.monotonic() < deadline:
            try:
                ev = self.next(max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                break
            if ev is None:
                break
            seen.append(ev)
            if pred(ev):
                return seen
        raise AssertionError(f"event not seen; got {[e.get('event') for e in seen]}")

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)   # wakes the reader thread at once
        except OSError:
            pass
        self.conn.close()
        self.t.join(timeout=5)


def is_target_event(ev, to):
    if ev.get("event") != "target_state":
        return False
    return json.loads(ev["data"])["to"] == to


def setup():
    p = free_port()
    ngx = Nginx([p])
    regions = [{"name": "eu-west-1", "api": [{"url": f"http://127.0.0.1:{p}/health"}]},
               {"name": "us-east-1", "api": [{"url": f"http://127.0.0.1:{p}/health", "name": "h"}]}]
    state = tmpdir()
    cfg = make_config(regions, state, free_port())
    return ngx, p, cfg


def test_metrics():
    ngx, p, cfg = setup()
    d = Daemon(cfg)
    d.wait_target("eu-west-1", "up")
    code, body = d.get("/metrics")
    check_eq(code, 200, "/metrics answers")
    fams = {f.name: f for f in text_string_to_metric_families(body.decode())}
    for name in ["regiond_build_info", "regiond_region_state", "regiond_target_state",
                 "regiond_region_probe_duration_seconds", "regiond_target_latency_window_seconds",
                 "regiond_region_probes", "regiond_target_probes", "regiond_config_generation"]:
        check(name in fams, f"metric family {name} present")
    hist = fams["regiond_region_probe_duration_seconds"]
    check_eq(hist.type, "histogram", "probe duration is a histogram")
    inf = [s for s in hist.samples if s.name.endswith("_bucket") and s.labels["le"] == "+Inf"
           and s.labels["region"] == "eu-west-1"]
    cnt = [s for s in hist.samples if s.name.endswith("_count") and s.labels["region"] == "eu-west-1"]
    check(inf and cnt and inf[0].value == cnt[0].value and cnt[0].value >= 2, "+Inf bucket equals count")
    st = [s for s in fams["regiond_target_state"].samples if s.labels["region"] == "eu-west-1"]
    check(st and st[0].value == 1, "target state 1 (up) for the healthy target")
    up = [s for s in fams["regiond_region_state"].samples
          if s.labels["region"] == "eu-west-1" and s.labels["state"] == "up"]
    check(up and up[0].value == 1, "region_state{state=up} is 1")
    check_eq(d.stop(), 0, "clean exit")
    ngx.stop()


def test_sse_order_and_resume():
    ngx, p, cfg = setup()
    d = Daemon(cfg)
    s = SSE(d.port)
    check_eq(s.status, 200, "event stream answers 200")
    check_eq(s.ctype, "text/event-stream", "content type")
    s.until(lambda e: is_target_event(e, "up") and json.loads(e["data"])["region"] == "us-east-1")
    ngx.down(p)
    s.until(lambda e: e.get("event") == "region_state" and json.loads(e["data"])["to"] == "down"
            and json.loads(e["data"])["region"] == "us-east-1")
    ngx.down(p, False)
    s.until(lambda e: e.get("event") == "region_state" and json.loads(e["data"])["to"] == "up"
            and json.loads(e["data"])["region"] == "us-east-1")
    s.close()
    # A fresh stream replays the ring: the transitions of one target in order.
    s2 = SSE(d.port)
    allev = s2.until(lambda e: e.get("event") == "region_state" and json.loads(e["data"])["to"] == "up"
                     and json.loads(e["data"])["from"] == "down" and json.loads(e["data"])["region"] == "us-east-1")
    s2.close()
    ids = [int(e["id"]) for e in allev]
    check(ids == sorted(ids) and len(set(ids)) == len(ids), "ids strictly increasing")
    seq = [(json.loads(e["data"])["from"], json.loads(e["data"])["to"]) for e in allev
           if e.get("event") == "target_state" and json.loads(e["data"])["region"] == "us-east-1"]
    check_eq(seq, [("unknown", "up"), ("up", "down"), ("down", "up")], "target transitions in order")
    # Resume after the 3rd event: exactly the events after it, none lost.
    k = ids[2]
    s3 = SSE(d.port, last_id=k)
    rest = s3.until(lambda e: int(e["id"]) == ids[-1])
    s3.close()
    check_eq([int(e["id"]) for e in rest], ids[3:], "Last-Event-ID resumes without loss")
    last = ids[-1]
    check_eq(d.stop(), 0, "clean exit")
    # Restart with the same state_dir: ids keep growing.
    d2 = Daemon(cfg, dir=d.dir)
    s4 = SSE(d2.port)
    first = s4.next()
    s4.close()
    check(int(first["id"]) > last, f"ids monotonic across restart ({first['id']} > {last})")
    check_eq(d2.stop(), 0, "clean exit")
    ngx.stop()


def raw(port, data, wait=5.0):
    """Send DATA on a fresh connection and return the status line's first
    12 bytes plus what followed, read until the server closes or WAIT
    seconds pass.  A daemon that never answers returns b"" and fails every
    check below: silence is not a rejection."""
    s = socket.create_connection(("127.0.0.1", port), timeout=wait)
    out = b""
    deadline = time.monotonic() + wait
    try:
        s.sendall(data)
        while b"\r\n" not in out and time.monotonic() < deadline:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
    except (socket.timeout, ConnectionResetError, BrokenPipeError):
        pass
    s.close()
    return out


def test_bad_requests():
    """README: "oversized or malformed requests 400/413" -- a garbage request
    line is 400, headers over the cap 400, a body over the cap 413, each
    answered (not a hang, not a reset) and the daemon still serves."""
    ngx, p, cfg = setup()
    d = Daemon(cfg)
    host = f"127.0.0.1:{d.port}".encode()
    check_eq(d.get("/nope")[0], 404, "unknown path 404")
    check_eq(d.get("/v1/status", method="POST")[0], 405, "POST to a read-only endpoint 405")
    check_eq(d.get("/v1/events", headers={"Last-Event-ID": "abc"})[0], 400, "bad Last-Event-ID 400")
    out = raw(d.port, b"GARBAGE\r\n\r\n")
    check_eq(out[:12], b"HTTP/1.1 400", f"garbage request line: 400 ({out[:40]!r})")
    out = raw(d.port, b"GET /v1/status HTTP/1.1\r\nHost: " + host + b"\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n")
    check_eq(out[:12], b"HTTP/1.1 400", f"oversized headers: 400 ({out[:40]!r})")
    out = raw(d.port, b"POST /v1/overrides HTTP/1.1\r\nHost: " + host + b"\r\nContent-Type: application/json\r\n"
              b"Content-Length: 10000000\r\n\r\n")
    check_eq(out[:12], b"HTTP/1.1 413", f"oversized body: 413 ({out[:40]!r})")
    check_eq(d.get("/healthz")[0], 200, "daemon healthy after malformed requests")
    check_eq(d.stop(), 0, "clean exit")
    ngx.stop()


if __name__ == "__main__":
    run_tests([test_metrics, test_sse_order_and_resume, test_bad_requests])
