"""The dashboard on a wall screen, a laptop and a phone (issue 19): Debian's
headless chromium (tests/web/drive.js) loads the page the daemon serves with 3
regions -- one healthy, one whose only target refuses connections and is still
`unknown` (fall 100), one with a second, refused target -- at 1920x1080,
1280x800 and 390x844, and tests/web/layout_check.js asserts in the page: no
horizontal scroll, no element whose content overflows its box, no word broken
across lines in the header, banner and cards, every card inside the viewport at
1920x1080.  The unknown target shows no latency figure, neither in the page nor
in /v1/status (latency only from probes that got an answer).  Screenshots land
in build/artifacts/dashboard-layout-WxH.png.  A second case, 5 regions (one
answering 503), checks that the cards wrap as 3 + 2 equal cards on wide screens
and stack at 390 px (dashboard-layout-5-regions-WxH.png); a third, with DynamoDB
(dynalite behind the strict peer, replication delayed 150 ms), that the lag
sparklines draw the reported lag (dashboard-layout-dynamodb-WxH.png).  Needs
scripts/install-browser.sh."""
import json
import os
import re
import time

from harness import (Daemon, DdbPeer, Nginx, api_target, check, check_eq, free_port, make_config, run_tests, tmpdir,
                     wait_for)
from test_dashboard import ARTIFACTS, CHROMIUM, REGIONS, WEB, Driver, setup

LAYOUT = os.path.join(WEB, "layout_check.js")
SIZES = ((1920, 1080), (1280, 800), (390, 844))
HEALTHY, REFUSED, MIXED = REGIONS


def layout(drv, w, h):
    a = drv.cmd(f"eval-file {LAYOUT} {w} {h}")
    check(a["ok"], f"layout check runs at {w}x{h}: {a.get('error')}")
    return a["value"]


def check_common(v, w, h, regions):
    check(v["no_hscroll"], f"{w}x{h}: no horizontal scroll (scrollWidth {v['scroll_width']}, "
                           f"clientWidth {v['client_width']})")
    check_eq(v["overflow"], [], f"{w}x{h}: no element's content overflows its box")
    check(v["words"] > 50, f"{w}x{h}: the word check saw the page's words ({v['words']})")
    check_eq(v["broken"], [], f"{w}x{h}: no word broken across lines")
    check(not v["log"]["x_scroll"], f"{w}x{h}: the event log does not scroll sideways")
    check_eq(sorted(c["region"] for c in v["cards"]), sorted(regions), f"{w}x{h}: one card per region")


