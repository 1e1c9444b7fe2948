"""Edges of the durable control state (review of issue 14).

test_stop_answers_waiting: strace delays every fsync of regiond by 2 s.  Two
operators act at once: one freezes (its write under way), the other pins a
region (queued behind it), a third starts a drain drill.  SIGTERM while all
wait: all three clients receive 503 "not applied: regiond is stopping" (not a
dropped connection), regiond exits 0 within its bound, and a restart finds
neither the freeze nor the pin nor an active drill; the strict Route 53 peer never got the pin's
weight.

test_failed_save_retried: state_dir on a tmpfs.  A pin for 4 s is durable;
the disk is remounted read-only, the pin expires (regiond restores the
weight at the strict Route 53 peer: availability first) and the snapshot
holding the expiry and the applied change fails.  The disk is made
writable again: within 5 s control.json (read from the disk, not from
regiond) has no override and records more applied changes than before;
regiond retried from its 1 s tick, not in a tight loop (its log holds a
bounded number of failed writes).

test_drill_leaves_operator_pin: a drain drill runs; a second operator pins
the same region meanwhile (replacing the drill's drain).  At the drill's
expiry the operator's pin stays (regiond's overrides and the strict Route 53
peer's weight), and the drill's timeline says its drain was not its own.

test_drill_killed_starting: fsync stalled 2 s; a drain drill is started and
regiond is killed (-9) once the drill's file is on disk but before its
override is.  After a restart the drill is stopped (not active without a
drain), with a timeline note, and the region has no override."""
import json
import os
import signal
import subprocess
import threading
import time

from harness import check, check_eq, run_tests, tmpdir, wait_for
from state_kit import NAME, Setup, fsync_stalled


def overrides(d):
    return {o["region"]: o for o in json.loads(d.get("/v1/overrides")[1])}


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


def sh(*argv):
    r = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        raise AssertionError(f"{' '.join(argv)}: {r.stderr.strip()}")


def disk_state(state_dir):
    try:
        with open(os.path.join(state_dir, "control.json")) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def test_stop_answers_waiting():
    s = Setup(want_weight=100, decision={"min_healthy_regions": 1})
    d = s.start()
    s.live_read(d)
    before = len(s.writes())
    d2 = None
    try:
        with fsync_stalled(d.proc.pid, 2):
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
        # strace is detached: the answers came while the disk was stalled; LeakSanitizer cannot run under ptrace
        rc = d.proc.wait(90)
        if rc != 0:
            print("".join(open(d.log_path).readlines()[-60:]))
        check_eq(rc, 0, "regiond exits cleanly")
        check(time.monotonic() - t0 < 90, f"shutdown bounded ({time.monotonic() - t0:.1f} s)")
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
        if d.proc.poll() is None:
            d.proc.kill()
        if d2:
            d2.stop()
        s.stop()


