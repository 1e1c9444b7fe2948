"""A real network outage, in network namespaces.

Two simulated regions, each a network namespace with its own nginx behind a
small delaying TCP proxy, reached from a "controller" namespace through veth
pairs.  regiond, the Route 53 peer and this test process itself (setns) live
in the controller namespace, so every address (198.18.0.0/15 and the
loopbacks) exists only inside namespaces this test created; nothing is added
to the root namespace.  regiond's API and the peer are on the controller's
127.0.0.1.

Faults are injected inside region A's namespace (this kernel has no netem):
  latency       the proxy delays every answer chunk      -> target degraded, weight -> degraded_weight
  black hole    nft `tcp dport 80 drop`                   -> down, "connect: timeout", weight 0
  tcp reset     nft `tcp dport 80 reject with tcp reset`  -> down, "connect: refused", weight 0
  partial loss  nft `numgen random mod 10 < 3 drop`       -> failures counted, reasons name a timeout
and after each, the rules go (`nft delete table inet rgdfault`) and the
region must come back up with its weight restored.

If the kernel (or missing privilege) refuses `ip netns add`, the test prints
"SKIP: ..." and exits 77, which tests/CMakeLists.txt declares as the skip code.

The same file is the delaying proxy: `test_netns_outage.py --delay-proxy ...`.
"""
import asyncio
import atexit
import json
import os
import signal
import socket
import subprocess
import sys
import time

NAME = "api.example.test."


# ---------------------------------------------------------------- the proxy
def delay_proxy_main(argv):
    """listen HOST PORT, upstream UHOST UPORT, delay file: each connection
    reads the delay (ms) from the file when accepted and holds every chunk
    the upstream sends back for that long before passing it on."""
    host, port, uhost, uport, delay_file = argv[0], int(argv[1]), argv[2], int(argv[3]), argv[4]

    def delay_s():
        try:
            with open(delay_file) as f:
                return max(0, int(f.read().strip() or 0)) / 1000.0
        except (OSError, ValueError):
            return 0.0

    async def pipe(r, w, d):
        try:
            while True:
                data = await r.read(65536)
                if not data:
                    break
                if d:
                    await asyncio.sleep(d)
                w.write(data)
                await w.drain()
        except (ConnectionError, OSError):
            pass

    async def handle(cr, cw):
        d = delay_s()
        try:
            ur, uw = await asyncio.open_connection(uhost, uport)
        except OSError:
            cw.close()
            return
        a = asyncio.ensure_future(pipe(cr, uw, 0))
        b = asyncio.ensure_future(pipe(ur, cw, d))
        await asyncio.wait([a, b], return_when=asyncio.FIRST_COMPLETED)
        if not b.done():   # client closed first: let the answer in flight finish briefly
            try:
                await asyncio.wait_for(asyncio.shield(b), 2)
            except asyncio.TimeoutError:
                pass
        for t in (a, b):
            t.cancel()
        for w in (uw, cw):
            try:
                w.close()
            except Exception:
                pass

    async def main():
        srv = await asyncio.start_server(handle, host, port, reuse_address=True)
        print("ready", flush=True)
        async with srv:
            await srv.serve_forever()

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass


if __name__ == "__main__" and len(sys.argv) > 1 and sys.argv[1] == "--delay-proxy":
    delay_proxy_main(sys.argv[2:])
    sys.exit(0)


# ---------------------------------------------------------------- namespaces
import harness  # noqa: E402  (not needed by the proxy)
from harness import (TEST_KEY, Daemon, Route53Peer, check, check_eq, free_port, run_tests, spawn, stop,  # noqa: E402
                     tmpdir, wait_for, weighted_zone)
import netns_kit as nk  # noqa: E402

PID = os.getpid()
NS_C = f"rgd-{PID}-c"                      # controller: regiond, the Route 53 peer, this process
REGIONS = [
    # name, namespace, veth end in the controller, controller address, region address
    ("us-east-1", f"rgd-{PID}-a", f"rgd{PID}a", "198.18.1.1", "198.18.1.2"),
    ("eu-west-1", f"rgd-{PID}-b", f"rgd{PID}b", "198.18.2.1", "198.18.2.2"),
]
FAULTY = REGIONS[0]
OTHER = REGIONS[1]

