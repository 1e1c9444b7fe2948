"""`bash scripts/demo.sh --cluster` (the README's three-instance demo), judged
on the peers it started: three instances share the lease over three plain
tables on the DynamoDB peer, all three observers (cluster.quorum, k 2);
eu-west-1 breaks and the leader drains it; the leader is killed with kill -9;
another takes over and returns eu-west-1 when it heals.  The observers' views
the demo prints (`regionctl status --observers`) are parsed: three observers
side by side, eu-west-1 up before the break, down in all three views after it,
down in the killed leader's silent view and the two fresh ones after the kill,
up in the fresh ones after healing.  Checked
against the Route 53 peer's change log and records (each instance signs with
its own key, so the log says who sent what) and the DynamoDB peer's lease
items (aws CLI, consistent reads); then the demo is stopped with SIGTERM, as
Ctrl-C would, and every process it printed is gone and every port closed."""
import json
import os
import queue
import re
import signal
import socket
import subprocess
import threading
import time

from harness import REGIOND, SRC, aws_cli, check, check_eq, free_port, run_tests, tmpdir

REGIONS = ["us-east-1", "eu-west-1", "ap-southeast-2"]
GUARD, NAME = "_regiond-epoch.api.example.test.", "api.example.test."
READER = {"access_key": "AKIDDEMO", "secret_key": "demo/secret/key"}   # the demo's own key, not an instance's
SCENARIO_S = 240    # the demo's own waits add up to 330 s at most; a normal run takes about 30 s


def three_ports():
    """p, p+1, p+2 all free (the demo's instances listen on DEMO_PORT..DEMO_PORT+2)."""
    for _ in range(100):
        p = free_port()
        ok = True
        for q in (p + 1, p + 2):
            s = socket.socket()
            try:
                s.bind(("127.0.0.1", q))
            except OSError:
                ok = False
            finally:
                s.close()
        if ok:
            return p
    raise AssertionError("no three consecutive free ports")


def closed(host, port):
    s = socket.socket()
    s.settimeout(1)
    try:
        return s.connect_ex((host, port)) != 0
    finally:
        s.close()


