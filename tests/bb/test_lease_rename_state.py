"""The replicated controller state across a leader change between names (docs/ha.md "Renaming the cluster";
once known defect 23): three instances on the same three plain lease tables of the strict DynamoDB peer,
the strict Route 53 peer and nginx, each signing with its own key, as in test_lease_rename.

test_renamed_leader_dies_old_name_follower_leads:
  "regiond" leads; the operator (a second actor: botocore in-process, the aws CLI's request) sets one region's weight by
  hand, which the leader flags as drift and holds; both followers are restarted renamed ("renamed",
  former_name "regiond"), the leader is stopped and a renamed one takes over (holding the drift); the
  first instance comes back on the OLD name (a follower).  On the renamed leader: a freeze, the release of
  the drifted region (regionctl release, answered OK) and a drain override of another region (regionctl
  drain), all while frozen, so no batch carries them.  The other renamed instance is stopped and the
  renamed leader killed (kill -9): the old-name instance, reading only "regiond#control", leads ->
  it is frozen with the note; once unfrozen, its batches at the Route 53 PEER restore the released region
  to its configured weight (the release holds) and drain the overridden one (the override kept).
  Before the fix the renamed leader wrote "renamed#control" only: the old-name leader read the state of
  before the rename (not frozen, the region held as drift, no override).  Just before the kill a second
  actor (botocore, its own client) puts a bad "regiond#control" item (an epoch of 26 digits) in one table:
  it is ignored (known defect 36); before that fix it read as the highest, with no doc, and the old-name
  leader went on from its own saved state (not frozen).
test_freeze_survives_a_rollback:
  all three renamed, a renamed leader takes a freeze; the followers are set back to "regiond" with
  former_name "renamed" (the documented rollback), the renamed leader stopped -> the rolled-back leader
  is frozen with the note, and its "regiond#control" items of its term hold the freeze.  Before the fix
  it found the old name's "#control" of before the rename and never read the new one.
Judged throughout by test_lease_rename's Judge: at most one instance leads by the peer's items."""
import time

import boto_kit

from harness import TEST_KEY, check, check_eq, eventually, run_tests, wait_for
from lease_kit import LEASE_MS, REGIONS as LEASE_REGIONS, RENEW_MS, TABLE, kill9
from test_lease_rename import (ctl, FIRST_S, IPS, NAME, NEW, OLD, REGIONS, ROUND_S, Cluster, Judge, epoch_of,
                               freeze, majority_held)

X, Y, Z = REGIONS           # X: drifted by the operator, released later; Y: drained by an override
OP_WEIGHT = 30
NOTE = "frozen while renamed"
TAKE_S = LEASE_MS / 1000 + 3 * RENEW_MS / 1000 + 8
WAIT_S = 20


def upsert(c, region, ip, weight):
    """The operator's change, as a person makes it: one UPSERT (no guard), botocore in-process (boto_kit: the aws
    CLI's request without its start-up)."""
    batch = {"Comment": "operator", "Changes": [{"Action": "UPSERT", "ResourceRecordSet": {
        "Name": NAME, "Type": "A", "SetIdentifier": region, "Weight": weight, "TTL": 60,
        "ResourceRecords": [{"Value": ip}]}}]}
    return boto_kit.r53_change(c.r53, batch)


def peer_weights(c, cli=True):
    """The weights as the operator reads them from the Route 53 peer: the aws CLI, or (cli False, for a
    repeated read) botocore in-process, the same ListResourceRecordSets without the CLI's start-up."""
    if cli:
        out = c.r53.aws("list-resource-record-sets", "--hosted-zone-id", c.r53.zone_id)
    else:
        out = boto_kit.client(c.r53.url, "us-east-1", "route53").list_resource_record_sets(
            HostedZoneId=c.r53.zone_id)
    return {r["SetIdentifier"]: r["Weight"] for r in out["ResourceRecordSets"]
            if r["Name"] == NAME and r["Type"] == "A" and "SetIdentifier" in r}


def flags(d):
    return {x["region"]: (x["drifted"], x["live"]) for x in d.status()["failover"]["weights"]}


def frozen(d):
    s = d.status()["failover"]
    return s.get("frozen") is True and s.get("freeze_note") == NOTE


