#!/usr/bin/python3
"""Failover time: a fault at one region (nginx answers 503, or its listener
stops), measured fault -> detected -> decided -> batch submitted -> INSYNC ->
DNS-visible against the local Route 53 peer, and the same for the recovery
(fault removed -> detected up -> decided -> batch -> INSYNC -> visible).
Prints min/median/p95/max per step; not a test of speed (nothing asserts one),
but every run's steps must be present and in order, or it exits 1.

usage: bench/failover_time.py [--runs 20] [--intervals 1000,5000] [--fault 503,stop]
                              [--pending-ms 3000] [--hold-down-s 0] [--fall N] [--smoke] [--json FILE]
Needs build/regiond (scripts/build.sh) and nginx (scripts/install-deps.sh test).

Setup: three regions, one nginx each (so one can be stopped by its pid), the
strict Route 53 peer (tests/peers/route53_peer.py) holding changes PENDING for
--pending-ms, regiond's own DNS check against the peer's name server.  Probe
settings are the shipped defaults (fall, rise, timeout_ms) except interval_ms;
decision.settle_ms and dns_check are the shipped defaults too; hold_down_s is
--hold-down-s (default 0: the production default of 60 s would add itself to
every recovery) and damping (max_changes) is off so 2 x runs changes may go
through.  One daemon per interval and fault kind, reused across its runs; a
run starts from steady state after a random pause of up to one interval so
the fault falls at a random point of the probe cycle.

Times: "detected" is regiond's region_state event, "decided" its decision
event, "submitted" the batch's submission (event time minus submit_ms), INSYNC
and visible are submission + insync_after_ms / visible_after_ms (regiond's
monotonic clock); the fault's time is this script's wall clock on the same
host just before the fault (503: the down file is created; stop: SIGTERM to
nginx) and the fault's removal the moment the file is gone / the restarted
nginx first accepts a connection."""
import argparse
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fo_common import Events, fmt_s, machine, now_ms, quantiles, steady_status  # noqa: E402
from harness import (TEST_KEY, Daemon, Nginx, Route53Peer, free_port, spawn, stop, tmpdir,  # noqa: E402
                     wait_for, weighted_zone)

NAME = "api.example.test."
REGIONS = ["us-east-1", "eu-west-1", "ap-southeast-2"]
IPS = ["127.0.0.11", "127.0.0.12", "127.0.0.13"]
VICTIM = 1                              # eu-west-1 is the one that fails
STEPS = ["detected", "decided", "submitted", "insync", "visible"]


