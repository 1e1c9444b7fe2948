"""An observer's restart mid-rename beside a bad item of its own and a table that does not answer
(docs/ha.md known defect 38, fixed): three instances, each an observer (quorum_kit: k 2 of 3, cluster
"regiond").  A follower X is killed (kill -9); a second actor, the test itself (botocore), writes X's
view item under "regiond" -- the name X will hold as its former name -- into ONE table (us-east-1's)
with an epoch that is a string, not a number; the DynamoDB peer then answers every request to a second
table (ap-southeast-2's) with a 500.  X is started again renamed ("renamed", former_name "regiond").
Judged on the table contents the test reads itself (the peer's store), not on X's status:
  - within PUBLISH_BOUND_S of its start, X's view item in both answering tables is valid under both
    names (a whole-number epoch, its doc naming X): the bad item under the former name is replaced,
    and X's (epoch, seq) there keeps growing;
  - X logs what it replaced;
  - for HOLD_S both old-name instances' quorums count X (its view fresh and usable): they read only
    "regiond", where X's items are valid in two of the three tables;
  - one leader throughout.
Two more cases (the review of that fix): test_restart_above_saved_epoch -- X's item made bad in one
table, removed from a second, the third failing: X restarted with its state_dir writes above the epoch it
saved (from the tables alone it took that epoch again, below the failing table's old item); and in it
newer_valid_survives -- a valid newer item of X's where a bad item was is never written over by X's write
over the bad item, and X goes above it; bad_kept_unanswered -- a bad item X read, then that table failing
X's reads: X's next write still goes over it and replaces it.
Without the fix X's read of its own item under the former name had no majority (the bad item counted as
no answer, the third table silent), X learnt nothing and stayed silent under both names: no item under
"renamed", the bad one left in place."""
import json
import signal
import time

from harness import stop as stop_pid
from harness import check, check_eq, eventually, run_tests
from lease_kit import NAME as OLD, REGIONS as LEASE_REGIONS, TABLE, leaders
from observer_kit import sdk
from quorum_kit import SILENT_MS, Cluster, hold, hold_counted, ready

NEW = "renamed"
BAD_TABLE, GOOD_TABLE, DOWN_TABLE = LEASE_REGIONS
PUBLISH_BOUND_S = 10       # start-up, the first read of both keys, one write (publish_ms 1 s), with margin
HOLD_S = SILENT_MS / 1000 + 1
NEWER_HOLD_S = 2.5         # two or three of the observer's writes over the table (publish_ms 1 s)


def raw_item(c, table, name, iid):
    """iid's view item under cluster name `name` in table, as the peer's store holds it (typed), or None."""
    key = f"{name}#view#{iid}"
    for it in c.ddb.call("GET", f"/_peer/items?region={table}&table={TABLE}")["items"]:
        if it.get("name", {}).get("S") == key:
            return it
    return None


def pair(item, iid):
    """(epoch, seq) of a valid item of iid (epoch and seq of DynamoDB type N, whole numbers; its doc a
    string naming it), else None."""
    try:
        e, s = item["epoch"]["N"], item["seq"]["N"]
        if not (e.isdigit() and s.isdigit()) or json.loads(item["doc"]["S"]).get("observer") != iid:
            return None
        return int(e), int(s)
    except (AttributeError, KeyError, TypeError, ValueError):
        return None


def items_of(c, iid, tables=(BAD_TABLE, GOOD_TABLE), names=(OLD, NEW)):
    """{(table, name): (epoch, seq) or None} of iid's items (by default in the two answering tables)."""
    return {(t, n): pair(raw_item(c, t, n, iid), iid) for t in tables for n in names}


def test_rename_restart_bad_item():
    c = Cluster(k=2)
    try:
        lead = ready(c)
        x = next(d for d in c.ds if d is not lead)
        stop_pid(x.proc, sig=signal.SIGKILL)
        x.log.close()
        sdk(c.ddb)[BAD_TABLE].put_item(TableName=TABLE, Item={
            "name": {"S": f"{OLD}#view#{x.iid}"}, "epoch": {"S": "not-a-number"}, "seq": {"N": "1"},
            "doc": {"S": "{}"}})
        c.ddb.call("POST", "/_peer/inject", {"region": DOWN_TABLE, "error5xx": -1})
        t0 = time.monotonic()
        g = c.start(x.n, cluster={"name": NEW, "former_name": OLD})
        c.ds[c.ds.index(x)] = g
        last = {}

        def published():
            last.update(items_of(c, g.iid))
            return all(v is not None for v in last.values())
        ok = eventually(published, PUBLISH_BOUND_S, f"{g.iid}'s view item valid in both answering tables under both "
                                                    f"names (the bad one replaced)")
        print(f"     {g.iid}'s items (table, name) -> (epoch, seq) {time.monotonic() - t0:.1f} s after its start: "
              f"{last}", flush=True)
        if not ok:
            return
        check("replaced a bad item of ours" in g.read_log() and "epoch is not a number" in g.read_log(),
              f"{g.iid} logs the bad item it replaced")
        s0 = dict(last)

        bad = hold_counted([d for d in c.ds if d is not g], g.iid, HOLD_S)
        check(bad is None, f"for {HOLD_S} s both old-name instances' quorums count {g.iid} (fresh, usable)")
        s1 = items_of(c, g.iid)
        check(all(s1[k] is not None and s0[k] is not None and s1[k] > s0[k] for k in s1),
              f"{g.iid} kept writing under both names ({s0} -> {s1})")
        check_eq([d.iid for d in leaders(c.ds)], [lead.iid], "one leader throughout")
        c.ddb.call("POST", "/_peer/clear-faults", {})
        for d in c.ds:
            check_eq(d.stop(), 0, f"{d.iid} stops cleanly")
    finally:
        c.stop()


