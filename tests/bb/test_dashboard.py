"""The ops-room dashboard in a real browser: Debian's headless chromium driven
by playwright-core (tests/web/drive.js) loads the page the daemon serves at /,
shows one card per region, follows a region going down without a reload, shows
"connection lost, retrying…" while the daemon is stopped and "live" again once
a new daemon answers on the same port.  Screenshots land in build/artifacts/.
Needs scripts/install-browser.sh (chromium + playwright-core)."""
import json
import os
import select
import subprocess
import time
import urllib.request

from harness import (SRC, TEST_KEY, Daemon, Nginx, Route53Peer, check, check_eq, free_port, run_tests, spawn,
                     stop, tmpdir, wait_for, weighted_zone)

NAME = "api.example.test."
REGIONS = ["us-east-1", "eu-west-1", "ap-southeast-2"]
IPS = ["127.0.0.11", "127.0.0.12", "127.0.0.13"]
CHROMIUM = "/usr/bin/chromium"
WEB = os.path.join(SRC, "tests", "web")
DRIVE = os.path.join(WEB, "drive.js")
ARTIFACTS = os.path.join(SRC, "build", "artifacts")
LOST = "connection lost, retrying…"


def page_base(d):
    """Where the browser loads the dashboard: the daemon itself."""
    return d.base


