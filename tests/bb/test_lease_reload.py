"""SIGHUP and the cluster section (docs/ha.md "Reload", docs/config.md
"cluster"), judged on the peers: the strict Route 53 peer's request and
change logs (each instance signs with its own key) and the DynamoDB peer's
lease items and request log.
  - added by a reload to an instance acting alone while another instance
    leads: from the reload on it makes no Route 53 call, even while a region
    fails and the leader drains it, and refuses control requests naming the
    leader; once the other stops, it leads and its first batch bumps the
    guard to its epoch (the one the lease items carry);
  - removed by a reload from the leader: it stops leading (lease_lost says
    why), leaves its items to expire (not released), sends nothing while a
    region comes back, refuses control requests saying a restart is needed;
    after a restart it acts alone again (the weight is restored);
  - changed: a new advertise_url and renew_ms (1000 -> 500) are taken at the next round,
    same term (the items carry the new address; the leader's PutItems come
    at the new pace); a new instance_id stops leading at once, the items
    held are left to expire (not released), and the lease is taken again
    under the new name with a higher epoch;
  - a bad cluster section, chosen and random (seed printed), is rejected
    naming the file, the key path and the expectation; the config and the
    lease go on unchanged (same epoch, items still renewed)."""
import copy
import json
import os
import random
import statistics
import time

from harness import (TEST_KEY, DdbPeer, Nginx, Route53Peer, check, check_eq, eventually, free_port,
                     run_tests, wait_for, weighted_zone)
import lease_kit
from lease_kit import (LEASE_MS, REGIONS as LEASE_REGIONS, RENEW_MS, TABLE, TAKEOVER_S, items_fast, lease,
                       majority_owner, sample_until)
from test_ha import IPS, KEYS, NAME, REGIONS, TOKENS, bumped, control, epoch_of, weights_of
from test_lease_events import Feed

FIRST_S = (2 * LEASE_MS + 4 * RENEW_MS) / 1000 + 5
ROUND_S = 3 * RENEW_MS / 1000 + 5
IN_FLIGHT_S = 1.0   # a Route 53 call handed to libcurl before the reload still reaches the peer


class Rig:
    """nginx for three regions, the Route 53 peer, the DynamoDB peer with three plain lease tables."""

    def __init__(self):
        self.ports = [free_port() for _ in REGIONS]
        self.ngx = Nginx(self.ports)
        self.r53 = Route53Peer(weighted_zone(NAME, {r: (ip, 100) for r, ip in zip(REGIONS, IPS)}),
                               creds=[TEST_KEY] + list(KEYS.values()))
        self.ddb = self._ddb()
        self.ds = []

    def _ddb(self):
        ddb = DdbPeer(LEASE_REGIONS, table=None, heartbeat_table=None, creds=[TEST_KEY] + list(KEYS.values()))
        lease_kit.create_tables(ddb)
        return ddb

    def config(self, i, cluster=True):
        cfg = lease_kit.ha_config(i, self.ddb, self.r53, NAME, REGIONS, self.ports, IPS)
        cfg["controller"].update({"token_file": TOKENS, "log_level": "info"})
        if not cluster:
            del cfg["cluster"]
        return cfg

    def start(self, i, cfg, dir=None):
        d = lease_kit.instance(i, cfg, KEYS[i], dir=dir)
        self.ds.append(d)
        return d

    def calls(self, key, since=0.0):
        return [r for r in self.r53.stats()["requests"] if r.get("key") == key and r["t"] >= since]

    def batches(self, key=None, since=0.0):
        return [c for c in self.r53.changes() if (key is None or c["key"] == key) and c["mono"] >= since]

    def stop(self):
        for d in self.ds:
            if d.proc.poll() is None:
                check_eq(d.stop(), 0, f"{d.iid} stops cleanly")
        self.ddb.stop()
        self.r53.stop()
        self.ngx.stop()


