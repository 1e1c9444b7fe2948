"""Fencing that Route 53 enforces (issue 17, item 2): the semantics of the
Route 53 peer that regiond's guard record relies on, with the aws CLI
(botocore builds, signs and parses every request) as both leaders.  A
leader of epoch E sends, in every batch, the exact DELETE of the live guard
TXT record "_regiond-epoch.<record name>" and the CREATE of one with its
own epoch (failover/route53_guard.c); a new term first sends a batch that
only bumps the guard (the group re-created identically).  So:
  - a batch an old leader built on the guard it read fails WHOLE once a new
    leader bumped it (InvalidChangeBatch), and nothing of it changes;
  - two leaders racing on the same read: exactly one batch lands;
  - the peer's change log keeps the guard in each batch's before/after, so
    a test can see which epoch's batch landed.
Everything is checked against the peer's records and logs.  The end-to-end
test with two regiond instances holding the lease comes with the lease
(cluster/) wiring."""
import json
import os
import random
import subprocess
import threading

from harness import TEST_KEY, Route53Peer, check, check_eq, run_tests, tmpdir

NAME = "api.example.test."
GUARD = "_regiond-epoch.api.example.test."
ZID = "Z0REGIONDFENCE1"
IPS = {"us-east-1": "127.0.0.11", "eu-west-1": "127.0.0.12"}


def zone(guard_epoch=None, holder="old"):
    recs = [{"Name": NAME, "Type": "A", "SetIdentifier": r, "Weight": 100, "TTL": 60,
             "ResourceRecords": [{"Value": ip}]} for r, ip in IPS.items()]
    if guard_epoch is not None:
        recs.append(guard(guard_epoch, holder))
    return {"id": ZID, "name": "example.test.", "records": recs}


def guard(epoch, holder):
    return {"Name": GUARD, "Type": "TXT", "TTL": 60, "ResourceRecords": [{"Value": f'"epoch={epoch} holder={holder}"'}]}


def aws(peer, *args):
    """The aws CLI against the peer: (exit status, parsed stdout or None, stderr)."""
    env = dict(os.environ, AWS_ACCESS_KEY_ID=TEST_KEY["access_key"], AWS_SECRET_ACCESS_KEY=TEST_KEY["secret_key"],
               AWS_DEFAULT_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true", AWS_CONFIG_FILE="/dev/null",
               AWS_SHARED_CREDENTIALS_FILE="/dev/null", AWS_PAGER="", HOME=tmpdir("awshome-"))
    env.pop("AWS_SESSION_TOKEN", None)
    r = subprocess.run(["/usr/bin/aws", "--endpoint-url", peer.url, "--output", "json", "route53", *args],
                       capture_output=True, text=True, timeout=60, env=env)
    return r.returncode, json.loads(r.stdout) if r.returncode == 0 and r.stdout.strip() else None, r.stderr


_clients = threading.local()


def sdk(peer, op, **kw):
    """The same request with botocore in-process (what the aws CLI runs on; a
    tenth of its start-up time): (0, parsed answer, "") or (255, None, the
    error as the CLI prints it)."""
    import boto3
    import botocore.exceptions
    c = getattr(_clients, "c", None)
    if c is None or c.meta.endpoint_url != peer.url:
        c = _clients.c = boto3.session.Session().client(
            "route53", endpoint_url=peer.url, region_name="us-east-1", aws_access_key_id=TEST_KEY["access_key"],
            aws_secret_access_key=TEST_KEY["secret_key"])
    try:
        return 0, getattr(c, op)(**kw), ""
    except botocore.exceptions.ClientError as e:
        return 255, None, f"An error occurred ({e.response['Error']['Code']}): {e.response['Error'].get('Message')}"


