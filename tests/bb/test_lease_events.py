"""The lease's events on /v1/events (issue 17 item 4, docs/ha.md "Events"):
three regiond instances on three plain lease tables of the strict DynamoDB
peer, each one's event stream read from its start.  The peer's items (aws CLI
get-item) are the judge of every epoch an event names:
  - a table of the peer answers 500 to everything (the peer acts): every
    instance's feed says lease_tables 2 of 3 with that table and why; when
    it answers again, 3 of 3;
  - kill -9 of the leader: the new leader's feed says lease_won with the
    epoch a majority of the peer's items carry, naming tables it holds on
    the peer; the other follower's feed says lease_holder: the old holder,
    then the new one with its address and that epoch; a stream resumed with
    Last-Event-ID from before that event gets it again, same id;
  - an operator overwrites one item with a higher epoch (botocore, the aws CLI's PutItem): the
    leader's feed says lease_lost with its epoch and why (the table and the
    epoch it read); the next leader's lease_won carries a higher epoch than
    the operator's, again the one the peer's items show.
At every 100 ms sample at most one instance reports leading."""
import json
import queue

import boto_kit
from harness import check, check_eq, run_tests, wait_for
from lease_kit import (LEASE_MS, NAME, REGIONS, RENEW_MS, TABLE, TAKEOVER_S, items, items_fast, kill9, lease,
                       majority_owner, sample_until, start, start_peer)
from test_feed import SSE

FIRST_S = (2 * LEASE_MS + 4 * RENEW_MS) / 1000 + 5   # empty tables: a full lease, perhaps a split vote
ROUND_S = 3 * RENEW_MS / 1000 + 5                    # a few rounds, with room for this shared machine


class Feed:
    """One instance's /v1/events from the oldest event kept; every event seen, parsed, in order."""

    def __init__(self, d, last_id=None):
        self.sse = SSE(d.port, last_id=last_id)
        check_eq(self.sse.status, 200, f"{d.iid}'s event stream answers")
        self.evs = []

    def pull(self):
        while True:
            try:
                e = self.sse.q.get_nowait()
            except queue.Empty:
                return self.evs
            if e is None:
                return self.evs
            data = json.loads(e["data"])
            if (int(e["id"]), e["event"]) != (data["id"], data["type"]):
                raise AssertionError(f"the frame's id and type are not the data's: {e}")
            self.evs.append(data)

    def of(self, type_):
        return [e for e in self.pull() if e["type"] == type_]

    def wait(self, type_, pred, timeout, what):
        return wait_for(lambda: next((e for e in self.of(type_) if pred(e)), None), timeout, what)

    def close(self):
        self.sse.close()


def advertise(d):
    return d.cfg["cluster"]["advertise_url"]


def owned(its, iid, epoch):
    return {r for r, i in its.items() if i and i.get("owner") == iid and i.get("epoch") == epoch
            and not i.get("released")}


def check_won(feed, d, peer, cli=False):
    """d leads: its lease_won names the epoch a majority of the peer's items carry (read with the aws CLI
    when cli, else from the peer's store), and tables it holds there."""
    st = lease(d)
    owner, epoch = majority_owner(items(peer) if cli else items_fast(peer))
    check_eq((owner, epoch), (d.iid, st["epoch"]), f"the peer's items name {d.iid} and its epoch")
    won = feed.wait("lease_won", lambda e: e["epoch"] == epoch, 5, f"{d.iid}'s lease_won for epoch {epoch}")
    check_eq(won["instance"], d.iid, "lease_won names the instance")
    held = owned(items_fast(peer), d.iid, epoch)
    check(won["held"] == len(won["regions"]) >= 2 and set(won["regions"]) <= held and won["tables"] == 3
          and won["majority"] == 2,
          f"lease_won's tables ({won['regions']}, held {won['held']} of {won['tables']}) are held on the peer ({held})")
    return won


def tables_event(feeds, want, down, what, after=None):
    """Each feed's first lease_tables event (after the given ids) with want tables reachable, down the others."""
    out = {}
    for d, f in feeds.items():
        e = f.wait("lease_tables", lambda e: e["reachable"] == want and e["id"] > (after or {}).get(d, 0)
                   and [u["region"] for u in e["unreachable"]] == down, ROUND_S, f"{d.iid}: {what}")
        check_eq((e["tables"], e["majority"]), (3, 2), f"{d.iid}: lease_tables counts 3 tables, 2 needed")
        for u in e["unreachable"]:
            check(u["table"] == TABLE and u["error"] and ("HTTP 500" in u["error"] or "no answer" in u["error"]),
                  f"{d.iid}: lease_tables names the unreachable table and why ({u})")
        out[d] = e["id"]
    return out


def first_leader(ds, feeds, peer):
    """Every instance's first round: every table answers; the first leader wins, the others see it."""
    tables_event(feeds, 3, [], "lease_tables 3 of 3 after the first round")
    ls, _ = sample_until(ds, lambda ls: len(ls) == 1, FIRST_S, "one leader")
    a = ls[0]
    won_a = check_won(feeds[a], a, peer)
    for d in ds:
        if d is not a:
            feeds[d].wait("lease_holder", lambda e: e["holder"] == a.iid and e["epoch"] == won_a["epoch"]
                          and e["advertise"] == advertise(a), ROUND_S, f"{d.iid} sees {a.iid} hold the lease")
    check_eq([e for e in feeds[a].of("lease_holder") if e["holder"] == a.iid], [],
             "the leader's own win is lease_won, not lease_holder")
    return a


