"""The lease term's send window holds for the AWS client's retries too
(issue 17 item 2, docs/ha.md): a leader sends nothing -- no batch, no retry,
no backup call -- after its term's send_until.  Two regiond instances share
three lease tables on the strict DynamoDB peer; each signs with its own
access key, so the peers' request logs say who sent what.  The leader's call
is refused again and again (Route 53 Throttling, then
PriorRequestNotComplete; DynamoDB ThrottlingException on CreateBackup), so the AWS client keeps retrying it;
meanwhile the leader is cut off from the lease tables (the DynamoDB peer
drops its PutItem and GetItem, and only its: the other instance reads and
takes the tables as usual), so its term ends at send_until and the other
instance takes over -- the second actor.  Judged on the peers' logs:
  - no attempt of the leader's call reaches the peer after its send window
    closed.  The bound is what the peers show: the leader's last PutItem
    the DynamoDB peer answered 200 (a renewal: sent no later than the peer
    logged it) + lease_ms - margin_ms, plus SLACK_S for the last attempt
    started before the bound to reach the peer's log;
  - none after the new leader's guard bump (Route 53);
  - the old leader reports the call as not sent (status), and nothing was
    made by it (the peer's backups).
Without the fix the client retried on: attempts arrived seconds after the
bound (the call ended only after aws.retry.max_attempts)."""
import time
import urllib.error
import urllib.request
import json

from harness import (TEST_KEY, Daemon, DdbPeer, Nginx, Route53Peer, check, check_eq, free_port, run_tests, tmpdir,
                     token_file, wait_for, weighted_zone)
import lease_kit
from lease_kit import LEASE_MS, MARGIN_MS, TABLE, TAKEOVER_S, lease, sample_until

NAME = "api.example.test."
GUARD = "_regiond-epoch.api.example.test."
REGIONS = lease_kit.REGIONS
IPS = ["127.0.0.41", "127.0.0.42", "127.0.0.43"]
KEYS = {i: {"access_key": f"AKIDHAWINDOW{i}", "secret_key": f"ha/Window/Secret/Of/Instance/{i}/000000000000"}
        for i in (1, 2)}
FIRST_S = (2 * LEASE_MS + 4 * lease_kit.RENEW_MS) / 1000 + 5   # empty tables, perhaps a split vote
# Retries that outlast a term by far: full jitter up to 1.5 s, 20 attempts (about 13 s on average).
RETRY = {"base_ms": 200, "max_ms": 1500, "max_attempts": 20}
# From the check before an attempt (at most the bound) to the peer logging it: a fresh loopback
# connection and a Python thread reading the request, on a shared 2-core machine (ASan builds too).
SLACK_S = 0.75
CALL_OVER_S = 60   # the longest the throttled call can last without the fix: 20 attempts x 1.5 s + rate waits
TOKENS, TOKS = token_file()


def epoch_of(recs):
    for r in recs or []:
        if r["Name"] == GUARD and r["Type"] == "TXT":
            return int(r["ResourceRecords"][0]["Value"].split("epoch=")[1].split()[0].strip('"'))
    return None


def weights_of(recs):
    return {r["SetIdentifier"]: r["Weight"] for r in recs or [] if r["Type"] == "A" and r["Name"] == NAME}


def make_ddb():
    ddb = DdbPeer(REGIONS, creds=[TEST_KEY] + list(KEYS.values()), backup_ms=800, pitr="on")
    for r in REGIONS:
        ddb.aws(r, "create-table", "--table-name", TABLE, "--billing-mode", "PAY_PER_REQUEST",
                "--key-schema", "AttributeName=name,KeyType=HASH",
                "--attribute-definitions", "AttributeName=name,AttributeType=S")
    return ddb


def start(i, ddb, ports, extra_eps=None, **sections):
    eps = {f"dynamodb.{r}": ddb.url(r) for r in REGIONS}
    eps.update(extra_eps or {})
    cfg = lease_kit.config(i, ddb, endpoints=eps)
    cfg["controller"].update({"token_file": TOKENS, "log_level": "info"})
    cfg["aws"]["retry"] = dict(RETRY)
    cfg["regions"] = [{"name": r, "api": [{"url": f"http://127.0.0.1:{p}/health"}]} for r, p in zip(REGIONS, ports)]
    cfg.update(sections)
    d = Daemon(cfg, dir=tmpdir("ha-window-"), env={"AWS_ACCESS_KEY_ID": KEYS[i]["access_key"],
                                                    "AWS_SECRET_ACCESS_KEY": KEYS[i]["secret_key"],
                                                    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
                                                    "AWS_CONFIG_FILE": "/nonexistent"})
    d.iid, d.cfg, d.key = f"ctl-{i}", cfg, KEYS[i]["access_key"]
    return d


def start_r53(i, ddb, ports, r53):
    """Instance i with the route53 section (the three regions' weighted records) as in bb_test_ha."""
    d = start(i, ddb, ports, {"route53": r53.url},
              route53={"hosted_zone_id": r53.zone_id, "record_name": NAME, "record_type": "A", "ttl": 60,
                       "reconcile_s": 5},
              decision={"hold_down_s": 1, "settle_ms": 200, "max_changes": 0},
              probe_defaults={"interval_ms": 200, "timeout_ms": 150, "rise": 2, "fall": 2},
              regions=[{"name": r, "api": [{"url": f"http://127.0.0.1:{p}/health"}],
                        "route53": {"value": ip, "weight": 100}} for r, p, ip in zip(REGIONS, ports, IPS)])
    return d


def ddb_requests(ddb, key, op):
    return [r for r in ddb.call("GET", "/_peer/stats")["requests"] if r.get("key") == key and r.get("op") == op]


def send_bound(ddb, d):
    """The latest moment d's term may send, from what the DynamoDB peer saw: d's last PutItem it answered
    200 (a lease renewal or a take; the heartbeat's writes count too, which only moves the bound later) +
    lease_ms - margin_ms.  The instance sent that write no later than the peer logged it, and its term
    ends lease_ms - margin_ms after the send of the write that completes its majority, an earlier one."""
    ok = [r["t"] for r in ddb_requests(ddb, d.key, "PutItem") if r.get("status") == 200]
    check(bool(ok), f"{d.iid} renewed its lease at least once")
    return max(ok) + (LEASE_MS - MARGIN_MS) / 1000


def cut_lease(ddb, d):
    """d reaches none of the lease tables any more (its PutItem and GetItem are dropped unanswered);
    the other instance still does."""
    ddb.call("POST", "/_peer/inject", {"drop": -1, "ops": ["PutItem", "GetItem"], "keys": [d.key]})


def new_leader(ds, old):
    other = next(d for d in ds if d is not old)
    sample_until(ds, lambda ls: ls == [other], TAKEOVER_S + 5, f"{other.iid} leads after {old.iid}'s term")
    return other


def control(d, method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(d.base + path, data=data, method=method,
                                 headers={"Authorization": f"Bearer {TOKS['ops']}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


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
        for d in ds:
            if d.proc.poll() is None:
                d.stop()
        ddb.stop()
        r53.stop()
        ngx.stop()


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
        code, body = control(a, "POST", "/v1/backups", {"table": "orders"})
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
        for d in ds:
            if d.proc.poll() is None:
                d.stop()
        ddb.stop()
        ngx.stop()


if __name__ == "__main__":
    run_tests([test_route53_retries_end_with_the_term, test_create_backup_retries_end_with_the_term])
