#!/usr/bin/python3
"""Detection vs false drains: regions that are healthy but flaky (a random
10 % of probes get a 503, or no answer past the probe timeout) for --minutes,
counting the false drains for each `fall`; then, for the same settings, the
time to detect a real outage.  Not a test of speed: it exits 1 only when the
measurement itself is broken (no probes, no detection, steps out of order).

usage: bench/false_drain.py [--minutes 10] [--falls 2,3,4,5] [--modes 503,stall] [--flaky-regions 3]
                            [--rate 0.10] [--rounds 3] [--pending-ms 1000] [--smoke] [--json FILE]
Needs build/regiond (scripts/build.sh).

One daemon per (mode, fall) -- and one more per mode with `fall` left out,
i.e. regiond's shipped default -- all running at once, each with its own
Route 53 peer and --flaky-regions flaky regions plus one steady region, so
drains really go through (decision.hold_down_s 0 and damping off, so every
false drain is followed by a restore and counted).  The flaky targets are
bench/flaky_server.py; a stall lasts 2 s, past the probe timeout.  Probe
settings: interval 1000 ms, the shipped defaults for rise and timeout_ms
(800 ms).  regiond offers no k-of-n rule (a target goes down after `fall`
failures in a row; `rule`/`quorum` count targets of a region, not probes
over time), so `fall` is the only knob here.

Counted over the flaky period, per setting: flaky targets that went down
(region_state/target_state events), applied decisions that drained a flaky
region, Route 53 batches that set one to 0.  "replay" is the number of runs
of >= fall failures in the exact answer sequence the flaky server logged
(what that fall would have given on it), "expected" the arithmetic
n (1 - p) p^fall per target.  The outage: every flaky target of every
daemon fails at once (503, or stalls) for --rounds rounds, in between all
answer ok; detection = the target's target_state "down" event minus the
outage's start, "batch" = the drain batch's submission."""
import argparse
import json
import os
import random
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fo_common import Events, fmt_s, machine, now_ms, quantiles, steady_status  # noqa: E402
from harness import (TEST_KEY, Daemon, Route53Peer, free_port, spawn, stop, tmpdir, wait_for,  # noqa: E402
                     weighted_zone)

NAME = "api.example.test."
HERE = os.path.dirname(os.path.abspath(__file__))


class Setting:
    def __init__(self, mode, fall, nflaky, pending_ms, sdir):
        self.mode, self.fall_cfg, self.sdir = mode, fall, sdir
        self.flaky = [f"flaky-{i + 1}" for i in range(nflaky)]
        self.regions = self.flaky + ["steady"]
        self.ports = {r: free_port() for r in self.regions}
        ips = {r: f"127.0.1.{i + 1}" for i, r in enumerate(self.regions)}
        self.peer = None
        self._peer_args = (weighted_zone(NAME, {r: (ips[r], 100) for r in self.regions}), pending_ms)
        pd = {"interval_ms": 1000}
        if fall is not None:
            pd["fall"] = fall
        self.cfg = {
            "controller": {"id": f"bench-fd-{mode}-{fall or 'default'}", "listen": f"127.0.0.1:{free_port()}",
                           "state_dir": tmpdir(), "log_level": "info"},
            "probe_defaults": pd,
            "aws": {"endpoints": {}},
            "route53": {"hosted_zone_id": None, "record_name": NAME, "record_type": "A", "ttl": 60},
            "decision": {"hold_down_s": 0, "max_changes": 0},
            "regions": [{"name": r, "api": [{"url": f"http://127.0.0.1:{self.ports[r]}/health"}],
                         "route53": {"value": ips[r], "weight": 100}} for r in self.regions],
        }

    def start(self):
        self.peer = Route53Peer(*self._peer_args[:1], pending_ms=self._peer_args[1])
        self.cfg["aws"]["endpoints"]["route53"] = self.peer.url
        self.cfg["route53"]["hosted_zone_id"] = self.peer.zone_id
        self.cfg["route53"]["name_servers"] = [f"127.0.0.1:{self.peer.dns_port}"]
        env = {"AWS_ACCESS_KEY_ID": TEST_KEY["access_key"], "AWS_SECRET_ACCESS_KEY": TEST_KEY["secret_key"],
               "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent", "AWS_CONFIG_FILE": "/nonexistent"}
        self.d = Daemon(self.cfg, env=env)
        self.ev = Events(self.d.port)

    def set_mode(self, mode):
        for r in self.flaky:
            with open(os.path.join(self.sdir, f"mode-{self.ports[r]}"), "w") as f:
                f.write(mode)

    def steady(self):
        return steady_status(self.d)

    def counters(self):
        st = self.d.status()
        out = {}
        for r in st["regions"]:
            t = r["targets"][0]
            out[r["name"]] = (t["counters"]["probes"], t["counters"]["failures"])
        self.fall = st["regions"][0]["targets"][0]["fall"]
        self.timeout_ms = st["regions"][0]["targets"][0]["timeout_ms"]
        return out

    def stop(self):
        self.ev.close()
        self.d.stop()
        self.peer.stop()

    @property
    def label(self):
        return f"{self.fall}" + (" (default)" if self.fall_cfg is None else "")


