"""The quorum rule's black-box kit (issue 18 item 2): three regiond instances, each an observer
(cluster.quorum, k 2 of 3), on the lease kit's three plain lease tables, the strict Route 53 peer with
one weighted record per region, and nginx serving the regions.  Region r2 has ONE PORT PER INSTANCE
(ctl-i probes r2 at its own port), so a test fails r2 for one instance only by marking that port down
(nginx answers 503 there): the other instances still see r2 up.  Every drain is judged at the Route 53
peer (its records and its change log), never from regiond's own status."""
import copy
import time

from harness import DdbPeer, Daemon, Nginx, Route53Peer, TEST_KEY, check, free_port, wait_for, weighted_zone
import lease_kit
from lease_kit import ENV, REGIONS as LEASE_REGIONS, leaders, stop_all
from observer_kit import KEYS, views

NAME = "api.example.test."
REGIONS = ["r1", "r2", "r3"]
IPS = {"r1": "127.0.0.41", "r2": "127.0.0.42", "r3": "127.0.0.43"}
OBSERVERS = ["ctl-1", "ctl-2", "ctl-3"]
PUBLISH_MS = 1000
SILENT_MS = 3 * PUBLISH_MS
PROBE_MS, FALL = 200, 2
# the first leader on empty tables (lease_kit), the guard bump and every view read once, with margin
READY_S = (2 * lease_kit.LEASE_MS + 4 * lease_kit.RENEW_MS) / 1000 + 10


class Cluster:
    def __init__(self, k=2, token_file=None, alarms=None, r2_second=False, keys=False):
        self.r2_second = r2_second     # r2 gets a second target, r3's healthy port (a region partly failing)
        self.token_file = token_file   # the control endpoints (drills) need one
        self.alarms = alarms           # an "alarms" section (webhooks) for every instance
        self.p1, self.p3 = free_port(), free_port()
        self.r2 = {i: free_port() for i in (1, 2, 3)}   # r2 as instance ctl-i probes it
        self.ngx = Nginx([self.p1, self.p3] + list(self.r2.values()))
        self.keys = keys   # each instance signs with its own key (observer_kit.KEYS): faults for one only
        creds = [TEST_KEY] + (list(KEYS.values()) if keys else [])
        self.r53 = Route53Peer(weighted_zone(NAME, {r: (IPS[r], 100) for r in REGIONS}), creds=creds)
        self.ddb = DdbPeer(LEASE_REGIONS, table=None, heartbeat_table=None, creds=creds)
        lease_kit.create_tables(self.ddb)
        self.k = k
        self.ds = [self.start(i) for i in (1, 2, 3)]

    def start(self, i, cluster=None, state_dir=None):
        """Instance ctl-i started; cluster: members set in its cluster section (a rename's name and
        former_name); state_dir: an earlier run's (a restart that keeps its state), else a new one."""
        eps = {f"dynamodb.{r}": self.ddb.url(r) for r in LEASE_REGIONS}
        eps["route53"] = self.r53.url
        cfg = lease_kit.config(i, self.ddb, endpoints=eps,
                               quorum={"observers": OBSERVERS, "k": self.k, "publish_ms": PUBLISH_MS})
        cfg["controller"]["log_level"] = "info"
        if state_dir:
            cfg["controller"]["state_dir"] = state_dir
        cfg["cluster"].update(cluster or {})
        if self.token_file:
            cfg["controller"]["token_file"] = self.token_file
        if self.alarms:
            cfg["alarms"] = self.alarms
        cfg["probe_defaults"] = {"interval_ms": PROBE_MS, "timeout_ms": 150, "rise": 2, "fall": FALL}
        cfg["route53"] = {"hosted_zone_id": self.r53.zone_id, "record_name": NAME, "record_type": "A", "ttl": 60,
                          "reconcile_s": 5}
        cfg["decision"] = {"hold_down_s": 1, "settle_ms": 0, "max_changes": 0}
        ports = {"r1": self.p1, "r2": self.r2[i], "r3": self.p3}
        cfg["regions"] = [{"name": r, "api": [{"url": f"http://127.0.0.1:{ports[r]}/health"}],
                           "route53": {"value": IPS[r], "weight": 100}} for r in REGIONS]
        if self.r2_second:
            cfg["regions"][REGIONS.index("r2")]["api"].append({"url": f"http://127.0.0.1:{self.p3}/health"})
        key = KEYS[i] if self.keys else TEST_KEY
        d = Daemon(cfg, env=dict(ENV, AWS_ACCESS_KEY_ID=key["access_key"], AWS_SECRET_ACCESS_KEY=key["secret_key"],
                                 AWS_SHARED_CREDENTIALS_FILE="/nonexistent", AWS_CONFIG_FILE="/nonexistent"))
        d.iid, d.cfg, d.n, d.key = f"ctl-{i}", cfg, i, key["access_key"]
        return d

    def weights(self):
        return self.r53.weights(NAME)

    def drained_at(self, region, since_n=0):
        """The peer's monotonic time of the first change after since_n that set region's weight to 0."""
        for ch in self.r53.changes()[since_n:]:
            for r in ch["after"] or []:
                if r["Type"] == "A" and r["Name"] == NAME and r.get("SetIdentifier") == region \
                        and r["Weight"] == 0:
                    return ch["mono"]
        return None

    def stop(self):
        stop_all(self.ds, self.ddb, self.r53, self.ngx)


