"""No acknowledgement without durability (issue 14, item 3).  state_dir is
a 1 MiB tmpfs this test mounts (root, as in CI).  Filled up, then
remounted read-only, at runtime: releasing an override, freezing and
starting a drill answer 503 with the reason and change nothing at the
strict Route 53 peer; a health-driven decision still goes out (its number
comes from a block reserved earlier).  After kill -9 and a restart on a
working disk the drain is still there, and no decision number in the
peer's batch comments repeats."""
import os
import signal
import subprocess
import time

from harness import check, check_eq, run_tests, tmpdir, wait_for
from state_kit import NAME, Setup


def sh(*argv):
    r = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        raise AssertionError(f"{' '.join(argv)}: {r.stderr.strip()}")


def fill(dirname):
    fd = os.open(os.path.join(dirname, "filler"), os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError:
        pass
    finally:
        os.close(fd)


def refused(s, d, what, method, path, body=None):
    code, out = s.api(d, method, path, body)
    check_eq(code, 503, f"{what}: 503 ({out.get('error') if isinstance(out, dict) else out})")
    check(isinstance(out, dict) and "could not be saved" in out.get("error", ""), f"{what}: the answer says why")


def test_full_and_read_only_state_dir():
    mnt = tmpdir("tmpfs-")
    sh("mount", "-t", "tmpfs", "-o", "size=1m,nr_inodes=4096,mode=0750", "tmpfs", mnt)
    s = None
    try:
        s = Setup(want_weight=100, decision={"min_healthy_regions": 1}, state_dir=os.path.join(mnt, "state"))
        d = s.start()
        s.live_read(d)
        code, out = s.api(d, "POST", "/v1/overrides", {"region": "eu-west-1", "action": "drain", "duration_s": 600})
        check_eq(code, 200, f"drain on a working disk ({out})")
        wait_for(lambda: s.peer.weights(NAME)["eu-west-1"] == 0, 10, "drain at the peer")
        fill(mnt)
        n_writes = len(s.writes())
        refused(s, d, "release on a full disk", "DELETE", "/v1/overrides/eu-west-1")
        refused(s, d, "freeze on a full disk", "POST", "/v1/freeze", {"note": "x"})
        refused(s, d, "drill on a full disk", "POST", "/v1/drills",
                {"region": "ap-southeast-2", "action": "drain", "duration_s": 60})
        time.sleep(1.5)
        check_eq(len(s.writes()), n_writes, "nothing of the refused requests reached Route 53")
        check_eq(s.peer.weights(NAME)["eu-west-1"], 0, "the drain stays at the peer")
        fo = d.status()["failover"]
        check(not fo["frozen"], "not frozen in memory either")
        check(b"eu-west-1" in d.get("/v1/overrides")[1], "the override is still listed")
        # A health-driven decision goes on: its number was reserved on a working disk.
        s.ngx.down(s.ports[2])
        wait_for(lambda: s.peer.weights(NAME)["ap-southeast-2"] == 0, 15, "health drain with the disk full")
        wait_for(lambda: any(a["key"] == "state-write" for a in d.status()["alarms"]["active"]), 5,
                 "the state-write alarm is up")
        os.unlink(os.path.join(mnt, "filler"))
        sh("mount", "-o", "remount,ro", mnt)
        refused(s, d, "release on a read-only disk", "DELETE", "/v1/overrides/eu-west-1")
        check_eq(s.peer.weights(NAME)["eu-west-1"], 0, "read-only: the drain stays at the peer")
        # Killed while the disk is still read-only: a write retried once it
        # is writable again (control.json's history is, from the 1 s tick)
        # would save the drain as regiond's own, and whether the kill came
        # first was a race (lost under ASan in CI).
        d.proc.send_signal(signal.SIGKILL)
        d.proc.wait(timeout=10)
        d.log.close()
        sh("mount", "-o", "remount,rw", mnt)
        s.ngx.down(s.ports[2], False)
        d = s.start()
        s.live_read(d)
        check(b"eu-west-1" in d.get("/v1/overrides")[1], "after kill -9 the drain is still there")
        code, out = s.api(d, "DELETE", "/v1/overrides/eu-west-1")
        check_eq(code, 200, f"release on a working disk ({out})")
        # The health drain went out while nothing could be saved: after the
        # restart regiond cannot tell it from someone else's change, so it is
        # drift, reported and left alone (never overwritten) until released.
        wait_for(lambda: any(w["region"] == "ap-southeast-2" and w["drifted"]
                             for w in d.status()["failover"]["weights"]), 10,
                 "the unsaved drain is reported as drift after the restart")
        check_eq(s.peer.weights(NAME)["ap-southeast-2"], 0, "the drifted record is left alone")
        code, out = s.api(d, "DELETE", "/v1/overrides/ap-southeast-2")
        check_eq(code, 200, f"the operator accepts it ({out})")
        wait_for(lambda: s.peer.weights(NAME) == {"us-east-1": 100, "eu-west-1": 100, "ap-southeast-2": 100}, 15,
                 "every region back at the peer")
        nums = s.decisions()
        check(len(nums) >= 4 and len(set(nums)) == len(nums), f"no decision number repeats at the peer: {nums}")
        check_eq(d.stop(), 0, "clean exit")
    finally:
        if s:
            s.stop()
        subprocess.run(["umount", "-l", mnt], capture_output=True, timeout=30)


if __name__ == "__main__":
    run_tests([test_full_and_read_only_state_dir])
