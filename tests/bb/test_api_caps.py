"""A local client can never hurt the controller: at `ulimit -n 160`, 200 idle
event streams, 500 idle connections and 300 trickling ones (a header line
every 5 s) against the API -> no region changes state and nothing changes in
the Route 53 peer, every /healthz ask is answered 200 within 1 s throughout
(also from a client that dawdles up to 0.4 s between its connect and its
request), probes never run out of descriptors, the controller-resources
alarm is raised and the refusals are counted.  And 200 event-stream clients that never read (small
receive buffers) while events flow -> RSS stays under baseline + 64 MB and
comes back near the baseline after they close."""
import errno
import http.client
import json
import os
import resource
import selectors
import socket
import stat
import threading
import time

import harness
from harness import check, check_eq, eventually, run_tests, tmpdir, wait_for
from test_failover import NAME, REGIONS, TOKENS, setup, wait_all_up

TOKEN = [l.split()[1] for l in open(TOKENS) if l.strip() and not l.startswith("#")][0]


def raise_own_nofile(n=8192):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(max(soft, n), hard), hard))


def with_ulimit(n):
    """A wrapper that starts regiond with RLIMIT_NOFILE n (exec keeps the pid)."""
    d = tmpdir("ulimit-")
    path = os.path.join(d, "regiond-ulimit")
    with open(path, "w") as f:
        f.write(f"#!/bin/sh\nulimit -n {n}\nexec {harness.REGIOND} \"$@\"\n")
    os.chmod(path, stat.S_IRWXU)
    return path


class Crowd:
    """Hostile local clients on one selector thread.  kind: 'stream' (asks
    for /v1/events, never reads), 'idle' (connects, sends nothing),
    'trickle' (a request line, then one header line every 5 s).  Idle and
    trickling clients reconnect 1 s after the server closes them."""

    def __init__(self, port, counts):
        self.port, self.sel, self.stop_ev = port, selectors.DefaultSelector(), threading.Event()
        self.socks, self.pending, self.opened, self.closed_by_server = {}, [], 0, 0
        now = time.monotonic()
        for kind, n in counts.items():
            for i in range(n):
                self.pending.append((now + i * 0.002, kind))
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _open(self, kind):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if kind == "stream":
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.setblocking(False)
        try:
            s.connect(("127.0.0.1", self.port))
        except BlockingIOError:
            pass
        except OSError:
            s.close()
            self.pending.append((time.monotonic() + 1, kind))
            return
        self.opened += 1
        st = {"kind": kind, "next": time.monotonic(), "sent": 0}
        self.socks[s] = st
        if kind != "stream":
            self.sel.register(s, selectors.EVENT_READ, st)

    def _send(self, s, st, now):
        try:
            if st["kind"] == "stream" and st["sent"] == 0:
                s.send(b"GET /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                st["sent"] = 1
            elif st["kind"] == "trickle" and now >= st["next"]:
                s.send(b"GET /v1/status HTTP/1.1\r\n" if st["sent"] == 0 else b"X-Slow: %d\r\n" % st["sent"])
                st["sent"] += 1
                st["next"] = now + 5
        except (BlockingIOError, InterruptedError):
            pass
        except OSError:
            self._drop(s, st)

    def _drop(self, s, st):
        if s in self.socks:
            del self.socks[s]
            try:
                self.sel.unregister(s)
            except (KeyError, ValueError):
                pass
            s.close()
            self.closed_by_server += 1
            self.pending.append((time.monotonic() + 1, st["kind"]))

    def _run(self):
        while not self.stop_ev.is_set():
            now = time.monotonic()
            due = [p for p in self.pending if p[0] <= now]
            self.pending = [p for p in self.pending if p[0] > now]
            for _, kind in due:
                self._open(kind)
            for key, _ in self.sel.select(timeout=0.05):
                s, st = key.fileobj, key.data
                try:
                    b = s.recv(65536)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    b = b""
                if not b:
                    self._drop(s, st)
            for s, st in list(self.socks.items()):
                self._send(s, st, now)

    def close(self):
        self.stop_ev.set()
        self.t.join(timeout=5)
        for s in list(self.socks):
            s.close()
        self.socks.clear()


def healthz(port):
    t0 = time.monotonic()
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=1.0)
        c.request("GET", "/healthz")
        code = c.getresponse().status
        c.close()
    except OSError as e:
        code = f"error {e}"
    return code, time.monotonic() - t0


