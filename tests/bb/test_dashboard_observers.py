"""The dashboard's Observers panel and the observer events (issue 18 item 4): three regiond instances
with cluster.quorum (tests/bb/observer_kit.py) and a fourth configured observer, ctl-4, that never
runs; ctl-3 probes r2 at a closed port (its vantage dissents).  ctl-1's page, in Debian's headless
chromium (tests/web/drive.js, tests/web/observers_panel.js), and ctl-1's /v1/events are checked:
  - the grid shows regions x observers, ctl-1 marked as this instance, ctl-3's r2 down, the rest up;
  - each region's row marks the views its last quorum decision counted (✓) and left out (✗, why in
    data-used), as ctl-1's status says: r1 called up on ctl-1..3, r2's drain refused (ctl-3 alone
    down, k 3), ctl-4 (never seen) left out "no-view"; a last cell says the decision; the
    quorum_decision event is in the page's log;
  - an operator (aws CLI) writes ctl-4's item with markup in its suspect_reason and a region reason:
    the page shows the reason as text (no element from it, no handler ran), ctl-4 marked suspect;
    the feed says observer_suspect for ctl-4 with that reason; ctl-4's view, never rewritten, goes
    silent (observer_silent); rewritten (boto3) with a new seq and no suspect, it is fresh again and
    no longer suspect (both events, both in the page's log);
  - kill -9 of ctl-3: the page shows its column silent, greyed, with its age; observer_silent for it.
Screenshots and the layout checks of bb_test_dashboard_layout at three sizes:
build/artifacts/dashboard-observers-*.png.  Needs scripts/install-browser.sh."""
import json
import os

from harness import check, check_eq, free_port, run_tests, wait_for
from lease_kit import kill9
from observer_kit import NAME, PUBLISH_MS, REGIONS, SILENT_MS, TABLE, sdk, start, start_nginx, start_peer
from test_dashboard import ARTIFACTS, CHROMIUM, WEB, Driver, panel_readers
from test_dashboard_layout import SIZES, check_common, layout
from test_lease_events import Feed

PANEL = os.path.join(WEB, "observers_panel.js")
OBS = ["ctl-1", "ctl-2", "ctl-3", "ctl-4"]
HOSTILE = "<img src=x onerror=\"window.__pwned='reason'\"> every region failing</td><b>x"
HOSTILE_REGION = "<script>window.__pwned='region'</script>"
SETTLE_S = 3 + 2 * PUBLISH_MS / 1000 + 12     # probes settle (fall/rise 2 at 1 s), a publish, a read; loaded host
SEEN_S = 2 * PUBLISH_MS / 1000 + 2 * 2 + 5    # a read, two status polls (2 s), margin
SILENT_S = SILENT_MS / 1000 + SEEN_S


panel, wait_panel = panel_readers(PANEL, "observers")


def put_ctl4(op_cli, peer, seq, suspect):
    doc = {"v": 1, "observer": "ctl-4", "elapsed_ms": 1000 * seq, "window_ms": PUBLISH_MS, "suspect": suspect,
           "regions": [{"region": "r1", "state": "down", "reason": HOSTILE_REGION, "age_ms": 5, "probes": 2,
                        "failures": 2},
                       {"region": "r2", "state": "up", "reason": "ok", "age_ms": 5, "probes": 2, "failures": 0}]}
    if suspect:
        doc["suspect_reason"] = HOSTILE
    item = {"name": {"S": f"{NAME}#view#ctl-4"}, "epoch": {"N": "1"}, "seq": {"N": str(seq)},
            "doc": {"S": json.dumps(doc)}, "owner": {"S": "ctl-4"}}
    if op_cli:
        peer.aws(REGIONS[0], "put-item", "--table-name", TABLE, "--item", json.dumps(item))
    else:
        op = sdk(peer)
        for r in REGIONS:
            op[r].put_item(TableName=TABLE, Item=item)


def grid_ok(v):
    cells = v["cells"]
    want = {"ctl-1": "up", "ctl-2": "up", "ctl-3": "down"}
    return (v["shown"] and list(v["cols"]) == OBS and v["cols"]["ctl-1"]["self"]
            and all(cells.get(o, {}).get("r2", {}).get("state") == s for o, s in want.items())
            and all(cells.get(o, {}).get("r1", {}).get("state") == "up" for o in want))


