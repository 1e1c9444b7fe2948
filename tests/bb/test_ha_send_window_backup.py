"""The lease term's send window holds for a CreateBackup the AWS client is
retrying (issue 17 item 2, docs/ha.md; the Route 53 side and the set-up:
test_ha_send_window.py, window_kit.py).  The leader's "backup now" meets
ThrottlingException at the DynamoDB peer again and again while the peer
drops the leader's lease calls (only its); the other instance takes over.
Judged on the DynamoDB peer's request log and backups: no CreateBackup
attempt of the old leader later than its last PutItem the peer answered
200 + lease_ms - margin_ms + SLACK_S; the run reports "not started: not
sent"; no backup made.  Without the fix the attempts went on for seconds
past the bound."""

from harness import Nginx, check, check_eq, free_port, run_tests, wait_for
from lease_kit import lease, sample_until, stop_all
from window_kit import (CALL_OVER_S, FIRST_S, REGIONS, SLACK_S, control, cut_lease, ddb_requests, make_ddb, new_leader,
                        send_bound, start)


def start_backup(i, ddb, ports):
    """Instance i with the dynamodb section: a nightly schedule (not due: it runs on "backup now"), PITR left
    alone."""
    return start(i, ddb, ports, dynamodb={
        "table": "orders", "describe_interval_s": 1, "rpo_ms": 1500, "stale_after_s": 3,
        "heartbeat": {"interval_ms": 300, "read_interval_ms": 100},
        "backups": [{"name": "nightly", "regions": ["us-east-1"], "schedule": "0 3 * * *", "keep_last": 5}]})


def test_create_backup_retries_end_with_the_term():
    ports = [free_port() for _ in REGIONS]
    ngx = Nginx(ports)
    ddb = make_ddb()
    ds = []
    try:
        ds = [start_backup(i, ddb, ports) for i in (1, 2)]
        ls, _ = sample_until(ds, lambda ls: len(ls) == 1, FIRST_S, "exactly one leader")
        a = ls[0]
        # every CreateBackup of the leader is throttled (and retried: throttling proves nothing was made)
        ddb.call("POST", "/_peer/inject", {"throttle": 1000, "ops": ["CreateBackup"], "keys": [a.key]})
        # a new leader takes no control request until it has read the replicated state (409 "not yet")
        def accepted():
            code, body = control(a, "POST", "/v1/backups", {"table": "orders"})
            return (code, body) if code != 409 or "not yet" not in (body or {}).get("error", "") else None
        code, body = wait_for(accepted, 15, f"{a.iid} has read the replicated state")
        check_eq(code, 200, f"backup now on the leader {a.iid} ({body})")

        def tries():
            return ddb_requests(ddb, a.key, "CreateBackup")
        wait_for(lambda: sum(r.get("fault") == "throttle" for r in tries()) >= 2, 20,
                 f"{a.iid}'s CreateBackup throttled twice (the AWS client retrying it)")
        cut_lease(ddb, a)
        b = new_leader(ds, a)

        def run_of(d):
            return next(j for j in d.status()["dynamodb"]["backups"] if j["schedule"] == "nightly")
        # the run is over: failed here (the fix) or after its last attempt (without it)
        wait_for(lambda: run_of(a)["phase"] == "idle", CALL_OVER_S, f"{a.iid}'s throttled run ends")
        bound = send_bound(ddb, a)
        mine = tries()
        late = [round(r["t"] - bound, 2) for r in mine if r["t"] > bound + SLACK_S]
        print(f"{a.iid}: {len(mine)} CreateBackup attempts, the last {mine[-1]['t'] - bound:+.2f} s from the "
              f"send bound")
        check_eq(late, [], f"no CreateBackup attempt of {a.iid} reaches DynamoDB after its send window closed "
                           f"(bound + {SLACK_S} s; seconds past the bound)")
        check(all(r.get("fault") == "throttle" for r in mine), f"every CreateBackup of {a.iid} was refused")
        res = run_of(a)["last_result"]
        check(res.startswith("not started: not sent: this instance stopped leading"),
              f"{a.iid} reports its CreateBackup not sent ({res})")
        backups = ddb.call("GET", "/_peer/backups")["backups"]
        check_eq([x["BackupName"] for x in backups], [], "no backup was made")
        check(not lease(a)["leading"] and lease(b)["leading"], f"{b.iid} leads, {a.iid} does not")
        for d in ds:
            check_eq(d.stop(), 0, f"{d.iid} stops cleanly")
    finally:
        stop_all(ds, ddb, ngx)


if __name__ == "__main__":
    run_tests([test_create_backup_retries_end_with_the_term])
