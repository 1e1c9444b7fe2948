"""The last leader's weights reach the next one (docs/ha.md "What is guaranteed", the guard's value;
docs/safety.md "Route 53"; once known defect 13).  Three instances as in test_ha.  Every batch writes
into the guard record the group's weights after it and each record's drift flag; a new leader judges
drift at its term's first read against them, not against its own saved state or the configured weights.

  the leader drains a failed region; kill -9 of it; the operator (a second actor, the aws CLI, its own
  key) sets another region's weight to 30 before the next leader's first read; the next leader leads ->
  the drained region is NOT drift (the guard says the last leader drained it): when it recovers it is
  restored to its configured weight at the Route 53 peer within a bound; the operator's change IS drift
  (reported, route53-drift alarm) and is never overwritten: every batch after it leaves 30 (correct_drift
  is off), the peer's record is 30 at the end.
  An instance flags an operator's change as drift and stops (SIGTERM, its saved flag kept); the next
  leader holds it too, the operator releases it there (regionctl), that leader's next batch restores the
  region and its guard carries the release; the first instance restarted leads again (the others gone):
  the region is not held (no drift flag or alarm) and is drained when it fails.
Judged on the Route 53 peer's records and change log (who signed each batch, the group before and
after, the guard's value); the drift alarm and flags are read from the new leader's status."""
import subprocess

import boto_kit
from harness import REGIONCTL, TEST_KEY, Daemon, check, check_eq, run_tests, wait_for
from lease_kit import kill9, lease
from test_ha import GUARD, IPS, KEYS, NAME, REGIONS, TOKENS, Cluster, bumped, epoch_of, one_leader, weights_of
from test_ha_state import WAIT_S, active_alarm, control_items, majority
import lease_kit
from lease_kit import REGIONS as LEASE_REGIONS, TAKEOVER_S

OP_REGION, DOWN_REGION, OP_WEIGHT = REGIONS[0], REGIONS[2], 30
RESTORE_S = 25   # recovered -> restored at the peer: probes rise (0.4 s), hold_down 1 s, a batch; busy machine


def guard_value(recs):
    return next((r["ResourceRecords"][0]["Value"] for r in recs or [] if r["Name"] == GUARD and r["Type"] == "TXT"),
                None)


def upsert(c, region, ip, weight):
    """The operator's change, as a person makes it with the aws CLI, one UPSERT (no guard); sent with botocore in-process."""
    batch = {"Comment": "operator", "Changes": [{"Action": "UPSERT", "ResourceRecordSet": {
        "Name": NAME, "Type": "A", "SetIdentifier": region, "Weight": weight, "TTL": 60,
        "ResourceRecords": [{"Value": ip}]}}]}
    return boto_kit.r53_change(c.r53, batch)


def flags(d):
    return {x["region"]: (x["drifted"], x["live"]) for x in d.status()["failover"]["weights"]}


def test_drain_and_operator_change_across_a_handover():
    c = Cluster()
    try:
        a, _ = one_leader(c)
        ea = lease(a)["epoch"]
        bumped(c, a, ea)
        c.ngx.down(c.ports[2])
        wait_for(lambda: c.r53.weights(NAME)[DOWN_REGION] == 0, WAIT_S, f"{a.iid} drains {DOWN_REGION}")
        drain = next(x for x in c.batches(a.key) if weights_of(x["after"]).get(DOWN_REGION) == 0)
        check(f"{DOWN_REGION}:0,-,0" in (guard_value(drain["after"]) or ""),
              f"the drain's guard carries the drained weight ({guard_value(drain['after'])!r})")
        wait_for(lambda: majority(control_items(c), lambda it: it["epoch"] == ea), WAIT_S,
                 f"{a.iid}'s state on a majority of the tables")
        n0 = len(c.r53.changes())
        # No term can begin while the lease item cannot be written on any table: the operator's change
        # certainly falls between the two terms, whatever the machine's speed.
        for r in LEASE_REGIONS:
            c.ddb.call("POST", "/_peer/inject", {"region": r, "ops": ["PutItem"], "items": [lease_kit.NAME],
                                                 "error5xx": -1})
        kill9(a)
        op = upsert(c, OP_REGION, IPS[0], OP_WEIGHT)
        rest = [d for d in c.ds if d is not a and d.proc.poll() is None]
        check_eq([x for x in c.r53.changes()[n0:] if x["key"] != TEST_KEY["access_key"]], [],
                 "no instance changed the group between the kill and the operator's change")
        c.ddb.call("POST", "/_peer/clear-faults", {})
        b, _ = one_leader(c, rest, TAKEOVER_S + 5)
        eb = lease(b)["epoch"]
        bump = bumped(c, b, eb)
        after_op = [x for x in c.r53.changes()[n0:] if x["key"] != TEST_KEY["access_key"]]
        check_eq(after_op[0]["id"], bump["id"], f"{b.iid}'s bump is the first batch after the operator's")
        check_eq(weights_of(bump["before"]), {OP_REGION: OP_WEIGHT, REGIONS[1]: 100, DOWN_REGION: 0},
                 "the bump found the operator's weight and the drain")
        check_eq(weights_of(bump["after"]), weights_of(bump["before"]), f"{b.iid}'s bump moves no weight")
        gv = guard_value(bump["after"]) or ""
        check(f"{OP_REGION}:100,-,0" in gv and f"{DOWN_REGION}:0,-,0" in gv,
              f"the bump (not judged yet) passes {a.iid}'s group on as it is: {OP_REGION} at 100, "
              f"{DOWN_REGION} drained, both ours ({gv!r})")
        # b judges the group after its bump, against the guard: settled once the drift is reported.
        al = wait_for(lambda: active_alarm(b, f"route53-drift-{OP_REGION}"), WAIT_S,
                      f"{b.iid} reports {OP_REGION}'s record as drift")
        check("left alone" in al["summary"], f"the drift alarm says the record is left alone ({al['summary']!r})")
        f = flags(b)
        check_eq(f[DOWN_REGION], (False, 0), f"{b.iid}: {DOWN_REGION}'s 0 is the last leader's drain, not drift")
        check_eq(f[OP_REGION], (True, OP_WEIGHT), f"{b.iid}: the operator's {OP_WEIGHT} is drift")
        check(active_alarm(b, f"route53-drift-{DOWN_REGION}") is None, f"no drift alarm for {DOWN_REGION}")
        # The failed region recovers: restored to its configured weight at the peer.
        c.ngx.down(c.ports[2], False)
        check(wait_for(lambda: c.r53.weights(NAME)[DOWN_REGION] == 100, RESTORE_S,
                       f"{DOWN_REGION} restored to 100 at the peer after it recovered"),
              f"{DOWN_REGION} restored")
        allc = c.r53.changes()
        later = [x for x in allc[n0:] if x["key"] != TEST_KEY["access_key"]]
        check(all(weights_of(x["after"]).get(OP_REGION) == OP_WEIGHT for x in later),
              f"no batch after the operator's change overwrote {OP_REGION} "
              f"({[(x['key'], weights_of(x['after'])) for x in later]})")
        check(all(epoch_of(x["after"]) is not None and epoch_of(x["after"]) >= eb for x in later),
              "every batch after the kill carries the new term's guard")
        check_eq(c.r53.weights(NAME), {OP_REGION: OP_WEIGHT, REGIONS[1]: 100, DOWN_REGION: 100},
                 "the peer's records: the operator's weight kept, the recovered region restored")
        check(all(any(v > 0 for v in weights_of(x["after"]).values()) for x in allc),
              f"no change at the peer left every record at 0 ({len(allc)} changes)")
        check_eq(op["Status"] in ("PENDING", "INSYNC"), True, "the operator's change was accepted")
    finally:
        c.stop()