def test_dashboard_observers():
    if not os.access(CHROMIUM, os.X_OK) or not os.path.exists(os.path.join(WEB, "node_modules", "playwright-core")):
        raise AssertionError(f"needs {CHROMIUM} and playwright-core in tests/web/node_modules: "
                             "run scripts/install-browser.sh")
    peer = start_peer()
    ng = start_nginx()
    ds, drv, feed = [], None, None
    try:
        ds = [start(1, peer, ng, observers=OBS, k=3), start(2, peer, ng, observers=OBS, k=3),
              start(3, peer, ng, observers=OBS, k=3, r2_url=f"http://127.0.0.1:{free_port()}/health")]
        c1 = ds[0]
        feed = Feed(c1)
        drv = Driver()
        check(drv.cmd(f"goto {c1.base}/")["ok"], "ctl-1's page loads")
        v = wait_panel(drv, grid_ok, SETTLE_S, "the grid: ctl-1 (this) to ctl-4, ctl-3's r2 down, the rest up")
        check("ctl-1 (this)" in v["cols"]["ctl-1"]["text"] and not v["cols"]["ctl-2"]["self"],
              f"only ctl-1 is marked as this instance ({v['cols']})")
        check(v["cols"]["ctl-4"]["fresh"] == "never" and "—" == v["cells"]["ctl-4"]["r1"]["text"],
              f"ctl-4, never seen, has no states ({v['cols']['ctl-4']})")

        # which views each region's last quorum decision used (k 3 of 4; ctl-4 never seen): r1 called up on
        # ctl-1..3, r2's drain refused (ctl-3 alone says down); both leave ctl-4 out, "no-view"
        used = {"ctl-1": "counted", "ctl-2": "counted", "ctl-3": "counted", "ctl-4": "no-view"}

        def marked(v):
            d = v.get("decisions", {})

            def cell(o, r):
                return v["cells"].get(o, {}).get(r, {})
            return (all(cell(o, r).get("used") == u for o, u in used.items() for r in ("r1", "r2"))
                    and d.get("r1", {}).get("call") == "up" and d.get("r2", {}).get("call") == "refused")
        v = wait_panel(drv, marked, SEEN_S, "each region's last decision: ctl-1..3 counted, ctl-4 left out (no-view)")
        st = {r["region"]: r["last_decision"] for r in c1.status()["observers"]["quorum"]["regions"]}
        check(all({x["observer"]: x.get("left_out", "counted") for x in st[r]["views"]} == used for r in ("r1", "r2"))
              and st["r2"]["call"] == "refused" and st["r2"]["would"] == "drain",
              f"the page marks what ctl-1's status says ({st})")
        c = v["cells"]
        check('✓' in c["ctl-1"]["r2"]["mark"] and '✗' in c["ctl-4"]["r2"]["mark"]
              and c["ctl-1"]["r2"]["text"] == "up",
              f"counted cells marked ✓, the left-out one ✗, the state text unchanged "
              f"({c['ctl-1']['r2']}, {c['ctl-4']['r2']})")
        t = v["decisions"]["r2"]["text"]
        check(t.startswith("drain refused (undecided") and "counted ctl-1 up, ctl-2 up, ctl-3 down" in t
              and "left out ctl-4 no-view" in t, f"r2's last decision cell says the drain was refused and why ({t})")
        v = wait_panel(drv, lambda v: any(x["type"] == "quorum_decision" and "drain of r2 refused" in x["text"]
                                          for x in v["log"]), SEEN_S, "the quorum_decision event in the log")

        put_ctl4(True, peer, 1, True)   # the operator, with the aws CLI, on one table
        v = wait_panel(drv, lambda v: v["cols"].get("ctl-4", {}).get("suspect"), SEEN_S, "ctl-4 suspect")
        notes = [n["text"] for n in v["notes"] if n["observer"] == "ctl-4"]
        check(f"ctl-4: suspect — {HOSTILE}" in notes, f"the reason is shown as text, exactly ({notes})")
        check_eq(v["cells"]["ctl-4"]["r1"]["title"], HOSTILE_REGION, "the region reason is the cell's title, as text")
        check_eq(v["cells"]["ctl-4"]["r1"]["state"], "down", "ctl-4's r1 as its item says")
        check_eq((v["foreign"], v["pwned"]), (0, None), "no element from the item's text, no handler ran")
        e = feed.wait("observer_suspect", lambda e: e["observer"] == "ctl-4" and e["suspect"], SEEN_S,
                      "ctl-1's feed: observer_suspect for ctl-4")
        check_eq((e["reason"], e["self"]), (HOSTILE, False), "observer_suspect carries the reason as the item has it")
        v = wait_panel(drv, lambda v: any(x["type"] == "observer_suspect" for x in v["log"]), 5, "the event in the log")
        ev = [x["text"] for x in v["log"] if x["type"] == "observer_suspect"]
        check(any(f"ctl-4's view is suspect: {HOSTILE}" in t for t in ev), f"the log shows it as text ({ev})")
        check_eq((v["foreign"], v["pwned"]), (0, None), "still no element from the item's text in the log")

        # never rewritten: ctl-4 goes silent; rewritten with a new seq and no suspect: fresh, cleared
        e = feed.wait("observer_silent", lambda x: x["observer"] == "ctl-4" and x["silent"] and x["seen"]
                      and x["id"] > e["id"], SILENT_S, "observer_silent for ctl-4, its view unchanged")
        check(e["age_ms"] >= SILENT_MS and e["silent_after_ms"] == SILENT_MS, f"with its age ({e})")
        put_ctl4(False, peer, 2, False)
        f = feed.wait("observer_silent", lambda x: x["observer"] == "ctl-4" and not x["silent"] and x["id"] > e["id"],
                      SEEN_S, "observer_silent: ctl-4 fresh again")
        s = feed.wait("observer_suspect", lambda x: x["observer"] == "ctl-4" and not x["suspect"], SEEN_S,
                      "observer_suspect: ctl-4 no longer suspect")
        check(s["reason"] is None and f["age_ms"] < SILENT_MS, f"cleared without a reason; fresh ({s}, {f})")
        v = wait_panel(drv, lambda v: v["cols"]["ctl-4"]["fresh"] == "fresh" and not v["cols"]["ctl-4"]["suspect"]
                       and any("ctl-4's view is no longer suspect" in x["text"] for x in v["log"])
                       and any("ctl-4's view is fresh again" in x["text"] for x in v["log"]), SEEN_S,
                       "ctl-4 fresh and not suspect, both events in the log")

        kill9(ds[2])
        v = wait_panel(drv, lambda v: v["cols"]["ctl-3"]["fresh"] == "silent", SILENT_S, "ctl-3 silent after kill -9")
        col, cells = v["cols"]["ctl-3"], v["cells"]["ctl-3"]
        check("silent" in col["text"] and any(c.isdigit() for c in col["text"]), f"with its age ({col['text']!r})")
        check(all(c["stale"] for c in cells.values()) and not any(c["stale"] for c in v["cells"]["ctl-2"].values()),
              f"its cells greyed, ctl-2's not ({cells})")
        check(col["color"] != v["cols"]["ctl-2"]["color"], f"its heading greyed ({col['color']})")
        check_eq(cells["r2"]["state"], "down", "its last view still shown")
        e = feed.wait("observer_silent", lambda x: x["observer"] == "ctl-3" and x["silent"], 5,
                      "observer_silent for ctl-3")
        check(e["seen"] and e["age_ms"] >= SILENT_MS, f"observer_silent for ctl-3 with its age ({e})")
        os.makedirs(ARTIFACTS, exist_ok=True)
        for w, h in SIZES:
            lv = layout(drv, w, h)
            p = os.path.join(ARTIFACTS, f"dashboard-observers-{w}x{h}.png")
            check(drv.cmd(f"screenshot {p} {w} {h}")["ok"], f"screenshot {p}")
            check_common(lv, w, h, ["r1", "r2"])
        errs = [x for x in drv.cmd("info").get("console_errors", []) if not x.startswith("Failed to load resource")]
        check_eq(errs, [], "no script errors in the console")
    finally:
        rc = drv.close() if drv else 0
        if feed:
            feed.close()
        for d in ds:
            if d.proc.poll() is None:
                check_eq(d.stop(), 0, f"{d.iid} stops cleanly")
        ng.stop()
        peer.stop()
    check_eq(rc, 0, "drive.js exits cleanly")


if __name__ == "__main__":
    run_tests([test_dashboard_observers])
