"""A stalled disk never stalls the loop, and an operator's change is answered
only once it is durable (issue 14, persistence off the hot path).

test_stalled_disk: strace delays every fsync of regiond (all threads) by
STALL_S (1 s; a state write makes two: the file and its directory).
Meanwhile a second actor polls /healthz and /v1/status every 100 ms and
two operators act at once (one freezes, the other unfreezes right
after, from another connection), a third pins a region, and a hostile
client sends a change and hangs up before the answer.  Checked: /healthz
and /v1/status always answer within 1 s, the loop lag stays under 250 ms,
probes keep their 300 ms interval; each change answers 200 only after its
fsyncs (>= 2 s), is not in effect before (status and the Route 53 peer
unchanged), the two operators are answered in the order they asked and the
last word wins; kill -9 right after the pin's answer and a restart find the
pin (and the unfreeze), and the peer gets the pinned weight.

test_stalled_disk_timing: the same stall, the loop's own measures (lag,
probes) while three changes and a drill start are in flight; the drill
shows as starting and drains nothing until its file and override are
durable.

test_read_only_disk: state_dir on a tmpfs remounted read-only at runtime:
two changes sent at once both answer 503 with the reason, in order, nothing
changes in memory or at the strict Route 53 peer, the loop stays on time."""
import http.client
import json
import os
import signal
import socket
import subprocess
import threading
import time

from harness import check, check_eq, run_tests, tmpdir, wait_for
from state_kit import NAME, Setup, fsync_stalled, probes

STALL_S = 1   # each fsync; a change is one write (two fsyncs: >= 2 s), a drill start two (>= 4 s)


class Poller(threading.Thread):
    """The second actor: GET /healthz and /v1/status every 100 ms, on fresh
    connections, recording the slowest answer and any failure."""

    def __init__(self, d):
        super().__init__(daemon=True)
        host, port = d.base.split("//")[1].split(":")
        self.addr = (host, int(port))
        self.halt = threading.Event()
        self.worst = {"/healthz": 0.0, "/v1/status": 0.0}
        self.n = 0
        self.errors = []

    def run(self):
        while not self.halt.is_set():
            for path in ("/healthz", "/v1/status"):
                t = time.monotonic()
                try:
                    c = http.client.HTTPConnection(*self.addr, timeout=5)
                    c.request("GET", path)
                    r = c.getresponse()
                    r.read()
                    c.close()
                    if r.status != 200:
                        self.errors.append(f"{path}: {r.status}")
                except OSError as e:
                    self.errors.append(f"{path}: {e}")
                self.worst[path] = max(self.worst[path], time.monotonic() - t)
                self.n += 1
            time.sleep(0.1)


class Call(threading.Thread):
    """One operator request in the background: its answer and when it came."""

    def __init__(self, s, d, method, path, body=None):
        super().__init__(daemon=True)
        self.args = (s, d, method, path, body)
        self.code = self.out = self.done_at = None
        self.sent_at = time.monotonic()

    def run(self):
        s, d, method, path, body = self.args
        self.code, self.out = s.api(d, method, path, body, timeout=60)
        self.done_at = time.monotonic()


def overrides(d):
    return {o["region"]: o for o in json.loads(d.get("/v1/overrides")[1])}


def hang_up(d, body):
    """A hostile client: sends a change and closes before the answer."""
    host, port = d.base.split("//")[1].split(":")
    raw = json.dumps(body).encode()
    with socket.create_connection((host, int(port)), timeout=5) as c:
        c.sendall(b"POST /v1/overrides HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                  b"Authorization: Bearer " + d.tok.encode() + b"\r\nContent-Length: " +
                  str(len(raw)).encode() + b"\r\n\r\n" + raw)


def test_stalled_disk():
    s = Setup(want_weight=100, decision={"min_healthy_regions": 1})
    d = s.start()
    d.tok = s.toks["ops"]
    s.live_read(d)
    poll = Poller(d)
    try:
        with fsync_stalled(d.proc.pid, STALL_S):   # regiond is SIGKILLed inside: strace is then SIGKILLed too
            poll.start()
            # Two operators at once: a freeze, and right after it an unfreeze.
            a = Call(s, d, "POST", "/v1/freeze", {"note": "operator A"})
            a.start()
            time.sleep(0.2)
            b = Call(s, d, "DELETE", "/v1/freeze")
            b.start()
            time.sleep(0.5)
            check(a.code is None and b.code is None, f"neither answered before its fsync ({a.code}, {b.code})")
            check_eq(d.status()["failover"]["frozen"], False, "the freeze is not in effect before it is durable")
            a.join(60)
            b.join(60)
            check_eq((a.code, b.code), (200, 200), f"both operators acknowledged ({a.out}, {b.out})")
            check(a.done_at - a.sent_at >= 1.9, f"the freeze answered after its fsync ({a.done_at - a.sent_at:.1f} s)")
            check(a.done_at <= b.done_at, "answered in the order asked")
            check_eq(d.status()["failover"]["frozen"], False, "the last word (unfreeze) wins")
            # A pin, and a hostile client that hangs up on its own change.
            n_writes = len(s.writes())
            c = Call(s, d, "POST", "/v1/overrides",
                     {"region": "us-east-1", "action": "pin", "weight": 7, "duration_s": 600, "note": "pin"})
            c.start()
            hang_up(d, {"region": "ap-southeast-2", "action": "pin", "weight": 100, "duration_s": 600})
            time.sleep(0.5)
            check("us-east-1" not in overrides(d), "the pin is not in effect before it is durable")
            check_eq(len(s.writes()), n_writes, "nothing reached Route 53 before the pin was durable")
            check_eq(s.peer.weights(NAME)["us-east-1"], 100, "the peer unchanged before the pin was durable")
            c.join(60)
            check_eq(c.code, 200, f"the pin acknowledged ({c.out})")
            check(c.done_at - c.sent_at >= 1.9, f"the pin answered after its fsync ({c.done_at - c.sent_at:.1f} s)")
            poll.halt.set()   # before the kill: a request cut by it is not the loop's fault
            poll.join(10)
            check_eq(overrides(d).get("us-east-1", {}).get("weight"), 7, "the pin in effect once acknowledged")
            d.proc.send_signal(signal.SIGKILL)   # right after the answer
    finally:
        poll.halt.set()
    d.proc.wait(timeout=10)
    d.log.close()
    check(not poll.errors, f"the second actor was always answered ({poll.errors[:3]})")
    check(poll.worst["/healthz"] < 1.0 and poll.worst["/v1/status"] < 1.0,
          f"/healthz and /v1/status within 1 s during the stall ({poll.worst}, {poll.n} requests)")
    check(poll.n >= 20, f"the second actor kept asking ({poll.n} requests)")
    d = s.start()
    ov = overrides(d)
    check_eq(ov.get("us-east-1", {}).get("weight"), 7, "after kill -9 right after the answer: the pin is there")
    check_eq(d.status()["failover"]["frozen"], False, "after kill -9: unfrozen, the last word")
    wait_for(lambda: s.peer.weights(NAME)["us-east-1"] == 7, 15, "the pinned weight at the Route 53 peer")
    check_eq(d.stop(), 0, "clean exit")
    s.stop()