def quorum(d):
    try:
        return d.status()["observers"]["quorum"]
    except (OSError, AssertionError, KeyError, TypeError):
        return None


def qregion(d, region):
    q = quorum(d) or {}
    return next((r for r in q.get("regions", []) if r["region"] == region), None)


def own_state(d, region):
    try:
        return d.region(region)["state"]
    except (OSError, AssertionError, KeyError):
        return None


def alarms(d):
    try:
        return {a["key"]: a for a in d.status()["alarms"]["active"]}
    except (OSError, AssertionError, KeyError):
        return {}


def ready(c):
    """Waits until exactly one instance leads, has written its guard (a batch at the peer), and every
    instance's quorum is ok with every region up by quorum; returns the leader."""
    def ok():
        ls = leaders(c.ds)
        if len(ls) != 1 or not c.r53.changes():
            return None
        for d in c.ds:
            q = quorum(d)
            if not q or not q["ok"] or len(q["usable"]) != 3 \
                    or any(r["state"] != "up" for r in q["regions"]):
                return None
        return ls[0]
    return wait_for(ok, READY_S, "one leader, its guard written, every instance's quorum ok with every region up",
                    interval=0.2)


def hold(pred, seconds, interval=0.1):
    """pred() at every sample for seconds: the first sample where it is false, or None."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < seconds:
        v = pred()
        if v is not True:
            return v if v is not None else False
        time.sleep(interval)
    return None


def hold_counted(readers, iid, seconds):
    """For `seconds`, every reader's quorum counts observer iid usable and
    its view of iid is fresh: None, or False at the first sample where one
    does not (the readers' views of iid then printed)."""
    def counted():
        for d in readers:
            q, v = quorum(d), views(d).get(iid, {})
            if not q or iid not in q["usable"] or not v.get("fresh"):
                return False
        return True
    bad = hold(counted, seconds, interval=0.5)
    if bad is not None:
        print(f"     views of {iid}: {[views(d).get(iid) for d in readers]}", flush=True)
    return bad


__all__ = ["Cluster", "TEST_KEY"]


def rename_reload(d, new, former):
    """Reload d with cluster.name new and former_name former, and wait until it has taken it."""
    cfg = copy.deepcopy(d.cfg)
    cfg["cluster"].update(name=new, former_name=former)
    gen = d.status()["config"]["generation"]
    d.reload(cfg)
    wait_for(lambda: d.status()["config"]["generation"] == gen + 1, 10, f"{d.iid} taking the rename")
    check(d.status()["config"]["last_error"] is None, f"{d.iid}: the rename reload is taken")
    d.cfg = cfg
