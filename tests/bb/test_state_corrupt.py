"""State that fails loudly (issue 14, items 2 and 4).  Each corrupt state
file — control.json truncated, empty, garbage, of wrong types, over 16 MiB,
with crafted numbers ({"changes":[-1e300]}, a pin weight of 1e12); event-id
empty or garbage; a drill file cut short or with a crafted state; the
Route 53 change record with a crafted decision number — gives: a critical alarm naming
the file, the file kept aside as evidence (same bytes), regiond frozen in
safe mode, and no ChangeResourceRecordSets at the strict Route 53 peer
though the config wants a change, until `regionctl unfreeze`; then the
batch lands."""
import glob
import os
import time

from harness import check, check_eq, run_tests, wait_for
from state_kit import Setup

BIG = b'{"decision_seq": 1, "pad": "' + b"a" * (17 << 20) + b'"}'
CASES = [
    ("control.json", "truncated", b'{"decision_seq": 12, "frozen": true, "overri'),
    ("control.json", "empty", b""),
    ("control.json", "garbage", b"\x00\xff\xfegarbage not json"),
    ("control.json", "wrong types", b'{"decision_seq": "12", "frozen": "yes", "overrides": {}}'),
    ("control.json", "over 16 MiB", BIG),
    ("control.json", "changes -1e300", b'{"decision_seq": 3, "changes": [-1e300]}'),
    ("control.json", "pin weight 1e12", b'{"overrides": [{"region": "eu-west-1", "action": "pin", '
                                        b'"weight": 1e12, "remaining_ms": 60000}]}'),
    ("event-id", "empty", b""),
    ("event-id", "garbage", b"12abc\n"),
    ("drill-1.json", "truncated", b'{"id": 1, "region": "us-east-1", "sta'),
    ("drill-2.json", "state 1e300", b'{"id": 2, "region": "us-east-1", "state": 1e300}'),
    ("route53-change.json", "decision 1e300", b'{"decision": 1e300, "weights": [1, 2, 3]}'),
]


def one_case(s, name, what, data, release):
    for f in glob.glob(os.path.join(s.state_dir, "*")):
        os.unlink(f)
    with open(os.path.join(s.state_dir, name), "wb") as f:
        f.write(data)
    s.peer.call("POST", "/_peer/reset-stats")
    d = s.start()
    label = f"{name} {what}"
    st = wait_for(lambda: (lambda x: x if any(a["key"] == f"state-corrupt-{name}" for a in x["alarms"]["active"])
                           else None)(d.status()), 10, f"{label}: corrupt-state alarm")
    a = [a for a in st["alarms"]["active"] if a["key"] == f"state-corrupt-{name}"][0]
    check(a["severity"] == "critical" and name in a["summary"], f"{label}: critical alarm names the file: {a['summary']}")
    aside = glob.glob(os.path.join(s.state_dir, name + ".corrupt-*"))
    check(len(aside) == 1, f"{label}: evidence moved aside ({[os.path.basename(x) for x in aside]})")
    if aside:
        with open(aside[0], "rb") as f:
            check(f.read() == data, f"{label}: the evidence holds the original bytes ({len(data)})")
    fo = st["failover"]
    check(fo["frozen"] and fo["safe_mode"], f"{label}: frozen, safe mode ({fo.get('freeze_note', '')[:80]})")
    s.live_read(d)
    time.sleep(1.5)   # regiond wants weight 50 everywhere: nothing may reach Route 53
    check_eq(len(s.writes()), 0, f"{label}: no ChangeResourceRecordSets at the peer while in safe mode")
    log = d.read_log()
    check("corrupt state file" in log and name in log, f"{label}: the log says so")
    if release:
        rc, out = s.ctl(d, "unfreeze")
        check_eq(rc, 0, f"{label}: regionctl unfreeze ({out.strip()})")
        wait_for(lambda: all(v == 50 for v in s.peer.weights("api.example.test.").values()), 10,
                 f"{label}: the wanted weights land once released")
        st = d.status()
        check(not st["failover"]["safe_mode"] and not any(a["key"].startswith("state-corrupt")
                                                          for a in st["alarms"]["active"]),
              f"{label}: alarm resolved, safe mode over")
        # the released freeze is durable: a restart is not frozen again
        check_eq(d.stop(), 0, f"{label}: clean exit")
        d = s.start()
        check(not d.status()["failover"]["frozen"], f"{label}: after a restart, not frozen")
        s.peer.call("POST", "/_peer/records", {"records": [dict(r, Weight=100) for r in s.peer.records()
                                                           if r.get("SetIdentifier")]})
    check_eq(d.stop(), 0, f"{label}: clean exit")


def test_each_corrupt_case():
    # correct_drift: the zone's 100s are drift from the configured 50s, which
    # regiond is told to correct — a batch it wants to send at once.
    s = Setup(correct_drift=True)
    for i, (name, what, data) in enumerate(CASES):
        one_case(s, name, what, data, release=i in (0, 5, 7))
    s.stop()


def test_backups_json_crafted_number():
    """backups.json with last_run_s 1e300 (an overflow in the status view
    before): refused at load (alarm, evidence, safe mode); /v1/status and
    /metrics answer; the schedule runs from a clean slate."""
    from harness import DdbPeer, Daemon, Nginx, free_port
    from test_dynamodb import ENV, REGIONS, config
    ports = [free_port() for _ in REGIONS]
    ngx = Nginx(ports)
    peer = DdbPeer(REGIONS, pitr="on", backup_ms=300)
    cfg = config(peer, ports, dynamodb={"backups": [{"name": "nightly", "regions": [REGIONS[0]],
                                                      "schedule": "0 3 * * *", "keep_last": 2}]})
    sd = cfg["controller"]["state_dir"]
    data = b'{"jobs": {"nightly@' + REGIONS[0].encode() + b'": {"last_run_s": 1e300}}, "ours": []}'
    with open(os.path.join(sd, "backups.json"), "wb") as f:
        f.write(data)
    d = Daemon(cfg, env=ENV)
    st = d.status()
    a = [a for a in st["alarms"]["active"] if a["key"] == "state-corrupt-backups.json"]
    check(len(a) == 1 and "last_run_s" in a[0]["summary"], f"alarm names the file and the key: {a}")
    aside = glob.glob(os.path.join(sd, "backups.json.corrupt-*"))
    check(len(aside) == 1 and open(aside[0], "rb").read() == data, "evidence kept")
    check(st["failover"]["safe_mode"], "safe mode")
    check_eq(d.get("/metrics")[0], 200, "/metrics answers")
    check_eq(d.stop(), 0, "clean exit (no overflow under UBSan)")
    peer.stop()
    ngx.stop()


if __name__ == "__main__":
    run_tests([test_each_corrupt_case, test_backups_json_crafted_number])
