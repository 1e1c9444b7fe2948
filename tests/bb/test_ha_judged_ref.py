"""What a term judges the live group against (docs/ha.md "Route 53: a takeover is a restart"; once known
defects 15 and 18): two regiond instances over three lease tables (DynamoDB peer), one Route 53 peer,
three nginx regions; each instance signs with its own key, so the peers' logs say who did what.

  - A term re-won before its judged read keeps what it took over: the leader A drains a failed region and
    is killed (-9); B takes over A's state, its guard bump is held by the Route 53 peer while the DynamoDB
    peer fails B's lease writes, so B loses the term before its judged read (the bump answered after
    that); B wins the next term itself (the newest replicated state is then its own) -> A's drain is not
    drift: when the region recovers, B restores it at the Route 53 peer, and raises no drift alarm for it.
  - A batch taken over as "not landed" cannot land after the new term's bump, so it is not armed: A's
    drain batch is held by the Route 53 peer (its intent on a majority of the tables), A is killed and the
    region recovers; B takes over (the batch never lands: B's bump replaced the guard it DELETEs); after
    B's judged read an operator (aws CLI, a second actor with its own key) sets exactly the weight of A's
    batch -> that is drift for B (alarm, the record left at the operator's weight at the peer), not a late
    landing of regiond's batch that B's next decision overwrites.
Judged on the Route 53 peer's records, change and request logs and the DynamoDB peer's items."""

import boto_kit
from harness import check, check_eq, run_tests, wait_for
import lease_kit
from lease_kit import TAKEOVER_S, kill9, lease
from test_ha import IPS, NAME, REGIONS, Cluster, bumped, epoch_of, one_leader, weights_of
from test_ha_state import WAIT_S, active_alarm, control_items, majority

X = REGIONS[2]              # the region that fails
XI = REGIONS.index(X)
RESTORE_S = 20              # recovered -> restored at the peer: probes rise (0.4 s), hold_down 1 s, a batch
HOLD_MS = 8000              # B's bump held by the Route 53 peer while B loses its term (lease_ms - margin_ms)


class Pair(Cluster):
    """test_ha's cluster with two instances: after a kill the survivor is the only one that can lead,
    so it is the one that loses and wins the next term."""
    def __init__(self):
        super().__init__(2)


def r53_fault_taken(c, kind):
    return c.r53.call("GET", "/_peer/inject")["counts"][kind] == 0


def r53_requests(c, key, op):
    return [r for r in c.r53.stats()["requests"] if r.get("key") == key and r.get("op") == op]


def upsert(c, region, weight):
    """The operator's change, as a person makes it with the aws CLI, one UPSERT (no guard); sent with botocore in-process."""
    ip = IPS[REGIONS.index(region)]
    batch = {"Comment": "operator", "Changes": [{"Action": "UPSERT", "ResourceRecordSet": {
        "Name": NAME, "Type": "A", "SetIdentifier": region, "Weight": weight, "TTL": 60,
        "ResourceRecords": [{"Value": ip}]}}]}
    return boto_kit.r53_change(c.r53, batch)


def stop_clean(c):
    """Every instance still running exits 0 on SIGTERM (a sanitizer report would make it exit 1)."""
    for d in c.ds:
        if d.proc.poll() is None:
            check_eq(d.stop(), 0, f"{d.iid} exits 0")


def drains_x(c, a):
    """The leader a bumped its guard and drained X at the peer; its state after the drain is on a
    majority of the lease tables.  Returns a's epoch."""
    ea = lease(a)["epoch"]
    bumped(c, a, ea)
    c.ngx.down(c.ports[XI])
    wait_for(lambda: c.r53.weights(NAME)[X] == 0, WAIT_S, f"{a.iid} drains {X}")

    def drained(it):
        known = ((it["doc"] or {}).get("route53") or {}).get("known") or {}
        return it["epoch"] == ea and (known.get("regions") or {}).get(X, {}).get("weights", [None])[0] == 0
    wait_for(lambda: majority(control_items(c), drained), WAIT_S, f"{a.iid}'s state with the drain on a majority")
    return ea