def reload_ok(d, cfg):
    """Reload d with cfg and wait until it took it (the generation moved, no error)."""
    gen = d.status()["config"]["generation"]
    d.reload(cfg)
    st = wait_for(lambda: (lambda s: s if s["config"]["generation"] == gen + 1 else None)(d.status()), 10,
                  f"{d.iid} taking the reload")
    check(st["config"]["last_error"] is None, f"{d.iid}: the reload is taken ({st['config']['last_error']})")
    d.cfg = cfg
    return st


def live_items(peer, owner, epoch):
    return {r for r, i in items_fast(peer).items() if i and i.get("owner") == owner and i.get("epoch") == epoch
            and not i.get("released")}


def added(rig, a, b, eb, feed):
    """The section added by a reload to a, acting alone while b leads: a follower from then on."""
    reload_ok(a, rig.config(1))
    t_cut = time.monotonic() + IN_FLIGHT_S
    st = wait_for(lambda: (lambda l: l if l and l["holder"] else None)(lease(a)), ROUND_S,
                  f"{a.iid} seeing the holder after the reload")
    check(not st["leading"] and st["holder"]["id"] == b.iid and st["holder"]["epoch"] == eb,
          f"{a.iid} follows {b.iid} (epoch {eb}) after the reload ({st['leading']}, {st['holder']})")
    feed.wait("lease_holder", lambda e: e["holder"] == b.iid and e["epoch"] == eb, ROUND_S,
              f"{a.iid}'s feed: lease_holder {b.iid}")
    rig.ngx.down(rig.ports[2])   # a decision both would act on; only the leader may
    wait_for(lambda: rig.r53.weights(NAME)[REGIONS[2]] == 0, 20, f"{REGIONS[2]} drained at the peer")
    wait_for(lambda: a.region(REGIONS[2])["state"] == "down", 10, f"{a.iid} seeing {REGIONS[2]} down")
    time.sleep(6)   # a reconcile (reconcile_s 5) and several decisions on the follower
    late = [(r["op"], round(r["t"] - t_cut, 2)) for r in rig.calls(a.key, since=t_cut)]
    check_eq(late, [], f"{a.iid} makes no Route 53 call once the reload added the cluster section")
    check(any(weights_of(x["after"]).get(REGIONS[2]) == 0 for x in rig.batches(b.key)),
          f"the leader {b.iid} drained {REGIONS[2]}")
    code, body = control(a, "POST", "/v1/freeze", {"note": "reload test"})
    check(code == 409 and (body or {}).get("leader", {}).get("id") == b.iid,
          f"a control request to {a.iid} is refused naming {b.iid} ({code} {body})")


def takeover(rig, a, b, eb, feed):
    """b stops (SIGTERM releases its items): the reloaded a leads, and its first batch is the guard bump."""
    t_stop = time.monotonic()
    check_eq(b.stop(), 0, f"{b.iid} stops cleanly")
    sample_until([a], lambda ls: ls == [a], TAKEOVER_S + 5, f"{a.iid} leading")
    ea = lease(a)["epoch"]
    check_eq(majority_owner(lease_kit.items(rig.ddb)), (a.iid, ea), "the peer's items name the new leader")
    check(ea > eb, f"its epoch is above the old term's ({ea} > {eb})")
    bumped(rig, a, ea)
    mine = rig.batches(a.key, since=t_stop)
    check_eq((epoch_of(mine[0]["after"]), weights_of(mine[0]["before"]) == weights_of(mine[0]["after"])),
             (ea, True), f"{a.iid}'s first batch after the reload is the guard bump to {ea}")
    feed.wait("lease_won", lambda e: e["epoch"] == ea, 5, f"{a.iid}'s lease_won for {ea}")
    # (a round that read b's releases half done wins a majority; the last table is taken a round later)
    wait_for(lambda: live_items(rig.ddb, a.iid, ea) == set(LEASE_REGIONS), ROUND_S + LEASE_MS / 1000,
             f"{a.iid} holding every table")
    return ea