def _on_signal(sig, _frame):
    sys.exit(128 + sig)    # runs atexit: processes stopped, namespaces deleted


def build_namespaces():
    """Returns None when done, or the reason namespaces are refused (netns_kit's pieces; its teardown()
    stops every process we started, by pid, and deletes the namespaces: their veths go with them)."""
    why = nk.add_namespace(NS_C)
    if why:
        return why
    for _, ns, veth, caddr, raddr in REGIONS:
        nk.add_leaf(NS_C, ns, veth, caddr, raddr, route=False)    # both ends made inside our namespaces
    # This process (and so every peer the harness spawns) moves into the
    # controller namespace; the root one is kept to come back for teardown.
    nk.enter(NS_C)
    return None


# ---------------------------------------------------------------- a region
class Region:
    """nginx on the namespace's 127.0.0.1:8080 and the delaying proxy on
    REGION_IP:80 in front of it; regiond probes http://REGION_IP/health."""

    def __init__(self, name, ns, raddr):
        self.name, self.ns, self.addr = name, ns, raddr
        self.dir = tmpdir("netns-region-")
        os.chmod(self.dir, 0o755)    # nginx workers run as nobody
        self.delay_file = os.path.join(self.dir, "delay_ms")
        self.set_delay(0)
        path = harness.write_nginx_conf(self.dir, f"access_log {self.dir}/access.log;", f"""server {{
        listen 127.0.0.1:8080;
        location = /health {{ return 200 "ok {name}\\n"; }}
    }}""", connections=256)
        # `ip netns exec` execs nginx itself: this pid is nginx's master.
        self.nginx = spawn(f"nginx-{name}", ["ip", "netns", "exec", ns, "nginx", "-p", self.dir, "-c", path,
                                             "-e", f"{self.dir}/error.log"],
                           stdout=subprocess.DEVNULL, stderr=open(os.path.join(self.dir, "nginx.out"), "w"))
        self.proxy = spawn(f"proxy-{name}", ["ip", "netns", "exec", ns, "/usr/bin/python3", os.path.abspath(__file__),
                                             "--delay-proxy", raddr, "80", "127.0.0.1", "8080", self.delay_file],
                           stdout=subprocess.PIPE, stderr=open(os.path.join(self.dir, "proxy.log"), "w"), text=True)
        line = self.proxy.stdout.readline()
        if line.strip() != "ready":
            raise AssertionError(f"delay proxy in {ns} did not start: "
                                 + open(os.path.join(self.dir, "proxy.log")).read()[-2000:])
        wait_for(lambda: self.fetch() == f"ok {name}\n" or (self.nginx.poll() is not None and
                                                            self._died()), 10,
                 f"nginx in {ns} answering through the proxy")

    def _died(self):
        raise AssertionError(f"nginx in {self.ns} exited {self.nginx.returncode}: "
                             + open(os.path.join(self.dir, "nginx.out")).read()[-2000:])

    def fetch(self, timeout=2):
        """GET /health from the controller namespace (where this process is)."""
        with socket.create_connection((self.addr, 80), timeout=timeout) as s:
            s.sendall(b"GET /health HTTP/1.0\r\nHost: x\r\n\r\n")
            data = b""
            while True:
                b = s.recv(4096)
                if not b:
                    break
                data += b
        return data.split(b"\r\n\r\n", 1)[1].decode()

    def set_delay(self, ms):
        with open(self.delay_file, "w") as f:
            f.write(str(ms))

    def fault(self, rule):
        nk.ns_fault(self.ns, rule)
        got = nk.sh("ip", "netns", "exec", self.ns, "nft", "list", "table", "inet", "rgdfault").stdout
        if "tcp dport 80" not in got:
            raise AssertionError(f"fault rule not in place: {got}")

    def clear(self):
        """Remove our table (if it is there) and any delay."""
        self.set_delay(0)
        nk.ns_unfault(self.ns)

    def stop(self):
        stop(self.proxy)
        harness.stop_peer(self.nginx)


# ---------------------------------------------------------------- the world
INTERVAL, TIMEOUT, CONNECT_TIMEOUT, LAT_MAX, DELAY, DEGRADED_W = 500, 450, 250, 150, 250, 50
W = {}   # filled by test_setup


