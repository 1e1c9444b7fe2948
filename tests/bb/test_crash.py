"""Crash consistency: kill -9 at random moments while Route 53 changes (a
region flapping, hold_down 0, settle 0) and DynamoDB backups (`regionctl
backup now` in a loop) are in flight, restarting on the same state_dir each
time.  After every restart:

  1. every state file parses: event-id as an integer, control.json,
     route53-change.json, backups.json, drills.json as JSON (write-temp +
     fsync + rename, core/state.c);
  2. decision numbers never go backwards: GET /v1/weights .decision after the
     restart >= the largest decision number seen before the kill, and the
     decision events, in event-id order over all runs, carry strictly
     increasing decision numbers;
  3. event ids grow across restarts: the first id of a run > the last id of
     every earlier run (the block reserved in event-id);
  4. no Route 53 change applied twice: among the batches the peer accepted,
     the comment's "decision N" is unique;
  5. no backup lost.  Only regiond makes backups here, so every backup at the
     peer is regiond's.  Checked exactly:
       a. every ARN backups.json records (jobs.*.backups, "ours" below) is at the peer now, or was seen at
          the peer before and is gone (deleted by retention: the drop from
          "ours" is saved when the run finishes, so a kill between the
          DeleteBackup and that save leaves a stale entry — harmless, the
          next retention run skips an ARN the list no longer has);
       b. every backup at the peer is in "ours", or is an orphan: created by
          the CreateBackup that was in flight at a kill (the peer accepted
          it, the answer with its ARN never reached the saved state).  At
          most one orphan per kill (one job, one region).
At the end everything is healed and the weights converge to all-100."""
import json
import os
import random
import re
import signal
import socket
import subprocess
import threading
import time

from harness import (REGIONCTL, TEST_KEY, DdbPeer, Daemon, Nginx, Route53Peer, check, check_eq, eventually,
                     free_port, run_tests, stop, tmpdir, token_file, wait_for, weighted_zone)

NAME = "api.example.test."
TOKENS, _ = token_file()
os.environ["REGIOND_TOKEN_FILE"] = TOKENS
REGIONS = ["us-east-1", "eu-west-1", "ap-southeast-2"]
IPS = ["127.0.0.11", "127.0.0.12", "127.0.0.13"]
ITERATIONS = 20
ENV = {"AWS_ACCESS_KEY_ID": TEST_KEY["access_key"], "AWS_SECRET_ACCESS_KEY": TEST_KEY["secret_key"],
       "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent", "AWS_CONFIG_FILE": "/nonexistent"}


class Sse(threading.Thread):
    """Reads /v1/events from the start of the ring (no Last-Event-ID) until
    the daemon dies; keeps (id, type, data)."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.port, self.events = port, []
        self.start()

    def run(self):
        try:
            s = socket.create_connection(("127.0.0.1", self.port), timeout=60)
            s.sendall(b"GET /v1/events HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n\r\n")
            f = s.makefile("rb")
            ev = {}
            for raw in f:
                line = raw.decode(errors="replace").rstrip("\r\n")
                if line.startswith("id: "):
                    ev["id"] = int(line[4:])
                elif line.startswith("event: "):
                    ev["type"] = line[7:]
                elif line.startswith("data: "):
                    ev["data"] = line[6:]
                elif line == "" and "id" in ev:
                    self.events.append(ev)
                    ev = {}
                elif line == "":
                    ev = {}
        except (OSError, ValueError):
            pass


def state_files_ok(sd):
    bad = []
    for name in ("event-id", "control.json", "route53-change.json", "route53-known.json", "backups.json", "drills.json"):
        p = os.path.join(sd, name)
        if not os.path.exists(p):
            continue
        text = open(p).read()
        try:
            if name == "event-id":
                int(text.strip())
            else:
                json.loads(text)
        except ValueError as e:
            bad.append(f"{name}: {e}: {text[:80]!r}")
    return bad


def recorded(bk):
    """The ARNs backups.json records: every schedule's own (jobs.*.backups[].arn)."""
    return {b["arn"] for j in bk.get("jobs", {}).values() for b in j.get("backups", [])}


