"""Failover drills end to end against the Route 53 peer: a drain drill goes
out as a real batch, reaches INSYNC and DNS, expires and restores; its report
has every step in order; a dry run changes nothing; a drill that breaks
min_healthy_regions is refused with the rule named; a restart mid-drill
resumes it and the report shows the gap; a "fail" drill runs through
detection and hysteresis like a real outage, and its end forgets the simulated
failures (the region unknown until real probes say up, in /v1/status and the
event feed; restored at the peer only after that, never drained again)."""
import json
import re
import subprocess
import time

from harness import REGIONCTL, Daemon, check, check_eq, events_ring, wait_for
from test_failover import NAME, setup, wait_all_up


def ctl(d, *args):
    return subprocess.run([REGIONCTL, "--api", d.base, *args], capture_output=True, text=True, timeout=15)


def report(d, did):
    return json.loads(d.get(f"/v1/drills/{did}")[1])


def offsets(rep):
    return {m["step"]: m["offset_s"] for m in rep["milestones"]}


def ring(d):
    """The event ring as [(id, type, data)], oldest first."""
    frames = re.findall(r"id: (\d+)\nevent: ([^\n]*)\ndata: ([^\n]*)\n\n", events_ring(d.port))
    return [(int(i), t, json.loads(x)) for i, t, x in frames]


def sample_end(d, did, region, timeout=25):
    """From the drill's last seconds until region is up again after the drill is over: each change of
    (region state, its target's reason) seen in /v1/status once GET /v1/drills/did said the drill was over
    (the drill read first, then the status)."""
    seen, t0 = [], time.monotonic()
    while time.monotonic() - t0 < timeout:
        code, body = d.get(f"/v1/drills/{did}")
        over = code == 200 and json.loads(body)["state"] != "active"
        r = d.region(region)
        now = (r["state"], r["targets"][0]["reason"])
        if over and (not seen or seen[-1] != now):
            seen.append(now)
        if over and now[0] == "up":
            return seen
        time.sleep(0.03)
    return seen


def restore_after_probes(d, peer, region, fid, n):
    """Checks, from outside, that a fail drill's end forgot its simulated failures (review F1 of 39):
    region's state in the event feed goes down -> unknown (the drill's failures no longer count) -> up
    (real probes), and the batch restoring it at the Route 53 peer was submitted only after real probes
    said up; none after it drains region again.  n: the peer's change count before the drill."""
    ev = ring(d)
    s0 = next((i for i, t, x in ev if t == "drill_start" and str(x.get("drill")) == str(fid)), None)
    states = [(i, x["from"], x["to"]) for i, t, x in ev if t == "region_state" and x["region"] == region
              and s0 is not None and i > s0]
    check_eq([(f, t) for _, f, t in states], [("up", "down"), ("down", "unknown"), ("unknown", "up")],
             f"{region}'s state in the event feed from the drill's start: down, then unknown at its end "
             f"(its simulated failures forgotten), then up on real probes")
    up_id = states[-1][0] if states and states[-1][2] == "up" else None
    sub = [(i, x) for i, t, x in ev if t == "route53_change_submitted" and s0 is not None and i > s0
           and x.get("weights", {}).get(region, "").endswith("-> 100")]
    check(len(sub) == 1 and up_id is not None and sub[0][0] > up_id,
          f"the restore of {region} was submitted after real probes said up (event ids: up {up_id}, "
          f"restore {[i for i, _ in sub]})")
    cid = sub[0][1]["change_id"].split("/")[-1] if sub else None
    chs = peer.changes()[n:]
    at = [k for k, ch in enumerate(chs) if ch["id"].split("/")[-1] == cid]
    check(len(at) == 1 and any(r.get("SetIdentifier") == region and r["Weight"] == 100
                               for r in chs[at[0]]["after"] or []),
          f"that batch ({cid}) is the one restoring {region} at the Route 53 peer")
    later = [ch["id"] for ch in chs[(at[0] + 1 if at else 0):] for r in ch["after"] or []
             if r.get("SetIdentifier") == region and r["Weight"] == 0]
    check_eq(later, [], f"no batch at the Route 53 peer drains {region} again after the restore")