def test_dashboard_layout():
    if not os.access(CHROMIUM, os.X_OK) or not os.path.exists(os.path.join(WEB, "node_modules", "playwright-core")):
        raise AssertionError(f"needs {CHROMIUM} and playwright-core in tests/web/node_modules: "
                             "run scripts/install-browser.sh")
    ngx, ports, peer, cfg, env = setup(interval=300, fall=2)
    refused = [free_port(), free_port()]   # nothing listens there: connection refused
    regs = {r["name"]: r for r in cfg["regions"]}
    regs[REFUSED]["api"] = [{"url": f"http://127.0.0.1:{refused[0]}/health", "fall": 100}]
    regs[MIXED]["api"].append({"url": f"http://127.0.0.1:{refused[1]}/health", "fall": 1})
    regs[MIXED]["rule"] = "any"
    d = Daemon(cfg, env=env)
    drv = None
    try:
        d.wait_target(HEALTHY, "up")
        d.wait_target(MIXED, "up")
        d.wait_target(MIXED, "down", name="api[1]")
        # Several refused probes, and the target is still unknown (fall 100 at 300 ms: 30 s).
        t = wait_for(lambda: (lambda t: t if t["counters"]["failures"] >= 3 else None)(d.target(REFUSED)),
                     15, f"3 refused probes on {REFUSED}")
        check_eq(t["state"], "unknown", f"{REFUSED}/api[0] still unknown after {t['counters']['failures']} refused probes")
        lat = t["latency_ms"]
        check(lat.get("samples") == 0 and all(lat.get(k) is None for k in ("p50", "p90", "p99", "ewma")),
              f"/v1/status gives no latency for a target whose probes got no answer: {json.dumps(lat)}")

        drv = Driver()
        print(f"chromium {drv.version}", flush=True)
        a = drv.cmd(f"goto {d.base}/")
        check(a["ok"] and a.get("status") == 200, f"page loads: {a}")
        check(drv.cmd("wait-for-cards 3 10")["ok"], "3 cards appear")
        check(drv.cmd(f"wait-for-state {HEALTHY} up 10")["ok"], f"{HEALTHY} card up")
        check(drv.cmd("wait-for-conn 10 live")["ok"], "#conn live")
        # A few status polls so the sparklines have points and the log has entries.
        time.sleep(5)
        os.makedirs(ARTIFACTS, exist_ok=True)
        for w, h in SIZES:
            v = layout(drv, w, h)
            p = os.path.join(ARTIFACTS, f"dashboard-layout-{w}x{h}.png")
            a = drv.cmd(f"screenshot {p} {w} {h}")
            check(a["ok"] and os.path.getsize(p) > 10000, f"screenshot {w}x{h}")
            print(f"screenshot: {p}", flush=True)
            check_common(v, w, h, REGIONS)
            cards = {c["region"]: c for c in v["cards"]}
            if (w, h) == (1920, 1080):
                out = [c["region"] for c in v["cards"] if not c["inside"]]
                check_eq(out, [], f"1920x1080: every card fully visible without scrolling {v['cards']}")
                check(len({round(c["top"]) for c in v["cards"]}) == 1, "1920x1080: the 3 cards side by side")
                gap = v["log"]["left"] - max(c["right"] for c in v["cards"])
                check(0 <= gap <= 64, f"1920x1080: the cards fill the width up to the event log's column "
                                      f"(gap {gap:.0f} px, not an empty middle)")
            if w == 390:
                tops = sorted(c["top"] for c in v["cards"])
                check(all(b >= a + 50 for a, b in zip(tops, tops[1:])), "390 px: cards stacked")
                check(v["log"]["top"] >= max(c["bottom"] for c in v["cards"]), "390 px: the event log below the cards")
            else:
                check(v["log"]["left"] >= max(c["right"] for c in v["cards"]),
                      f"{w}x{h}: the event log beside the cards")
            txt = cards[REFUSED]["text"]
            check(not re.search(r"\d\s*ms\b", txt), f"{w}x{h}: the unknown target's card shows no latency figure: {txt!r}")
            check("no data" in txt, f"{w}x{h}: the unknown target's latency sparkline says 'no data': {txt!r}")
            check(re.search(r"\d\s*ms\b", cards[HEALTHY]["text"]), f"{w}x{h}: the healthy card shows its latency")
        info = drv.cmd("info")
        errs = [e for e in info.get("console_errors", []) if not e.startswith("Failed to load resource")]
        check_eq(errs, [], "no script errors in the console")
    finally:
        rc = drv.close() if drv else 0
        check_eq(d.stop(), 0, "daemon stops cleanly")
        peer.stop()
        ngx.stop()
    check_eq(rc, 0, "drive.js exits cleanly")