def gone(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def get(url):
    import urllib.request
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.loads(r.read())


def epoch_of(recs):
    for r in recs or []:
        if r["Name"] == GUARD and r["Type"] == "TXT":
            return int(r["ResourceRecords"][0]["Value"].strip('"').split("epoch=")[1].split()[0])
    return None


def weights_of(recs):
    return {r["SetIdentifier"]: r["Weight"] for r in recs or [] if r["Name"] == NAME and r["Type"] == "A"}


def lease_item(url, region):
    out = aws_cli(url, region, "dynamodb", ["get-item", "--table-name", "regiond-lease", "--consistent-read",
                                            "--key", json.dumps({"name": {"S": "regiond"}})], key=READER)
    it = (out or {}).get("Item")
    if not it:
        return None
    return {k: (v.get("S") if "S" in v else int(v["N"]) if "N" in v else v.get("BOOL")) for k, v in it.items()}


class Demo:
    """The demo script, its stdout read line by line on a thread."""

    def __init__(self, env):
        self.dir = tmpdir("democluster-")
        self.err = open(os.path.join(self.dir, "stderr"), "w+")
        self.proc = subprocess.Popen(["bash", os.path.join(SRC, "scripts", "demo.sh"), "--cluster"], env=env,
                                     stdout=subprocess.PIPE, stderr=self.err, text=True, start_new_session=True)
        self.lines, self.q = [], queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.q.put(line.rstrip("\n"))
        self.q.put(None)

    def expect(self, pattern, timeout):
        """The first line (from here on) matching pattern; fails at EOF or timeout."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"timed out after {timeout}s waiting for a line /{pattern}/")
            try:
                line = self.q.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                raise AssertionError(f"the demo ended (rc {self.proc.wait()}) before a line /{pattern}/")
            self.lines.append(line)
            print("  | " + line, flush=True)
            m = re.search(pattern, line)
            if m:
                return m

    def views(self, timeout):
        """The next `regionctl status --observers` block the demo prints: (whose status it is,
        {observer: VIEW column}, {region: [the observers' cells..., the QUORUM cell]}, the grid's observers)."""
        step = self.expect(r"^>>> ", timeout).string   # the demo's next step is that block
        m = re.match(r"^>>> regionctl --api \S+ status --observers   \(as (\S+) reads the views\)$", step)
        if not m:
            raise AssertionError(f"the demo printed no observers' views where expected, but {step!r}")
        who = m.group(1)
        heads, rows, cols = {}, {}, None
        while True:
            line = self.expect(r"", 10).string
            t = line.split()
            if line.startswith('    ("?"') or not line.startswith("    "):
                check(line.startswith('    ("?"'), f"the observers' block ends with its footnote ({line!r})")
                return who, heads, rows, cols
            if not t or t[0] in ("observers:", "quorum:", "OBSERVER"):
                continue
            if t[0] == "REGION":
                cols = t[1:-1]
            elif cols is None:
                heads[t[0]] = t[2] if len(t) > 2 and t[1] == "(self)" else t[1]
            else:
                rows[t[0]] = t[1:len(cols) + 1] + [" ".join(t[len(cols) + 1:])]

    def stop(self, timeout=30):
        """SIGTERM (what Ctrl-C does) to the script only; its trap stops what it started.  Returns its exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)   # its own session: the group's id is its pid
                self.proc.wait()
                raise AssertionError(f"the demo did not stop within {timeout}s of SIGTERM")
        return self.proc.returncode

    def stderr(self):
        self.err.seek(0)
        return self.err.read()


def test_cluster_demo():
    port, rport = three_ports(), free_port()
    san = tmpdir("democluster-san-")   # under ASan+UBSan, a report from any regiond the demo runs lands here
    opts = {k: ":".join(x for x in (os.environ.get(k), f"log_path={san}/{k[:-8].lower()}") if x)
            for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS")}
    env = dict(os.environ, **opts, DEMO_REGION_PORT=str(rport), DEMO_SECONDS="600", DEMO_TICK="1", DEMO_PENDING_MS="1000", DEMO_PORT=str(port),
               REGIOND_BUILD=os.path.dirname(os.path.abspath(REGIOND)))
    d = Demo(env)
    try:
        inst = {}
        for _ in range(3):
            m = d.expect(r"^  instance (\S+): pid (\d+), api http://127\.0\.0\.1:(\d+), access key (\S+)$", 60)
            inst[m.group(1)] = {"pid": int(m.group(2)), "port": int(m.group(3)), "key": m.group(4)}
        check_eq(sorted(i["port"] for i in inst.values()), [port, port + 1, port + 2],
                 "three instances on DEMO_PORT..DEMO_PORT+2")
        r53 = d.expect(r"^  Route 53 peer: (http://127\.0\.0\.1:\d+)", 10).group(1)
        m = d.expect(r"^  DynamoDB peer: us-east-1 (\S+), eu-west-1 (\S+), ap-southeast-2 (\S+)$", 10)
        ddb = dict(zip(REGIONS, m.groups()))
        m = d.expect(r"^  other processes: nginx pid (\d+), Route 53 peer pid (\d+), DynamoDB peer pid (\d+)$", 10)
        others = [int(x) for x in m.groups()]

        m = d.expect(r"^>>> \+[0-9.]+ s: (\S+) leads \(epoch (\d+)\)", SCENARIO_S)
        lid, lep = m.group(1), int(m.group(2))
        ids = sorted(inst)

        # the observers' views (regionctl status --observers), as the demo prints them at each step
        def views(when, whose, want):
            """The next block: read from whose status, three fresh views in its grid, eu-west-1 as want says."""
            who, heads, rows, cols = d.views(SCENARIO_S)
            check_eq((who, sorted(cols or []), heads), (whose, ids, {i: "fresh" for i in ids}),
                     f"{when}: {whose}'s status shows the three observers' fresh views side by side")
            check_eq(rows.get("eu-west-1"), want, f"{when}: eu-west-1 in each view and by quorum")

        d.expect(r"^>>> \S+ set the fencing guard ", SCENARIO_S)
        views("before the break", lid, ["up", "up", "up", "up"])
        d.expect(r"^>>> \+[0-9.]+ s after the break: all three observers' views say eu-west-1 is down ", SCENARIO_S)
        views("after the break", lid, ["down", "down", "down", "down"])
        m = d.expect(r"^>>> applied by the leader (\S+): decision (\d+), change /change/(\w+):", SCENARIO_S)
        check_eq(m.group(1), lid, "the leader applies the drain")
        applied_change = m.group(3)
        m = d.expect(r"^>>> kill -9 (\S+) \(pid (\d+)\)", SCENARIO_S)
        check_eq((m.group(1), int(m.group(2))), (lid, inst[lid]["pid"]), "the demo kills the leader, by its pid")
        m = d.expect(r"^>>> \+[0-9.]+ s after the kill: (\S+) leads \(epoch (\d+), was (\d+)\)", SCENARIO_S)
        nid, nep = m.group(1), int(m.group(2))
        check(nid in inst and nid != lid, f"another instance leads after the kill ({lid} -> {nid})")
        # the killed leader's last view still says down, marked "?" (not fresh)
        d.expect(r"^>>> \S+'s view is silent ", SCENARIO_S)
        who, heads, rows, cols = d.views(SCENARIO_S)
        check_eq((who, sorted(cols or []), sorted(heads)), (nid, ids, ids),
                 f"after the kill: {nid}'s status shows the three observers' views side by side")
        check_eq(heads, {i: "SILENT" if i == lid else "fresh" for i in ids},
                 f"after the kill: {lid}'s view is silent, the other two fresh")
        check_eq(rows.get("eu-west-1"), ["down?" if c == lid else "down" for c in cols or []] + ["down"],
                 f"after the kill: eu-west-1 down in each view ({lid}'s last one, not fresh) and by quorum")
        d.expect(r"^>>> \+[0-9.]+ s after healing: ", SCENARIO_S)
        who, heads, rows, cols = d.views(SCENARIO_S)
        check_eq(rows.get("eu-west-1"), ["down?" if c == lid else "up" for c in cols or []] + ["up"],
                 f"after healing: eu-west-1 up in the two fresh views and by quorum ({lid}'s last view: down)")
        d.expect(r"^>>> cluster demo done: ", SCENARIO_S)
        check(gone(inst[lid]["pid"]) and closed("127.0.0.1", inst[lid]["port"]),
              f"the killed leader {lid} is gone")

        # Route 53: who sent what, from the peer's change log (each batch's key and its group before/after)
        changes = get(r53 + "/_peer/changes")["changes"]
        by = {i: [c for c in changes if c["key"] == inst[i]["key"]] for i in inst}
        third = next(i for i in inst if i not in (lid, nid))
        old, new = by[lid], by[nid]
        check(len(old) >= 1 and epoch_of(old[0]["after"]) == lep
              and weights_of(old[0]["before"]) == weights_of(old[0]["after"]),
              f"{lid}'s first batch sets the guard to its epoch {lep} and changes no weight")
        check(all(epoch_of(c["after"]) == lep for c in old), f"every batch of {lid} carries epoch {lep}")
        check(nep > lep, f"the new term's epoch is higher ({nep} > {lep})")
        check(len(new) >= 2 and epoch_of(new[0]["after"]) == nep
              and weights_of(new[0]["before"]) == weights_of(new[0]["after"]),
              f"{nid}'s first batch bumps the guard to {nep} and changes no weight")
        check(all(epoch_of(c["after"]) == nep for c in new), f"every batch of {nid} carries epoch {nep}")
        check(not old or not new or max(c["seq"] for c in old) < min(c["seq"] for c in new),
              f"every batch of {lid} precedes every batch of {nid}")
        drain = [c for c in old if weights_of(c["after"]).get("eu-west-1") == 0
                 and weights_of(c["before"]).get("eu-west-1") != 0]
        check(len(drain) == 1 and weights_of(drain[0]["after"]) == {"us-east-1": 100, "eu-west-1": 0,
                                                                     "ap-southeast-2": 100},
              f"{lid} drained eu-west-1 once, the others left at 100 ({[weights_of(c['after']) for c in old]})")
        check_eq(drain and drain[0]["id"], applied_change, "the change the demo reports is that drain")
        check_eq([c["seq"] for c in new if weights_of(c["after"]).get("eu-west-1") != 0
                  and weights_of(c["before"]).get("eu-west-1") == 0][:1],
                 [c["seq"] for c in new if weights_of(c["before"]) != weights_of(c["after"])][:1],
                 f"{nid}'s first weight change returns eu-west-1 (none before)")
        back = [c for c in new if weights_of(c["after"]).get("eu-west-1") == 100
                and weights_of(c["before"]).get("eu-west-1") == 0]
        check(len(back) == 1, f"{nid} returned eu-west-1 after it healed ({len(back)} batches)")
        check_eq(len(by[third]), 0, f"{third}, which never led, sent no batch")
        calls = [r for r in get(r53 + "/_peer/stats")["requests"] if r.get("key") == inst[third]["key"]]
        check_eq(len(calls), 0, f"{third} made no Route 53 call at all")
        recs = get(r53 + "/_peer/records")["records"]
        check_eq((weights_of(recs), epoch_of(recs)), ({r: 100 for r in REGIONS}, nep),
                 "Route 53 ends with every region at 100 and the guard at the new epoch")

        # DynamoDB: the lease items, read by a third party with consistent reads
        items = {r: lease_item(ddb[r], r) for r in REGIONS}
        named = [r for r, it in items.items() if it and not it.get("released")
                 and it.get("owner") == nid and it.get("epoch") == nep]
        check(len(named) >= 2, f"a majority of the lease tables name {nid} with epoch {nep} ({items})")
        check(all(not it or it.get("owner") != lid or it.get("epoch") < nep for it in items.values()),
              f"no lease item names the killed {lid} in the new term")

        rc = d.stop()
        check_eq(rc, 0, "the demo exits 0 on SIGTERM")
        check("did not stop within" not in d.stderr(), "every process the demo started stopped on its SIGTERM "
              f"(none named as killed: {[ln for ln in d.stderr().splitlines() if 'did not stop' in ln]})")
        pids = [i["pid"] for i in inst.values()] + others
        still = [p for p in pids if not gone(p)]
        check_eq(still, [], "every process the demo printed is stopped")
        ports = [i["port"] for i in inst.values()] + [int(r53.rsplit(":", 1)[1])] + \
            [int(u.rsplit(":", 1)[1]) for u in ddb.values()]
        check_eq([p for p in ports if not closed("127.0.0.1", p)], [], "every port it opened is closed")
        check(all(closed(f"127.0.0.4{i}", rport) for i in (1, 2, 3)), f"nginx on 127.0.0.41-43:{rport} is closed")
        reports = {f: open(os.path.join(san, f), errors="replace").read()[:2000] for f in os.listdir(san)}
        check_eq(reports, {}, "no sanitizer report from any regiond the demo ran")
    finally:
        try:
            d.stop()
        finally:
            err = d.stderr()
            if err.strip():
                print("demo stderr:\n" + err[-4000:], flush=True)


if __name__ == "__main__":
    run_tests([test_cluster_demo])