def settled(c, g):
    """(epoch, seq) of g's item once valid at one epoch in all three tables, per table; None if not."""
    now = {}

    def same():
        now.update(items_of(c, g.iid, (BAD_TABLE, GOOD_TABLE, DOWN_TABLE), (OLD,)))
        return all(now.values()) and len({v[0] for v in now.values()}) == 1
    return now if eventually(same, PUBLISH_BOUND_S, f"{g.iid}'s item valid at one epoch in all three tables") \
        else None


def bad_then_silent(c, g, boto):
    """In GOOD_TABLE g's writes of its item fail (500) while the test makes the item bad (UpdateItem, not
    faulted); once g logs it, g's reads of it fail (AccessDenied) for NEWER_HOLD_S, then its writes go
    through again: g's write goes over the bad item although the table's last reads did not answer (it
    keeps the table's mark).  True once g logged the bad item (the caller goes on), else None."""
    key, t = f"{OLD}#view#{g.iid}", GOOD_TABLE
    said = f"{t}/{TABLE} (epoch is not a number)"
    n0 = g.read_log().count(said)
    c.ddb.call("POST", "/_peer/inject", {"region": t, "ops": ["PutItem"], "items": [key], "error5xx": -1})
    boto[t].update_item(TableName=TABLE, Key={"name": {"S": key}}, UpdateExpression="SET epoch = :e",
                        ExpressionAttributeValues={":e": {"S": "not-a-number"}})
    if not eventually(lambda: g.read_log().count(said) > n0, PUBLISH_BOUND_S, f"{g.iid} logs the bad item in {t}"):
        return None
    c.ddb.call("POST", "/_peer/inject", {"region": t, "ops": ["GetItem"], "items": [key], "deny": -1})
    return True


def bad_kept_unanswered(c, g, boto):
    """bad_then_silent, then g's writes go through: the bad item is replaced by g's next write while the
    table still fails g's reads (judged on the peer's store)."""
    if not settled(c, g) or not bad_then_silent(c, g, boto):
        return
    t, n0 = GOOD_TABLE, g.read_log().count("replaced a bad item of ours")
    time.sleep(NEWER_HOLD_S)   # reads without that table
    c.ddb.call("POST", "/_peer/inject", {"region": t, "ops": ["PutItem"], "items": [f"{OLD}#view#{g.iid}"],
                                         "error5xx": 0})
    eventually(lambda: pair(raw_item(c, t, OLD, g.iid), g.iid), PUBLISH_BOUND_S,
               f"{g.iid} replaces the bad item in {t} while {t} does not answer its reads")
    eventually(lambda: g.read_log().count("replaced a bad item of ours") > n0, 3,   # logged once the write ended
               f"{g.iid} logs the bad item it replaced")
    c.ddb.call("POST", "/_peer/clear-faults", {})


