"""A release between a takeover and its judged read (issue 17; docs/ha.md "Route 53: a takeover is a
restart", known defect 16 before this test).  Three instances as in test_ha.  A new term reads the
replicated state, then reads the live records again and judges them against the last leader's state;
that judged read loads the drift flags a release clears.  A release taken before it was answered
"released" and then undone: the region was held as drift again.

  kill -9 of the leader A -> B leads and bumps the guard (the peer's change log), its read of the
  replicated state held back by the DynamoDB peer failing the #control read on two of three tables;
  an operator sets us-east-1 to 30 with the aws CLI (drift for B: the last leader knew 100); the
  Route 53 peer is told to hold B's next ListResourceRecordSets 8 s; the state becomes readable; once
  the peer has TAKEN that fault (its fault counter, not regiond's status: the judged read is on the
  wire) -> `regionctl release us-east-1` on B is refused (exit 1, "not yet" in its message), nothing
  changes at the peer; releases tried again are refused until the judged read is done, then one is
  answered "released us-east-1" and it holds: B puts us-east-1 back to the configured 100 at the
  Route 53 peer (a region held as drift is never written), its drift alarm is resolved, and no batch
  ever leaves every record at 0.
Judged on the Route 53 peer's fault counter, change log and records."""
import subprocess
import time

from harness import REGIONCTL, TEST_KEY, check, check_eq, events_ring, run_tests, wait_for
from lease_kit import REGIONS as LEASE_REGIONS
from test_ha import IPS, NAME, REGIONS, TOKENS, Cluster, bumped, control, one_leader, weights_of
from test_ha_bump_status import teardown
from test_ha_operator_bump import upsert
from test_ha_state import ITEM, WAIT_S, active_alarm, control_items, lease, leader_after_kill, majority

X, OP_WEIGHT = REGIONS[0], 30
SLOW_MS = 8000   # under aws.request_timeout_ms (10 s): the judged read is held, not failed


def release_regionctl(d):
    return subprocess.run([REGIONCTL, "--api", d.base, "--token-file", TOKENS, "release", X], capture_output=True,
                          text=True, timeout=20)


def test_release_before_judged_read():
    c = Cluster()
    try:
        a, _ = one_leader(c)
        ea = lease(a)["epoch"]
        bumped(c, a, ea)
        wait_for(lambda: majority(control_items(c), lambda it: it["epoch"] == ea and "route53" in (it["doc"] or {})),
                 WAIT_S, f"{a.iid}'s state (with its route53 member) on a majority of the tables")
        for r in LEASE_REGIONS[:2]:
            c.ddb.call("POST", "/_peer/inject", {"region": r, "ops": ["GetItem"], "items": [ITEM], "error5xx": -1})
        b, eb, _ = leader_after_kill(c, a)
        bumped(c, b, eb)
        n0 = len(c.r53.changes())
        op = upsert(c, X, IPS[0], OP_WEIGHT)   # the second actor: after B's bump, before its judged read
        check(op["Status"] in ("PENDING", "INSYNC"), f"the operator's change is accepted ({op})")
        c.r53.inject(slow=1, ops=["ListResourceRecordSets"], keys=[b.key], slow_ms=SLOW_MS)
        c.ddb.call("POST", "/_peer/clear-faults", {})
        wait_for(lambda: c.r53.call("GET", "/_peer/inject")["counts"]["slow"] == 0, WAIT_S,
                 f"{b.iid}'s judged read reaches the Route 53 peer (its slow fault taken)")
        t_taken = time.monotonic()
        r = release_regionctl(b)
        took = time.monotonic() - t_taken
        check(took < SLOW_MS / 1000, f"the release was answered while the judged read was held ({took:.1f} s)")
        check(r.returncode == 1 and "not yet" in r.stderr and "first read" in r.stderr,
              f"regionctl release before the judged read: refused, exit 1, 'not yet' ({r.returncode}: "
              f"{(r.stdout + r.stderr).strip()})")
        check_eq(c.r53.weights(NAME)[X], OP_WEIGHT, "the operator's weight stands at the peer")

        refusals = []

        def released():
            code, body = control(b, "DELETE", f"/v1/overrides/{X}")
            if code == 409:
                refusals.append(body.get("error", ""))
                return None
            return code, body
        code, body = wait_for(released, SLOW_MS / 1000 + WAIT_S, f"a release of {X} on {b.iid} once judged",
                              interval=0.5)
        check(all("not yet" in e for e in refusals),
              f"each release refused meanwhile says 'not yet' ({len(refusals)}: {sorted(set(refusals))})")
        check_eq((code, body.get("result")), (200, f"released {X}"), f"the release is taken ({body})")
        ring = events_ring(b.port, 1.0)
        check("route53_drift" in ring and "changed while no instance led (takeover)" in ring,
              f"{b.iid}'s judged read held {X} as drift before the release (its event ring)")
        wait_for(lambda: c.r53.weights(NAME)[X] == 100, WAIT_S,
                 f"{b.iid} puts {X} back to its configured weight: the release holds (not undone by the judged read)")
        wait_for(lambda: active_alarm(b, f"route53-drift-{X}") is None, WAIT_S, f"{b.iid}'s drift alarm of {X} resolved")
        w = {x["region"]: x for x in b.status()["failover"]["weights"]}
        check_eq((w[X]["drifted"], w[X]["live"]), (False, 100), f"{b.iid}'s status: {X} not drifted, live 100")
        later = c.r53.changes()[n0:]
        check(all(x["key"] in (b.key, TEST_KEY["access_key"]) for x in later),
              f"after the kill only {b.iid} and the operator changed the group ({[x['key'] for x in later]})")
        allc = c.r53.changes()
        check(all(any(v > 0 for v in weights_of(x["after"]).values()) for x in allc),
              f"no change at the peer left every record at 0 ({len(allc)} changes)")
        check_eq(c.r53.weights(NAME), {r: 100 for r in REGIONS}, "the peer's records: every region at 100")
    finally:
        teardown(c)


if __name__ == "__main__":
    run_tests([test_release_before_judged_read])