def status_of(region):
    d = W["d"]
    st = d.status()
    reg = [r for r in st["regions"] if r["name"] == region][0]
    live = {x["region"]: x["live"] for x in st["failover"]["weights"]}
    return reg, reg["targets"][0], live


def wait_state(region, state, timeout):
    t0 = time.monotonic()
    reg = wait_for(lambda: (lambda r: r if r[0]["state"] == state else None)(status_of(region)), timeout,
                   f"{region} to become {state}")
    return reg, time.monotonic() - t0


def wait_weight(region, weight, timeout):
    t0 = time.monotonic()
    wait_for(lambda: W["peer"].weights(NAME)[region] == weight, timeout, f"Route 53 weight of {region} = {weight}")
    return time.monotonic() - t0


def recover(label):
    """Remove the fault; the region must come back up and get its weight back."""
    name = FAULTY[0]
    W["regions"][name].clear()
    t0 = time.monotonic()
    (reg, tgt, _), _ = wait_state(name, "up", 20)
    t_up = time.monotonic() - t0
    wait_weight(name, 100, 20)
    t_w = time.monotonic() - t0
    check_eq(tgt["state"], "up", f"{label} removed: target up again (reason {tgt['reason']!r})")
    check_eq(W["peer"].weights(NAME), {FAULTY[0]: 100, OTHER[0]: 100}, f"{label} removed: weights restored")
    wait_for(lambda: status_of(name)[2][name] == 100, 10, "regiond reads the restored weight back")
    print(f"timing: {label}: up {t_up:.2f} s and weight 100 at Route 53 {t_w:.2f} s after the rules went",
          flush=True)


def test_setup():
    peer = Route53Peer(weighted_zone(NAME, {r[0]: (r[4], 100) for r in REGIONS}), pending_ms=300)
    W["peer"] = peer
    W["regions"] = {name: Region(name, ns, raddr) for name, ns, _, _, raddr in REGIONS}
    cfg = {
        "controller": {"id": "ctl-netns", "listen": f"127.0.0.1:{free_port()}", "state_dir": tmpdir(),
                       "log_level": "debug"},
        "probe_defaults": {"interval_ms": INTERVAL, "timeout_ms": TIMEOUT, "connect_timeout_ms": CONNECT_TIMEOUT,
                           "latency_ms_max": LAT_MAX, "rise": 2, "fall": 2},
        "aws": {"endpoints": {"route53": peer.url}, "retry": {"base_ms": 50, "max_ms": 1000}},
        "route53": {"hosted_zone_id": peer.zone_id, "record_name": NAME, "record_type": "A", "ttl": 60,
                    "name_servers": [f"127.0.0.1:{peer.dns_port}"],
                    "dns_check": {"consecutive": 8, "interval_ms": 50, "timeout_s": 20}},
        "decision": {"hold_down_s": 1, "settle_ms": 400, "max_changes": 0, "degraded_weight": DEGRADED_W},
        "regions": [{"name": name, "api": [{"url": f"http://{raddr}/health", "body_contains": f"ok {name}"}],
                     "route53": {"value": raddr, "weight": 100}} for name, _, _, _, raddr in REGIONS],
    }
    env = {"AWS_ACCESS_KEY_ID": TEST_KEY["access_key"], "AWS_SECRET_ACCESS_KEY": TEST_KEY["secret_key"],
           "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent", "AWS_CONFIG_FILE": "/nonexistent"}
    d = Daemon(cfg, env=env)
    W["d"] = d
    for name, *_ in REGIONS:
        d.wait_target(name, "up", timeout=20)
    wait_for(lambda: all(v == 100 for v in status_of(FAULTY[0])[2].values()), 10, "live weights read")
    reg, tgt, _ = status_of(FAULTY[0])
    check_eq(reg["state"], "up", f"{FAULTY[0]} up through the veth ({tgt['url']})")
    check_eq(status_of(OTHER[0])[0]["state"], "up", f"{OTHER[0]} up")
    check_eq(len(peer.changes()), 0, "no change while both regions are healthy")