def test_release_on_another_leader_clears_a_stale_flag():
    """An instance flags drift, stops; another leader takes the drift over, the operator releases it
    there and that leader's next batch restores the region; the first instance, restarted with its saved
    drift flag, leads again: the guard says released, so it does not hold the region: it drains it when
    it fails (judged at the Route 53 peer)."""
    c = Cluster()
    try:
        a, _ = one_leader(c)
        bumped(c, a, lease(a)["epoch"])
        upsert(c, OP_REGION, IPS[0], OP_WEIGHT)
        wait_for(lambda: active_alarm(a, f"route53-drift-{OP_REGION}"), WAIT_S, f"{a.iid} flags {OP_REGION} as drift")
        check_eq(flags(a)[OP_REGION], (True, OP_WEIGHT), f"{a.iid}: {OP_REGION} drifted")
        a.stop()   # SIGTERM: its state_dir keeps the drift flag
        rest = [d for d in c.ds if d is not a]
        b, _ = one_leader(c, rest, TAKEOVER_S + 5)
        bumped(c, b, lease(b)["epoch"])
        check(wait_for(lambda: flags(b)[OP_REGION] == (True, OP_WEIGHT), WAIT_S,
                       f"{b.iid} holds {OP_REGION} as drift too (after its judged read)"),
              f"{b.iid} holds {OP_REGION} as drift too")
        r = subprocess.run([REGIONCTL, "--api", b.base, "--token-file", TOKENS, "release", OP_REGION],
                           capture_output=True, text=True, timeout=10)
        check_eq(r.returncode, 0, f"regionctl release on {b.iid} ({r.stdout.strip()} {r.stderr.strip()})")
        wait_for(lambda: c.r53.weights(NAME)[OP_REGION] == 100, WAIT_S, f"{b.iid} restores {OP_REGION} after the release")
        last = c.batches(b.key)[-1]
        check(f"{OP_REGION}:100,-,0" in (guard_value(last["after"]) or ""),
              f"the restoring batch's guard carries the release ({guard_value(last['after'])!r})")
        third = next(d for d in rest if d is not b)
        third.stop()   # so that a is the only one left to lead after b
        a2 = Daemon(a.cfg, dir=a.dir, env={"AWS_ACCESS_KEY_ID": a.key, "AWS_SECRET_ACCESS_KEY":
                                           next(k["secret_key"] for k in KEYS.values() if k["access_key"] == a.key),
                                           "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
                                           "AWS_CONFIG_FILE": "/nonexistent"})
        a2.iid, a2.key = a.iid, a.key
        c.ds.append(a2)
        kill9(b)
        one_leader(c, [a2], TAKEOVER_S + 5)
        bumped(c, a2, lease(a2)["epoch"])
        check(wait_for(lambda: flags(a2)[OP_REGION] == (False, 100), WAIT_S,
                       f"{a2.iid} restarted judges {OP_REGION} (at 100, not drift)"),
              f"{a2.iid} restarted: {OP_REGION} released (the last leader's state and guard say so)")
        check(active_alarm(a2, f"route53-drift-{OP_REGION}") is None, f"{a2.iid}: no drift alarm for {OP_REGION}")
        c.ngx.down(c.ports[0])
        check(wait_for(lambda: c.r53.weights(NAME)[OP_REGION] == 0, RESTORE_S,
                       f"{a2.iid} drains {OP_REGION} when it fails (not held)"), f"{OP_REGION} drained")
    finally:
        c.stop()


if __name__ == "__main__":
    run_tests([test_drain_and_operator_change_across_a_handover, test_release_on_another_leader_clears_a_stale_flag])
