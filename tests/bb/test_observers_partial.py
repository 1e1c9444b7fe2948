"""A region whose targets partly fail, under the quorum rule (a review of known defect 34's fix).

Three instances, k = 2 of 3 (quorum_kit); r2 has two targets for each instance: its own nginx port
and r3's healthy one.  Every instance's first r2 target stops answering: with the default rule "all"
r2 is down for every observer while its second target keeps answering.  An observer's own down
verdict counts only once a probe answered after the region's run of failures began
(suspect_down_vouched); here the answers of r2's own second target vouch for it.  Judged at the
Route 53 peer: r2 is drained, r1 and r3 keep serving; the leader's status shows r2 down in the three
views (not unknown).  With the run begun again at every look that saw both a good and a failed probe
of r2 (the fix as first written) every view said r2 unknown and r2 was never drained."""
from harness import check, check_eq, run_tests, wait_for
from quorum_kit import Cluster, qregion, ready


def test_partial_region():
    c = Cluster(r2_second=True)
    try:
        lead = ready(c)
        n0 = len(c.r53.changes())
        for i in (1, 2, 3):
            c.ngx.down(c.r2[i])
        wait_for(lambda: c.drained_at("r2", n0), 20, "r2 (one of its two targets failing everywhere) drained at "
                 "the Route 53 peer")
        check_eq(c.weights(), {"r1": 100, "r2": 0, "r3": 100}, "only r2 drained at the Route 53 peer")
        q = qregion(lead, "r2")
        check(q is not None and q["state"] == "down" and len(q["down"]) >= 2,
              f"the leader's status: r2 down by at least k = 2 views ({q})")
        for d in c.ds:
            check_eq(d.stop(), 0, f"{d.iid} stops cleanly")
    finally:
        c.stop()


if __name__ == "__main__":
    run_tests([test_partial_region])
