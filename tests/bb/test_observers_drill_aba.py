"""A fail drill across A -> B -> A under the quorum rule with a second actor (docs/ha.md known defect 39,
its follow-up: the followers' side of the re-win): three instances, each an observer (quorum_kit, k 2 of 3),
each signing with its own key, so the DynamoDB peer faults one instance's requests only.
  - leader A starts a long fail drill on r2: drained at the Route 53 peer, both followers mark it;
  - the followers' reads of A's view item are denied from now on (they keep its last item, naming the
    drill: the window of up to publish_ms in which a follower still marks from a re-won leader's cached
    view, held open by the peer), and A is cut off (every request of A's key answers 500);
  - B takes the lease and resumes the drill; an operator stops it with regionctl against B; B restores
    r2 at the Route 53 peer (r2's nginx answers 200 throughout, for every instance);
  - B loses its lease (its and C's lease-item writes throttled: C cannot take either) and A gets the
    peer back: A re-wins at an epoch above B's, reads B's state (drill stopped), and both followers,
    now marking from A's cached view, name the stopped drill at the DynamoDB peer;
  - from the stop on, no batch at the Route 53 peer takes r2 to 0, and r2 is still 100 there WATCH_S
    after the followers' stale marks are in the table; the leader names them (cluster-mark-stale).
Without the fix (a leader counts a follower's drill mark only while that drill acts on it,
cluster/view_mark.c) A counted both stale marks as down votes and drained the healthy r2.
This file runs that case (a); bb_test_observers_drill_aba_forget runs case (b) with aba(True): no read
denied to the followers; after B's restore r2 fails for A alone (its nginx port 503) and A cannot read
C's view item (C silent for A): at A's re-win its votes are A down, B up, C silent, so k 2 decides
nothing and no batch may take r2 to 0.  Without observers_quorum_forget (a drill that stops acting here
turns the region's latched quorum DOWN into unknown) A held the DOWN latched by its own drill before the
cut and drained r2 on its own vote."""
import json
import subprocess
import time

from harness import REGIONCTL, check, check_eq, run_tests, wait_for
from lease_kit import NAME as CLUSTER, TAKEOVER_S, leaders
from quorum_kit import PUBLISH_MS, Cluster, alarms, own_state, qregion, ready
from test_observers_drill import DRAIN_S, r2_of
from test_observers_drill_gap import lease
import test_observers_drill as od

TOKENS = od.TOKENS   # post() (test_observers_drill) sends its tokens
DRILL_S = 180        # far longer than the test: only the operator's stop ends it
WATCH_S = 6          # with the stale marks in the table: view reads (1 s), hold-down 1 s, a batch; loaded machine


def fault(c, **spec):
    c.ddb.call("POST", "/_peer/inject", spec)   # every region (none named)


def r2_weight(recs):
    return next((r["Weight"] for r in recs or [] if r["Type"] == "A" and r.get("SetIdentifier") == "r2"), None)


def drains(since_n):
    """(peer's seconds after change since_n - 1, r2's weight before) of every change from since_n on that
    takes r2 from a weight above 0 to 0 (a term's guard bump rewriting r2 at 0 is not one)."""
    chs = C.r53.changes()
    t0 = chs[since_n - 1]["mono"] if since_n else 0
    return [(round(ch["mono"] - t0, 2), r2_weight(ch["before"])) for ch in chs[since_n:]
            if r2_weight(ch["after"]) == 0 and (r2_weight(ch["before"]) or 0) > 0]


def stale_marks(ids, did):
    """Each of ids has an item at the peer marking r2 down by drill did from the leader's view."""
    its = od.items()
    want = f"drill {did}: failed by drill (the leader's); own probes: up"
    return all((r2_of(its.get(i)) or {}).get("reason") == want for i in ids)


def new_leader(cands, above, what):
    return wait_for(lambda: (lambda ls: ls[0] if len(ls) == 1 and lease(ls[0]).get("epoch", 0) > above
                             else None)(leaders(cands)), TAKEOVER_S + 10, what)


C = None


def stop_on(b, did):
    """The operator stops drill did with regionctl against b; b restores r2. Returns the peer's change count
    before the stop."""
    n1 = len(C.r53.changes())
    r = subprocess.run([REGIONCTL, "--api", b.base, "--token-file", TOKENS, "drill", "stop", str(did)],
                       capture_output=True, text=True, timeout=15)
    check_eq(r.returncode, 0, f"the operator stops drill {did} on {b.iid} with regionctl "
                              f"({(r.stdout + r.stderr).strip()})")
    wait_for(lambda: C.weights().get("r2") == 100, DRAIN_S, f"{b.iid} restores r2 at the Route 53 peer")
    return n1


