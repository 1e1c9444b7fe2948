"""Every module takes a reload, and a rejected reload changes none (issue 16
item 4: the life cycle is one table in main.c).  One good reload changes
something each of six modules owns, and each change is seen from outside:
auth (the token rotates: the old one 401, the new one works), api (a new
allowed Host is served), control (a new region accepts an override), targets
(the new region is probed), feed (the ring shrinks to events_ring: after 40
more events it holds exactly 16) and log (at "warning" the events' info
lines, logged before the reload, stop).  Before it, a
reload that names the same new token file with mode 0644 is rejected: the
old token still works and the new one does not, the new Host is still
refused, the new region is unknown, the generation stays.  A second actor
changes the token file under the daemon between the two reloads (it is
re-read at reload, not cached)."""
import http.client
import json
import os

from harness import (Daemon, check, check_eq, eventually, free_port, make_config, run_tests, tmpdir, token_file,
                     wait_for)


def req(d, method, path, token=None, host="127.0.0.1", body=None):
    c = http.client.HTTPConnection("127.0.0.1", d.port, timeout=5)
    h = {"Host": host}
    if token:
        h["Authorization"] = f"Bearer {token}"
    if body is not None:
        h["Content-Type"] = "application/json"
    c.request(method, path, body=json.dumps(body) if body is not None else None, headers=h)
    r = c.getresponse()
    out = (r.status, r.read())
    c.close()
    return out


def override(d, token, region):
    return req(d, "POST", "/v1/overrides", token,
               body={"region": region, "action": "drain", "duration_s": 60, "note": "reload test"})[0]


def test_reload_reaches_every_module():
    tok1, t1 = token_file((("ops", None, False),))
    tok2, t2 = token_file((("ops2", None, False),))
    url = f"http://127.0.0.1:{free_port()}/health"   # nothing listens: probes fail, quickly
    cfg = make_config([{"name": "r1", "api": [{"url": url}]}], tmpdir(), free_port())
    cfg["controller"].update({"token_file": tok1, "log_level": "info", "events_ring": 4096})
    d = Daemon(cfg)
    gen = d.status()["config"]["generation"]
    check_eq(req(d, "GET", "/v1/status", host="two.example")[0], 403, "Host two.example refused at start")
    check_eq(override(d, t1["ops"], "r2"), 404, "no region r2 at start")

    new = json.loads(json.dumps(cfg))
    new["controller"].update({"token_file": tok2, "log_level": "warning", "events_ring": 16,
                              "allowed_hosts": ["two.example"]})
    new["regions"].append({"name": "r2", "api": [{"url": url}]})

    # Rejected: the new token file is readable by others.
    os.chmod(tok2, 0o644)
    d.reload(new)
    st = wait_for(lambda: (lambda s: s if s["config"]["reloads_failed"] == 1 else None)(d.status()), 10,
                  "the rejected reload counted")
    check("token" in (st["config"]["last_error"] or ""), f"the error names the token file: {st['config']['last_error']}")
    check_eq(st["config"]["generation"], gen, "generation unchanged after the rejected reload")
    check_eq(req(d, "POST", "/v1/freeze", t1["ops"], body={})[0], 200, "old token still works")
    check_eq(req(d, "DELETE", "/v1/freeze", t2["ops2"])[0], 401, "new token not taken")
    check_eq(req(d, "GET", "/v1/status", host="two.example")[0], 403, "new Host not served")
    check_eq(override(d, t1["ops"], "r2"), 404, "new region unknown")
    check_eq([r["name"] for r in d.status()["regions"]], ["r1"], "old targets only")

    # The second actor fixes the file; the same config now loads.
    check("level=info event=freeze" in d.read_log(), "freeze events logged at info before the good reload")
    os.chmod(tok2, 0o600)
    d.reload(new)
    wait_for(lambda: d.status()["config"]["generation"] == gen + 1, 10, "the good reload")
    mark = len(d.read_log())
    check_eq(req(d, "DELETE", "/v1/freeze", t1["ops"])[0], 401, "auth: the old token is refused")
    check_eq(req(d, "DELETE", "/v1/freeze", t2["ops2"])[0], 200, "auth: the new token works")
    check_eq(req(d, "GET", "/v1/status", host="two.example")[0], 200, "api: the new allowed Host is served")
    check_eq(override(d, t2["ops2"], "r2"), 200, "control: the new region takes an override")
    eventually(lambda: d.region("r2")["targets"][0]["counters"]["probes"] > 0, 10, "targets: r2 probed")
    for i in range(20):   # 40 events: freeze and unfreeze
        req(d, "POST", "/v1/freeze", t2["ops2"], body={})
        req(d, "DELETE", "/v1/freeze", t2["ops2"])
    ev = d.status()["events"]
    check_eq(ev["last_id"] - ev["first_id"] + 1, 16, f"feed: the ring holds events_ring=16 ({ev})")
    after = d.read_log()[mark:]
    check("event=freeze" not in after and "level=info" not in after,
          f"log: nothing under warning after the reload ({after.count(chr(10))} lines)")
    check_eq(d.stop(), 0, "clean exit")


if __name__ == "__main__":
    run_tests([test_reload_reaches_every_module])