def count_flaky(s, i0, i1):
    downs = drains = batches = 0
    for w, t, d in s.ev.events[i0:i1]:
        if t == "target_state" and d.get("region") in s.flaky and d.get("to") == "down":
            downs += 1
        elif t == "decision" and d.get("applied") == "apply":
            drains += sum(1 for r in d.get("regions", []) if r["region"] in s.flaky and r["weight"] == 0
                          and r["live"] > 0)
        elif t == "route53_change_submitted":
            batches += sum(1 for r, v in d.get("weights", {}).items() if r in s.flaky and v.endswith("-> 0"))
    return downs, drains, batches


def replay(sdir, port, t0, t1, k):
    """Runs of >= k non-ok answers in the server's log between t0 and t1."""
    runs = cur = 0
    try:
        lines = open(os.path.join(sdir, f"log-{port}")).read().split("\n")
    except OSError:
        return None
    for line in lines:
        if not line:
            continue
        w, res = line.split()
        if not t0 <= int(w) <= t1:
            continue
        if res == "ok":
            cur = 0
        else:
            cur += 1
            if cur == k:
                runs += 1
    return runs


def outage_round(sets, timeout):
    time.sleep(random.uniform(0, 1))
    marks = [s.ev.mark() for s in sets]
    t0 = now_ms()
    for s in sets:
        s.set_mode(s.mode)                  # "503" or "stall": every probe fails
    res = {}
    for s, m in zip(sets, marks):
        det, sub = [], []
        for r in s.flaky:
            x = s.ev.wait(m, lambda w, t, d: t == "target_state" and d.get("region") == r and d.get("to") == "down",
                          timeout)
            det.append(x[1][0] - t0 if x else None)
            y = s.ev.wait(m, lambda w, t, d: t == "route53_change_submitted" and
                          str(d.get("weights", {}).get(r, "")).endswith("-> 0"), timeout)
            sub.append(y[1][0] - y[1][2].get("submit_ms", 0) - t0 if y else None)
        res[id(s)] = (det, sub)
    for s in sets:
        s.set_mode("ok")
    for s in sets:
        wait_for(s.steady, timeout + 30, f"{s.cfg['controller']['id']} steady after the outage", interval=0.2)
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--falls", default="2,3,4,5")
    ap.add_argument("--modes", default="503,stall")
    ap.add_argument("--flaky-regions", type=int, default=3)
    ap.add_argument("--rate", type=float, default=0.10)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--pending-ms", type=int, default=1000)
    ap.add_argument("--seed", type=int)
    ap.add_argument("--smoke", action="store_true", help="15 s flaky, fall 2 and the default, 1 outage round (CI)")
    ap.add_argument("--json")
    a = ap.parse_args()
    if a.smoke:
        a.minutes, a.falls, a.flaky_regions, a.rounds = 0.25, "2", 1, 1
    modes = a.modes.split(",")
    for m in modes:
        if m not in ("503", "stall"):
            ap.error(f"--modes: 503 or stall, not {m}")
    sdir = tmpdir("flaky-")
    os.chmod(sdir, 0o755)
    sets = [Setting(m, f, a.flaky_regions, a.pending_ms, sdir)
            for m in modes for f in [int(x) for x in a.falls.split(",")] + [None]]
    ports = [p for s in sets for p in s.ports.values()]
    argv = ["/usr/bin/python3", os.path.join(HERE, "flaky_server.py"), "--dir", sdir,
            "--ports", ",".join(map(str, ports)), "--rate", str(a.rate), "--stall-ms", "2000"]
    if a.seed is not None:
        argv += ["--seed", str(a.seed)]
    srv = spawn("flaky-server", argv, stdout=subprocess.PIPE, text=True)
    if srv.stdout.readline().strip() != "ready":
        raise SystemExit("flaky server did not start")
    bad = []
    try:
        for s in sets:
            s.start()
        for s in sets:
            wait_for(s.steady, 30, f"{s.cfg['controller']['id']} steady", interval=0.2)
        c0 = [s.counters() for s in sets]
        i0 = [s.ev.mark() for s in sets]
        t0 = now_ms()
        for s in sets:
            s.set_mode(f"flaky-{s.mode}")
        print(f"flaky for {a.minutes} min: {len(sets)} daemons ({', '.join(modes)} x fall "
              f"{a.falls} and the default), {a.flaky_regions} flaky regions each", flush=True)
        time.sleep(a.minutes * 60)
        t1 = now_ms()
        for s in sets:
            s.set_mode("ok")
        i1 = [s.ev.mark() for s in sets]
        c1 = [s.counters() for s in sets]
        rows = []
        for s, a0, a1, j0, j1 in zip(sets, c0, c1, i0, i1):
            probes = sum(a1[r][0] - a0[r][0] for r in s.flaky)
            fails = sum(a1[r][1] - a0[r][1] for r in s.flaky)
            downs, drains, batches = count_flaky(s, j0, j1)
            rp = [replay(sdir, s.ports[r], t0, t1, s.fall) for r in s.flaky]
            p = a.rate
            exp = sum((a1[r][0] - a0[r][0]) * (1 - p) * p ** s.fall for r in s.flaky)
            rows.append({"mode": s.mode, "fall": s.fall, "default": s.fall_cfg is None, "label": s.label,
                         "timeout_ms": s.timeout_ms, "probes": probes, "failures": fails,
                         "fail_pct": 100 * fails / probes if probes else None, "targets_down": downs,
                         "drains": drains, "batches": batches, "replay": sum(x or 0 for x in rp),
                         "expected": exp, "detect": [], "batch": []})
            if not probes:
                bad.append(f"{s.mode} fall {s.label}: no probes")
        print("flaky period over; outage rounds", flush=True)
        for s in sets:
            wait_for(s.steady, 60, f"{s.cfg['controller']['id']} steady before the outage", interval=0.2)
        for n in range(a.rounds):
            res = outage_round(sets, 30)
            for s, row in zip(sets, rows):
                det, sub = res[id(s)]
                row["detect"] += det
                row["batch"] += sub
                for x, y in zip(det, sub):
                    if x is None or y is None or x < 0 or y < x:
                        bad.append(f"{s.mode} fall {s.label} round {n + 1}: detection {x}, batch {y}")
            print(f"  outage round {n + 1}/{a.rounds} done", flush=True)
    finally:
        for s in sets:
            if getattr(s, "d", None):
                s.stop()
        stop(srv)
    print()
    print(f"machine: {machine()}")
    print(f"command: {' '.join(sys.argv)}")
    print(f"{a.minutes:g} min flaky at {100 * a.rate:g} % ({'/'.join(modes)}; a stall is 2 s, past the "
          f"probe timeout), interval 1000 ms, rise 2, timeout {rows[0]['timeout_ms']} ms, settle 1000 ms, "
          f"{a.flaky_regions} flaky regions per daemon, all daemons at once; peer pending {a.pending_ms} ms")
    print("regiond has no k-of-n rule: `fall` (consecutive failures) is the only detection setting")
    print(f"{'mode':5} {'fall':>11} {'probes':>6} {'fail%':>5} {'downs':>5} {'drains':>6} {'batches':>7} "
          f"{'replay':>6} {'expect':>6} | {'detect':>6} {'min':>5} {'med':>5} {'p95':>5} {'max':>5} | "
          f"{'batch':>5} {'med':>5} {'max':>5}")
    for r in rows:
        q, b = quantiles(r["detect"]), quantiles(r["batch"])
        print(f"{r['mode']:5} {r['label']:>11} {r['probes']:>6} {r['fail_pct'] or 0:5.1f} {r['targets_down']:>5} "
              f"{r['drains']:>6} {r['batches']:>7} {r['replay']:>6} {r['expected']:6.2f} | {q['n']:>6} "
              f"{fmt_s(q['min'])[1:]} {fmt_s(q['median'])[1:]} {fmt_s(q['p95'])[1:]} {fmt_s(q['max'])[1:]} | "
              f"{b['n']:>5} {fmt_s(b['median'])[1:]} {fmt_s(b['max'])[1:]}")
    print("downs/drains/batches: false ones during the flaky period (flaky targets down, applied drain decisions, "
          "Route 53 batches to weight 0); detect/batch: the real outage, n samples, seconds from its start")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"minutes": a.minutes, "rate": a.rate, "rows": rows}, f)
    for x in bad:
        print("BAD:", x)
    print("measurement complete" if not bad else f"{len(bad)} problems")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
