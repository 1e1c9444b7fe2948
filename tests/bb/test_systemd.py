"""systemd: READY=1, STATUS=, WATCHDOG=1 and STOPPING=1 on our own
NOTIFY_SOCKET, a clean exit within 5 s of SIGTERM, and the unit file accepted
by systemd-analyze verify without a single warning."""
import os
import re
import signal
import socket
import subprocess
import time

from harness import (REGIOND, SRC, Daemon, Nginx, check, check_eq, free_port, make_config,
                     run_tests, tmpdir)


def test_notify():
    p = free_port()
    ngx = Nginx([p])
    d0 = tmpdir()
    sock_path = os.path.join(d0, "notify.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(sock_path)
    s.settimeout(0.2)
    cfg = make_config([{"name": "r1", "api": [{"url": f"http://127.0.0.1:{p}/health"}]}], tmpdir(), free_port())
    d = Daemon(cfg, env={"NOTIFY_SOCKET": sock_path, "WATCHDOG_USEC": "600000"})
    msgs = []

    def collect(until, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                msgs.append(s.recv(4096).decode())
            except socket.timeout:
                pass
            if until():
                return True
        return False

    collect(lambda: sum("WATCHDOG=1" in m for m in msgs) >= 3, 5)
    joined = "\n".join(msgs)
    check("READY=1" in joined, "READY=1 sent")
    check(re.search(r"STATUS=\d+ regions", joined) is not None, "STATUS= one-line summary sent")
    check(sum("WATCHDOG=1" in m for m in msgs) >= 3, "WATCHDOG=1 sent repeatedly (every 0.3 s)")
    ready_idx = next(i for i, m in enumerate(msgs) if "READY=1" in m)
    check(d.get("/healthz")[0] == 200, "listener up once READY=1 was sent")
    t0 = time.monotonic()
    d.proc.send_signal(signal.SIGTERM)
    collect(lambda: any("STOPPING=1" in m for m in msgs), 5)
    check(any("STOPPING=1" in m for m in msgs[ready_idx:]), "STOPPING=1 sent on SIGTERM")
    try:
        d.proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass
    check(time.monotonic() - t0 < 5, "exited within 5 s")
    rc = d.stop(timeout=5)
    check_eq(rc, 0, "exit status 0")
    s.close()
    ngx.stop()


def test_unit_verify():
    d = tmpdir()
    unit = open(os.path.join(SRC, "systemd", "regiond.service.in")).read().replace("@REGIOND_CONFDIR@", "/etc/regiond")
    check("Type=notify" in unit and "WatchdogSec=" in unit, "unit is Type=notify with a watchdog")
    for key in ["ProtectSystem=strict", "NoNewPrivileges=yes", "RestrictAddressFamilies=",
                "CapabilityBoundingSet=\n", "SystemCallFilter=@system-service", "StateDirectory=",
                "DynamicUser=yes"]:
        check(key in unit, f"unit hardening: {key.strip()}")
    path = os.path.join(d, "regiond.service")
    with open(path, "w") as f:
        f.write(unit.replace("@REGIOND_SBINDIR@/regiond", os.path.abspath(REGIOND)))
    r = subprocess.run(["systemd-analyze", "verify", "--man=no", path], capture_output=True, text=True, timeout=60)
    out = (r.stdout + r.stderr).strip()
    check_eq(r.returncode, 0, "systemd-analyze verify exit status")
    check_eq(out, "", "systemd-analyze verify printed no warning")
    # The check itself can fail: a missing binary must be reported.
    bad = os.path.join(d, "bad.service")
    with open(bad, "w") as f:
        f.write(unit.replace("@REGIOND_SBINDIR@/regiond", "/nonexistent/regiond"))
    r = subprocess.run(["systemd-analyze", "verify", "--man=no", bad], capture_output=True, text=True, timeout=60)
    check(r.returncode != 0 or (r.stdout + r.stderr).strip() != "", "verify flags a unit with a missing binary")


if __name__ == "__main__":
    run_tests([test_notify, test_unit_verify])
