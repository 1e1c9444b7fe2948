"""The next lease term learns the Route 53 guard's epoch (docs/ha.md, "What
is guaranteed"; issue 17's review, defect 4).  The second actor is an
operator with the aws CLI: before regiond starts, the guard TXT record
_regiond-epoch.<record> holds epoch 50 (as after lease tables recreated, or
another cluster.name), far above anything in the three empty lease tables.
The instance takes the lease at epoch 2, its guard bump is fenced (nothing
sent), it raises route53-change naming epoch 50, steps down, and its next
term starts above 50: that term's bump lands (judged on the Route 53 peer's
record and its change log, and on the DynamoDB peer's lease items).  Fenced
exactly once: without the fix every later term is fenced in turn."""
import json
import re
import time

import boto_kit
from harness import (Nginx, Route53Peer, check, check_eq, events_ring, eventually, free_port, run_tests, wait_for,
                     weighted_zone)
import lease_kit
from lease_kit import Daemon, ENV, items, start_peer

NAME = "api.example.test."
GUARD = "_regiond-epoch.api.example.test."
REGIONS = ["us-east-1", "eu-west-1"]
IPS = ["127.0.0.41", "127.0.0.42"]
HIGH = 50
# empty tables: the first take waits lease_ms (5 s), the fenced term steps down and waits lease_ms again
# before the next take, which is at once (a release marker); the bump then lands.  ~12 s; 45 s bound
# for a busy 2-core machine and ASan.
BOUND_S = 45


def guard_epoch(r53):
    for r in r53.records():
        if r["Name"] == GUARD and r["Type"] == "TXT":
            return int(re.search(r"epoch=(\d+)", r["ResourceRecords"][0]["Value"]).group(1))
    return None


def batch_epoch(recs):
    for r in recs or []:
        if r["Name"] == GUARD and r["Type"] == "TXT":
            return int(re.search(r"epoch=(\d+)", r["ResourceRecords"][0]["Value"]).group(1))
    return None


def alarm_events(port, key):
    """(kind, summary) of every alarm event of key in the ring, oldest first."""
    out, kind = [], None
    for line in events_ring(port).splitlines():
        if line.startswith("event:"):
            kind = line[6:].strip()
        elif line.startswith("data:") and kind in ("alarm_raised", "alarm_resolved"):
            try:
                e = json.loads(line[5:])
            except ValueError:
                continue
            d = e.get("data") if isinstance(e.get("data"), dict) else e
            if d.get("key") == key:
                out.append((kind, d.get("summary", "")))
    return out


def test_next_term_above_guard():
    ports = [free_port() for _ in REGIONS]
    ngx = Nginx(ports)
    r53 = Route53Peer(weighted_zone(NAME, {r: (ip, 100) for r, ip in zip(REGIONS, IPS)}))
    peer = start_peer()
    d = None
    try:
        # the operator: a guard left high (the aws CLI's request, botocore in-process)
        batch = {"Comment": "operator: guard left from another lease", "Changes": [{"Action": "CREATE",
                 "ResourceRecordSet": {"Name": GUARD, "Type": "TXT", "TTL": 60,
                                       "ResourceRecords": [{"Value": f'"epoch={HIGH} holder=operator"'}]}}]}
        boto_kit.r53_change(r53, batch)
        check_eq(guard_epoch(r53), HIGH, "the operator's guard is at Route 53")
        n_before = len(r53.changes())
        eps = {f"dynamodb.{r}": peer.url(r) for r in lease_kit.REGIONS}
        eps["route53"] = r53.url
        cfg = lease_kit.config(1, peer, endpoints=eps)
        cfg["route53"] = {"hosted_zone_id": r53.zone_id, "record_name": NAME, "record_type": "A", "ttl": 60,
                          "reconcile_s": 5}
        cfg["regions"] = [{"name": r, "api": [{"url": f"http://127.0.0.1:{p}/health"}],
                           "route53": {"value": ip, "weight": 100}} for r, p, ip in zip(REGIONS, ports, IPS)]
        d = Daemon(cfg, env=ENV)
        wait_for(lambda: (guard_epoch(r53) or 0) > HIGH, BOUND_S, "a term above the guard's epoch to bump it")
        mine = r53.changes()[n_before:]
        # (a later term, after a renewal missed on a loaded machine, would bump higher still)
        check(len(mine) >= 1 and batch_epoch(mine[0]["after"]) == HIGH + 1
              and all(batch_epoch(c["after"]) > HIGH for c in mine),
              f"the next term is the guard's epoch + 1 and its bump landed first; no batch below the guard landed "
              f"({[batch_epoch(c['after']) for c in mine]})")
        its = items(peer)
        check(sum(1 for i in its.values() if i and i.get("epoch", 0) > HIGH and i.get("owner") == "ctl-1") >= 2,
              f"the lease items of a majority carry a term above {HIGH} ({its})")
        log = d.read_log()
        fenced = log.count("route53: stale leader, nothing sent")
        check_eq(fenced, 1, "fenced exactly once (the next term learnt the guard's epoch)")
        st = d.status()["lease"]
        check(st["takeovers"] >= 2 and (not st["leading"] or st["epoch"] > HIGH),
              f"its second term is above the guard ({st['takeovers']} terms, epoch {st['epoch']})")
        ev = alarm_events(d.port, "route53-change")
        raised = [s for k, s in ev if k == "alarm_raised"]
        check(any(f"epoch {HIGH}" in s and GUARD.rstrip(".") in s for s in raised),
              f"being fenced raised route53-change naming the guard and its epoch {HIGH} ({ev})")
        eventually(lambda: not any(a["key"] == "route53-change" for a in d.status()["alarms"]["active"]), 10,
                   "route53-change resolves once the bump above the guard landed")
    finally:
        if d:
            d.stop()
        peer.stop()
        r53.stop()
        ngx.stop()


if __name__ == "__main__":
    run_tests([test_next_term_above_guard])
