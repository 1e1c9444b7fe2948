"""What ddb_peer_client.py and r53_peer_client.py share: a peer started as a
child process that prints one JSON line when ready, its stderr kept in a log
file, and its control API under /_peer/ (run under /usr/bin/python3).

A subclass sets `what` (for messages), `stop_timeout` and `ctl_timeout`,
then calls _spawn() and sets `control_port` from the ready line."""
import http.client
import json
import os
import select
import subprocess
import sys
import time
from urllib.parse import urlencode


def _default_spawn(_name, argv, **kw):
    return subprocess.Popen(argv, **kw)


class PeerClient:
    what = "peer"            # "route53 peer not ready ..."
    ctl_what = "peer"        # "peer control GET stats: ..."
    stop_timeout = 10
    ctl_timeout = 10

    def _spawn(self, name, argv, spawn, stop, ready_timeout):
        """Start the peer with its stderr in self.log_path; its ready line, parsed."""
        self._stop = stop or self._default_stop
        self._log = open(self.log_path, "ab")
        self.proc = (spawn or _default_spawn)(name, argv, stdout=subprocess.PIPE, stderr=self._log)
        return json.loads(self._read_ready(ready_timeout))

    def _default_stop(self, p):
        p.terminate()
        p.wait(timeout=self.stop_timeout)
        return p.returncode

    def _read_ready(self, timeout):
        deadline = time.monotonic() + timeout
        buf = b""
        fd = self.proc.stdout.fileno()
        while b"\n" not in buf:
            left = deadline - time.monotonic()
            if left <= 0 or self.proc.poll() is not None:
                raise AssertionError(f"{self.what} not ready (exit {self.proc.poll()}): {self.read_log()}")
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

    # ------------------------------------------------ control API
    def ctl(self, method, path, body=None, query=None):
        c = http.client.HTTPConnection("127.0.0.1", self.control_port, timeout=self.ctl_timeout)
        data = json.dumps(body).encode() if body is not None else None
        target = "/_peer/" + path + ("?" + urlencode(query) if query else "")
        c.request(method, target, body=data, headers={"Content-Type": "application/json"} if data else {})
        r = c.getresponse()
        out = json.loads(r.read() or b"null")
        c.close()
        if r.status != 200:
            raise AssertionError(f"{self.ctl_what} control {method} {path}: {r.status} {out}")
        return out

    def stats(self):
        return self.ctl("GET", "stats")

    def reset_stats(self):
        return self.ctl("POST", "reset-stats")

    def inject(self, **faults):
        return self.ctl("POST", "inject", faults)

    def config(self, **kw):
        return self.ctl("POST", "config", kw)

    def set_credentials(self, creds):
        return self.ctl("POST", "credentials", creds)

    def stop(self):
        try:
            return self._stop(self.proc)
        finally:
            if self.proc.stdout:
                self.proc.stdout.close()
            self._log.close()


if __name__ == "__main__":
    sys.exit("import this module from a test")