def read(peer, cli=False):
    """What a leader reads before a batch, as regiond does: the group
    (StartRecordName = the record name) and the guard in its own listing
    (StartRecordName/Type = the guard, MaxItems 1); with the aws CLI when
    `cli`, else botocore in-process."""
    if cli:
        rc, out, err = aws(peer, "list-resource-record-sets", "--hosted-zone-id", ZID, "--start-record-name", NAME)
    else:
        rc, out, err = sdk(peer, "list_resource_record_sets", HostedZoneId=ZID, StartRecordName=NAME)
    if rc != 0:
        check_eq(rc, 0, f"group read ({err.strip()})")
    group = [r for r in (out or {}).get("ResourceRecordSets", []) if r["Name"] == NAME and r["Type"] == "A"]
    if cli:
        rc, out, err = aws(peer, "list-resource-record-sets", "--hosted-zone-id", ZID, "--start-record-name", GUARD,
                           "--start-record-type", "TXT", "--max-items", "1")
    else:
        rc, out, err = sdk(peer, "list_resource_record_sets", HostedZoneId=ZID, StartRecordName=GUARD,
                           StartRecordType="TXT", MaxItems="1")
    if rc != 0:
        check_eq(rc, 0, f"guard read ({err.strip()})")
    sets = (out or {}).get("ResourceRecordSets", [])
    g = sets[0] if sets and sets[0]["Name"] == GUARD and sets[0]["Type"] == "TXT" else None
    return group, g


def batch(group, live_guard, epoch, holder, weights=None, comment=""):
    """The group-guarded batch regiond builds: exact DELETE + CREATE of every
    record of the group (re-weighted or identical), and of the guard."""
    ch = []
    for r in group:
        new = dict(r, Weight=(weights or {}).get(r["SetIdentifier"], r["Weight"]))
        ch += [{"Action": "DELETE", "ResourceRecordSet": r}, {"Action": "CREATE", "ResourceRecordSet": new}]
    if live_guard:
        ch.append({"Action": "DELETE", "ResourceRecordSet": live_guard})
    ch.append({"Action": "CREATE", "ResourceRecordSet": guard(epoch, holder)})
    return {"Comment": comment or f"epoch {epoch}", "Changes": ch}


def send(peer, b, cli=False):
    if cli:
        return aws(peer, "change-resource-record-sets", "--hosted-zone-id", ZID, "--change-batch", json.dumps(b))
    return sdk(peer, "change_resource_record_sets", HostedZoneId=ZID, ChangeBatch=b)


def live_guard_value(peer):
    gs = [r for r in peer.records() if r["Name"] == GUARD]
    return gs[0]["ResourceRecords"][0]["Value"] if len(gs) == 1 else None


def epoch_of(recs):
    """The guard's epoch in a list of records from the peer's change log."""
    for r in recs or []:
        if r["Name"] == GUARD and r["Type"] == "TXT":
            return int(r["ResourceRecords"][0]["Value"].split("epoch=")[1].split()[0].strip('"'))
    return None


