"""A forged but VALID "#control" item plus one lease table down at a takeover (docs/ha.md known defect 37):
three instances on three plain lease tables of the strict DynamoDB peer (dynalite behind its strict front),
the strict Route 53 peer and nginx, each instance signing with its own key (test_lease_rename's Cluster).

The leader takes a freeze and a drain override of Y (regionctl, answered OK once on a majority of the
lease tables; nothing reaches Route 53 while frozen).  A second actor (botocore, the operator's own key)
then makes the third lease table unreachable (the peer answers every call there with HTTP 500) and puts
a VALID "regiond#control" item with epoch 9000000000000000 (far above any term) into the first table,
and the leader is killed (kill -9).  The next leader reads {forged, its predecessor's state, no answer}:
  - it is frozen with the note and keeps the override (its /v1/status): the forged item, at or above its
    term, is ignored like a bad one and named in its log and its cluster-state alarm, and the table that
    held it counts as answered (so two answers of three are a majority);
  - the freeze holds at the Route 53 PEER: with Z taken down (nginx answers 503), no batch but its guard
    bump lands while frozen;
  - it makes decisions: once unfrozen (regionctl, answered OK: its writes reach a majority, the forged
    item replaced by its own in the first table, as the log says), the peer's weights drain Y (the
    override kept) and Z (the region down);
  - every batch since the kill is the new leader's.
Before the fix the forged item was picked as the newest, refused by the leader ("epoch not below this
term's"), and the leader went on from its own saved state: not frozen, no override.  (With the item
ignored but its table not counted the read had no majority and the leader held: no decision.)"""
import time

import boto_kit

from harness import TEST_KEY, check, check_eq, eventually, run_tests, wait_for
from lease_kit import LEASE_MS, REGIONS as LEASE_REGIONS, RENEW_MS, TABLE, kill9
from test_lease_rename import ctl, FIRST_S, NAME, OLD, REGIONS, Cluster, Judge, epoch_of, freeze, majority_held

X, Y, Z = REGIONS            # Y: drained by an override; Z: taken down after the takeover
FORGED, GOOD, DOWN = LEASE_REGIONS   # the forged item's table, the one that keeps the state, the unreachable one
NOTE = "frozen before the forgery"
HIGH = "9000000000000000"
TAKE_S = LEASE_MS / 1000 + 3 * RENEW_MS / 1000 + 8
WAIT_S = 20


def state(d):
    """(frozen with NOTE, the regions with an override) on d's /v1/status."""
    f = d.status()["failover"]
    return (f.get("frozen") is True and f.get("freeze_note") == NOTE,
            sorted(o.get("region") for o in f.get("overrides", [])))


def held_on(c, tables):
    """The "regiond#control" items at the peer in tables that hold the freeze and Y's override."""
    docs = c.control_docs(OLD)
    return all(docs[t] and docs[t][1].get("frozen") is True and docs[t][1].get("freeze_note") == NOTE
               and any(o.get("region") == Y for o in docs[t][1].get("overrides", [])) for t in tables)


def leads(judge, ds, what, timeout):
    ls, _ = judge.until(lambda ls, its: len(ls) == 1 and ls[0] in ds and majority_held(its[OLD], ls[0].iid),
                        timeout, what)
    return ls[0]


def forge_and_kill(c, a):
    """The second actor's moves, then the kill: the third table down, the forged item in the first."""
    c.ddb.call("POST", "/_peer/inject", {"region": DOWN, "error5xx": -1})
    boto_kit.ddb(c.ddb, FORGED).put_item(TableName=TABLE, Item={
        "name": {"S": f"{OLD}#control"}, "epoch": {"N": HIGH}, "seq": {"N": "1"},
        "doc": {"S": '{"frozen":false}'}, "owner": {"S": "someone else"}})
    kill9(a)
    return time.monotonic()


def test_forged_control_item_and_a_table_down():
    c = Cluster()
    try:
        c.ds = [c.start(i) for i in (1, 2, 3)]
        judge = Judge(c)
        a = leads(judge, c.ds, "one leader", FIRST_S)
        wait_for(lambda: epoch_of(c.r53.records()), 15, f"{a.iid}'s guard bump")
        check_eq(freeze(a, NOTE), 200, f"{a.iid} takes a freeze")
        rc, out = ctl(a, "drain", Y, "--for", "1h", "--note", "override before the forgery")
        check_eq(rc, 0, f"regionctl drain {Y} on {a.iid} answered OK ({out})")
        check(wait_for(lambda: held_on(c, LEASE_REGIONS), WAIT_S, "the freeze and the override in every table"),
              f"the freeze and {Y}'s override are in every table's {OLD}#control item")
        n_bat = len(c.batches())
        t_kill = forge_and_kill(c, a)
        rest = [d for d in c.ds if d is not a]
        b = leads(judge, rest, "a new leader after the kill", TAKE_S + 6)
        print(f"info {b.iid} leads {time.monotonic() - t_kill:.1f} s after the kill", flush=True)
        eventually(lambda: state(b) == (True, [Y]), WAIT_S, f"{b.iid} is frozen with the note and keeps {Y}'s "
                   "override (taken over from the table that kept it)", show=lambda _: state(b))
        log = b.read_log()
        check("replicated item not valid: ignored" in log
              and f"{FORGED}/{TABLE}: epoch {HIGH} is not below this term's" in log
              and "an item not valid was ignored" in log,
              f"{b.iid} names the forged item in {FORGED} in its log and its cluster-state alarm")
        check(wait_for(lambda: [x for x in c.batches()[n_bat:] if x["key"] == b.key], 15, f"{b.iid}'s guard bump"),
              f"{b.iid} bumped the guard")
        c.ngx.down(c.ports[2])
        wait_for(lambda: b.region(Z)["state"] == "down", WAIT_S,
                 f"{b.iid} sees {Z} down")
        time.sleep(3)   # hold-down 1 s and settle 200 ms: a drain would have landed
        check_eq(c.r53.weights(NAME), {X: 100, Y: 100, Z: 100},
                 f"the Route 53 peer: nothing applied while {b.iid} is frozen ({Z} down, {Y} overridden)")
        rc, out = wait_for(lambda: (lambda x: x if x[0] == 0 else None)(ctl(b, "unfreeze")), WAIT_S,
                           f"regionctl unfreeze on {b.iid}")
        check_eq(rc, 0, f"regionctl unfreeze on {b.iid} answered OK: on a majority with {DOWN} down ({out})")
        eventually(lambda: c.r53.weights(NAME) == {X: 100, Y: 0, Z: 0}, WAIT_S,
                   f"the Route 53 peer: {Y} drained (the override kept) and {Z} drained (a decision) by {b.iid}",
                   show=lambda _: c.r53.weights(NAME))
        forged = c.control_docs(OLD)[FORGED]
        check(forged is not None and forged[0] < int(HIGH) and forged[1].get("frozen") is False,
              f"{b.iid}'s state replaced the forged item in {FORGED} ({forged and forged[0]})")
        check("the item ignored at the last read was written over" in b.read_log(),
              f"{b.iid}'s log says it wrote over the ignored item")
        late = c.batches()[n_bat:]
        check(all(x["key"] == b.key for x in late), f"every batch since the kill is {b.iid}'s "
              f"({[x['key'] for x in late]})")
        check(not any(x["key"] == TEST_KEY["access_key"] for x in late), "the operator made no Route 53 change")
    finally:
        c.stop()


if __name__ == "__main__":
    run_tests([test_forged_control_item_and_a_table_down])
