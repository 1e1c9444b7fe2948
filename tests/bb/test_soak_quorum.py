"""The Route 53 safety soak with three observers and random partitions (issue 18).

Three regiond instances, each in its OWN network namespace (tests/bb/netns_kit.py), every one an
observer with cluster.quorum on (k = 2 of 3), leading by turns over the lease tables at the DynamoDB
peer; three regions, each a namespace with nginx on REGION_IP:80; the strict Route 53 peer with one
weighted record per region.  At each step one seeded random event:
  * a partition of one instance (nftables in its namespace, replacing any it had): from one region's
    endpoint, from every region's endpoint, from the coordination tables (the DynamoDB peer's ports),
    or from everything; a heal of one cut instance;
  * a region truly fails (its namespace drops port 80, for every instance) or is restored;
  * kill -9 of an instance (restarted on its state 1-3 steps later) or SIGSTOP for 0.5-2 s or 6-8 s
    (past the 5 s lease), SIGCONT after it;
  * an operator sets one weight (botocore in-process, as the aws CLI; its own key; never 0).
Judged on the PEERS after every step, against what the test knows it did (soak_quorum_kit.py): no
batch leaves every record at 0; a drain only when k observers neither cut off from the region nor
suspect could see it fail; no operator weight overwritten except by such a drain; no batch of an
instance cut off from the coordination tables for longer than its lease; and the cluster soak's term
checks (tests/bb/soak_cluster_kit.py): one holder per epoch from statuses, lease items and guards, at
most one leader per sample, every landed batch's guard epoch at least the highest before and its
signer's own.  At the end everything is healed: every record serves again, every instance exits 0.

    /usr/bin/python3 tests/bb/test_soak_quorum.py [--seed N] [--steps N] [--k K]
The seed is printed at the start; SOAK_SEED=N in the environment sets it too.  If the kernel (or
missing privilege) refuses `ip netns add`, prints "SKIP: ..." and exits 77."""
import argparse
import atexit
import json
import os
import random
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import boto_kit  # noqa: E402
import harness  # noqa: E402
from harness import TEST_KEY, DdbPeer, Route53Peer, check, free_port, wait_for, weighted_zone  # noqa: E402
import lease_kit  # noqa: E402
import netns_kit as nk  # noqa: E402
from netns_kit import CTLS, PEER_ADDR, REGS  # noqa: E402
import soak_quorum_kit as sk  # noqa: E402
from soak_cluster_kit import ClusterJudge, close_soak, exit_soak, sample_for, stop_soak  # noqa: E402

NAME = "api.example.test."
GUARD = "_regiond-epoch." + NAME
REGIONS = ["r1", "r2", "r3"]
OBSERVERS = ["ctl-1", "ctl-2", "ctl-3"]
OP_WEIGHTS = [10, 50, 150, 200]
KEYS = {i: {"access_key": f"AKIDSOAKQUORUM{i}", "secret_key": f"soak/Quorum/Secret/Key/{i}/000000000000000000"}
        for i in (1, 2, 3)}
READY_S = (2 * lease_kit.LEASE_MS + 4 * lease_kit.RENEW_MS) / 1000 + 15
FINAL_S = 30.0
BOUND_S = 200.0            # a runaway guard; ~130 s on a quiet 2-core machine


class Member:
    def __init__(self, i, s):
        self.i, self.iid, self.s = i, f"ctl-{i}", s
        self.state = "running"          # running | paused | killed
        self.cut = None                 # (kind, region) of its partition, or None
        self.dir = harness.tmpdir(f"soakq-{i}-")
        self.env = dict(lease_kit.key_env(KEYS[i]))
        self.cfg = self.config()
        self.d = nk.NsDaemon(CTLS[i][0], self.cfg, self.env, dir=self.dir)

    def config(self):
        s = self.s
        eps = {f"dynamodb.{r}": f"http://{PEER_ADDR}:{s.ddb.ports[r]}" for r in lease_kit.REGIONS}
        eps["route53"] = f"http://{PEER_ADDR}:{s.r53.port}"
        cfg = lease_kit.config(self.i, s.ddb, endpoints=eps,
                               quorum={"observers": OBSERVERS, "k": s.args.k, "publish_ms": sk.PUBLISH_MS})
        cfg["controller"]["listen"] = f"127.0.0.1:{free_port()}"
        cfg["controller"]["log_level"] = "info"
        cfg["probe_defaults"] = {"interval_ms": sk.PROBE_MS, "timeout_ms": 150, "connect_timeout_ms": 150,
                                 "rise": sk.RISE, "fall": sk.FALL}
        cfg["route53"] = {"hosted_zone_id": s.r53.zone_id, "record_name": NAME, "record_type": "A", "ttl": 60,
                          "reconcile_s": 5, "correct_drift": False}
        cfg["decision"] = {"hold_down_s": 1, "settle_ms": 0, "max_changes": 0}
        cfg["regions"] = [{"name": r, "api": [{"url": f"http://{REGS[r][3]}/health", "body_contains": f"ok {r}"}],
                           "route53": {"value": REGS[r][3], "weight": 100}} for r in REGIONS]
        return cfg

    def alive(self):
        return self.d.proc.poll() is None


