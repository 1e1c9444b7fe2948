"""One lease table of three answers HTTP 500 (issue 17; README "aws-SERVICE", docs/ha.md "What is
guaranteed"): three regiond instances on three plain lease tables of the strict DynamoDB peer; the
peer answers 500 to every call in one region, so one table fails while the two others answer
(and, with one instance, two tables, then one).

The aws-dynamodb alarm is held per table: on every instance it is raised once, naming the failing
table and its region, stays raised while that table fails (the other tables' answers do not resolve
it), and is resolved once after the table answers again.  Before, each instance's alarm went
firing/resolved about once a second (a failure on the bad table, then a success on a good one).

Judged on each instance's event feed (/v1/events, every alarm_raised/alarm_resolved of the key),
and leadership on the peer's items: the holder and epoch a majority of the items carry do not change
while the table fails (the lease keeps its majority), and at most one instance leads at every
sample."""
import json
import time

from harness import check, check_eq, events_ring, run_tests, stop, wait_for
from lease_kit import REGIONS, TABLE, TAKEOVER_S, items_fast, majority_owner, sample_until, start, start_peer, watch

KEY = "aws-dynamodb"
BAD = REGIONS[2]
FIRST_S = TAKEOVER_S * 2 + 5   # empty tables: a full lease, perhaps a split vote, on a busy machine
ROUND_S = 10                   # a few renew rounds (1 s each), with room for a shared machine and ASan
WATCH_S = 10                   # how long the fault is held while transitions are counted
STOP_S = 30                    # the peer or an ASan regiond under a load of 25+ can take over 5 s to exit


def feed(d):
    """Every event in d's ring, parsed, oldest first."""
    out, kind, eid = [], None, None
    for line in events_ring(d.port).splitlines():
        if line.startswith("event:"):
            kind = line[6:].strip()
        elif line.startswith("id:"):
            eid = int(line[3:].strip())
        elif line.startswith("data:"):
            try:
                data = json.loads(line[5:])
            except ValueError:
                continue
            out.append(dict(data, _kind=kind, _id=eid))
    return out


def alarms(d, after):
    """(kind, summary) of each alarm event of KEY in d's feed with an id above after."""
    return [(e["_kind"], e.get("summary", "")) for e in feed(d)
            if e["_id"] > after and e["_kind"] in ("alarm_raised", "alarm_resolved") and e.get("key") == KEY]


def last_id(d):
    evs = feed(d)
    return evs[-1]["_id"] if evs else 0


def active(d):
    return [a for a in d.status()["alarms"]["active"] if a["key"] == KEY]


