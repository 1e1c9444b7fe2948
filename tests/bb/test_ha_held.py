"""Held operator answers (issue 17, docs/ha.md "Replicated controller state"):
an override, release, freeze or drill made on the leader is answered 200 only
once its state is on a majority of the lease tables; otherwise 503, saying
why.  One regiond instance that leads over three lease tables on the strict
DynamoDB peer (nginx serves three healthy regions, the strict Route 53 peer);
the second actor is an operator writing the lease tables' items by hand
(the aws CLI for #control, botocore in-process for the lease items), and a
stalled disk (strace delays every fsync).  Judged on the
HTTP status the client got and on the DynamoDB peer's items:
  - test_lost_before_saved (known defect 8): the override's fsync is stalled;
    meanwhile an operator writes the lease items with a higher epoch, so the
    leader steps down before its save finishes: the answer is 503 ("stopped
    leading before the change was saved"), never 200; the peer's #control
    items do not hold the override;
  (drills: test_ha_held_drill.py);
  - test_blocked_deadline_and_sigterm (defects 9 and 12): an operator's
    #control items with an epoch above every term refuse every write of the
    state: an override is answered 503 "not confirmed on a majority ... within
    lease_ms" (10 s here), not held until the client gives up; then a freeze is
    held, regiond gets SIGTERM: the client gets 503 "regiond is stopping"
    before it exits, and it exits 0 (no leak under ASan)."""
import json
import threading
import time
import urllib.error
import urllib.request

from harness import (TEST_KEY, Daemon, DdbPeer, Nginx, Route53Peer, check, check_eq, free_port,
                     run_tests, wait_for, weighted_zone)
import lease_kit
from lease_kit import REGIONS as LEASE_REGIONS, TABLE, lease
from state_kit import fsync_stalled
from test_ha import IPS, KEYS, NAME, REGIONS, TOKENS, TOKS, Cluster
from test_ha_state import control_items, majority, put_by_hand

LEASE_MS = 10000          # the hold's deadline is lease_ms: long enough to act before it on a busy machine
HOLD_S = LEASE_MS / 1000
FIRST_S = (2 * LEASE_MS + 4 * lease_kit.RENEW_MS) / 1000 + 10   # empty tables: lease_ms, a split vote at worst
STALL_S = 5               # each fsync (a state write makes two: the file and its directory)
WAIT_S = 20


