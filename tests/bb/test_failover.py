"""Route 53 failover end to end: nginx regions, the strict Route 53 peer, the
aws CLI as the independent reader, DNS answers checked at the peer's name
server.  A broken region is drained by one batch, followed to INSYNC and seen
gone in DNS; it comes back after rise + hold-down; the safety rules hold."""
import json
import os
import subprocess
import time

from dns_kit import LaggingNS, absent_run, seen_within
from harness import (REGIOND, TEST_KEY, Daemon, Nginx, Route53Peer, check, check_eq, free_port, run_tests,
                     tmpdir, token_file, wait_for, weighted_zone)

NAME = "api.example.test."
TOKENS, _ = token_file()
os.environ["REGIOND_TOKEN_FILE"] = TOKENS   # regionctl's control commands use it
REGIONS = ["us-east-1", "eu-west-1", "ap-southeast-2"]
IPS = ["127.0.0.11", "127.0.0.12", "127.0.0.13"]
LAG_S = 3.0   # how long the lagging name server of the CNAME and alias tests lags behind the zone


def setup(decision=None, interval=300, fall=2, rise=2, peer=None, extra_ns=(), **kw):
    ports = [free_port() for _ in REGIONS]
    ngx = Nginx(ports)
    if peer is None:
        peer = Route53Peer(weighted_zone(NAME, {r: (ip, 100) for r, ip in zip(REGIONS, IPS)}), pending_ms=500)
    regions = [{"name": r, "api": [{"url": f"http://127.0.0.1:{p}/health"}],
                "route53": {"value": ip, "weight": 100}} for r, p, ip in zip(REGIONS, ports, IPS)]
    cfg = {
        "controller": {"id": "ctl-test", "listen": f"127.0.0.1:{free_port()}", "state_dir": tmpdir(),
                       "log_level": "debug", "token_file": TOKENS},
        "probe_defaults": {"interval_ms": interval, "timeout_ms": 250, "rise": rise, "fall": fall},
        "aws": {"endpoints": {"route53": peer.url}, "retry": {"base_ms": 50, "max_ms": 1000}},
        "route53": {"hosted_zone_id": peer.zone_id, "record_name": NAME, "record_type": "A", "ttl": 60,
                    "name_servers": [f"127.0.0.1:{peer.dns_port}"] + list(extra_ns),
                    "dns_check": {"consecutive": 8, "interval_ms": 50, "timeout_s": 20}},
        "decision": dict({"hold_down_s": 3, "settle_ms": 400}, **(decision or {})),
        "regions": regions,
    }
    cfg.update(kw)
    env = {"AWS_ACCESS_KEY_ID": TEST_KEY["access_key"], "AWS_SECRET_ACCESS_KEY": TEST_KEY["secret_key"],
           "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent", "AWS_CONFIG_FILE": "/nonexistent"}
    d = Daemon(cfg, env=env)
    return ngx, ports, peer, cfg, d, env


def live(d):
    return {w["region"]: w["live"] for w in d.status()["failover"]["weights"]}


def wait_all_up(d):
    for r in REGIONS:
        d.wait_target(r, "up")
    wait_for(lambda: all(v == 100 for v in live(d).values()), 10, "live weights read")


def visible_change(d, first=None):
    """regiond's last change once its DNS check has a result (and, with
    FIRST, once it is another change than FIRST)."""
    c = d.status()["failover"]["last_change"]
    return c if c and c.get("dns") and c["change_id"] != first else None


