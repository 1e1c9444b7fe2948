"""Replicated controller state (issue 17, item 3, first slice): three regiond
instances, three lease tables on the strict DynamoDB peer, the strict Route 53
peer; each instance signs with its own key, so both peers' logs say who
called.  Every invariant is judged on the PEERS' items and logs:
  - an override and a freeze set on the leader reach the "regiond#control"
    item of a majority of the tables (the peer's items, read back);
  - kill -9 of the leader: the new leader shows the same override and freeze
    without anyone entering them again, it applies nothing the freeze holds
    (its only Route 53 batch is the guard bump; the pinned weight stands at the
    peer), and its first decision's number is above every number the old
    leader used and above the reservation the old leader replicated;
  - only a leader writes the #control item (the DynamoDB peer's request log by
    signing key);
  - input the author did not choose: an operator writes the #control items by
    hand (botocore in-process, the aws CLI's request) — a doc that fails control.json's checks at a high
    seq, then a valid-looking doc with an epoch above any term — the new leader
    alarms (cluster-state), loads neither, nothing crashes; it writes its own
    state over them (the high-epoch ones: no earlier leader wrote them, known
    defect 37; before, they blocked its writes and every decision until an
    operator deleted them) and decides;
  - two of three tables cannot answer the #control read at a takeover (the
    peer's fault limited to that item): the new leader alarms and makes no
    decision (the failed region stays in at the Route 53 peer) until it can
    read a majority, then drains it."""
import json
import time

import boto_kit
from harness import check, check_eq, events_ring, run_tests, wait_for
import lease_kit
from lease_kit import REGIONS as LEASE_REGIONS, TABLE, TAKEOVER_S, kill9, lease
from test_ha import NAME, REGIONS, Cluster, control, bumped, one_leader, weights_of

ITEM = lease_kit.NAME + "#control"
WAIT_S = 20   # a condition the peer must show: a few write rounds of 1 s each, with room for a busy machine


def control_items(c):
    """The #control item of each lease table as the DynamoDB peer holds it (None when absent)."""
    out = {}
    for r in LEASE_REGIONS:
        its = [i for i in c.ddb.call("GET", f"/_peer/items?region={r}&table={TABLE}")["items"]
               if i.get("name", {}).get("S") == ITEM]
        if not its:
            out[r] = None
            continue
        it = its[0]
        try:
            doc = json.loads(it.get("doc", {}).get("S", ""))
        except ValueError:
            doc = None
        out[r] = {"epoch": int(it["epoch"]["N"]), "seq": int(it["seq"]["N"]), "doc": doc,
                  "owner": it.get("owner", {}).get("S")}
    return out


def majority(its, pred):
    """The items satisfying pred, when they are a majority of the tables; else None."""
    ok = {r: it for r, it in its.items() if it and pred(it)}
    return ok if len(ok) * 2 > len(its) else None


def decisions(d):
    code, body = d.get("/v1/decisions")
    check_eq(code, 200, f"{d.iid} answers /v1/decisions")
    return json.loads(body)


def active_alarm(d, key):
    return next((a for a in d.status()["alarms"]["active"] if a["key"] == key), None)


def control_writes(c, key):
    """(peer time, region) of every PutItem of the #control item signed with key."""
    return [(r["t"], r["region"]) for r in c.ddb.call("GET", "/_peer/stats")["requests"]
            if r.get("op") == "PutItem" and r.get("key") == key
            and (r.get("item_key") or {}).get("name", {}).get("S") == ITEM]


def put_by_hand(c, epoch, seq, doc):
    """An operator's PutItem of the #control item in every table (botocore, the aws CLI's request)."""
    for r in LEASE_REGIONS:
        boto_kit.ddb(c.ddb, r).put_item(TableName=TABLE, Item={
            "name": {"S": ITEM}, "epoch": {"N": str(epoch)}, "seq": {"N": str(seq)}, "doc": {"S": doc},
            "owner": {"S": "an operator"}})


def leader_after_kill(c, old):
    kill9(old)
    rest = [d for d in c.ds if d is not old and d.proc.poll() is None]
    b, took = one_leader(c, rest, TAKEOVER_S + 5)
    return b, lease(b)["epoch"], took