class QuorumSoak:
    def __init__(self, args):
        self.args, self.rng = args, random.Random(args.seed)
        self.counts, self.timeline, self.violations, self.due = {}, [], [], []
        self.failed, self.op = set(), None
        self.r53 = Route53Peer(weighted_zone(NAME, {r: (REGS[r][3], 100) for r in REGIONS}),
                               creds=[TEST_KEY] + list(KEYS.values()))
        self.ddb = DdbPeer(lease_kit.REGIONS, table=None, heartbeat_table=None, creds=[TEST_KEY] + list(KEYS.values()))
        lease_kit.create_tables(self.ddb)
        self.ngx = [nk.start_nginx(r) for r in REGIONS]
        self.sched = sk.Schedule(REGIONS, OBSERVERS)
        self.origin = time.monotonic()
        self.members = [Member(i, self) for i in (1, 2, 3)]
        self.by_iid = {m.iid: m for m in self.members}
        by_key = {KEYS[m.i]["access_key"]: m.iid for m in self.members}
        self.judge = sk.QuorumJudge(self.sched, NAME, REGIONS, by_key, lease_kit.LEASE_MS / 1000, self.bad,
                                    self.origin)
        self.judge.init(self.r53.records())
        self.terms = ClusterJudge(GUARD, lease_kit.MARGIN_MS / 1000.0, self.bad)
        self.seen_seq = 0

    def bad(self, what):
        self.violations.append(what)
        print(f"VIOLATION {what}", flush=True)

    def count(self, what):
        self.counts[what] = self.counts.get(what, 0) + 1

    def pick(self, pred=lambda m: True):
        ms = [m for m in self.members if pred(m)]
        return self.rng.choice(ms) if ms else None

    # ---------------------------------------------------------------- events
    def ev_cut(self, kind):
        m, r = self.pick(), self.rng.choice(REGIONS)
        rule = {"region": f"ip daddr {REGS[r][3]} drop",
                "endpoints": "ip daddr { " + ", ".join(REGS[x][3] for x in REGIONS) + " } drop",
                "tables": f"ip daddr {PEER_ADDR} tcp dport {{ " + ", ".join(
                    str(self.ddb.ports[x]) for x in lease_kit.REGIONS) + " } drop",
                "all": 'oifname "eth0" drop'}[kind]
        nk.uncut(m.i)                   # one cut at a time: this one replaces any
        nk.cut(m.i, rule)
        m.cut = (kind, r if kind == "region" else None)
        self.sched.cut(m.iid, time.monotonic(), kind, m.cut[1])
        self.count(f"cut_{kind}")
        return f"{m.iid} cut off from " + {"region": f"region {r}'s endpoint", "endpoints": "every region's endpoint",
                                           "tables": "the coordination tables", "all": "everything"}[kind]

    def ev_heal(self):
        m = self.pick(lambda m: m.cut)
        if m is None:
            self.count("heal_none")
            return "heal: no instance is cut off"
        nk.uncut(m.i)
        self.sched.cut(m.iid, time.monotonic(), None)
        was, m.cut = m.cut, None
        self.count("heal")
        return f"{m.iid} healed (was cut: {was[0]}{' ' + was[1] if was[1] else ''})"

    def ev_fail(self):
        up = [r for r in REGIONS if r not in self.failed]
        if len(up) < 2:
            return self.ev_restore()
        r = self.rng.choice(up)
        nk.region_fault(r, True)
        self.failed.add(r)
        self.sched.fail(r, time.monotonic(), True)
        self.count("region_fail")
        return f"region {r} truly fails (port 80 dropped for everyone)"

    def ev_restore(self):
        if not self.failed:
            return self.ev_fail()
        r = self.rng.choice(sorted(self.failed))
        nk.region_fault(r, False)
        self.failed.discard(r)
        self.sched.fail(r, time.monotonic(), False)
        self.count("region_restore")
        return f"region {r} restored"

    def victim(self):
        """The instance to kill or pause: the leader 60 % of the time; never the last one running."""
        pick_leader, m = self.rng.random() < 0.6, self.pick(lambda m: m.state == "running")
        if sum(1 for x in self.members if x.state == "running") < 2:
            return None
        ld = self.terms.leader and self.by_iid[self.terms.leader[0]]
        return ld if pick_leader and ld and ld.state == "running" else m

    def kill(self, m, after):
        self.terms.leader_gone(m.iid)
        m.d.kill9()
        m.state = "killed"
        self.sched.mute(m.iid, time.monotonic(), "killed")
        self.due.append((("step", self.step + after), "restart", m))

    def ev_kill(self):
        after = self.rng.randint(1, 3)
        m = self.victim()
        if m is None:
            self.count("kill_skipped")
            return "kill -9: fewer than two instances running, none killed"
        self.kill(m, after)
        self.count("kill9")
        return f"kill -9 {m.iid}, restart in {after} steps"

    def ev_kill_leader(self):
        m = self.by_iid[self.terms.leader[0]]
        self.kill(m, 2)
        self.count("kill9_leader_forced")
        return f"kill -9 {m.iid} (the leader: no takeover so far), restart in 2 steps"

    def ev_pause(self):
        secs = self.rng.uniform(0.5, 2.0) if self.rng.random() < 0.6 else self.rng.uniform(6.0, 8.0)
        m = self.victim()
        if m is None:
            self.count("pause_skipped")
            return "SIGSTOP: fewer than two instances running, none paused"
        self.terms.leader_gone(m.iid)
        m.d.proc.send_signal(signal.SIGSTOP)
        m.state = "paused"
        self.sched.mute(m.iid, time.monotonic(), "paused")
        self.due.append((("time", time.monotonic() + secs), "resume", m))
        self.count("pause_long" if secs > lease_kit.LEASE_MS / 1000 else "pause_short")
        return f"SIGSTOP {m.iid} for {secs:.1f} s"

    def ev_operator(self):
        """The operator's UPSERT of one weight (botocore in-process, tests/bb/boto_kit.py: the aws CLI's
        request without its start-up of seconds on a loaded host), in a thread: it lands whenever it
        lands, and is judged from the peer's change log."""
        self.reap_operator(wait=True)
        r, w = self.rng.choice(REGIONS), self.rng.choice(OP_WEIGHTS)
        batch = {"Comment": "operator", "Changes": [{"Action": "UPSERT", "ResourceRecordSet": {
            "Name": NAME, "Type": "A", "SetIdentifier": r, "Weight": w, "TTL": 60,
            "ResourceRecords": [{"Value": REGS[r][3]}]}}]}
        err = []

        def call():
            try:
                boto_kit.r53_change(self.r53, batch)
            except Exception as e:      # judged in reap_operator
                err.append(repr(e))
        t = threading.Thread(target=call, daemon=True)
        t.start()
        self.op = (t, err, r, w)
        self.count("operator")
        return f"operator (botocore, in the background) sets {r} to weight {w}"

    def reap_operator(self, wait=False):
        if self.op is None or (not wait and self.op[0].is_alive()):
            return
        t, err, r, w = self.op
        self.op = None
        t.join(60)
        if t.is_alive() or err:
            self.bad(f"the operator's call (set {r} to {w}) failed: "
                     f"{err[0][:300] if err else 'no answer in 60 s'}")

    def ev_idle(self):
        self.count("idle")
        return "nothing"

    EVENTS = [(lambda s: s.ev_cut("region"), 16), (lambda s: s.ev_cut("endpoints"), 5),
              (lambda s: s.ev_cut("tables"), 5), (lambda s: s.ev_cut("all"), 5), (ev_heal, 16),
              (ev_fail, 9), (ev_restore, 7), (ev_kill, 5), (ev_pause, 6), (ev_operator, 5), (ev_idle, 3)]

    def restart(self, m):
        m.d = nk.NsDaemon(CTLS[m.i][0], m.cfg, m.env, dir=m.dir, wait=False)
        m.state = "running"
        self.sched.mute(m.iid, time.monotonic(), None)

    def resume(self, m):
        m.d.proc.send_signal(signal.SIGCONT)
        m.state = "running"
        self.sched.mute(m.iid, time.monotonic(), None)

    def run_due(self, final=False):
        self.reap_operator(wait=final)
        now = time.monotonic()
        for d in list(self.due):
            (kind, at), action, m = d
            if final or (kind == "step" and at <= self.step) or (kind == "time" and at <= now):
                self.due.remove(d)
                getattr(self, action)(m)
                self.timeline.append({"step": self.step, "t": round(time.monotonic() - self.origin, 3),
                                      "what": f"{action} {m.iid}"})

    # ---------------------------------------------------------------- checks
    def sample(self):
        ans = []
        for m in self.members:
            if m.state != "running":
                continue
            t0 = time.monotonic()
            st = m.d.status_or_none(timeout=1)
            ans.append((m.iid, t0, time.monotonic(), st and st.get("lease")))
        self.terms.round(ans)

    def check_step(self):
        changes = self.r53.call("GET", f"/_peer/changes?since={self.seen_seq}")["changes"]
        for e in sorted(changes, key=lambda e: e["seq"]):
            self.seen_seq = max(self.seen_seq, e["seq"])
            iid = self.judge.by_key.get(e["key"])
            if iid is not None:
                self.terms.batch(e, self.by_iid[iid])
            self.judge.feed(e)
        self.terms.items(*lease_kit.majority_owner(lease_kit.items_fast(self.ddb)))
        ws = self.r53.weights(NAME)
        if not any(w > 0 for w in ws.values()):
            self.bad(f"every record at 0 at the Route 53 peer: {ws}")
        for m in self.members:
            if m.state != "killed" and not m.alive():
                self.bad(f"{m.iid} died: exit {m.d.proc.returncode}; log tail:\n" +
                         "\n".join(m.d.read_log().splitlines()[-30:]))
                m.state = "killed"
        return len(changes), ws

    def draw(self):
        total = sum(w for _, w in self.EVENTS)
        x = self.rng.uniform(0, total)
        for fn, w in self.EVENTS:
            x -= w
            if x <= 0:
                return fn
        return self.EVENTS[-1][0]

    def run(self):
        self.step = 0
        for self.step in range(1, self.args.steps + 1):
            self.run_due()
            fn = self.draw()
            if self.step == self.args.steps // 2 and not self.counts.get("region_fail"):
                fn = QuorumSoak.ev_fail      # no true failure drawn yet: one is forced (the same draws)
            elif self.step >= self.args.steps // 2 and len(self.terms.owners) < 2 and self.terms.leader:
                fn = QuorumSoak.ev_kill_leader   # no takeover yet: one is forced
            what = fn(self)
            self.timeline.append({"step": self.step, "t": round(time.monotonic() - self.origin, 3), "what": what})
            v0 = len(self.violations)
            sample_for(self, self.args.step_ms / 1000.0, 0.15)
            n, ws = self.check_step()
            print(f"step {self.step} +{time.monotonic() - self.origin:.1f}s: {what}; {n} batch(es); weights "
                  f"{ws}; leader {self.terms.leader[:2] if self.terms.leader else None}: "
                  f"{'ok' if len(self.violations) == v0 else 'VIOLATION'}", flush=True)
            if self.violations and self.args.stop_on_violation:
                break
        return self.step

    def final_phase(self):
        """Everything healed, resumed, restarted and restored: every record serves again."""
        self.run_due(final=True)
        now = time.monotonic()
        for m in self.members:
            if m.cut:
                nk.uncut(m.i)
                m.cut = None
                self.sched.cut(m.iid, now, None)
        for r in sorted(self.failed):
            nk.region_fault(r, False)
            self.sched.fail(r, now, False)
        self.failed.clear()
        self.timeline.append({"step": "final", "t": round(now - self.origin, 3), "what": "everything healed"})
        deadline = now + FINAL_S
        while time.monotonic() < deadline and not all(w > 0 for w in self.r53.weights(NAME).values()):
            self.sample()
            time.sleep(0.3)
        self.check_step()
        ws = self.r53.weights(NAME)
        if not all(w > 0 for w in ws.values()):
            self.bad(f"{FINAL_S:.0f} s after every partition and fault ended, the group is {ws}: not every "
                     "record serves again")

    def dump(self):
        path = f"/tmp/soak-quorum-seed{self.args.seed}-{os.getpid()}.json"
        sk.dump(path, self.args.seed, self.timeline, self.r53.changes(), self.sched, self.origin)
        for m in self.members:
            with open(f"{path[:-5]}-{m.iid}.log", "w") as f:
                f.write(m.d.read_log())
        print(f"timeline, schedule and change log: {path}; regiond logs beside it", flush=True)

    def summary(self, steps, took):
        j, t = self.judge, self.terms
        print(f"events: {json.dumps(dict(sorted(self.counts.items())))}", flush=True)
        print(f"SUMMARY quorum soak seed {self.args.seed} (k = {self.args.k}): {steps} steps in {took:.0f} s; "
              f"terms {len(t.owners)} (epochs {min(t.owners, default=0)}-{max(t.owners, default=0)}); "
              f"{j.counts['regiond']} regiond batches ({j.counts['drains']} drains: {j.counts['drains_failed']} "
              f"of a truly failed region, {j.counts['drains_cut']} of one cut off from >= 2; "
              f"{j.counts['restores']} restores), {j.counts['operator']} operator batches; {t.counts['rounds']} "
              f"status rounds; {j.checks + t.checks} checks, {len(self.violations)} violations", flush=True)

    def stop(self):
        self.run_due(final=True)
        rcs = {m.iid: m.d.stop(timeout=15) for m in self.members if m.state != "killed" and m.alive()}
        for p in self.ngx:
            harness.stop_peer(p)
        self.r53.stop()
        self.ddb.stop()
        return rcs


