"""Route 53 safety against other writers (issue 11, defects 1-7), each with a
second actor: an operator (botocore in-process, the aws CLI's request:
tests/bb/boto_kit.py), a second regiond on the same
zone, lost answers and failed reads injected at the strict Route 53 peer, a
kill -9 and restart.  Every invariant is checked against the PEER: its
records and its log of accepted batches, replayed from the zone's first
records (never regiond's own status)."""
import json
import os
import signal
import time

import boto_kit
from harness import (TEST_KEY, Daemon, Nginx, Route53Peer, check, check_eq, eventually, free_port, run_tests, stop,
                     tmpdir, token_file, wait_for)

NAME = "api.example.test."
TOKENS, _ = token_file()
os.environ["REGIOND_TOKEN_FILE"] = TOKENS
REGIONS = ["us-east-1", "eu-west-1", "ap-southeast-2"]
IPS = ["127.0.0.11", "127.0.0.12", "127.0.0.13"]
IP6 = ["2001:db8::11", "2001:db8::12", "2001:db8::13"]
ENV = {"AWS_ACCESS_KEY_ID": TEST_KEY["access_key"], "AWS_SECRET_ACCESS_KEY": TEST_KEY["secret_key"],
       "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent", "AWS_CONFIG_FILE": "/nonexistent"}


# ---------------------------------------------------------------- set-up
def zone(name=NAME, regions=REGIONS, weights=None, aaaa=False, zid="Z0REGIONDSAFE1"):
    weights = weights or {r: 100 for r in regions}
    recs = [{"Name": name, "Type": "A", "SetIdentifier": r, "Weight": weights[r], "TTL": 60,
             "ResourceRecords": [{"Value": ip}]} for r, ip in zip(regions, IPS)]
    if aaaa:
        recs += [{"Name": name, "Type": "AAAA", "SetIdentifier": r, "Weight": weights[r], "TTL": 60,
                  "ResourceRecords": [{"Value": ip}]} for r, ip in zip(regions, IP6)]
    return {"id": zid, "name": "example.test.", "records": recs}


def config(peer, ports, regions=REGIONS, name=NAME, state_dir=None, route53=None, decision=None, aws=None, cid="ctl-safe"):
    return {
        "controller": {"id": cid, "listen": f"127.0.0.1:{free_port()}", "state_dir": state_dir or tmpdir(),
                       "log_level": "debug", "token_file": TOKENS},
        "probe_defaults": {"interval_ms": 300, "timeout_ms": 250, "rise": 2, "fall": 2},
        "aws": dict({"endpoints": {"route53": peer.url}, "retry": {"base_ms": 50, "max_ms": 1000}}, **(aws or {})),
        "route53": dict({"hosted_zone_id": peer.zone_id, "record_name": name, "record_type": "A", "ttl": 60},
                        **(route53 or {})),
        "decision": dict({"hold_down_s": 1, "settle_ms": 300}, **(decision or {})),
        "regions": [{"name": r, "api": [{"url": f"http://127.0.0.1:{p}/health"}],
                     "route53": {"value": ip, "weight": 100}} for r, p, ip in zip(regions, ports, IPS)],
    }


def status_live(d):
    return {w["region"]: w["live"] for w in d.status()["failover"]["weights"]}


def wait_up(d, regions=REGIONS):
    for r in regions:
        d.wait_target(r, "up")
    wait_for(lambda: all(v >= 0 for v in status_live(d).values()), 10, "live weights read")


def operator_set(peer, weights, name=NAME, rtype="A", ips=IPS, regions=REGIONS):
    """The second actor: an operator changes weights (botocore in-process: the aws CLI's request)."""
    ch = [{"Action": "UPSERT", "ResourceRecordSet": {
        "Name": name, "Type": rtype, "SetIdentifier": r, "Weight": w, "TTL": 60,
        "ResourceRecords": [{"Value": ips[regions.index(r)]}]}} for r, w in weights.items()]
    boto_kit.r53_change(peer, {"Comment": "operator", "Changes": ch})


