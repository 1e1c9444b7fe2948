"""The Route 53 actuator's failure edges (docs/architecture.md, "The Route 53
actuator"): every one ends in a retry with backoff or an alarm that names
what is stuck.  Faults are injected at the strict Route 53 peer; outcomes
are checked against the peer's records, change log and request log."""
import time

from harness import Daemon, Nginx, Route53Peer, check, check_eq, free_port, run_tests, wait_for
from test_r53_safety import (ENV, IP6, REGIONS, alarms, check_regiond_batches, config, group_up, wait_up, weights,
                             zone)


def regiond_batches(peer):
    return [c for c in peer.changes() if (c["comment"] or "").startswith("regiond")]


def requests(peer, op):
    return [r for r in peer.stats()["requests"] if r["op"] == op]


def test_read_failures():
    """The first read fails: alarm, read again after a backoff, nothing sent
    meanwhile.  A reconcile read fails: a warning until a read succeeds."""
    ports = [free_port() for _ in REGIONS]
    ngx = Nginx(ports)
    z = zone()
    peer = Route53Peer(z, pending_ms=300)
    peer.inject(deny=3, ops=["ListResourceRecordSets"])
    d = Daemon(config(peer, ports, route53={"reconcile_s": 5}), env=ENV)
    a = wait_for(lambda: alarms(d).get("route53-read"), 10, "an alarm for the unread records")
    check_eq(a["severity"], "critical", f"start-up read failure is critical: {a['summary']}")
    check("api.example.test." in a["summary"], "the alarm names the record")
    wait_up(d)
    check(len(requests(peer, "ListResourceRecordSets")) >= 4, "the read was retried until it succeeded")
    wait_for(lambda: "route53-read" not in alarms(d), 5, "the alarm resolves once read")
    check_eq(len(peer.changes()), 0, "nothing sent before the records were read")
    peer.inject(deny=1, ops=["ListResourceRecordSets"])
    a = wait_for(lambda: alarms(d).get("route53-read"), 10, "a warning for a failed reconcile read")
    check_eq(a["severity"], "warning", f"reconcile read failure: {a['summary']}")
    wait_for(lambda: "route53-read" not in alarms(d), 10, "resolved by the next reconcile")
    check_eq(d.stop(), 0, "clean exit")
    peer.stop()
    ngx.stop()


def test_fresh_read_and_batch_fail():
    """The read right before a batch fails: alarm, back off, decide again.
    A batch that fails every attempt and did not land: alarm, back off,
    retried until it lands, applied once."""
    ports, ngx, z, peer, cfg, d = group_up(aws={"retry": {"base_ms": 50, "max_ms": 200, "max_attempts": 2}})
    peer.inject(deny=1, ops=["ListResourceRecordSets"])
    ngx.down(ports[1])
    a = wait_for(lambda: alarms(d).get("route53-change"), 10, "an alarm for the failed read before the batch")
    check("right before the batch" in a["summary"], f"the alarm says what failed: {a['summary']}")
    wait_for(lambda: weights(peer)["eu-west-1"] == 0, 20, "the drain lands after the backoff")
    wait_for(lambda: "route53-change" not in alarms(d), 5, "the alarm resolves")

    peer.inject(error5xx=2, ops=["ChangeResourceRecordSets"])
    ngx.down(ports[1], False)
    a = wait_for(lambda: alarms(d).get("route53-change"), 15, "an alarm for the batch that did not land")
    check("did not land" in a["summary"], f"the alarm names the change: {a['summary']}")
    wait_for(lambda: weights(peer)["eu-west-1"] == 100, 25, "the restore lands after the backoff")
    st = [r["status"] for r in requests(peer, "ChangeResourceRecordSets")]
    check_eq(st.count(500), 2, f"both attempts of the failed batch reached the peer ({st})")
    check_eq(len(regiond_batches(peer)), 2, "drain and restore, each applied once")
    check_regiond_batches(z["records"], peer, what="failed batch")
    check_eq(d.stop(), 0, "clean exit")
    peer.stop()
    ngx.stop()


def test_gate_refuses_all_zero_type():
    """The group's AAAA records are only eu-west-1's: draining it would leave
    every AAAA at 0, so the batch is not sent and an alarm says why."""
    ports = [free_port() for _ in REGIONS]
    ngx = Nginx(ports)
    z = zone()
    z["records"].append({"Name": "api.example.test.", "Type": "AAAA", "SetIdentifier": "eu-west-1", "Weight": 100,
                         "TTL": 60, "ResourceRecords": [{"Value": IP6[1]}]})
    peer = Route53Peer(z, pending_ms=300)
    d = Daemon(config(peer, ports), env=ENV)
    wait_up(d)
    ngx.down(ports[1])
    a = wait_for(lambda: alarms(d).get("route53-refused"), 10, "the refused batch alarmed")
    check("AAAA" in a["summary"] and "0" in a["summary"], f"the alarm names the rule: {a['summary']}")
    time.sleep(1)
    check_eq(regiond_batches(peer), [], "no batch sent")
    check_eq(weights(peer, rtype="AAAA"), {"eu-west-1": 100}, "the AAAA group untouched")
    check_eq(d.status()["failover"]["last_change"]["status"], "REFUSED", "status shows the refusal")
    check_eq(d.stop(), 0, "clean exit")
    peer.stop()
    ngx.stop()


def test_getchange_errors_and_stuck():
    """GetChange errors are polled again; a change not INSYNC after
    change_timeout_s raises route53-stuck."""
    ports = [free_port() for _ in REGIONS]
    ngx = Nginx(ports)
    z = zone()
    peer = Route53Peer(z, pending_ms=30000)
    d = Daemon(config(peer, ports, route53={"change_timeout_s": 10},
                      aws={"retry": {"base_ms": 50, "max_ms": 200, "max_attempts": 1}}), env=ENV)
    wait_up(d)
    peer.inject(error5xx=3, ops=["GetChange"])
    ngx.down(ports[1])
    wait_for(lambda: weights(peer)["eu-west-1"] == 0, 10, "the drain accepted")
    a = wait_for(lambda: alarms(d).get("route53-stuck"), 20, "route53-stuck raised")
    check("not INSYNC after 10 s" in a["summary"], f"the alarm names the change: {a['summary']}")
    gc = [r["status"] for r in requests(peer, "GetChange")]
    check(gc.count(500) == 3 and gc.count(200) >= 1, f"polled again after each failed GetChange ({gc})")
    check_eq(d.stop(), 0, "clean exit")
    peer.stop()
    ngx.stop()


if __name__ == "__main__":
    import sys
    ALL = [test_read_failures, test_fresh_read_and_batch_fail, test_gate_refuses_all_zero_type,
           test_getchange_errors_and_stuck]
    pick = sys.argv[1:]
    run_tests([t for t in ALL if not pick or t.__name__ in pick])
