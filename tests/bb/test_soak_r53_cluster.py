"""The Route 53 safety soak with three instances (issue 17): three regiond
instances leading by turns over a majority lease on three lease tables (the
strict DynamoDB peer), one strict Route 53 peer, four nginx regions.  At each
step one seeded random event: a region fails or recovers (every instance sees
it); an operator sets a weight (an unguarded UPSERT; botocore in-process,
the aws CLI's request: tests/bb/boto_kit.py) or
releases a region on the leader (regionctl); kill -9 of an instance (the
leader more often than not), restarted on its state 0-4 steps later; SIGSTOP
of an instance for 0.5-2 s or 6-9 s (past the 5 s lease), SIGCONT after it.

Judged on the PEERS after every step and at the end (statuses sampled every
step, the lease items every step, the Route 53 peer's change log):
  * the Route 53 soak's own checks (its Checker, imported): every batch
    leaves a record serving; no record the operator set is overwritten unless
    released or a drain the health rules require (the three instances are
    one writer: a term carries on the previous one's weights); no decision
    applied twice; each batch's comment names its instance;
  * the epoch guard: every landed batch carries a guard epoch at least the
    highest landed before, naming its instance and that instance's term
    (soak_cluster_kit.py);
  * one holder per epoch (statuses, lease items, guards) and at most one
    leader at each sample (soak_cluster_kit.py says when a sample proves it);
  * a down region is drained within a bound once a leader exists;
  * no instance dies; at the end, all healthy and every region released on
    the leader, the group comes back to the configured weights; every
    instance exits 0 (sanitizer reports fail it).

    /usr/bin/python3 tests/bb/test_soak_r53_cluster.py [--seed N] [--steps N]
The seed is printed at the start; SOAK_SEED=N in the environment sets it
too (ctest: SOAK_SEED=N ctest -R bb_test_soak_r53_cluster)."""
import argparse
import json
import os
import random
import signal
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from harness import (REGIONCTL, TEST_KEY, Daemon, DdbPeer, Nginx, Route53Peer, free_port, tmpdir,  # noqa: E402
                     token_file)
import lease_kit  # noqa: E402
import test_soak_r53 as soak  # noqa: E402
from soak_cluster_kit import ClusterJudge, close_soak, exit_soak, sample_for, stop_soak  # noqa: E402
from test_soak_r53 import IPS, NAME, REGIONS, WEIGHTS  # noqa: E402

GUARD = "_regiond-epoch." + NAME
KEYS = {n: {"access_key": f"AKIDSOAKCLUSTER{n}", "secret_key": f"soak/Cluster/Secret/Key/{n}/0000000000000000"}
        for n in (1, 2, 3)}
MIN_HEALTHY = 0              # the all-zero guard alone keeps a record serving
LEASE_MS, RENEW_MS, MARGIN_MS = lease_kit.LEASE_MS, lease_kit.RENEW_MS, lease_kit.MARGIN_MS
FINAL_S = 60.0               # the end: a leader (a takeover, perhaps a split vote) and the group restored
TOKENS, TOKS = token_file()


def status(d, timeout=2):
    """The instance's whole /v1/status, or None when it does not answer within timeout."""
    try:
        with urllib.request.urlopen(d.base + "/v1/status", timeout=timeout) as r:
            return json.loads(r.read())
    except (OSError, ValueError):
        return None


