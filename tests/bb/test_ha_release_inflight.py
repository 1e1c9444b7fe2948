"""A release acknowledged while a batch is in flight holds across a kill -9 in the window after that batch
landed (docs/ha.md "Route 53: a takeover is a restart"; known defect 20 before this test).  Three instances
as in test_ha.  Every batch writes into the guard record the group's weights and drift flags as they were
when the batch was built, and a batch number; the replicated state records the number of the batch in
flight.

  A leads; the operator (a second actor: the aws CLI, its own key) sets us-east-1 to 30: A holds it as
  drift.  The Route 53 peer is told to hold A's next ChangeResourceRecordSets answer 8 s after applying
  it; ap-southeast-2 fails: A's drain lands at the peer, its guard saying us-east-1 is drift; while its
  answer is held, `regionctl release us-east-1` on A is answered "released" (on a majority of the lease
  tables); kill -9 of A before the answer comes (the DynamoDB peer's items: the release's state, with
  the drain in flight, is the last A wrote).  B leads: it does not hold us-east-1 (the release made while
  the drain was in flight is honoured, the drain's 0 is regiond's own): at the Route 53 peer us-east-1
  goes back to its configured 100 and ap-southeast-2 stays drained; no drift alarm on B.
  Before the fix B judged against the drain's guard (newer than the state) and held us-east-1 at 30.
Then the same text twice (known defect 21 before this test): the operator sets the drained ap-southeast-2
to 100 (B holds it as drift) and releases it on B; B drains it again, its read before that batch held at
the Route 53 peer until the DynamoDB peer refuses every write of the #control item: the state on a
majority is the release's, recording the guard of B's earlier batch, whose text the drain's guard
repeats but for the batch number.  kill -9 of B after the drain landed; C leads; ap-southeast-2
recovers: C restores it to 100 at the Route 53 peer (the drain is regiond's own, not drift).
Judged on the Route 53 peer's change log, fault counter and records and the DynamoDB peer's items."""
import re
import subprocess
import time

from harness import REGIONCTL, TEST_KEY, check, check_eq, eventually, run_tests, wait_for
from lease_kit import REGIONS as LEASE_REGIONS, TAKEOVER_S, kill9, lease
from test_ha import IPS, NAME, REGIONS, TOKENS, Cluster, bumped, one_leader, weights_of
from test_ha_bump_status import teardown
from test_ha_drift_handover import flags, guard_value
from test_ha_operator_bump import upsert
from test_ha_state import ITEM, WAIT_S, active_alarm, control_items, majority

X, DOWN, OP_WEIGHT = REGIONS[0], REGIONS[2], 30
SLOW_MS = 8000   # under aws.request_timeout_ms (10 s): the answer is held, not timed out
RESTORE_S = 25   # B's judged read, then a batch: a busy machine


def known_region(it, region):
    return (((it.get("doc") or {}).get("route53") or {}).get("known") or {}).get("regions", {}).get(region, {})


def unnumbered(gv):
    """A guard's knowledge without its batch number and holder: what text matching compared."""
    return re.sub(r" seq=\d+\.\d+", "", (gv or "").split('" ', 1)[-1])


def same_text_later_batch(c, b, rest):
    """B leads, DOWN down and drained: the operator's 100 on DOWN, its release, B's drain again."""
    eb = lease(b)["epoch"]
    upsert(c, DOWN, IPS[2], 100)
    wait_for(lambda: active_alarm(b, f"route53-drift-{DOWN}"), WAIT_S, f"{b.iid} holds {DOWN} as drift")
    before = c.batches(b.key)[-1]
    # Each read is two ListResourceRecordSets (the group, the guard); four slow ones: the read before the
    # drain is held even when a reconcile read takes the first two.
    c.r53.inject(slow=4, ops=["ListResourceRecordSets"], keys=[b.key], slow_ms=2000)
    r = subprocess.run([REGIONCTL, "--api", b.base, "--token-file", TOKENS, "release", DOWN], capture_output=True,
                       text=True, timeout=10)
    check_eq(r.returncode, 0, f"regionctl release {DOWN} on {b.iid} ({(r.stdout + r.stderr).strip()})")
    for reg in LEASE_REGIONS:
        c.ddb.call("POST", "/_peer/inject", {"region": reg, "ops": ["PutItem"], "items": [ITEM], "error5xx": -1})
    n1 = len(c.r53.changes())
    drain = wait_for(lambda: next((x for x in c.r53.changes()[n1 - 1:] if x["key"] == b.key and x["id"] != before["id"]
                                   and weights_of(x["after"]).get(DOWN) == 0), None), WAIT_S,
                     f"{b.iid}'s drain of {DOWN} again lands at the peer")
    kill9(b)
    its = control_items(c)
    st = majority(its, lambda it: it["epoch"] == eb and known_region(it, DOWN).get("drift") is False
                  and known_region(it, DOWN).get("weights", [None])[0] == 100)
    check(st is not None, f"{b.iid}'s state on a majority is the release's ({DOWN} at 100, released)")
    doc = next(iter(st.values()))["doc"]["route53"]
    check(not doc["intent"].get("weights"), f"the drain is not in that state ({doc['intent']})")
    gv = guard_value(drain["after"])
    check_eq(unnumbered(gv), unnumbered('"x" ' + doc["known"].get("guard", "")),
             "the drain's guard repeats the text the state records, but for the batch number")
    check(doc["known"].get("guard_seq") not in (None, "") and doc["known"]["guard_seq"] not in gv,
          f"... and its batch number is another ({doc['known'].get('guard_seq')} / {gv})")
    c.ddb.call("POST", "/_peer/clear-faults", {})
    c.r53.call("POST", "/_peer/clear-faults", {})
    n2 = len(c.r53.changes())
    cc, _ = one_leader(c, [d for d in rest if d.proc.poll() is None], TAKEOVER_S + 5)
    bumped(c, cc, lease(cc)["epoch"])
    c.ngx.down(c.ports[2], False)
    check(wait_for(lambda: c.r53.weights(NAME)[DOWN] == 100, RESTORE_S,
                   f"{cc.iid} restores {DOWN} when it recovers (its 0 was regiond's own drain)"), f"{DOWN} restored")
    check(active_alarm(cc, f"route53-drift-{DOWN}") is None, f"{cc.iid}: no drift alarm for {DOWN}")
    later = c.r53.changes()[n2:]
    check(all(x["key"] == cc.key for x in later), f"after the kill only {cc.iid} changed the group "
          f"({[x['key'] for x in later]})")
    check_eq(c.r53.weights(NAME), {r: 100 for r in REGIONS}, "the peer's records: every region at 100")


