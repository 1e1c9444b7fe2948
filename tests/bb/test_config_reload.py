"""Config in the real daemon: --check-config, start-up with a bad file, and
SIGHUP reload: a bad file keeps the old config running (seen in /v1/status),
a good one swaps in and keeps the history of unchanged targets."""
import json
import os
import subprocess

from harness import (REGIOND, Daemon, Nginx, check, check_eq, eventually, free_port, make_config, run_tests,
                     tmpdir, wait_for)


def test_check_config():
    d = tmpdir()
    good = os.path.join(d, "good.json")
    bad = os.path.join(d, "bad.json")
    with open(good, "w") as f:
        json.dump(make_config([{"name": "r", "api": [{"url": "http://127.0.0.1:1/health"}]}], d, 9470), f)
    with open(bad, "w") as f:
        json.dump(make_config([{"name": "r", "api": [{"url": "http://127.0.0.1:1/h", "timeout_ms": 2.7}]}], d, 9470), f)
    r = subprocess.run([REGIOND, "--check-config", good], capture_output=True, text=True, timeout=10)
    check_eq(r.returncode, 0, "--check-config good file exits 0")
    r = subprocess.run([REGIOND, "--check-config", bad], capture_output=True, text=True, timeout=10)
    check_eq(r.returncode, 1, "--check-config bad file exits 1")
    check(bad in r.stderr and "regions[0].api[0].timeout_ms" in r.stderr and "2.7" in r.stderr,
          f"message names file, key path and value: {r.stderr.strip()}")
    r = subprocess.run([REGIOND, "--config", bad], capture_output=True, text=True, timeout=10)
    check(r.returncode != 0 and "regions[0].api[0].timeout_ms" in r.stderr, "daemon refuses to start on a bad file")


def test_reload():
    p = free_port()
    ngx = Nginx([p])
    url = f"http://127.0.0.1:{p}/health"
    cfg = make_config([{"name": "r1", "api": [{"url": url, "name": "keep"}]}], tmpdir(), free_port())
    d = Daemon(cfg)
    d.wait_target("r1", "up", name="keep")
    st = d.status()
    gen = st["config"]["generation"]
    check(st["config"]["last_error"] is None, "no load error at start")

    # Bad reload: unknown key -> old config keeps running, error in status.
    bad = json.loads(json.dumps(cfg))
    bad["regions"][0]["api"][0]["intreval_ms"] = 5
    d.reload(bad)
    st = wait_for(lambda: (lambda s: s if s["config"]["last_error"] else None)(d.status()), 5, "load error in status")
    err = st["config"]["last_error"]
    check("regions[0].api[0]" in err and "intreval_ms" in err and d.cfg_path in err,
          f"status shows the file and key path: {err}")
    check_eq(st["config"]["generation"], gen, "generation unchanged after a bad reload")
    before = d.target("r1", "keep")["counters"]["probes"]
    eventually(lambda: d.target("r1", "keep")["counters"]["probes"] > before + 2, 5,
               "old config still probing after a bad reload")

    # Good reload: add a region; the unchanged target keeps its history.
    good = json.loads(json.dumps(cfg))
    good["regions"].append({"name": "r2", "api": [{"url": url}]})
    before = d.target("r1", "keep")
    d.reload(good)
    st = wait_for(lambda: (lambda s: s if s["config"]["generation"] == gen + 1 else None)(d.status()), 5,
                  "new generation")
    check(st["config"]["last_error"] is None, "load error cleared by a good reload")
    after = d.target("r1", "keep")
    check(after["counters"]["probes"] >= before["counters"]["probes"], "probe history kept for unchanged target")
    check_eq(after["since"], before["since"], "state 'since' kept for unchanged target")
    eventually(lambda: d.target("r2")["state"] == "up", 10, "new region probed after reload (r2 up)")

    # Removing a target drops it.
    d.reload(cfg)
    eventually(lambda: len(d.status()["regions"]) == 1, 5, "region removed on reload")
    check_eq(d.stop(), 0, "clean exit")
    ngx.stop()


if __name__ == "__main__":
    run_tests([test_check_config, test_reload])