class Driver:
    """tests/web/drive.js: one command line in, one JSON line out."""

    def __init__(self):
        env = dict(os.environ, CHROMIUM=CHROMIUM)
        self.proc = spawn("drive.js", ["node", DRIVE], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                          stderr=open(os.path.join(tmpdir("drive-"), "stderr"), "w"), env=env, cwd=WEB)
        self.buf = b""
        hello = self._line(60)
        if not hello.get("ready"):
            raise AssertionError(f"drive.js did not start: {hello}")
        self.version = hello.get("version")

    def _line(self, timeout):
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"drive.js gave no answer within {timeout}s")
            r, _, _ = select.select([fd], [], [], left)
            if r:
                chunk = os.read(fd, 65536)
                if not chunk:
                    raise AssertionError(f"drive.js exited ({self.proc.poll()})")
                self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line.decode("utf-8"))

    def cmd(self, line, timeout=30):
        self.proc.stdin.write((line + "\n").encode("utf-8"))
        self.proc.stdin.flush()
        return self._line(timeout)

    def close(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write(b"quit\n")
                self.proc.stdin.close()
                self.proc.wait(timeout=15)
            except (OSError, subprocess.TimeoutExpired):
                pass
        return stop(self.proc)


def panel_readers(script, name):
    """(panel, wait_panel) for a panel script of tests/web (the Observers and Lease panels): panel(drv)
    is what the script reads off the page; wait_panel(drv, pred, timeout, what) waits until pred holds
    of it and fails naming what with the last reading."""
    def panel(drv):
        a = drv.cmd(f"eval-file {script} 1280 800")
        check(a["ok"], f"the {name} panel is read: {a.get('error')}")
        return a["value"]

    def wait_panel(drv, pred, timeout, what):
        last = {}

        def ok():
            nonlocal last
            last = panel(drv)
            return pred(last)
        try:
            wait_for(ok, timeout, what, interval=0.3)
        except AssertionError:
            check(False, f"the page shows {what} within {timeout:.0f} s (last: {json.dumps(last)[:3000]})")
            raise
        return last
    return panel, wait_panel


def setup(interval=300, fall=2):
    ports = [free_port() for _ in REGIONS]
    ngx = Nginx(ports)
    peer = Route53Peer(weighted_zone(NAME, {r: (ip, 100) for r, ip in zip(REGIONS, IPS)}), pending_ms=300)
    cfg = {
        "controller": {"id": "ops-room", "listen": f"127.0.0.1:{free_port()}", "state_dir": tmpdir(),
                       "log_level": "debug"},
        "probe_defaults": {"interval_ms": interval, "timeout_ms": 250, "rise": 2, "fall": fall},
        "aws": {"endpoints": {"route53": peer.url}, "retry": {"base_ms": 50, "max_ms": 1000}},
        "route53": {"hosted_zone_id": peer.zone_id, "record_name": NAME, "record_type": "A", "ttl": 60,
                    "name_servers": [f"127.0.0.1:{peer.dns_port}"],
                    "dns_check": {"consecutive": 2, "interval_ms": 50, "timeout_s": 10}},
        "decision": {"hold_down_s": 3, "settle_ms": 300},
        "regions": [{"name": r, "api": [{"url": f"http://127.0.0.1:{p}/health"}],
                     "route53": {"value": ip, "weight": 100}} for r, p, ip in zip(REGIONS, ports, IPS)],
    }
    env = {"AWS_ACCESS_KEY_ID": TEST_KEY["access_key"], "AWS_SECRET_ACCESS_KEY": TEST_KEY["secret_key"],
           "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent", "AWS_CONFIG_FILE": "/nonexistent"}
    return ngx, ports, peer, cfg, env


def test_dashboard():
    if not os.access(CHROMIUM, os.X_OK) or not os.path.exists(os.path.join(WEB, "node_modules", "playwright-core")):
        raise AssertionError(f"needs {CHROMIUM} and playwright-core in tests/web/node_modules: "
                             "run scripts/install-browser.sh")
    interval, fall = 300, 2
    ngx, ports, peer, cfg, env = setup(interval, fall)
    d = Daemon(cfg, env=env)
    for r in REGIONS:
        d.wait_target(r, "up")

    # The daemon serves the page and its two assets.
    base = page_base(d)
    for path, ctype in (("/", "text/html"), ("/app.css", "text/css"), ("/app.js", "javascript")):
        with urllib.request.urlopen(base + path, timeout=5) as r:
            check(r.status == 200 and ctype in r.headers.get("Content-Type", ""),
                  f"GET {path}: {r.status} {r.headers.get('Content-Type')}")
    drills_code = d.get("/v1/drills")[0]

    drv = Driver()
    print(f"chromium {drv.version}", flush=True)
    try:
        a = drv.cmd(f"goto {base}/")
        check(a["ok"] and a.get("status") == 200, f"page loads from the daemon: {a}")
        a = drv.cmd("wait-for-cards 3 10")
        check(a["ok"], f"cards appear: {a.get('error')}")
        check_eq(sorted(c["region"] for c in a.get("cards", [])), sorted(REGIONS), "one card per region")
        for r in REGIONS:
            a = drv.cmd(f"wait-for-state {r} up 10")
            check(a["ok"], f"{r} card shows up ({a.get('error') or a.get('took_s')})")
        a = drv.cmd("wait-for-conn 10 live")
        check(a["ok"], f"#conn says live ({a.get('error') or a.get('took_s')})")

        # One region breaks: its card turns "down" without a reload.
        ngx.down(ports[1])
        budget = fall * interval / 1000 + 3
        t0 = time.monotonic()
        a = drv.cmd(f"wait-for-state {REGIONS[1]} down {budget}", timeout=budget + 10)
        took = time.monotonic() - t0
        check(a["ok"] and took <= budget, f"{REGIONS[1]} card shows down within fall*interval+3 s "
                                          f"({took:.2f} s, budget {budget:.1f} s): {a.get('error') or ''}")
        for r in (REGIONS[0], REGIONS[2]):
            a = drv.cmd(f"wait-for-state {r} up 1")
            check(a["ok"], f"{r} card still up")
        info = wait_for(lambda: (lambda i: i if "region_state" in i.get("log_types", []) else None)(drv.cmd("info")),
                        10, "region_state in the event log")
        check("region_state" in info["log_types"], f"event log streams region_state ({info['log']} entries)")
        check(info["banner"] is None, f"no banner while failover is normal ({info['banner']})")
        check_eq(info["drills_visible"], drills_code == 200, f"drills panel shown iff /v1/drills answers (it says {drills_code})")
        errs = [e for e in info.get("console_errors", []) if not e.startswith("Failed to load resource")]
        check_eq(errs, [], "no script errors in the console (a 404 from /v1/drills is expected)")
        # Let the drain's decision and Route 53 change land in the log before the pictures.
        wait_for(lambda: any(t.startswith("route53_change") for t in drv.cmd("info")["log_types"]), 10,
                 "a route53 change in the event log")

        os.makedirs(ARTIFACTS, exist_ok=True)
        for name, w, h in (("dashboard.png", 1280, 900), ("dashboard-phone.png", 390, 844)):
            p = os.path.join(ARTIFACTS, name)
            a = drv.cmd(f"screenshot {p} {w} {h}")
            check(a["ok"] and os.path.getsize(p) > 10000, f"screenshot {w}x{h}: {p}")
            print(f"screenshot: {p}", flush=True)
        for w in (1280, 390):
            a = drv.cmd(f"check-no-hscroll {w}")
            check(a["ok"] and a.get("no_hscroll"), f"no horizontal scroll at {w} px "
                                                   f"(scrollWidth {a.get('scroll_width')}, innerWidth {a.get('inner_width')})")

        # Cut the stream: the page says so, and recovers once a daemon answers again.
        check_eq(d.stop(), 0, "daemon stops cleanly")
        a = drv.cmd(f"wait-for-conn 10 {LOST}", timeout=20)
        check(a["ok"], f"#conn shows '{LOST}' after the daemon stops ({a.get('error') or a.get('took_s')})")
        d2 = Daemon(cfg, dir=d.dir, env=env)
        a = drv.cmd("wait-for-conn 15 live", timeout=25)
        check(a["ok"], f"#conn back to live after the restart ({a.get('error') or a.get('took_s')})")
        a = drv.cmd(f"wait-for-state {REGIONS[1]} down 10", timeout=20)
        check(a["ok"], f"{REGIONS[1]} still shown down after the restart ({a.get('error') or ''})")
        a = drv.cmd("info")
        check_eq(sorted(c["region"] for c in a.get("cards", [])), sorted(REGIONS), "cards kept across the restart")

        # Every region down: the daemon fails open and the page raises the alarm banner.
        for p in ports:
            ngx.down(p)
        a = drv.cmd("wait-for-banner 10 FAILOVER ALARM", timeout=20)
        check(a["ok"], f"alarm banner shown when every region is down: {a.get('banner') or a.get('error')}")
        fo = d2.status()["failover"]
        check(fo["alarm"] and (fo["reason"] or "")[:40] in (a.get("banner") or ""),
              f"banner shows failover.reason ({fo['reason']!r})")
        p = os.path.join(ARTIFACTS, "dashboard-alarm.png")
        a = drv.cmd(f"screenshot {p} 1280 900")
        check(a["ok"], f"screenshot of the alarm: {p}")
        print(f"screenshot: {p}", flush=True)
    finally:
        rc = drv.close()
    check_eq(rc, 0, "drive.js exits cleanly")
    check_eq(d2.stop(), 0, "second daemon stops cleanly")
    peer.stop()
    ngx.stop()


if __name__ == "__main__":
    run_tests([test_dashboard])
