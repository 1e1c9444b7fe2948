"""Shared set-up of the state tests (issue 14): two regions behind nginx, the
strict Route 53 peer, a token file, and a config whose weights (50) differ
from the zone's (100).  With correct_drift those 100s are drift regiond
corrects, so it wants to write a batch as soon as it has read the live
weights: a write that must not happen while frozen.  Without it they are
drift left alone.

fsync_stalled(pid, seconds): every fsync of a process delayed while inside
the block (strace), shared by the tests of a slow or hung disk;
Setup.check_on_time(): the loop kept its time meanwhile."""
import contextlib
import os
import re
import signal
import subprocess
import time

from harness import (REGIONCTL, Daemon, Nginx, Route53Peer, check, forget, free_port, spawn, tmpdir, token_file,
                     wait_for, weighted_zone)

NAME = "api.example.test."
REGIONS = ["us-east-1", "eu-west-1", "ap-southeast-2"]
IPS = ["127.0.0.11", "127.0.0.12", "127.0.0.13"]


class Setup:
    def __init__(self, want_weight=50, decision=None, state_dir=None, peer_args=(), correct_drift=False):
        self.ports = [free_port() for _ in REGIONS]
        self.ngx = Nginx(self.ports)
        self.peer = Route53Peer(weighted_zone(NAME, {r: (ip, 100) for r, ip in zip(REGIONS, IPS)}),
                                pending_ms=200, extra=peer_args)
        self.tokens, self.toks = token_file([("ops", None, False)])
        self.state_dir = state_dir or tmpdir("state-")
        self.cfg = {
            "controller": {"id": "ctl-state", "listen": f"127.0.0.1:{free_port()}", "state_dir": self.state_dir,
                           "log_level": "info", "token_file": self.tokens},
            "probe_defaults": {"interval_ms": 300, "timeout_ms": 250, "rise": 1, "fall": 2},
            "aws": {"endpoints": {"route53": self.peer.url}, "retry": {"base_ms": 50, "max_ms": 500}},
            "route53": {"hosted_zone_id": self.peer.zone_id, "record_name": NAME, "record_type": "A", "ttl": 60,
                        "correct_drift": correct_drift,
                        "name_servers": [f"127.0.0.1:{self.peer.dns_port}"],
                        "dns_check": {"consecutive": 2, "interval_ms": 50, "timeout_s": 20}},
            "decision": dict({"hold_down_s": 0, "settle_ms": 0, "max_changes": 1000}, **(decision or {})),
            "regions": [{"name": r, "api": [{"url": f"http://127.0.0.1:{p}/health"}],
                         "route53": {"value": ip, "weight": want_weight}}
                        for r, p, ip in zip(REGIONS, self.ports, IPS)],
        }
        self.env = {"AWS_ACCESS_KEY_ID": "AKIDREGIONDTEST",
                    "AWS_SECRET_ACCESS_KEY": "te+st/Secret0Key0ForRegiond0Tests0000000",
                    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent", "AWS_CONFIG_FILE": "/nonexistent"}

    def start(self, **kw):
        self.cfg["controller"]["listen"] = f"127.0.0.1:{free_port()}"
        return Daemon(self.cfg, env=self.env, **kw)

    def ctl(self, d, *args):
        env = dict(os.environ, REGIOND_TOKEN_FILE=self.tokens)
        r = subprocess.run([REGIONCTL, "--api", d.base, *args], capture_output=True, text=True, timeout=20,
                           env=env)
        return r.returncode, r.stdout + r.stderr

    def api(self, d, method, path, body=None, timeout=15):
        import json
        import urllib.error
        import urllib.request
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(d.base + path, data=data, method=method,
                                     headers={"Authorization": "Bearer " + self.toks["ops"],
                                              "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")

    def decisions(self):
        """The decision number in each batch comment at the peer, in order."""
        import re
        return [int(re.search(r"decision (\d+)", c["comment"]).group(1)) for c in self.peer.changes()]

    def writes(self):
        return [x for x in self.peer.stats()["requests"] if x["op"] == "ChangeResourceRecordSets"]

    def live_read(self, d):
        wait_for(lambda: all(w["live"] >= 0 for w in d.status()["failover"]["weights"]),
                 10, "live weights read")

    def check_on_time(self, d, p0, t0, region="us-east-1", least_s=6):
        """The loop kept its time from t0 (monotonic; p0: region's probe count
        then) until least_s had passed: region probed on its interval (70 %
        of the probes due, at least), loop lag under 250 ms."""
        time.sleep(max(0, least_s - (time.monotonic() - t0)))
        n, took = probes(d, region) - p0, time.monotonic() - t0
        want = took / (self.cfg["probe_defaults"]["interval_ms"] / 1000)
        check(n >= 0.7 * want, f"probes on time during the stall ({n} in {took:.1f} s, ~{want:.0f} due)")
        lag = metric(d, "regiond_loop_lag_seconds")
        check(lag is not None and lag < 0.25, f"loop lag under 250 ms with fsync stalled ({lag} s)")

    def stop(self):
        self.peer.stop()
        self.ngx.stop()


def metric(d, name):
    """A metric's value from /metrics, None when absent."""
    m = re.search(rf"^{name} (\S+)$", d.get("/metrics")[1].decode(), re.M)
    return float(m.group(1)) if m else None


def probes(d, region):
    return d.target(region)["counters"]["probes"]


def _tracers(pid):
    """TracerPid of each thread of pid ({tid: tracer}); {} once pid is gone."""
    out = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                out[tid] = next(int(x.split()[1]) for x in f if x.startswith("TracerPid:"))
        except (OSError, StopIteration, ValueError):
            pass
    return out


def _alive(pid):
    """pid runs (not gone, not a zombie)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return False


@contextlib.contextmanager
def fsync_stalled(pid, seconds, grace=5):
    """Inside the block every fsync and fdatasync of process pid (every
    thread, the writer thread included) waits `seconds` before it runs:
    strace -f injects delay_enter.  The attach is checked, not assumed:
    strace's "attached" line and every thread of pid traced by it, within
    10 s, or AssertionError.  On exit strace is detached (SIGTERM, waited
    for `grace` s: it detaches once a delayed call is over); when pid is
    dead already, or strace is not gone within `grace`, it is SIGKILLed by
    its pid (the kernel detaches what it traced) and waited for."""
    log = os.path.join(tmpdir("strace-"), "strace.log")
    with open(log, "w") as err:
        st = spawn("strace", ["strace", "-f", "-o", "/dev/null", "-e", "trace=fsync,fdatasync",
                              "-e", f"inject=fsync,fdatasync:delay_enter={seconds}s", "-p", str(pid)],
                   stdout=subprocess.DEVNULL, stderr=err)

    def attached():
        tr = _tracers(pid)
        with open(log, errors="replace") as f:
            said = "attached" in f.read()
        return said and tr and all(t == st.pid for t in tr.values())

    try:
        end = time.monotonic() + 10
        while not attached() and st.poll() is None and time.monotonic() < end:
            time.sleep(0.05)
        ok = attached() and st.poll() is None
        if not check(ok, f"strace attached to every thread of {pid} (fsync delayed {seconds} s)"):
            with open(log, errors="replace") as f:
                raise AssertionError(f"strace did not attach to {pid}: {_tracers(pid)}, {f.read()[-500:]!r}")
        yield st
    finally:
        if st.poll() is None and _alive(pid):
            st.send_signal(signal.SIGTERM)
            try:
                st.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                pass
        if st.poll() is None:
            st.kill()
            st.wait()
        forget(st)
