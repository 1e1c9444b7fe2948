"""sd_notify never blocks the loop (issue 14): PID 1 stalls — the notify
socket is bound by this test and never read, so its queue fills within a
second at a 1 ms watchdog interval.  regiond still answers /healthz and
/v1/status quickly, its probes keep running, its loop lag stays low, and it
counts the notifications it dropped; once the socket is read again the
pings resume.  (libsystemd's blocking sd_notify hangs the loop here: the
daemon never answers /healthz.)"""
import os
import re
import socket
import time

from harness import Daemon, Nginx, check, check_eq, free_port, make_config, run_tests, tmpdir


def metric(d, name):
    m = re.search(rf"^{name} (\S+)$", d.get("/metrics")[1].decode(), re.M)
    return float(m.group(1)) if m else None


def test_stalled_notify_socket():
    p = free_port()
    ngx = Nginx([p])
    sock_path = os.path.join(tmpdir(), "notify.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(sock_path)
    cfg = make_config([{"name": "r1", "api": [{"url": f"http://127.0.0.1:{p}/health"}]}], tmpdir(), free_port())
    d = Daemon(cfg, env={"NOTIFY_SOCKET": sock_path, "WATCHDOG_USEC": "2000"})
    d.wait_target("r1", "up")
    time.sleep(2)   # > 1000 pings at 1 ms: the queue (max_dgram_qlen) is full
    t0 = time.monotonic()
    code, _ = d.get("/healthz")
    took = time.monotonic() - t0
    check(code == 200 and took < 0.5, f"/healthz answers while PID 1 stalls ({code}, {took * 1000:.0f} ms)")
    dropped = metric(d, "regiond_sd_notify_dropped_total")
    check(dropped is not None and dropped > 0, f"dropped notifications counted ({dropped})")
    lag = metric(d, "regiond_loop_lag_seconds")
    check(lag is not None and lag < 0.25, f"loop lag under 250 ms ({lag})")
    n0 = d.target("r1")
    time.sleep(1)
    n1 = d.target("r1")
    check(n1 != n0 or n1.get("last_check") != n0.get("last_check"), "probes keep running")
    s.setblocking(False)
    got = 0
    try:
        while True:
            s.recv(4096)
            got += 1
    except BlockingIOError:
        pass
    time.sleep(0.3)
    fresh = 0
    try:
        while True:
            if b"WATCHDOG=1" in s.recv(4096):
                fresh += 1
    except BlockingIOError:
        pass
    check(got > 0 and fresh > 0, f"pings resume once the socket is read ({got} queued, {fresh} fresh)")
    check_eq(d.stop(), 0, "clean exit")
    s.close()
    ngx.stop()


if __name__ == "__main__":
    run_tests([test_stalled_notify_socket])
