"""`regiond --print-iam-policy` and the cluster lease (issue 17, item 5),
judged on what the lease code really sends, not on a list written by hand:
two instances share three lease tables (one leads, renews and at SIGTERM
releases; the other reads, then takes over); every request either instance
signed, as the DynamoDB peer logged it (operation, region, TableName), must
be allowed by the policy printed for that config, with a small IAM
evaluator (Allow statements; Action and Resource with IAM's * and ?
wildcards; a statement with a Condition allows nothing here).  And nothing
broader: every (action, resource) pair the policy grants was used in the
run, no grant has a wildcard, and a config without aws.account_id gets the
ACCOUNT_ID placeholder and a note."""
import fnmatch
import json
import subprocess
import time

from harness import REGIOND, TEST_KEY, DdbPeer, check, check_eq, run_tests, tmpdir, wait_for
import lease_kit
from lease_kit import TABLE, TAKEOVER_S, lease, sample_until

REGIONS = lease_kit.REGIONS
ACCOUNT = "123456789012"   # the DynamoDB peer's account (tests/peers/ddb_state.py)
KEYS = {i: {"access_key": f"AKIDIAMLEASE{i}", "secret_key": f"iam/Lease/Secret/Of/Instance/{i}/00000000000000"}
        for i in (1, 2)}
FIRST_S = (2 * lease_kit.LEASE_MS + 4 * lease_kit.RENEW_MS) / 1000 + 5


def start(i, peer):
    cfg = lease_kit.config(i, peer)
    cfg["aws"]["account_id"] = ACCOUNT
    d = lease_kit.instance(i, cfg, KEYS[i], dir=tmpdir("iam-lease-"))
    return d


def policy(cfg_path):
    r = subprocess.run([REGIOND, "--print-iam-policy", "--config", cfg_path], capture_output=True, text=True,
                       timeout=10)
    check_eq(r.returncode, 0, f"--print-iam-policy exits 0 ({r.stderr.strip()[:200]})")
    return json.loads(r.stdout), r.stderr


def as_list(v):
    return v if isinstance(v, list) else [v]


def grants(pol):
    """Every (action, resource) an unconditional Allow statement names, as written."""
    out = set()
    for s in pol["Statement"]:
        if s.get("Effect") == "Allow" and "Condition" not in s:
            out |= {(a, r) for a in as_list(s["Action"]) for r in as_list(s["Resource"])}
    return out


def allowed(pol, action, resource):
    """IAM's evaluation for one request, restricted to what this policy uses: an explicit Deny wins, else
    an Allow whose Action (case-insensitive) and Resource (case-sensitive) match, with * and ? wildcards."""
    def match(pats, v, ci):
        return any(fnmatch.fnmatchcase(v.lower() if ci else v, p.lower() if ci else p)
                   for p in as_list(pats))
    hit = [s for s in pol["Statement"] if "NotAction" not in s and "NotResource" not in s
           and match(s["Action"], action, True) and match(s["Resource"], resource, False)]
    if any(s.get("Effect") == "Deny" for s in hit):
        return False
    return any(s.get("Effect") == "Allow" and "Condition" not in s for s in hit)


def test_policy_covers_what_the_lease_sends():
    peer = DdbPeer(REGIONS, table=None, heartbeat_table=None, creds=[TEST_KEY] + list(KEYS.values()))
    ds = []
    try:
        lease_kit.create_tables(peer)
        ds = [start(i, peer) for i in (1, 2)]
        ls, _ = sample_until(ds, lambda ls: len(ls) == 1, FIRST_S, "a leader")
        a = ls[0]
        b = next(d for d in ds if d is not a)
        time.sleep(3 * lease_kit.RENEW_MS / 1000)   # renewals by the leader, reads by the follower
        check_eq(a.stop(), 0, f"{a.iid} stops (releasing its items)")
        sample_until([b], lambda ls: ls == [b], TAKEOVER_S, f"{b.iid} takes over")
        wait_for(lambda: lease(b)["leading"], 5, f"{b.iid} leads")
        check_eq(b.stop(), 0, f"{b.iid} stops")

        sent = [r for r in peer.call("GET", "/_peer/stats")["requests"] if r["key"] in (a.key, b.key)]
        used = {(f"dynamodb:{r['op']}", f"arn:aws:dynamodb:{r['region']}:{ACCOUNT}:table/{r.get('table')}")
                for r in sent}
        ops = {r["op"] for r in sent}
        check({"GetItem", "PutItem"} <= ops, f"the run exercised the lease's reads and writes ({sorted(ops)})")
        check({r["region"] for r in sent} == set(REGIONS), "and all three lease tables")
        pol, _ = policy(a.cfg_path)
        denied = sorted(u for u in used if not allowed(pol, *u))
        check_eq(denied, [], f"the printed policy allows every one of the {len(sent)} requests the lease sent "
                             f"({len(used)} distinct action/resource pairs)")
        g = grants(pol)
        check_eq(sorted(g - used), [], "the policy grants nothing the run did not use")
        check(not any("*" in a_ or "?" in a_ or "*" in r_ or "?" in r_ for a_, r_ in g),
              f"no wildcard in any grant ({sorted(g)})")
        check_eq(len(pol["Statement"]), 1, "one statement, for the lease tables (no route53 or dynamodb section)")

        # Without aws.account_id: the placeholder, and a note saying which key fills it.
        cfg = json.loads(open(a.cfg_path).read())
        del cfg["aws"]["account_id"]
        path = a.cfg_path + ".noacct.json"
        with open(path, "w") as f:
            json.dump(cfg, f)
        pol2, err = policy(path)
        res = sorted(r for s in pol2["Statement"] for r in as_list(s["Resource"]))
        check_eq(res, sorted(f"arn:aws:dynamodb:{r}:ACCOUNT_ID:table/{TABLE}" for r in REGIONS),
                 "without aws.account_id the ARNs carry ACCOUNT_ID")
        check("aws.account_id" in err, f"and stderr says to set aws.account_id ({err.strip()[:120]!r})")
    finally:
        for d in ds:
            if d.proc.poll() is None:
                d.stop()
        peer.stop()


if __name__ == "__main__":
    run_tests([test_policy_covers_what_the_lease_sends])