def test_drain_and_restore():
    """Drain and restore, with a second name server of the zone that lags
    LAG_S behind the first: regiond may call the drain visible only once
    neither server answers the drained value any more -- checked by asking
    both servers ourselves the moment regiond says so."""
    lag_s = 6.0
    peer = Route53Peer(weighted_zone(NAME, {r: (ip, 100) for r, ip in zip(REGIONS, IPS)}), pending_ms=500)
    stale = LaggingNS(NAME, IPS, peer.dns_port)
    ngx, ports, peer, cfg, d, env = setup(peer=peer, extra_ns=[f"127.0.0.1:{stale.port}"])
    wait_all_up(d)
    check_eq(len(peer.changes()), 0, "no change while every region is healthy")

    ngx.down(ports[1])
    t0 = time.monotonic()
    wait_for(lambda: len(peer.changes()) >= 1, 10, "a change batch at the peer")
    caught_up = stale.catch_up(lag_s)
    took = time.monotonic() - t0
    budget = cfg["probe_defaults"]["fall"] * cfg["probe_defaults"]["interval_ms"] / 1000 + 1
    # (the +1 s holds decision.settle_ms, 400 ms here)
    check(took <= budget + 0.3, f"batch within fall x interval + 1 s ({took:.2f} s, budget {budget:.1f} s)")
    ch = peer.changes()[0]
    check("ctl-test" in ch["comment"] and "decision" in ch["comment"], f"batch comment names controller and decision: {ch['comment']}")
    check_eq(peer.weights(NAME), {"us-east-1": 100, "eu-west-1": 0, "ap-southeast-2": 100},
             "only the broken region drained")
    cli = peer.aws("list-resource-record-sets", "--hosted-zone-id", peer.zone_id)
    got = {r["SetIdentifier"]: r["Weight"] for r in cli["ResourceRecordSets"] if r.get("SetIdentifier")}
    check_eq(got, {"us-east-1": 100, "eu-west-1": 0, "ap-southeast-2": 100}, "aws CLI reads the drain back")
    st = wait_for(lambda: (lambda f: f if f["last_change"] and f["last_change"]["status"] == "INSYNC" else None)(
        d.status()["failover"]), 10, "change INSYNC")
    change_id = st["last_change"]["change_id"]
    cli = peer.aws("get-change", "--id", change_id.split("/")[-1])
    check_eq(cli["ChangeInfo"]["Status"], "INSYNC", "aws CLI: the change is INSYNC")
    st = wait_for(lambda: visible_change(d), 25, "regiond's DNS check result", interval=0.03)
    said = time.monotonic()
    # The moment regiond says "visible", ask both name servers ourselves.
    bad = absent_run([peer.dns_port, stale.port], NAME, IPS[1], 8)
    check(st.get("visible_after_ms") is not None and not bad,
          f"DNS check sees the drain: {IPS[1]} absent from 8 consecutive answers of each name server when "
          f"regiond says {st['dns']!r} (answers holding it: {bad[:3]})")
    check(said >= caught_up, f"not called visible while the lagging name server still answered "
                             f"{IPS[1]} ({caught_up - said:+.2f} s)")
    check(stale.queries >= 8, f"regiond asked the lagging name server too ({stale.queries} queries)")

    ngx.down(ports[1], False)
    wait_for(lambda: peer.weights(NAME)["eu-west-1"] == 100, 15, "eu-west-1 restored")
    st = wait_for(lambda: visible_change(d, st["change_id"]), 25, "the restore's DNS check result")
    check(st.get("visible_after_ms") is not None and seen_within([peer.dns_port, stale.port], NAME, IPS[1], 60),
          f"the restored {IPS[1]} is answered by both name servers when regiond says {st['dns']!r}")
    chs = peer.changes()
    check_eq(len(chs), 2, "one batch to drain, one to restore")
    decisions = d.get("/v1/decisions")[1]
    dec = json.loads(decisions)
    check(any(x["rule"] == "health" for x in dec), "decisions recorded with their rule")
    check(any("eu-west-1" in x["reason"] for x in dec), "decision reasons name the region")
    events = d.read_log()
    check("event=route53_change_insync" in events and "event=route53_change_visible" in events,
          "INSYNC and DNS-visible events emitted")
    check_eq(d.stop(), 0, "clean exit")
    stale.close()
    peer.stop()
    ngx.stop()
    check(TEST_KEY["secret_key"] not in events, "secret key absent from the log")
    check_eq(d.stop(), 0, "clean exit")
    peer.stop()
    ngx.stop()


def test_fail_open_and_min_healthy():
    ngx, ports, peer, cfg, d, env = setup(decision={"hold_down_s": 1})
    wait_all_up(d)
    for p in ports:
        ngx.down(p)
    for r in REGIONS:
        d.wait_target(r, "down")
    st = wait_for(lambda: (lambda f: f if f["alarm"] else None)(d.status()["failover"]), 5, "fail-open alarm")
    check_eq(st["rule"], "fail_open", "rule fail_open")
    time.sleep(1.0)
    check_eq(len(peer.changes()), 0, "all regions down: nothing drained")
    check_eq(peer.weights(NAME), {r: 100 for r in REGIONS}, "weights untouched")
    check("event=alarm" in d.read_log(), "alarm event emitted")
    check_eq(d.stop(), 0, "clean exit")
    for p in ports:
        ngx.down(p, False)

    # min_healthy_regions 2: two regions down -> only one may be drained.
    d = Daemon(dict(cfg, decision={"hold_down_s": 1, "min_healthy_regions": 2, "settle_ms": 400},
                    controller=dict(cfg["controller"], state_dir=tmpdir())), env=env)
    wait_all_up(d)
    ngx.down(ports[1])
    ngx.down(ports[2])
    d.wait_target(REGIONS[1], "down")
    d.wait_target(REGIONS[2], "down")
    wait_for(lambda: len(peer.changes()) >= 1, 10, "a batch")
    time.sleep(1.5)
    w = peer.weights(NAME)
    check_eq(sorted(w.values()), [0, 100, 100], f"exactly one of the two down regions drained ({w})")
    check_eq(w["us-east-1"], 100, "the healthy region keeps serving")
    f = d.status()["failover"]
    check_eq(f["rule"], "min_healthy_regions", f"rule shown ({f['reason']})")
    check("min_healthy_regions" in json.dumps(json.loads(d.get("/v1/decisions")[1])),
          "decisions name the min_healthy_regions rule")
    check_eq(d.stop(), 0, "clean exit")
    peer.stop()
    ngx.stop()



