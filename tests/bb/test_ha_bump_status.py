"""What /v1/status says of a new leader's guard bump (issue 17; README "failover ... last_change"):
three instances as in test_ha, the strict Route 53 peer with its changes PENDING for 300 ms.  A
term's first batch bumps the guard and moves no weight; it is accepted, not followed to INSYNC
(docs/ha.md), so its last_change must not say PENDING for ever (it did): it says ACCEPTED,
guard_bump true with the term's epoch, the change id the peer gave the bump, and no INSYNC time,
while the peer (aws CLI get-change) has long said INSYNC.  The next batch, a drain of a failed
region, is followed as before: last_change INSYNC, guard_bump false.  Judged on the Route 53 peer's
change log and get-change."""
import signal

from harness import check, check_eq, run_tests, stop, wait_for
from lease_kit import lease
from test_ha import APPLY_BOUND_S, NAME, REGIONS, Cluster, bumped, epoch_of, one_leader, weights_of


STOP_S = 30   # a peer or an ASan regiond on a 2-core machine under a load of 25+ can take over 5 s to exit


def teardown(c):
    """Cluster.stop with room for a loaded machine: each process by its pid, waited for up to STOP_S."""
    for d in c.ds:
        if d.proc.poll() is None:
            check_eq(d.stop(timeout=STOP_S), 0, f"{d.iid} stops cleanly")
    for p in (c.ddb, c.r53):
        stop(p.proc, timeout=STOP_S)
        p.log.close()
    stop(c.ngx.proc, signal.SIGQUIT, timeout=STOP_S)


def last_change(d):
    return d.status()["failover"]["last_change"]


def peer_status(c, change_id):
    return c.r53.aws("get-change", "--id", change_id.split("/")[-1])["ChangeInfo"]["Status"]


def test_bump_status_says_accepted():
    c = Cluster()
    try:
        a, _ = one_leader(c)
        epoch = lease(a)["epoch"]
        bump = bumped(c, a, epoch)
        check_eq(weights_of(bump["before"]), weights_of(bump["after"]), "the bump moved no weight")
        check_eq([epoch_of(b["after"]) for b in c.batches(a.key)], [epoch], f"{a.iid}'s only batch is the bump")
        ch = wait_for(lambda: (lambda x: x if x and x["change_id"] else None)(last_change(a)), 10,
                      f"{a.iid}'s last_change with the change id Route 53 gave")
        cid = ch["change_id"]
        check(cid and cid.endswith(bump["id"].split("/")[-1]),
              f"last_change carries the peer's change id of the bump ({cid}, peer {bump['id']})")
        wait_for(lambda: peer_status(c, cid) == "INSYNC", 15, "the peer's bump INSYNC (get-change)")
        ch = last_change(a)
        check_eq((ch["status"], ch.get("guard_bump"), ch.get("guard_epoch"), "insync_after_ms" in ch),
                 ("ACCEPTED", True, epoch, False),
                 f"{a.iid}: the bump ACCEPTED, not PENDING, at its epoch, no INSYNC claimed (peer: INSYNC)")
        for d in c.ds:
            if d is not a:
                check_eq(last_change(d), None, f"follower {d.iid} shows no change (it never called Route 53)")
        # The next batch, a weight change, is followed to INSYNC as before.
        c.ngx.down(c.ports[2])
        wait_for(lambda: c.r53.weights(NAME)[REGIONS[2]] == 0, APPLY_BOUND_S + 10, f"{a.iid} drains {REGIONS[2]}")
        ch = wait_for(lambda: (lambda x: x if x["status"] == "INSYNC" else None)(last_change(a)), 15,
                      f"{a.iid}'s drain followed to INSYNC")
        check_eq((ch.get("guard_bump"), "guard_epoch" in ch, ch["change_id"] != cid), (False, False, True),
                 "the drain's last_change is a weight change, not the bump")
        check_eq(peer_status(c, ch["change_id"]), "INSYNC", "the peer says the drain is INSYNC")
    finally:
        teardown(c)


if __name__ == "__main__":
    run_tests([test_bump_status_says_accepted])