def removed(rig, a, ea, feed):
    """The section removed by a reload from the leader a: the gates stay shut until a restart."""
    gone = rig.config(1, cluster=False)
    reload_ok(a, gone)
    t_cut = time.monotonic() + IN_FLIGHT_S
    check(a.status().get("lease") is None and not lease(a), f"{a.iid} has no lease after the reload")
    lost = feed.wait("lease_lost", lambda e: e["epoch"] == ea, 5, f"{a.iid}'s lease_lost for {ea}")
    check_eq(lost["why"], "a reload removed the cluster section", "lease_lost says why")
    check_eq(live_items(rig.ddb, a.iid, ea), set(LEASE_REGIONS),
             "the items it held are left to expire, not released")
    rig.ngx.down(rig.ports[2], False)   # the region comes back: the leader would restore it
    wait_for(lambda: a.region(REGIONS[2])["state"] == "up", 10, f"{a.iid} seeing {REGIONS[2]} up")
    time.sleep(6)
    late = [(r["op"], round(r["t"] - t_cut, 2)) for r in rig.calls(a.key, since=t_cut)]
    check_eq(late, [], f"{a.iid} makes no Route 53 call once the reload removed the cluster section")
    check_eq(rig.r53.weights(NAME)[REGIONS[2]], 0, "the drained record stays as it was")
    code, body = control(a, "POST", "/v1/freeze", {"note": "reload test"})
    check(code == 409 and "removed the cluster section" in (body or {}).get("error", "")
          and "restart" in body["error"] and body.get("leader") is None,
          f"a control request is refused saying a restart is needed ({code} {body})")
    restarted(rig, a, gone)


def restarted(rig, a, gone):
    """After a restart without the section, a acts alone again."""
    check_eq(a.stop(), 0, f"{a.iid} stops cleanly")
    t_restart = time.monotonic()
    a2 = rig.start(1, gone, dir=a.dir)
    wait_for(lambda: rig.calls(a2.key, since=t_restart), 15, f"{a2.iid} reading Route 53 after the restart")
    rig.ngx.down(rig.ports[1])   # (the record it did not set itself is drift to it: a new change instead)
    if not eventually(lambda: any(weights_of(x["after"]).get(REGIONS[1]) == 0
                                  for x in rig.batches(a2.key, since=t_restart)), 20,
                      f"after a restart it acts alone again ({a2.iid}, restarted without a cluster section, "
                      f"drained {REGIONS[1]} at Route 53)"):
        print("\n".join(a2.read_log().splitlines()[-40:]))


def test_add_then_remove():
    rig = Rig()
    try:
        # ctl-2 leads alone (a cluster of one instance so far)
        b = rig.start(2, rig.config(2))
        sample_until([b], lambda ls: ls == [b], FIRST_S, f"{b.iid} leading")
        eb = lease(b)["epoch"]
        bumped(rig, b, eb)
        # ctl-1 starts as a single controller: it acts on Route 53
        a = rig.start(1, rig.config(1, cluster=False))
        wait_for(lambda: len(rig.calls(a.key)) >= 1, 15, f"{a.iid}, acting alone, reading Route 53")
        check(a.status().get("lease") is None, f"{a.iid} without a cluster section has no lease")
        feed = Feed(a)

        added(rig, a, b, eb, feed)
        ea = takeover(rig, a, b, eb, feed)
        removed(rig, a, ea, feed)
    finally:
        rig.stop()


