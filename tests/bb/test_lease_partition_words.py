"""What a partitioned follower says (docs/ha.md, "What followers do and
don't"; issue 17's review, defect 6).  Two regiond instances on three plain
lease tables of the strict DynamoDB peer.  The follower is partitioned from
two of the three tables (a reload gives it per-region endpoints, two on a
closed port) while the leader keeps its majority (judged on the peer's
items).  The follower cannot tell who leads and says so, with the last
leader it saw, in the same words everywhere: its 409 to a control request
(and the body's "last_leader"), its /v1/status lease section ("sight",
"last_leader") and its cluster-lease alarm: "reaches 1 of 3 lease tables;
last leader seen: ctl-N epoch E at <time>" -- never "no instance leads".
Healed, it names the leader again.  At every 100 ms sample at most one
instance leads.  And a leader resumed after SIGSTOP past its term, answering
a control request before its timers ran, does not name itself leader."""
import copy
import datetime
import http.client
import json
import os
import re
import signal
import time
import urllib.error
import urllib.request

from harness import Daemon, check, check_eq, eventually, free_port, run_tests, token_file, wait_for
import lease_kit
from lease_kit import ENV, REGIONS, items, lease, majority_owner, sample_until, start_peer, watch

FIRST_S = (2 * lease_kit.LEASE_MS + 4 * lease_kit.RENEW_MS) / 1000 + 10
TOKENS, TOKS = token_file()
WHEN = r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z)"


def start(i, peer):
    cfg = lease_kit.config(i, peer)
    cfg["controller"]["token_file"] = TOKENS
    cfg["controller"]["request_deadline_ms"] = 60000   # a request sent while the instance is stopped is whole
    d = Daemon(cfg, env=ENV)
    d.iid, d.cfg = f"ctl-{i}", cfg
    return d


def partition(d, dead_regions):
    """Reload d with the endpoints of dead_regions on a closed port (the others on the peer)."""
    cfg = copy.deepcopy(d.cfg)
    dead = f"http://127.0.0.1:{free_port()}"
    for r in dead_regions:
        cfg["aws"]["endpoints"][f"dynamodb.{r}"] = dead
    d.reload(cfg)