def test_five_regions():
    """5 regions (one answering 503) wrap into rows of equal cards: 3 + 2 at 1920 and
    1280 px, one column at 390 px, with the same no-overflow and no-broken-word checks."""
    names = ["us-east-1", "eu-west-1", "ap-southeast-2", "sa-east-1", "ca-central-1"]
    ports = [free_port() for _ in names]
    ngx = Nginx(ports)
    ngx.down(ports[3])
    cfg = make_config([{"name": n, "api": [api_target(f"http://127.0.0.1:{p}/health")]} for n, p in zip(names, ports)],
                      tmpdir(), free_port())
    d = Daemon(cfg)
    drv = None
    try:
        d.wait_target(names[0], "up")
        d.wait_target(names[3], "down")
        drv = Driver()
        check(drv.cmd(f"goto {d.base}/")["ok"], "page loads")
        check(drv.cmd("wait-for-cards 5 10")["ok"], "5 cards appear")
        check(drv.cmd(f"wait-for-state {names[3]} down 10")["ok"], f"{names[3]} card down")
        time.sleep(3)
        for w, h in SIZES:
            v = layout(drv, w, h)
            p = os.path.join(ARTIFACTS, f"dashboard-layout-5-regions-{w}x{h}.png")
            check(drv.cmd(f"screenshot {p} {w} {h}")["ok"], f"screenshot {w}x{h}")
            print(f"screenshot: {p}", flush=True)
            check_common(v, w, h, names)
            rows = {}
            for c in v["cards"]:
                rows.setdefault(round(c["top"]), []).append(c)
            per_row = [len(r) for _, r in sorted(rows.items())]
            widths = {round(c["right"] - c["left"]) for c in v["cards"]}
            if w >= 1280:
                check_eq(per_row, [3, 2], f"{w}x{h}: 5 cards wrap as 3 + 2")
                check(max(widths) - min(widths) <= 1, f"{w}x{h}: the cards are equally wide ({widths})")
                check(v["log"]["left"] >= max(c["right"] for c in v["cards"]), f"{w}x{h}: the event log beside the cards")
            else:
                check_eq(per_row, [1] * 5, "390 px: 5 cards stacked")
    finally:
        rc = drv.close() if drv else 0
        check_eq(d.stop(), 0, "daemon stops cleanly")
        ngx.stop()
    check_eq(rc, 0, "drive.js exits cleanly")


def test_replication_lag():
    """With dynamodb configured (dynalite behind the strict peer, replication delayed
    150 ms), each card's replication-lag sparkline draws the lag the status reports
    instead of "no data"; the taller cards pass the same overflow and word checks."""
    from test_ddb_heartbeat import THREE, cfg_for
    from test_dynamodb import ENV, pairs
    ports = [free_port() for _ in THREE]
    ngx = Nginx(ports)
    peer = DdbPeer(THREE, delay_ms=150)
    d = Daemon(cfg_for(peer, ports, THREE, {}), env=ENV)
    drv = None
    try:
        wait_for(lambda: all(p["samples"] >= 2 for p in pairs(d).values()), 30, "lag samples for every pair")
        drv = Driver()
        check(drv.cmd(f"goto {d.base}/")["ok"], "page loads")
        check(drv.cmd("wait-for-cards 3 10")["ok"], "3 cards appear")
        pat = re.compile(r"replication lag (\d[\d.]*)\s*(ms|s) \((\d+) points\)")
        v = wait_for(lambda: (lambda v: v if all(pat.search(c["text"]) and int(pat.search(c["text"]).group(3)) >= 2
                                                 for c in v["cards"]) else None)(layout(drv, 1920, 1080)),
                     20, "a replication-lag sparkline with 2+ points on every card")
        st = {r["region"]: r for r in d.status()["dynamodb"]["regions"]}
        for c in v["cards"]:
            m = pat.search(c["text"])
            shown = float(m.group(1)) * (1000 if m.group(2) == "s" else 1)
            check("no data" not in c["text"].split("replication lag")[1],
                  f"{c['region']}: the lag sparkline draws points, not 'no data'")
            check(shown >= 100, f"{c['region']}: the lag shown ({m.group(0)}) reflects the peer's 150 ms "
                                f"replication delay (status lag_in_ms {st[c['region']].get('lag_in_ms')})")
        for w, h in SIZES:
            v = layout(drv, w, h)
            p = os.path.join(ARTIFACTS, f"dashboard-layout-dynamodb-{w}x{h}.png")
            check(drv.cmd(f"screenshot {p} {w} {h}")["ok"], f"screenshot {w}x{h}")
            print(f"screenshot: {p}", flush=True)
            check_common(v, w, h, THREE)
    finally:
        rc = drv.close() if drv else 0
        check_eq(d.stop(), 0, "daemon stops cleanly")
        peer.stop()
        ngx.stop()
    check_eq(rc, 0, "drive.js exits cleanly")


if __name__ == "__main__":
    run_tests([test_dashboard_layout, test_five_regions, test_replication_lag])
