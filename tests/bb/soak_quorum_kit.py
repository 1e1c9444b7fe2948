"""The quorum soak's judge (tests/bb/test_soak_quorum.py): what the test did (its own schedule of
partitions, true region failures, kills and pauses, in its monotonic time, the clock the peers stamp
their logs with) against what landed at the Route 53 peer (its change log, signer by access key).

A region r is JUSTIFIED to be drained at time tau when at least K observers are witnesses of it:
observer i is a witness at tau when it is neither killed nor paused, and its own probes see r fail
(r truly failed, or i cut off from r's endpoint: a one-region or an all-endpoints cut, or a cut from
everything), and it is not suspect (it does not see every region fail, it is not cut off from every
endpoint or from everything, and not cut off from the coordination tables for longer than the three
publishes after which regiond calls it suspect).  A witness stays one for WITNESS_LINGER_S after it stops
being one (its probes' rise, its next publish, the leader's next read of the views: the "small slack
for propagation").  A drain batch landing at t is allowed when some tau in [t - DECIDE_S, t] is
justified, the window stretched by any pause of the signer inside it (a decision taken before a
SIGSTOP lands after it).

Checked for every batch of an instance that landed at the peer:
  * it leaves some record of the group serving (never all at 0);
  * every record it sets from a weight above 0 to 0 is a justified drain;
  * every record whose last writer was the operator (botocore as the aws CLI, its own key) it changes only by a
    justified drain;
  * it does not land more than lease_ms + LEASE_SLACK_S after its signer was cut off from the
    coordination tables (or from everything) and stayed so: that signer could not have renewed.
The terms (one holder per epoch, at most one leader per sample, the guard epochs) are the cluster
soak's ClusterJudge (tests/bb/soak_cluster_kit.py), fed the same change log."""
import json

K = 2
PROBE_MS, FALL, RISE, PUBLISH_MS = 200, 2, 2, 1000
# a witness lingers: its probes' rise, then its next publish, then the leader's next read of the views
WITNESS_LINGER_S = (RISE * PROBE_MS + 2 * PUBLISH_MS) / 1000 + 0.3
# views to a batch at the peer: fall, a publish and a read, hold-down 1 s, the batch sent; loaded host
DECIDE_S = (FALL * PROBE_MS + 2 * PUBLISH_MS + 1000) / 1000 + 2.5
LEASE_SLACK_S = 1.0
SUSPECT_CUTS = ("endpoints", "tables", "all")
# a cut from the tables alone makes an observer suspect after three publishes with no answer (docs/ha.md
# "Self-partition"); until then its own probes still count (its own vote, if it leads)
TABLES_SUSPECT_S = 3 * PUBLISH_MS / 1000 + 0.5


def spans_at(spans, tau):
    """The span of spans ([t0, t1 or None, data]) holding tau, or None."""
    for s in spans:
        if s[0] <= tau and (s[1] is None or tau < s[1]):
            return s
    return None


class Schedule:
    """What the test did, each a list of [start, end or None, data] spans."""

    def __init__(self, regions, instances):
        self.regions, self.instances = list(regions), list(instances)
        self.failed = {r: [] for r in regions}
        self.cuts = {i: [] for i in instances}        # data: (kind, region or None)
        self.muted = {i: [] for i in instances}       # data: "killed" | "paused"

    @staticmethod
    def _open(spans, t, data):
        spans.append([t, None, data])

    @staticmethod
    def _close(spans, t):
        if spans and spans[-1][1] is None:
            spans[-1][1] = t

    def fail(self, r, t, on):
        (self._open(self.failed[r], t, True) if on else self._close(self.failed[r], t))

    def cut(self, i, t, kind, region=None):
        self._close(self.cuts[i], t)
        if kind:
            self._open(self.cuts[i], t, (kind, region))

    def mute(self, i, t, why):
        (self._open(self.muted[i], t, why) if why else self._close(self.muted[i], t))

    def sees_down(self, i, r, tau):
        if spans_at(self.failed[r], tau):
            return True
        c = spans_at(self.cuts[i], tau)
        return bool(c) and (c[2][0] in ("endpoints", "all") or c[2] == ("region", r))

    def witness(self, i, r, tau):
        if spans_at(self.muted[i], tau):
            return False
        c = spans_at(self.cuts[i], tau)
        if c and c[2][0] in SUSPECT_CUTS and not (c[2][0] == "tables" and tau - c[0] < TABLES_SUSPECT_S):
            return False
        if all(self.sees_down(i, x, tau) for x in self.regions):
            return False
        return self.sees_down(i, r, tau)

    def _times(self, t0, t1):
        ts = {t0, t1}
        for group in (self.failed, self.cuts, self.muted):
            for spans in group.values():
                for s in spans:
                    ts.update(x for x in (s[0], s[1]) if x is not None and t0 <= x <= t1)
        return sorted(ts)

    def witnesses(self, r, tau):
        """The observers that are witnesses of r at tau, or were within WITNESS_LINGER_S before."""
        got = set()
        for tt in self._times(tau - WITNESS_LINGER_S, tau):
            got |= {i for i in self.instances if self.witness(i, r, tt)}
        return got

    def justified(self, r, t, window):
        """(True, tau, witnesses) for the first tau in [t - window, t] with K witnesses; else (False,
        None, the most witnesses seen at once)."""
        best = set()
        for tau in self._times(t - window, t):
            w = self.witnesses(r, tau)
            if len(w) >= K:
                return True, tau, w
            best = w if len(w) > len(best) else best
        return False, None, best

    def paused_for(self, i, t0, t1):
        return sum(min(t1, s[1] if s[1] is not None else t1) - max(t0, s[0])
                   for s in self.muted[i] if s[2] == "paused" and s[0] < t1 and (s[1] is None or s[1] > t0))

    def cut_from_tables_since(self, i, t):
        """The start of the cut from the tables that i was under at t, or None."""
        c = spans_at(self.cuts[i], t)
        return c[0] if c and c[2][0] in ("tables", "all") else None

    def describe(self, t0, t1, origin):
        """The schedule's spans overlapping [t0, t1], in seconds from origin, for a violation's report."""
        out = []
        for name, group in (("failed", self.failed), ("cut", self.cuts), ("muted", self.muted)):
            for key, spans in group.items():
                for s in spans:
                    if s[0] <= t1 and (s[1] is None or s[1] >= t0):
                        end = "-" if s[1] is None else f"{s[1] - origin:.2f}"
                        out.append(f"{name} {key} {s[2]} [{s[0] - origin:.2f}, {end}]")
        return out


