"""A follower's stale drill mark, discounted by the leader, counts as the follower's own probes
(docs/ha.md known defect 41): three instances, each an observer, k = 2 (quorum_kit: every region truly
up for everyone). A fail drill on r2 drains it; the leader's view item writes are then denied at the
DynamoDB peer (PutItem/UpdateItem of its "#view#" item: its lease still renews) and the drill stopped:
the followers keep marking r2 down from the leader's last view, each mark naming its own probes' state
("; own probes: up"), and the leader counts them as up votes, so r2 is restored at the Route 53 peer
(without the fix only the leader's own vote says up: held); alarm cluster-mark-stale on the leader
names both followers, r2 and the drill; `regionctl status --observers` on the leader shows each
follower's r2 as down(drill)/counted:up; the faults cleared, the marks go and the alarm resolves."""
import subprocess

from harness import REGIONCTL, check, check_eq, run_tests, wait_for
from lease_kit import NAME as CLUSTER, REGIONS as LEASE_REGIONS
from observer_kit import view_items_fast
from quorum_kit import PUBLISH_MS, Cluster, alarms, ready
from test_observers_drill import DRAIN_S, TOKENS, post, r2_of as drill_r2_of


def r2_of(item):
    """r2 in an observer's view item, {} when none."""
    return drill_r2_of(item) or {}


def mark(did, own):
    """A follower's mark of r2 from the leader's view of drill did, naming its own probes' state."""
    return f"drill {did}: failed by drill (the leader's); own probes: {own}"


def stale_marks(C):
    """A fail drill on r2 drained at the Route 53 peer, the followers marking it; the leader's view item
    writes then denied at the DynamoDB peer in every table and the drill stopped: the followers keep the
    mark.  Returns (leader, followers, drill id)."""
    lead = ready(C)
    others = [d for d in C.ds if d is not lead]
    n0 = len(C.r53.changes())
    code, body = post(lead, "/v1/drills", {"region": "r2", "action": "fail", "duration_s": 120, "note": "d41"})
    check_eq(code, 201, f"the leader starts a fail drill on r2 ({body})")
    did = int(body["id"])
    wait_for(lambda: C.drained_at("r2", n0), DRAIN_S, "r2 drained at the Route 53 peer by the fail drill")
    want = mark(did, "up")
    wait_for(lambda: all(r2_of(view_items_fast(C.ddb, LEASE_REGIONS[0]).get(d.iid)).get("reason") == want
                         for d in others), 5, f"each follower's mark reads {want!r}")
    for r in LEASE_REGIONS:
        C.ddb.call("POST", "/_peer/inject", {"region": r, "ops": ["PutItem", "UpdateItem"], "deny": -1,
                                             "items": [f"{CLUSTER}#view#{lead.iid}"]})
    code, body = post(lead, f"/v1/drills/{did}", method="DELETE")
    check_eq(code, 200, f"drill {did} stopped while the leader's view cannot be written ({body})")
    return lead, others, did


def test_stale_mark_counts_own_probes():
    C = Cluster(k=2, token_file=TOKENS)
    try:
        lead, others, did = stale_marks(C)
        want = mark(did, "up")
        names = [f"observer {d.iid} region r2 drill {did}" for d in others]

        def named():   # each follower's entry has its own start: the alarm rises with the first
            a = alarms(lead).get("cluster-mark-stale")
            return a if a and all(n in a["summary"] for n in names) else None
        a = wait_for(named, 3 * PUBLISH_MS / 1000 + 8, "alarm cluster-mark-stale on the leader naming both followers")
        for d in others:
            check(f"observer {d.iid} region r2 drill {did}" in a["summary"],
                  f"the alarm names {d.iid}, r2 and drill {did} ({a['summary']})")
        its = view_items_fast(C.ddb, LEASE_REGIONS[0])
        check(all(r2_of(its.get(d.iid)).get("reason") == want for d in others),
              "the followers still mark r2 down from the leader's last view")
        wait_for(lambda: C.weights().get("r2") == 100, DRAIN_S,
                 "r2 restored: the leader counts the followers' own probes (up), not no opinion")
        out = subprocess.run([REGIONCTL, "--api", lead.base, "status", "--observers"], capture_output=True,
                             text=True, timeout=15).stdout
        row = next((ln.split() for ln in out.splitlines() if ln.startswith("r2 ")), [])
        check(row.count("down(drill)/counted:up") == 2 and row[-1] == "up",
              f"regionctl status --observers on the leader shows both followers' marks counted up ({row})")
        C.ddb.call("POST", "/_peer/clear-faults", {})
        wait_for(lambda: "cluster-mark-stale" not in alarms(lead), DRAIN_S,
                 "the alarm resolves once the leader's view is written again")
        for d in C.ds:
            check_eq(d.stop(), 0, f"{d.iid} stops cleanly")
    finally:
        C.stop()


if __name__ == "__main__":
    run_tests([test_stale_mark_counts_own_probes])
