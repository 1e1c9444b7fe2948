"""A second actor during a takeover (issue 17 item 3; docs/ha.md, docs/safety.md "Route 53"): an
operator changes a weight with the aws CLI while the new leader's guard bump is still PENDING at Route
53 and before the new leader's first decision.  Three instances as in test_ha; the Route 53 peer keeps
every change PENDING for 120 s; the new leader's first decision is held back by the DynamoDB peer
failing the #control item's GetItem on two of three tables (it decides nothing before it has read the
replicated state: bb_test_ha_state), which gives the operator a window the test controls.

  kill -9 of the leader -> another leads and bumps the guard (PENDING at the peer); a region fails;
  the operator UPSERTs another region's record to weight 30 (aws CLI, its own key) while the bump is
  PENDING and the new leader has made no decision; the state becomes readable ->
  the new leader re-reads the live records before its batch and treats the operator's change as drift:
  the record stays at 30 in every later batch (no correct_drift, no release), the drift is reported
  (route53-drift-REGION alarm, the region flagged drifted), the failed region (not drifted) is drained
  as the health rules require, and no batch ever leaves every record at 0.
Judged on the Route 53 peer's change log (each batch's group before/after, keyed by access key), its
records and get-change."""
import time

import boto_kit
from harness import TEST_KEY, check, check_eq, run_tests, wait_for
from lease_kit import REGIONS as LEASE_REGIONS
from test_ha_bump_status import teardown
from test_ha import IPS, NAME, REGIONS, Cluster, bumped, epoch_of, one_leader, weights_of
from test_ha_state import ITEM, WAIT_S, active_alarm, control_items, decisions, lease, leader_after_kill, majority

PENDING_MS = 120000
OP_REGION, DOWN_REGION, OP_WEIGHT = REGIONS[0], REGIONS[2], 30


def upsert(c, region, ip, weight):
    """The operator's change, as a person makes it with the aws CLI, one UPSERT (no guard); sent with botocore in-process."""
    batch = {"Comment": "operator", "Changes": [{"Action": "UPSERT", "ResourceRecordSet": {
        "Name": NAME, "Type": "A", "SetIdentifier": region, "Weight": weight, "TTL": 60,
        "ResourceRecords": [{"Value": ip}]}}]}
    return boto_kit.r53_change(c.r53, batch)


def get_change(c, cid):
    return c.r53.aws("get-change", "--id", cid.split("/")[-1])["ChangeInfo"]["Status"]


def test_operator_change_while_bump_pending():
    c = Cluster()
    try:
        a, _ = one_leader(c)
        ea = lease(a)["epoch"]
        bumped(c, a, ea)
        wait_for(lambda: majority(control_items(c), lambda it: it["epoch"] == ea), WAIT_S,
                 f"{a.iid}'s state on a majority of the tables")
        for r in LEASE_REGIONS[:2]:
            c.ddb.call("POST", "/_peer/inject", {"region": r, "ops": ["GetItem"], "items": [ITEM], "error5xx": -1})
        c.r53.call("POST", "/_peer/config", {"pending_ms": PENDING_MS})
        n0 = len(c.r53.changes())
        b, eb, _ = leader_after_kill(c, a)
        bump = bumped(c, b, eb)
        check_eq(weights_of(bump["before"]), weights_of(bump["after"]), f"{b.iid}'s bump moves no weight")
        c.ngx.down(c.ports[2])
        b.wait_target(DOWN_REGION, "down")
        # The operator acts now: the bump PENDING, no decision of the new leader yet.
        op = upsert(c, OP_REGION, IPS[0], OP_WEIGHT)
        check_eq(op["Status"], "PENDING", "the operator's change is accepted")
        check_eq(get_change(c, bump["id"]), "PENDING", f"{b.iid}'s bump is still PENDING after the operator's change")
        check_eq(decisions(b), [], f"{b.iid} has made no decision yet")
        mine = [x for x in c.r53.changes()[n0:] if x["key"] == b.key]
        check_eq([x["id"] for x in mine], [bump["id"]], f"{b.iid}'s only batch so far is the bump")
        check_eq(c.r53.weights(NAME), {OP_REGION: OP_WEIGHT, REGIONS[1]: 100, DOWN_REGION: 100},
                 "the peer's records: the operator's weight, the failed region not drained yet")
        c.ddb.call("POST", "/_peer/clear-faults", {})
        wait_for(lambda: c.r53.weights(NAME)[DOWN_REGION] == 0, WAIT_S,
                 f"{b.iid} drains {DOWN_REGION} once it has read the state")
        drift = wait_for(lambda: active_alarm(b, f"route53-drift-{OP_REGION}"), WAIT_S,
                         f"{b.iid} reports {OP_REGION}'s record as drift")
        check("changed outside regiond" in drift["summary"] and "left alone" in drift["summary"],
              f"the drift alarm says the record is left alone ({drift['summary']!r})")
        w = {x["region"]: x for x in b.status()["failover"]["weights"]}
        check_eq((w[OP_REGION]["drifted"], w[OP_REGION]["live"]), (True, OP_WEIGHT),
                 f"{b.iid}'s status: {OP_REGION} drifted, live {OP_WEIGHT}")
        time.sleep(2)   # a few more decisions (hold_down_s 1): none may undo the operator's weight
        mine = [x for x in c.r53.changes()[n0:] if x["key"] == b.key]
        drain = next(x for x in mine if weights_of(x["after"]).get(DOWN_REGION) == 0)
        check(drain["mono"] - bump["mono"] < PENDING_MS / 1000,
              "the drain was sent while the bump was still PENDING at the peer")
        check_eq(epoch_of(drain["after"]), eb, "the drain carries the new term's guard")
        later = [x for x in mine if x["seq"] > bump["seq"]]
        check(later and all(weights_of(x["after"]).get(OP_REGION) == OP_WEIGHT for x in later),
              f"every batch of {b.iid} after the operator's change leaves {OP_REGION} at {OP_WEIGHT} "
              f"({[weights_of(x['after']) for x in later]})")
        allc = c.r53.changes()
        check(all(any(v > 0 for v in weights_of(x["after"]).values()) for x in allc),
              f"no change at the peer left every record at 0 ({len(allc)} changes)")
        check_eq(c.r53.weights(NAME), {OP_REGION: OP_WEIGHT, REGIONS[1]: 100, DOWN_REGION: 0},
                 "the peer's records: the operator's weight kept, the failed region drained")
        check(all(x["key"] in (b.key, TEST_KEY["access_key"]) for x in allc[n0:]),
              "after the kill only the new leader and the operator changed the group")
    finally:
        teardown(c)


if __name__ == "__main__":
    run_tests([test_operator_change_while_bump_pending])
