"""Which views a quorum decision used (issue 18 item 4): three instances, k = 2 of 3 (quorum_kit).
One follower is killed (SIGKILL: cut off, its view goes silent), then r2 truly fails (every
instance's r2 port answers 503) and is drained at the Route 53 peer.  Checked on the leader: the
event quorum_decision for r2 (the /v1/events ring) calls it down and names the two views counted
(the leader's and the live follower's, both down) and the killed one left out as "silent", with its
last view's vote and age; /v1/status observers.quorum.regions[r2].last_decision says the same; the
drain's decision event (/v1/decisions) carries it; `regionctl status --observers` prints it.  Then
the other follower is killed too and r2 comes back: the leader alone sees it up, so the restore is
refused for lack of quorum: a quorum_decision event "refused" (would "restore", why "no-quorum")
names the leader's view counted and both followers left out, status says so, and alarm
cluster-quorum names the refused restore of r2; a local webhook receiver gets that alarm with each
region's last decision in its details."""
import json
import re
import subprocess

from harness import REGIONCTL, check, check_eq, events_ring, run_tests, wait_for
from lease_kit import kill9
from quorum_kit import PUBLISH_MS, SILENT_MS, Cluster, alarms, hold, own_state, qregion, quorum, ready
from test_alarms import Receiver

SILENT_S = (SILENT_MS + 2 * PUBLISH_MS) / 1000 + 3   # silent after 3 publishes, one read, a loaded machine


def qdecisions(d):
    """The quorum_decision events in d's ring, oldest first."""
    text = events_ring(d.port)
    return [json.loads(m.group(1)) for m in re.finditer(r"event: quorum_decision\ndata: ([^\n]*)\n", text)]


def views_of(rec):
    return {v["observer"]: v for v in rec.get("views", [])}


def drain_named(rec, lead, live, dead):
    v = views_of(rec)
    return (rec.get("call") == "down" and rec.get("to") == "down" and rec.get("why") == "decided"
            and sorted(rec.get("counted", [])) == sorted([lead.iid, live.iid]) and rec.get("left_out") == [dead.iid]
            and v.get(lead.iid, {}).get("vote") == "down" and v.get(live.iid, {}).get("vote") == "down"
            and v.get(dead.iid, {}).get("counted") is False and v.get(dead.iid, {}).get("left_out") == "silent"
            and v.get(dead.iid, {}).get("vote") == "up" and v[dead.iid].get("view_age_ms", 0) >= SILENT_MS)


def hook_refusal(hook, lead):
    """The webhook post of alarm cluster-quorum naming the refused restore of r2, from the leader."""
    for g in list(hook.got):
        if g.get("key") == "cluster-quorum" and g.get("state") == "firing" and g.get("controller") == lead.iid \
                and "refused: restore of r2" in g.get("summary", ""):
            return g
    return None


