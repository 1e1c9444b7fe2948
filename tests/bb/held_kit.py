"""The held operator answers' kit (issue 17, docs/ha.md "Replicated controller
state"): test_ha's cluster with ONE regiond instance (ctl-1) leading over
three lease tables on the strict DynamoDB peer (nginx serves three healthy
regions; the strict Route 53 peer), lease_ms 10 s (the hold's deadline);
the operator's actions on the lease tables (the aws CLI for the #control
items, botocore in-process for the lease items, where the step-down must
come well inside a window); a control request on its own thread (Ask); the
checks of a drill answered 503."""
import json
import threading
import time
import urllib.error
import urllib.request

from harness import TEST_KEY, check, check_eq, wait_for
import lease_kit
from lease_kit import REGIONS as LEASE_REGIONS, TABLE, lease
from test_ha import IPS, KEYS, NAME, REGIONS, TOKENS, TOKS, Cluster
from test_ha_state import control_items, majority

LEASE_MS = 10000          # the hold's deadline is lease_ms: long enough to act before it on a busy machine
HOLD_S = LEASE_MS / 1000
FIRST_S = (2 * LEASE_MS + 4 * lease_kit.RENEW_MS) / 1000 + 10   # empty tables: lease_ms, a split vote at worst
STALL_S = 5               # each fsync (a state write makes two: the file and its directory)
WAIT_S = 20


class Held(Cluster):
    """test_ha's cluster with ONE instance (ctl-1) and lease_ms LEASE_MS: nobody but the test's actors
    can take the lease from it."""

    def __init__(self):
        super().__init__(1)
        import boto3   # the operator's SDK clients, made now: their start-up is not in any timed window
        self.sdk = {r: boto3.session.Session().client(
            "dynamodb", endpoint_url=self.ddb.url(r), region_name=r, aws_access_key_id=TEST_KEY["access_key"],
            aws_secret_access_key=TEST_KEY["secret_key"]) for r in LEASE_REGIONS}

    def start(self, i):
        cfg = lease_kit.ha_config(i, self.ddb, self.r53, NAME, REGIONS, self.ports, IPS, lease_ms=LEASE_MS)
        cfg["controller"].update({"token_file": TOKENS, "log_level": "info"})
        return lease_kit.instance(i, cfg, KEYS[i])

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
        t0 = time.monotonic()
        item = {"name": {"S": lease_kit.NAME}, "owner": {"S": "an operator"}, "rvn": {"S": "written-by-hand"},
                "epoch": {"N": str(epoch)}, "lease_ms": {"N": "600000"}}
        for r in LEASE_REGIONS:
            self.sdk[r].put_item(TableName=TABLE, Item=item)
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


def check_drill_active(c, a, ea, region, ask):
    """The drill answered 503 is recorded active with its drain in effect; the peer's items lack it."""
    check_eq(ask.code, 503, "the drill whose drain is on no majority is answered 503, not 201")
    err = (ask.body or {}).get("error", "")
    check("started on this instance" in err and "applied on this instance (draining" in err,
          f"the 503 says the drill runs here and why ({err!r})")
    code, body = a.get("/v1/drills")
    drills = json.loads(body)
    drills = drills.get("drills", drills) if isinstance(drills, dict) else drills
    mine = [x for x in drills if x.get("region") == region]
    check(len(mine) == 1 and mine[0].get("state") == "active",
          f"the drill is recorded active, its drain being in effect ({[(x.get('id'), x.get('state')) for x in mine]})")
    ov = [o for o in a.status()["failover"]["overrides"] if o.get("region") == region]
    check(len(ov) == 1 and ov[0].get("action") == "drain" and str(ov[0].get("note", "")).startswith("drill "),
          f"the drill's drain is the override in effect ({ov})")
    if mine:
        code, body = a.get(f"/v1/drills/{mine[0]['id']}")
        text = body.decode(errors="replace")
        check(code == 200 and "refused" not in text and "unconfirmed" in text,
              "its timeline says unconfirmed, not refused")
    check(majority(control_items(c), lambda it: not any(
        o.get("region") == region for o in (it["doc"] or {}).get("overrides", []))) is not None,
          "no majority of the peer's #control items holds the drill's drain")