class QuorumJudge:
    def __init__(self, sched, name, regions, by_key, lease_s, report, origin):
        self.s, self.name, self.regions, self.by_key = sched, name, list(regions), by_key
        self.lease_s, self.report, self.origin = lease_s, report, origin
        self.last = {}            # region -> (writer, weight, mono)
        self.checks = 0
        self.counts = {"regiond": 0, "operator": 0, "drains": 0, "drains_failed": 0, "drains_cut": 0,
                       "restores": 0}

    def group(self, recs):
        return {r["SetIdentifier"]: r.get("Weight", 0) for r in recs or [] if r["Name"] == self.name
                and r["Type"] == "A" and r.get("SetIdentifier") in self.regions}

    def init(self, records):
        for r, w in self.group(records).items():
            self.last[r] = ("init", w, 0.0)

    def feed(self, e):
        """One accepted change log entry, in seq order."""
        inst = self.by_key.get(e["key"])
        before, after = self.group(e["before"]), self.group(e["after"])
        if inst is None:
            self.counts["operator"] += 1
        else:
            self.counts["regiond"] += 1
            self._check(inst, e, before, after)
        for r, w in after.items():
            if before.get(r) != w:
                self.last[r] = ("operator" if inst is None else "regiond", w, e["mono"])

    def _bad(self, what, e, around=None):
        t = e["mono"]
        lines = [f"{what} [batch seq {e['seq']} at +{t - self.origin:.2f} s, comment {e.get('comment')!r}]"]
        if around:
            lines += ["  schedule: " + x for x in self.s.describe(t - around, t, self.origin)]
        self.report("\n".join(lines))

    def _check(self, inst, e, before, after):
        t = e["mono"]
        self.checks += 2
        if after and not any(w > 0 for w in after.values()):
            self._bad(f"{inst}'s batch left every record at 0 ({after})", e)
        since = self.s.cut_from_tables_since(inst, t)
        if since is not None and t - since > self.lease_s + LEASE_SLACK_S:
            self._bad(f"{inst}'s batch landed {t - since:.1f} s into its cut from the coordination tables "
                      f"(lease {self.lease_s:.0f} s): it could not hold the lease", e, around=t - since + 1)
        window = DECIDE_S + self.s.paused_for(inst, t - DECIDE_S - 10, t)
        for r, w in after.items():
            v = before.get(r)
            if v == w:
                continue
            self.checks += 1
            lw = self.last.get(r, ("init", v, 0.0))
            if w == 0 and (v or 0) > 0:
                ok, tau, wit = self.s.justified(r, t, window)
                self.counts["drains"] += 1
                if not ok:
                    self._bad(f"{inst} drained {r} ({v} -> 0) with at most {len(wit)} observer(s) "
                              f"({sorted(wit)}) able to see it fail in the {window:.1f} s before (k = {K})",
                              e, around=window + WITNESS_LINGER_S)
                else:
                    self.counts["drains_failed" if spans_at_any(self.s.failed[r], tau) else "drains_cut"] += 1
                continue
            if lw[0] == "operator":
                self._bad(f"{inst} overwrote the operator's weight {v} of {r} with {w} (not a drain)", e)
            elif w > 0 and (v or 0) == 0:
                self.counts["restores"] += 1


def spans_at_any(spans, tau):
    return spans_at(spans, tau) is not None


def dump(path, seed, timeline, changes, sched, origin):
    with open(path, "w") as f:
        json.dump({"seed": seed, "events": timeline, "changes": changes,
                   "schedule": sched.describe(origin, float("inf"), origin)}, f, indent=1, default=str)