def test_release_while_batch_in_flight():
    c = Cluster()
    try:
        a, _ = one_leader(c)
        ea = lease(a)["epoch"]
        bumped(c, a, ea)
        upsert(c, X, IPS[0], OP_WEIGHT)
        wait_for(lambda: active_alarm(a, f"route53-drift-{X}"), WAIT_S, f"{a.iid} holds {X} as drift")
        c.r53.inject(slow_after=1, ops=["ChangeResourceRecordSets"], keys=[a.key], slow_after_ms=SLOW_MS)
        n0 = len(c.r53.changes())
        c.ngx.down(c.ports[2])
        drain = wait_for(lambda: next((x for x in c.batches(a.key)[-3:] if weights_of(x["after"]).get(DOWN) == 0),
                                      None), WAIT_S, f"{a.iid}'s drain of {DOWN} lands at the peer")
        wait_for(lambda: c.r53.call("GET", "/_peer/inject")["counts"]["slow_after"] == 0, WAIT_S,
                 "the peer holds the drain's answer (its slow_after fault taken)")
        gv = guard_value(drain["after"]) or ""
        check(f"{X}:{OP_WEIGHT},-,1" in gv, f"the drain's guard holds {X} as drift (built before the release): {gv!r}")
        seq = re.search(r" seq=(\d+\.\d+)", gv)
        check(seq is not None, f"the drain's guard carries its batch number ({gv!r})")
        t0 = time.monotonic()
        r = subprocess.run([REGIONCTL, "--api", a.base, "--token-file", TOKENS, "release", X], capture_output=True,
                           text=True, timeout=10)
        took = time.monotonic() - t0
        check_eq((r.returncode, f"released {X}" in r.stdout), (0, True),
                 f"regionctl release {X} on {a.iid} while the drain is in flight ({(r.stdout + r.stderr).strip()})")
        check(took < SLOW_MS / 1000 - 2, f"the release was answered while the drain's answer was held ({took:.1f} s)")
        kill9(a)
        # The kill fell in the window: the last state A wrote has the release and the drain still in flight.
        its = control_items(c)
        check(majority(its, lambda it: it["epoch"] == ea and known_region(it, X).get("drift") is False and
                       it["doc"]["route53"]["known"].get("inflight_seq") == seq.group(1) if seq else False),
              f"{a.iid}'s state on a majority: {X} released, the drain in flight (not landed) "
              f"({[(k, v and v['doc'].get('route53', {}).get('known', {}).get('inflight_seq')) for k, v in its.items()]})")
        rest = [d for d in c.ds if d is not a and d.proc.poll() is None]
        b, _ = one_leader(c, rest, TAKEOVER_S + 5)
        bumped(c, b, lease(b)["epoch"])
        check(wait_for(lambda: c.r53.weights(NAME)[X] == 100, RESTORE_S,
                       f"{b.iid} puts {X} back to its configured 100 (the release holds)"), f"{X} restored")
        # B's own status shows its batch's answer a moment after the peer applied it (a loaded machine: seen
        # still (False, 30) right after the peer's 100): polled, a held drift ((True, 30)) still fails.
        eventually(lambda: flags(b)[X] == (False, 100), 10, f"{b.iid}: {X} not drift, at 100",
                   show=lambda _: flags(b)[X])
        check_eq(flags(b)[DOWN], (False, 0), f"{b.iid}: {DOWN}'s 0 is the last leader's drain, not drift")
        check(active_alarm(b, f"route53-drift-{X}") is None, f"{b.iid}: no drift alarm for {X}")
        check_eq(c.r53.weights(NAME), {X: 100, REGIONS[1]: 100, DOWN: 0}, "the peer's records")
        later = c.r53.changes()[n0:]
        check(all(x["key"] in (a.key, b.key, TEST_KEY["access_key"]) for x in later) and
              all(x["key"] != a.key for x in later[1:]), f"after the drain only {b.iid} changed the group "
              f"({[x['key'] for x in later]})")
        same_text_later_batch(c, b, [d for d in rest if d is not b])
        allc = c.r53.changes()
        check(all(any(v > 0 for v in weights_of(x["after"]).values()) for x in allc),
              f"no change at the peer left every record at 0 ({len(allc)} changes)")
    finally:
        teardown(c)


if __name__ == "__main__":
    run_tests([test_release_while_batch_in_flight])
