"""At most 8 fail drills at a time with cluster.quorum: an observer's view names at most 8
(VIEW_MAX_DRILLS; older builds refuse a view naming more), so a 9th fail drill would be neither marked
by the other observers nor held through a takeover (docs/ha.md "Drills under the quorum rule"). One
instance leading with cluster.quorum (its own view, k 1) and ten regions served by nginx; an operator
starts fail drills on r1..r8 (201 each), a 9th on r9 is refused (409, the reason names the cap) and
nothing is in effect on r9; a dry run on r9 (a preview) is taken; once one fail drill is stopped, the
9th starts."""
import json

from harness import Daemon, Nginx, check, check_eq, free_port, run_tests, wait_for
from lease_kit import ENV, config, leaders, start_peer
from test_observers_drill import TOKENS, post   # post() sends that module's ops token

REGIONS = [f"r{i}" for i in range(1, 11)]


def drill(d, region, **kw):
    body = {"region": region, "action": "fail", "duration_s": 300, "note": "cap"}
    body.update(kw)
    return post(d, "/v1/drills", body)


def test_ninth_fail_drill_refused():
    peer = start_peer()
    ng = Nginx([free_port()])
    d = None
    try:
        cfg = config(1, peer, quorum={"observers": ["ctl-1"], "k": 1, "publish_ms": 1000})
        cfg["controller"]["token_file"] = TOKENS
        cfg["regions"] = [{"name": r, "api": [{"url": f"http://127.0.0.1:{ng.ports[0]}/health"}]} for r in REGIONS]
        d = Daemon(cfg, env=dict(ENV))
        wait_for(lambda: leaders([d]), 20, "ctl-1 leads")
        first = wait_for(lambda: (lambda cb: cb if cb[0] != 409 or "not yet" not in json.dumps(cb[1]) else None)(
            drill(d, "r1")), 20, "ctl-1 has read its term's replicated state (a drill is not 'not yet')")
        check_eq(first[0], 201, f"a fail drill on r1 starts ({first[1]})")
        ids = [first[1].get("id") if isinstance(first[1], dict) else None]
        for r in REGIONS[1:8]:
            code, body = drill(d, r)
            check_eq(code, 201, f"a fail drill on {r} starts ({body})")
            ids.append(body.get("id") if isinstance(body, dict) else None)
        code, body = drill(d, "r9")
        check_eq(code, 409, f"a 9th fail drill is refused ({body})")
        check("at most 8 fail drills at a time with cluster.quorum" in json.dumps(body),
              f"the refusal names the cap ({body})")
        code, lst = post(d, "/v1/drills", method="GET")
        listed = lst if isinstance(lst, list) else (lst or {}).get("drills", [])
        check(code == 200 and len(listed) == 8 and not any(x.get("region") == "r9" for x in listed),
              f"eight drills listed, none on r9 ({code}: {[(x.get('id'), x.get('region')) for x in listed]})")
        code, body = drill(d, "r9", dry_run=True)
        check_eq(code, 201, f"a dry-run fail drill on r9 (a preview, nothing in effect) is taken ({body})")
        code, body = post(d, f"/v1/drills/{ids[0]}", method="DELETE")
        check_eq(code, 200, f"the fail drill on r1 stopped ({body})")
        code, body = drill(d, "r9")
        check_eq(code, 201, f"with 7 fail drills in effect, one on r9 starts ({body})")
        check_eq(d.stop(), 0, "ctl-1 stops cleanly")
    finally:
        if d:
            d.stop()
        ng.stop()
        peer.stop()


if __name__ == "__main__":
    run_tests([test_ninth_fail_drill_refused])