def healthz_dawdling(port, delay):
    """/healthz from a client that sends its request `delay` s after its
    connect (descheduled, or a slow machine): the reply must still come
    within 1 s of the connect."""
    t0 = time.monotonic()
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(1.0)
    try:
        s.connect(("127.0.0.1", port))
        time.sleep(delay)
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        s.settimeout(max(0.01, 1.0 - (time.monotonic() - t0)))
        out = b""
        while b"\r\n" not in out:
            b = s.recv(4096)
            if not b:
                break
            out += b
        code = int(out[9:12]) if out.startswith(b"HTTP/1.1 ") else f"closed after {out[:20]!r}"
    except OSError as e:
        code = f"error {e}"
    finally:
        s.close()
    return code, time.monotonic() - t0


class Dawdler:
    """Asks /healthz every 0.3 s, each time dawdling a random 0-0.4 s
    (seeded per run and printed) before sending the request."""

    def __init__(self, port):
        import random
        self.seed = random.randrange(1 << 30)
        self.rng = random.Random(self.seed)
        self.port, self.stop_ev, self.asks, self.bad = port, threading.Event(), [], []
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        while not self.stop_ev.wait(0.3):
            delay = self.rng.uniform(0, 0.4)
            code, dt = healthz_dawdling(self.port, delay)
            self.asks.append(dt)
            if code != 200 or dt >= 1.0:
                self.bad.append((round(delay, 3), code, round(dt, 3)))

    def close(self):
        self.stop_ev.set()
        self.t.join(timeout=5)


def metric(d, name):
    total = 0.0
    for line in d.get("/metrics")[1].decode().splitlines():
        if line.startswith(name):
            total += float(line.split()[-1])
    return total