def ready(s):
    def ok():
        s.sample()
        if not s.terms.leader or not s.r53.changes():
            return None
        for m in s.members:
            q = ((m.d.status_or_none() or {}).get("observers") or {}).get("quorum")
            if not q or not q["ok"] or len(q["usable"]) != 3 or any(r["state"] != "up" for r in q["regions"]):
                return None
        return True
    wait_for(ok, READY_S, "one leader, its guard written, every quorum ok with every region up", interval=0.3)


def parse():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--seed", type=int, default=int(os.environ["SOAK_SEED"]) if os.environ.get("SOAK_SEED") else None)
    p.add_argument("--step-ms", type=int, default=1500, help="sampling after each event, before the checks")
    p.add_argument("--k", type=int, default=sk.K, help="cluster.quorum.k given to the instances (the judge "
                   "keeps k = 2: a smaller one shows the judge catching lone drains)")
    p.add_argument("--stop-on-violation", action="store_true")
    p.add_argument("--dump", action="store_true", help="keep the timeline, change log and logs even when green")
    args = p.parse_args()
    if args.seed is None:
        args.seed = random.SystemRandom().randrange(1 << 31)
    return args


def main():
    args = parse()
    print(f"quorum soak: seed {args.seed} (replay: SOAK_SEED={args.seed} or --seed {args.seed}), {args.steps} "
          f"steps, {args.step_ms} ms per step, k = {args.k} of 3", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))    # a timeout's SIGTERM still stops every pid
    signal.signal(signal.SIGINT, lambda *_: sys.exit(130))
    atexit.register(nk.teardown)
    started = time.monotonic()
    why = nk.build_namespaces()
    if why:
        print(f"SKIP: network namespaces are refused here (kernel or privilege), this test did not run: {why}",
              flush=True)
        nk.teardown()
        sys.exit(nk.SKIP_CODE)
    s = None
    try:
        s = QuorumSoak(args)
        ready(s)
        print(f"set-up: {time.monotonic() - started:.1f} s", flush=True)
        t0 = time.monotonic()
        steps = s.run()
        s.final_phase()
        took = time.monotonic() - t0
        close_soak(s, steps, took, args,
                   [(s.judge.counts["regiond"] > 0, f"regiond's batches landed ({s.judge.counts['regiond']})")])
        s = None
        took = time.monotonic() - started
        print(f"timing: whole soak {took:.1f} s", flush=True)
        check(took < BOUND_S, f"the soak stays bounded ({took:.1f} s < {BOUND_S:.0f} s)")
    finally:
        stop_soak(s, nk.teardown)
    exit_soak()


if __name__ == "__main__":
    main()
