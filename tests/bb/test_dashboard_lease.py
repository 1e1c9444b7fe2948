"""The dashboard shows the lease (issue 17 item 4): two regiond instances on
three plain lease tables of the strict DynamoDB peer, the page each one
serves loaded in Debian's headless chromium (tests/web/drive.js,
tests/web/lease_panel.js).  What the page says is judged on the peer's items:
  - on a follower: "following", the holder and the epoch a majority of the
    peer's items carry, 3 of 3 tables reachable;
  - the peer fails one region (it acts): 2 of 3, that table named
    unreachable, with the same layout checks as bb_test_dashboard_layout
    (no overflow, no broken word) at 1920x1080, 1280x800 and 390x844;
  - kill -9 of the leader: the follower's page says "leading" with the epoch
    the peer's items now carry, and its log has the lease_won event;
  - the peer fails two regions: "no leader" and the NO LEADER banner.
Screenshots: build/artifacts/dashboard-lease-*.png.  Needs
scripts/install-browser.sh."""
import os
import time

from harness import check, check_eq, run_tests, wait_for
from lease_kit import (LEASE_MS, REGIONS, RENEW_MS, TAKEOVER_S, items_fast, kill9, majority_owner, sample_until,
                       start, start_peer)
from test_dashboard import ARTIFACTS, CHROMIUM, WEB, Driver, panel_readers
from test_dashboard_layout import SIZES, check_common, layout

PANEL = os.path.join(WEB, "lease_panel.js")
FIRST_S = (2 * LEASE_MS + 4 * RENEW_MS) / 1000 + 5
PAGE_S = 3 * RENEW_MS / 1000 + 2 * 2 + 5   # a few rounds and two status polls (2 s), with room


panel, wait_panel = panel_readers(PANEL, "lease")


def peer_term(peer):
    return majority_owner(items_fast(peer))


def shots(drv, name):
    os.makedirs(ARTIFACTS, exist_ok=True)
    for w, h in SIZES:
        v = layout(drv, w, h)
        p = os.path.join(ARTIFACTS, f"dashboard-lease-{name}-{w}x{h}.png")
        check(drv.cmd(f"screenshot {p} {w} {h}")["ok"], f"screenshot {p}")
        check_common(v, w, h, ["r1"])


def test_dashboard_lease():
    if not os.access(CHROMIUM, os.X_OK) or not os.path.exists(os.path.join(WEB, "node_modules", "playwright-core")):
        raise AssertionError(f"needs {CHROMIUM} and playwright-core in tests/web/node_modules: "
                             "run scripts/install-browser.sh")
    peer = start_peer()
    ds = [start(i, peer) for i in (1, 2)]
    drv = None
    try:
        ls, _ = sample_until(ds, lambda ls: len(ls) == 1, FIRST_S, "one leader")
        lead = ls[0]
        fol = next(d for d in ds if d is not lead)
        drv = Driver()
        check(drv.cmd(f"goto {fol.base}/")["ok"], "the follower's page loads")
        owner, epoch = peer_term(peer)
        check_eq(owner, lead.iid, "the peer's items name the leader")
        v = wait_panel(drv, lambda v: v["role"] == "following" and v["holder"] == lead.iid and v["epoch"] == epoch
                       and v["reachable"] == 3, PAGE_S, f"following {lead.iid}, epoch {epoch}, 3 tables")
        check(v["shown"] and v["badge"] == "following" and lead.iid in v["text"] and f"epoch\u00a0{epoch}" in v["text"]
              and lead.cfg["cluster"]["advertise_url"] in v["text"] and "3 of 3 reachable" in v["text"]
              and fol.iid in v["text"], f"the panel says it: {v['text']!r}")
        check("NO LEADER" not in (v["banner"] or ""), f"no NO LEADER banner while a leader holds the lease ({v['banner']})")
        check(not v["observers_shown"], "no Observers panel without cluster.quorum")

        peer.call("POST", "/_peer/inject", {"region": REGIONS[2], "error5xx": -1})
        v = wait_panel(drv, lambda v: v["reachable"] == 2 and f"{REGIONS[2]}" in v["text"], PAGE_S,
                       f"2 of 3 tables, {REGIONS[2]} unreachable")
        check("2 of 3 reachable" in v["text"] and "unreachable" in v["text"], f"the panel names it: {v['text']!r}")
        shots(drv, "table-down")
        peer.call("POST", "/_peer/clear-faults", {})
        wait_panel(drv, lambda v: v["reachable"] == 3, PAGE_S, "3 of 3 tables again")

        kill9(lead)
        sample_until([fol], lambda ls: ls == [fol], TAKEOVER_S + 5, f"{fol.iid} leading after kill -9")
        owner, epoch2 = peer_term(peer)
        check(owner == fol.iid and epoch2 > epoch, f"the peer's items name {fol.iid} with a higher epoch ({owner}, "
                                                   f"{epoch2} > {epoch})")
        v = wait_panel(drv, lambda v: v["role"] == "leading" and v["epoch"] == epoch2, PAGE_S,
                       f"leading, epoch {epoch2}")
        check(v["badge"] == "leading" and f"leading, epoch\u00a0{epoch2}" in v["text"], f"the panel says it: {v['text']!r}")
        won = [e for e in v["log"] if e["type"] == "lease_won"]
        check(won and f"{fol.iid} leads, epoch {epoch2}" in won[0]["text"], f"the log shows lease_won ({won[:1]})")
        check(any(e["type"] == "lease_holder" and lead.iid in e["text"] for e in v["log"]),
              f"the log shows the earlier holder ({[e['type'] for e in v['log']]})")

        t0 = time.monotonic()
        peer.call("POST", "/_peer/inject", {"region": REGIONS[1], "error5xx": -1})
        peer.call("POST", "/_peer/inject", {"region": REGIONS[2], "error5xx": -1})
        v = wait_panel(drv, lambda v: v["role"] == "none", LEASE_MS / 1000 + PAGE_S, "no leader")
        print(f"info the page said 'no leader' {time.monotonic() - t0:.1f} s after two tables failed", flush=True)
        check(v["badge"] == "no leader" and "1 of 3 reachable" in v["text"], f"the panel says it: {v['text']!r}")
        check(v["banner"] and "NO LEADER" in v["banner"] and "1 of 3 lease tables reachable, 2 needed" in v["banner"],
              f"the banner says nobody leads and why ({v['banner']})")
        shots(drv, "no-leader")
        info = drv.cmd("info")
        errs = [e for e in info.get("console_errors", []) if not e.startswith("Failed to load resource")]
        check_eq(errs, [], "no script errors in the console")
    finally:
        rc = drv.close() if drv else 0
        for d in ds:
            if d.proc.poll() is None:
                check_eq(d.stop(), 0, f"{d.iid} stops cleanly")
        peer.stop()
    check_eq(rc, 0, "drive.js exits cleanly")


if __name__ == "__main__":
    run_tests([test_dashboard_lease])
