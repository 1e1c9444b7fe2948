"""The replicated state's drills, route53 and backups members are checked as the files they come
from (issue 17, item 3; docs/ha.md "What is read back").  Input the author did not choose: the
leader's own #control document, read back from the DynamoDB peer, with one of those members
broken at random (a seeded generator; the seed is printed), written back by hand with the aws CLI
at the old term's epoch and a seq above any of its writes, on every table; then a kill -9 of the
leader.  Twice (two takeovers, a different member each time).  Judged on the peers and the
instances' answers:
  - the new leader raises cluster-state naming the member that failed, loads nothing of that
    document (no override, no freeze), does not crash, writes its own state over the item (its
    epoch) and decides;
  - no Route 53 batch drains a region (the peer's records)."""
import json
import os
import random
import time

from harness import check, check_eq, events_ring, run_tests, wait_for
from lease_kit import lease
from test_ha import NAME, REGIONS, Cluster, bumped, control, one_leader
from test_ha_state import WAIT_S, control_items, decisions, leader_after_kill, majority, put_by_hand

JUNK = [None, True, -1, 1.5, 2 ** 60, "", "x" * 3000, [], {}, [1, "a"], {"k": None}]


def breakers(doc):
    """(member, how it is broken) for each way this document can be broken, on a copy each."""
    out = []

    def add(member, f):
        d = json.loads(json.dumps(doc))
        f(d)
        out.append((member, d))
    add("drills", lambda d: d.__setitem__("drills", random.choice(JUNK[:9])))
    add("drills", lambda d: d["drills"].__setitem__("next_id", random.choice([0, -3, 2 ** 60, "7", None])))
    add("drills", lambda d: d["drills"].__setitem__("active", [{"id": random.choice(JUNK), "region": REGIONS[0],
                                                                  "state": 0}]))
    add("drills", lambda d: d["drills"].__setitem__("active", [{"id": 7, "region": REGIONS[0],
                                                                  "state": random.choice([1, 2, 3, 9, "0"])}]))
    add("route53", lambda d: d.__setitem__("route53", random.choice(JUNK[:9])))
    add("route53", lambda d: d["route53"]["known"]["regions"][REGIONS[1]].__setitem__(
        "weights", [random.choice([256, -2, "100", None, 1.5])]))
    add("route53", lambda d: d["route53"].__setitem__("intent", {"decision": random.choice([-1, "1", None]),
                                                                 "weights": [0]}))
    add("route53", lambda d: d["route53"]["known"].__setitem__("record_name", random.choice([5, None, "x" * 300])))
    add("backups", lambda d: d.__setitem__("backups", random.choice(JUNK[:9])))
    add("backups", lambda d: d["backups"].__setitem__("jobs", {"nightly@us-east-1": [
        {"arn": random.choice(JUNK), "name": "regiond-orders-nightly.20260101T000000Z"}]}))
    add("backups", lambda d: d["backups"].__setitem__("jobs", {"nightly@us-east-1": [
        {"arn": "arn:aws:dynamodb:us-east-1:1:table/orders/backup/1", "name": ""}] * random.choice([1, 65])}))
    return out


def current_doc(c, epoch):
    """The leader's document as a majority of the items hold it (waited for), with every member."""
    def get():
        its = majority(control_items(c), lambda it: it["epoch"] == epoch and it["doc"]
                       and "route53" in it["doc"] and "drills" in it["doc"])
        return next(iter(its.values()))["doc"] if its else None
    return wait_for(get, WAIT_S, f"epoch {epoch}'s state on a majority, with its drills and route53 members")


def break_and_take_over(c, a, ea, member, doc):
    doc.setdefault("backups", {"jobs": {}})
    put_by_hand(c, ea, 10 ** 12, json.dumps(doc))
    b, eb, _ = leader_after_kill(c, a)
    ring = wait_for(lambda: (lambda t: t if "cluster-state" in t and "not loaded" in t else None)(
        events_ring(b.port, 1.0)), WAIT_S, f"{b.iid} raises cluster-state for the broken {member} member")
    check(f"{member}" in ring.split("not loaded", 1)[1][:400],
          f"the alarm names the member that failed ({member}): "
          f"{ring.split('not loaded', 1)[1][:200]!r}")
    f = b.status()["failover"]
    check(not f["frozen"] and not f["overrides"], f"{b.iid} loaded nothing of it (frozen {f['frozen']}, "
                                                   f"overrides {f['overrides']})")
    wait_for(lambda: majority(control_items(c), lambda it: it["epoch"] == eb and it["doc"]), WAIT_S,
             f"{b.iid} writes its own state over it (its epoch {eb})")
    wait_for(lambda: decisions(b), WAIT_S, f"{b.iid} decides")
    return b, eb


def test_broken_members_not_loaded():
    seed = int(os.environ.get("SEED", time.time_ns() % 10 ** 9))
    random.seed(seed)
    print(f"seed {seed} (SEED=... to repeat)")
    c = Cluster()
    try:
        a, _ = one_leader(c)
        ea = lease(a)["epoch"]
        bumped(c, a, ea)
        # something to lose: a freeze, carried only if the document were loaded
        check_eq(control(a, "POST", "/v1/freeze", {"note": "members test"})[0], 200, f"{a.iid} freezes")
        doc = current_doc(c, ea)
        check(doc.get("frozen") is True, "the freeze is in the replicated document")
        ways = breakers(doc)
        first = random.choice(ways)
        print(f"first: {first[0]}: {json.dumps(first[1][first[0]])[:200]}")
        b, eb = break_and_take_over(c, a, ea, *first)
        # b's own document, with its own freeze, broken in another member
        check_eq(control(b, "POST", "/v1/freeze", {"note": "members test 2"})[0], 200, f"{b.iid} freezes")
        doc = current_doc(c, eb)
        check(doc.get("frozen") is True, "the freeze is in the replicated document")
        second = random.choice([w for w in breakers(doc) if w[0] != first[0]])
        print(f"second: {second[0]}: {json.dumps(second[1][second[0]])[:200]}")
        d3, _ = break_and_take_over(c, b, eb, *second)
        check(all(w != 0 for w in c.r53.weights(NAME).values()), "no drain reached Route 53")
        check_eq(d3.stop(), 0, f"{d3.iid} stops cleanly")
    finally:
        c.stop()


if __name__ == "__main__":
    run_tests([test_broken_members_not_loaded])