def test_latency_degraded():
    name = FAULTY[0]
    reg0 = W["regions"][name]
    slow0 = status_of(name)[1]["counters"]["slow"]
    reg0.set_delay(DELAY)
    t0 = time.monotonic()
    (reg, tgt, _), took = wait_state(name, "degraded", 20)
    check_eq(tgt["state"], "degraded", f"{DELAY} ms of latency: target degraded")
    check(tgt["reason"].startswith("latency: ") and f"> {LAT_MAX} ms" in tgt["reason"],
          f"degraded reason names the latency and the threshold ({tgt['reason']!r})")
    total = (tgt.get("last") or {}).get("timings_ms", {}).get("total")
    check(total is not None and DELAY <= total < TIMEOUT, f"last probe took the delay ({total} ms)")
    check(tgt["counters"]["slow"] - slow0 >= 2, f"slow probes counted ({tgt['counters']['slow'] - slow0})")
    check_eq(reg["state"], "degraded", "region degraded")
    tw = wait_weight(name, DEGRADED_W, 20)
    check_eq(W["peer"].weights(NAME), {name: DEGRADED_W, OTHER[0]: 100},
             f"Route 53: the degraded region at degraded_weight {DEGRADED_W}, the other untouched")
    check_eq(status_of(OTHER[0])[0]["state"], "up", f"{OTHER[0]} stays up")
    print(f"timing: latency: degraded after {took:.2f} s, weight {DEGRADED_W} after "
          f"{time.monotonic() - t0:.2f} s (wait for weight {tw:.2f} s)", flush=True)
    recover("latency")


def drain_decision(region, after_seq):
    """The first decision after after_seq that set region's weight to 0 while it was down."""
    for x in reversed(json.loads(W["d"].get("/v1/decisions")[1])):   # newest first
        if x["decision"] <= after_seq:
            continue
        r = [y for y in x["regions"] if y["region"] == region]
        if r and r[0]["weight"] == 0 and r[0]["health"] == "down":
            return x
    return None


def outage(rule, label, reason_has, down_timeout=20):
    name = FAULTY[0]
    fails0 = status_of(name)[1]["counters"]["failures"]
    n_changes = len(W["peer"].changes())
    seq0 = W["d"].status()["failover"]["decision"]
    W["regions"][name].fault(rule)
    t0 = time.monotonic()
    (reg, tgt, _), t_down = wait_state(name, "down", down_timeout)
    check_eq(tgt["state"], "down", f"{label}: target down")
    check(reason_has in tgt["reason"], f"{label}: reason {tgt['reason']!r} names {reason_has!r}")
    check(reason_has in (tgt.get("last") or {}).get("reason", ""),
          f"{label}: last result's reason {(tgt.get('last') or {}).get('reason')!r}")
    check(tgt["counters"]["failures"] - fails0 >= 2, f"{label}: failures counted "
          f"({tgt['counters']['failures'] - fails0})")
    check_eq(reg["state"], "down", f"{label}: region down ({reg['reason']})")
    t_w = wait_weight(name, 0, 20)
    check_eq(W["peer"].weights(NAME), {name: 0, OTHER[0]: 100},
             f"{label}: failed over: {name} weight 0 at Route 53, {OTHER[0]} keeps 100")
    ch = W["peer"].changes()[n_changes:]
    check(len(ch) >= 1, f"{label}: a change batch reached Route 53 ({len(ch)})")
    f = wait_for(lambda: (lambda f: f if f["last_change"] and f["last_change"]["status"] == "INSYNC" else None)(
        W["d"].status()["failover"]), 15, "the drain INSYNC")
    check_eq(f["last_change"]["error"] or "", "", f"{label}: the drain batch {f['last_change']['change_id']} INSYNC")
    dec = drain_decision(name, seq0)
    check(dec is not None and dec["rule"] == "health" and name in dec["reason"] and dec["applied"] == "apply"
          and dec["trigger"] == "settle-elapsed",
          f"{label}: the drain decision names the rule and the region, made when decision.settle_ms elapsed "
          f"({dec and (dec['rule'], dec['reason'], dec['trigger'], dec['applied'])})")
    print(f"timing: {label}: down after {t_down:.2f} s, drained at Route 53 after "
          f"{time.monotonic() - t0:.2f} s (weight wait {t_w:.2f} s)", flush=True)
    recover(label)


def test_black_hole_drop():
    outage("tcp dport 80 drop", "black hole (drop)", f"connect: timeout after {CONNECT_TIMEOUT} ms")


def test_tcp_reset():
    outage("tcp dport 80 reject with tcp reset", "tcp reset", "connect: refused")


