"""The adversarial Route 53 soak (issue 11): four nginx regions, the strict
Route 53 peer with its DNS, two regiond instances on the same zone, an
operator (botocore in-process, what the aws CLI runs: tests/bb/boto_kit.py),
injected Route 53 faults and kill -9.  At each
step one random event (seeded); after every step the peer's own change log
is checked:

  * every batch regiond sent left the group with a serving record, and never
    fewer serving than its min_healthy_regions unless it made none fewer;
  * no record another writer had set (the operator, the other instance, a
    wiped predecessor) was overwritten with correct_drift false, unless the
    operator released it to that instance or it was a drain the health rules
    required (the region down in that instance's view).  A value equal to
    what the instance last wrote (or, released, last read) is not drift: an
    A-B-A between two of its reads cannot be seen, and is not held against it;
  * no change was applied twice.

    /usr/bin/python3 tests/bb/test_soak_r53.py            short: 160 steps (CI)
    /usr/bin/python3 tests/bb/test_soak_r53.py --long     2,000 steps
    ... --seed N  (printed at the start; replays the same events)
    ... --steps N --step-ms M

Regiond's batches are told from the operator's by the access key that signed
them (each instance has its own), and checked against their Comment."""
import argparse
import json
import os
import random
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import boto_kit  # noqa: E402
import harness  # noqa: E402
from harness import (REGIONCTL, TEST_KEY, Daemon, Nginx, Route53Peer, check, free_port, tmpdir,  # noqa: E402
                     token_file, wait_for)
from soak_cluster_kit import exit_soak, stop_soak  # noqa: E402

NAME = "api.example.test."
REGIONS = ["us-east-1", "eu-west-1", "ap-southeast-2", "sa-east-1"]
IPS = ["127.0.0.21", "127.0.0.22", "127.0.0.23", "127.0.0.24"]
WEIGHTS = [100, 60, 100, 30]                 # configured weights
OP_WEIGHTS = [0, 0, 10, 50, 100, 200]        # what the operator sets
KEYS = {"a": {"access_key": "AKIDSOAKINSTANCEA", "secret_key": "soak/Secret/Key/Of/Instance/A/000000000000"},
        "b": {"access_key": "AKIDSOAKINSTANCEB", "secret_key": "soak/Secret/Key/Of/Instance/B/000000000000"}}
MIN_HEALTHY = {"a": 2, "b": 0}               # b relies on the all-zero guard alone
DRAIN_LAG_S = 6.0                            # a drain may land this long after its region came back
RELEASE_READ_S = 15.0                        # an instance read its records this long before a release at most
                                             # (reconcile_s 5, reads delayed by the injected faults)
FAULTS = ["throttle", "error5xx", "drop_after", "prior"]
TOKENS, _ = token_file()


