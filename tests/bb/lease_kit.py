"""The cluster lease's black-box kit: a DynamoDB peer with one PLAIN (never
global) lease table per region, created by create_tables (botocore); regiond instances
that share those tables; the peer's items read back with the aws CLI
(get-item --consistent-read), the judge of every invariant; a sampler that
checks at every sample that at most one instance reports leading."""
import json
import os
import signal
import time
import urllib.request

from harness import DdbPeer, Daemon, TEST_KEY, check, forget, free_port, tmpdir, wait_for

REGIONS = ["us-east-1", "eu-west-1", "ap-southeast-2"]
TABLE, NAME = "regiond-lease", "regiond"
LEASE_MS, RENEW_MS, MARGIN_MS = 5000, 1000, 1000
ENV = {"AWS_ACCESS_KEY_ID": TEST_KEY["access_key"], "AWS_SECRET_ACCESS_KEY": TEST_KEY["secret_key"]}
# A takeover is due lease_ms after the new leader first saw the last rvn (at most one round after the
# old leader's last renewal) plus one round to write: lease + 2 renew; 3 s more for this shared
# 2-core machine (ASan builds included).
TAKEOVER_S = (LEASE_MS + 2 * RENEW_MS) / 1000 + 3


def create_tables(peer, regions=REGIONS, table=TABLE, key=TEST_KEY):
    """One PLAIN lease table (hash key "name", a String) in each region of the DynamoDB peer: CreateTable
    through the peer's strict front (SigV4 checked, the request judged by botocore's model), sent with
    botocore in-process, what the aws CLI runs on: the same request without the CLI's start-up (one to
    two seconds a call on this 2-core machine; three calls in every cluster's set-up).  This is set-up,
    not a judge: what the tests read back still goes through the aws CLI where they did."""
    import botocore.session
    s = botocore.session.get_session()
    for r in regions:
        c = s.create_client("dynamodb", endpoint_url=peer.url(r), region_name=r,
                            aws_access_key_id=key["access_key"], aws_secret_access_key=key["secret_key"])
        c.create_table(TableName=table, BillingMode="PAY_PER_REQUEST",
                       KeySchema=[{"AttributeName": "name", "KeyType": "HASH"}],
                       AttributeDefinitions=[{"AttributeName": "name", "AttributeType": "S"}])
        wait_for(lambda: c.describe_table(TableName=table)["Table"]["TableStatus"] == "ACTIVE", 10,
                 f"lease table {table} in {r} ACTIVE", interval=0.02)


def start_peer():
    peer = DdbPeer(REGIONS, table=None, heartbeat_table=None)
    create_tables(peer)
    return peer


def item(peer, region):
    """The lease item in region's table as the peer has it (aws CLI), flattened, or None."""
    out = peer.aws(region, "get-item", "--table-name", TABLE, "--consistent-read",
                   "--key", json.dumps({"name": {"S": NAME}}))
    it = (out or {}).get("Item")
    if not it:
        return None
    return {k: (v.get("S") if "S" in v else int(v["N"]) if "N" in v else v.get("BOOL")) for k, v in it.items()}


def items(peer):
    """item() of every region, the three aws CLI reads run side by side (each a consistent read of its
    own table: the same reads, in a third of the time the CLI's start-up took one after another)."""
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(len(REGIONS)) as ex:
        return dict(zip(REGIONS, ex.map(lambda r: item(peer, r), REGIONS)))


def items_fast(peer):
    """The same from the peer's own store (its control API: a consistent Scan of each region's dynalite),
    for checks repeated every second, where the aws CLI's start-up (about a second) is too slow."""
    out = {}
    for r in REGIONS:
        its = [i for i in peer.call("GET", f"/_peer/items?region={r}&table={TABLE}")["items"]
               if i.get("name", {}).get("S") == NAME]
        out[r] = ({k: (v.get("S") if "S" in v else int(v["N"]) if "N" in v else v.get("BOOL"))
                   for k, v in its[0].items()} if its else None)
    return out


def majority_owner(its):
    """(owner, epoch) named by a majority of the live (not released) items, or (None, 0)."""
    live = [i for i in its.values() if i and not i.get("released")]
    for i in live:
        same = [j for j in live if j.get("owner") == i.get("owner") and j.get("epoch") == i.get("epoch")]
        if len(same) * 2 > len(its):
            return i.get("owner"), i.get("epoch")
    return None, 0


def config(i, peer, endpoints=None, **cluster):
    cl = {"instance_id": f"ctl-{i}", "advertise_url": f"http://127.0.0.1:{9000 + i}",
          "lease_tables": [{"region": r, "table": TABLE} for r in REGIONS],
          "lease_ms": LEASE_MS, "renew_ms": RENEW_MS, "margin_ms": MARGIN_MS}
    cl.update(cluster)
    return {
        "controller": {"id": f"ctl-{i}", "listen": f"127.0.0.1:{free_port()}", "state_dir": tmpdir(),
                       "log_level": "debug"},
        "probe_defaults": {"interval_ms": 1000, "timeout_ms": 250, "rise": 2, "fall": 2},
        "aws": {"endpoints": endpoints or {f"dynamodb.{r}": peer.url(r) for r in REGIONS},
                "retry": {"base_ms": 50, "max_ms": 200, "max_attempts": 3}},
        "regions": [{"name": "r1", "api": [{"url": f"http://127.0.0.1:{free_port()}/health"}]}],
        "cluster": cl,
    }