def test_cname_and_iam_policy():
    """A CNAME record set: drained and checked in DNS the same way; and the
    IAM policy printed for this config is scoped to the zone and record."""
    ports = [free_port() for _ in REGIONS]
    ngx = Nginx(ports)
    targets = [f"{r}.origin.test" for r in REGIONS]
    zone = {"id": "Z0REGIONDCNAME", "name": "example.test.",
            "records": [{"Name": NAME, "Type": "CNAME", "SetIdentifier": r, "Weight": 100, "TTL": 60,
                         "ResourceRecords": [{"Value": t}]} for r, t in zip(REGIONS, targets)]}
    peer = Route53Peer(zone, pending_ms=300)
    # A second name server that still answers the drained target until
    # LAG_S after the change: regiond may call the drain visible only then.
    stale = LaggingNS(NAME, targets, peer.dns_port, qtype="CNAME")
    cfg = {
        "controller": {"id": "ctl-cname", "listen": f"127.0.0.1:{free_port()}", "state_dir": tmpdir()},
        "probe_defaults": {"interval_ms": 300, "timeout_ms": 250, "rise": 2, "fall": 2},
        "aws": {"endpoints": {"route53": peer.url}, "account_id": "123456789012"},
        "route53": {"hosted_zone_id": peer.zone_id, "record_name": NAME, "record_type": "CNAME",
                    "name_servers": [f"127.0.0.1:{peer.dns_port}", f"127.0.0.1:{stale.port}"],
                    "dns_check": {"consecutive": 8, "interval_ms": 50, "timeout_s": 20}},
        "decision": {"settle_ms": 300, "hold_down_s": 0},
        "regions": [{"name": r, "api": [{"url": f"http://127.0.0.1:{p}/health"}], "route53": {"value": t}}
                    for r, p, t in zip(REGIONS, ports, targets)],
    }
    env = {"AWS_ACCESS_KEY_ID": TEST_KEY["access_key"], "AWS_SECRET_ACCESS_KEY": TEST_KEY["secret_key"]}
    d = Daemon(cfg, env=env)
    wait_all_up(d)
    ngx.down(ports[0])
    wait_for(lambda: len(peer.changes()) >= 1, 10, "the drain batch at the peer")
    caught_up = stale.catch_up(LAG_S)
    c = wait_for(lambda: visible_change(d), 20, "DNS check result", interval=0.03)
    said = time.monotonic()
    bad = absent_run([peer.dns_port, stale.port], NAME, targets[0], 8, qtype="CNAME")
    check(c.get("visible_after_ms") is not None and not bad,
          f"CNAME drain visible: {targets[0]} absent from 8 consecutive answers of each name server when "
          f"regiond says {c['dns']!r} ({bad[:3]})")
    check(said >= caught_up, f"CNAME drain not called visible while the lagging name server still answered "
                             f"{targets[0]} ({caught_up - said:+.2f} s)")
    check_eq(peer.weights(NAME)["us-east-1"], 0, "CNAME record drained")
    ngx.down(ports[0], False)
    c = wait_for(lambda: visible_change(d, c["change_id"]), 20, "restore checked in DNS", interval=0.03)
    check(c.get("visible_after_ms") is not None and
          seen_within([peer.dns_port], NAME, targets[0], 60, qtype="CNAME"),
          f"the restored region's CNAME target is answered by the name server when regiond says {c['dns']!r}")
    check_eq(d.stop(), 0, "clean exit")
    stale.close()

    r = subprocess.run([REGIOND, "--print-iam-policy", "--config", d.cfg_path], capture_output=True, text=True,
                       timeout=10)
    check_eq(r.returncode, 0, "--print-iam-policy")
    pol = json.loads(r.stdout)
    st = {s["Sid"]: s for s in pol["Statement"]}
    zone_arn = "arn:aws:route53:::hostedzone/Z0REGIONDCNAME"
    ch = [s for s in st.values() if s["Action"] == ["route53:ChangeResourceRecordSets"]]
    check(ch and ch[0]["Resource"] == zone_arn, "ChangeResourceRecordSets scoped to the hosted zone")
    cond = ch[0]["Condition"]["ForAllValues:StringEquals"] if ch else {}
    check_eq(cond.get("route53:ChangeResourceRecordSetsNormalizedRecordNames"),
             ["api.example.test", "_regiond-epoch.api.example.test"],
             "changes limited to the record name and its fencing guard")
    check_eq(cond.get("route53:ChangeResourceRecordSetsRecordTypes"), ["CNAME", "TXT"],
             "and to its type and the guard's TXT")
    ls = [s for s in st.values() if s["Action"] == ["route53:ListResourceRecordSets"]]
    check(ls and ls[0]["Resource"] == zone_arn, "ListResourceRecordSets scoped to the hosted zone")
    gc = [s for s in st.values() if s["Action"] == ["route53:GetChange"]]
    check(gc and gc[0]["Resource"] == "arn:aws:route53:::change/*", "GetChange on change/*")
    check(all(s["Resource"] != "*" for s in pol["Statement"]), "no statement on '*' (nothing needs it yet)")
    peer.stop()
    ngx.stop()


