"""Fencing in regiond's own Route 53 actuator (failover/route53*.c), driven
with a lease term the way the lease (cluster/) will call it: the test
program tests/r53_term_driver runs the actuator alone on the real loop and
AWS client against the strict Route 53 peer, and takes route53_set_term /
route53_apply from this script.  A second actor (a newer leader, with
botocore) bumps the guard; a lost answer is injected at the peer.  Every
check reads the PEER: its records, its change log (each batch's guard
before/after), its rejected batches and its request log.  The test with
two regiond daemons holding the lease comes with the lease wiring."""
import json
import os
import queue
import subprocess
import threading
import time

from harness import REGIOND, TEST_KEY, Route53Peer, check, check_eq, run_tests, spawn, stop, tmpdir, wait_for
from test_ha import epoch_of

NAME = "api.example.test."
GUARD = "_regiond-epoch.api.example.test."
ZID = "Z0REGIONDFENCE2"
IPS = {"us-east-1": "127.0.0.11", "eu-west-1": "127.0.0.12"}
DRIVER = os.path.join(os.path.dirname(REGIOND), "tests", "r53_term_driver")


def zone(guard_epoch):
    recs = [{"Name": NAME, "Type": "A", "SetIdentifier": r, "Weight": 100, "TTL": 60,
             "ResourceRecords": [{"Value": ip}]} for r, ip in IPS.items()]
    recs.append({"Name": GUARD, "Type": "TXT", "TTL": 60,
                 "ResourceRecords": [{"Value": f'"epoch={guard_epoch} holder=old"'}]})
    return {"id": ZID, "name": "example.test.", "records": recs}