class Member:
    """One regiond of the cluster.  For the soak's Checker all three are one
    writer ("cluster"): a new leader carries on from the live weights."""

    def __init__(self, n, s):
        self.n, self.name, self.iid, self.s = n, str(n), f"soak-{n}", s
        self.min_healthy = MIN_HEALTHY
        self.state = "running"          # running | paused | killed
        self.dir = tmpdir(f"soak-cl-{n}-")
        self.env = {"AWS_ACCESS_KEY_ID": KEYS[n]["access_key"], "AWS_SECRET_ACCESS_KEY": KEYS[n]["secret_key"],
                    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent", "AWS_CONFIG_FILE": "/nonexistent",
                    "REGIOND_TOKEN_FILE": TOKENS}
        self.cfg = self.config(free_port())
        self.d = Daemon(self.cfg, dir=self.dir, env=self.env)

    def config(self, port):
        s = self.s
        eps = {f"dynamodb.{r}": s.ddb.url(r) for r in lease_kit.REGIONS}
        eps["route53"] = s.r53.url
        return {
            "controller": {"id": self.iid, "listen": f"127.0.0.1:{port}", "state_dir": tmpdir("soak-cl-state-"),
                           "log_level": "info", "token_file": TOKENS},
            "probe_defaults": {"interval_ms": 300, "timeout_ms": 250, "rise": 2, "fall": 2},   # a loaded host
            "aws": {"endpoints": eps, "retry": {"base_ms": 50, "max_ms": 400}},
            "route53": {"hosted_zone_id": s.r53.zone_id, "record_name": NAME, "record_type": "A", "ttl": 60,
                        "reconcile_s": 5, "correct_drift": False, "name_servers": [f"127.0.0.1:{s.r53.dns_port}"],
                        "dns_check": {"consecutive": 3, "interval_ms": 100, "timeout_s": 5}},
            "decision": {"hold_down_s": 1, "settle_ms": 200, "max_changes": 0, "min_healthy_regions": MIN_HEALTHY},
            "regions": [{"name": r, "api": [{"url": f"http://127.0.0.1:{p}/health"}],
                         "route53": {"value": ip, "weight": w}} for r, p, ip, w in zip(REGIONS, s.ports, IPS, WEIGHTS)],
            "cluster": {"instance_id": self.iid, "advertise_url": f"http://127.0.0.1:{port}",
                        "lease_tables": [{"region": r, "table": lease_kit.TABLE} for r in lease_kit.REGIONS],
                        "lease_ms": LEASE_MS, "renew_ms": RENEW_MS, "margin_ms": MARGIN_MS},
        }

    # what the soak's Checker asks of an instance
    def actor_at(self, _mono):
        return "cluster"

    def was_down(self, region, t0, t1):
        return any(a <= t1 and (b is None or b >= t0) for a, b in self.s.down_spans[region])

    def alive(self):
        return self.d.proc.poll() is None

    def kill(self):
        self.d.proc.send_signal(signal.SIGKILL)
        self.d.proc.wait(timeout=10)
        harness.stop(self.d.proc)
        self.d.log.close()
        self.state = "killed"

    def restart(self):
        self.d = Daemon(self.cfg, dir=self.dir, env=self.env)
        self.state = "running"

    def pause(self):
        self.d.proc.send_signal(signal.SIGSTOP)
        self.state = "paused"

    def resume(self):
        self.d.proc.send_signal(signal.SIGCONT)
        self.state = "running"

    def release(self, region):
        r = subprocess.run([REGIONCTL, "--api", self.d.base, "release", region], capture_output=True, text=True,
                           timeout=30, env=dict(os.environ, REGIOND_TOKEN_FILE=TOKENS))
        return r.returncode == 0, (r.stdout + r.stderr).strip()