def leads(judge, ds, name, what, timeout):
    """The one instance of ds that leads by the items under name (its own name)."""
    ls, _ = judge.until(lambda ls, its: len(ls) == 1 and ls[0] in ds and majority_held(its[name], ls[0].iid),
                        timeout, what)
    return ls[0]


def restart(c, d, name, former):
    """d stopped (SIGTERM) and started again on (name, former) with a fresh state directory."""
    check(d.stop() == 0, f"{d.iid} stops cleanly before its restart as {name!r}")
    n = c.start(d.num, name, former)
    c.ds[c.ds.index(d)] = n
    return n


def rename_all_but_leader(c, judge):
    """The old-name leader, the followers renamed, the leader stopped: the renamed leader and the
    stopped first leader."""
    a = leads(judge, c.ds, OLD, f"one leader under {OLD!r}", FIRST_S)
    wait_for(lambda: epoch_of(c.r53.records()), 15, f"{a.iid}'s guard bump")
    for f in [d for d in c.ds if d is not a]:
        restart(c, f, NEW, OLD)
    wait_for(lambda: all(d.status()["lease"]["tables_mismatch"] for d in c.ds if d is not a), ROUND_S,
             "the renamed followers wait for the old-name leader")
    check(a.stop() == 0, f"{a.iid} (old-name leader) stops cleanly")
    renamed = [d for d in c.ds if d is not a]
    r = leads(judge, renamed, NEW, "a renamed leader", TAKE_S + 6)
    check(majority_held(judge.sample()[1][OLD], r.iid), f"{r.iid} holds a majority of the former name's items too")
    return r, a


def test_renamed_leader_dies_old_name_follower_leads():
    c = Cluster()
    try:
        c.ds = [c.start(i) for i in (1, 2, 3)]
        judge = Judge(c)
        a = leads(judge, c.ds, OLD, f"one leader under {OLD!r}", FIRST_S)
        wait_for(lambda: epoch_of(c.r53.records()), 15, f"{a.iid}'s guard bump")
        upsert(c, X, IPS[0], OP_WEIGHT)
        wait_for(lambda: flags(a)[X] == (True, OP_WEIGHT), WAIT_S, f"{a.iid} flags the operator's {X} as drift")
        time.sleep(2 * RENEW_MS / 1000)   # its state (the flag) replicated: the next leader reads it
        r, a = rename_all_but_leader(c, judge)
        r2 = next(d for d in c.ds if d is not r and d.proc.poll() is None)
        check(wait_for(lambda: flags(r)[X] == (True, OP_WEIGHT), WAIT_S, f"{r.iid} holds {X} as drift"),
              f"the renamed leader {r.iid} holds {X} as drift (taken over)")
        old = c.start(a.num, OLD)   # the first instance back on the old name: a follower
        c.ds[c.ds.index(a)] = old
        judge.watch(2 * RENEW_MS / 1000)
        check(not old.status()["lease"]["leading"], f"{old.iid} (old name) follows while {r.iid} leads")
        # On the renamed leader, while frozen (no batch carries any of it): the freeze, the release, a drain.
        check_eq(freeze(r, NOTE), 200, f"{r.iid} takes a freeze")
        rc, out = wait_for(lambda: (lambda x: x if x[0] == 0 else None)(ctl(r, "release", X)), WAIT_S,
                           f"regionctl release {X} on {r.iid}")
        check_eq(rc, 0, f"regionctl release {X} on {r.iid} answered OK ({out})")
        rc, out = ctl(r, "drain", Y, "--for", "1h", "--note", "renamed override")
        check_eq(rc, 0, f"regionctl drain {Y} on {r.iid} answered OK ({out})")
        check_eq(flags(r)[X], (False, OP_WEIGHT), f"{r.iid}: {X} released, still at {OP_WEIGHT} (frozen)")
        check_eq(peer_weights(c), {X: OP_WEIGHT, Y: 100, Z: 100}, "the Route 53 peer: nothing applied while frozen")
        n_bat = len(c.batches())
        check(r2.stop() == 0, f"the other renamed instance {r2.iid} stops")
        boto_kit.ddb(c.ddb, LEASE_REGIONS[0]).put_item(TableName=TABLE, Item={
            "name": {"S": f"{OLD}#control"}, "epoch": {"N": "1" + "0" * 25}, "seq": {"N": "1"},
            "doc": {"S": "{}"}, "owner": {"S": "someone else"}})
        kill9(r)
        t_kill = time.monotonic()
        lead = leads(judge, [old], OLD, f"{old.iid} leads under {OLD!r} after the kill", TAKE_S + 6)
        print(f"info {lead.iid} leads under {OLD!r} {time.monotonic() - t_kill:.1f} s after the kill", flush=True)
        eventually(lambda: frozen(lead), WAIT_S, f"{lead.iid} (old name) is frozen with the renamed leader's note")
        log = lead.read_log()
        check("replicated item not valid: ignored" in log
              and f"{LEASE_REGIONS[0]}/{TABLE}: epoch is not a whole number up to 2^53" in log
              and "an item not valid was ignored" in log,
              f"{lead.iid} names the bad item in {LEASE_REGIONS[0]} in its log and its cluster-state alarm")
        check(wait_for(lambda: [b for b in c.batches()[n_bat:] if b["key"] == lead.key], 15,
                       f"{lead.iid}'s guard bump"), f"{lead.iid} bumped the guard")
        check_eq(peer_weights(c), {X: OP_WEIGHT, Y: 100, Z: 100}, "the Route 53 peer: no change yet")
        wait_for(lambda: ctl(lead, "unfreeze")[0] == 0, WAIT_S, f"regionctl unfreeze on {lead.iid}")
        eventually(lambda: peer_weights(c, cli=False) == {X: 100, Y: 0, Z: 100}, WAIT_S,
                   f"the Route 53 peer: {X} restored to 100 (the release holds) and {Y} drained (the override "
                   f"kept) by {lead.iid}", show=lambda _: peer_weights(c, cli=False))
        check_eq(peer_weights(c), {X: 100, Y: 0, Z: 100}, "the aws CLI reads the same weights")
        print(f"info {lead.iid}'s flags (drifted, live): {flags(lead)}", flush=True)
        late = c.batches()[n_bat:]
        check(all(b["key"] == lead.key for b in late),
              f"every batch since the kill is {lead.iid}'s ({[b['key'] for b in late]})")
        check(not any(b["key"] == TEST_KEY["access_key"] for b in late), "the operator made no change since")
    finally:
        c.stop()