class Region:
    """One nginx for one region, so the fault "stop" can close its listener."""

    def __init__(self):
        self.port = free_port()
        self.ngx = Nginx([self.port])

    def fault(self, kind):
        t = now_ms()
        if kind == "503":
            self.ngx.down(self.port)
        else:
            stop(self.ngx.proc, signal.SIGTERM)
        return t

    def clear(self, kind):
        if kind == "503":
            self.ngx.down(self.port, False)
            return now_ms()
        d = self.ngx.dir
        self.ngx.proc = spawn("nginx", ["nginx", "-p", d, "-c", os.path.join(d, "nginx.conf"), "-e",
                                        f"{d}/error.log"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return now_ms()
            except OSError:
                time.sleep(0.005)
        raise AssertionError("nginx did not come back")

    def close(self):
        if self.ngx.proc.poll() is None:
            self.ngx.stop()


def setup(interval, pending_ms, hold_down_s, fall=None):
    regs = [Region() for _ in REGIONS]
    peer = Route53Peer(weighted_zone(NAME, {r: (ip, 100) for r, ip in zip(REGIONS, IPS)}), pending_ms=pending_ms)
    pd = {"interval_ms": interval}
    if interval <= 800:                     # the default timeout_ms (800) must stay below the interval
        pd["timeout_ms"] = interval - 50
    if fall:
        pd["fall"] = fall
    cfg = {
        "controller": {"id": "bench-failover", "listen": f"127.0.0.1:{free_port()}", "state_dir": tmpdir(),
                       "log_level": "info"},
        "probe_defaults": pd,
        "aws": {"endpoints": {"route53": peer.url}},
        "route53": {"hosted_zone_id": peer.zone_id, "record_name": NAME, "record_type": "A", "ttl": 60,
                    "name_servers": [f"127.0.0.1:{peer.dns_port}"]},
        "decision": {"hold_down_s": hold_down_s, "max_changes": 0},
        "regions": [{"name": r, "api": [{"url": f"http://127.0.0.1:{g.port}/health"}],
                     "route53": {"value": ip, "weight": 100}} for r, g, ip in zip(REGIONS, regs, IPS)],
    }
    env = {"AWS_ACCESS_KEY_ID": TEST_KEY["access_key"], "AWS_SECRET_ACCESS_KEY": TEST_KEY["secret_key"],
           "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent", "AWS_CONFIG_FILE": "/nonexistent"}
    d = Daemon(cfg, env=env)
    ev = Events(d.port)
    return regs, peer, d, ev


def steady(d, timeout):
    return wait_for(lambda: steady_status(d), timeout, "steady state (every region up and serving, no change in flight)", interval=0.05)


def follow(ev, start, t0, region, to_state, to_weight, timeout):
    """The timeline after a fault (or its removal) at wall time t0."""
    out = {s: None for s in STEPS}
    deadline = time.monotonic() + timeout

    def left():
        return max(0.0, deadline - time.monotonic())

    x = ev.wait(start, lambda w, t, d: t == "region_state" and d.get("region") == region and d.get("to") == to_state,
                left())
    if not x:
        return out, "no region_state event"
    i, (w, _, _) = x
    out["detected"] = w - t0

    def is_decision(w, t, d):
        if t != "decision" or d.get("applied") != "apply":
            return False
        return any(r["region"] == region and r["weight"] == to_weight and r["live"] != to_weight
                   for r in d.get("regions", []))
    x = ev.wait(i, is_decision, left())
    if not x:
        return out, "no applied decision"
    i, (w, _, d) = x
    out["decided"] = w - t0
    want = f"-> {to_weight}"

    def is_change(kind):
        return lambda w, t, d: t == kind and str(d.get("weights", {}).get(region, "")).endswith(want)
    x = ev.wait(i, is_change("route53_change_submitted"), left())
    if not x:
        return out, "no route53_change_submitted"
    i, (w, _, d) = x
    sub = w - d.get("submit_ms", 0)
    out["submitted"] = sub - t0
    cid = d.get("change_id")
    x = ev.wait(i, lambda w, t, d: t == "route53_change_insync" and d.get("change_id") == cid, left())
    if not x:
        return out, "no route53_change_insync"
    i, (w, _, d) = x
    out["insync"] = sub + d["insync_after_ms"] - t0
    x = ev.wait(i, lambda w, t, d: t in ("route53_change_visible", "route53_change_not_visible")
                and d.get("change_id") == cid, left())
    if not x:
        return out, "no DNS check result"
    i, (w, t, d) = x
    if t != "route53_change_visible":
        return out, f"DNS check: not visible: {d.get('dns')}"
    out["visible"] = sub + d["visible_after_ms"] - t0
    return out, None


def ordered(tl):
    vals = [tl[s] for s in STEPS]
    return all(v is not None for v in vals) and vals[0] >= 0 and all(a <= b for a, b in zip(vals, vals[1:]))


def bench(kind, interval, runs, pending_ms, hold_down_s, fall=None):
    regs, peer, d, ev = setup(interval, pending_ms, hold_down_s, fall)
    st = steady(d, 30 + 5 * interval / 1000)
    fall = st["regions"][VICTIM]["targets"][0]["fall"]
    rise = st["regions"][VICTIM]["targets"][0]["rise"]
    timeout = 60 + 3 * (fall + rise) * interval / 1000
    res = []
    try:
        for n in range(runs):
            steady(d, timeout)
            time.sleep(random.uniform(0, interval / 1000))
            m = ev.mark()
            t0 = regs[VICTIM].fault(kind)
            down, err1 = follow(ev, m, t0, REGIONS[VICTIM], "down", 0, timeout)
            time.sleep(random.uniform(0, interval / 1000))   # removal at a random point of the cycle too
            m = ev.mark()
            t1 = regs[VICTIM].clear(kind)
            up, err2 = follow(ev, m, t1, REGIONS[VICTIM], "up", 100, timeout)
            res.append({"fault": down, "recovery": up, "errors": [e for e in (err1, err2) if e]})
            print(f"  {kind} {interval} ms run {n + 1}/{runs}: fault " +
                  " ".join(fmt_s(down[s]).strip() for s in STEPS) + " | recovery " +
                  " ".join(fmt_s(up[s]).strip() for s in STEPS) +
                  (f"  ERRORS {res[-1]['errors']}" if res[-1]["errors"] else ""), flush=True)
            if err1 or err2:
                break
    finally:
        ev.close()
        d.stop()
        peer.stop()
        for g in regs:
            g.close()
    return {"fault_kind": kind, "interval_ms": interval, "fall": fall, "rise": rise,
            "timeout_ms": st["regions"][VICTIM]["targets"][0]["timeout_ms"], "runs": res}


def table(r, pending_ms, hold_down_s):
    lines = [f"fault {r['fault_kind']}, interval {r['interval_ms']} ms, fall {r['fall']}, rise {r['rise']}, "
             f"timeout {r['timeout_ms']} ms, settle 1000 ms, hold-down {hold_down_s} s, "
             f"peer pending {pending_ms} ms, dns_check 5 x 200 ms; {len(r['runs'])} runs; seconds after the fault"
             " (recovery: after its removal)",
             f"{'':9} {'step':10} {'min':>6} {'median':>6} {'p95':>6} {'max':>6}"]
    for phase in ("fault", "recovery"):
        for s in STEPS:
            q = quantiles([x[phase][s] for x in r["runs"]])
            lines.append(f"{phase:9} {s:10} {fmt_s(q['min'])} {fmt_s(q['median'])} {fmt_s(q['p95'])} {fmt_s(q['max'])}")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--intervals", default="1000,5000")
    ap.add_argument("--fault", default="503,stop", help="503, stop, or both comma-separated")
    ap.add_argument("--pending-ms", type=int, default=3000, help="how long the peer keeps a change PENDING")
    ap.add_argument("--hold-down-s", type=int, default=0)
    ap.add_argument("--fall", type=int, help="probe fall (default: regiond's shipped default)")
    ap.add_argument("--smoke", action="store_true", help="2 runs at 1 s, fault 503 (CI)")
    ap.add_argument("--json", help="also write the raw runs here")
    a = ap.parse_args()
    if a.smoke:
        a.runs, a.intervals, a.fault = 2, "1000", "503"
    out, bad = [], 0
    for kind in a.fault.split(","):
        if kind not in ("503", "stop"):
            ap.error(f"--fault: 503 or stop, not {kind}")
        for i in a.intervals.split(","):
            r = bench(kind, int(i), a.runs, a.pending_ms, a.hold_down_s, a.fall)
            out.append(r)
            for n, x in enumerate(r["runs"]):
                for phase in ("fault", "recovery"):
                    if not ordered(x[phase]):
                        bad += 1
                        print(f"BAD: {kind} {i} ms run {n + 1} {phase}: steps missing or out of order: {x[phase]} "
                              f"{x['errors']}")
                if x["errors"]:
                    bad += 1
            if len(r["runs"]) < a.runs:
                bad += 1
    print()
    print(f"machine: {machine()}")
    print(f"command: {' '.join(sys.argv)}")
    for r in out:
        print()
        print(table(r, a.pending_ms, a.hold_down_s))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"pending_ms": a.pending_ms, "hold_down_s": a.hold_down_s, "results": out}, f)
    print()
    print("every step present and in order" if not bad else f"{bad} runs with missing or out-of-order steps")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