def test_drills():
    ngx, ports, peer, cfg, d, env = setup(decision={"hold_down_s": 2, "min_healthy_regions": 2})
    wait_all_up(d)

    r = ctl(d, "drill", "start", "ap-southeast-2", "--for", "10s", "--dry-run")
    check_eq(r.returncode, 0, f"dry-run drill accepted ({r.stdout.strip()})")
    dry_id = r.stdout.split("drill id: ")[1].split()[0]
    rep = report(d, dry_id)
    check(rep["state"] == "dry-run" and "would apply decision" in rep["result"],
          f"dry run reports what would be done: {rep['result'][:120]}")
    time.sleep(1)
    check_eq(len(peer.changes()), 0, "a dry run changes nothing in Route 53")

    r = ctl(d, "drill", "start", "eu-west-1", "--for", "20s", "--note", "game day")
    check_eq(r.returncode, 0, f"drain drill started ({r.stdout.strip()})")
    did = r.stdout.split("drill id: ")[1].split()[0]
    cli = peer.aws("list-resource-record-sets", "--hosted-zone-id", peer.zone_id)
    wait_for(lambda: peer.weights(NAME)["eu-west-1"] == 0, 5, "drained")
    cli = peer.aws("list-resource-record-sets", "--hosted-zone-id", peer.zone_id)
    got = {x["SetIdentifier"]: x["Weight"] for x in cli["ResourceRecordSets"] if x.get("SetIdentifier")}
    check_eq(got["eu-west-1"], 0, "aws CLI sees the drill's drain")
    r = ctl(d, "drill", "start", "ap-southeast-2", "--for", "20s")
    check(r.returncode != 0 and "min_healthy_regions" in r.stderr, f"drill breaking min_healthy refused: {r.stderr.strip()}")
    dr = json.loads(d.get("/v1/drills")[1])
    check(any(x["id"] == int(did) and x["state"] == "active" and x["remaining_s"] > 0 for x in dr),
          "GET /v1/drills shows the active drill with its countdown")
    wait_for(lambda: offsets(report(d, did))["DNS-visible"] is not None, 15, "drain visible in DNS")

    # Restart mid-drill: it resumes and the report shows the gap.
    check_eq(d.stop(), 0, "daemon stopped mid-drill")
    time.sleep(1.5)
    d = Daemon(cfg, dir=d.dir, env=env)
    rep = report(d, did)
    check_eq(rep["state"], "active", "the drill resumes after the restart")
    check(any(e["type"] == "gap" for e in rep["timeline"]), "the report shows the gap")
    check_eq(peer.weights(NAME)["eu-west-1"], 0, "still drained after the restart")

    wait_for(lambda: report(d, did)["state"] == "done", 25, "the drill expires")
    wait_for(lambda: peer.weights(NAME)["eu-west-1"] == 100, 15, "expiry restores the weight")
    wait_for(lambda: offsets(report(d, did))["traffic restored (DNS-visible)"] is not None, 20, "restore visible")
    off = offsets(report(d, did))
    order = ["override applied", "decision", "batch submitted", "INSYNC", "DNS-visible", "drill ended",
             "restore batch submitted", "traffic restored (DNS-visible)"]
    vals = [off[k] for k in order]
    check(all(v is not None for v in vals) and vals == sorted(vals), f"milestones in order: {vals}")
    check(vals[2] < 3 and 19 <= vals[5] <= 23, f"plausible durations: submitted {vals[2]} s, ended {vals[5]} s")
    r = ctl(d, "drill", "report", did)
    check(r.returncode == 0 and "| batch submitted |" in r.stdout and "| INSYNC |" in r.stdout,
          "regionctl drill report renders the timeline")
    print(r.stdout[:3000])

    # A "fail" drill: detection and hysteresis run as for a real outage.
    n = len(peer.changes())
    r = ctl(d, "drill", "start", "us-east-1", "--fail", "--for", "6s")
    check_eq(r.returncode, 0, f"fail drill started ({r.stdout.strip()})")
    fid = r.stdout.split("drill id: ")[1].split()[0]
    t = d.wait_target("us-east-1", "down", timeout=10)
    check_eq(t["reason"], "drill: simulated outage", "probes count as failed during a fail drill")
    wait_for(lambda: peer.weights(NAME)["us-east-1"] == 0, 10, "the simulated outage drains the region")
    # us-east-1's nginx answers 200 throughout: at the drill's end its simulated failures must no longer
    # count (review F1 of 39): unknown until real probes decide, seen from outside (status, feed, peer)
    seen = sample_end(d, fid, "us-east-1")
    print("us-east-1 (state, reason of api[0]) in /v1/status once the drill was over:", seen)
    check(bool(seen) and seen[-1][0] == "up" and all(st != "down" for st, _ in seen),
          "once the drill is over /v1/status never shows us-east-1 down (its simulated failures forgotten), "
          "then up")
    wait_for(lambda: peer.weights(NAME)["us-east-1"] == 100, 25, "and its end restores it")
    time.sleep(2.5)   # hold_down_s 2: a drain of us-east-1 would be due by now
    restore_after_probes(d, peer, "us-east-1", fid, n)
    forgot = [ln for ln in d.read_log().splitlines()
              if "fail drill no longer acting" in ln and "region=us-east-1" in ln]
    check_eq(len(forgot), 1, "the fail drill's end puts us-east-1's health back to unknown (logged once)")
    check(len(peer.changes()) >= n + 2, "drain and restore went out as real batches")
    off = offsets(report(d, fid))
    check(off["outage detected (region down)"] is not None and off["batch submitted"] is not None
          and off["outage detected (region down)"] <= off["batch submitted"], f"fail drill milestones: {off}")
    audit = open(f"{cfg['controller']['state_dir']}/audit.log").read()
    check(audit.count("POST /v1/drills") >= 4 and '"who":"ops"' in audit, "drills audited with the token's name")
    check_eq(d.stop(), 0, "clean exit")
    peer.stop()
    ngx.stop()


if __name__ == "__main__":
    from harness import run_tests
    run_tests([test_drills])