def test_crash_consistency():
    seed = int(os.environ.get("CRASH_SEED", random.randrange(1 << 30)))
    print(f"seed {seed} (CRASH_SEED={seed} repeats this run)", flush=True)
    rnd = random.Random(seed)
    ports = [free_port() for _ in REGIONS]
    ngx = Nginx(ports)
    r53 = Route53Peer(weighted_zone(NAME, {r: (ip, 100) for r, ip in zip(REGIONS, IPS)}), pending_ms=200)
    ddb = DdbPeer(REGIONS, backup_ms=300)
    sd = tmpdir()
    endpoints = {f"dynamodb.{r}": ddb.url(r) for r in REGIONS}
    endpoints["route53"] = r53.url
    cfg = {
        "controller": {"id": "ctl-crash", "listen": f"127.0.0.1:{free_port()}", "state_dir": sd,
                       "log_level": "info", "token_file": TOKENS},
        "probe_defaults": {"interval_ms": 200, "timeout_ms": 180, "rise": 1, "fall": 1},
        "aws": {"endpoints": endpoints, "retry": {"base_ms": 50, "max_ms": 400, "max_attempts": 4}},
        "route53": {"hosted_zone_id": r53.zone_id, "record_name": NAME, "record_type": "A", "ttl": 60},
        "decision": {"hold_down_s": 0, "settle_ms": 0, "max_changes": 1000},
        "dynamodb": {"table": "orders", "describe_interval_s": 2, "rpo_ms": 60000, "stale_after_s": 30,
                     "backups": [{"name": "nightly", "regions": ["us-east-1"], "schedule": "0 3 * * *",
                                  "keep_last": 3, "name_template": "regiond-{table}-{schedule}.{utc:%Y%m%dT%H%M%SZ}"}]},
        "regions": [{"name": r, "api": [{"url": f"http://127.0.0.1:{p}/health"}],
                     "route53": {"value": ip, "weight": 100}} for r, p, ip in zip(REGIONS, ports, IPS)],
    }
    running = {"on": True, "base": None}

    def flapper():
        down = False
        while running["on"]:
            down = not down
            ngx.down(ports[1], down)
            time.sleep(0.45)
        ngx.down(ports[1], False)

    def backupper():
        while running["on"]:
            base = running["base"]
            if base:
                subprocess.run([REGIONCTL, "--api", base, "backup", "now", "orders"], capture_output=True,
                               timeout=10)
            time.sleep(0.25)

    threads = [threading.Thread(target=flapper, daemon=True), threading.Thread(target=backupper, daemon=True)]
    for t in threads:
        t.start()

    all_events = []            # over every run, in run order
    max_decision = 0
    last_run_max_id = 0
    seen_at_peer = set()       # every backup ARN ever seen at the peer
    orphans = set()
    problems = {"state": [], "decision": [], "ids": [], "r53": [], "backup": []}
    delays = []
    d = None
    for it in range(ITERATIONS + 1):
        d = Daemon(cfg, dir=d.dir if d else None, env=ENV)
        started = time.time()
        sse = Sse(d.port)
        running["base"] = d.base
        # 1. state files after the restart (and as left by the kill)
        problems["state"] += [f"iteration {it}: {b}" for b in state_files_ok(sd)]
        # 2. decision number after the restart
        w = wait_for(lambda: json.loads(d.get("/v1/weights")[1]), 10, "/v1/weights")
        if w["decision"] < max_decision:
            problems["decision"].append(f"iteration {it}: /v1/weights decision {w['decision']} < {max_decision}")
        if it == ITERATIONS:
            break
        delay = round(rnd.uniform(0, 1.5), 3)
        delays.append(delay)
        time.sleep(0.3 + delay)   # 0.3 s: the SSE client attached, the first decision made
        try:
            w = json.loads(d.get("/v1/weights")[1])
            max_decision = max(max_decision, w["decision"])
        except OSError:
            pass
        d.proc.send_signal(signal.SIGKILL)
        d.proc.wait(timeout=5)
        stop(d.proc)
        d.log.close()
        sse.join(timeout=5)
        evs = sse.events
        ids = [e["id"] for e in evs]
        if ids and ids[0] <= last_run_max_id:
            problems["ids"].append(f"iteration {it}: first id {ids[0]} <= earlier run's last {last_run_max_id}")
        if ids != sorted(set(ids)):
            problems["ids"].append(f"iteration {it}: ids not strictly increasing within the run")
        if ids:
            last_run_max_id = max(last_run_max_id, ids[-1])
        all_events += evs
        for e in evs:
            if e.get("type") == "decision":
                max_decision = max(max_decision, json.loads(e["data"])["decision"])
        # 5. backups, as the kill left them
        ours = recorded(json.load(open(os.path.join(sd, "backups.json"))))
        peer = {b["BackupArn"]: b for b in ddb.call("GET", "/_peer/backups?region=us-east-1")["backups"]
                if b["BackupName"].startswith("regiond-")}
        for arn in ours - set(peer):
            if arn not in seen_at_peer:
                problems["backup"].append(f"iteration {it}: {arn} in ours was never at the peer")
        seen_at_peer |= set(peer)
        new_orphans = {a for a in peer if a not in ours and a not in orphans}
        for a in new_orphans:
            if peer[a]["BackupCreationDateTime"] < started - 1:
                problems["backup"].append(f"iteration {it}: {a} ({peer[a]['BackupName']}) not in ours, "
                                          "created before this run")
        if len(new_orphans) > 1:
            problems["backup"].append(f"iteration {it}: {len(new_orphans)} orphans from one kill")
        orphans |= new_orphans

    print(f"kill delays (s, after a 0.3 s start): {delays}", flush=True)
    # 2 and 3 over all runs
    decs = [(e["id"], json.loads(e["data"])["decision"]) for e in all_events if e.get("type") == "decision"]
    for (i1, n1), (i2, n2) in zip(decs, decs[1:]):
        if not (i2 > i1 and n2 > n1):
            problems["decision"].append(f"decision events out of order: id {i1} #{n1} then id {i2} #{n2}")
    # 4. no change applied twice
    changes = r53.changes()
    nums = [int(m.group(1)) for c in changes for m in [re.search(r"decision (\d+)", c.get("comment") or "")] if m]
    dup = sorted({n for n in nums if nums.count(n) > 1})
    if dup:
        problems["r53"].append(f"decisions applied more than once: {dup}")
    check_eq(len(nums), len(changes), "every accepted batch names its decision in the comment")

    running["on"] = False
    for t in threads:
        t.join(timeout=15)
    ngx.down(ports[1], False)
    if not eventually(lambda: r53.weights(NAME) == {r: 100 for r in REGIONS}, 20,
                      "healed: the weights converged to all-100 within 20 s"):
        print("peer:", r53.weights(NAME), "\nregiond:", d.get("/v1/weights")[1].decode(), "\nlog tail:\n",
              "\n".join(d.read_log().splitlines()[-30:]))
        return
    # The peer applies a batch before it answers: give regiond's read-back the
    # moment the answer takes to arrive.
    try:
        wait_for(lambda: all(x["live"] == 100 for x in json.loads(d.get("/v1/weights")[1])["weights"]), 5,
                 "regiond's live weights")
        back = True
    except AssertionError:
        back = False
    check(back, "regiond reads all-100 back")
    bk = json.load(open(os.path.join(sd, "backups.json")))
    print(f"{len(all_events)} events over {ITERATIONS + 1} runs, ids up to {last_run_max_id}; "
          f"{len(decs)} decision events, highest decision {max_decision}; {len(changes)} Route 53 batches "
          f"accepted; {len(seen_at_peer)} backups seen at the peer, {len(recorded(bk))} recorded now, "
          f"{len(orphans)} orphans from kills", flush=True)
    check(len(decs) >= ITERATIONS and len(changes) >= ITERATIONS // 2,
          f"the kills landed amid activity ({len(decs)} decisions, {len(changes)} batches)")
    check(len(seen_at_peer) >= 5, f"backups were being made ({len(seen_at_peer)})")
    for k, v in problems.items():
        check(not v, f"invariant {k}: {v[:5] if v else 'held in every iteration'}")
    check_eq(d.stop(), 0, "clean exit")
    ddb.stop()
    r53.stop()
    ngx.stop()


if __name__ == "__main__":
    run_tests([test_crash_consistency])