def weights(peer, name=NAME, rtype="A"):
    canon = canon_name(name)
    return {r["SetIdentifier"]: r["Weight"] for r in peer.records()
            if canon_name(r["Name"]) == canon and r["Type"] == rtype and "SetIdentifier" in r}


# ---------------------------------------------------------------- the oracle
def canon_name(n):
    return n.lower().rstrip(".").replace("\\052", "*")


def replay(initial, changes):
    """The group after each accepted batch, from the zone's first records and
    the peer's change log: [(comment, {(name, type, set_id): record}), ...]."""
    cur = {(canon_name(r["Name"]), r["Type"], r.get("SetIdentifier")): r for r in initial}
    out = []
    for b in changes:
        for c in b["changes"]:
            rr = c["ResourceRecordSet"]
            k = (canon_name(rr["Name"]), rr["Type"], rr.get("SetIdentifier"))
            if c["Action"] == "DELETE":
                cur.pop(k, None)
            else:
                cur[k] = rr
        out.append((b.get("comment") or "", dict(cur)))
    return out


def check_regiond_batches(initial, peer, min_serving=1, name=NAME, what=""):
    """Every batch regiond sent left each managed type of the group with at
    least min_serving records above weight 0; returns regiond's batches."""
    canon = canon_name(name)
    ours = 0
    for comment, group in replay(initial, peer.changes()):
        if not comment.startswith("regiond"):
            continue
        ours += 1
        for t in ("A", "AAAA"):
            ws = [int(r["Weight"]) for (n, ty, _), r in group.items() if n == canon and ty == t]
            if ws:
                check(sum(1 for w in ws if w > 0) >= min_serving,
                      f"{what}: after regiond's batch '{comment}' the {t} group has weights {ws}")
    return ours


def reread(d, peer, timeout=15):
    """Wait until regiond has read the group again after now: the peer answered a ListResourceRecordSets
    that came in after this call (its monotonic clock is this one) and regiond's actuator is idle again,
    so that read's answer was taken (a reconcile comes every reconcile_s)."""
    t0 = time.monotonic()
    wait_for(lambda: d.status()["failover"]["actuator"] == "idle" and any(
        r.get("op") == "ListResourceRecordSets" and r.get("status") == 200 and r["t"] > t0
        for r in peer.stats()["requests"]), timeout, "regiond's next read of the group (a reconcile)")


def decisions(d):
    return json.loads(d.get("/v1/decisions")[1])


def alarms(d):
    return {a["key"]: a for a in d.status()["alarms"]["active"]}


def kill9(d):
    d.proc.send_signal(signal.SIGKILL)
    d.proc.wait(timeout=5)
    stop(d.proc)
    d.log.close()


def group_up(**config_kw):
    """nginx for every region, the peer holding zone(), regiond on it with
    config(**CONFIG_KW), every region up: (ports, ngx, z, peer, cfg, d)."""
    ports = [free_port() for _ in REGIONS]
    ngx = Nginx(ports)
    z = zone()
    peer = Route53Peer(z, pending_ms=300)
    cfg = config(peer, ports, **config_kw)
    d = Daemon(cfg, env=ENV)
    wait_up(d)
    return ports, ngx, z, peer, cfg, d


def changed_while_killed(operator_act):
    """group_up(), then regiond killed (kill -9); OPERATOR_ACT(peer) while it
    is down; then regiond restarted on its saved state: (ports, ngx, z, peer,
    d) with d the new one."""
    ports, ngx, z, peer, cfg, d = group_up()
    kill9(d)
    operator_act(peer)
    return ports, ngx, z, peer, Daemon(cfg, dir=d.dir, env=ENV)


