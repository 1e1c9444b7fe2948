"""HTTP probes against a real nginx on loopback: each failure mode gives its
own clear reason, and a 503 takes a target down only after `fall` probes."""
import os
import signal
import socket
import subprocess
import time
import urllib.request

import harness  # noqa: E402
from harness import (Daemon, Nginx, check, check_eq, free_port, make_config, run_tests, spawn,
                     tmpdir, wait_for, write_nginx_conf)


def region(name, url, **kw):
    t = {"url": url}
    t.update(kw)
    return {"name": name, "api": [t]}


def test_failure_modes():
    p_ok, p_flip = free_port(), free_port()
    ngx = Nginx([p_ok, p_flip])
    p_stop = free_port()
    ngx2 = Nginx([p_stop])
    closed = free_port()
    # A listener that accepts (kernel backlog) and never answers.
    hole = socket.socket()
    hole.bind(("127.0.0.1", 0))
    hole.listen(64)
    p_hole = hole.getsockname()[1]
    regions = [
        region("ok", f"http://127.0.0.1:{p_ok}/health", body_contains="ok"),
        region("flip", f"http://127.0.0.1:{p_flip}/health", fall=3, interval_ms=300),
        region("refused", f"http://127.0.0.1:{closed}/health"),
        region("stopped", f"http://127.0.0.1:{p_stop}/health"),
        region("slowbody", f"http://127.0.0.1:{p_ok}/slow"),
        region("blackhole", f"http://127.0.0.1:{p_hole}/health"),
        region("wrongbody", f"http://127.0.0.1:{p_ok}/text", body_contains="ok"),
        region("regex", f"http://127.0.0.1:{p_ok}/text", body_regex="^hello w[a-z]+"),
        region("big", f"http://127.0.0.1:{p_ok}/big", max_body_bytes=4096, body_contains="xxxx",
               timeout_ms=2000, interval_ms=3000),
        region("status", f"http://127.0.0.1:{p_ok}/text", expect_status=[204]),
    ]
    d = Daemon(make_config(regions, tmpdir(), free_port()))
    t = d.wait_target("ok", "up")
    check_eq(t["reason"], "ok", "200 + body match -> up")
    check(t["last"]["timings_ms"]["total"] is not None, "timing breakdown present")
    d.wait_target("flip", "up")
    d.wait_target("stopped", "up")

    t = d.wait_target("refused", "down")
    check_eq(t["reason"], "connect: refused", "closed port reason")
    t = d.wait_target("slowbody", "down")
    check_eq(t["reason"], "timeout after 250 ms (body incomplete)", "slow body reason")
    t = d.wait_target("blackhole", "down")
    check_eq(t["reason"], "timeout after 250 ms (no response)", "accept-and-never-answer reason")
    t = d.wait_target("wrongbody", "down")
    check_eq(t["reason"], "body: 'ok' not found", "body match failure reason")
    d.wait_target("regex", "up")
    t = d.wait_target("status", "down")
    check_eq(t["reason"], "http: status 200", "unexpected status reason")

    t = d.wait_target("big", "up", timeout=15)
    check_eq(t["last"]["body_bytes"], 4096, "10 MiB body capped at max_body_bytes")
    check(t["last"]["body_truncated"] is True, "capped body is flagged truncated")

    # 503: down only after `fall` (3) consecutive failures.
    ngx.down(p_flip)
    t0 = time.monotonic()
    t = d.wait_target("flip", "down", timeout=10)
    took = time.monotonic() - t0
    check_eq(t["reason"], "http: status 503", "503 reason")
    check(t["counters"]["failures"] >= 3, f"down after >= fall failures ({t['counters']['failures']})")
    check(took >= 0.55, f"not down before fall probes ({took:.2f}s)")
    r = d.region("flip")
    check_eq(r["state"], "down", "single-target region follows its target")
    ngx.down(p_flip, False)
    d.wait_target("flip", "up", timeout=10)

    # Listener stopped -> connect: refused.
    ngx2.stop()
    t = d.wait_target("stopped", "down", timeout=10)
    check_eq(t["reason"], "connect: refused", "stopped listener reason")

    check(d.proc.poll() is None, "daemon still running after every failure mode")
    check_eq(d.stop(), 0, "clean exit on SIGTERM")
    hole.close()
    ngx.stop()


