"""Kit of the send-window tests (bb_test_ha_send_window, bb_test_ha_send_window_backup): two regiond
instances on three lease tables of the strict DynamoDB peer, each with its own access key; a retry policy
that outlasts a term by far; the send bound as the peers show it; cutting one instance off from the lease
tables (the DynamoDB peer drops only its PutItem and GetItem)."""
import json
import urllib.error
import urllib.request

from harness import TEST_KEY, DdbPeer, check, tmpdir, token_file
import lease_kit
from lease_kit import LEASE_MS, MARGIN_MS, TABLE, TAKEOVER_S, sample_until
from test_ha import epoch_of, weights_of  # noqa: F401 (the send-window tests take them from here)

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


def make_ddb():
    ddb = DdbPeer(REGIONS, creds=[TEST_KEY] + list(KEYS.values()), backup_ms=800, pitr="on")
    lease_kit.create_tables(ddb)
    return ddb


def start(i, ddb, ports, extra_eps=None, **sections):
    eps = {f"dynamodb.{r}": ddb.url(r) for r in REGIONS}
    eps.update(extra_eps or {})
    cfg = lease_kit.config(i, ddb, endpoints=eps)
    cfg["controller"].update({"token_file": TOKENS, "log_level": "info"})
    cfg["aws"]["retry"] = dict(RETRY)
    cfg["regions"] = [{"name": r, "api": [{"url": f"http://127.0.0.1:{p}/health"}]} for r, p in zip(REGIONS, ports)]
    cfg.update(sections)
    return lease_kit.instance(i, cfg, KEYS[i], dir=tmpdir("ha-window-"))


def start_r53(i, ddb, ports, r53):
    """Instance i with the route53 section (the three regions' weighted records) as in bb_test_ha."""
    ha = lease_kit.ha_config(i, ddb, r53, NAME, REGIONS, ports, IPS)
    return start(i, ddb, ports, {"route53": r53.url},
                 **{k: ha[k] for k in ("route53", "decision", "probe_defaults", "regions")})


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