def one_table_down(ds, feeds, peer):
    """The peer fails one region: its table stops answering, then answers again."""
    t0 = peer.call("GET", "/_peer/stats")["requests"][-1]["t"]
    peer.call("POST", "/_peer/inject", {"region": REGIONS[2], "error5xx": -1})
    down = tables_event(feeds, 2, [REGIONS[2]], f"lease_tables 2 of 3 without {REGIONS[2]}")
    got = [r["status"] for r in peer.call("GET", "/_peer/stats")["requests"]
           if r["t"] > t0 and r["region"] == REGIONS[2]]
    got = got[got.index(500):] if 500 in got else []   # (a call already under way may have been answered)
    check(got and all(s == 500 for s in got), f"from the fault on, the peer answered every call to "
                                               f"{REGIONS[2]} 500 ({len(got)} calls)")
    peer.call("POST", "/_peer/clear-faults", {})
    tables_event(feeds, 3, [], "lease_tables 3 of 3 once the table answers again", after=down)


def kill_leader(ds, feeds, peer):
    """kill -9 of the leader: the new leader's lease_won, the other follower's lease_holder, resumed."""
    ls, _ = sample_until(ds, lambda ls: len(ls) == 1, FIRST_S, "one leader after the fault")
    a = ls[0]
    old_epoch = lease(a)["epoch"]
    for d in ds:
        if d is not a:   # (the leader may have changed while the table was down: wait until it is seen)
            feeds[d].wait("lease_holder", lambda e: e["holder"] == a.iid and e["epoch"] == old_epoch, ROUND_S,
                          f"{d.iid} sees {a.iid} hold the lease before the kill")
    kill9(a)
    feeds.pop(a).close()
    rest = [d for d in ds if d is not a]
    ls, took = sample_until(rest, lambda ls: len(ls) == 1, TAKEOVER_S + 5, "a new leader after kill -9")
    b = ls[0]
    c = next(d for d in rest if d is not b)
    print(f"info takeover after kill -9: {took:.2f} s", flush=True)
    won_b = check_won(feeds[b], b, peer, cli=True)
    check(won_b["epoch"] > old_epoch, f"the new term's epoch {won_b['epoch']} is above {old_epoch}")
    new = feeds[c].wait("lease_holder", lambda e: e["holder"] == b.iid and e["epoch"] == won_b["epoch"],
                        ROUND_S, f"{c.iid} sees {b.iid} hold the lease")
    check_eq(new["advertise"], advertise(b), "lease_holder gives the new holder's address")
    seen = [(e["holder"], e["epoch"]) for e in feeds[c].of("lease_holder")]
    i_old = max(i for i, h in enumerate(seen) if h == (a.iid, old_epoch))
    i_new = seen.index((b.iid, won_b["epoch"]))
    check(i_old < i_new and all(h in ((None, 0), (a.iid, old_epoch)) for h in seen[i_old + 1:i_new]),
          f"{c.iid}'s feed: {a.iid} holds, (nobody), then {b.iid} ({seen})")
    check(new["previous"] in (a.iid, None), f"lease_holder names the previous holder ({new['previous']})")
    again = Feed(c, last_id=new["id"] - 1)
    first = wait_for(lambda: (again.pull() or None) and again.evs[0], 5, "the resumed stream's first event")
    again.close()
    check_eq(first, new, "a stream resumed from before lease_holder gets it again, same id and data")
    return rest, b, won_b


def operator_epoch(rest, feeds, peer, b, won_b):
    """An operator writes a higher epoch into one table: the leader steps down and says why."""
    wait_for(lambda: owned(items_fast(peer), b.iid, won_b["epoch"]) == set(REGIONS), ROUND_S + LEASE_MS / 1000,
             f"{b.iid} holding every table")
    op_epoch = won_b["epoch"] + 5
    boto_kit.ddb(peer, REGIONS[0]).put_item(TableName=TABLE, Item={   # an operator's PutItem (the aws CLI's)
        "name": {"S": NAME}, "owner": {"S": "ops"}, "rvn": {"S": "by-hand"}, "epoch": {"N": str(op_epoch)}})
    lost = feeds[b].wait("lease_lost", lambda e: e["epoch"] == won_b["epoch"], ROUND_S,
                         f"{b.iid}'s lease_lost for epoch {won_b['epoch']}")
    check_eq(lost["instance"], b.iid, "lease_lost names the instance")
    check(f"{REGIONS[0]}/{TABLE} shows epoch {op_epoch} (owner ops)" in lost["why"],
          f"lease_lost says why: the table and the epoch it read ({lost['why']!r})")
    ls, _ = sample_until(rest, lambda ls: len(ls) == 1, TAKEOVER_S + LEASE_MS / 1000 + 5, "a leader again")
    won_n = check_won(feeds[ls[0]], ls[0], peer)
    check(won_n["epoch"] > op_epoch, f"the next term's epoch {won_n['epoch']} is above the operator's {op_epoch}")


def test_lease_events():
    peer = start_peer()
    ds = [start(i, peer) for i in (1, 2, 3)]
    feeds = {d: Feed(d) for d in ds}
    try:
        first_leader(ds, feeds, peer)
        one_table_down(ds, feeds, peer)
        rest, b, won_b = kill_leader(ds, feeds, peer)
        operator_epoch(rest, feeds, peer, b, won_b)
        for d, f in feeds.items():
            ids = [e["id"] for e in f.pull()]
            check(ids == sorted(set(ids)), f"{d.iid}'s event ids grow ({len(ids)} events)")
    finally:
        for f in feeds.values():
            f.close()
        for d in ds:
            if d.proc.poll() is None:
                check_eq(d.stop(), 0, f"{d.iid} stops cleanly")
        peer.stop()


if __name__ == "__main__":
    run_tests([test_lease_events])
