"""A refused batch's intent leaves the replicated state at once (issue 17; docs/ha.md "A refused or
failed batch leaves the replicated state at once", known defect 17 before this test).  Three
instances as in test_ha.  A leader replicates a batch's intent before it sends the batch; when Route
53 refuses the batch, the intent must leave the replicated state too, or a next leader takes it for
a batch that landed and an operator's change of the same weights for regiond's own.

  leader A drains a failed region X: its batch is held 8 s at the Route 53 peer (a slow fault on A's
  key; the test waits for the peer to have taken it), its intent (X at 0) on a majority of the
  #control items; meanwhile the operator sets X to 0 and Z to 50 with the aws CLI, so the peer
  refuses A's batch (its exact DELETEs no longer match: the peer's reject log) -> the #control items
  of a majority lose the intent (A's write after the refusal); kill -9 of A -> B leads and holds X
  as drift (the operator's, not regiond's; before the fix B took the refused intent, X at 0, for a
  landed batch of A's): once X is healthy again and Y fails, B's drain of Y leaves X at the
  operator's 0; no batch of B gives X weight.
Judged on the Route 53 peer's fault counter, reject and change logs, and the DynamoDB peer's items."""

import boto_kit
from harness import TEST_KEY, check, check_eq, run_tests, wait_for
from lease_kit import lease
from test_ha import IPS, NAME, REGIONS, Cluster, bumped, one_leader, weights_of
from test_ha_bump_status import teardown
from test_ha_state import WAIT_S, control_items, leader_after_kill, majority

X, Z, Y = REGIONS
SLOW_MS = 8000   # under aws.request_timeout_ms (10 s): the batch is held, then refused


def operator_sets(c, weights):
    """The operator's change, as a person makes it with the aws CLI, one batch of UPSERTs (no guard); sent with botocore
    in-process."""
    batch = {"Comment": "operator", "Changes": [{"Action": "UPSERT", "ResourceRecordSet": {
        "Name": NAME, "Type": "A", "SetIdentifier": r, "Weight": w, "TTL": 60,
        "ResourceRecords": [{"Value": IPS[REGIONS.index(r)]}]}} for r, w in weights.items()]}
    return boto_kit.r53_change(c.r53, batch)


def intent_weights(it):
    return (((it["doc"] or {}).get("route53") or {}).get("intent") or {}).get("weights")


def test_refused_intent_not_handed_on():
    c = Cluster()
    try:
        a, _ = one_leader(c)
        ea = lease(a)["epoch"]
        bumped(c, a, ea)
        wait_for(lambda: majority(control_items(c), lambda it: it["epoch"] == ea and "route53" in (it["doc"] or {})),
                 WAIT_S, f"{a.iid}'s state (with its route53 member) on a majority of the tables")
        c.r53.inject(slow=1, ops=["ChangeResourceRecordSets"], keys=[a.key], slow_ms=SLOW_MS)
        c.ngx.down(c.ports[0])
        wait_for(lambda: c.r53.call("GET", "/_peer/inject")["counts"]["slow"] == 0, WAIT_S,
                 f"{a.iid}'s drain of {X} reaches the Route 53 peer (its slow fault taken)")
        wait_for(lambda: majority(control_items(c), lambda it: it["epoch"] == ea and
                                  (intent_weights(it) or [None])[0] == 0), WAIT_S,
                 f"{a.iid}'s intent (drain {X}) on a majority of the #control items")
        # the second actor, while A's batch is held at the peer: X at 0 as A wants it, Z at 50 (so the
        # group after the refusal is not what A sent: A holds both as drift, not X as its own landing)
        op = operator_sets(c, {X: 0, Z: 50})
        check(op["Status"] in ("PENDING", "INSYNC"), f"the operator's change is accepted ({op})")
        check(not [x for x in c.r53.changes() if x["key"] == a.key and weights_of(x["after"]).get(X) == 0],
              f"the operator's change reached the peer before {a.iid}'s batch was handled")
        rej = wait_for(lambda: [r for r in c.r53.call("GET", "/_peer/rejected")["rejected"] if r["key"] == a.key],
                       SLOW_MS / 1000 + WAIT_S, f"the peer refuses {a.iid}'s batch")
        check_eq(rej[0]["error"], "InvalidChangeBatch", "refused: its exact DELETE no longer matches")
        wait_for(lambda: majority(control_items(c), lambda it: it["epoch"] == ea and
                                  "route53" in (it["doc"] or {}) and not intent_weights(it)), WAIT_S,
                 f"the refused intent leaves a majority of the #control items ({a.iid}'s write)")
        n0 = len(c.r53.changes())
        b, eb, _ = leader_after_kill(c, a)
        bumped(c, b, eb)
        c.ngx.down(c.ports[0], False)
        b.wait_target(X, "up", timeout=WAIT_S)
        c.ngx.down(c.ports[2])
        wait_for(lambda: c.r53.weights(NAME)[Y] == 0, WAIT_S, f"{b.iid} drains the failed {Y}")
        mine = [x for x in c.r53.changes()[n0:] if x["key"] == b.key]
        check(mine and all(weights_of(x["after"]).get(X) == 0 for x in mine),
              f"every batch of {b.iid} leaves {X} at the operator's 0 ({[weights_of(x['after']) for x in mine]})")
        check_eq(c.r53.weights(NAME), {X: 0, Z: 50, Y: 0},
                 f"the peer's records: {X} and {Z} at the operator's weights, {Y} drained")
        later = c.r53.changes()[n0:]
        check(all(x["key"] in (b.key, TEST_KEY["access_key"]) for x in later),
              f"after the kill only {b.iid} changed the group")
    finally:
        teardown(c)


if __name__ == "__main__":
    run_tests([test_refused_intent_not_handed_on])