def test_old_leader_batch_fails_whole():
    """Leader 5 read the guard at epoch 5; leader 6 bumps it (no weight
    changes); leader 5's drain, built on its read, fails whole."""
    peer = Route53Peer(zone(5, "old"), pending_ms=100)
    try:
        group5, g5 = read(peer, cli=True)
        check(g5 is not None and g5["ResourceRecords"][0]["Value"] == '"epoch=5 holder=old"',
              f"the guard's own listing returns it ({g5})")
        group6, g6 = read(peer)
        rc, out, err = send(peer, batch(group6, g6, 6, "new", comment="epoch 6 guard bump"), cli=True)
        check_eq(rc, 0, f"the new leader's bump lands ({err.strip()})")
        before = peer.records()
        rc, out, err = send(peer, batch(group5, g5, 5, "old", weights={"us-east-1": 0}), cli=True)
        check(rc != 0 and "InvalidChangeBatch" in err, f"the old leader's batch fails: {err.strip()[:300]}")
        check(f"Tried to delete resource record set [name='{GUARD}', type='TXT']" in err
              and "do not match the current values" in err, "and the message names the guard it tried to DELETE")
        check_eq(peer.records(), before, "nothing of the old leader's batch changed (all or nothing)")
        check_eq(peer.weights(NAME), {"us-east-1": 100, "eu-west-1": 100}, "no weight moved")
        check_eq(live_guard_value(peer), '"epoch=6 holder=new"', "the guard still shows epoch 6")
        ch = peer.changes()
        check_eq([(epoch_of(c["before"]), epoch_of(c["after"])) for c in ch], [(5, 6)],
                 "the change log has one batch, the bump: guard 5 before, 6 after")
        check(all(r["Weight"] == 100 for c in ch for r in c["after"] if r["Type"] == "A"),
              "the bump re-created the group identically")
        rej = peer.call("GET", "/_peer/rejected")["rejected"]
        check(len(rej) == 1 and rej[0]["error"] == "InvalidChangeBatch" and epoch_of(rej[0]["before"]) == 6,
              "the peer logged the refused batch with the guard at 6 before it")
        # the old leader re-reads: it sees 6 > 5 (regiond: R53_NOTE_FENCED, nothing sent)
        _, g = read(peer)
        check(g is not None and '"epoch=6' in g["ResourceRecords"][0]["Value"], "a re-read shows the newer epoch")
        # a guard whose DELETE differs in anything but the epoch fails too (exact DELETE)
        _, g = read(peer)
        wrong = json.loads(json.dumps(g))
        wrong["ResourceRecords"][0]["Value"] = '"epoch=6 holder=other"'
        rc, _, err = send(peer, batch(group6, wrong, 6, "new"))
        check(rc != 0 and "InvalidChangeBatch" in err, "a DELETE of the guard with another holder fails")
        wrong = dict(g, TTL=300)
        rc, _, err = send(peer, batch(group6, wrong, 6, "new"))
        check(rc != 0 and "InvalidChangeBatch" in err, "a DELETE of the guard with another TTL fails")
        check_eq(len(peer.changes()), 1, "still only the bump landed")
    finally:
        peer.stop()


def test_first_guard_and_operator_delete():
    """No guard yet: CREATE alone lands; a second CREATE (a leader that read
    no guard either) fails.  An operator deletes the guard with the aws CLI:
    the current leader's next batch (DELETE of what it wrote) fails whole."""
    peer = Route53Peer(zone(), pending_ms=100)
    try:
        group, g = read(peer)
        check(g is None, "no guard yet: the guard's listing starts at another record or is empty")
        rc, _, err = send(peer, batch(group, None, 1, "a"))
        check_eq(rc, 0, f"CREATE of the first guard lands ({err.strip()})")
        rc, _, err = send(peer, batch(group, None, 2, "b"))
        check(rc != 0 and "InvalidChangeBatch" in err and "already exists" in err,
              f"a second leader that also read no guard cannot CREATE it ({err.strip()[:200]})")
        group, g = read(peer)
        rc, _, err = send(peer, {"Changes": [{"Action": "DELETE", "ResourceRecordSet": g}]})
        check_eq(rc, 0, "the operator deletes the guard")
        rc, _, err = send(peer, batch(group, g, 1, "a", weights={"eu-west-1": 50}))
        check(rc != 0 and "InvalidChangeBatch" in err, "the leader's batch on the deleted guard fails whole")
        check_eq(peer.weights(NAME), {"us-east-1": 100, "eu-west-1": 100}, "and no weight moved")
    finally:
        peer.stop()