# ---------------------------------------------------------------- changed and bad sections
def bad_sections(cfg, rng):
    """(what, cluster section, the key path the error must name): chosen, then random wrong values."""
    k = cfg["cluster"]

    def w(**kw):
        c = copy.deepcopy(k)
        c.update(kw)
        return c
    tabs = k["lease_tables"]
    out = [("two tables", w(lease_tables=tabs[:2]), "cluster.lease_tables"),
           ("a region twice", w(lease_tables=[tabs[0], dict(tabs[1], region=tabs[0]["region"]), tabs[2]]),
            "cluster.lease_tables[1].region"),
           ("renew_ms at a third of lease_ms", w(renew_ms=k["lease_ms"] // 3 + 1), "cluster.renew_ms"),
           ("margin_ms under a tenth", w(margin_ms=k["lease_ms"] // 10 - 1), "cluster.margin_ms"),
           ("an instance_id with a space", w(instance_id="ctl 1"), "cluster.instance_id"),
           ("an ftp advertise_url", w(advertise_url="ftp://127.0.0.1/"), "cluster.advertise_url"),
           ("a two-letter table", w(lease_tables=[dict(tabs[0], table="ab")] + tabs[1:]),
            "cluster.lease_tables[0].table"),
           ("not an object", [k], "cluster")]
    junk = [lambda: rng.randint(-10**12, 10**12), lambda: rng.random() * 1e6, lambda: rng.choice([True, False]),
            lambda: [rng.randint(0, 9)], lambda: {"x": rng.randint(0, 9)},
            lambda: "".join(chr(rng.randint(1, 0x7e)) for _ in range(rng.randint(0, 300))) + "\x01"]
    for _ in range(8):
        key = rng.choice(["instance_id", "advertise_url", "name", "lease_ms", "renew_ms", "margin_ms",
                          "lease_tables"])
        for _ in range(100):
            v = rng.choice(junk)()
            ints = key.endswith("_ms")
            if ints and isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 600000:
                continue   # could be in range: not surely wrong
            if not ints and key != "lease_tables" and isinstance(v, str) and "\x01" not in v:
                continue
            break
        out.append((f"random {key} = {json.dumps(v)[:40]}", w(**{key: v}), f"cluster.{key}"))
    return out


def check_rejected(d, cfg, what, path, gen, fails):
    d.reload(cfg)
    st = wait_for(lambda: (lambda s: s if s["config"]["reloads_failed"] == fails + 1 else None)(d.status()), 10,
                  f"the reload with {what} rejected")
    err = st["config"]["last_error"] or ""
    named = err.startswith(f"{d.cfg_path}: {path}") and ": expected " in err[len(d.cfg_path) + len(path):]
    check(named and st["config"]["generation"] == gen,
          f"{what}: rejected naming the file, {path} and the expectation, the old config kept ({err[:160]!r})")
    return err


def new_pace(a, peer, feed, e):
    """A new advertise_url and renew_ms: taken at the next round, same term."""
    t_before = time.monotonic()
    time.sleep(6)
    cfg = copy.deepcopy(a.cfg)
    cfg["cluster"].update(advertise_url="http://127.0.0.1:9555/regiond", renew_ms=500)
    reload_ok(a, cfg)
    t_reload = time.monotonic()
    eventually(lambda: all(i and i.get("advertise") == "http://127.0.0.1:9555/regiond"
                           for i in items_fast(peer).values()), ROUND_S, "the peer's items carry the new advertise_url")
    time.sleep(6)
    puts = [r["t"] for r in peer.call("GET", "/_peer/stats")["requests"]
            if r["op"] == "PutItem" and r["region"] == LEASE_REGIONS[0] and r["t"] >= t_before]
    gaps_before = [y - x for x, y in zip(puts, puts[1:]) if y < t_reload]
    gaps_after = [y - x for x, y in zip(puts, puts[1:]) if x > t_reload + 1]
    mb, ma = statistics.median(gaps_before), statistics.median(gaps_after)
    print(f"info the leader's PutItems to {LEASE_REGIONS[0]}: every {mb:.2f} s with renew_ms 1000, "
          f"every {ma:.2f} s with 500", flush=True)
    # medians: a round still running at the next tick skips it (a gap of 2 renew_ms now and then)
    check(mb > 0.9 and ma < 0.75, f"the leader renews at the new pace ({mb:.2f} s, then {ma:.2f} s)")
    st = lease(a)
    check(st["leading"] and st["epoch"] == e and not feed.of("lease_lost"),
          f"the same term goes on ({st['leading']}, epoch {st['epoch']}, lost {feed.of('lease_lost')})")


def bad_reloads(a, peer, feed, e):
    """Bad sections: rejected, named; the config and the lease go on."""
    seed = int(os.environ.get("SEED", random.randrange(10**9)))
    print(f"info random cluster sections from seed {seed} (SEED={seed} repeats them)", flush=True)
    s0 = a.status()["config"]
    gen, fails = s0["generation"], s0["reloads_failed"]
    rvn = {r: i["rvn"] for r, i in items_fast(peer).items()}
    for what, section, path in bad_sections(a.cfg, random.Random(seed)):
        bad = dict(a.cfg, cluster=section)
        err = check_rejected(a, bad, what, path, gen, fails)
        fails += 1
        feed.wait("config_error", lambda ev: ev["error"] == err, 5, f"a config_error event for {what}")
    a.write_config(a.cfg)   # the file back as it runs
    st = lease(a)
    check(st["leading"] and st["epoch"] == e, f"after the bad reloads {a.iid} leads the same term ({st['epoch']})")
    last = {}

    def renewed():   # (the bad reloads may all take less than one round: wait for the next renewals)
        last.update(items_fast(peer))
        return all(i and i["owner"] == a.iid and i["epoch"] == e and i["rvn"] != rvn[r]
                   and i["advertise"] == "http://127.0.0.1:9555/regiond" for r, i in last.items())
    if not eventually(renewed, ROUND_S,
                      "the peer's items are renewed after the bad reloads, same owner, epoch and (last good) address"):
        print(f"the peer's items: {last}", flush=True)
    check(not feed.of("lease_lost"), "no lease_lost through the bad reloads")


def new_id(a, peer, feed, e):
    """A new instance_id: stops leading at once, the items are left to expire, then taken again."""
    cfg = copy.deepcopy(a.cfg)
    cfg["cluster"]["instance_id"] = "ctl-1b"
    t0 = time.monotonic()
    reload_ok(a, cfg)
    wait_for(lambda: not lease(a)["leading"], 3, f"{a.iid} to stop leading")
    lost = feed.wait("lease_lost", lambda ev: ev["epoch"] == e, 5, "lease_lost")
    check_eq((lost["instance"], lost["why"]), (a.iid, "a reload changed the lease tables, name or instance_id"),
             "lease_lost names the old instance id and why")
    check_eq(live_items(peer, a.iid, e), set(LEASE_REGIONS), "the items held are left to expire, not released")
    sample_until([a], lambda ls: ls == [a], LEASE_MS / 1000 + TAKEOVER_S + 5, "leading again under the new id")
    took = time.monotonic() - t0
    st = lease(a)
    check(st["instance_id"] == "ctl-1b" and st["epoch"] > e and took >= LEASE_MS / 1000,
          f"taken again as ctl-1b with a higher epoch, after the items expired ({st['epoch']} > {e}, {took:.1f} s)")
    check_eq(majority_owner(items_fast(peer)), ("ctl-1b", st["epoch"]), "the peer's items name ctl-1b")
    feed.wait("lease_won", lambda ev: ev["instance"] == "ctl-1b" and ev["epoch"] == st["epoch"], 5,
              "lease_won for ctl-1b")


def test_change_and_bad():
    peer = lease_kit.start_peer()
    a = lease_kit.start(1, peer)
    try:
        sample_until([a], lambda ls: ls == [a], FIRST_S, f"{a.iid} leading")
        e = lease(a)["epoch"]
        feed = Feed(a)
        wait_for(lambda: live_items(peer, a.iid, e) == set(LEASE_REGIONS), ROUND_S, f"{a.iid} holding every table")

        new_pace(a, peer, feed, e)
        bad_reloads(a, peer, feed, e)
        new_id(a, peer, feed, e)
        feed.close()
    finally:
        if a.proc.poll() is None:
            check_eq(a.stop(), 0, f"{a.iid} stops cleanly")
        peer.stop()


if __name__ == "__main__":
    run_tests([test_add_then_remove, test_change_and_bad])