# ---------------------------------------------------------------- defect 1
def test_operator_zeroes_two_then_third_fails():
    """Defect 1: the safety rules are checked on the live group right before
    the batch, not on weights cached since the last reconcile."""
    ports, ngx, z, peer, cfg, d = group_up()
    operator_set(peer, {"us-east-1": 0, "eu-west-1": 0})
    ngx.down(ports[2])
    d.wait_target("ap-southeast-2", "down")
    time.sleep(3)
    check_eq(weights(peer), {"us-east-1": 0, "eu-west-1": 0, "ap-southeast-2": 100},
             "the last serving region is not drained (live group read before the batch)")
    check_regiond_batches(z["records"], peer, what="operator zeroed two")
    sent = [r["status"] for r in peer.stats()["requests"] if r["op"] == "ChangeResourceRecordSets"]
    check_eq([st for st in sent if st != 200], [],
             f"no batch went out on the old view: the zone refused none (statuses, the operator's first: {sent})")
    log = d.read_log()
    check("event=route53_drift" in log, "the operator's change is reported as drift")
    check_eq(d.stop(), 0, "clean exit")
    peer.stop()
    ngx.stop()


def test_two_instances_see_different_failures():
    """Defect 1, second case: two regiond on one zone, each sees another
    region fail; together they never zero the group."""
    regions = REGIONS[:2]
    ports = [free_port() for _ in range(4)]
    ngx = Nginx(ports)
    z = zone(regions=regions)
    peer = Route53Peer(z, pending_ms=300)
    d1 = Daemon(config(peer, ports[:2], regions=regions, cid="ctl-one"), env=ENV)
    d2 = Daemon(config(peer, ports[2:], regions=regions, cid="ctl-two"), env=ENV)
    wait_up(d1, regions)
    wait_up(d2, regions)
    ngx.down(ports[0])   # d1 sees us-east-1 fail
    wait_for(lambda: weights(peer)["us-east-1"] == 0, 10, "d1 drains us-east-1")
    ngx.down(ports[3])   # d2 sees eu-west-1 fail
    d2.wait_target("eu-west-1", "down")
    time.sleep(3)
    check_eq(weights(peer), {"us-east-1": 0, "eu-west-1": 100}, "d2 does not drain the last serving record")
    n = check_regiond_batches(z["records"], peer, what="two instances")
    check(n >= 1, f"regiond's batches checked ({n})")
    check_eq(d1.stop(), 0, "d1 clean exit")
    check_eq(d2.stop(), 0, "d2 clean exit")
    peer.stop()
    ngx.stop()


# ---------------------------------------------------------------- defect 2
def test_all_zero_by_operator_not_fought():
    """Defect 2: someone else zeroes the group: regiond alarms, raises no
    record (least of all the down region's), and its decision's weights are
    the ones it sends."""
    ports, ngx, z, peer, cfg, d = group_up(route53={"reconcile_s": 5})
    ngx.down(ports[2])
    wait_for(lambda: weights(peer)["ap-southeast-2"] == 0, 10, "regiond drains ap-southeast-2")
    n0 = len(peer.changes())
    operator_set(peer, {"us-east-1": 0, "eu-west-1": 0})
    wait_for(lambda: d.read_log().count("event=route53_drift") >= 2, 15, "both drifted records reported")
    time.sleep(2)
    check_eq(weights(peer), {r: 0 for r in REGIONS}, "the group stays as the operator left it (not fought)")
    check_eq(len(peer.changes()), n0 + 1, "no batch from regiond after the operator's")
    last = decisions(d)[0]   # newest first
    sent = {x["region"]: x["weight"] for x in last["regions"]}
    check_eq(sent, {r: 0 for r in REGIONS}, f"the last decision claims no weight it did not send ({last['reason']})")
    check("left alone" in last["reason"], f"the reason says what is left alone: {last['reason']}")
    check(any(k.startswith("route53-drift-") for k in alarms(d)), "drift alarmed")
    check(d.status()["failover"]["alarm"], "the all-zero group is alarmed")
    check_eq(d.stop(), 0, "clean exit")
    peer.stop()
    ngx.stop()


