"""The observers' black-box kit (issue 18, first slice): three regiond instances on the lease kit's
three plain lease tables (tests/bb/lease_kit.py) with cluster.quorum on, two regions served by
nginx; the view items read back from the DynamoDB peer with the aws CLI (get-item
--consistent-read), the judge of what was published."""
import json

from harness import TEST_KEY, Daemon, DdbPeer, Nginx, check, free_port
from lease_kit import ENV, NAME, REGIONS, TABLE, config, create_tables, start_peer  # noqa: F401 (re-exported)

PUBLISH_MS = 1000
SILENT_MS = 3 * PUBLISH_MS   # views.h: silent after 3 publish_ms without a change of the view
OBSERVERS = ["ctl-1", "ctl-2", "ctl-3"]


def start_nginx():
    return Nginx([free_port(), free_port()])


# Each instance's own access key (start_peer_keys, start(key=True)): the DynamoDB peer can then fault
# one instance's requests only ("keys" of /_peer/inject).
KEYS = {i: {"access_key": f"AKIDOBSERVER{i}", "secret_key": f"observer/Secret/Of/Instance/{i}/0000000000000"}
        for i in (1, 2, 3)}


def start_peer_keys():
    """The DynamoDB peer with the lease tables, taking TEST_KEY and every instance's own key."""
    peer = DdbPeer(REGIONS, creds=[TEST_KEY] + list(KEYS.values()), table=None, heartbeat_table=None)
    create_tables(peer)
    return peer


def start(i, peer, ng, r2_url=None, observers=OBSERVERS, k=2, publish_ms=PUBLISH_MS, r1_url=None, key=False):
    """Instance ctl-i observing r1 and r2 on nginx; r1 at r1_url, r2 at r2_url instead when given; with its
    own access key KEYS[i] when key (the peer from start_peer_keys)."""
    cfg = config(i, peer, quorum={"observers": observers, "k": k, "publish_ms": publish_ms})
    p1, p2 = ng.ports
    cfg["regions"] = [{"name": "r1", "api": [{"url": r1_url or f"http://127.0.0.1:{p1}/health"}]},
                      {"name": "r2", "api": [{"url": r2_url or f"http://127.0.0.1:{p2}/health"}]}]
    env = dict(ENV)
    if key:
        env.update({"AWS_ACCESS_KEY_ID": KEYS[i]["access_key"], "AWS_SECRET_ACCESS_KEY": KEYS[i]["secret_key"],
                    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent", "AWS_CONFIG_FILE": "/nonexistent"})
    d = Daemon(cfg, env=env)
    d.iid, d.cfg, d.key = f"ctl-{i}", cfg, KEYS[i]["access_key"] if key else TEST_KEY["access_key"]
    return d


def observers(d):
    """d's "observers" status, or None when it does not answer."""
    try:
        return d.status()["observers"]
    except (OSError, AssertionError, KeyError):
        return None


def views(d):
    """{observer: its view as d shows it} ({} when d does not answer)."""
    o = observers(d)
    return {v["observer"]: v for v in o["views"]} if o else {}


def region_state(v, region):
    for r in (v or {}).get("regions", []):
        if r["region"] == region:
            return r["state"]
    return None


def view_item(peer, region, observer):
    """Observer's view item in region's lease table as the peer has it (aws CLI), flattened, with its
    doc parsed (None when the doc is not JSON); None when there is no item."""
    out = peer.aws(region, "get-item", "--table-name", TABLE, "--consistent-read",
                   "--key", json.dumps({"name": {"S": f"{NAME}#view#{observer}"}}))
    it = (out or {}).get("Item")
    if not it:
        return None
    flat = {k: (v.get("S") if "S" in v else v.get("N") if "N" in v else v) for k, v in it.items()}
    try:
        flat["doc"] = json.loads(flat.get("doc") or "")
    except ValueError:
        flat["doc"] = None
    return flat


def flat_item(it):
    flat = {k: (v.get("S") if "S" in v else v.get("N") if "N" in v else v) for k, v in it.items()}
    try:
        flat["doc"] = json.loads(flat.get("doc") or "")
    except (TypeError, ValueError):
        flat["doc"] = None
    return flat


def view_items_fast(peer, region, name=NAME):
    """{observer: its view item, flattened} in region's lease table, from the peer's own store (its
    control API: a consistent Scan of that region's dynalite), for checks repeated often; the items of
    cluster name `name` (the lease kit's by default)."""
    out, pre = {}, f"{name}#view#"
    for it in peer.call("GET", f"/_peer/items?region={region}&table={TABLE}")["items"]:
        n = it.get("name", {}).get("S", "")
        if n.startswith(pre):
            out[n[len(pre):]] = flat_item(it)
    return out


def alarms(d):
    try:
        return {a["key"]: a for a in d.status()["alarms"]["active"]}
    except (OSError, AssertionError, KeyError):
        return {}


def sdk(peer):
    """An operator's DynamoDB clients per lease region (boto3 in-process, what the aws CLI runs on, without
    its start-up of a second or more per call on a loaded machine)."""
    import boto3
    return {r: boto3.session.Session().client(
        "dynamodb", endpoint_url=peer.url(r), region_name=r, aws_access_key_id=TEST_KEY["access_key"],
        aws_secret_access_key=TEST_KEY["secret_key"]) for r in REGIONS}


def stop_checked(ds, ng, peer):
    """A test's clean-up (its finally): each instance stopped and checked to exit 0, then nginx and the peer."""
    for d in ds:
        check(d.stop() == 0, f"{d.iid} stopped cleanly")
    ng.stop()
    peer.stop()