def test_partial_loss():
    """30 % of the packets to port 80 dropped.  A lost SYN is retried by the
    kernel after 1 s, far beyond the 250 ms connect timeout, so some probes
    fail with a timeout and the rest succeed; with fall 2 the region may go
    down and come back.  Assert only what is not a race: failures and
    successes both counted, every failure a timeout."""
    name = FAULTY[0]
    t0_tgt = status_of(name)[1]
    p0, f0, s0 = t0_tgt["counters"]["probes"], t0_tgt["counters"]["failures"], t0_tgt["counters"]["slow"]
    W["regions"][name].fault("tcp dport 80 numgen random mod 10 < 3 drop")
    seen, reasons, weights, peer_w = [], set(), set(), set()
    t0 = time.monotonic()
    while True:
        reg, tgt, live = status_of(name)
        if not seen or seen[-1] != reg["state"]:
            seen.append(reg["state"])
        if tgt["last_failure"]:
            reasons.add(tgt["last_failure"])
        weights.add(live[name])
        peer_w.add(W["peer"].weights(NAME)[name])
        dp, df, ds = (tgt["counters"]["probes"] - p0, tgt["counters"]["failures"] - f0,
                      tgt["counters"]["slow"] - s0)
        el = time.monotonic() - t0
        if (el > 8 and dp >= 16 and df >= 2) or el > 30:
            break
        time.sleep(0.1)
    print(f"observed: partial loss over {el:.1f} s: {dp} probes, {df} failed ({100.0 * df / max(dp, 1):.0f} %), "
          f"{ds} slow (a retransmitted segment); "
          f"region states {' -> '.join(seen)}; live weights seen {sorted(weights)}; "
          f"failure reasons {sorted(reasons)}", flush=True)
    check(df >= 2, f"partial loss: failures counted ({df} of {dp})")
    check(dp - df >= 2, f"partial loss: probes also succeed ({dp - df} of {dp})")
    new = {r for r in reasons if r != t0_tgt["last_failure"]}
    check(new and all("timeout" in r for r in new), f"partial loss: failures are timeouts ({sorted(new)})")
    # Read at the Route 53 peer: the region's record is drained only if the
    # region was seen down (a partial loss alone never drains).
    check(0 not in peer_w or "down" in seen,
          f"partial loss: drained at the peer only after down (states {seen}, peer weights {sorted(peer_w)})")
    check("degraded" not in seen or ds >= 2, f"partial loss: degraded only after slow probes ({ds} slow)")
    check_eq(status_of(OTHER[0])[0]["state"], "up", f"{OTHER[0]} stays up")
    recover("partial loss")


def test_clean_exit():
    check_eq(W["peer"].weights(NAME), {FAULTY[0]: 100, OTHER[0]: 100}, "final weights")
    log = W["d"].read_log()
    check(TEST_KEY["secret_key"] not in log, "secret key absent from the log")
    check_eq(W["d"].stop(), 0, "regiond exits cleanly")
    for r in W["regions"].values():
        r.stop()
    W["peer"].stop()


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    atexit.register(nk.teardown)
    started = time.monotonic()
    why = build_namespaces()
    if why:
        print(f"SKIP: network namespaces are refused here (kernel or privilege), this test did not run: {why}", flush=True)
        nk.teardown()
        sys.exit(nk.SKIP_CODE)
    print(f"namespaces: {NS_C} (regiond, Route 53 peer), "
          + ", ".join(f"{ns} ({name} at {raddr})" for name, ns, _, _, raddr in REGIONS), flush=True)

    def test_duration():
        took = time.monotonic() - started
        print(f"timing: whole test {took:.1f} s", flush=True)
        check(took < 120, f"the test stays well under 2 minutes ({took:.1f} s)")

    tests = [test_setup, test_latency_degraded, test_black_hole_drop, test_tcp_reset, test_partial_loss,
             test_clean_exit, test_duration]

    def guarded(t):
        # A fault left behind by a failed test must not leak into the next one.
        def run():
            try:
                t()
            finally:
                if W.get("regions") and t is not test_clean_exit:
                    W["regions"][FAULTY[0]].clear()
        run.__name__ = t.__name__
        return run
    run_tests([tests[0]] + [guarded(t) for t in tests[1:]])