class Instance:
    """One regiond on the shared zone: its own probes (nginx ports), key,
    state dir; `gen` counts wiped restarts (a wiped instance is a new writer)."""

    def __init__(self, name, ngx, ports, peer):
        self.name, self.ngx, self.ports, self.peer = name, ngx, ports, peer
        self.min_healthy = MIN_HEALTHY[name]
        self.gen = 0
        self.gen_start = {0: 0.0}
        self.dir = tmpdir(f"soak-{name}-")
        self.env = {"AWS_ACCESS_KEY_ID": KEYS[name]["access_key"], "AWS_SECRET_ACCESS_KEY": KEYS[name]["secret_key"],
                    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent", "AWS_CONFIG_FILE": "/nonexistent",
                    "REGIOND_TOKEN_FILE": TOKENS}
        self.cfg = self.config(tmpdir(f"soak-{name}-state-"))
        self.down = {r: False for r in REGIONS}            # this instance's view (its nginx port answers 503)
        self.down_since = {r: [] for r in REGIONS}         # [start, end or None] per region
        self.d = Daemon(self.cfg, dir=self.dir, env=self.env)

    def config(self, state_dir):
        return {
            "controller": {"id": f"soak-{self.name}", "listen": f"127.0.0.1:{free_port()}", "state_dir": state_dir,
                           "log_level": "info", "token_file": TOKENS},
            "probe_defaults": {"interval_ms": 200, "timeout_ms": 150, "rise": 2, "fall": 2},
            "aws": {"endpoints": {"route53": self.peer.url}, "retry": {"base_ms": 50, "max_ms": 400}},
            "route53": {"hosted_zone_id": self.peer.zone_id, "record_name": NAME, "record_type": "A", "ttl": 60,
                        "reconcile_s": 5, "correct_drift": False,
                        "name_servers": [f"127.0.0.1:{self.peer.dns_port}"],
                        "dns_check": {"consecutive": 3, "interval_ms": 100, "timeout_s": 5}},
            "decision": {"hold_down_s": 1, "settle_ms": 200, "max_changes": 0,
                         "min_healthy_regions": MIN_HEALTHY[self.name]},
            "regions": [{"name": r, "api": [{"url": f"http://127.0.0.1:{p}/health"}],
                         "route53": {"value": ip, "weight": w}}
                        for r, p, ip, w in zip(REGIONS, self.ports, IPS, WEIGHTS)],
        }

    def set_down(self, region, down, now):
        if self.down[region] == down:
            return
        self.down[region] = down
        self.ngx.down(self.ports[REGIONS.index(region)], down)
        if down:
            self.down_since[region].append([now, None])
        else:
            self.down_since[region][-1][1] = now

    def was_down(self, region, t0, t1):
        """Was region down in this instance's view at some time in [t0, t1]?"""
        return any(s <= t1 and (e is None or e >= t0) for s, e in self.down_since[region])

    def alive(self):
        return self.d.proc.poll() is None

    def kill_restart(self, wipe, now):
        self.d.proc.send_signal(signal.SIGKILL)
        self.d.proc.wait(timeout=10)
        harness.stop(self.d.proc)
        self.d.log.close()
        if wipe:                     # a first start: no saved state, a new writer for the checks
            self.cfg["controller"]["state_dir"] = tmpdir(f"soak-{self.name}-state-")
            self.gen += 1
            self.gen_start[self.gen] = time.monotonic()
        self.d = Daemon(self.cfg, dir=self.dir, env=self.env)

    def actor_at(self, mono):
        """The writer (name#generation) this instance was at peer time mono."""
        g = max(k for k, t in self.gen_start.items() if t <= mono)
        return f"{self.name}#{g}"

    def release(self, region):
        r = subprocess.run([REGIONCTL, "--api", self.d.base, "release", region], capture_output=True, text=True,
                           timeout=20, env=dict(os.environ, REGIOND_TOKEN_FILE=TOKENS))
        return r.returncode == 0, (r.stdout + r.stderr).strip()


