"""A new leader does not wait decision.settle_ms again for a failure its
probes saw before it won (docs/config.md, settle_ms; docs/ha.md, "What is
not guaranteed"): the settle counts from the region's health change on the
instance's own clock, not from its first decision.

Two regiond instances (lease 6 s, a round every 1.5 s), three regions on
nginx, the strict Route 53 and DynamoDB peers, settle_ms 12000 (longer than
a takeover).  A region fails; once the follower reports it down, kill -9 of
the leader (long before its own settle ends, so it drains nothing).  The
follower leads 4.5-7.5 s after the kill.  On the Route 53 peer's change log:
  - the new leader's bump, then its drain of the failed region (each signed
    with its own access key); the old leader sent no batch;
  - the drain lands no sooner than settle_ms after the region failed (the
    settle holds across the takeover, counted from the failure), and within
    settle_ms + 3 s of it (before: settle_ms after the new leader's first
    decision, at least 17 s after the failure)."""
import time

from harness import (TEST_KEY, DdbPeer, Nginx, Route53Peer, check, free_port, run_tests, wait_for,
                     weighted_zone)
import lease_kit
from lease_kit import REGIONS as LEASE_REGIONS, TABLE, kill9, lease, sample_until
from test_ha import epoch_of, weights_of

NAME = "api.example.test."
GUARD = "_regiond-epoch.api.example.test."
REGIONS = ["us-east-1", "eu-west-1", "ap-southeast-2"]
IPS = ["127.0.0.41", "127.0.0.42", "127.0.0.43"]
KEYS = {i: {"access_key": f"AKIDSETTLETAKEOVER{i}", "secret_key": f"settle/Takeover/Secret/{i}/000000000000000"}
        for i in (1, 2)}
TIMING = {"lease_ms": 6000, "renew_ms": 1500, "margin_ms": 1000, "follow_ms": 1000}
SETTLE_MS = 12000
SLACK_S = 3.0            # the judged read, the fresh read, the intent's fsync and the batch, loaded


def start(i, ports, r53, ddb):
    cfg = lease_kit.ha_config(i, ddb, r53, NAME, REGIONS, ports, IPS, settle_ms=SETTLE_MS, **TIMING)
    return lease_kit.instance(i, cfg, KEYS[i])


def test_new_leader_drains_without_settling_again():
    ports = [free_port() for _ in REGIONS]
    ngx = Nginx(ports)
    r53 = Route53Peer(weighted_zone(NAME, {r: (ip, 100) for r, ip in zip(REGIONS, IPS)}),
                      creds=[TEST_KEY] + list(KEYS.values()))
    ddb = DdbPeer(LEASE_REGIONS, table=None, heartbeat_table=None, creds=[TEST_KEY] + list(KEYS.values()))
    ds = []
    try:
        lease_kit.create_tables(ddb, LEASE_REGIONS)
        ds = [start(1, ports, r53, ddb), start(2, ports, r53, ddb)]
        (a,), _ = sample_until(ds, lambda ls: len(ls) == 1, 2 * 6 + 4 * 1.5 + 10, "one leader")
        b = ds[1] if a is ds[0] else ds[0]
        ea = lease(a)["epoch"]
        wait_for(lambda: any(epoch_of(c["after"]) == ea for c in r53.changes() if c["key"] == a.key), 20,
                 f"{a.iid}'s guard bump")
        wait_for(lambda: (lease(b) or {}).get("holder") and lease(b)["holder"]["id"] == a.iid, 10,
                 f"{b.iid} follows {a.iid}")
        n0 = len(r53.changes())
        t_fail = time.monotonic()
        ngx.down(ports[2])
        wait_for(lambda: b.region(REGIONS[2])["state"] == "down", 5, f"{b.iid} sees {REGIONS[2]} down")
        kill9(a)
        t_kill = time.monotonic()
        check(t_kill - t_fail < SETTLE_MS / 1000, f"{a.iid} killed before its own settle ended "
              f"({t_kill - t_fail:.2f} s after the failure)")
        sample_until([a, b], lambda ls: ls == [b], 6 + 3 * 1.5 + 5, f"{b.iid} leads")
        eb = lease(b)["epoch"]

        def batch(pred):
            return next((c for c in r53.changes()[n0:] if c["key"] == b.key and pred(c)), None)
        bump = wait_for(lambda: batch(lambda c: epoch_of(c["after"]) == eb), 15, f"{b.iid}'s bump")
        drain = wait_for(lambda: batch(lambda c: weights_of(c["after"]).get(REGIONS[2]) == 0), 15,
                         f"{b.iid}'s drain")
        print(f"failure -> kill {t_kill - t_fail:.2f} s, kill -> bump {bump['mono'] - t_kill:.2f} s, "
              f"bump -> drain {drain['mono'] - bump['mono']:.2f} s, failure -> drain {drain['mono'] - t_fail:.2f} s",
              flush=True)
        old = [c for c in r53.changes()[n0:] if c["key"] == a.key]
        check(not old, f"{a.iid} sent no batch after the failure ({len(old)})")
        check(batch(lambda c: c["seq"] < bump["seq"]) is None, f"{b.iid}'s first batch is its bump")
        check(drain["mono"] >= t_fail + SETTLE_MS / 1000,
              f"the drain waited settle_ms from the failure ({drain['mono'] - t_fail:.2f} s)")
        check(bump["mono"] < t_fail + SETTLE_MS / 1000,
              f"the new term began before the settle ended ({bump['mono'] - t_fail:.2f} s after the failure)")
        check(drain["mono"] <= t_fail + SETTLE_MS / 1000 + SLACK_S,
              f"the new leader did not settle again from its first decision: the drain landed "
              f"{drain['mono'] - t_fail:.2f} s after the failure (at most {SETTLE_MS / 1000} + {SLACK_S} s)")
    finally:
        lease_kit.stop_all(ds, ddb, r53, ngx)


if __name__ == "__main__":
    run_tests([test_new_leader_drains_without_settling_again])