def test_state_carried_over():
    c = Cluster()
    try:
        a, _ = one_leader(c)
        ea = lease(a)["epoch"]
        bumped(c, a, ea)
        code, body = control(a, "POST", "/v1/overrides", {"region": REGIONS[0], "action": "pin", "weight": 40,
                                                          "duration_s": 3600, "note": "carried over"})
        check_eq(code, 200, f"the leader takes the override ({body})")
        wait_for(lambda: c.r53.weights(NAME)[REGIONS[0]] == 40, WAIT_S,
                 f"{a.iid} applies the pin at the Route 53 peer")
        code, body = control(a, "POST", "/v1/freeze", {"note": "state test freeze"})
        check_eq(code, 200, f"the leader takes the freeze ({body})")

        def holds(it):
            d = it["doc"] or {}
            return (it["epoch"] == ea and d.get("frozen") is True and d.get("freeze_note") == "state test freeze"
                    and any(o.get("region") == REGIONS[0] and o.get("action") == "pin" and o.get("weight") == 40
                            for o in d.get("overrides", [])))
        held = wait_for(lambda: majority(control_items(c), holds), WAIT_S,
                        "the override and the freeze on a majority of the peer's #control items")
        check(len(held) >= 2, f"a majority of the tables hold the override and the freeze ({sorted(held)})")
        old_numbers = [x["decision"] for x in decisions(a)]
        old_reserved = max(it["doc"]["decision_reserved"] for it in held.values())
        check(old_numbers, f"the old leader made decisions ({old_numbers})")
        n0 = len(c.r53.changes())
        t_kill = time.monotonic()
        b, eb, took = leader_after_kill(c, a)
        check(eb > ea, f"the new term's epoch is higher ({eb} > {ea})")

        def carried():
            f = b.status()["failover"]
            ov = [o for o in f["overrides"] if o.get("region") == REGIONS[0]]
            return f if f["frozen"] and f.get("freeze_note") == "state test freeze" and ov and \
                ov[0].get("action") == "pin" and ov[0].get("weight") == 40 else None
        wait_for(carried, WAIT_S, f"{b.iid} shows the old leader's override and freeze")
        mine = wait_for(lambda: decisions(b), WAIT_S, f"{b.iid} makes its first decision")
        first = min(x["decision"] for x in mine)
        print(f"old leader's decisions {sorted(old_numbers)}, its replicated reservation {old_reserved}; "
              f"the new leader's first decision {first}; kill -9 -> new leader {took:.2f} s")
        check(first > max(old_numbers), f"the new leader's first decision {first} is above every number the old "
                                        f"leader used ({max(old_numbers)})")
        check(first > old_reserved, f"... and above the old leader's replicated reservation ({old_reserved})")
        # the peer: the new leader replicates under its epoch; it applies nothing the freeze holds
        wait_for(lambda: majority(control_items(c), lambda it: it["epoch"] == eb and (it["doc"] or {}).get("frozen")),
                 WAIT_S, f"{b.iid}'s state (epoch {eb}, still frozen) on a majority of the tables")
        wait_for(lambda: any(x["key"] == b.key for x in c.r53.changes()[n0:]), WAIT_S, f"{b.iid}'s guard bump")
        time.sleep(2)   # the new leader's decision loop runs (1 s tick): a batch it would send shows now
        new = [x for x in c.r53.changes()[n0:] if x["key"] == b.key]
        check(all(weights_of(x["before"]) == weights_of(x["after"]) for x in new),
              f"the new leader changed no weight while the carried freeze holds ({len(new)} batches)")
        check_eq(c.r53.weights(NAME)[REGIONS[0]], 40, "the pinned weight stands at the Route 53 peer")
        # only a leader wrote the #control item
        third = next(d for d in c.ds if d is not a and d is not b)
        wa, wb, wc = control_writes(c, a.key), control_writes(c, b.key), control_writes(c, third.key)
        # (a write sent just before kill -9 may reach the peer's log after t_kill: bounded by b's term instead)
        check(wa and all(t < t_kill + took for t, _ in wa),
              f"{a.iid} wrote #control, only before {b.iid} led ({len(wa)})")
        check(wb and all(t > t_kill for t, _ in wb), f"{b.iid} wrote #control only after the kill ({len(wb)})")
        check_eq(len(wc), 0, f"{third.iid}, never leading, never wrote the #control item")
        for d in (b, third):
            check_eq(d.stop(), 0, f"{d.iid} stops cleanly")
    finally:
        c.stop()