class ClusterSoak:
    def __init__(self, args):
        self.args, self.rng = args, random.Random(args.seed)
        self.counts, self.timeline, self.violations = {}, [], []
        self.ports = [free_port() for _ in REGIONS]
        self.ngx = Nginx(self.ports)
        self.down_spans = {r: [] for r in REGIONS}
        self.down_since = {r: None for r in REGIONS}
        self.released = {}
        self.op_t = 0.0
        self.due = []                   # (step or time, action, member)
        self.drifted = set()            # regions the last sampled leader holds as drift
        zone = harness.weighted_zone(NAME, {r: (ip, w) for r, ip, w in zip(REGIONS, IPS, WEIGHTS)})
        self.r53 = self.peer = Route53Peer(zone, creds=[TEST_KEY] + list(KEYS.values()), pending_ms=300)
        self.ddb = DdbPeer(lease_kit.REGIONS, table=None, heartbeat_table=None, creds=[TEST_KEY] + list(KEYS.values()))
        lease_kit.create_tables(self.ddb)
        self.checker = soak.Checker({})
        self.checker.init(self.r53.records())
        self.judge = ClusterJudge(GUARD, MARGIN_MS / 1000.0, self.bad)
        self.members = [Member(n, self) for n in (1, 2, 3)]
        self.checker.insts = {m.name: m for m in self.members}
        self.checker.by_key = {KEYS[m.n]["access_key"]: m for m in self.members}
        self.by_iid = {m.iid: m for m in self.members}

    def bad(self, what):
        self.violations.append(what)
        print(f"VIOLATION {what}", flush=True)

    def count(self, what):
        self.counts[what] = self.counts.get(what, 0) + 1

    def running(self):
        return [m for m in self.members if m.state == "running"]

    def leader(self):
        ld = self.judge.leader
        m = self.by_iid.get(ld[0]) if ld else None
        return m if m and m.state == "running" else None

    # ---------------------------------------------------------------- events
    def ev_region(self):
        r = self.rng.choice(REGIONS)
        down = self.down_since[r] is None
        now = time.monotonic()
        self.ngx.down(self.ports[REGIONS.index(r)], down)
        if down:
            self.down_since[r] = now
            self.down_spans[r].append([now, None])
        else:
            self.down_since[r] = None
            self.down_spans[r][-1][1] = now
        self.count("region_fail" if down else "region_recover")
        return f"region {r} {'fails' if down else 'recovers'}"

    ev_operator_change = soak.Soak.ev_operator    # the UPSERT of one weight (botocore), as in the soak

    def ev_operator(self):
        what = self.ev_operator_change()
        self.op_t = time.monotonic()
        return what

    def ev_release(self):
        r = self.rng.choice(REGIONS)
        m = self.leader()
        if m is None:
            self.count("release_no_leader")
            return f"operator would release {r}: no leader seen"
        t = time.monotonic()
        ok, out = m.release(r)
        if ok:
            self.checker.note_release(m, r, t)
            self.released[r] = t
        self.count("release" if ok else "release_refused")
        return f"operator releases {r} on {m.iid}: {out[:160]}"

    def victim(self, what):
        """The instance to kill or pause: the leader 60 % of the time; never the last one running."""
        run = self.running()
        pick_leader, x = self.rng.random() < 0.6, self.rng.choice([1, 2, 3])
        if len(run) < 2:
            self.count(what + "_skipped")
            return None
        m = self.leader() if pick_leader else None
        m = m or next((y for y in run if y.n == x), None) or run[0]
        self.judge.leader_gone(m.iid)
        return m

    def ev_kill(self):
        after = self.rng.randint(0, 4)
        m = self.victim("kill9")
        if m is None:
            return "kill -9: fewer than two instances running, none killed"
        m.kill()
        self.count("kill9")
        if after == 0:
            m.restart()
            return f"kill -9 {m.iid}, restarted at once"
        self.due.append((("step", self.step + after), "restart", m))
        return f"kill -9 {m.iid}, restart in {after} steps"

    def ev_kill_leader(self):
        m = self.leader()
        self.judge.leader_gone(m.iid)
        m.kill()
        self.count("kill9_forced")
        self.due.append((("step", self.step + 1), "restart", m))
        return f"kill -9 {m.iid} (the leader: no takeover so far), restart in 1 step"

    def ev_pause(self):
        secs = self.rng.uniform(0.5, 2.0) if self.rng.random() < 0.6 else self.rng.uniform(6.0, 9.0)
        m = self.victim("pause")
        if m is None:
            return "SIGSTOP: fewer than two instances running, none paused"
        m.pause()
        self.due.append((("time", time.monotonic() + secs), "resume", m))
        self.count("pause_long" if secs > LEASE_MS / 1000 else "pause_short")
        return f"SIGSTOP {m.iid} for {secs:.1f} s"

    def ev_idle(self):
        self.count("idle")
        return "nothing"

    EVENTS = [(ev_region, 30), (ev_operator, 8), (ev_release, 6), (ev_kill, 7), (ev_pause, 9), (ev_idle, 10)]

    def run_due(self, final=False):
        now = time.monotonic()
        for d in list(self.due):
            (kind, at), action, m = d
            if final or (kind == "step" and at <= self.step) or (kind == "time" and at <= now):
                self.due.remove(d)
                getattr(m, action)()
                self.timeline.append({"step": self.step, "t": time.monotonic(), "what": f"{action} {m.iid}"})

    # ---------------------------------------------------------------- checks
    def sample(self):
        ans = []
        for m in self.running():
            t0 = time.monotonic()
            st = status(m.d)
            ls = st and st.get("lease")
            ans.append((m.iid, t0, time.monotonic(), ls))
            if ls and ls.get("leading"):
                ws = (st.get("failover") or {}).get("weights", [])
                self.drifted = {w["region"] for w in ws if w.get("drifted")}
        self.judge.round(ans)

    def check_step(self):
        q = f"?since={self.checker.seen_seq}"
        changes = self.r53.call("GET", "/_peer/changes" + q)["changes"]
        rejected = self.r53.call("GET", "/_peer/rejected" + q)["rejected"]
        v0 = len(self.checker.violations)
        for e in sorted(changes + [dict(r, refused=True) for r in rejected], key=lambda e: e["seq"]):
            m = self.checker.by_key.get(e["key"])
            if m is not None and not e.get("refused"):
                self.judge.batch(e, m)
            self.checker.feed([] if e.get("refused") else [e], [e] if e.get("refused") else [])
        for x in self.checker.violations[v0:]:
            self.violations.append(x)
        self.judge.counts["refused"] += sum(1 for r in rejected if r["key"] in self.checker.by_key)
        self.judge.items(*lease_kit.majority_owner(lease_kit.items_fast(self.ddb)))
        weights = self.r53.weights(NAME)
        # A region the leader holds as drift is left alone when an operator
        # set it last (the Checker judges that); one regiond itself wrote
        # last is no drift, so its drain is judged (docs/ha.md: a new term
        # judges the live group against the last leader's known weights).
        held = set()
        for r in (self.drifted if self.judge.leader else set()):
            lw = self.checker.last.get(r, ("init", None, 0.0))
            if lw[0] == "operator":
                held.add(r)
            elif self.down_since.get(r) is not None and weights.get(r, 0) > 0:
                print(f"note: {self.judge.leader[:2]} holds {r} (down) as drift, last written by {lw[0]} "
                      f"at {lw[1]}: its drain is judged", flush=True)
        self.judge.drains(time.monotonic(), {r: t for r, t in self.down_since.items() if r not in held},
                          weights, self.checker.last, self.released, self.op_t)
        n = len(changes) + len(rejected)
        for m in self.members:
            if m.state != "killed" and not m.alive():
                self.bad(f"{m.iid} died: exit {m.d.proc.returncode}; log tail:\n" +
                         "\n".join(m.d.read_log().splitlines()[-40:]))
                m.state = "killed"
        return n

    def run(self):
        t0 = time.monotonic()
        total = sum(w for _, w in self.EVENTS)
        self.step = 0
        for self.step in range(1, self.args.steps + 1):
            self.run_due()
            x = self.rng.uniform(0, total)
            for fn, w in self.EVENTS:
                x -= w
                if x <= 0:
                    break
            if self.step >= self.args.steps // 2 and len(self.judge.owners) < 2 and self.leader():
                fn = ClusterSoak.ev_kill_leader     # no takeover drawn yet: one is forced (the same draws)
            what = fn(self)
            self.timeline.append({"step": self.step, "t": time.monotonic(), "what": what})
            v0 = len(self.violations)
            sample_for(self, self.args.step_ms / 1000.0, 0.1)
            n = self.check_step()
            print(f"step {self.step}: {what}; {n} new batch(es) at the peer; leader "
                  f"{self.judge.leader[:2] if self.judge.leader else None}: "
                  f"{'ok' if len(self.violations) == v0 else 'VIOLATION'}", flush=True)
            if self.violations and self.args.stop_on_violation:
                break
        steps = self.step
        self.final_phase()
        return steps, time.monotonic() - t0

    def final_phase(self):
        """Everything resumed, restarted and healthy; every region released on
        the leader (again on each new leader): the group comes back to the
        configured weights within FINAL_S."""
        self.run_due(final=True)
        now = time.monotonic()
        for r in REGIONS:
            if self.down_since[r] is not None:
                self.ngx.down(self.ports[REGIONS.index(r)], False)
                self.down_since[r] = None
                self.down_spans[r][-1][1] = now
        want, done_for, deadline = dict(zip(REGIONS, WEIGHTS)), None, now + FINAL_S
        todo = []
        while time.monotonic() < deadline and self.r53.weights(NAME) != want:
            self.sample()
            m = self.leader()
            if m is not None and done_for != (m.iid, self.judge.leader[1]):
                done_for, todo = (m.iid, self.judge.leader[1]), list(REGIONS)   # a new leader: all again
            if m is not None:
                # an operator change the leader read only after its release is
                # drift again (as it should be): the operator releases it again
                todo += [r for r in sorted(self.drifted) if r not in todo]
            for r in list(todo if m is not None else []):
                t = time.monotonic()
                if m.release(r)[0]:       # refused (409) while a new leader reads the replicated state: again
                    self.checker.note_release(m, r, t)
                    self.released[r] = t
                    todo.remove(r)
            time.sleep(0.3)
        self.check_step()
        got = self.r53.weights(NAME)
        if got != want:
            self.bad(f"at the end the group is {got}, not the configured {want} (leader "
                     f"{self.judge.leader}, released on {done_for})")

    def dump(self):
        path = f"/tmp/soak-r53-cluster-seed{self.args.seed}-{os.getpid()}.json"
        with open(path, "w") as f:
            json.dump({"seed": self.args.seed, "events": self.timeline, "changes": self.r53.changes(),
                       "rejected": self.r53.call("GET", "/_peer/rejected")["rejected"],
                       "owners": {str(k): v for k, v in self.judge.owners.items()}}, f, indent=1, default=str)
        for m in self.members:
            with open(f"{path[:-5]}-{m.iid}.log", "w") as f:
                f.write(m.d.read_log())
        print(f"timeline and change log: {path}; regiond logs beside it", flush=True)

    def summary(self, steps, took):
        j, b = self.judge, self.checker.batches
        print(f"events: {json.dumps(dict(sorted(self.counts.items())))}", flush=True)
        print(f"SUMMARY cluster soak seed {self.args.seed}: {steps} steps in {took:.0f} s; terms seen "
              f"{len(j.owners)} (epochs {min(j.owners, default=0)}-{max(j.owners, default=0)}); "
              f"{j.counts['bumps']} guard bumps, {b['regiond']} regiond batches landed, {j.counts['refused']} "
              f"refused, {b['operator']} operator batches; {j.counts['rounds']} status rounds "
              f"({j.inconclusive} inconclusive); {self.checker.checks + j.checks} checks, "
              f"{len(self.violations)} violations", flush=True)

    def stop(self):
        self.run_due(final=True)
        rcs = {m.iid: m.d.stop(timeout=15) for m in self.members if m.state != "killed"}
        self.ddb.stop()
        self.r53.stop()
        self.ngx.stop()
        return rcs


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=70)
    p.add_argument("--seed", type=int, default=int(os.environ["SOAK_SEED"]) if os.environ.get("SOAK_SEED") else None)
    p.add_argument("--step-ms", type=int, default=400, help="sampling after each event, before the checks")
    p.add_argument("--stop-on-violation", action="store_true")
    p.add_argument("--dump", action="store_true", help="keep the events, change log and logs in /tmp even when green")
    args = p.parse_args()
    if args.seed is None:
        args.seed = random.SystemRandom().randrange(1 << 31)
    print(f"cluster soak: seed {args.seed} (replay: SOAK_SEED={args.seed} or --seed {args.seed}), {args.steps} "
          f"steps, {args.step_ms} ms per step", flush=True)
    s = None
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))    # a timeout's SIGTERM still stops every pid
    try:
        s = ClusterSoak(args)
        steps, took = s.run()
        close_soak(s, steps, took, args,
                   [(len(s.judge.owners) >= 2, f"leadership moved at least once ({len(s.judge.owners)} terms)")])
        s = None
    finally:
        stop_soak(s, harness._cleanup)
    exit_soak()


if __name__ == "__main__":
    main()