class Driver:
    def __init__(self, peer, term=(), aws=None):
        self.dir = tmpdir("r53drv-")
        cfg = {"controller": {"id": "use1-a", "state_dir": os.path.join(self.dir, "state")},
               "aws": {"endpoints": {"route53": peer.url}, "retry": {"base_ms": 50, "max_ms": 500}},
               "route53": {"hosted_zone_id": ZID, "record_name": NAME, "record_type": "A", "reconcile_s": 5},
               "regions": [{"name": r, "api": [{"url": "http://127.0.0.1:1/h"}],
                            "route53": {"value": ip, "weight": 100}} for r, ip in IPS.items()]}
        cfg["aws"].update(aws or {})
        os.makedirs(cfg["controller"]["state_dir"])
        path = os.path.join(self.dir, "cfg.json")
        with open(path, "w") as f:
            json.dump(cfg, f)
        env = dict(os.environ, AWS_ACCESS_KEY_ID=TEST_KEY["access_key"],
                   AWS_SECRET_ACCESS_KEY=TEST_KEY["secret_key"], AWS_SHARED_CREDENTIALS_FILE="/nonexistent",
                   AWS_CONFIG_FILE="/nonexistent")
        self.log = open(os.path.join(self.dir, "driver.log"), "w")
        self.proc = spawn("r53_term_driver", [DRIVER, path, *map(str, term)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                          stderr=self.log, text=True, env=env)
        self.lines, self.seen = queue.Queue(), []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(line.strip())

    def send(self, cmd):
        self.proc.stdin.write(cmd + "\n")
        self.proc.stdin.flush()

    def expect(self, pred, timeout, what):
        """The next line matching pred (lines before it are kept in seen)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                line = self.lines.get(timeout=max(0.01, end - time.monotonic()))
            except queue.Empty:
                break
            self.seen.append(line)
            if pred(line):
                return line
        check(False, f"{what} within {timeout} s (driver said {self.seen[-8:]})")
        return None

    def state(self):
        self.send("state")
        line = self.expect(lambda x: x.startswith("state "), 10, "state answered") or "state"
        return dict(kv.split("=", 1) for kv in line.split()[1:])

    def log_text(self):
        self.log.flush()
        with open(os.path.join(self.dir, "driver.log")) as f:
            return f.read()

    def stop(self):
        """Quit; its exit status (and no sanitizer report: the ASan build)."""
        rc = None
        try:
            self.send("quit")
            rc = self.proc.wait(10)
        except (OSError, subprocess.TimeoutExpired):
            pass
        stop(self.proc)
        log = self.log_text()
        self.log.close()
        check(rc == 0 and "Sanitizer" not in log and "runtime error" not in log,
              f"the driver exits cleanly (status {rc}){log[-1500:] if rc != 0 else ''}")


def weights_of(recs):
    return {r["SetIdentifier"]: r["Weight"] for r in recs or [] if r["Type"] == "A"}


def guard_reads(peer):
    return [r for r in peer.stats()["requests"] if r.get("op") == "ListResourceRecordSets"
            and "_regiond-epoch" in (r.get("query") or "")]


def calls(peer):
    return len([r for r in peer.stats()["requests"] if r.get("op")])


def newer_leader_bumps(peer, epoch):
    """The second actor: a leader of a newer term bumps the guard with
    botocore (the group's exact DELETE + identical CREATE, and the guard's)."""
    import boto3
    c = boto3.session.Session().client("route53", endpoint_url=peer.url, region_name="us-east-1",
                                       aws_access_key_id=TEST_KEY["access_key"],
                                       aws_secret_access_key=TEST_KEY["secret_key"])
    group = [r for r in c.list_resource_record_sets(HostedZoneId=ZID, StartRecordName=NAME)["ResourceRecordSets"]
             if r["Name"] == NAME and r["Type"] == "A"]
    g = c.list_resource_record_sets(HostedZoneId=ZID, StartRecordName=GUARD, StartRecordType="TXT",
                                    MaxItems="1")["ResourceRecordSets"][0]
    ch = [x for r in group for x in ({"Action": "DELETE", "ResourceRecordSet": r},
                                      {"Action": "CREATE", "ResourceRecordSet": r})]
    ch += [{"Action": "DELETE", "ResourceRecordSet": g},
           {"Action": "CREATE", "ResourceRecordSet": {"Name": GUARD, "Type": "TXT", "TTL": 60, "ResourceRecords": [
               {"Value": f'"epoch={epoch} holder=use2-b"'}]}}]
    c.change_resource_record_sets(HostedZoneId=ZID, ChangeBatch={"Comment": f"epoch {epoch}", "Changes": ch})


def landed(peer, n):
    ch = peer.changes()
    return ch[n:] if len(ch) > n else None


def test_term_bump_fence_window():
    peer = Route53Peer(zone(5), pending_ms=100)
    d = Driver(peer)
    try:
        d.expect(lambda x: x == "note idle", 15, "the start-up read done")
        check_eq(guard_reads(peer), [], "epoch 0: the guard is never read")
        check_eq(d.state().get("idle"), "1", "epoch 0: idle")

        # a new term: the bump goes out before anything else, the group re-created identically
        d.send("term 6 60000")
        d.send("apply 1 0 100")   # sent at once: refused while the bump is due
        d.expect(lambda x: x.startswith("apply rc="), 10, "apply answered")
        check_eq(d.seen[-1], "apply rc=-1", "no weight batch before the bump landed")
        ch = wait_for(lambda: landed(peer, 0), 15, "the guard bump landed")
        check_eq([(epoch_of(c["before"]), epoch_of(c["after"])) for c in ch], [(5, 6)],
                 "one batch: the guard from 5 to 6")
        check("guard bump" in (ch[0]["comment"] or ""), f"its comment says so ({ch[0]['comment']})")
        check_eq(weights_of(ch[0]["after"]), {"us-east-1": 100, "eu-west-1": 100}, "the group re-created as it was")
        check_eq(weights_of(ch[0]["before"]), weights_of(ch[0]["after"]), "no weight moved")
        wait_for(lambda: d.state().get("idle") == "1", 15, "idle after the bump")

        d.send("apply 1 0 100")
        d.expect(lambda x: x.startswith("apply rc="), 10, "apply answered")
        check_eq(d.seen[-1], "apply rc=0", "the weight batch starts")
        ch = wait_for(lambda: landed(peer, 1), 15, "the weight batch landed")
        check_eq((epoch_of(ch[0]["before"]), epoch_of(ch[0]["after"])), (6, 6), "guarded with epoch 6")
        check_eq(weights_of(ch[0]["after"]), {"us-east-1": 0, "eu-west-1": 100}, "the drain landed")
        wait_for(lambda: d.state().get("idle") == "1", 15, "idle after the drain")

        # a newer leader bumps the guard: our next batch is not sent
        newer_leader_bumps(peer, 7)
        n, rej = len(peer.changes()), len(peer.call("GET", "/_peer/rejected")["rejected"])
        d.send("apply 2 100 100")
        d.expect(lambda x: x == "note fenced", 15, "the actuator says fenced")
        time.sleep(1.0)
        check_eq(len(peer.changes()), n, "nothing of ours landed")
        check_eq(len(peer.call("GET", "/_peer/rejected")["rejected"]), rej, "and nothing was even sent")
        st = d.state()
        check(st.get("idle") == "0" and st.get("guard") == "7", f"not idle, the guard read at 7 ({st})")
        check_eq(weights_of(peer.records()), {"us-east-1": 0, "eu-west-1": 100}, "the records as the new leader left them")

        # a later term with a short send window: after it, not one call
        check("stale leader, nothing sent" in d.log_text(), "its log says it is fenced")
        d.send("term 8 4000")
        t0 = time.monotonic()
        ch = wait_for(lambda: landed(peer, n), 15, "the bump of term 8 landed")
        check_eq((epoch_of(ch[0]["before"]), epoch_of(ch[0]["after"])), (7, 8), "bumped from 7 to 8")
        time.sleep(max(0.0, 4.5 - (time.monotonic() - t0)))
        c0 = calls(peer)
        d.send("apply 3 100 100")
        d.expect(lambda x: x.startswith("apply rc="), 10, "apply answered")
        check_eq(d.seen[-1], "apply rc=-1", "no batch after send-until")
        time.sleep(7)   # past a reconcile (5 s) and any retry
        check_eq(calls(peer), c0, "no Route 53 call of any kind after send-until (reads, reconcile included)")
        check_eq(d.state().get("idle"), "0", "not idle with the window closed")
        d.send("term 8 60000")   # renewed
        d.expect(lambda x: x == "note idle", 10, "the controller is told the actuator is free again")
        wait_for(lambda: d.state().get("idle") == "1", 15, "idle again once renewed")

        # the bump of a new term whose answer is lost: recognised as landed by re-reading
        peer.inject(drop_after=1, ops=["ChangeResourceRecordSets"])
        n = len(peer.changes())
        d.send("term 9 60000")
        ch = wait_for(lambda: landed(peer, n), 15, "the bump of term 9 landed")
        wait_for(lambda: d.state().get("idle") == "1", 20, "idle after the lost answer was re-read")
        time.sleep(0.5)
        ch = peer.changes()[n:]
        check_eq([(epoch_of(c["before"]), epoch_of(c["after"])) for c in ch], [(8, 9)],
                 "exactly one bump of term 9 (the lost answer was not re-sent)")
        check_eq(peer.stats()["faults_pending"], {}, "the answer to the bump was dropped (fault consumed)")
        log = d.log_text()
        check("route53 batch failed, re-reading" in log and "guard bumped\" epoch=9" in log,
              "the actuator re-read after the lost answer and took the bump as landed")
        d.send("apply 4 100 100")
        ch = wait_for(lambda: landed(peer, n + 1), 15, "the restore landed")
        check_eq((epoch_of(ch[0]["before"]), epoch_of(ch[0]["after"])), (9, 9), "guarded with epoch 9")
        check_eq(weights_of(peer.records()), {"us-east-1": 100, "eu-west-1": 100}, "restored")
    finally:
        d.stop()
        peer.stop()


def test_follower_from_start():
    """A follower (a term whose window is already closed, set before start-up)
    sends nothing at all, not even the start-up read; once it acquires a
    term it reads, bumps the guard, and only then applies."""
    peer = Route53Peer(zone(5), pending_ms=100)
    d = Driver(peer, term=(1, 0))
    try:
        d.expect(lambda x: x == "started", 15, "the driver started")
        time.sleep(6)   # past a reconcile (5 s)
        check_eq(calls(peer), 0, "a follower makes no Route 53 call")
        st = d.state()
        check(st.get("idle") == "0" and st.get("ready") == "0", f"not ready, not idle ({st})")
        d.send("term 6 60000")
        ch = wait_for(lambda: landed(peer, 0), 15, "the new leader's bump landed")
        check_eq([(epoch_of(c["before"]), epoch_of(c["after"])) for c in ch], [(5, 6)], "the guard from 5 to 6")
        wait_for(lambda: d.state().get("idle") == "1", 15, "idle after the bump")
        d.send("apply 1 100 0")
        ch = wait_for(lambda: landed(peer, 1), 15, "its first weight batch landed")
        check_eq((epoch_of(ch[0]["before"]), epoch_of(ch[0]["after"])), (6, 6), "guarded with epoch 6")
        check_eq(weights_of(peer.records()), {"us-east-1": 100, "eu-west-1": 0}, "the drain landed")
    finally:
        d.stop()
        peer.stop()


if __name__ == "__main__":
    run_tests([test_term_bump_fence_window, test_follower_from_start])