def test_failed_save_retried():
    mnt = tmpdir("tmpfs-")
    sh("mount", "-t", "tmpfs", "-o", "size=1m,nr_inodes=4096,mode=0750", "tmpfs", mnt)
    s = d = None
    state_dir = os.path.join(mnt, "state")
    try:
        s = Setup(want_weight=100, decision={"min_healthy_regions": 1}, state_dir=state_dir)
        d = s.start()
        s.live_read(d)
        code, out = s.api(d, "POST", "/v1/overrides", {"region": "us-east-1", "action": "pin", "weight": 7,
                                                       "duration_s": 4, "note": "short pin"})
        check_eq(code, 200, f"pin for 4 s ({out})")
        wait_for(lambda: s.peer.weights(NAME).get("us-east-1") == 7, 15, "the peer has the pin's weight")
        disk = disk_state(state_dir)
        check(disk and [o["region"] for o in disk["overrides"]] == ["us-east-1"], f"the pin is on disk ({disk})")
        n_changes = len(disk["changes"])
        sh("mount", "-o", "remount,ro", mnt)
        wait_for(lambda: "us-east-1" not in overrides(d), 15, "the pin expired")
        wait_for(lambda: s.peer.weights(NAME).get("us-east-1") == 100, 15, "the peer has the weight restored")
        time.sleep(2.5)   # the failed snapshot, and retries from the tick
        disk = disk_state(state_dir)
        check_eq([o["region"] for o in disk["overrides"]], ["us-east-1"], "read-only: the disk still has the pin")
        sh("mount", "-o", "remount,rw", mnt)
        wait_for(lambda: disk_state(state_dir)["overrides"] == [], 5,
                 "writable again: control.json has no override (the expiry saved)")
        check(len(disk_state(state_dir)["changes"]) > n_changes,
              "the applied change (the restore) is in control.json's history")
        with open(d.log_path) as f:
            fails = sum(1 for line in f if "control.json" in line and ("failed" in line or "Read-only" in line))
        check(fails < 60, f"retried from the 1 s tick, not in a tight loop ({fails} log lines)")
        check_eq(d.stop(), 0, "clean exit")
        d = None
    finally:
        if d and d.proc.poll() is None:
            d.proc.kill()
        if s:
            s.stop()
        subprocess.run(["mount", "-o", "remount,rw", mnt], capture_output=True, timeout=30)
        subprocess.run(["umount", "-l", mnt], capture_output=True, timeout=30)


def drill(d, i):
    out = json.loads(d.get("/v1/drills")[1])
    return next(x for x in (out.get("drills", out) if isinstance(out, dict) else out) if x["id"] == i)


def test_drill_leaves_operator_pin():
    s = Setup(want_weight=100, decision={"min_healthy_regions": 1})
    d = s.start()
    try:
        s.live_read(d)
        code, out = s.api(d, "POST", "/v1/drills", {"region": "ap-southeast-2", "action": "drain", "duration_s": 6})
        check(code in (200, 201), f"drill started ({code} {out})")
        wait_for(lambda: s.peer.weights(NAME).get("ap-southeast-2") == 0, 15, "the peer has the drill's drain")
        code, out = s.api(d, "POST", "/v1/overrides", {"region": "ap-southeast-2", "action": "pin", "weight": 9,
                                                       "duration_s": 600, "note": "operator pin"})
        check_eq(code, 200, f"an operator pins the region during the drill ({out})")
        wait_for(lambda: s.peer.weights(NAME).get("ap-southeast-2") == 9, 15, "the peer has the pin")
        wait_for(lambda: drill(d, 1)["state"] != "active", 20, "the drill expired")
        time.sleep(1.5)
        ov = overrides(d).get("ap-southeast-2")
        check(ov is not None and ov["note"] == "operator pin", f"the operator's pin survives the drill ({ov})")
        check_eq(s.peer.weights(NAME).get("ap-southeast-2"), 9, "the peer keeps the pinned weight")
        check("not this drill's" in d.get("/v1/drills/1")[1].decode(), "the drill's timeline says the override was not its own")
        check_eq(d.stop(), 0, "clean exit")
        d = None
    finally:
        if d and d.proc.poll() is None:
            d.proc.kill()
        s.stop()


def test_drill_killed_starting():
    s = Setup(want_weight=100, decision={"min_healthy_regions": 1})
    d = s.start()
    d2 = None
    try:
        s.live_read(d)
        with fsync_stalled(d.proc.pid, 2):
            dr = Call(s, d, "POST", "/v1/drills", {"region": "ap-southeast-2", "action": "drain",
                                                   "duration_s": 600})
            dr.start()
            path = os.path.join(s.state_dir, "drill-1.json")
            wait_for(lambda: os.path.exists(path), 20, "the drill's file is on disk", interval=0.02)
            d.proc.kill()   # its override (control.json) is still in its 2 s fsync
        d.proc.wait(10)
        dr.join(10)
        check(dr.code != 201 and dr.code != 200, f"the drill start was never acknowledged ({dr.code})")
        d2 = s.start()
        s.live_read(d2)
        x = drill(d2, 1)
        check_eq(x["state"], "stopped", "after restart the half-started drill is stopped, not active")
        tl = d2.get("/v1/drills/1")[1].decode()
        check("not resumed" in tl, f"its timeline says why ({tl[-300:]})")
        check("ap-southeast-2" not in overrides(d2), "the region has no override")
        time.sleep(1.0)
        check_eq(s.peer.weights(NAME).get("ap-southeast-2"), 100, "the peer's weight is untouched")
    finally:
        if d.proc.poll() is None:
            d.proc.kill()
        if d2:
            d2.stop()
        s.stop()


