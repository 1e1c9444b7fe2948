"""A restart in the middle of a fail drill, with decision.fail_open "restore" (one instance, no cluster
section; docs/ha.md "Drills"): the drilled region was drained at the Route 53 peer; regiond stops and
starts again in the same state directory, where every region is unknown until its probes rise or fall.
What must hold however the drill holds its region: no batch at the Route 53 peer gives the drilled
region a weight above 0 from the stop until the drill is stopped (a fail open at start, "every region
down" taken from the drilled region down beside regions still unknown, would restore it), the others
stay at 100, and the drill is active again after the restart.  Then the drill is stopped: the region is
restored at the peer (so the decisions do run).  Judged at the Route 53 peer's change log."""
import time

from harness import Daemon, check_eq, run_tests, wait_for
from test_drill import ctl, report
from test_failover import NAME, REGIONS, setup, wait_all_up

R = REGIONS[1]
WATCH_S = 5   # after the restart: the first probe rounds (300 ms, rise and fall 2), hold-down 1 s, with room


def weights_of(after):
    return {r["SetIdentifier"]: r.get("Weight") for r in after or [] if r.get("SetIdentifier")}


def raised(peer, n0):
    """The batches since change n0 that give R a weight above 0: [(seq, weight)]."""
    return [(c.get("seq"), weights_of(c["after"]).get(R)) for c in peer.changes()[n0:]
            if (weights_of(c["after"]).get(R) or 0) > 0]


def test_restart_mid_fail_drill():
    ngx, ports, peer, cfg, d, env = setup(decision={"hold_down_s": 1, "settle_ms": 0, "fail_open": "restore"})
    try:
        wait_all_up(d)
        r = ctl(d, "drill", "start", R, "--fail", "--for", "120s", "--note", "restart under fail open")
        check_eq(r.returncode, 0, f"fail drill started ({r.stdout.strip()} {r.stderr.strip()})")
        did = r.stdout.split("drill id: ")[1].split()[0]
        wait_for(lambda: peer.weights(NAME)[R] == 0, 10, f"the drill drains {R} at the Route 53 peer")
        n0 = len(peer.changes())
        check_eq(d.stop(), 0, "regiond stopped mid-drill")
        d = Daemon(cfg, dir=d.dir, env=env)
        t0 = time.monotonic()
        wait_for(lambda: report(d, did)["state"] == "active", 5, "the drill is active again after the restart")
        for x in REGIONS:
            d.wait_target(x, "down" if x == R else "up", timeout=10)
        while time.monotonic() - t0 < WATCH_S:
            time.sleep(0.2)
        check_eq(raised(peer, n0), [], f"no batch at the Route 53 peer gave {R} a weight above 0 since the stop")
        check_eq(peer.weights(NAME), {x: 0 if x == R else 100 for x in REGIONS},
                 f"{R} still drained at the Route 53 peer, the others served")
        check_eq(report(d, did)["state"], "active", "the drill still runs")

        r = ctl(d, "drill", "stop", did)
        check_eq(r.returncode, 0, f"the drill stopped ({r.stdout.strip()} {r.stderr.strip()})")
        wait_for(lambda: peer.weights(NAME)[R] == 100, 15, f"{R} restored at the Route 53 peer once the drill ends")
        check_eq(d.stop(), 0, "clean exit")
    finally:
        peer.stop()
        ngx.stop()


if __name__ == "__main__":
    run_tests([test_restart_mid_fail_drill])