def test_hand_written_control_item():
    c = Cluster()
    try:
        a, _ = one_leader(c)
        ea = lease(a)["epoch"]
        bumped(c, a, ea)
        wait_for(lambda: majority(control_items(c), lambda it: it["epoch"] == ea), WAIT_S,
                 f"{a.iid}'s state on a majority of the tables")
        # 1. a doc that fails control.json's checks, at the old term's epoch and a seq above any of its writes
        bad = json.dumps({"frozen": "yes", "overrides": [{"region": REGIONS[0], "action": "drain"}]})
        put_by_hand(c, ea, 10 ** 12, bad)
        b, eb, _ = leader_after_kill(c, a)
        ring = wait_for(lambda: (lambda t: t if "cluster-state" in t and "not loaded" in t else None)(
            events_ring(b.port, 1.0)),
                        WAIT_S, f"{b.iid} raises cluster-state for the hand-written doc")
        check("frozen: expected true or false" in ring, "the alarm names what failed the checks")
        f = b.status()["failover"]
        check(not f["frozen"] and not f["overrides"], f"{b.iid} loaded none of it (frozen {f['frozen']}, "
                                                       f"overrides {f['overrides']})")
        wait_for(lambda: majority(control_items(c), lambda it: it["epoch"] == eb and it["doc"]), WAIT_S,
                 f"{b.iid} writes its own state over it (its epoch {eb} is higher)")
        wait_for(lambda: decisions(b), WAIT_S, f"{b.iid} decides")
        check(all(w != 0 for w in c.r53.weights(NAME).values()), "no drain reached Route 53")

        # 2. a valid-looking doc with an epoch above any term: no earlier leader wrote it (known defect 37):
        # ignored and named, its tables count as answered, and the leader writes its state over the items
        # it read (each replaced only while unchanged)
        high = eb + 100
        put_by_hand(c, high, 1, json.dumps({"frozen": True, "freeze_note": "by hand", "decision_seq": 5}))
        d3, ec, _ = leader_after_kill(c, b)
        check(ec < high, f"the next term ({ec}) is below the hand-written epoch ({high})")
        ring = wait_for(lambda: (lambda t: t if f"is not below this term's {ec}" in t else None)(
            events_ring(d3.port, 1.0)), WAIT_S, f"{d3.iid} raises cluster-state naming the hand-written items")
        check("an item not valid was ignored" in ring, "the alarm says the items were ignored")
        check(not d3.status()["failover"]["frozen"], f"{d3.iid} did not load the hand-written freeze")
        wait_for(lambda: majority(control_items(c), lambda it: it["epoch"] == ec), WAIT_S,
                 f"{d3.iid} writes its state over the hand-written items (no operator step)")
        check("the item ignored at the last read was written over" in d3.read_log(),
              f"{d3.iid}'s log says it wrote over them")
        wait_for(lambda: active_alarm(d3, "cluster-state") is None, WAIT_S, "cluster-state resolves")
        wait_for(lambda: decisions(d3), WAIT_S, f"{d3.iid} decides")
        check_eq(d3.stop(), 0, f"{d3.iid} stops cleanly")
    finally:
        c.stop()


def test_unreadable_at_takeover():
    """Two of three tables answer 500 to the #control item's GetItem (the peer's fault, limited to that
    item: the lease itself works): the new leader makes no decision, alarms, and drains the failed region
    only once it can read a majority."""
    c = Cluster()
    try:
        a, _ = one_leader(c)
        ea = lease(a)["epoch"]
        bumped(c, a, ea)
        wait_for(lambda: majority(control_items(c), lambda it: it["epoch"] == ea), WAIT_S,
                 f"{a.iid}'s state on a majority of the tables")
        for r in LEASE_REGIONS[:2]:
            c.ddb.call("POST", "/_peer/inject", {"region": r, "ops": ["GetItem"], "items": [ITEM], "error5xx": -1})
        n0 = len(c.r53.changes())
        b, eb, _ = leader_after_kill(c, a)
        c.ngx.down(c.ports[2])
        wait_for(lambda: (lambda x: x if x and "cannot be read" in x["summary"] else None)(
            active_alarm(b, "cluster-state")), WAIT_S, f"{b.iid} raises cluster-state: the state cannot be read")
        b.wait_target(REGIONS[2], "down")
        wait_for(lambda: any(x["key"] == b.key for x in c.r53.changes()[n0:]), WAIT_S, f"{b.iid}'s guard bump")
        time.sleep(3)   # the window in which a leader that did not wait would drain (test_ha: about 2 s)
        check_eq(decisions(b), [], f"{b.iid} makes no decision while it cannot read a majority")
        new = [x for x in c.r53.changes()[n0:] if x["key"] == b.key]
        check(all(weights_of(x["before"]) == weights_of(x["after"]) for x in new),
              f"{b.iid}'s only batches change no weight ({len(new)}: the guard bump)")
        check_eq(c.r53.weights(NAME)[REGIONS[2]], 100, "the failed region is not drained yet at the peer")
        c.ddb.call("POST", "/_peer/clear-faults", {})
        wait_for(lambda: c.r53.weights(NAME)[REGIONS[2]] == 0, WAIT_S,
                 f"{b.iid} drains {REGIONS[2]} once it reads a majority")
        wait_for(lambda: active_alarm(b, "cluster-state") is None, WAIT_S, "cluster-state resolves")
        check_eq(b.stop(), 0, f"{b.iid} stops cleanly")
    finally:
        c.stop()


if __name__ == "__main__":
    run_tests([test_state_carried_over, test_hand_written_control_item, test_unreadable_at_takeover])
