#!/usr/bin/python3
"""How many probes per second regiond's one loop sustains, its CPU per probe
and its memory, against nginx on loopback (one nginx worker on the other
core).  Prints a table; not a test (nothing here asserts a speed).

usage: bench/probe_rate.py [--targets 1000] [--intervals 1000,200,100] [--seconds 10]
Needs build/regiond (scripts/build.sh) and nginx (scripts/install-deps.sh test)."""
import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "bb"))
from harness import Daemon, Nginx, free_port, tmpdir  # noqa: E402

CLK = os.sysconf("SC_CLK_TCK")


def cpu_s(pid):
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / CLK


def mem_kb(pid):
    out = {}
    for line in open(f"/proc/{pid}/status"):
        k, _, v = line.partition(":")
        if k in ("VmRSS", "VmHWM"):
            out[k] = int(v.split()[0])
    return out


def probes(d):
    code, body = d.get("/metrics")
    total = fails = 0
    for line in body.decode().splitlines():
        if line.startswith("regiond_region_probes_total{"):
            v = float(line.rsplit(" ", 1)[1])
            total += v
            if 'outcome="ok"' not in line:
                fails += v
    return total, fails


def run(n, interval, seconds, ports):
    regions = []
    per = max(1, n // 10)
    for r in range(0, n, per):
        api = [{"url": f"http://127.0.0.1:{ports[(r + i) % len(ports)]}/health?t={r + i}",
                "name": f"t{r + i}"} for i in range(min(per, n - r))]
        regions.append({"name": f"region-{r // per}", "rule": "any", "api": api})
    cfg = {"controller": {"id": "bench", "listen": f"127.0.0.1:{free_port()}", "state_dir": tmpdir(),
                          "log_level": "warning"},
           "probe_defaults": {"interval_ms": interval, "timeout_ms": min(interval - 1, 2000), "rise": 2, "fall": 3},
           "regions": regions}
    d = Daemon(cfg)
    pid = d.proc.pid
    os.sched_setaffinity(pid, {0})
    time.sleep(max(2.5, 2 * interval / 1000))   # every target has started
    p0, f0 = probes(d)
    c0, t0 = cpu_s(pid), time.monotonic()
    time.sleep(seconds)
    p1, f1 = probes(d)
    c1, t1 = cpu_s(pid), time.monotonic()
    m = mem_kb(pid)
    d.stop()
    done = p1 - p0
    return {"targets": n, "interval_ms": interval, "demanded_per_s": n * 1000 / interval,
            "achieved_per_s": done / (t1 - t0), "failed_pct": 100 * (f1 - f0) / done if done else 0,
            "cpu_ms_per_probe": 1000 * (c1 - c0) / done if done else float("nan"),
            "cpu_pct": 100 * (c1 - c0) / (t1 - t0), "rss_mb": m["VmRSS"] / 1024, "peak_rss_mb": m["VmHWM"] / 1024}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--targets", type=int, default=1000)
    ap.add_argument("--intervals", default="1000,200,100")
    ap.add_argument("--seconds", type=float, default=10)
    a = ap.parse_args()
    ports = [free_port() for _ in range(16)]
    ngx = Nginx(ports)
    os.sched_setaffinity(ngx.proc.pid, {1})
    rows = [run(a.targets, int(i), a.seconds, ports) for i in a.intervals.split(",")]
    ngx.stop()
    print(f"machine: {os.cpu_count()} cores; regiond pinned to core 0, nginx to core 1; HTTP, fresh connection per probe")
    print(f"{'targets':>7} {'interval':>8} {'demanded/s':>10} {'achieved/s':>10} {'fail%':>6} {'cpu ms/probe':>12} {'cpu%':>6} {'rss MB':>7} {'peak MB':>7}")
    for r in rows:
        print(f"{r['targets']:>7} {r['interval_ms']:>8} {r['demanded_per_s']:>10.0f} {r['achieved_per_s']:>10.0f} "
              f"{r['failed_pct']:>6.2f} {r['cpu_ms_per_probe']:>12.4f} {r['cpu_pct']:>6.1f} {r['rss_mb']:>7.1f} {r['peak_rss_mb']:>7.1f}")
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