def test_one_lease_table_500():
    peer = start_peer()
    ds = [start(i, peer) for i in (1, 2, 3)]
    try:
        ls, _ = sample_until(ds, lambda ls: len(ls) == 1, FIRST_S, "one leader")
        leader = ls[0]
        before = wait_for(lambda: (lambda o: o if o[0] == leader.iid else None)(majority_owner(items_fast(peer))),
                          ROUND_S, "the peer's items naming the leader")
        base = {d: last_id(d) for d in ds}
        peer.call("POST", "/_peer/inject", {"region": BAD, "error5xx": -1})
        # Every instance calls every table each round: each one's alarm is raised, naming the table.
        for d in ds:
            wait_for(lambda: alarms(d, base[d]), ROUND_S, f"{d.iid}: the {KEY} alarm raised")
        t0 = time.monotonic()
        owners = set()
        while time.monotonic() - t0 < WATCH_S:
            owners.add(majority_owner(items_fast(peer)))
            seen = watch(ds, 1.0)
            check(set(seen) <= {leader.iid}, f"only {leader.iid} leads while one table fails ({set(seen)})")
        check_eq(owners, {before}, "the peer's items keep the leader and its epoch on a majority")
        calls = [r for r in peer.call("GET", "/_peer/stats")["requests"] if r["region"] == BAD]
        check(sum(1 for r in calls if r["status"] == 500) >= WATCH_S,
              f"the peer answered 500 to the calls to {BAD} meanwhile ({len(calls)} calls)")
        for d in ds:
            got = alarms(d, base[d])
            kinds = [k for k, _ in got]
            check(kinds == ["alarm_raised"], f"{d.iid}: one {KEY} alarm raised over {WATCH_S} s, none resolved "
                                             f"({kinds.count('alarm_raised')} raised, "
                                             f"{kinds.count('alarm_resolved')} resolved; first {got[:3]})")
            s = got[0][1]
            check(TABLE in s and BAD in s and "InternalServerError" in s,
                  f"{d.iid}: the alarm names the table, its region and the error ({s!r})")
            a = active(d)
            check(len(a) == 1 and a[0]["summary"] == s, f"{d.iid}: /v1/status shows it active ({a})")
        peer.call("POST", "/_peer/clear-faults", {})
        for d in ds:
            got = wait_for(lambda: (lambda g: g if len(g) >= 2 else None)(alarms(d, base[d])), ROUND_S,
                           f"{d.iid}: the {KEY} alarm resolved once the table answers")
            kinds = [k for k, _ in got]
            check(kinds == ["alarm_raised", "alarm_resolved"],
                  f"{d.iid}: one raise, then one resolve ({len(kinds)} events: {kinds[:6]})")
            check(TABLE in got[1][1] and BAD in got[1][1], f"{d.iid}: the resolve names the table ({got[1][1]!r})")
            check_eq(active(d), [], f"{d.iid}: no {KEY} alarm active")
        check_eq(majority_owner(items_fast(peer))[0], leader.iid, "the leader still holds a majority")
    finally:
        for d in ds:
            if d.proc.poll() is None:
                check_eq(d.stop(timeout=STOP_S), 0, f"{d.iid} stops cleanly")
        stop(peer.proc, timeout=STOP_S)
        peer.log.close()


def test_two_tables_then_one():
    """One instance; two tables fail, then one answers again, then the other: the alarm names both, then
    the one still failing, and is resolved once, only when the last one answers."""
    peer = start_peer()
    d = start(1, peer)
    try:
        sample_until([d], lambda ls: len(ls) == 1, FIRST_S, "the instance leads")
        base = last_id(d)
        for r in REGIONS[1:]:
            peer.call("POST", "/_peer/inject", {"region": r, "error5xx": -1})
        both = wait_for(lambda: (lambda a: a if a and all(r in a[0]["summary"] for r in REGIONS[1:]) else None)(
            active(d)), ROUND_S, f"the {KEY} alarm naming both failing tables")
        s = both[0]["summary"]
        check(s.startswith(f"2 dynamodb targets fail: ") and s.count(TABLE) == 2 and REGIONS[0] not in s,
              f"the alarm names the two failing tables and their regions, not the one that answers ({s!r})")
        n = len(alarms(d, base))
        time.sleep(3)
        check_eq(len(alarms(d, base)), n, "no alarm event while the same two tables fail (3 s)")
        peer.call("POST", "/_peer/clear-faults", {"region": REGIONS[1]})
        one = wait_for(lambda: (lambda a: a if a and REGIONS[1] not in a[0]["summary"] else None)(active(d)),
                       ROUND_S, f"the alarm without {REGIONS[1]} once it answers")
        check(one[0]["summary"].startswith(f"{TABLE} in {REGIONS[2]}: InternalServerError"),
              f"the alarm names the table still failing ({one[0]['summary']!r})")
        peer.call("POST", "/_peer/clear-faults", {"region": REGIONS[2]})
        wait_for(lambda: not active(d), ROUND_S, f"the {KEY} alarm resolved once the last table answers")
        got = alarms(d, base)
        kinds = [k for k, _ in got]
        check(kinds.count("alarm_resolved") == 1 and kinds[-1] == "alarm_resolved"
              and got[-1][1] == f"{TABLE} in {REGIONS[2]} answers again",
              f"one resolve, the last event, naming the last table ({got})")
        check(kinds.count("alarm_raised") <= 3, f"at most three raises: one table, both, the one left ({kinds})")
    finally:
        if d.proc.poll() is None:
            check_eq(d.stop(timeout=STOP_S), 0, f"{d.iid} stops cleanly")
        stop(peer.proc, timeout=STOP_S)
        peer.log.close()


if __name__ == "__main__":
    run_tests([test_one_lease_table_500, test_two_tables_then_one])
