"""Shared by bench/failover_time.py and bench/false_drain.py: regiond's event
feed read as it happens, event times, and order statistics.

Times: regiond stamps every event with its wall clock (CLOCK_REALTIME, ms) and
gives the Route 53 change's phases as monotonic durations from the batch's
submission (submit_ms, insync_after_ms, visible_after_ms).  The benchmarks
take the fault's time from the same host's wall clock (time.time()), so every
step is "regiond's own timestamp minus the fault's", with no polling delay of
the benchmark in it."""
import datetime
import http.client
import json
import math
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "bb"))


def now_ms():
    return time.time() * 1000.0


def wall_ms(s):
    """regiond's "2026-11-25T02:39:11.123Z" -> epoch ms."""
    d = datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)
    return d.timestamp() * 1000.0


class Events:
    """GET /v1/events (SSE) in a thread; every event kept with its wall ms."""

    def __init__(self, port, host="127.0.0.1"):
        self.port, self.host = port, host
        self.events = []            # (wall_ms, type, data)
        self.cond = threading.Condition()
        self.conn = None
        self.closed = False
        t = threading.Thread(target=self._run, daemon=True)
        t.start()
        deadline = time.monotonic() + 10
        while self.conn is None and time.monotonic() < deadline:
            time.sleep(0.02)

    def _run(self):
        last = None
        while not self.closed:
            try:
                c = http.client.HTTPConnection(self.host, self.port, timeout=3600)
                hdr = {"Accept": "text/event-stream"}
                if last is not None:
                    hdr["Last-Event-ID"] = str(last)
                c.request("GET", "/v1/events", headers=hdr)
                r = c.getresponse()
                self.conn = c
                etype = None
                while not self.closed:
                    line = r.fp.readline()
                    if not line:
                        break
                    line = line.decode().rstrip("\n")
                    if line.startswith("event: "):
                        etype = line[7:]
                    elif line.startswith("id: "):
                        last = int(line[4:])
                    elif line.startswith("data: ") and etype:
                        try:
                            d = json.loads(line[6:])
                        except ValueError:
                            continue
                        with self.cond:
                            self.events.append((wall_ms(d["time"]) if "time" in d else now_ms(), etype, d))
                            self.cond.notify_all()
                        etype = None
            except (OSError, http.client.HTTPException):
                time.sleep(0.2)

    def close(self):
        self.closed = True
        try:
            if self.conn:
                self.conn.sock.shutdown(2)
        except (OSError, AttributeError):
            pass

    def mark(self):
        with self.cond:
            return len(self.events)

    def find(self, start, pred):
        with self.cond:
            for i in range(start, len(self.events)):
                if pred(*self.events[i]):
                    return i, self.events[i]
        return None

    def wait(self, start, pred, timeout):
        """The first event at index >= start with pred(wall, type, data), or None."""
        deadline = time.monotonic() + timeout
        with self.cond:
            i = start
            while True:
                while i < len(self.events):
                    if pred(*self.events[i]):
                        return i, self.events[i]
                    i += 1
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(left)


def steady_status(d):
    """/v1/status when every region is up at weight 100 and no Route 53
    change is in flight (INSYNC and its DNS check done), else None."""
    st = d.status()
    if any(r["state"] != "up" for r in st["regions"]):
        return None
    f = st["failover"]
    if any(w["live"] != 100 for w in f["weights"]):
        return None
    lc = f.get("last_change")
    if lc and lc.get("change_id") and (lc.get("status") != "INSYNC" or not lc.get("dns")):
        return None
    return st


def quantiles(xs):
    """min, median, p95 (nearest rank), max of a list; NaNs when empty."""
    xs = sorted(x for x in xs if x is not None)
    if not xs:
        return {"n": 0, "min": math.nan, "median": math.nan, "p95": math.nan, "max": math.nan}
    n = len(xs)
    med = xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2
    p95 = xs[max(0, math.ceil(0.95 * n) - 1)]
    return {"n": n, "min": xs[0], "median": med, "p95": p95, "max": xs[-1]}


def fmt_s(ms):
    return "     -" if ms is None or (isinstance(ms, float) and math.isnan(ms)) else f"{ms / 1000:6.2f}"


def machine():
    try:
        osr = dict(line.rstrip("\n").split("=", 1) for line in open("/etc/os-release") if "=" in line)
        os_name = osr.get("PRETTY_NAME", "?").strip('"')
    except OSError:
        os_name = "?"
    try:
        load = open("/proc/loadavg").read().split()[:3]
    except OSError:
        load = ["?"] * 3
    return (f"{os.cpu_count()} cores, {os_name}, load average {' '.join(load)} at the end; "
            f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; the machine is shared with other "
            f"people's tests, so timings carry their noise")