def test_txt_strict():
    """The peer takes TXT values as Route 53 does: quoted character-strings
    of at most 255 bytes each, several per value."""
    peer = Route53Peer(zone(), pending_ms=100)
    try:
        def create(value, cli=True):
            return send(peer, cli=cli, b={"Changes": [{"Action": "CREATE", "ResourceRecordSet": {
                "Name": "t.example.test.", "Type": "TXT", "TTL": 60, "ResourceRecords": [{"Value": value}]}}]})
        rc, _, err = create("epoch=1")
        check(rc != 0 and "InvalidChangeBatch" in err, f"an unquoted TXT value is refused ({err.strip()[:160]})")
        rc, _, err = create('"' + "x" * 256 + '"', cli=False)
        check(rc != 0 and "InvalidChangeBatch" in err, "a 256-byte character-string is refused")
        rc, _, err = create('"' + "x" * 255 + '" "' + "y" * 200 + '"')
        check_eq(rc, 0, f"two strings of 255 and 200 bytes are one valid value ({err.strip()[:160]})")
        rc, out, err = aws(peer, "list-resource-record-sets", "--hosted-zone-id", ZID, "--start-record-name",
                           "t.example.test.", "--start-record-type", "TXT", "--max-items", "1")
        v = out["ResourceRecordSets"][0]["ResourceRecords"][0]["Value"] if rc == 0 else None
        check_eq(v, '"' + "x" * 255 + '" "' + "y" * 200 + '"', "listed back as written")
    finally:
        peer.stop()


def test_race_exactly_one_lands():
    """Second actor at the same time: on the same read, the old leader's
    drain and the new leader's bump are sent together (random order and
    timing, 6 rounds): exactly one lands, and the peer's log says which."""
    rnd = random.Random()
    seed = rnd.randrange(1 << 30)
    rnd.seed(seed)
    print(f"seed {seed}")
    peer = Route53Peer(zone(1, "old"), pending_ms=50)
    try:
        for rnd_i in range(6):
            old_e, new_e = rnd_i + 1, rnd_i + 2
            group, g = read(peer)
            check(g is not None and f'"epoch={old_e} ' in g["ResourceRecords"][0]["Value"],
                  f"round {rnd_i}: the guard reads epoch {old_e}")
            w = rnd.choice([0, 10, 50])
            batches = {"old": batch(group, g, old_e, "old", weights={"us-east-1": w}),
                       "new": batch(group, g, new_e, "new")}
            res, n_before = {}, len(peer.changes())
            order = ["old", "new"]
            rnd.shuffle(order)

            def go(who):
                res[who] = send(peer, batches[who])[0]
            ts = [threading.Thread(target=go, args=(who,)) for who in order]
            for t in ts:
                t.start()
            for t in ts:
                t.join(90)
            landed = [who for who in ("old", "new") if res.get(who) == 0]
            check_eq(len(landed), 1, f"round {rnd_i}: exactly one batch landed ({res})")
            ch = peer.changes()[n_before:]
            check_eq(len(ch), 1, f"round {rnd_i}: one batch in the peer's log")
            if len(landed) != 1 or len(ch) != 1:
                continue
            e = new_e if landed[0] == "new" else old_e
            check_eq(epoch_of(ch[0]["after"]), e, f"round {rnd_i}: the log's guard after is the lander's epoch")
            if landed[0] == "old":
                # the new leader re-reads and bumps again: its term goes on from the old leader's batch
                group, g = read(peer)
                rc, _, err = send(peer, batch(group, g, new_e, "new"))
                check_eq(rc, 0, f"round {rnd_i}: the new leader's second bump lands ({err.strip()[:160]})")
            check_eq(live_guard_value(peer), f'"epoch={new_e} holder=new"', f"round {rnd_i}: guard at {new_e}")
            # reset the weights as the new leader would (a guarded batch of its epoch)
            group, g = read(peer)
            rc, _, _ = send(peer, batch(group, g, new_e, "new", weights={"us-east-1": 100}))
            check_eq(rc, 0, f"round {rnd_i}: the new leader's own batch lands")
    finally:
        peer.stop()


if __name__ == "__main__":
    run_tests([test_old_leader_batch_fails_whole, test_first_guard_and_operator_delete, test_txt_strict,
               test_race_exactly_one_lands])
