"""A fail drill across a lost and re-won lease under the quorum rule (docs/ha.md known defect 39,
fixed): three instances, each an observer (quorum_kit, k 2 of 3).  Leader L starts a long fail drill
on r2 (drained at the Route 53 peer).  The followers are reloaded with lease_ms 60 s (they wait that
long on a silent holder's items: nobody else takes, so L itself re-wins, the case under test), then L
is cut off from the DynamoDB peer by a reload (its DynamoDB endpoints on a closed port, Route 53 kept):
alive and probing, it loses the lease, its view goes silent for the followers, which keep publishing
theirs; after GAP_S it is given the peer back, re-wins at a higher epoch, reads its replicated state
and decides again.
  - L re-wins (nobody else led: checked, else the case did not happen);
  - from the cut until the drill is stopped, no batch at the Route 53 peer gives r2 a weight above 0
    (the peer's change log), and r2 is still at 0 there WATCH_S after the re-win;
  - then the drill is stopped on L: r2 is restored at the peer (the test sees a restore when one is due).
Without the fix, while the lease was lost L's drill stopped failing its probes (r2 up in its own view)
and the followers dropped their drill marks once L's view was silent (r2 up in theirs): the re-won
term's first decisions counted three views up and restored r2 mid-drill."""
import copy
import json
import time

from harness import check, check_eq, free_port, run_tests, wait_for
from lease_kit import TAKEOVER_S, leaders
from quorum_kit import SILENT_MS, Cluster, ready
from test_lease_reload import reload_ok
from test_observers_drill import DRAIN_S, post, r2_of
import test_observers_drill as od

TOKENS = od.TOKENS   # post() (test_observers_drill) sends its tokens
DRILL_S = 180        # far longer than the test: only the test's stop ends it
FOLLOWER_LEASE_MS = 60000
GAP_S = SILENT_MS / 1000 + 5   # L's view silent for the followers, and r2 rising in L's probes (rise 2)
WATCH_S = 8          # after the re-win: the replicated read, view reads (1 s), probe rounds, hold-down 1 s


def lease(d):
    try:
        return d.status()["lease"] or {}
    except (OSError, AssertionError, KeyError):
        return {}


def cut(d, off):
    """Reload d with its DynamoDB endpoints on a closed port (off) or back on the peer; Route 53 kept."""
    base = d.cfg
    cfg = copy.deepcopy(base)
    if off:
        dead = f"http://127.0.0.1:{free_port()}"
        cfg["aws"]["endpoints"].update({k: dead for k in cfg["aws"]["endpoints"] if k.startswith("dynamodb.")})
    reload_ok(d, cfg)
    d.cfg = base   # the real endpoints stay the base


def raised(since_n):
    """(peer's seconds after the first change looked at, r2's weight) of every change that gives r2 a
    weight above 0, from change since_n on."""
    chs = od.C.r53.changes()
    t0 = chs[since_n - 1]["mono"] if since_n else 0
    out = []
    for ch in chs[since_n:]:
        for r in ch["after"] or []:
            if r["Type"] == "A" and r.get("SetIdentifier") == "r2" and r["Weight"] > 0:
                out.append((round(ch["mono"] - t0, 2), r["Weight"]))
    return out


def test_drill_gap_quorum():
    C = od.C = Cluster(k=2, token_file=TOKENS)
    try:
        lead = ready(C)
        others = [d for d in C.ds if d is not lead]
        e0 = lease(lead)["epoch"]
        for d in others:   # a silent holder's items wait 60 s on the followers: L re-wins, nobody else
            cfg = copy.deepcopy(d.cfg)
            cfg["cluster"]["lease_ms"] = FOLLOWER_LEASE_MS
            cfg["cluster"]["margin_ms"] = FOLLOWER_LEASE_MS // 10   # at least a tenth of lease_ms
            reload_ok(d, cfg)
        n0 = len(C.r53.changes())
        code, body = post(lead, "/v1/drills", {"region": "r2", "action": "fail", "duration_s": DRILL_S,
                                               "note": "quorum lease gap drill"})
        check_eq(code, 201, f"the leader starts a fail drill on r2 ({body})")
        did = int(body["id"])
        wait_for(lambda: C.drained_at("r2", n0), DRAIN_S, "r2 drained at the Route 53 peer by the fail drill")
        wait_for(lambda: od.marked([d.iid for d in others], did), 10, "both followers mark r2 down by the drill")
        n1 = len(C.r53.changes())

        t0 = time.monotonic()
        cut(lead, True)   # alive and probing, unable to renew or publish: the lease is lost
        wait_for(lambda: lease(lead).get("leading") is False, 10, f"{lead.iid} loses the lease")
        seen = []
        while time.monotonic() - t0 < GAP_S:   # the gap: what each view says of r2 (shown, not judged)
            its = od.items()
            seen.append((round(time.monotonic() - t0, 1), lead.region("r2")["state"],
                         [(r2_of(its.get(d.iid)) or {}).get("state") for d in others]))
            time.sleep(0.5)
        print("gap (s after the cut, r2 in L's health, r2 in the followers' items):", seen)
        check_eq(leaders(others), [], "no follower took the lease during the gap")
        cut(lead, False)

        won = wait_for(lambda: (lambda ls: ls if ls.get("leading") and ls.get("epoch", 0) > e0 else None)(
            lease(lead)), TAKEOVER_S + 10, f"{lead.iid} takes the lease again at an epoch above {e0}")
        print(f"re-won at epoch {won['epoch']} {time.monotonic() - t0:.1f} s after the cut")
        time.sleep(WATCH_S)
        check_eq(raised(n1), [], "from the cut on no batch at the Route 53 peer gives r2 a weight above 0 "
                                 "while the drill runs ((peer seconds after the last batch before the cut, weight))")
        check_eq(C.weights().get("r2"), 0, "r2 still drained at the Route 53 peer")
        code, body = lead.get(f"/v1/drills/{did}")
        check_eq(json.loads(body).get("state") if code == 200 else code, "active", "the drill is still active")

        code, body = post(lead, f"/v1/drills/{did}", method="DELETE")
        check_eq(code, 200, f"drill {did} stopped on {lead.iid} ({body})")
        wait_for(lambda: C.weights().get("r2") == 100, DRAIN_S, "r2 restored at the Route 53 peer once stopped")
    finally:
        C.stop()


if __name__ == "__main__":
    run_tests([test_drill_gap_quorum])