class Held(Cluster):
    """test_ha's cluster with ONE instance (ctl-1) and lease_ms LEASE_MS: nobody but the test's actors
    can take the lease from it."""

    def __init__(self):
        self.ports = [free_port() for _ in REGIONS]
        self.ngx = Nginx(self.ports)
        self.r53 = Route53Peer(weighted_zone(NAME, {r: (ip, 100) for r, ip in zip(REGIONS, IPS)}),
                               creds=[TEST_KEY] + list(KEYS.values()))
        self.ddb = DdbPeer(LEASE_REGIONS, table=None, heartbeat_table=None, creds=[TEST_KEY] + list(KEYS.values()))
        for r in LEASE_REGIONS:
            self.ddb.aws(r, "create-table", "--table-name", TABLE, "--billing-mode", "PAY_PER_REQUEST",
                         "--key-schema", "AttributeName=name,KeyType=HASH",
                         "--attribute-definitions", "AttributeName=name,AttributeType=S")
        self.ds = [self.start(1)]

    def start(self, i):
        eps = {f"dynamodb.{r}": self.ddb.url(r) for r in LEASE_REGIONS}
        eps["route53"] = self.r53.url
        cfg = lease_kit.config(i, self.ddb, endpoints=eps, lease_ms=LEASE_MS)
        cfg["controller"].update({"token_file": TOKENS, "log_level": "info"})
        cfg["probe_defaults"] = {"interval_ms": 200, "timeout_ms": 150, "rise": 2, "fall": 2}
        cfg["route53"] = {"hosted_zone_id": self.r53.zone_id, "record_name": NAME, "record_type": "A", "ttl": 60,
                          "reconcile_s": 5}
        cfg["decision"] = {"hold_down_s": 1, "settle_ms": 200, "max_changes": 0}
        cfg["regions"] = [{"name": r, "api": [{"url": f"http://127.0.0.1:{p}/health"}],
                           "route53": {"value": ip, "weight": 100}} for r, p, ip in zip(REGIONS, self.ports, IPS)]
        d = Daemon(cfg, env={"AWS_ACCESS_KEY_ID": KEYS[i]["access_key"],
                             "AWS_SECRET_ACCESS_KEY": KEYS[i]["secret_key"],
                             "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent", "AWS_CONFIG_FILE": "/nonexistent"})
        d.iid, d.cfg, d.key = f"ctl-{i}", cfg, KEYS[i]["access_key"]
        return d

    def leader(self):
        """ctl-1 once it leads and its state (its epoch) is on a majority of the #control items."""
        a = self.ds[0]
        wait_for(lambda: (lease(a) or {}).get("leading"), FIRST_S, f"{a.iid} leads")
        ea = lease(a)["epoch"]
        wait_for(lambda: majority(control_items(self), lambda it: it["epoch"] == ea), WAIT_S,
                 f"{a.iid}'s state (epoch {ea}) on a majority of the #control items")
        return a, ea

    def take_lease_by_hand(self, epoch):
        """An operator writes every lease item with a higher epoch and a long lease_ms (botocore in-process,
        what the aws CLI runs on, a tenth of its start-up time: the step-down must come well inside the
        test's windows): the leader's renewals fail, it steps down and does not take them back.  Returns
        the seconds it took."""
        import boto3
        t0 = time.monotonic()
        item = {"name": {"S": lease_kit.NAME}, "owner": {"S": "an operator"}, "rvn": {"S": "written-by-hand"},
                "epoch": {"N": str(epoch)}, "lease_ms": {"N": "600000"}}
        for r in LEASE_REGIONS:
            boto3.session.Session().client(
                "dynamodb", endpoint_url=self.ddb.url(r), region_name=r, aws_access_key_id=TEST_KEY["access_key"],
                aws_secret_access_key=TEST_KEY["secret_key"]).put_item(TableName=TABLE, Item=item)
        took = time.monotonic() - t0
        print(f"the operator's lease items (epoch {epoch}) written in {took:.2f} s")
        return took


class Ask:
    """A control request sent on its own thread; code/body once answered, error when the connection failed."""

    def __init__(self, d, method, path, body, timeout=60):
        self.code = self.body = self.error = None
        self.done_at = None
        self.sent_at = time.monotonic()
        data = json.dumps(body).encode() if body is not None else None
        self.req = urllib.request.Request(d.base + path, data=data, method=method,
                                          headers={"Authorization": f"Bearer {TOKS['ops']}",
                                                   "Content-Type": "application/json"})
        self.t = threading.Thread(target=self._run, args=(timeout,), daemon=True)
        self.t.start()

    def _run(self, timeout):
        try:
            with urllib.request.urlopen(self.req, timeout=timeout) as r:
                self.code, self.body = r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            self.code, self.body = e.code, json.loads(e.read() or b"null")
        except Exception as e:   # the connection closed or timed out: no answer
            self.error = repr(e)
        self.done_at = time.monotonic()

    def answered(self):
        return self.done_at is not None

    def wait(self, timeout, what):
        self.t.join(timeout)
        if self.t.is_alive():
            raise AssertionError(f"no answer within {timeout}s to {what}")
        return self


def no_pin(it, weight):
    ovs = (it["doc"] or {}).get("overrides", [])
    return not any(o.get("action") == "pin" and o.get("weight") == weight for o in ovs)