def test_degraded_latency():
    p = free_port()
    ngx = Nginx([p])
    regions = [{"name": "r", "api": [{"url": f"http://127.0.0.1:{p}/slow", "max_body_bytes": 3000,
                                      "latency_ms_max": 100, "timeout_ms": 4000,
                                      "interval_ms": 5000, "rise": 1, "fall": 1}]}]
    d = Daemon(make_config(regions, tmpdir(), free_port()))
    t = d.wait_target("r", "degraded", timeout=15)
    check(t["reason"].startswith("latency: "), f"degraded reason names the latency ({t['reason']})")
    check_eq(d.region("r")["state"], "degraded", "region degraded")
    check_eq(d.stop(), 0, "clean exit")
    ngx.stop()


def test_loop_lag():
    """The loop measures its own lateness: idle it is on time; stopped for
    0.8 s (SIGSTOP) it reports the gap in status and /metrics and logs why
    probes would run late."""
    p = free_port()
    ngx = Nginx([p])
    regions = [{"name": "r", "api": [{"url": f"http://127.0.0.1:{p}/health", "interval_ms": 500}]}]
    d = Daemon(make_config(regions, tmpdir(), free_port()))
    time.sleep(1)
    c = d.status()["controller"]
    check(0 <= c["loop_lag_max_ms"] < 200, f"an idle loop is on time ({c['loop_lag_max_ms']} ms)")
    os.kill(d.proc.pid, signal.SIGSTOP)
    time.sleep(0.8)
    os.kill(d.proc.pid, signal.SIGCONT)
    wait_for(lambda: d.status()["controller"]["loop_lag_max_ms"] >= 500, 5, "the lag to show")
    _, body = d.get("/metrics")
    lag = [float(x.split()[1]) for x in body.decode().splitlines() if x.startswith("regiond_loop_lag_seconds ")]
    check(lag and lag[0] >= 0.5, f"regiond_loop_lag_seconds shows it ({lag})")
    wait_for(lambda: "event loop running late" in d.read_log(), 5, "the warning in the log")
    check_eq(d.stop(), 0, "clean exit")
    ngx.stop()