class Checker:
    """Replays the peer's change log (accepted and refused batches in one
    order) and checks every regiond batch against the invariants."""

    def __init__(self, insts):
        self.insts = insts
        self.by_key = {KEYS[n]["access_key"]: inst for n, inst in insts.items()}
        self.last = {}                          # set id -> (writer, weight, peer mono)
        self.tried = {}                         # (writer, set id) -> (last weight that writer sent, when)
        self.own = {}                           # (writer, set id) -> {weights it may hold as its own}
        self.hist = {}                          # set id -> [(peer mono, weight)] every value it held
        self.pending = []                       # releases not resolved yet: (writer, set id, mono)
        self.released = {}                      # (writer, set id) -> mono of the last release
        self.seen_seq = 0
        self.sent = set()                       # (comment, changes) of accepted regiond batches
        self.checks = 0
        self.batches = {"regiond": 0, "operator": 0, "refused": 0}
        self.violations = []
        self.initialised = False

    def _group(self, recs):
        return {r["SetIdentifier"]: r.get("Weight", 0) for r in recs if r["Name"] == NAME and r["Type"] == "A"
                and r.get("SetIdentifier") in REGIONS}

    def init(self, records):
        for sid, w in self._group(records).items():
            self.last[sid] = ("init", w, 0.0)
            self.hist[sid] = [(0.0, w)]
        self.initialised = True

    def note_release(self, inst, region, mono):
        """The operator handed region's record back to inst at mono: the
        instance takes as its own the weight it last read, some weight the
        record held in the RELEASE_READ_S before (resolved once the change
        log is known up to mono)."""
        self.released[(inst.actor_at(mono), region)] = mono
        self.pending.append((inst.actor_at(mono), region, mono))

    def _resolve_releases(self, upto):
        for p in [p for p in self.pending if p[2] < upto]:
            writer, sid, t = p
            h = self.hist[sid]
            vals = {w for (tm, w) in h if t - RELEASE_READ_S <= tm <= t}
            vals.add(max(((tm, w) for (tm, w) in h if tm <= t), default=(0.0, None))[1])
            self.own[(writer, sid)] = vals
            self.pending.remove(p)

    def _bad(self, what, entry):
        self.violations.append(f"{what} [batch seq {entry['seq']}, comment {entry.get('comment')!r}]")
        print(f"VIOLATION {what}\n  batch: {json.dumps(entry, default=str)[:1500]}", flush=True)

    @staticmethod
    def _moved(entry):
        """The weights a batch sets, for the records whose weight it changes
        (a DELETE + identical CREATE guard moves nothing)."""
        old = {c["ResourceRecordSet"].get("SetIdentifier"): c["ResourceRecordSet"].get("Weight")
               for c in entry["changes"] if c["Action"] == "DELETE"}
        return {c["ResourceRecordSet"].get("SetIdentifier"): c["ResourceRecordSet"].get("Weight")
                for c in entry["changes"] if c["Action"] in ("CREATE", "UPSERT")
                and old.get(c["ResourceRecordSet"].get("SetIdentifier"), -1) != c["ResourceRecordSet"].get("Weight")}

    def feed(self, changes, rejected):
        """Check every entry not seen yet; returns how many were new."""
        new = sorted([c for c in changes if c["seq"] > self.seen_seq] +
                     [dict(r, refused=True) for r in rejected if r["seq"] > self.seen_seq], key=lambda e: e["seq"])
        for e in new:
            self.seen_seq = e["seq"]
            self._resolve_releases(e["mono"])
            inst = self.by_key.get(e["key"])
            writer = inst.actor_at(e["mono"]) if inst else "operator"
            if inst is not None:
                self.checks += 1
                if not check_comment(inst, e.get("comment")):
                    self._bad(f"instance {inst.name}'s batch carries a comment that does not name it", e)
            if e.get("refused"):
                self.batches["refused"] += 1
                for sid, w in self._moved(e).items():
                    self.tried[(writer, sid)] = (w, e["mono"])
                continue
            self.batches["regiond" if inst else "operator"] += 1
            if inst is not None:
                self._check_batch(inst, writer, e)
                for sid, w in self._moved(e).items():
                    self.own[(writer, sid)] = {w}
            before, after = self._group(e["before"]), self._group(e["after"])
            for sid, w in after.items():
                if before.get(sid) != w:
                    self.last[sid] = (writer, w, e["mono"])
                    self.hist.setdefault(sid, []).append((e["mono"], w))
        return len(new)

    def _check_batch(self, inst, writer, e):
        before, after = self._group(e["before"]), self._group(e["after"])
        serving_b = sum(1 for w in before.values() if w > 0)
        serving_a = sum(1 for w in after.values() if w > 0)
        self.checks += 3
        if serving_a < 1:
            self._bad(f"{writer}'s batch left every record of the group at 0 ({after})", e)
        mh = inst.min_healthy                 # each instance's own (the cluster soak's too)
        if serving_a < mh and serving_a < serving_b:
            self._bad(f"{writer}'s batch left {serving_a} serving, below min_healthy_regions {mh} "
                      f"(before {before}, after {after})", e)
        key = (writer, e.get("comment"))      # the decision number is saved with each decision
        if key in self.sent:
            self._bad(f"{writer}'s decision was applied twice (an earlier accepted batch has this comment)", e)
        self.sent.add(key)
        for sid, w in after.items():
            v = before.get(sid)
            if v == w:
                continue
            self.checks += 1
            lw, lv, lt = self.last.get(sid, ("init", v, 0.0))
            if lw == writer or lv != v:
                continue
            if v in self.own.get((writer, sid), {WEIGHTS[REGIONS.index(sid)]}):
                continue                    # what it last wrote or was handed (else the configured weight)
            tw, tt = self.tried.get((writer, sid), (None, -1.0))
            if tw == v and tt > lt:
                continue                    # it sent this weight too (refused: it had landed): adopted as its own
            if self.released.get((writer, sid), -1.0) > lt:
                continue                    # the operator handed the record back after that write
            if w == 0 and inst.was_down(sid, e["mono"] - DRAIN_LAG_S, e["mono"]):
                continue                    # a drain the health rules require
            self._bad(f"{writer} overwrote {sid}'s weight {v} set by {lw} with {w} (correct_drift false, "
                      "not released, not a required drain)", e)


def check_comment(inst, comment):
    return isinstance(comment, str) and comment.startswith(f"regiond soak-{inst.name} ")


