"""Edges of the durable control state (review of issue 14).

test_stop_answers_waiting: strace delays every fsync of regiond by 2 s.  Two
operators act at once: one freezes (its write under way), the other pins a
region (queued behind it), a third starts a drain drill.  SIGTERM while all
wait: all three clients receive 503 "not applied: regiond is stopping" (not a
dropped connection), regiond exits 0 within its bound, and a restart finds
neither the freeze nor the pin nor an active drill; the strict Route 53 peer never got the pin's
weight."""
import json
import signal
import subprocess
import threading
import time

from harness import check, check_eq, run_tests, stop
from state_kit import Setup


class Call(threading.Thread):
    """One operator request in the background: its answer, or the exception."""

    def __init__(self, s, d, method, path, body=None):
        super().__init__(daemon=True)
        self.args = (s, d, method, path, body)
        self.code = self.out = None

    def run(self):
        s, d, method, path, body = self.args
        try:
            self.code, self.out = s.api(d, method, path, body, timeout=60)
        except Exception as e:   # a dropped connection is what this test catches
            self.code, self.out = "EXC", repr(e)


def fsync_delay(pid, secs):
    return subprocess.Popen(["strace", "-f", "-qq", "-o", "/dev/null", "-e", "trace=fsync,fdatasync",
                             "-e", f"inject=fsync:delay_enter={secs}s", "-p", str(pid)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def test_stop_answers_waiting():
    s = Setup(want_weight=100, decision={"min_healthy_regions": 1})
    d = s.start()
    s.live_read(d)
    before = len(s.writes())
    st = fsync_delay(d.proc.pid, 2)
    d2 = None
    try:
        time.sleep(1.0)   # attached
        check(st.poll() is None, "strace attached")
        a = Call(s, d, "POST", "/v1/freeze", {"note": "operator A"})
        a.start()
        time.sleep(0.3)
        b = Call(s, d, "POST", "/v1/overrides", {"region": "us-east-1", "action": "pin", "weight": 7,
                                                   "duration_s": 600, "note": "operator B"})
        b.start()
        dr = Call(s, d, "POST", "/v1/drills", {"region": "ap-southeast-2", "action": "drain", "duration_s": 120})
        dr.start()
        time.sleep(0.5)
        check(a.code is None and b.code is None and dr.code is None,
              f"all three wait for the stalled disk ({a.code}, {b.code}, {dr.code})")
        t0 = time.monotonic()
        d.proc.send_signal(signal.SIGTERM)
        for c in (a, b, dr):
            c.join(30)
        for who, c in (("freeze", a), ("pin", b), ("drill start", dr)):
            check_eq(c.code, 503, f"the {who} waiting at SIGTERM is answered 503 ({c.out})")
            check("stopping" in json.dumps(c.out), f"the {who}'s answer says why: {c.out}")
        rc = d.proc.wait(90)
        check_eq(rc, 0, "regiond exits cleanly")
        check(time.monotonic() - t0 < 90, f"shutdown bounded ({time.monotonic() - t0:.1f} s)")
        stop(st)
        d2 = s.start()
        s.live_read(d2)
        check_eq(d2.status()["failover"]["frozen"], False, "after restart: the unanswered freeze is not in effect")
        check_eq(json.loads(d2.get("/v1/overrides")[1]), [], "after restart: no pin, no drill's drain")
        drills = json.loads(d2.get("/v1/drills")[1])
        check(all(x.get("state") != "active" for x in (drills.get("drills", drills) if isinstance(drills, dict)
                                                        else drills)), f"after restart: no drill active ({drills})")
        time.sleep(1.0)
        check(not any('"Weight": 7' in json.dumps(w) or '"weight": 7' in json.dumps(w)
                      for w in s.writes()[before:]), "the peer never got the pin's weight")
    finally:
        stop(st)
        if d.proc.poll() is None:
            d.proc.kill()
        if d2:
            d2.stop()
        s.stop()


if __name__ == "__main__":
    run_tests([test_stop_answers_waiting])