def test_stalled_disk_timing():
    """The loop's own measures while fsync is stalled and operators act."""
    s = Setup(want_weight=100, decision={"min_healthy_regions": 1})
    d = s.start()
    d.tok = s.toks["ops"]
    s.live_read(d)
    with fsync_stalled(d.proc.pid, STALL_S):
        p0, t0 = probes(d, "us-east-1"), time.monotonic()
        calls = [Call(s, d, "POST", "/v1/freeze", {"note": "x"}), Call(s, d, "DELETE", "/v1/freeze"),
                 Call(s, d, "POST", "/v1/overrides",
                      {"region": "eu-west-1", "action": "pin", "weight": 9, "duration_s": 600})]
        for c in calls:
            c.start()
            time.sleep(0.1)
        for c in calls:
            c.join(60)
        check_eq([c.code for c in calls], [200, 200, 200], "every change acknowledged once durable")
        # A drill start writes its file, then its override: answered after both.
        dr = Call(s, d, "POST", "/v1/drills", {"region": "ap-southeast-2", "action": "drain", "duration_s": 120})
        dr.start()
        time.sleep(0.5)
        shown = json.loads(d.get("/v1/drills")[1])
        check(dr.code is None and len(shown) == 1 and shown[0].get("starting") is True,
              f"the drill shows as starting before it is durable ({dr.code}, {shown})")
        check_eq(s.peer.weights(NAME)["ap-southeast-2"], 100, "no drain at the peer before the drill is durable")
        dr.join(60)
        check_eq(dr.code, 201, f"the drill started once durable ({dr.out})")
        check(dr.done_at - dr.sent_at >= 3.8, f"after both writes ({dr.done_at - dr.sent_at:.1f} s)")
        wait_for(lambda: s.peer.weights(NAME)["ap-southeast-2"] == 0, 20, "the drill's drain at the peer")
        s.check_on_time(d, p0, t0)
    check_eq(d.stop(), 0, "clean exit")
    s.stop()


def sh(*argv):
    r = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        raise AssertionError(f"{' '.join(argv)}: {r.stderr.strip()}")


def test_read_only_disk():
    mnt = tmpdir("tmpfs-")
    sh("mount", "-t", "tmpfs", "-o", "size=1m,nr_inodes=4096,mode=0750", "tmpfs", mnt)
    s = None
    try:
        s = Setup(want_weight=100, decision={"min_healthy_regions": 1}, state_dir=os.path.join(mnt, "state"))
        d = s.start()
        s.live_read(d)
        poll = Poller(d)
        poll.start()
        n_writes = len(s.writes())
        before = s.peer.weights(NAME)
        sh("mount", "-o", "remount,ro", mnt)
        a = Call(s, d, "POST", "/v1/overrides", {"region": "eu-west-1", "action": "drain", "duration_s": 600})
        b = Call(s, d, "POST", "/v1/freeze", {"note": "read-only"})
        a.start()
        b.start()
        a.join(30)
        b.join(30)
        for what, c in (("drain", a), ("freeze", b)):
            check_eq(c.code, 503, f"{what} on a read-only disk: 503 ({c.out})")
            check(isinstance(c.out, dict) and "could not be saved" in c.out.get("error", "") and
                  "Read-only" in c.out.get("error", ""), f"{what}: the answer says why ({c.out})")
        time.sleep(1.5)
        check_eq(len(s.writes()), n_writes, "nothing of the refused requests reached Route 53")
        check_eq(s.peer.weights(NAME), before, "the peer's weights unchanged")
        check("eu-west-1" not in overrides(d), "no override in memory")
        check_eq(d.status()["failover"]["frozen"], False, "not frozen in memory")
        poll.halt.set()
        poll.join(10)
        check(not poll.errors and poll.worst["/healthz"] < 1.0, f"the loop stayed on time ({poll.worst})")
        sh("mount", "-o", "remount,rw", mnt)
        check_eq(d.stop(), 0, "clean exit")
    finally:
        if s:
            s.stop()
        subprocess.run(["umount", "-l", mnt], capture_output=True, timeout=30)


if __name__ == "__main__":
    run_tests([test_stalled_disk, test_stalled_disk_timing, test_read_only_disk])