# ---------------------------------------------------------------- defect 3
def test_failed_batch_and_failed_reread():
    """Defect 3: the batch fails and so does the re-read: an alarm names the
    stuck change, the re-read is retried, and the decision is applied once
    Route 53 answers again."""
    ports, ngx, z, peer, cfg, d = group_up(aws={"retry": {"base_ms": 50, "max_ms": 200, "max_attempts": 2}})
    peer.inject(slow=1, slow_ms=1500, error5xx=1, ops=["ChangeResourceRecordSets"])
    ngx.down(ports[1])
    wait_for(lambda: d.status()["failover"]["actuator"] == "submitting", 10, "the batch in flight")
    peer.inject(deny=3, ops=["ListResourceRecordSets"])
    wait_for(lambda: "route53-unknown" in alarms(d), 10, "an alarm names the change whose outcome is unknown")
    wait_for(lambda: weights(peer)["eu-west-1"] == 0, 30, "the drain lands once Route 53 answers again")
    check_regiond_batches(z["records"], peer, what="failed batch")
    wait_for(lambda: "route53-unknown" not in alarms(d), 10, "the alarm resolves")
    check_eq(d.stop(), 0, "clean exit")
    peer.stop()
    ngx.stop()


def test_lost_answer_and_failed_reread_is_landed():
    """Defect 3: the batch landed but its answer was lost and the re-read
    failed: once a read succeeds the change is recognised as landed by
    comparing the group with what was sent: no drift, applied once."""
    ports = [free_port() for _ in REGIONS]
    ngx = Nginx(ports)
    z = zone()
    peer = Route53Peer(z, pending_ms=300)
    d = Daemon(config(peer, ports, route53={"reconcile_s": 5}, aws={"retry": {"base_ms": 50, "max_ms": 200,
                                                                                "max_attempts": 1}}), env=ENV)
    wait_up(d)
    peer.inject(slow=1, slow_ms=1500, drop_after=1, ops=["ChangeResourceRecordSets"])
    ngx.down(ports[1])
    wait_for(lambda: d.status()["failover"]["actuator"] == "submitting", 10, "the batch in flight")
    peer.inject(deny=2, ops=["ListResourceRecordSets"])
    wait_for(lambda: "event=route53_change_landed" in d.read_log(), 20, "the change recognised as landed")
    reread(d, peer)   # past a reconcile: the group read again
    check_eq(weights(peer), {"us-east-1": 100, "eu-west-1": 0, "ap-southeast-2": 100}, "drained once")
    check_eq(len([c for c in peer.changes() if c["comment"].startswith("regiond")]), 1, "applied exactly once")
    check("event=route53_drift" not in d.read_log(), "regiond's own change is not reported as drift")
    check(not any(w["drifted"] for w in d.status()["failover"]["weights"]), "nothing pinned as drift")
    check_eq(d.stop(), 0, "clean exit")
    peer.stop()
    ngx.stop()


# ---------------------------------------------------------------- defect 4
def test_correct_drift_corrects():
    """Defect 4: with correct_drift true a drifted record is corrected in the
    next batch (weight and value)."""
    ports, ngx, z, peer, cfg, d = group_up(route53={"reconcile_s": 5, "correct_drift": True})
    operator_set(peer, {"eu-west-1": 50})
    wait_for(lambda: weights(peer)["eu-west-1"] == 100, 20, "the drifted weight corrected to the configured one")
    ch = [c for c in peer.changes() if c["comment"].startswith("regiond")]
    check(ch, "corrected by a regiond batch")
    check("event=route53_drift" in d.read_log(), "the drift was reported before it was corrected")
    check_regiond_batches(z["records"], peer, what="correct_drift")
    # A changed value alone (same weight) is corrected too.
    operator_set(peer, {"eu-west-1": 100}, ips=["127.0.0.11", "127.0.0.99", "127.0.0.13"])

    def value():
        return [r["ResourceRecords"][0]["Value"] for r in peer.records()
                if r.get("SetIdentifier") == "eu-west-1" and r["Type"] == "A"][0]
    wait_for(lambda: value() == "127.0.0.12", 20, "the drifted value corrected to the configured one")
    eventually(lambda: not any(w["drifted"] for w in d.status()["failover"]["weights"]), 5,
               "no drift left once the correcting batch is accepted")
    check_eq(d.stop(), 0, "clean exit")
    peer.stop()
    ngx.stop()


