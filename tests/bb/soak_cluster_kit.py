"""The cluster soak's own judges (tests/bb/test_soak_r53_cluster.py), beside
the Route 53 soak's Checker (tests/bb/test_soak_r53.py), which it reuses:

  * Terms: every source that names the holder of a term -- an instance's
    status while it reports leading, a majority of the lease items at the
    DynamoDB peer, the guard TXT of a batch that landed at the Route 53
    peer -- must name ONE instance per epoch.
  * Leaders: at most one leader at each sample.  Judged only where the
    samples prove it, never on a time window guessed: two instances that
    report leading with the same epoch; an instance that reports leading
    with epoch E after (its request sent after the answer) another reported
    leading with a higher epoch (terms start in epoch order, so E's term
    overlapped the newer one's start); two leading answers of one round
    taken within less than margin_ms (a handover leaves at least margin_ms
    between one term's end and the next one's start).
  * Guard: every batch of an instance that landed carries the guard TXT
    with an epoch at least the highest any landed batch carried before (so
    no batch of an older term lands after a newer term's bump), naming
    that instance, the epoch its comment names and a term of that instance.
  * Drains: a region down (in every instance's view) is drained at the
    peer within DRAIN_BOUND_S of the latest of: its failure, a leader being
    seen leading (and staying so), an operator's change; when the drain is
    due: its record serving, last written by regiond (or released since),
    another region up and serving at the peer."""
import sys
import time

import harness
from harness import check

DRAIN_BOUND_S = 12.0     # probes (fall 2 x 200 ms) + hold-down 1 s + a new leader's state read and
                         # guard bump + a batch in flight's INSYNC and DNS check (up to 5 s), loaded host


def guard_of(recs, guard_name):
    """(epoch, holder) of the guard TXT in a record list, or (None, None)."""
    for r in recs or []:
        if r["Name"] == guard_name and r["Type"] == "TXT":
            v = r["ResourceRecords"][0]["Value"]
            if v.startswith('"') and '"' in v[1:]:
                v = v[1:v.index('"', 1)]   # the first character-string; the group's weights follow it
            f = dict(x.split("=", 1) for x in v.split() if "=" in x)
            try:
                return int(f.get("epoch")), f.get("holder")
            except (TypeError, ValueError):
                return None, f.get("holder")
    return None, None


def comment_epoch(comment):
    w = (comment or "").split()
    return int(w[w.index("epoch") + 1]) if "epoch" in w and w.index("epoch") + 1 < len(w) else None