def test_freeze_survives_a_rollback():
    c = Cluster()
    try:
        c.ds = [c.start(i) for i in (1, 2, 3)]
        judge = Judge(c)
        r, a = rename_all_but_leader(c, judge)
        c.ds[c.ds.index(a)] = c.start(a.num, NEW, OLD)
        check_eq(freeze(r, NOTE), 200, f"the renamed leader {r.iid} takes a freeze")
        for f in [d for d in c.ds if d is not r]:
            restart(c, f, OLD, NEW)   # the rollback: name back, former_name the name being left
        judge.watch(2 * RENEW_MS / 1000)
        check(r.stop() == 0, f"the renamed leader {r.iid} stops (SIGTERM: releases)")
        back = [d for d in c.ds if d is not r]
        lead = leads(judge, back, OLD, f"a rolled-back leader under {OLD!r}", FIRST_S)
        print(f"info {lead.iid} leads back under {OLD!r}", flush=True)
        eventually(lambda: frozen(lead), WAIT_S, f"the rolled-back leader {lead.iid} is frozen with the note")
        its = judge.sample()[1]
        e = its[OLD][next(k for k, it in its[OLD].items() if it and it.get("owner") == lead.iid)]["epoch"]
        eventually(lambda: sum(1 for x in c.control_docs(OLD).values()
                               if x and x[0] == e and x[1].get("frozen") is True and x[1].get("freeze_note") == NOTE)
                   * 2 > len(REGIONS), WAIT_S,
                   f'the freeze is in a majority of "{OLD}#control" items of {lead.iid}\'s term (epoch {e})')
    finally:
        c.stop()


if __name__ == "__main__":
    run_tests([test_renamed_leader_dies_old_name_follower_leads, test_freeze_survives_a_rollback])