def test_rewon_term_keeps_what_it_took():
    c = Pair()
    try:
        a, _ = one_leader(c)
        b = next(d for d in c.ds if d is not a)
        ea = drains_x(c, a)
        # B's bump will be held by the Route 53 peer: B cannot judge the group in that term.
        c.r53.inject(slow=1, slow_ms=HOLD_MS, ops=["ChangeResourceRecordSets"], keys=[b.key])
        kill9(a)
        one_leader(c, [b], TAKEOVER_S + 5)
        eb = lease(b)["epoch"]
        check(eb > ea, f"{b.iid} leads with epoch {eb} above {a.iid}'s {ea}")
        wait_for(lambda: r53_fault_taken(c, "slow"), 15, f"the peer holds {b.iid}'s bump")
        # B took A's state over and wrote its own (the takeover's block of decision numbers) ...
        wait_for(lambda: majority(control_items(c), lambda it: it["epoch"] == eb), WAIT_S,
                 f"{b.iid}'s state of epoch {eb} on a majority")
        # ... and now loses the term: every write of its lease item fails (its #control writes do not).
        c.ddb.call("POST", "/_peer/inject", {"ops": ["PutItem"], "items": [lease_kit.NAME], "keys": [b.key],
                                             "error5xx": -1})
        wait_for(lambda: not (lease(b) or {}).get("leading", True), 10, f"{b.iid} loses its term {eb}")
        # the held bump is answered (it lands: the guard it DELETEs is still A's) while B cannot lead;
        # then B may win again
        bump = wait_for(lambda: r53_requests(c, b.key, "ChangeResourceRecordSets"), HOLD_MS / 1000 + 10,
                        f"the peer answers {b.iid}'s held bump")[0]
        # B's send window closed no later than its last renewal the DynamoDB peer took + lease - margin
        # (both peers' times are this host's monotonic clock): before the bump's answer, so B made no
        # judged read in term eb
        last_ok = max(r["t"] for r in c.ddb.call("GET", "/_peer/stats")["requests"]
                      if r.get("key") == b.key and r.get("op") == "PutItem" and r.get("status") == 200
                      and (r.get("item_key") or {}).get("name", {}).get("S") == lease_kit.NAME)
        closed = last_ok + (lease_kit.LEASE_MS - lease_kit.MARGIN_MS) / 1000
        check(closed < bump["t"] + HOLD_MS / 1000,
              f"{b.iid}'s term {eb} ended (by {closed:.2f}) before its bump was answered "
              f"({bump['t'] + HOLD_MS / 1000:.2f}): no judged read in that term")
        c.ddb.call("POST", "/_peer/clear-faults", {})
        wait_for(lambda: (lease(b) or {}).get("leading") and lease(b)["epoch"] > eb, TAKEOVER_S + 10,
                 f"{b.iid} wins the next term")
        eb2 = lease(b)["epoch"]
        bumped(c, b, eb2)
        check_eq(c.r53.weights(NAME)[X], 0, f"{X} still drained at the peer when {b.iid}'s term {eb2} begins")
        c.ngx.down(c.ports[XI], False)
        check(wait_for(lambda: c.r53.weights(NAME)[X] == 100, RESTORE_S,
                       f"{b.iid} restores {X} at the peer after it recovered"),
              f"{X} restored to 100 by {b.iid} (the drain was {a.iid}'s, not drift)")
        check(active_alarm(b, f"route53-drift-{X}") is None, f"{b.iid} raised no drift alarm for {X}")
        allc = c.r53.changes()
        check(all(any(v > 0 for v in weights_of(x["after"]).values()) for x in allc),
              f"no change at the peer left every record at 0 ({len(allc)} changes)")
        check_eq(sorted({epoch_of(x["after"]) for x in allc if x["key"] == b.key} - {eb}), [eb2],
                 f"every batch of {b.iid} is of term {eb2} (or its held bump of {eb})")
        stop_clean(c)
    finally:
        c.stop()


def test_lost_batch_not_armed_after_the_bump():
    c = Pair()
    try:
        a, _ = one_leader(c)
        b = next(d for d in c.ds if d is not a)
        ea = lease(a)["epoch"]
        bumped(c, a, ea)
        # A's drain batch is held by the peer (long past the takeover: it can only fail on B's guard)
        c.r53.inject(slow=1, slow_ms=40000, ops=["ChangeResourceRecordSets"], keys=[a.key])
        c.ngx.down(c.ports[XI])
        wait_for(lambda: r53_fault_taken(c, "slow"), WAIT_S, f"the peer holds {a.iid}'s drain of {X}")

        def intent(it):
            w = (((it["doc"] or {}).get("route53") or {}).get("intent") or {}).get("weights") or []
            return it["epoch"] == ea and len(w) == len(REGIONS) and w[XI] == 0
        wait_for(lambda: majority(control_items(c), intent), WAIT_S, f"{a.iid}'s intent (drain {X}) on a majority")
        kill9(a)
        c.ngx.down(c.ports[XI], False)   # X recovers before B leads: B has nothing to change
        one_leader(c, [b], TAKEOVER_S + 5)
        eb = lease(b)["epoch"]
        bump = bumped(c, b, eb)
        # B's judged read: the first listing B asks for after its bump was answered
        wait_for(lambda: [r for r in r53_requests(c, b.key, "ListResourceRecordSets") if r["t"] > bump_t(c, b)],
                 WAIT_S, f"{b.iid}'s judged read after its bump")
        check_eq(c.r53.weights(NAME)[X], 100, f"{X} at 100 at the peer (A's drain never landed)")
        check_eq([x["id"] for x in c.batches(b.key)], [bump["id"]],
                 f"{b.iid}'s only batch before the operator's change is its bump (none of its own replaced A's)")
        n0 = len(c.r53.changes())
        upsert(c, X, 0)   # exactly the weight of A's batch
        al = wait_for(lambda: active_alarm(b, f"route53-drift-{X}"), WAIT_S,
                      f"{b.iid} reports the operator's {X}=0 as drift")
        check("left alone" in al["summary"], f"the drift alarm says the record is left alone ({al['summary']!r})")
        later = [x for x in c.r53.changes()[n0:] if x["key"] == b.key]
        check(all(weights_of(x["after"]).get(X) == 0 for x in later),
              f"no batch of {b.iid} overwrote the operator's {X}=0 ({[weights_of(x['after']) for x in later]})")
        check_eq(c.r53.weights(NAME)[X], 0, f"{X} still at the operator's 0 at the peer")
        check_eq([epoch_of(x["after"]) for x in c.r53.changes() if x["key"] == a.key], [ea],
                 f"{a.iid}'s only batch that landed is its bump (its held drain never did)")
        stop_clean(c)
    finally:
        c.stop()


def bump_t(c, b):
    """Peer time of b's last ChangeResourceRecordSets request (its bump, in this test)."""
    return max(r["t"] for r in r53_requests(c, b.key, "ChangeResourceRecordSets"))


if __name__ == "__main__":
    run_tests([test_rewon_term_keeps_what_it_took, test_lost_batch_not_armed_after_the_bump])
