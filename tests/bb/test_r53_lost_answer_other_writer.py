"""A batch whose answer is lost, and another writer changes the group before
regiond's re-read (found by the soak, seed 1916638679: instance a's batch
landed, its answer was lost, instance b drained one of a's records back to
a's old weight; a took that for its batch not landing and later wrote its
own weight over b's).  The group then matches neither what regiond sent nor
what it knew.  Here: regiond drains eu-west-1 (100 -> 0); the peer applies
the batch and holds the answer; the operator (aws CLI) puts eu-west-1 back
to 100 and sets us-east-1 to 50; the answer is then dropped.  The re-read
shows eu-west-1 at regiond's old weight, but the batch may have landed: the
operator's 100 is drift, held (correct_drift false), not drained again."""
import json
import time

from harness import Route53Peer, check, check_eq, run_tests, wait_for, weighted_zone
from test_failover import IPS, NAME, REGIONS, setup, wait_all_up

OP_KEY = {"access_key": "AKIDOPERATOROTHERWR", "secret_key": "operator/Secret/Key/For/The/Other/Writer/000"}
REGIOND_KEY = "AKIDREGIONDTEST"
HOLD_S = 10.0      # the peer holds regiond's answer this long (then drops it): the aws CLI's change goes in first
AFTER_S = 6.0      # after the re-read, time for a decision and a batch (settle 0.4 s, a drain is not held down)


def test_lost_answer_other_writer_before_reread():
    peer = Route53Peer(weighted_zone(NAME, {r: (ip, 100) for r, ip in zip(REGIONS, IPS)}), pending_ms=500)
    ngx, ports, peer, cfg, d, env = setup(peer=peer, aws={
        "endpoints": {"route53": peer.url}, "retry": {"base_ms": 50, "max_ms": 1000},
        "request_timeout_ms": int(HOLD_S * 1000 * 3)})
    wait_all_up(d)
    peer.call("POST", "/_peer/credentials", [{"access_key": REGIOND_KEY,
                                              "secret_key": env["AWS_SECRET_ACCESS_KEY"]}, OP_KEY])
    peer.inject(slow_after=1, slow_after_ms=int(HOLD_S * 1000), drop_after=1, ops=["ChangeResourceRecordSets"],
                keys=[REGIOND_KEY])
    ngx.down(ports[1])
    wait_for(lambda: len(peer.changes()) >= 1, 15, "the drain applied (its answer held, then lost)", interval=0.05)
    landed = peer.changes()[0]
    check_eq(peer.weights(NAME)["eu-west-1"], 0, "regiond's drain of eu-west-1 landed")
    batch = {"Comment": "operator", "Changes": [
        {"Action": "UPSERT", "ResourceRecordSet": {"Name": NAME, "Type": "A", "SetIdentifier": "eu-west-1",
                                                   "Weight": 100, "TTL": 60,
                                                   "ResourceRecords": [{"Value": IPS[1]}]}},
        {"Action": "UPSERT", "ResourceRecordSet": {"Name": NAME, "Type": "A", "SetIdentifier": "us-east-1",
                                                   "Weight": 50, "TTL": 60,
                                                   "ResourceRecords": [{"Value": IPS[0]}]}}]}
    peer.aws("change-resource-record-sets", "--hosted-zone-id", peer.zone_id, "--change-batch", json.dumps(batch),
             key=OP_KEY)
    op = [c for c in peer.changes() if c["key"] == OP_KEY["access_key"]]
    at = op[0]["mono"] - landed["mono"] if op else None
    # the staging itself: the operator's change went in while regiond's answer was still held
    check(op and at < HOLD_S, f"the operator's change landed before regiond's answer was lost "
                              f"({at if at is None else round(at, 1)} s after regiond's batch; held {HOLD_S:.0f} s)")
    wait_for(lambda: "route53_change_failed" in d.read_log(), HOLD_S + 15, "regiond re-read the group")
    time.sleep(AFTER_S)
    w = peer.weights(NAME)
    mine = [c for c in peer.changes() if c["key"] == REGIOND_KEY]
    if not check_eq(w["eu-west-1"], 100, "the operator's weight on eu-west-1 is not overwritten (down, but drift)"):
        print("\n".join(l for l in d.read_log().splitlines() if "route53" in l or "decision" in l))
    check_eq(w["us-east-1"], 50, "the operator's weight on us-east-1 is not overwritten")
    check_eq(len(mine), 1, "no regiond batch after the re-read ("
             f"{[(c['comment'], c['after']) for c in mine[1:]]})")
    drift = [json.loads(l[l.index("{"):]) for l in d.read_log().splitlines() if "event=route53_drift " in l]
    check({x["region"] for x in drift} >= {"eu-west-1", "us-east-1"},
          f"both records the operator set are reported as drift ({[(x['region'], x['why']) for x in drift]})")
    peer.call("POST", "/_peer/clear-faults", {})
    check_eq(d.stop(), 0, "clean exit")
    peer.stop()
    ngx.stop()


if __name__ == "__main__":
    run_tests([test_lost_answer_other_writer_before_reread])
