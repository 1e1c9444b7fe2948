"""The lease term's send window holds for the AWS client's retries too
(issue 17 item 2, docs/ha.md): a leader sends nothing -- no batch, no retry
-- after its term's send_until (CreateBackup: test_ha_send_window_backup.py;
the set-up: window_kit.py).  Two regiond instances share three lease tables
on the strict DynamoDB peer; each signs with its own access key, so the
peers' request logs say who sent what.  The leader's Route 53 batch is
refused again and again (Throttling, then PriorRequestNotComplete), so the
AWS client keeps retrying it; meanwhile the DynamoDB peer drops the
leader's lease calls (only its: the other instance reads and takes the
tables as usual), so its term ends at send_until and the other instance
takes over -- the second actor.  Judged on the peers' logs:
  - no attempt of the batch reaches the Route 53 peer after the send window
    closed.  The bound is what the peers show: the leader's last PutItem
    the DynamoDB peer answered 200 (sent no later than the peer logged it)
    + lease_ms - margin_ms, plus SLACK_S for the last attempt started
    before the bound to reach the peer's log;
  - none after the new leader's guard bump, and no Route 53 call at all;
  - the old leader reports the batch NOT_SENT; the new leader drains.
Without the fix the client retried on: attempts arrived up to 9 s after the
bound, after the new leader's bump (the call ended after
aws.retry.max_attempts)."""
import time

from harness import TEST_KEY, Nginx, Route53Peer, check, check_eq, free_port, run_tests, wait_for, weighted_zone
from lease_kit import lease, sample_until, stop_all
from window_kit import (CALL_OVER_S, FIRST_S, IPS, KEYS, NAME, REGIONS, SLACK_S, cut_lease, epoch_of, make_ddb, new_leader,
                        send_bound, start_r53, weights_of)


def test_route53_retries_end_with_the_term():
    ports = [free_port() for _ in REGIONS]
    ngx = Nginx(ports)
    r53 = Route53Peer(weighted_zone(NAME, {r: (ip, 100) for r, ip in zip(REGIONS, IPS)}),
                      creds=[TEST_KEY] + list(KEYS.values()))
    ddb = make_ddb()
    ds = []
    try:
        ds = [start_r53(i, ddb, ports, r53) for i in (1, 2)]
        ls, _ = sample_until(ds, lambda ls: len(ls) == 1, FIRST_S, "exactly one leader")
        a = ls[0]
        ea = lease(a)["epoch"]
        wait_for(lambda: any(c["key"] == a.key and epoch_of(c["after"]) == ea for c in r53.changes()), 15,
                 f"{a.iid}'s guard bump to epoch {ea}")
        # every batch of the leader is throttled from now on; a region fails, so it sends one
        t_inject = time.monotonic()
        # (Throttling twice, then PriorRequestNotComplete: both are refusals the client retries)
        r53.inject(throttle=2, prior=1000, ops=["ChangeResourceRecordSets"], keys=[a.key])
        ngx.down(ports[2])

        def tries():   # the attempts of the batch that drains the failed region
            return [r for r in r53.stats()["requests"] if r.get("key") == a.key and r["t"] >= t_inject and
                    r.get("op") == "ChangeResourceRecordSets"]
        wait_for(lambda: sum(r.get("fault") in ("throttle", "prior") for r in tries()) >= 3, 20,
                 f"{a.iid}'s batch refused three times (the AWS client retrying it)")
        cut_lease(ddb, a)
        b = new_leader(ds, a)
        eb = lease(b)["epoch"]
        bump = wait_for(lambda: next((c for c in r53.changes() if c["key"] == b.key and epoch_of(c["after"]) == eb),
                                     None), 20, f"{b.iid}'s guard bump to epoch {eb}")
        # the old leader's call is over: failed here (the fix) or after its last attempt (without it)
        wait_for(lambda: a.status()["failover"]["actuator"] == "idle", CALL_OVER_S,
                 f"{a.iid}'s throttled batch ends")
        bound = send_bound(ddb, a)
        mine = tries()
        late = [round(r["t"] - bound, 2) for r in mine if r["t"] > bound + SLACK_S]
        print(f"{a.iid}: {len(mine)} attempts of its batch, the last {mine[-1]['t'] - bound:+.2f} s from the "
              f"send bound; {b.iid}'s bump {bump['mono'] - bound:+.2f} s from it")
        check_eq(late, [], f"no attempt of {a.iid}'s batch reaches Route 53 after its send window closed "
                           f"(bound + {SLACK_S} s; seconds past the bound)")
        check(all(r["t"] < bump["mono"] for r in mine), f"no attempt of {a.iid}'s batch after {b.iid}'s bump")
        calls = [r for r in r53.stats()["requests"] if r.get("key") == a.key and r["t"] > bound + SLACK_S]
        check_eq([r["op"] for r in calls], [], f"{a.iid} makes no Route 53 call at all after its window")
        check([r.get("fault") for r in mine[:2]] == ["throttle"] * 2 and
              all(r.get("fault") == "prior" for r in mine[2:]),
              f"every attempt of {a.iid}'s batch was refused: Throttling, then PriorRequestNotComplete")
        last = a.status()["failover"]["last_change"] or {}
        check(last.get("status") == "NOT_SENT" and
              "not sent: the lease term's send window closed" in (last.get("error") or ""),
              f"{a.iid} reports its batch not sent ({last.get('status')}: {last.get('error')})")
        # the new leader goes on: it drains the failed region (its batches are not throttled)
        wait_for(lambda: any(c["key"] == b.key and weights_of(c["after"]).get(REGIONS[2]) == 0
                             for c in r53.changes()), 30, f"{b.iid} drains {REGIONS[2]}")
        check_eq(r53.weights(NAME)[REGIONS[2]], 0, "the peer's record of the failed region is drained")
        check(not lease(a)["leading"], f"{a.iid} reports not leading")
        for d in ds:
            check_eq(d.stop(), 0, f"{d.iid} stops cleanly")
    finally:
        stop_all(ds, ddb, r53, ngx)


if __name__ == "__main__":
    run_tests([test_route53_retries_end_with_the_term])
