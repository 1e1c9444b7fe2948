"""The quorum rule with too few observers (issue 18 item 2): three instances, k = 2 of 3
(quorum_kit).  Both followers are killed (SIGKILL): within silent_after_ms plus a read and a margin
the leader raises alarm cluster-quorum naming both; then r2 truly fails (every instance's r2 port
answers 503): the leader's own probes call it down, and r2 is NOT drained at the Route 53 peer for 4 s
(a lone observer never decides when k > 1).  One killed instance is started again: its view is fresh,
the alarm resolves, and with two views down r2 is drained at the peer."""
from harness import check, check_eq, run_tests, wait_for
from lease_kit import kill9
from quorum_kit import PUBLISH_MS, SILENT_MS, Cluster, alarms, hold, own_state, qregion, quorum, ready

# silent once a view has not changed for silent_after_ms on the leader's clock: at most one publish
# and one read before the kill, plus 3 s for a loaded 2-core machine
ALARM_S = (SILENT_MS + 2 * PUBLISH_MS) / 1000 + 3


def test_two_silent():
    c = Cluster()
    try:
        lead = ready(c)
        dead = [d for d in c.ds if d is not lead]
        for d in dead:
            kill9(d)
        ids = sorted(d.iid for d in dead)
        a = wait_for(lambda: alarms(lead).get("cluster-quorum"), ALARM_S, "alarm cluster-quorum on the leader")
        check(all(i in a["summary"] for i in ids) and lead.iid not in a["summary"].split("silent:")[1],
              f"the alarm names the two silent observers, not the leader ({a['summary']})")
        q = quorum(lead)
        check(q is not None and not q["ok"] and sorted(q["silent"]) == ids and q["usable"] == [lead.iid],
              f"status: no quorum, the two silent, only the leader's own view usable ({q})")

        n0 = len(c.r53.changes())
        for i in (1, 2, 3):
            c.ngx.down(c.r2[i])
        wait_for(lambda: own_state(lead, "r2") == "down", 10, f"{lead.iid}'s own probes call r2 down")
        bad = hold(lambda: c.weights().get("r2") == 100 and c.drained_at("r2", n0) is None, 4.0)
        check(bad is None, f"r2 is not drained at the Route 53 peer by the lone observer {lead.iid} "
                           f"(weights {c.weights()})")
        r = qregion(lead, "r2")
        check(r is not None and r["state"] == "up" and r["why"] == "no-quorum",
              f"the leader holds r2's state: no quorum ({r})")
        m = lead.get("/metrics")[1].decode()
        check("regiond_quorum_ok 0" in m and "regiond_quorum_usable_views 1" in m,
              "metrics: no quorum, one usable view")

        back = c.start(dead[0].n)
        c.ds[dead[0].n - 1] = back
        wait_for(lambda: "cluster-quorum" not in alarms(lead), 15, "alarm cluster-quorum resolved on the leader")
        wait_for(lambda: c.drained_at("r2", n0), 15, "r2 drained at the Route 53 peer once two views say down")
        check_eq(c.weights().get("r2"), 0, "the peer's r2 record is drained")
        for d in (lead, back):
            check_eq(d.stop(), 0, f"{d.iid} stops cleanly")
    finally:
        c.stop()


if __name__ == "__main__":
    run_tests([test_two_silent])