def watch(n1, what):
    """WATCH_S (or to the first drain of r2 after change n1): no drain, r2 still at 100."""
    t2 = time.monotonic()
    while time.monotonic() - t2 < WATCH_S and not drains(n1):
        time.sleep(0.2)
    chs = C.r53.changes()
    print("batches from the stop on (peer seconds after the stop's last, signer, r2 before, after):",
          [(round(ch["mono"] - chs[n1 - 1]["mono"], 2), ch.get("key"), r2_weight(ch["before"]),
            r2_weight(ch["after"])) for ch in chs[n1:]], flush=True)
    check_eq(drains(n1), [], f"from the stop on no batch at the Route 53 peer takes r2 to 0 ({what}; "
                             f"(peer seconds after the last batch before the stop, r2's weight before))")
    check_eq(C.weights().get("r2"), 100, "r2 still at 100 at the Route 53 peer")


def aba(forget):
    """The sequence; forget: case (b) (see the module's doc), else case (a)."""
    global C
    C = od.C = Cluster(k=2, token_file=TOKENS, keys=True)
    try:
        a = ready(C)
        e0 = lease(a)["epoch"]
        others, did, n0 = od.drill_marked(a, "A-B-A drill", DRILL_S)

        t0 = time.monotonic()
        if not forget:
            fault(C, deny=-1, ops=["GetItem"], keys=[d.key for d in others], items=[f"{CLUSTER}#view#{a.iid}"])
        fault(C, error5xx=-1, keys=[a.key])   # A alive and probing, every DynamoDB call answered 500
        b = new_leader(others, e0, f"a follower takes the lease from {a.iid} at an epoch above {e0}")
        c = next(d for d in others if d is not b)
        eb = lease(b)["epoch"]
        print(f"{b.iid} leads at epoch {eb} {time.monotonic() - t0:.1f} s after the cut", flush=True)
        wait_for(lambda: (lambda cb: cb[0] == 200 and json.loads(cb[1]).get("state") == "active")(
            b.get(f"/v1/drills/{did}")), 10, f"the drill resumed on {b.iid}")
        check_eq(C.weights().get("r2"), 0, "r2 still drained at the Route 53 peer")
        n1 = stop_on(b, did)

        if forget:   # r2 fails for A alone, and A cannot read C's view (silent for A)
            C.ngx.down(C.r2[a.n])
            fault(C, deny=-1, ops=["GetItem"], keys=[a.key], items=[f"{CLUSTER}#view#{c.iid}"])
        t1 = time.monotonic()
        fault(C, throttle=-1, ops=["PutItem", "UpdateItem"], keys=[b.key, c.key], items=[CLUSTER])
        fault(C, error5xx=0)   # A has the peer back
        new_leader([a, b, c], eb, f"{a.iid} takes the lease again at an epoch above {b.iid}'s {eb}")
        print(f"{a.iid} leads again at epoch {lease(a)['epoch']} {time.monotonic() - t1:.1f} s after "
              f"{b.iid}'s lease writes were throttled", flush=True)
        if forget:
            wait_for(lambda: own_state(a, "r2") == "down", 10, f"r2 down in {a.iid}'s own probes")
            watch(n1, f"r2 down for {a.iid} alone, up for {b.iid}, {c.iid} silent for {a.iid}: k 2 not met")
            q = qregion(a, "r2") or {}
            check(q.get("state") != "down", f"{a.iid}'s quorum does not hold r2 down ({q})")
            return
        wait_for(lambda: stale_marks([b.iid, c.iid], did), 10,
                 f"both followers mark r2 down by the stopped drill {did} from {a.iid}'s cached view")
        watch(n1, "r2's nginx answers 200 for every instance")
        check(stale_marks([b.iid, c.iid], did), "the followers' stale marks were in the table all along")
        al = wait_for(lambda: alarms(a).get("cluster-mark-stale"), 3 * PUBLISH_MS / 1000 + 5,
                      f"alarm cluster-mark-stale on {a.iid}")
        for d in (b, c):
            check(f"observer {d.iid} region r2 drill {did}" in al["summary"],
                  f"the alarm names {d.iid}, r2 and drill {did} ({al['summary']})")
    finally:
        C.stop()


def test_drill_aba():
    aba(False)


if __name__ == "__main__":
    run_tests([test_drill_aba])