def control(d):
    req = urllib.request.Request(d.base + "/v1/freeze", data=json.dumps({"note": "partition test"}).encode(),
                                 method="POST", headers={"Authorization": f"Bearer {TOKS['ops']}",
                                                         "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def alarm(d, key):
    return next((a for a in d.status()["alarms"]["active"] if a["key"] == key), None)


def check_words(text, leader, epoch, what):
    """text says 'reaches 1 of 3 lease tables; last leader seen: LEADER epoch E at TIME' (TIME in the past)."""
    m = re.search(r"reaches 1 of 3 lease tables; last leader seen: (\S+) epoch (\d+) at " + WHEN, text or "")
    ok = bool(m) and m.group(1) == leader and int(m.group(2)) == epoch and "no instance leads" not in text
    if ok:
        t = datetime.datetime.strptime(m.group(3).replace("Z", "+0000"),
                                       "%Y-%m-%dT%H:%M:%S.%f%z" if "." in m.group(3) else "%Y-%m-%dT%H:%M:%S%z")
        ok = t <= datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=1)
    check(ok, f"{what}: says what it reaches and the last leader seen ({leader} epoch {epoch}): {text!r}")
    return m.group(3) if m else None


def test_partitioned_follower_words():
    peer = start_peer()
    ds = [start(1, peer), start(2, peer)]
    try:
        ls, _ = sample_until(ds, lambda ls: len(ls) == 1, FIRST_S, "one leader")
        ldr = ls[0]
        f = next(d for d in ds if d is not ldr)
        epoch = lease(ldr)["epoch"]
        wait_for(lambda: (lease(f) or {}).get("holder") and lease(f)["holder"]["id"] == ldr.iid, 10,
                 f"{f.iid} to see {ldr.iid} lead")
        code, body = control(f)
        check(code == 409 and f"instance {ldr.iid} leads (epoch {epoch})" in body["error"]
              and body["leader"]["id"] == ldr.iid, f"before the partition the follower names the leader ({body})")

        partition(f, REGIONS[1:])   # f reaches only REGIONS[0]
        # the reload is taken between rounds; each dead call fails at once (a closed port), ~2 rounds
        wait_for(lambda: (lease(f) or {}).get("reachable") == 1, 10, f"{f.iid} to reach 1 table")
        watch(ds, 2 * lease_kit.RENEW_MS / 1000)   # at most one leader at every sample meanwhile
        own, e = majority_owner(items(peer))
        check(own == ldr.iid and e >= epoch, f"the peer: {ldr.iid} still holds a majority of the items ({own}, {e})")
        st = lease(f)
        when = [check_words(st["sight"], ldr.iid, epoch, f"{f.iid}'s /v1/status lease sight")]
        check(st["holder"] is None, f"{f.iid}'s status names no holder: it cannot tell ({st['holder']})")
        check(st["last_leader"] and st["last_leader"]["id"] == ldr.iid and st["last_leader"]["epoch"] == epoch,
              f"{f.iid}'s status names the last leader seen ({st['last_leader']})")
        code, body = control(f)
        check_eq(code, 409, "a control request to the partitioned follower is refused")
        when.append(check_words(body["error"], ldr.iid, epoch, f"{f.iid}'s 409 error"))
        check(body["leader"] is None and body["last_leader"]["id"] == ldr.iid
              and body["last_leader"]["epoch"] == epoch,
              f"the 409 body: leader null (cannot tell), last_leader {ldr.iid} ({body})")
        a = wait_for(lambda: alarm(f, "cluster-lease"), 10, "cluster-lease on the partitioned follower")
        when.append(check_words(a["summary"], ldr.iid, epoch, f"{f.iid}'s cluster-lease alarm"))
        check(len(set(when)) == 1 and st["last_leader"]["seen"] == when[0],
              f"status, 409 and alarm name the same time: the last round that reached a majority ({when})")
        check(alarm(ldr, "cluster-lease") is None, f"the leader ({ldr.iid}, reaching all tables) raises none")

        partition(f, [])   # healed
        wait_for(lambda: (lease(f) or {}).get("reachable") == 3, 10, f"{f.iid} to reach the 3 tables again")
        sample_until(ds, lambda ls: ls == [ldr], 10, f"{ldr.iid} leading (the partitioned follower never led)")
        eventually(lambda: (lease(f) or {}).get("sight", "").startswith(f"instance {ldr.iid} leads"), 10,
                   f"healed, the follower ({f.iid}) names the leader ({ldr.iid}) again")
    finally:
        for d in ds:
            d.stop()
        peer.stop()


def test_resumed_leader_names_nobody_stale():
    """A leader stopped (SIGSTOP) past its send_until gets a control request on a kept-alive connection
    while stopped; resumed, it answers that request before its own expiry timer has run (the socket is
    ready in the same loop turn): the 409 must not name itself as leader."""
    peer = start_peer()
    d = start(1, peer)
    conn = None
    try:
        sample_until([d], lambda ls: ls == [d], FIRST_S, "ctl-1 to lead")
        epoch = lease(d)["epoch"]
        conn = http.client.HTTPConnection("127.0.0.1", d.port, timeout=15)
        conn.request("GET", "/v1/status")
        r = conn.getresponse()
        check(r.status == 200 and json.loads(r.read())["lease"]["leading"], "leading, on a kept-alive connection")
        os.kill(d.proc.pid, signal.SIGSTOP)
        try:
            # stopped for longer than lease_ms: its send_until (last renewal + lease_ms - margin_ms) passes
            time.sleep(lease_kit.LEASE_MS / 1000 + 1)
            conn.request("POST", "/v1/freeze", body=json.dumps({"note": "resumed leader"}),
                         headers={"Authorization": f"Bearer {TOKS['ops']}", "Content-Type": "application/json"})
        finally:
            os.kill(d.proc.pid, signal.SIGCONT)
        r = conn.getresponse()
        body = json.loads(r.read() or b"null")
        check_eq(r.status, 409, f"the resumed leader refuses: its term ran out while stopped ({body})")
        check((body.get("leader") or {}).get("id") != d.iid and f"instance {d.iid} leads" not in body.get("error", ""),
              f"the 409 does not name the resumed instance as leader ({body})")
        st = lease(d)
        check(st["lost"] >= 1 and not (st["holder"] and st["holder"]["id"] == d.iid and st["holder"]["epoch"] == epoch),
              f"its status shows the term {epoch} lost ({st['lost']} lost, holder {st['holder']})")
    finally:
        if conn:
            conn.close()
        d.stop()
        peer.stop()


if __name__ == "__main__":
    run_tests([test_partitioned_follower_words, test_resumed_leader_names_nobody_stale])
