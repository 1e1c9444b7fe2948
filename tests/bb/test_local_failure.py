"""A local failure is the controller's, never the region's: somebody else
(prlimit, acting on the running daemon) takes regiond's descriptors away, so
every probe fails with EMFILE for a few seconds -> no region changes state,
nothing changes in the Route 53 peer, the rounds count as `internal`, and the
controller-resources alarm is raised and shown on the dashboard (chromium)."""
import subprocess
import time

from harness import check, check_eq, run_tests, wait_for
from test_dashboard import Driver
from test_failover import NAME, REGIONS, setup, wait_all_up


def prlimit(pid, n):
    subprocess.run(["prlimit", f"--pid={pid}", f"--nofile={n}:"], check=True, timeout=10)   # soft limit only


def test_emfile_leaves_health_unchanged():
    ngx, ports, peer, cfg, d, env = setup()   # 300 ms interval, fall 2: 4 failed rounds would drain
    wait_all_up(d)
    before = {r["name"]: (r["state"], r["since"]) for r in d.status()["regions"]}
    n_changes = len(peer.changes())
    fds = len(list(__import__("os").listdir(f"/proc/{d.proc.pid}/fd")))
    # Below what is open now (probes in flight may close theirs in a moment):
    # no descriptor left for a probe's socket.
    prlimit(d.proc.pid, max(fds - 6, 8))
    time.sleep(3)              # ~10 probe rounds per target
    prlimit(d.proc.pid, 20000)
    st = wait_for(lambda: d.status(), 5, "status answers again")
    after = {r["name"]: (r["state"], r["since"]) for r in st["regions"]}
    check_eq(after, before, "no region changed state")
    local = st["controller"]["probe_local_failures"]
    check(local >= 3, f"the failed rounds counted as local ({local})")
    t = st["regions"][0]["targets"][0]
    check(t["state"] == "up" and "Too many open files" not in t["reason"],
          f"the target's health and reason untouched ({t['state']}: {t['reason']})")
    alarms = {a["key"]: a for a in st["alarms"]["active"]}
    check("controller-resources" in alarms and "probes" in alarms["controller-resources"]["summary"],
          f"controller-resources alarm names the probes ({list(alarms)})")
    check("failover" not in alarms, "no failover alarm")
    m = [l for l in d.get("/metrics")[1].decode().splitlines() if l.startswith("regiond_probe_local_failures_total ")]
    check(m and float(m[0].split()[1]) == local, f"and in /metrics ({m})")
    # The ops room sees it: the dashboard's banner names the controller, not a region.
    drv = Driver()
    try:
        a = drv.cmd(f"goto {d.base}/")
        check(a["ok"], f"dashboard loads: {a}")
        a = drv.cmd("wait-for-banner 15 CONTROLLER SHORT OF RESOURCES", timeout=25)
        check(a["ok"] and "probes" in (a.get("banner") or ""),
              f"the dashboard's banner shows the controller's shortage ({a.get('banner') or a.get('error')})")
        for r in REGIONS:
            a = drv.cmd(f"wait-for-state {r} up 10", timeout=20)
            check(a["ok"], f"the {r} card still shows up ({a.get('error') or ''})")
    finally:
        check_eq(drv.close(), 0, "drive.js exits cleanly")
    check_eq(len(peer.changes()), n_changes, "nothing changed in the Route 53 peer")
    check_eq(peer.weights(NAME), {r: 100 for r in REGIONS}, "every weight still 100")
    check_eq(d.stop(), 0, "clean exit")
    peer.stop()
    ngx.stop()


if __name__ == "__main__":
    run_tests([test_emfile_leaves_health_unchanged])
