"""Two of three observers silent by a network partition, not killed (issue 18's test "two of three
observers silent -> no drain, alarm naming them"; bb_test_observers_quorum_silent kills them instead).

The layout of bb_test_netns_quorum (its start_instance and reads; netns_kit, tag "qs"): three regiond
instances, k 2 of 3, each in its own network namespace; three regions with nginx in theirs; the peers
in a shared one.  Both followers x and y are cut off from the peers' address (an nftables drop in their
own namespace: the lease tables and Route 53) but still reach every region, so they keep probing and
running: their views stop reaching the tables, nothing else changes.
  - the leader keeps leading, counts both silent: quorum not ok, only its own view usable, alarm
    cluster-quorum naming x and y (not itself); x's and y's items at the DynamoDB peer stop changing;
  - r2 truly fails (its namespace drops port 80): the leader's and both cut-off followers' own probes
    call r2 down (counted, their votes would drain it), yet r2 is NOT drained for 4 s: the Route 53
    peer's change log gets no change from the cut on and every weight stays 100; the leader holds r2
    up ("no-quorum"); each cut-off follower says in its own status that its view is suspect (it cannot
    reach the coordination tables) and does not lead;
  - x's partition is lifted: its view is fresh again, the alarm no longer names it, and with two views
    down (k = 2) r2 is drained at the Route 53 peer; y's lifted and r2 back: r2 restored at the peer.
If the kernel (or missing privilege) refuses `ip netns add`, prints "SKIP: ..." and exits 77."""
import time

from harness import check, check_eq, run_tests, wait_for
import netns_kit as nk
import test_netns_quorum as q
from netns_kit import PEER_ADDR, cut, js, region_fault, uncut
from test_netns_quorum import PUBLISH_MS, W, drained_at, hold, leading, own_state, qregion, quorum, view_docs, \
    weights

nk.use_tag("qs")    # after test_netns_quorum's own use_tag("q"): rgqs-PID-..., veths rqsPID...
# silent once a view has not changed for 3 publish intervals on the leader's clock, plus one read
# and a loaded 2-core machine's margin
SILENT_S = 4 * PUBLISH_MS / 1000 + 4


def alarms(d):
    return {a["key"]: a for a in ((js(d) or {}).get("alarms") or {}).get("active", [])}


def seqs(observer):
    return [x and x[0].get("seq") for x in view_docs(observer)]


def names_silent(lead, ids):
    """The leader's alarm cluster-quorum when its silent list is exactly ids (and names neither itself)."""
    a = alarms(lead).get("cluster-quorum")
    if not a or "silent:" not in a["summary"]:
        return None
    tail = a["summary"].split("silent:")[1]
    return a if all(i in tail for i in ids) and lead.iid not in tail else None


def cut_off_state(lead, cut_ids):
    q_ = quorum(lead) or {}
    return q_.get("ok") is False and sorted(q_.get("silent") or []) == cut_ids \
        and q_.get("usable") == [lead.iid] and q_


def test_two_partitioned():
    lead = q.the_leader()
    x, y = [d for d in W["ds"] if d is not lead]
    ids = sorted([x.iid, y.iid])
    n0 = len(W["r53"].changes())
    for d in (x, y):
        cut(d.n, f"ip daddr {PEER_ADDR} drop")
    try:
        a = wait_for(lambda: names_silent(lead, ids), SILENT_S, f"{lead.iid}'s alarm cluster-quorum names {ids}")
        print(f"alarm: {a['summary']}", flush=True)
        wait_for(lambda: cut_off_state(lead, ids), 3, f"{lead.iid}'s status: no quorum, {ids} silent, "
                      f"only its own view usable")
        check(leading(lead), f"{lead.iid} still leads (it reaches the tables)")
        s0 = {i: seqs(i) for i in ids}

        region_fault("r2")
        for d in (lead, x, y):
            wait_for(lambda: own_state(d, "r2") == "down", 10, f"{d.iid}'s own probes call r2 down")
        ok = hold(lambda: weights() == {r: 100 for r in nk.REGS} and drained_at("r2", n0) is None, 4.0)
        check(ok, f"r2 is not drained at the Route 53 peer while {ids} are cut off (weights {weights()})")
        ch = W["r53"].changes()[n0:]
        check(not ch, f"no change at the Route 53 peer from the cut on ({len(ch)}: {ch[:2]})")
        r = qregion(lead, "r2")
        check(r is not None and r["state"] == "up" and r["why"] == "no-quorum",
              f"the leader holds r2's state for want of a quorum ({r})")
        for d in (x, y):
            v = next((v for v in ((js(d) or {}).get("observers") or {}).get("views", []) if v.get("self")), {})
            check(v.get("suspect") is True and "cannot reach the coordination tables" in (v.get("suspect_reason")
                  or ""), f"{d.iid}'s own status: its view is suspect, it cannot reach the tables ({v})")
            check(not leading(d), f"{d.iid} does not lead")
        s1 = {i: seqs(i) for i in ids}
        check_eq(s1, s0, "the cut-off observers' items at the DynamoDB peer did not change (silent)")
        check(names_silent(lead, ids) is not None, f"the alarm still names {ids} ({alarms(lead).get('cluster-quorum')})")

        # x back: two views down, k = 2
        uncut(x.n)
        t0 = time.monotonic()
        at = wait_for(lambda: drained_at("r2", n0), 20, f"r2 drained at the Route 53 peer once {x.iid} is heard")
        print(f"timing: {x.iid}'s partition lifted -> drain batch at the Route 53 peer {at - t0:.2f} s", flush=True)
        check_eq(weights(), {"r1": 100, "r2": 0, "r3": 100}, "only r2 drained at the Route 53 peer")
        r = qregion(lead, "r2")
        check(r is not None and r["state"] == "down" and x.iid in r["used"] and y.iid not in r["used"],
              f"the leader: r2 down on its own and {x.iid}'s views, not {y.iid}'s ({r})")
    finally:
        uncut(x.n)
        uncut(y.n)
        region_fault("r2", False)
    wait_for(lambda: weights().get("r2") == 100, 20, "r2 restored at the Route 53 peer")
    wait_for(lambda: "cluster-quorum" not in alarms(lead), SILENT_S, "alarm cluster-quorum resolved")


def test_clean_exit():
    nk.stop_all(W)


if __name__ == "__main__":
    test_duration = nk.begin(90, "24 to 30 s seen on a loaded 2-core machine")
    run_tests([q.test_setup, nk.guarded(W, test_two_partitioned), nk.guarded(W, test_clean_exit), test_duration])