def test_lost_before_saved():
    c = Held()
    try:
        a, ea = c.leader()
        with fsync_stalled(a.proc.pid, STALL_S):
            ask = Ask(a, "POST", "/v1/overrides", {"region": REGIONS[0], "action": "pin", "weight": 30,
                                                  "duration_s": 3600, "note": "held 8"})
            c.take_lease_by_hand(ea + 50)
            wait_for(lambda: lease(a) and not lease(a)["leading"], 2 * STALL_S,
                     f"{a.iid} steps down (the operator's items)")
            lost_at = time.monotonic()
            if not check(not ask.answered(), f"the override's save is still stalled when {a.iid} stops leading "
                                             f"({lost_at - ask.sent_at:.1f} s after it was sent)"):
                raise AssertionError("the stall ended before the lease was lost: nothing to judge")
            ask.wait(4 * STALL_S + 10, "the override")
        print(f"override answered {ask.done_at - ask.sent_at:.1f} s after it was sent, "
              f"{ask.done_at - lost_at:.1f} s after the step-down: {ask.code} {ask.body or ask.error}")
        check_eq(ask.code, 503, "the override saved after the term ended is answered 503, not 200")
        err = (ask.body or {}).get("error", "")
        check(f"stopped leading (epoch {ea}) before the change was saved" in err and "pinning" in err,
              f"the 503 says it is applied here only and why ({err!r})")
        check(any(o.get("region") == REGIONS[0] and o.get("weight") == 30
                  for o in a.status()["failover"]["overrides"]),
              f"{a.iid} shows the override it applied (as the 503 says)")
        its = control_items(c)
        check(majority(its, lambda it: it["epoch"] == ea and no_pin(it, 30)) is not None,
              f"the peer's #control items (epoch {ea}) do not hold the pin: it was never replicated")
        owner, _ = lease_kit.majority_owner(lease_kit.items_fast(c.ddb))
        check_eq(owner, "an operator", "the peer's lease items are the operator's")
        check_eq(a.stop(), 0, f"{a.iid} stops cleanly")
    finally:
        c.stop()


def test_blocked_deadline_and_sigterm():
    c = Held()
    try:
        a, ea = c.leader()
        high = ea + 100
        put_by_hand(c, high, 1, json.dumps({"frozen": False, "decision_seq": 5}))
        # 9: every write of the state is refused (ConditionalCheckFailed): the answer has a deadline
        ask = Ask(a, "POST", "/v1/overrides", {"region": REGIONS[0], "action": "pin", "weight": 40,
                                              "duration_s": 3600, "note": "held 9"})
        ask.wait(HOLD_S + 20, "the override while the operator's items refuse every write")
        took = ask.done_at - ask.sent_at
        print(f"override answered after {took:.1f} s: {ask.code} {ask.body or ask.error}")
        check_eq(ask.code, 503, "the override whose state cannot reach a majority is answered 503")
        check(HOLD_S - 0.5 <= took <= HOLD_S + 10, f"... after the hold's deadline, lease_ms {HOLD_S} s "
                                                   f"({took:.1f} s)")
        err = (ask.body or {}).get("error", "")
        check(f"not confirmed on a majority of the lease tables within {LEASE_MS} ms" in err
              and "newer state" in err, f"the 503 names the deadline and the tables' refusal ({err!r})")
        check((lease(a) or {}).get("leading"), f"{a.iid} still leads (the lease items are its own)")
        check(majority(control_items(c), lambda it: it["epoch"] == high) is not None,
              "the peer's #control items are still the operator's: the pin is on no majority")
        # 12: a held answer at SIGTERM is answered before regiond exits
        ask = Ask(a, "POST", "/v1/freeze", {"note": "held 12"})
        wait_for(lambda: a.status()["failover"]["frozen"], WAIT_S, f"{a.iid} applied the freeze (held)")
        held_for = time.monotonic() - ask.sent_at
        if not check(not ask.answered() and held_for < HOLD_S - 2,
                     f"the freeze's answer is held when SIGTERM comes ({held_for:.1f} s, deadline {HOLD_S} s)"):
            raise AssertionError("the freeze was answered before SIGTERM: nothing to judge")
        rc = a.stop(timeout=15)
        ask.wait(10, "the freeze held at SIGTERM")
        print(f"freeze at SIGTERM: {ask.code} {ask.body or ask.error}")
        check_eq(ask.code, 503, "the freeze held at SIGTERM is answered 503 before regiond exits")
        err = (ask.body or {}).get("error", "")
        check("regiond is stopping before the change was confirmed on a majority" in err and "frozen" in err,
              f"the 503 says regiond is stopping ({err!r})")
        check_eq(rc, 0, f"{a.iid} exits 0 (under ASan: nothing leaked)")
        check(majority(control_items(c), lambda it: it["epoch"] == high) is not None,
              "the peer's #control items are still the operator's: the freeze is on no majority")
    finally:
        c.stop()


if __name__ == "__main__":
    run_tests([test_lost_before_saved, test_blocked_deadline_and_sigterm])