# ---------------------------------------------------------------- defect 5
def test_wildcard_record_name():
    """Defect 5: a wildcard record_name matches Route 53's \\052 form: live
    weights known, the down region drained."""
    name = "*.example.test."
    ports = [free_port() for _ in REGIONS]
    ngx = Nginx(ports)
    z = zone(name=name)
    peer = Route53Peer(z, pending_ms=300)
    check(any("\\052" in r["Name"] for r in peer.records()), "the peer stores the name as Route 53 does (\\052)")
    d = Daemon(config(peer, ports, name=name), env=ENV)
    wait_up(d)
    check_eq(status_live(d), {r: 100 for r in REGIONS}, "live weights read for the wildcard name")
    ngx.down(ports[0])
    wait_for(lambda: weights(peer, name)["us-east-1"] == 0, 10, "the wildcard record drained")
    check_regiond_batches(z["records"], peer, name=name, what="wildcard")
    check_eq(d.stop(), 0, "clean exit")
    peer.stop()
    ngx.stop()


# ---------------------------------------------------------------- defect 6
def test_restart_keeps_operator_change():
    """Defect 6: an operator's weight set while regiond was killed is drift
    after the restart: reported, not overwritten."""
    ports, ngx, z, peer, d2 = changed_while_killed(lambda peer: operator_set(peer, {"eu-west-1": 50}))
    wait_up(d2)
    time.sleep(3)
    check_eq(weights(peer)["eu-west-1"], 50, "the operator's weight survives the restart")
    check_eq(len([c for c in peer.changes() if c["comment"].startswith("regiond")]), 0, "no regiond batch")
    check("event=route53_drift" in d2.read_log(), "reported as drift")
    check(next(w for w in d2.status()["failover"]["weights"] if w["region"] == "eu-west-1")["drifted"],
          "shown drifted")
    # A drain the health rules require is still made for the others.
    ngx.down(ports[2])
    wait_for(lambda: weights(peer)["ap-southeast-2"] == 0, 10, "a down region is still drained")
    check_eq(weights(peer)["eu-west-1"], 50, "the drifted record untouched by that batch")
    check_eq(d2.stop(), 0, "clean exit")
    peer.stop()
    ngx.stop()


def test_first_start_is_drift_not_overwrite():
    """Defect 6: a first start with no saved state treats live weights that
    differ from the configured ones as drift."""
    ports = [free_port() for _ in REGIONS]
    ngx = Nginx(ports)
    z = zone(weights={"us-east-1": 100, "eu-west-1": 50, "ap-southeast-2": 100})
    peer = Route53Peer(z, pending_ms=300)
    d = Daemon(config(peer, ports), env=ENV)
    wait_up(d)
    time.sleep(3)
    check_eq(weights(peer), {"us-east-1": 100, "eu-west-1": 50, "ap-southeast-2": 100},
             "configured weights not written over live ones")
    check_eq(len(peer.changes()), 0, "no batch at all")
    check("event=route53_drift" in d.read_log() and "route53-drift-eu-west-1" in alarms(d),
          "the difference reported and alarmed")
    check_eq(d.stop(), 0, "clean exit")
    peer.stop()
    ngx.stop()


