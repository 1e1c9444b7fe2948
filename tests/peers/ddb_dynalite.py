"""One dynalite process per simulated region: start (kept by pid), call,
forward, stop.  dynalite never verifies signatures, so internal calls carry a
well-formed but unsigned Authorization header."""
import ctypes
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

from ddb_state import ACCOUNT

HERE = os.path.dirname(os.path.abspath(__file__))
CLI = os.path.join(HERE, "node_modules", "dynalite", "cli.js")
PR_SET_PDEATHSIG = 1


def _die_with_parent():
    """In the child before exec: get SIGTERM when the peer dies, even by SIGKILL."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass


def _free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class DynaliteError(Exception):
    pass


class Dynalite:
    def __init__(self, region, node="node", port=0, timeout=20):
        if not os.path.isfile(CLI):
            raise DynaliteError(f"dynalite is not installed ({CLI} is missing): run scripts/install-dynalite.sh")
        self.region = region
        self.proc = None
        last = None
        for _ in range(5):
            p = port or _free_port()
            try:
                self._start(node, p, timeout)
                return
            except DynaliteError as e:
                last = e
                if port:
                    break
        raise last

    def _start(self, node, port, timeout):
        env = dict(os.environ, AWS_ACCOUNT_ID=ACCOUNT, AWS_REGION=self.region, AWS_DEFAULT_REGION=self.region)
        argv = [node, CLI, "--host", "127.0.0.1", "--port", str(port), "--createTableMs", "0",
                "--deleteTableMs", "0", "--updateTableMs", "0"]
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=sys.stderr.fileno(), env=env, preexec_fn=_die_with_parent)
        line = [None]

        def read_first():
            line[0] = self.proc.stdout.readline()
            for rest in self.proc.stdout:          # drain, so dynalite never blocks on stdout
                sys.stderr.write(f"dynalite[{self.region}]: {rest.decode(errors='replace')}")
        threading.Thread(target=read_first, daemon=True).start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if line[0] is not None or self.proc.poll() is not None:
                break
            time.sleep(0.02)
        if not line[0] or b"listening" not in line[0]:
            self.stop()
            raise DynaliteError(f"dynalite for {self.region} on port {port} did not start "
                                f"(output {line[0]!r}, exit {self.proc.returncode})")
        self.port = port
        self.pid = self.proc.pid

    def stop(self, timeout=5):
        p = self.proc
        if p is None or p.poll() is not None:
            return
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()

    # ------------------------------------------------ HTTP
    def _post(self, headers, body, timeout=30):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            c.request("POST", "/", body=body, headers=headers)
            r = c.getresponse()
            return r.status, r.read()
        finally:
            c.close()

    def forward(self, op, body, headers):
        """Send a client's request on: (status, raw body)."""
        h = {"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "DynamoDB_20120810." + op}
        for k in ("Authorization", "X-Amz-Date", "X-Amz-Security-Token"):
            v = headers.get(k)
            if v is not None:
                h[k] = v
        return self._post(h, body)

    def call(self, op, params):
        """An internal call: (status, decoded answer or None)."""
        amz = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        h = {"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "DynamoDB_20120810." + op,
             "X-Amz-Date": amz,
             "Authorization": f"AWS4-HMAC-SHA256 Credential=DDBPEERINTERNAL/{amz[:8]}/{self.region}/dynamodb/"
                              "aws4_request, SignedHeaders=host;x-amz-date, Signature=" + "0" * 64}
        status, raw = self._post(h, json.dumps(params).encode())
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            return status, None