class StubNginx:
    """nginx serving /slow (10 MiB at 2 KB/s: never done within a probe's
    timeout) on PORT and stub_status on STATUS_PORT: its active connections
    are the probes in flight there, counted by the peer, not by regiond."""

    def __init__(self):
        self.dir = tmpdir("nginx-stub-")
        os.chmod(self.dir, 0o755)
        with open(os.path.join(self.dir, "big"), "wb") as f:
            f.write(b"x" * (10 << 20))
        self.port, self.status_port = free_port(), free_port()
        path = write_nginx_conf(self.dir, "access_log off;", f"""
    server {{ listen 127.0.0.1:{self.port};
        location = /slow {{ limit_rate 2k; alias {self.dir}/big; }} }}
    server {{ listen 127.0.0.1:{self.status_port}; location = /stub {{ stub_status; }} }}""")
        self.proc = spawn("nginx", ["nginx", "-p", self.dir, "-c", path, "-e", f"{self.dir}/error.log"],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: self.active() is not None, 10, "nginx stub_status")

    def active(self):
        """Open client connections, less the one asking (None until up)."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.status_port}/stub", timeout=2) as r:
                text = r.read().decode()
        except OSError:
            return None
        return int(text.split("Active connections:")[1].split()[0]) - 1

    def stop(self):
        harness.stop_peer(self.proc)


def test_probe_cap():
    """controller.max_probes_in_flight: with 3 allowed and 8 targets that
    never finish within their timeout, at most 3 probes run -- counted as
    connections open at nginx (stub_status, sampled) --, the rounds that
    find no room are skipped and counted, and the healthy region is up."""
    slow_ngx = StubNginx()
    p = free_port()
    ngx = Nginx([p])
    slow = [{"url": f"http://127.0.0.1:{slow_ngx.port}/slow", "name": f"slow{i}", "timeout_ms": 900,
             "connect_timeout_ms": 900, "interval_ms": 1000} for i in range(8)]
    regions = [{"name": "slow", "rule": "any", "api": slow},
               # At the same 1 s interval as the slow ones: a round due at a
               # full cap waits in line for a slot, so the hanging targets
               # can never starve it (before the line it stayed unknown).
               {"name": "ok", "api": [{"url": f"http://127.0.0.1:{p}/health", "interval_ms": 1000,
                                       "timeout_ms": 900}]}]
    cfg = make_config(regions, tmpdir(), free_port())
    cfg["controller"]["max_probes_in_flight"] = 3
    d = Daemon(cfg)
    seen = []
    t_end = time.monotonic() + 5
    while time.monotonic() < t_end:
        seen.append(slow_ngx.active())
        time.sleep(0.03)
    seen = [x for x in seen if x is not None]
    print(f"connections open at nginx, {len(seen)} samples over 5 s: max {max(seen)}, "
          f"histogram {sorted((v, seen.count(v)) for v in set(seen))}", flush=True)
    check(len(seen) >= 50, f"stub_status sampled ({len(seen)} samples)")
    check(max(seen) <= 3, f"never more than 3 probes in flight, counted at nginx (saw {max(seen)})")
    check(max(seen) >= 2, f"the cap is reached: probes do run concurrently (saw {max(seen)})")
    st = d.status()
    skipped = st["controller"]["rounds_skipped"]
    check(skipped > 0, f"rounds with no room were skipped ({skipped})")
    _, body = d.get("/metrics")
    m = [float(x.split()[1]) for x in body.decode().splitlines()
         if x.startswith("regiond_probe_rounds_skipped_total ")]
    check(m and m[0] >= skipped, f"regiond_probe_rounds_skipped_total counts them ({m})")
    slow_t = [t for r in st["regions"] if r["name"] == "slow" for t in r["targets"]]
    ran = [t for t in slow_t if t["last"]]
    check(ran and all("timeout after 900 ms" in t["last"]["reason"] for t in ran),
          "the probes that ran timed out on the slow body")
    wait_for(lambda: d.region("ok")["state"] == "up", 10, "the healthy region up")
    check_eq(d.region("ok")["state"], "up", "the healthy region is up despite the full probe slots")
    check_eq(d.stop(), 0, "clean exit")
    ngx.stop()
    slow_ngx.stop()


def test_connection_reuse():
    """Fresh connection per probe by default (as Route 53 health checks do);
    keep-alive reuses one when asked."""
    p = free_port()
    ngx = Nginx([p])
    regions = [{"name": "fresh", "api": [{"url": f"http://127.0.0.1:{p}/health?fresh"}]},
               {"name": "reuse", "api": [{"url": f"http://127.0.0.1:{p}/health?reuse", "keepalive": True}]}]
    d = Daemon(make_config(regions, tmpdir(), free_port()))
    wait_for(lambda: all(d.target(r)["counters"]["probes"] >= 6 for r in ("fresh", "reuse")), 10, "6 probes each")
    log = ngx.access()
    fresh = [x for x in log if x[2].endswith("?fresh")]
    reuse = [x for x in log if x[2].endswith("?reuse")]
    check(len(fresh) >= 6 and all(n == 1 for _, n, _, _ in fresh), "default: one request per connection")
    check(len({c for c, _, _, _ in fresh}) == len(fresh), "default: a new connection every probe")
    check(len(reuse) >= 6 and max(n for _, n, _, _ in reuse) >= 5, "keepalive: requests share a connection")
    check_eq(d.stop(), 0, "clean exit")
    ngx.stop()


if __name__ == "__main__":
    run_tests([test_failure_modes, test_degraded_latency, test_loop_lag, test_probe_cap, test_connection_reuse])