def test_decision_views():
    hook = Receiver()
    c = Cluster(alarms={"webhooks": [{"name": "ops", "url": f"http://127.0.0.1:{hook.port}/hook"}]})
    try:
        lead = ready(c)
        live, dead = [d for d in c.ds if d is not lead]
        kill9(dead)
        wait_for(lambda: (quorum(lead) or {}).get("silent") == [dead.iid], SILENT_S,
                 f"the leader calls {dead.iid}'s view silent")

        n0 = len(c.r53.changes())
        for i in (1, 2, 3):
            c.ngx.down(c.r2[i])
        wait_for(lambda: c.drained_at("r2", n0), 20, "r2 drained at the Route 53 peer on two views")
        ev = [e for e in qdecisions(lead) if e.get("region") == "r2" and e.get("call") == "down"]
        check(len(ev) == 1 and drain_named(ev[0], lead, live, dead) and ev[0]["leader"] is True,
              f"one quorum_decision event calls r2 down: {lead.iid} and {live.iid} counted (down), {dead.iid} left "
              f"out silent with its last vote and age ({ev})")
        q = qregion(lead, "r2") or {}
        last = q.get("last_decision") or {}
        check(drain_named(last, lead, live, dead) and last.get("seq") == (ev[0]["seq"] if ev else None),
              f"status observers.quorum r2 last_decision names the same views ({last})")
        ds = json.loads(lead.get("/v1/decisions")[1])
        dr = [r for x in ds for r in x["regions"] if r["region"] == "r2" and r["weight"] == 0]
        check(dr and drain_named((dr[0].get("quorum") or {}).get("last_decision") or {}, lead, live, dead),
              f"the drain's decision event carries the record ({dr[:1]})")
        r = subprocess.run([REGIONCTL, "--api", lead.base, "status", "--observers"], capture_output=True, text=True,
                           timeout=10)
        line = next((x for x in r.stdout.splitlines() if x.startswith("r2: called down")), "")
        check(r.returncode == 0 and f"{dead.iid} silent (up, view" in line and f"{lead.iid} down" in line
              and f"{live.iid} down" in line and line.index("counted") < line.index("left out"),
              f"regionctl status --observers prints r2's drain with the views counted and left out:\n{r.stdout}")
        m = lead.get("/metrics")[1].decode()
        check(f'regiond_quorum_decision_view{{region="r2",observer="{dead.iid}",use="silent"}} 1' in m
              and f'regiond_quorum_decision_view{{region="r2",observer="{live.iid}",use="counted"}} 1' in m,
              "metrics: r2's last decision counted the live follower, left the killed one out as silent")

        # the other follower goes too; r2 comes back: the leader alone cannot restore it
        kill9(live)
        wait_for(lambda: "cluster-quorum" in alarms(lead), SILENT_S, "alarm cluster-quorum on the leader")
        for i in (1, 2, 3):
            c.ngx.down(c.r2[i], False)
        wait_for(lambda: own_state(lead, "r2") == "up", 10, f"{lead.iid}'s own probes call r2 up")

        def refused():
            last = (qregion(lead, "r2") or {}).get("last_decision") or {}
            return last if last.get("call") == "refused" else None
        rec = wait_for(refused, 5, "status shows r2's restore refused")
        v = views_of(rec)
        check(rec.get("would") == "restore" and rec.get("why") == "no-quorum" and rec.get("counted") == [lead.iid]
              and sorted(rec.get("left_out", [])) == sorted([live.iid, dead.iid])
              and all(v[x.iid]["left_out"] == "silent" for x in (live, dead)) and v[lead.iid]["vote"] == "up",
              f"the refusal: {lead.iid}'s view (up) counted, both followers left out silent ({rec})")
        ev = [e for e in qdecisions(lead) if e.get("region") == "r2" and e.get("call") == "refused"
              and e.get("would") == "restore"]
        check(len(ev) == 1 and ev[0]["seq"] == rec["seq"],
              f"one quorum_decision event says the restore was refused ({ev})")
        a = wait_for(lambda: (alarms(lead).get("cluster-quorum") or {}).get("summary", "").find(
            "refused: restore of r2") >= 0 and alarms(lead)["cluster-quorum"], 5,
            "alarm cluster-quorum names the refused restore of r2")
        check("silent:" in a["summary"], f"the alarm still names the silent observers ({a['summary']})")
        g = wait_for(lambda: hook_refusal(hook, lead), 10, "the webhook receiver gets cluster-quorum with the refusal")
        regs = {r["region"]: r for r in ((g.get("details") or {}).get("regions") or [])}
        wl = (regs.get("r2") or {}).get("last_decision") or {}
        check(wl.get("call") == "refused" and wl.get("would") == "restore" and wl.get("counted") == [lead.iid]
              and sorted(wl.get("left_out", [])) == sorted([live.iid, dead.iid]),
              f"its details carry r2's refused restore with the views counted and left out ({wl})")
        bad = hold(lambda: c.weights().get("r2") == 0, 2.0)
        check(bad is None, f"r2 stays drained at the peer: a lone observer never restores ({c.weights()})")
        check_eq(lead.stop(), 0, f"{lead.iid} stops cleanly")
    finally:
        c.stop()
        hook.close()


if __name__ == "__main__":
    run_tests([test_decision_views])