def ha_config(i, ddb, r53, name, regions, ports, ips, settle_ms=200, **cluster):
    """Instance i's config as the HA tests run several: config()'s cluster section over ddb's lease
    tables (cluster: its keys overridden), the strict Route 53 peer r53 with name's weighted A records
    (reconcile 5 s), one region a port of nginx (regions, ports, ips), probes every 200 ms, hold-down
    1 s, settle_ms, no change limit."""
    eps = {f"dynamodb.{r}": ddb.url(r) for r in REGIONS}
    eps["route53"] = r53.url
    cfg = config(i, ddb, endpoints=eps, **cluster)
    cfg["probe_defaults"] = {"interval_ms": 200, "timeout_ms": 150, "rise": 2, "fall": 2}
    cfg["route53"] = {"hosted_zone_id": r53.zone_id, "record_name": name, "record_type": "A", "ttl": 60,
                      "reconcile_s": 5}
    cfg["decision"] = {"hold_down_s": 1, "settle_ms": settle_ms, "max_changes": 0}
    cfg["regions"] = [{"name": r, "api": [{"url": f"http://127.0.0.1:{p}/health"}],
                       "route53": {"value": ip, "weight": 100}} for r, p, ip in zip(regions, ports, ips)]
    return cfg


def key_env(key):
    """The environment of an instance that signs with its own access key (no shared AWS files)."""
    return {"AWS_ACCESS_KEY_ID": key["access_key"], "AWS_SECRET_ACCESS_KEY": key["secret_key"],
            "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent", "AWS_CONFIG_FILE": "/nonexistent"}


def instance(i, cfg, key, dir=None):
    """regiond on cfg as instance i (ctl-i), signing with key: d.iid, d.cfg, d.key set."""
    d = Daemon(cfg, dir=dir, env=key_env(key))
    d.iid, d.cfg, d.key = f"ctl-{i}", cfg, key["access_key"]
    return d


def stop_all(ds, *peers):
    """A test's clean-up (its finally): every instance of ds still running stopped, then each peer."""
    for d in ds:
        if d.proc.poll() is None:
            d.stop()
    for p in peers:
        p.stop()


FAKETIME_LIB = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1"


def start(i, peer, faketime=None, **kw):
    """Instance i (ctl-i); with libfaketime preloaded (FAKETIME=faketime) when given.  Preloaded
    directly, not through faketime(1), which forks and would get the test's signals itself."""
    cfg = config(i, peer, **kw)
    if faketime:
        if "FAKETIME_DONT_FAKE_MONOTONIC" in os.environ:   # the point is a fast monotonic clock
            raise AssertionError("FAKETIME_DONT_FAKE_MONOTONIC is set in the test's environment")
        # an ASan build refuses a preload ahead of its runtime unless told the order is fine
        asan = ":".join(x for x in (os.environ.get("ASAN_OPTIONS"), "verify_asan_link_order=0") if x)
        d = Daemon(cfg, env=dict(ENV, LD_PRELOAD=FAKETIME_LIB, FAKETIME=faketime, ASAN_OPTIONS=asan))
    else:
        d = Daemon(cfg, env=ENV)
    d.iid, d.cfg = f"ctl-{i}", cfg
    return d


def cut_off(d, off=True):
    """Reload d with its DynamoDB endpoints on a closed port (off) or back on the peer."""
    import copy
    cfg = copy.deepcopy(d.cfg)
    if off:
        dead = f"http://127.0.0.1:{free_port()}"
        cfg["aws"]["endpoints"] = {k: dead for k in cfg["aws"]["endpoints"]}
    d.reload(cfg)


def lease(d, timeout=2):
    """The instance's "lease" status, or None when it does not answer within timeout."""
    try:
        with urllib.request.urlopen(d.base + "/v1/status", timeout=timeout) as r:
            return json.loads(r.read())["lease"]
    except OSError:
        return None


def leaders(ds):
    """The instances that report leading right now (one status call each)."""
    return [d for d in ds if (lambda s: s and s["leading"])(lease(d))]


def sample_until(ds, pred, timeout, what, interval=0.1):
    """Sample every instance every interval until pred(leaders) is true; at every sample at most one
    instance may lead.  Returns (leaders, seconds waited)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        ls = leaders(ds)
        if len(ls) > 1:
            check(False, f"at most one leader at every sample ({[d.iid for d in ls]} lead at once)")
            raise AssertionError("double leadership")
        if pred(ls):
            return ls, time.monotonic() - t0
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def watch(ds, seconds, interval=0.1):
    """Sample for seconds; returns the set of leader ids seen; fails on two at once."""
    seen, t0 = [], time.monotonic()
    while time.monotonic() - t0 < seconds:
        ls = leaders(ds)
        if len(ls) > 1:
            check(False, f"at most one leader at every sample ({[d.iid for d in ls]} lead at once)")
            raise AssertionError("double leadership")
        seen += [d.iid for d in ls]
        time.sleep(interval)
    return seen


def kill9(d):
    d.proc.send_signal(signal.SIGKILL)
    d.proc.wait(timeout=10)
    forget(d.proc)
    d.log.close()