def test_fd_exhaustion_at_ulimit_160():
    raise_own_nofile()
    real = harness.REGIOND
    harness.REGIOND = with_ulimit(160)
    try:
        ngx, ports, peer, cfg, d, env = setup()
    finally:
        harness.REGIOND = real
    wait_all_up(d)
    before = {r["name"]: (r["state"], r["since"]) for r in d.status()["regions"]}
    check(all(s == "up" for s, _ in before.values()), "every region up before the crowd")
    st = d.status()["controller"]
    check_eq(st["fd_limit"], 160, "regiond runs with RLIMIT_NOFILE 160")
    n_changes = len(peer.changes())
    crowd = Crowd(d.port, {"stream": 200, "idle": 500, "trickle": 300})
    dawdler = Dawdler(d.port)
    lat, bad = [], []
    t_end = time.monotonic() + 25
    while time.monotonic() < t_end:
        code, dt = healthz(d.port)
        lat.append(dt)
        if code != 200 or dt >= 1.0:
            bad.append((round(time.monotonic() - t_end + 25, 2), code, round(dt, 3)))
        time.sleep(0.2)
    status_during = d.status()
    m_refused = metric(d, "regiond_api_refused_total")
    m_streams = metric(d, 'regiond_api_refused_total{reason="streams"}')
    dawdler.close()
    crowd.close()
    print(f"crowd: {crowd.opened} connections opened, {crowd.closed_by_server} closed by regiond; "
          f"/healthz n={len(lat)} max={max(lat):.3f}s; dawdling (seed {dawdler.seed}) n={len(dawdler.asks)} "
          f"max={max(dawdler.asks):.3f}s")
    check(len(lat) >= 60 and len(dawdler.asks) >= 30,
          f"/healthz asked throughout ({len(lat)} times, {len(dawdler.asks)} dawdling)")
    check(not bad, f"every /healthz answered 200 within 1 s ({len(bad)} of {len(lat)} not: {bad[:5]})")
    check(not dawdler.bad, f"every dawdling /healthz answered 200 within 1 s of its connect "
          f"({len(dawdler.bad)} of {len(dawdler.asks)} not; (delay, code, s): {dawdler.bad[:5]})")
    after = {r["name"]: (r["state"], r["since"]) for r in status_during["regions"]}
    check_eq(after, before, "no region changed state (same state, same since)")
    check_eq(len(peer.changes()), n_changes, "nothing changed in the Route 53 peer")
    check_eq({r: w for r, w in peer.weights(NAME).items()}, {r: 100 for r in REGIONS}, "peer weights untouched")
    keys = [a["key"] for a in status_during["alarms"]["active"]]
    check("controller-resources" in keys, f"controller-resources alarm raised ({keys})")
    check("failover" not in keys, "no failover alarm")
    check(m_refused > 0 and m_streams > 0, f"refusals counted in /metrics ({m_refused} total, {m_streams} streams)")
    api = status_during["api"]
    check(api["max_connections"] + 8 <= (160 - 32) // 2 + 8, f"API capped inside the descriptor budget ({api})")
    check_eq(status_during["controller"]["probe_local_failures"], 0, "no probe ever failed for lack of descriptors")
    log = d.read_log()
    check("Too many open files" not in "\n".join(l for l in log.splitlines() if "target_state" in l),
          "no target state change blames descriptors")
    # The controller still does its job after the crowd: a control request works.
    c = http.client.HTTPConnection("127.0.0.1", d.port, timeout=5)
    c.request("POST", "/v1/freeze", body=b"{}", headers={"Authorization": f"Bearer {TOKEN}",
                                                          "Content-Type": "application/json"})
    check_eq(c.getresponse().status, 200, "a control request works after the crowd")
    c.close()
    check_eq(d.stop(), 0, "clean exit")
    peer.stop()
    ngx.stop()


def test_bare_connects_wait_in_the_kernel():
    """30 connections that send nothing are not accepted (no descriptor of
    regiond's) until 1 s has passed; a request sent meanwhile is; after the
    second they are accepted and, being idle, closed in turn."""
    raise_own_nofile()
    ngx, ports, peer, cfg, d, env = setup()
    wait_all_up(d)
    for attempt in range(3):   # the machine may be too slow to ask within the second: try again
        a0 = metric(d, "regiond_api_accepted_total")
        t0 = time.monotonic()
        bare = [socket.create_connection(("127.0.0.1", d.port), timeout=2) for _ in range(30)]
        a1 = metric(d, "regiond_api_accepted_total")   # one request, sent with its connect
        took = time.monotonic() - t0
        if took < 0.7:
            break
        for s in bare:
            s.close()
        time.sleep(2)
    check(took < 0.7, f"asked within 0.7 s of the first bare connect ({took:.2f} s, attempt {attempt + 1})")
    check_eq(a1 - a0, 1, "only the request was accepted, none of the 30 bare connects")
    eventually(lambda: (lambda a: a if a - a1 >= 31 else None)(metric(d, "regiond_api_accepted_total")), 10,
               "30 bare connects accepted after their second",
               show=lambda a2: f"{a2 - a1:.0f} with the /metrics asks")
    for s in bare:
        s.close()
    check_eq(d.stop(), 0, "clean exit")
    peer.stop()
    ngx.stop()


def send_queues(port):
    """Send-Q of each established connection from regiond's listening port (ss)."""
    import subprocess
    out = subprocess.run(["ss", "-tnH", "state", "established", f"( sport = :{port} )"], capture_output=True,
                         text=True, timeout=10).stdout
    return [int(l.split()[1]) for l in out.splitlines() if l.strip()]


def rss_kb(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def asan_build():
    with open(harness.REGIOND, "rb") as f:
        return b"libasan" in f.read()   # linked against ASan's runtime


def test_stream_memory_bounded():
    raise_own_nofile()
    env = {}
    if asan_build():
        # ASan's quarantine keeps freed memory mapped for a while: make it
        # small and give memory back quickly, so RSS measures regiond.
        env = {"ASAN_OPTIONS": "quarantine_size_mb=4:allocator_release_to_os_interval_ms=200"}
    real_spawn = harness.spawn

    def spawn_env(name, argv, **kw):
        if name == "regiond" and env:
            kw["env"] = dict(kw.get("env") or os.environ, **env)
        return real_spawn(name, argv, **kw)
    harness.spawn = spawn_env
    try:
        ngx, ports, peer, cfg, d, denv = setup()
        check_eq(d.stop(), 0, "first daemon stopped")
        cfg["controller"].update({"max_api_connections": 300, "max_stream_clients": 220,
                                  "stream_client_buffer_bytes": 65536, "stream_memory_bytes": 16 << 20})
        cfg["controller"]["state_dir"] = tmpdir()
        d = harness.Daemon(cfg, env=denv)
    finally:
        harness.spawn = real_spawn
    wait_all_up(d)
    pid = d.proc.pid
    # Warm up the paths a stream takes, then take the baseline.
    for _ in range(20):
        flip(d)
    time.sleep(1)
    base = rss_kb(pid)
    socks = []
    for _ in range(200):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.connect(("127.0.0.1", d.port))
        s.sendall(b"GET /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        socks.append(s)
    wait_for(lambda: d.status()["api"]["stream_clients"] == 200, 10, "200 stream clients attached")
    peak = base
    t_end = time.monotonic() + 12
    n = 0
    while time.monotonic() < t_end:
        flip(d)   # four events (freeze, unfreeze, their audits), to 200 clients that never read
        n += 1
        peak = max(peak, rss_kb(pid))
    api = d.status()["api"]
    sendq = send_queues(d.port)
    print(f"events sent: {4 * n}; RSS baseline {base // 1024} MB, peak {peak // 1024} MB; "
          f"queued {api['stream_queued_bytes']} bytes; kernel send queues max {max(sendq)} bytes")
    check(n >= 100, f"events flowed ({4 * n})")
    check(len(sendq) >= 200 and max(sendq) <= 2 * 65536 + 16384,
          f"the kernel holds at most ~2 x stream_client_buffer_bytes per client (max Send-Q {max(sendq)})")
    check(api["stream_queued_bytes"] <= 200 * (65536 + 8192), f"queued bytes within 200 x the per-client cap "
          f"({api['stream_queued_bytes']})")
    check(peak - base < 64 * 1024, f"RSS under baseline + 64 MB while 200 clients do not read "
          f"({base // 1024} -> {peak // 1024} MB)")
    for s in socks:
        s.close()
    wait_for(lambda: d.status()["api"]["stream_clients"] == 0, 40, "the streams closed")
    eventually(lambda: (lambda r: r if r - base < 16 * 1024 else None)(rss_kb(pid)), 15,
               "RSS back near the baseline (within 16 MB)", show=lambda end: f"{base // 1024} -> {end // 1024} MB")
    check_eq(d.stop(), 0, "clean exit")
    peer.stop()
    ngx.stop()


NOTE = "n" * 190   # notes are kept to 200 bytes


def flip(d):
    h = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    for method, body in (("POST", json.dumps({"note": NOTE}).encode()), ("DELETE", b"")):
        c = http.client.HTTPConnection("127.0.0.1", d.port, timeout=5)
        c.request(method, "/v1/freeze", body=body, headers=h)
        r = c.getresponse()
        r.read()
        c.close()


if __name__ == "__main__":
    run_tests([test_fd_exhaustion_at_ulimit_160, test_bare_connects_wait_in_the_kernel, test_stream_memory_bounded])