# ---------------------------------------------------------------- defect 7
def test_a_and_aaaa_move_together():
    """Defect 7: an A + AAAA pair per region: a drain moves both."""
    ports = [free_port() for _ in REGIONS]
    ngx = Nginx(ports)
    z = zone(aaaa=True)
    peer = Route53Peer(z, pending_ms=300)
    d = Daemon(config(peer, ports), env=ENV)
    wait_up(d)
    ngx.down(ports[1])
    wait_for(lambda: weights(peer)["eu-west-1"] == 0, 10, "A drained")
    check_eq(weights(peer, rtype="AAAA"), {"us-east-1": 100, "eu-west-1": 0, "ap-southeast-2": 100},
             "AAAA drained in the same batch")
    ch = [c for c in peer.changes() if c["comment"].startswith("regiond")]
    check_eq(len(ch), 1, "one batch")
    types = sorted({c["ResourceRecordSet"]["Type"] for c in ch[0]["changes"]})
    check_eq(types, ["A", "AAAA"], "the batch covers both types")
    check_eq(len(ch[0]["changes"]), 12, "every record of the group: exact DELETE + CREATE each (6 records)")
    check_regiond_batches(z["records"], peer, what="A+AAAA")
    ngx.down(ports[1], False)
    wait_for(lambda: weights(peer, rtype="AAAA")["eu-west-1"] == 100, 15, "AAAA restored with A")
    check_eq(weights(peer)["eu-west-1"], 100, "A restored")
    check_eq(d.stop(), 0, "clean exit")
    peer.stop()
    ngx.stop()


def test_alias_a_and_aaaa_pair():
    """Defect 7, as an API Gateway custom domain is set up: an alias A + AAAA
    pair per region; a drain moves both alias records, targets kept."""
    zid = "Z0REGIONDSAFE2"
    targets = [f"{r}.origin.example.test." for r in REGIONS]
    recs = [{"Name": t, "Type": "A", "TTL": 60, "ResourceRecords": [{"Value": ip}]} for t, ip in zip(targets, IPS)]
    recs += [{"Name": t, "Type": "AAAA", "TTL": 60, "ResourceRecords": [{"Value": ip}]} for t, ip in zip(targets, IP6)]
    recs += [{"Name": NAME, "Type": ty, "SetIdentifier": r, "Weight": 100,
              "AliasTarget": {"HostedZoneId": zid, "DNSName": t, "EvaluateTargetHealth": False}}
             for r, t in zip(REGIONS, targets) for ty in ("A", "AAAA")]
    z = {"id": zid, "name": "example.test.", "records": recs}
    ports = [free_port() for _ in REGIONS]
    ngx = Nginx(ports)
    peer = Route53Peer(z, pending_ms=300)
    cfg = config(peer, ports)
    for reg, t in zip(cfg["regions"], targets):
        reg["route53"] = {"alias": {"hosted_zone_id": zid, "dns_name": t.rstrip(".")}}
    d = Daemon(cfg, env=ENV)
    wait_up(d)
    ngx.down(ports[0])
    wait_for(lambda: weights(peer)["us-east-1"] == 0, 10, "alias A drained")
    check_eq(weights(peer, rtype="AAAA"), {"us-east-1": 0, "eu-west-1": 100, "ap-southeast-2": 100},
             "alias AAAA drained with it")
    al = [r for r in peer.records() if r["Name"] == NAME and r.get("SetIdentifier") == "us-east-1"]
    check_eq(sorted((r["Type"], r["AliasTarget"]["DNSName"]) for r in al),
             [("A", targets[0]), ("AAAA", targets[0])], "both alias targets kept")
    check_eq(len([c for c in peer.changes() if c["comment"].startswith("regiond")]), 1, "in one batch")
    check_regiond_batches(z["records"], peer, what="alias pair")
    check_eq(d.stop(), 0, "clean exit")
    peer.stop()
    ngx.stop()


if __name__ == "__main__":
    import sys
    ALL = [test_operator_zeroes_two_then_third_fails, test_two_instances_see_different_failures,
               test_all_zero_by_operator_not_fought, test_failed_batch_and_failed_reread,
               test_lost_answer_and_failed_reread_is_landed, test_correct_drift_corrects, test_wildcard_record_name,
               test_restart_keeps_operator_change, test_first_start_is_drift_not_overwrite,
               test_a_and_aaaa_move_together, test_alias_a_and_aaaa_pair]
    pick = sys.argv[1:]   # names of tests to run alone; none: all
    run_tests([t for t in ALL if not pick or t.__name__ in pick])
