"""Failover drills end to end against the Route 53 peer: a drain drill goes
out as a real batch, reaches INSYNC and DNS, expires and restores; its report
has every step in order; a dry run changes nothing; a drill that breaks
min_healthy_regions is refused with the rule named; a restart mid-drill
resumes it and the report shows the gap; a "fail" drill runs through
detection and hysteresis like a real outage."""
import json
import subprocess
import time

from harness import REGIONCTL, Daemon, check, check_eq, wait_for
from test_failover import NAME, setup, wait_all_up


def ctl(d, *args):
    return subprocess.run([REGIONCTL, "--api", d.base, *args], capture_output=True, text=True, timeout=15)


def report(d, did):
    return json.loads(d.get(f"/v1/drills/{did}")[1])


def offsets(rep):
    return {m["step"]: m["offset_s"] for m in rep["milestones"]}


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
    wait_for(lambda: peer.weights(NAME)["us-east-1"] == 100, 25, "and its end restores it")
    # its end puts the region back to unknown: the simulated failures no longer count (review F1 of 39)
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
