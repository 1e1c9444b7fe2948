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
import http.client
import json
import os
import select
import subprocess
import sys
import tempfile
import time
from urllib.parse import urlencode

HERE = os.path.dirname(os.path.abspath(__file__))
PEER = os.path.join(HERE, "ddb_peer.py")
DYNALITE_CLI = os.path.join(HERE, "node_modules", "dynalite", "cli.js")
PYTHON = "/usr/bin/python3"


def dynalite_installed():
    return os.path.isfile(DYNALITE_CLI)


def _default_spawn(_name, argv, **kw):
    return subprocess.Popen(argv, **kw)


def _default_stop(p):
    p.terminate()
    p.wait(timeout=10)
    return p.returncode


class DdbPeer:
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
        self._stop = stop or _default_stop
        self._log = open(self.log_path, "ab")
        self.proc = (spawn or _default_spawn)("ddb-peer", argv, stdout=subprocess.PIPE, stderr=self._log)
        self.info = json.loads(self._read_ready(ready_timeout))
        self.control_port = self.info["control_port"]
        self.pid = self.info["pid"]

    def _read_ready(self, timeout):
        deadline = time.monotonic() + timeout
        buf = b""
        fd = self.proc.stdout.fileno()
        while b"\n" not in buf:
            left = deadline - time.monotonic()
            if left <= 0 or self.proc.poll() is not None:
                raise AssertionError(f"ddb peer not ready (exit {self.proc.poll()}): {self.read_log()}")
            r, _, _ = select.select([fd], [], [], min(left, 0.2))
            if r:
                chunk = os.read(fd, 4096)
                if chunk:
                    buf += chunk
        return buf.split(b"\n", 1)[0].decode()

    def read_log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def port(self, region):
        return self.info["regions"][region]["port"]

    def url(self, region):
        return f"http://127.0.0.1:{self.port(region)}"

    def dynalite_pids(self):
        return [r["dynalite_pid"] for r in self.info["regions"].values()]

    # ------------------------------------------------ control API
    def ctl(self, method, path, body=None, query=None):
        c = http.client.HTTPConnection("127.0.0.1", self.control_port, timeout=15)
        data = json.dumps(body).encode() if body is not None else None
        target = "/_peer/" + path + ("?" + urlencode(query) if query else "")
        c.request(method, target, body=data, headers={"Content-Type": "application/json"} if data else {})
        r = c.getresponse()
        out = json.loads(r.read() or b"null")
        c.close()
        if r.status != 200:
            raise AssertionError(f"ddb peer control {method} {path}: {r.status} {out}")
        return out

    def stats(self):
        return self.ctl("GET", "stats")

    def reset_stats(self):
        return self.ctl("POST", "reset-stats")

    def inject(self, **faults):
        return self.ctl("POST", "inject", faults)

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

    def config(self, **kw):
        return self.ctl("POST", "config", kw)

    def set_credentials(self, creds):
        return self.ctl("POST", "credentials", creds)

    def items(self, region, table):
        return self.ctl("GET", "items", query={"region": region, "table": table})["items"]

    def stop(self):
        try:
            return self._stop(self.proc)
        finally:
            if self.proc.stdout:
                self.proc.stdout.close()
            self._log.close()


if __name__ == "__main__":
    sys.exit("import this module from a test")
