"""Persistence off the hot path (issue 14, item 6).  strace delays every
fsync of regiond (all threads) by STALL_S while a drill runs and another region
fails and recovers: the loop's lag stays under 250 ms, probes keep their
300 ms interval, the Route 53 batches go out; once the writer thread has
caught up, kill -9 and a restart find the drill with the timeline written
during the stall, and a freeze asked for during the stall holds after the
restart (it is answered once its own write is durable; the loop runs on
meanwhile: test_state_stall.py times that)."""
import json
import time

from harness import check, check_eq, run_tests, wait_for
from state_kit import NAME, Setup, fsync_stalled, metric, probes

STALL_S = 1   # each fsync: the freeze's own write (two fsyncs, the file and its directory) takes >= 2 s


def test_stalled_fsync():
    s = Setup(want_weight=100, decision={"min_healthy_regions": 1})
    d = s.start()
    s.live_read(d)
    code, out = s.api(d, "POST", "/v1/drills", {"region": "eu-west-1", "action": "drain", "duration_s": 600})
    check(code in (200, 201), f"drill started before the stall ({code} {out})")
    wait_for(lambda: s.peer.weights(NAME)["eu-west-1"] == 0, 10, "drill drain at the peer")
    drill_id = out.get("id") if isinstance(out, dict) else None
    with fsync_stalled(d.proc.pid, STALL_S):
        p0, t0 = probes(d, "us-east-1"), time.monotonic()
        s.ngx.down(s.ports[2])
        wait_for(lambda: s.peer.weights(NAME)["ap-southeast-2"] == 0, 15, "health drain during the stall")
        s.ngx.down(s.ports[2], False)
        wait_for(lambda: s.peer.weights(NAME)["ap-southeast-2"] == 100, 15, "restore during the stall")
        s.check_on_time(d, p0, t0)
        queued = metric(d, "regiond_state_writes_queued")
        check(queued is not None and queued >= 1, f"writes wait in the writer thread's queue ({queued})")
        # An operator's request is answered once its own write is durable
        # (the disk is slow, not failing: 200), and holds after a restart.
        t1 = time.monotonic()
        fcode, fout = s.api(d, "POST", "/v1/freeze", {"note": "during the stall"}, timeout=60)
        took = time.monotonic() - t1
        check(fcode == 200 and took >= 2, f"freeze during the stall answered after its fsync ({took:.1f} s): "
                                          f"{fcode} {fout}")
        check_eq(d.status()["failover"]["frozen"], True, "frozen in memory once acknowledged")
        wait_for(lambda: metric(d, "regiond_state_writes_queued") == 0, 60, "the writer thread catches up")
    d.proc.kill()
    d.proc.wait(timeout=10)
    d.log.close()
    d = s.start()
    check_eq(d.status()["failover"]["frozen"], fcode == 200, "after kill -9: frozen exactly when acknowledged")
    code, body = d.get("/v1/drills")
    drills = json.loads(body)
    act = [x for x in drills if x["state"] == "active"]
    check(len(act) == 1 and act[0]["region"] == "eu-west-1", f"after kill -9 the drill is still active ({drills})")
    if act:
        code, body = d.get(f"/v1/drills/{act[0]['id']}")
        rep = json.loads(body)
        ap = [e["text"] for e in rep["timeline"] if e["type"] == "region_state" and "ap-southeast-2" in e["text"]]
        r53 = [e for e in rep["timeline"] if e["type"].startswith("route53_change")]
        check(len(ap) >= 2 and len(r53) >= 6, f"the timeline written during the stall survived (ap-southeast-2 down "
                                              f"and up: {len(ap)} entries; {len(r53)} route53 entries)")
    check_eq(d.stop(), 0, "clean exit")
    s.stop()


if __name__ == "__main__":
    run_tests([test_stalled_fsync])