def newer_valid_survives(c, g, boto):
    """The write over a bad item refuses a newer VALID item of ours (a second copy of this instance, or a
    forger), and g then learns above it.  In GOOD_TABLE, g's writes of its item fail (500) while the test
    puts a bad item there (UpdateItem, not faulted): g reads it and logs it; then g's reads of that item
    fail while the test turns it into a valid (E + 5, 1) and g's writes go through again: g's next writes
    go over the table (it holds a bad item as far as g knows, and did not answer since).  Judged on the
    peer's store: that item is never replaced by a lower one; no "cannot replace" line (the refusal is
    not a non-whole number above ours: g reads its epoch again instead); once the table answers, g
    writes above E + 5 in all three tables."""
    key, t = f"{OLD}#view#{g.iid}", GOOD_TABLE
    every = (BAD_TABLE, GOOD_TABLE, DOWN_TABLE)
    now = settled(c, g)
    if not now:
        return
    e = now[(t, OLD)][0]
    upd = boto[t].update_item
    if not bad_then_silent(c, g, boto):
        return
    doc = raw_item(c, BAD_TABLE, OLD, g.iid)["doc"]
    upd(TableName=TABLE, Key={"name": {"S": key}}, UpdateExpression="SET epoch = :e, seq = :s, doc = :d",
        ExpressionAttributeValues={":e": {"N": str(e + 5)}, ":s": {"N": "1"}, ":d": doc})
    c.ddb.call("POST", "/_peer/inject", {"region": t, "ops": ["PutItem"], "items": [key], "error5xx": 0})
    seen = set()

    def lower():
        v = pair(raw_item(c, t, OLD, g.iid), g.iid)
        seen.add(v)
        return v is not None and v < (e + 5, 1)
    bad = hold(lambda: not lower(), NEWER_HOLD_S, interval=0.05)
    check(bad is None, f"{t}'s valid ({e + 5}, 1) is never replaced by a lower item of {g.iid} while {g.iid} "
                       f"writes over it for {NEWER_HOLD_S} s (seen: {sorted(x for x in seen if x)})")
    check("we cannot replace" not in g.read_log(), f"{g.iid} does not call the newer valid item one it cannot "
                                                   f"replace (a number that is not whole)")
    c.ddb.call("POST", "/_peer/clear-faults", {})

    def above():
        now.update(items_of(c, g.iid, every, (OLD,)))
        return all(v and v[0] > e + 5 for v in now.values()) and len({v[0] for v in now.values()}) == 1
    eventually(above, PUBLISH_BOUND_S, f"{g.iid} writes above {e + 5} in all three tables once {t} answers")
    print(f"     {g.iid}'s items then: {now}", flush=True)


def test_restart_above_saved_epoch():
    """The review of defect 38's fix: X's last epoch E reached tables A and B; A's item is then made bad (a
    string epoch), C holds no item of X's incarnation (here: none at all), and B does not answer when X
    starts again (the same state_dir).  The tables that answer say nothing above E-1 (or nothing), so
    from them alone X would write under E again from seq 1 -- below the (E, s) that B still holds and a
    reader reaching B would take as X's fresh view.  X saved E in its state_dir: it writes under E + 1."""
    c = Cluster(k=2)
    try:
        lead = ready(c)
        x = next(d for d in c.ds if d is not lead)
        every = (BAD_TABLE, GOOD_TABLE, DOWN_TABLE)
        held = {}

        def written():
            held.update(items_of(c, x.iid, every, (OLD,)))
            return len({v and v[0] for v in held.values()}) == 1 and all(held.values())
        if not eventually(written, PUBLISH_BOUND_S, f"{x.iid}'s item valid at one epoch in all three tables"):
            return
        stop_pid(x.proc, sig=signal.SIGKILL)
        x.log.close()
        before = items_of(c, x.iid, every, (OLD,))
        e = before[(DOWN_TABLE, OLD)][0]
        boto = sdk(c.ddb)
        boto[BAD_TABLE].put_item(TableName=TABLE, Item={
            "name": {"S": f"{OLD}#view#{x.iid}"}, "epoch": {"S": "not-a-number"}, "seq": {"N": "1"},
            "doc": {"S": "{}"}})
        boto[GOOD_TABLE].delete_item(TableName=TABLE, Key={"name": {"S": f"{OLD}#view#{x.iid}"}})
        c.ddb.call("POST", "/_peer/inject", {"region": DOWN_TABLE, "error5xx": -1})
        print(f"     {x.iid} killed at {before}; its item made bad in {BAD_TABLE}, removed from {GOOD_TABLE}, "
              f"{DOWN_TABLE} answers 500", flush=True)
        g = c.start(x.n, state_dir=x.cfg["controller"]["state_dir"])
        c.ds[c.ds.index(x)] = g
        after = {}

        def published():
            after.update(items_of(c, g.iid, (BAD_TABLE, GOOD_TABLE), (OLD,)))
            return all(after.values())
        ok = eventually(published, PUBLISH_BOUND_S, f"{g.iid} writes again to the two answering tables")
        print(f"     {g.iid}'s items after its restart: {after}", flush=True)
        if ok:
            check(all(v[0] > e for v in after.values()),
                  f"{g.iid} writes above its saved epoch {e} (never an epoch it wrote before)")
        check_eq(pair(raw_item(c, DOWN_TABLE, OLD, g.iid), g.iid), before[(DOWN_TABLE, OLD)],
                 f"{DOWN_TABLE} still holds {g.iid}'s old item (what a reader reaching it sees)")
        c.ddb.call("POST", "/_peer/clear-faults", {})
        if ok:
            bad_kept_unanswered(c, g, boto)
            newer_valid_survives(c, g, boto)
        for d in c.ds:
            check_eq(d.stop(), 0, f"{d.iid} stops cleanly")
    finally:
        c.stop()


if __name__ == "__main__":
    run_tests([test_rename_restart_bad_item, test_restart_above_saved_epoch])
