"""Start, drive and stop route53_peer.py from a test (run under /usr/bin/python3).

    from r53_peer_client import Route53Peer
    peer = Route53Peer(zone, [{"access_key": "AKID", "secret_key": "..."}],
                       spawn=harness.spawn, stop=harness.stop)
    peer.url, peer.dns_port, peer.stats(), peer.inject(throttle=2), peer.stop()

`zone` is the --zone JSON object (or a list of them); `spawn(name, argv,
**popen_kw)` and `stop(proc)` default to plain subprocess handling, and the
black-box tests pass harness.spawn / harness.stop so the pid is tracked."""
import http.client
import json
import os
import select
import subprocess
import sys
import tempfile
import time

PEER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "route53_peer.py")
PYTHON = "/usr/bin/python3"


def _default_spawn(_name, argv, **kw):
    return subprocess.Popen(argv, **kw)


def _default_stop(p):
    p.terminate()
    p.wait(timeout=5)
    return p.returncode


class Route53Peer:
    def __init__(self, zone, credentials, args=(), spawn=None, stop=None, workdir=None, ready_timeout=15):
        self.dir = workdir or tempfile.mkdtemp(prefix="r53peer-")
        self.zone_path = os.path.join(self.dir, "zone.json")
        self.creds_path = os.path.join(self.dir, "credentials.json")
        with open(self.zone_path, "w") as f:
            json.dump(zone, f)
        with open(self.creds_path, "w") as f:
            json.dump(credentials, f)
        self.log_path = os.path.join(self.dir, "peer.log")
        self._stop = stop or _default_stop
        self._log = open(self.log_path, "ab")
        argv = [PYTHON, PEER, "--zone", self.zone_path, "--credentials", self.creds_path] + list(args)
        self.proc = (spawn or _default_spawn)("route53-peer", argv, stdout=subprocess.PIPE, stderr=self._log)
        line = self._read_ready(ready_timeout)
        info = json.loads(line)
        self.port, self.dns_port, self.pid = info["port"], info["dns_port"], info["pid"]
        self.url = f"http://127.0.0.1:{self.port}"

    def _read_ready(self, timeout):
        deadline = time.monotonic() + timeout
        buf = b""
        fd = self.proc.stdout.fileno()
        while b"\n" not in buf:
            left = deadline - time.monotonic()
            if left <= 0 or self.proc.poll() is not None:
                raise AssertionError(f"route53 peer not ready (exit {self.proc.poll()}): {self.read_log()}")
            r, _, _ = select.select([fd], [], [], min(left, 0.2))
            if r:
                chunk = os.read(fd, 4096)
                if not chunk:
                    continue
                buf += chunk
        return buf.split(b"\n", 1)[0].decode()

    def read_log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    # ------------------------------------------------ control API
    def ctl(self, method, path, body=None):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        data = json.dumps(body).encode() if body is not None else None
        c.request(method, "/_peer/" + path, body=data,
                  headers={"Content-Type": "application/json"} if data else {})
        r = c.getresponse()
        out = json.loads(r.read() or b"null")
        c.close()
        if r.status != 200:
            raise AssertionError(f"peer control {method} {path}: {r.status} {out}")
        return out

    def stats(self):
        return self.ctl("GET", "stats")

    def reset_stats(self):
        return self.ctl("POST", "reset-stats")

    def inject(self, **faults):
        return self.ctl("POST", "inject", faults)

    def clear_faults(self):
        return self.ctl("POST", "clear-faults")

    def records(self, zone=None):
        return self.ctl("GET", "records" + (f"?zone={zone}" if zone else ""))["records"]

    def set_records(self, records, zone=None):
        return self.ctl("POST", "records", {"records": records, **({"zone": zone} if zone else {})})

    def changes(self):
        return self.ctl("GET", "changes")["changes"]

    def config(self, **kw):
        return self.ctl("POST", "config", kw)

    def set_credentials(self, creds):
        return self.ctl("POST", "credentials", creds)

    def expire_credentials(self, access_key=None):
        return self.ctl("POST", "expire-credentials", {"access_key": access_key} if access_key else {})

    def set_health(self, hc_id, healthy):
        return self.ctl("POST", "health", {"id": hc_id, "healthy": healthy})

    def stop(self):
        try:
            return self._stop(self.proc)
        finally:
            if self.proc.stdout:
                self.proc.stdout.close()
            self._log.close()


if __name__ == "__main__":
    sys.exit("import this module from a test")