def test_alias_records():
    """Alias records: drained like the others, and checked in DNS against the
    addresses their targets resolve to (through regiond's own resolver)."""
    ports = [free_port() for _ in REGIONS]
    ngx = Nginx(ports)
    zid = "Z0REGIONDALIAS"
    targets = [f"{r}.origin.example.test." for r in REGIONS]
    recs = [{"Name": t, "Type": "A", "TTL": 60, "ResourceRecords": [{"Value": ip}]} for t, ip in zip(targets, IPS)]
    recs += [{"Name": NAME, "Type": "A", "SetIdentifier": r, "Weight": 100,
              "AliasTarget": {"HostedZoneId": zid, "DNSName": t, "EvaluateTargetHealth": False}}
             for r, t in zip(REGIONS, targets)]
    peer = Route53Peer({"id": zid, "name": "example.test.", "records": recs}, pending_ms=300)
    stale = LaggingNS(NAME, IPS, peer.dns_port)   # answers every alias target's address until caught up
    cfg = {
        "controller": {"id": "ctl-alias", "listen": f"127.0.0.1:{free_port()}", "state_dir": tmpdir()},
        "resolver": {"servers": [f"127.0.0.1:{peer.dns_port}"]},
        "probe_defaults": {"interval_ms": 300, "timeout_ms": 250, "rise": 2, "fall": 2},
        "aws": {"endpoints": {"route53": peer.url}},
        "route53": {"hosted_zone_id": zid, "record_name": NAME, "record_type": "A",
                    "name_servers": [f"127.0.0.1:{peer.dns_port}", f"127.0.0.1:{stale.port}"],
                    "dns_check": {"consecutive": 8, "interval_ms": 50, "timeout_s": 20}},
        "decision": {"settle_ms": 300, "hold_down_s": 0},
        "regions": [{"name": r, "api": [{"url": f"http://127.0.0.1:{p}/health"}],
                     "route53": {"alias": {"hosted_zone_id": zid, "dns_name": t.rstrip(".")}}}
                    for r, p, t in zip(REGIONS, ports, targets)],
    }
    env = {"AWS_ACCESS_KEY_ID": TEST_KEY["access_key"], "AWS_SECRET_ACCESS_KEY": TEST_KEY["secret_key"]}
    d = Daemon(cfg, env=env)
    wait_all_up(d)
    ngx.down(ports[1])
    wait_for(lambda: len(peer.changes()) >= 1, 10, "the drain batch at the peer")
    caught_up = stale.catch_up(LAG_S)
    c = wait_for(lambda: visible_change(d), 20, "DNS check result", interval=0.03)
    said = time.monotonic()
    bad = absent_run([peer.dns_port, stale.port], NAME, IPS[1], 8)
    check(c.get("visible_after_ms") is not None and not bad,
          f"alias drain visible: {IPS[1]} (the alias target's address) absent from 8 consecutive answers "
          f"of each name server when regiond says {c['dns']!r} ({bad[:3]})")
    check(said >= caught_up, f"alias drain not called visible while the lagging name server still answered "
                             f"{IPS[1]} ({caught_up - said:+.2f} s)")
    check_eq(peer.weights(NAME)["eu-west-1"], 0, "alias record drained")
    al = [r for r in peer.records() if r["Name"] == NAME and r.get("SetIdentifier") == "eu-west-1"][0]
    check_eq(al["AliasTarget"]["DNSName"], targets[1], "the alias target is kept")
    ngx.down(ports[1], False)
    c = wait_for(lambda: visible_change(d, c["change_id"]), 20, "restore checked in DNS", interval=0.03)
    check(c.get("visible_after_ms") is not None and seen_within([peer.dns_port], NAME, IPS[1], 60),
          f"alias restore visible: {IPS[1]} is answered by the name server when regiond says {c['dns']!r}")
    check_eq(d.stop(), 0, "clean exit")
    stale.close()
    peer.stop()
    ngx.stop()


if __name__ == "__main__":
    run_tests([test_drain_and_restore, test_fail_open_and_min_healthy, test_cname_and_iam_policy,
               test_alias_records])