class ClusterJudge:
    def __init__(self, guard_name, margin_s, report):
        self.guard_name, self.margin_s, self.report = guard_name, margin_s, report
        self.owners = {}          # epoch -> (instance id, source that named it first)
        self.first_lead = {}      # epoch -> end of the first status answer that reported it leading
        self.max_guard = 0
        self.checks = 0
        self.inconclusive = 0     # two leading answers too far apart in one round to judge
        self.leader = None        # (instance id, epoch, since): the sole leader seen without a break
        self.counts = {"bumps": 0, "batches": 0, "refused": 0, "rounds": 0}

    # ------------------------------------------------------------ terms
    def own(self, epoch, iid, source):
        self.checks += 1
        was = self.owners.setdefault(epoch, (iid, source))
        if was[0] != iid:
            self.report(f"epoch {epoch} named for two instances: {was[0]} ({was[1]}) and {iid} ({source})")

    def items(self, owner, epoch):
        if owner:
            self.own(epoch, owner, "a majority of the lease items")

    # ------------------------------------------------------------ leaders
    def round(self, answers):
        """answers: [(instance id, t_sent, t_answered, lease block or None)] of one sampling round."""
        self.counts["rounds"] += 1
        lead = [(i, t0, t1, ls["epoch"]) for i, t0, t1, ls in answers if ls and ls.get("leading")]
        for iid, t0, t1, e in lead:
            self.own(e, iid, "its status")
            newer = [(e2, t) for e2, t in self.first_lead.items() if e2 > e and t < t0]
            self.checks += 1
            if newer:
                self.report(f"{iid} reports leading with epoch {e} after epoch {newer[0][0]} was reported "
                            f"leading ({t0 - newer[0][1]:.2f} s before): two terms overlap")
            if e not in self.first_lead or t1 < self.first_lead[e]:
                self.first_lead[e] = t1
        if len(lead) > 1:
            self.checks += 1
            span = max(x[2] for x in lead) - min(x[1] for x in lead)
            if span < self.margin_s:
                self.report(f"two leaders in one round within {span:.2f} s: "
                            f"{[(x[0], x[3]) for x in lead]}")
            else:
                self.inconclusive += 1
        now = max((x[2] for x in answers), default=time.monotonic())
        if len(lead) == 1:
            iid, _, _, e = lead[0]
            if not self.leader or self.leader[:2] != (iid, e):
                self.leader = (iid, e, now)
        else:
            self.leader = None

    def leader_gone(self, iid):
        """The test paused or killed iid: if it led, nobody is known to lead."""
        if self.leader and self.leader[0] == iid:
            self.leader = None

    # ------------------------------------------------------------ guard
    def batch(self, e, inst):
        """A batch of instance inst that landed at the peer (a change log entry)."""
        ga, holder = guard_of(e["after"], self.guard_name)
        gb, _ = guard_of(e["before"], self.guard_name)
        self.counts["batches"] += 1
        self.counts["bumps"] += "guard bump" in (e.get("comment") or "")
        self.checks += 1
        what = f"{inst.iid}'s batch seq {e['seq']} ({e.get('comment')!r})"
        if ga is None:
            self.report(f"{what} left no readable guard")
            return
        if ga < self.max_guard or (gb is not None and ga < gb):
            self.report(f"{what} landed with guard epoch {ga} after epoch {max(self.max_guard, gb or 0)} "
                        "had landed: a batch of an older term")
        if holder != inst.iid or comment_epoch(e.get("comment")) != ga:
            self.report(f"{what}: its guard (epoch {ga}, holder {holder}) is not its own term's")
        self.own(ga, inst.iid, f"the guard of batch seq {e['seq']}")
        self.max_guard = max(self.max_guard, ga)

    # ------------------------------------------------------------ drains
    def drains(self, now, down_since, weights, last, released, op_t):
        """down_since: region -> time it went down (None when up); weights: the peer's; last: the
        soak Checker's region -> (writer, weight, t); released: region -> last release time;
        op_t: the last operator change.  Reports a due drain not made within DRAIN_BOUND_S."""
        if not self.leader:
            return
        for r, t_down in down_since.items():
            if t_down is None or weights.get(r, 0) == 0:
                continue
            writer, _, t_w = last.get(r, ("init", None, 0.0))
            if writer == "operator" and released.get(r, -1.0) < t_w:
                continue                    # held: the operator's change, not released since
            if not any(r2 != r and t2 is None and weights.get(r2, 0) > 0 for r2, t2 in down_since.items()):
                continue                    # draining it would leave no region up serving
            start = max(t_down, self.leader[2], op_t)
            self.checks += 1
            if now - start > DRAIN_BOUND_S:
                self.report(f"{r} down since {now - t_down:.1f} s, {self.leader[0]} leading (epoch "
                            f"{self.leader[1]}) since {now - self.leader[2]:.1f} s, last operator change "
                            f"{now - op_t:.1f} s ago: still at weight {weights[r]} at the peer "
                            f"(bound {DRAIN_BOUND_S:.0f} s)")


def sample_for(soak, seconds, pause):
    """Run what is due and take a sample of every instance, then again every pause s, for seconds."""
    end = time.monotonic() + seconds
    while True:
        soak.run_due()
        soak.sample()
        if time.monotonic() >= end:
            return
        time.sleep(pause)


def close_soak(s, steps, took, args, checks=()):
    """A soak's closing checks: its timeline kept where an invariant broke (or with --dump), its summary, no
    invariant broken, every step run, the soak's own checks ((ok, what) pairs, before the stop), every
    instance exits cleanly.  s has violations, dump(), summary(steps, took) and stop() -> {id: rc}."""
    if s.violations or args.dump:
        s.dump()
    s.summary(steps, took)
    check(not s.violations, f"no invariant broken in {steps} steps (seed {args.seed}): {len(s.violations)}")
    check(steps >= args.steps, f"all {args.steps} steps run")
    for ok, what in checks:
        check(ok, what)
    rcs = s.stop()
    check(all(rc == 0 for rc in rcs.values()), f"every instance exits cleanly ({rcs})")


def stop_soak(s, cleanup):
    """For a soak's finally: stop s unless close_soak did (s None), even after an exception, then cleanup()."""
    if s is not None:
        try:
            s.stop()
        except Exception as e:      # still stop the rest by pid (cleanup)
            print(f"stop: {e!r}", flush=True)
    cleanup()


def exit_soak():
    """Print the harness's counts and exit 1 when any check failed."""
    r = harness._results
    print(f"{r['passed']} passed, {r['failed']} failed", flush=True)
    sys.exit(1 if r["failed"] else 0)