class Soak:
    def __init__(self, args):
        self.args = args
        self.rng = random.Random(args.seed)
        self.counts = {}
        self.timeline = []
        ports = {n: [free_port() for _ in REGIONS] for n in ("a", "b")}
        self.ngx = Nginx(ports["a"] + ports["b"])
        zone = harness.weighted_zone(NAME, {r: (ip, w) for r, ip, w in zip(REGIONS, IPS, WEIGHTS)})
        self.peer = Route53Peer(zone, creds=(TEST_KEY, KEYS["a"], KEYS["b"]), pending_ms=300)
        self.checker = Checker({})
        self.checker.init(self.peer.records())
        self.insts = {}
        for n in ("a", "b"):
            self.insts[n] = Instance(n, self.ngx, ports[n], self.peer)
        self.checker.insts = self.insts
        self.checker.by_key = {KEYS[n]["access_key"]: i for n, i in self.insts.items()}

    def count(self, what):
        self.counts[what] = self.counts.get(what, 0) + 1

    def dump(self, path):
        """The events (test clock = the peer's monotonic clock) and the peer's
        whole change log, for reading a violation."""
        with open(path, "w") as f:
            json.dump({"seed": self.args.seed, "events": self.timeline, "changes": self.peer.changes(),
                       "rejected": self.peer.call("GET", "/_peer/rejected")["rejected"],
                       "requests": [r for r in self.peer.stats()["requests"] if r.get("op")]}, f, indent=1,
                      default=str)

    # ---------------------------------------------------------------- events
    def ev_region(self):
        r = self.rng.choice(REGIONS)
        down = not self.insts["a"].down[r]
        now = time.monotonic()
        for i in self.insts.values():
            i.set_down(r, down, now)
        self.count("region_fail" if down else "region_recover")
        return f"region {r} {'fails' if down else 'recovers'} (both instances see it)"

    def ev_split(self):
        inst = self.insts[self.rng.choice("ab")]
        r = self.rng.choice(REGIONS)
        inst.set_down(r, not inst.down[r], time.monotonic())
        self.count("split_view")
        return f"instance {inst.name} alone sees {r} {'down' if inst.down[r] else 'up'}"

    def ev_operator(self):
        i = self.rng.randrange(len(REGIONS))
        w = self.rng.choice(OP_WEIGHTS + [WEIGHTS[i]])
        batch = {"Comment": "operator", "Changes": [{"Action": "UPSERT", "ResourceRecordSet": {
            "Name": NAME, "Type": "A", "SetIdentifier": REGIONS[i], "Weight": w, "TTL": 60,
            "ResourceRecords": [{"Value": IPS[i]}]}}]}
        boto_kit.r53_change(self.peer, batch)
        self.count("operator_change")
        return f"operator (botocore) sets {REGIONS[i]} to weight {w}"

    def ev_release(self):
        inst = self.insts[self.rng.choice("ab")]
        r = self.rng.choice(REGIONS)
        t = time.monotonic()
        ok, out = inst.release(r)
        if ok:
            self.checker.note_release(inst, r, t)
        self.count("release")
        return f"operator releases {r} on instance {inst.name} ({out})"

    def ev_fault(self):
        kind = self.rng.choice(FAULTS)
        n = self.rng.randint(1, 2)
        ops = ["ChangeResourceRecordSets"] if self.rng.random() < 0.75 else ["ListResourceRecordSets"]
        keys = [KEYS[self.rng.choice("ab")]["access_key"]] if self.rng.random() < 0.5 else \
            [k["access_key"] for k in KEYS.values()]
        self.peer.inject(**{kind: n}, ops=ops, keys=keys)
        self.count("fault_" + kind)
        who = "a and b" if len(keys) == 2 else ("a" if keys[0] == KEYS["a"]["access_key"] else "b")
        return f"fault: next {n} {ops[0]} of {who} get {kind}"

    def ev_kill(self):
        inst = self.insts[self.rng.choice("ab")]
        wipe = self.rng.random() < 0.3
        inst.kill_restart(wipe, time.monotonic())
        self.count("kill9_wiped" if wipe else "kill9")
        return f"kill -9 instance {inst.name}, restart {'with no saved state' if wipe else 'on its state'}"

    def ev_idle(self):
        self.count("idle")
        return "nothing"

    EVENTS = [(ev_region, 28), (ev_split, 14), (ev_operator, 12), (ev_release, 8), (ev_fault, 22), (ev_kill, 5),
              (ev_idle, 11)]

    # ---------------------------------------------------------------- checks
    def check_step(self):
        q = f"?since={self.checker.seen_seq}"
        n = self.checker.feed(self.peer.call("GET", "/_peer/changes" + q)["changes"],
                              self.peer.call("GET", "/_peer/rejected" + q)["rejected"])
        for i in self.insts.values():
            self.checker.checks += 1
            if not i.alive():
                self.checker.violations.append(f"instance {i.name} died: exit {i.d.proc.returncode}")
                print(f"VIOLATION instance {i.name} died (exit {i.d.proc.returncode}); log tail:\n" +
                      "\n".join(i.d.read_log().splitlines()[-60:]), flush=True)
        return n

    def run(self):
        t0 = time.monotonic()
        total = sum(w for _, w in self.EVENTS)
        for step in range(1, self.args.steps + 1):
            x = self.rng.uniform(0, total)
            for fn, w in self.EVENTS:
                x -= w
                if x <= 0:
                    break
            t = time.monotonic()
            what = fn(self)
            self.timeline.append({"step": step, "t": t, "what": what})
            time.sleep(self.args.step_ms / 1000.0)
            v0, c0 = len(self.checker.violations), self.checker.checks
            n = self.check_step()
            print(f"step {step}: {what}; {n} new batch(es) at the peer, {self.checker.checks - c0} checks: "
                  f"{'ok' if len(self.checker.violations) == v0 else 'VIOLATION'}", flush=True)
            if self.checker.violations and self.args.stop_on_violation:
                break
        steps = step
        self.final_phase()
        if self.checker.violations or self.args.dump:
            path = self.args.dump or f"/tmp/soak-r53-seed{self.args.seed}-{os.getpid()}.json"   # kept for reading
            self.dump(path)
            for n, i in self.insts.items():
                with open(f"{path[:-5]}-{n}.log", "w") as f:
                    f.write(i.d.read_log())
            print(f"timeline and change log: {path}; regiond logs beside it ({path[:-5]}-a.log, -b.log)",
                  flush=True)
        took = time.monotonic() - t0
        faults = sum(v for k, v in self.counts.items() if k.startswith("fault_"))
        b = self.checker.batches
        print(f"events: {json.dumps(dict(sorted(self.counts.items())))}", flush=True)
        print(f"SUMMARY soak seed {self.args.seed}: {steps} steps in {took:.0f} s, {faults} faults injected, "
              f"{self.counts.get('operator_change', 0)} operator changes, "
              f"{self.counts.get('kill9', 0) + self.counts.get('kill9_wiped', 0)} kill -9, "
              f"{b['regiond']} regiond batches accepted, {b['refused']} refused, {b['operator']} operator batches, "
              f"{self.checker.checks} checks, {len(self.checker.violations)} violations", flush=True)
        return steps, took

    def final_phase(self):
        """Everything healthy, no faults, every record released: the group
        must come back to the configured weights (nothing stuck silently)."""
        self.peer.call("POST", "/_peer/clear-faults", {})
        now = time.monotonic()
        for i in self.insts.values():
            for r in REGIONS:
                i.set_down(r, False, now)
        time.sleep(1.5)
        for i in self.insts.values():
            for r in REGIONS:
                t = time.monotonic()
                ok, _ = i.release(r)
                if ok:
                    self.checker.note_release(i, r, t)
        want = dict(zip(REGIONS, WEIGHTS))
        try:
            wait_for(lambda: self.peer.weights(NAME) == want, 30, "the group back at the configured weights")
            back = True
        except AssertionError as e:
            print(str(e), flush=True)
            back = False
        self.check_step()
        self.checker.checks += 1
        if not back:
            self.checker.violations.append(f"after the final release the group is {self.peer.weights(NAME)}, "
                                           f"not the configured {want}")

    def stop(self):
        rcs = {}
        for n, i in self.insts.items():
            rcs[n] = i.d.stop(timeout=10)
        self.peer.stop()
        self.ngx.stop()
        return rcs


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--long", action="store_true", help="2,000 steps")
    p.add_argument("--steps", type=int)
    p.add_argument("--seed", type=int)
    p.add_argument("--step-ms", type=int, default=300, help="wait after each event before the checks")
    p.add_argument("--stop-on-violation", action="store_true")
    p.add_argument("--dump", help="write the events and the peer's change log to this JSON file")
    args = p.parse_args()
    if args.steps is None:
        args.steps = 2000 if args.long else 160
    if args.seed is None:
        args.seed = random.SystemRandom().randrange(1 << 31)
    print(f"soak: seed {args.seed} (replay with --seed {args.seed}), {args.steps} steps, "
          f"{args.step_ms} ms per step", flush=True)
    soak = None
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))    # a timeout's SIGTERM still stops every pid
    try:
        soak = Soak(args)
        steps, took = soak.run()
        v = soak.checker.violations
        for x in v:
            print(f"FAIL {x}", flush=True)
        check(not v, f"no invariant broken in {steps} steps (seed {args.seed})")
        check(steps >= args.steps, f"all {args.steps} steps run")
        rcs = soak.stop()
        soak = None
        check(all(rc == 0 for rc in rcs.values()), f"both instances exit cleanly ({rcs})")
    finally:
        stop_soak(soak, harness._cleanup)
    exit_soak()


if __name__ == "__main__":
    main()
