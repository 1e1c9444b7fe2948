"""Start, drive and stop ddb_peer.py from a test (run under /usr/bin/python3).

    from ddb_peer_client import DdbPeer, dynalite_installed
    peer = DdbPeer(["us-east-1", "eu-west-1"], [{"access_key": "AKID", "secret_key": "..."}],
                   tables=[{"TableName": "regiond-health", "KeySchema": [...],
                            "AttributeDefinitions": [...], "BillingMode": "PAY_PER_REQUEST"}],
                   args=["--backup-ms", "1000"], spawn=harness.spawn, stop=harness.stop)
    peer.url("eu-west-1"), peer.port("eu-west-1"), peer.replication(delay_ms=2000, paused=True),
    peer.items("eu-west-1", "regiond-health"), peer.inject(region="us-east-1", throttle=2), peer.stop()

`spawn(name, argv, **popen_kw)` and `stop(proc)` default to plain subprocess
handling; the black-box tests pass harness.spawn / harness.stop so the pid is
tracked.  The peer stops its dynalites itself (by pid) when it gets SIGTERM."""
import json
import os
import sys
import tempfile

from peer_client import PeerClient

HERE = os.path.dirname(os.path.abspath(__file__))
PEER = os.path.join(HERE, "ddb_peer.py")
DYNALITE_CLI = os.path.join(HERE, "node_modules", "dynalite", "cli.js")
PYTHON = "/usr/bin/python3"


def dynalite_installed():
    return os.path.isfile(DYNALITE_CLI)


class DdbPeer(PeerClient):
    what = "ddb peer"
    ctl_what = "ddb peer"
    stop_timeout = 10
    ctl_timeout = 15

    def __init__(self, regions, credentials, tables=(), args=(), spawn=None, stop=None, workdir=None,
                 ready_timeout=30):
        if not dynalite_installed():
            raise AssertionError(f"dynalite is not installed ({DYNALITE_CLI} missing): run "
                                 "scripts/install-dynalite.sh first")
        self.dir = workdir or tempfile.mkdtemp(prefix="ddbpeer-")
        self.regions = list(regions)
        self.creds_path = os.path.join(self.dir, "credentials.json")
        with open(self.creds_path, "w") as f:
            json.dump(credentials, f)
        argv = [PYTHON, PEER, "--regions", ",".join(self.regions), "--credentials", self.creds_path]
        if tables:
            self.tables_path = os.path.join(self.dir, "tables.json")
            with open(self.tables_path, "w") as f:
                json.dump(list(tables), f)
            argv += ["--table-config", self.tables_path]
        argv += list(args)
        self.log_path = os.path.join(self.dir, "ddb-peer.log")
        self.info = self._spawn("ddb-peer", argv, spawn, stop, ready_timeout)
        self.control_port = self.info["control_port"]
        self.pid = self.info["pid"]

    def port(self, region):
        return self.info["regions"][region]["port"]

    def url(self, region):
        return f"http://127.0.0.1:{self.port(region)}"

    def dynalite_pids(self):
        return [r["dynalite_pid"] for r in self.info["regions"].values()]

    # ------------------------------------------------ control API (more in peer_client.PeerClient)
    def clear_faults(self, region=None):
        return self.ctl("POST", "clear-faults", {"region": region} if region else {})

    def replication(self, **settings):
        """POST /_peer/replication (from, to, delay_ms, paused, loss); GET when empty."""
        if settings:
            settings = {("from" if k == "src" else "to" if k == "dst" else k): v for k, v in settings.items()}
            return self.ctl("POST", "replication", settings)
        return self.ctl("GET", "replication")

    def set_replica(self, region, status, **kw):
        return self.ctl("POST", "replicas", {"region": region, "status": status, **kw})

    def set_table_status(self, region, status, table=None):
        return self.ctl("POST", "table-status", {"region": region, "status": status,
                                                 **({"table": table} if table else {})})

    def backups(self, region=None):
        return self.ctl("GET", "backups", query={"region": region} if region else None)["backups"]

    def add_backup(self, region, table, name, **kw):
        return self.ctl("POST", "backups", {"region": region, "table": table, "name": name, **kw})

    def update_backup(self, arn, **kw):
        return self.ctl("POST", "backups", {"arn": arn, **kw})

    def pitr(self, **kw):
        return self.ctl("POST", "pitr", kw) if kw else self.ctl("GET", "pitr")

    def clock(self, offset_s=None):
        return self.ctl("POST", "clock", {"offset_s": offset_s}) if offset_s is not None else self.ctl("GET", "clock")

    def items(self, region, table):
        return self.ctl("GET", "items", query={"region": region, "table": table})["items"]


if __name__ == "__main__":
    sys.exit("import this module from a test")
