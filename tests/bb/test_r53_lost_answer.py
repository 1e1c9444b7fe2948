"""A Route 53 batch whose answer is lost is not sent again blindly (found by
the soak's invariant "no change applied twice"): the aws client used to
retry ChangeResourceRecordSets after a transport error, so when the group
went back to its old state before the retry (an operator undoing the drain
with the aws CLI), the same decision landed twice, over the operator's
change.  Now the actuator re-reads and compares the group with what it
sent; the operator's weight stays (drift)."""
import json
import time

from harness import check, check_eq, run_tests, wait_for
from test_failover import NAME, setup, wait_all_up

OP_KEY = {"access_key": "AKIDOPERATORLOSTANS", "secret_key": "operator/Secret/Key/For/The/Lost/Answer/0000"}
REGIOND_KEY = "AKIDREGIONDTEST"
# A re-sent batch would wait this long at the peer: the operator's change
# (after up to 3 s of waiting, then an aws CLI run: 5 s under ASan on a busy
# core) must land before it.
SLOW_S = 12.0


def test_lost_answer_not_resent_over_operator():
    ngx, ports, peer, cfg, d, env = setup()
    wait_all_up(d)
    peer.call("POST", "/_peer/credentials", [{"access_key": "AKIDREGIONDTEST",
                                              "secret_key": env["AWS_SECRET_ACCESS_KEY"]}, OP_KEY])
    # regiond's batch is applied, held 1.5 s, then its connection dropped;
    # meanwhile any later attempt is made to wait SLOW_S at the peer before
    # being handled: time enough for the operator to undo the drain first.
    peer.inject(slow_after=1, slow_after_ms=1500, drop_after=1, ops=["ChangeResourceRecordSets"], keys=[REGIOND_KEY])
    ngx.down(ports[1])
    wait_for(lambda: len(peer.changes()) >= 1, 15, "the drain applied (its answer about to be lost)", interval=0.05)
    slowed_from = time.monotonic()       # a batch reaching the peer after this waits SLOW_S there
    peer.inject(slow=1, slow_ms=int(SLOW_S * 1000), ops=["ChangeResourceRecordSets"], keys=[REGIOND_KEY])
    # The operator acts once regiond has seen its answer lost (or after 3 s,
    # while a re-sent batch, were there one, waits at the peer).
    try:
        wait_for(lambda: "route53_change_landed" in d.read_log(), 3, "regiond to find its batch landed")
    except AssertionError:
        pass
    batch = {"Comment": "operator undoes the drain", "Changes": [{"Action": "UPSERT", "ResourceRecordSet": {
        "Name": NAME, "Type": "A", "SetIdentifier": "eu-west-1", "Weight": 100, "TTL": 60,
        "ResourceRecords": [{"Value": "127.0.0.12"}]}}]}
    peer.aws("change-resource-record-sets", "--hosted-zone-id", peer.zone_id, "--change-batch", json.dumps(batch),
             key=OP_KEY)
    # Timed at the peer (one monotonic clock on this machine), not by how
    # long the CLI took to start and return (5 s under ASan on a busy core).
    op = [c for c in peer.changes() if c["key"] == OP_KEY["access_key"]]
    at = op[0]["mono"] - slowed_from if op else None
    check(op and at < SLOW_S, f"the operator's change went in before any re-sent batch could "
                              f"({at if at is None else round(at, 1)} s after the slowing; a re-sent batch waits "
                              f"{SLOW_S:.0f} s)")
    time.sleep(max(0.0, slowed_from + SLOW_S + 1 - time.monotonic()))   # past one slowed attempt, were there one
    ch = peer.changes()
    mine = [c["comment"] for c in ch if c["key"] == REGIOND_KEY]
    if not check_eq(len(mine), len(set(mine)), f"no decision applied twice ({mine})"):
        print("\n".join(l for l in d.read_log().splitlines() if "route53" in l or "aws call" in l))
    check_eq(peer.weights(NAME)["eu-west-1"], 100, "the operator's weight is not overwritten")
    reqs = [r for r in peer.stats()["requests"] if r["op"] == "ChangeResourceRecordSets" and r.get("key") == REGIOND_KEY]
    check(all(r.get("fault") != "slow" for r in reqs), "the batch whose answer was lost was not sent again")
    check("route53_change_landed" in d.read_log(), "the actuator re-read the group and found its batch landed")
    peer.call("POST", "/_peer/clear-faults", {})
    check_eq(d.stop(), 0, "clean exit")
    peer.stop()
    ngx.stop()


if __name__ == "__main__":
    run_tests([test_lost_answer_not_resent_over_operator])