def test_drill_end_backs_off():
    mnt = tmpdir("tmpfs-")
    sh("mount", "-t", "tmpfs", "-o", "size=1m,nr_inodes=4096,mode=0750", "tmpfs", mnt)
    s = d = None
    try:
        s = Setup(want_weight=100, decision={"min_healthy_regions": 1}, state_dir=os.path.join(mnt, "state"))
        d = s.start()
        s.live_read(d)
        code, out = s.api(d, "POST", "/v1/drills", {"region": "ap-southeast-2", "action": "drain", "duration_s": 3})
        check(code in (200, 201), f"drill started ({code} {out})")
        wait_for(lambda: s.peer.weights(NAME).get("ap-southeast-2") == 0, 15, "the peer has the drill's drain")
        sh("mount", "-o", "remount,ro", mnt)
        wait_for(lambda: "drill not ended yet" in open(d.log_path).read(), 15, "the drill's end could not be saved")
        time.sleep(4.0)
        n = open(d.log_path).read().count("drill not ended yet")
        check(1 <= n <= 4, f"the end is retried backing off, not every 250 ms ({n} tries in ~4 s)")
        check_eq(drill(d, 1)["state"], "active", "the drill goes on while its end cannot be saved")
        sh("mount", "-o", "remount,rw", mnt)
        wait_for(lambda: drill(d, 1)["state"] != "active", 20, "writable again: the drill ends")
        wait_for(lambda: s.peer.weights(NAME).get("ap-southeast-2") == 100, 15, "the peer gets the weight back")
        check_eq(d.stop(), 0, "clean exit")
        d = None
    finally:
        if d and d.proc.poll() is None:
            d.proc.kill()
        if s:
            s.stop()
        subprocess.run(["mount", "-o", "remount,rw", mnt], capture_output=True, timeout=30)
        subprocess.run(["umount", "-l", mnt], capture_output=True, timeout=30)


def active_alarms(d):
    return {a["key"]: a for a in d.status()["alarms"]["active"]}


def test_hung_disk_alarm():
    s = Setup(want_weight=100, decision={"min_healthy_regions": 1})
    d = s.start()
    try:
        s.live_read(d)
        check("state-write-stalled" not in active_alarms(d), "no stall alarm on a healthy disk")
        with fsync_stalled(d.proc.pid, 30):
            fr = Call(s, d, "POST", "/v1/freeze", {"note": "hung disk"})
            fr.start()
            wait_for(lambda: "state-write-stalled" in active_alarms(d), 25, "the state-write-stalled alarm")
            a = active_alarms(d)["state-write-stalled"]
            check_eq(a.get("severity"), "warning", f"a warning naming the file ({a})")
            check("control.json" in json.dumps(a) or "event-id" in json.dumps(a) or "drill" in json.dumps(a),
                  f"the alarm names the file ({a})")
            check_eq(d.get("/healthz")[0], 200, "the loop still answers")
        fr.join(40)
        check_eq(fr.code, 200, f"the freeze is acknowledged once the disk answers ({fr.out})")
        wait_for(lambda: "state-write-stalled" not in active_alarms(d), 15, "the stall alarm resolved")
        check_eq(d.stop(), 0, "clean exit")
        d = None
    finally:
        if d and d.proc.poll() is None:
            d.proc.kill()
        s.stop()


if __name__ == "__main__":
    run_tests([test_stop_answers_waiting, test_failed_save_retried, test_drill_leaves_operator_pin,
               test_drill_killed_starting, test_drill_end_backs_off, test_hung_disk_alarm])
