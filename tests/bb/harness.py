"""Black-box test harness: real peers (nginx, dnsmasq) and the real daemon on
loopback.  Every process is started here, kept by pid, and stopped by that
pid at exit.  Run under /usr/bin/python3 (Debian's modules)."""
import atexit
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.request

SRC = os.environ.get("REGIOND_SRC", os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
REGIOND = os.environ.get("REGIOND_BIN", os.path.join(SRC, "build", "regiond"))
REGIONCTL = os.environ.get("REGIONCTL_BIN", os.path.join(SRC, "build", "regionctl"))

_procs = []          # (name, Popen) still to stop
_results = {"passed": 0, "failed": 0}


def _cleanup():
    for name, p in reversed(_procs):
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
    _procs.clear()


atexit.register(_cleanup)


def spawn(name, argv, **kw):
    p = subprocess.Popen(argv, **kw)
    _procs.append((name, p))
    return p


def forget(p):
    for i, (_, q) in enumerate(_procs):
        if q is p:
            del _procs[i]
            return


def stop(p, sig=signal.SIGTERM, timeout=5):
    """Stop one process by pid; returns its exit code."""
    if p.poll() is None:
        p.send_signal(sig)
        try:
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            forget(p)
            raise AssertionError(f"pid {p.pid} did not exit within {timeout}s of signal {sig}")
    forget(p)
    return p.returncode


def stop_peer(p, sig=signal.SIGQUIT, timeout=5):
    """Stop a test peer (nginx) by pid: `sig` (nginx's graceful quit), then
    SIGKILL after `timeout` s. A peer slow to finish its graceful quit on a
    loaded machine is not regiond's failure: it is killed and named on
    stderr, not raised (regiond's own stops use stop(), which raises)."""
    if p.poll() is None:
        p.send_signal(sig)
        try:
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            print(f"note: peer pid {p.pid} did not exit within {timeout}s of signal {sig}: killed",
                  file=sys.stderr, flush=True)
            p.kill()
            p.wait()
    forget(p)
    return p.returncode


def _ephemeral_low():
    try:
        return int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port(host="127.0.0.1", kind=socket.SOCK_STREAM):
    """A port below the kernel's ephemeral range (so no outgoing connection,
    and regiond makes thousands, can take it before our peer binds it),
    chosen at random and checked bindable."""
    import random
    top = max(_ephemeral_low() - 1, 20000)
    for _ in range(200):
        port = random.randint(15000, top)
        s = socket.socket(socket.AF_INET, kind)
        try:
            s.bind((host, port))
            return port
        except OSError:
            continue
        finally:
            s.close()
    raise AssertionError("no free port found")


def wait_for(pred, timeout, what, interval=0.1):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = pred()
            if last:
                return last
        except Exception as e:  # peer not up yet, etc.
            last = e
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def eventually(pred, timeout, what, interval=0.1, show=None):
    """wait_for as a check: polls pred (an exception counts as "not yet") for
    at most `timeout` s.  When pred returns something truthy, records
    "ok   WHAT" (with " (show(value))" when show is given) and returns the
    value; otherwise records "FAIL WHAT" with the timeout and the last value
    or exception, and returns None.  A caller that cannot go on without the
    condition writes `if not eventually(...): return`."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            last = pred()
        except Exception as e:  # peer not up yet, etc.
            last = e
        met = bool(last) and not isinstance(last, Exception)
        if met or time.monotonic() >= deadline:
            break
        time.sleep(interval)
    check(met, ((f"{what} ({show(last)})" if show else what) if met
                else f"{what} (timed out after {timeout}s; last: {last!r})"))
    return last if met else None


def tmpdir(prefix="regiond-test-"):
    d = tempfile.mkdtemp(prefix=prefix)
    atexit.register(shutil.rmtree, d, True)
    return d


# ---------------------------------------------------------------- checks
def events_ring(port, seconds=1.5):
    """The whole event ring (from id 0) as SSE text: read until it holds the newest event /v1/status named
    just before (events.last_id; 0: the ring was empty), for `seconds` at most (all of it without that id)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/status", timeout=5) as r:
            last = int(json.loads(r.read())["events"]["last_id"])
    except (OSError, ValueError, KeyError, TypeError):
        last = None
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(b"GET /v1/events HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n"
              b"Last-Event-ID: 0\r\n\r\n")
    s.settimeout(0.3)
    buf, deadline = b"", time.monotonic() + seconds
    frame = re.compile(rb"id: (\d+)\nevent: [^\n]*\ndata: [^\n]*\n\n")   # one whole event (core/feed.c)
    while time.monotonic() < deadline and not (last is not None and (b"retry:" in buf if last == 0 else any(
            int(m.group(1)) >= last for m in frame.finditer(buf)))):
        try:
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
        except socket.timeout:
            pass
    s.close()
    return buf.decode(errors="replace")


def check(cond, what):
    if cond:
        _results["passed"] += 1
        print(f"ok   {what}", flush=True)
    else:
        _results["failed"] += 1
        print(f"FAIL {what}", flush=True)
    return cond


def check_eq(got, want, what):
    return check(got == want, f"{what}: got {got!r}, want {want!r}")


def run_tests(tests):
    """Run test functions; print the closing line; exit non-zero on failure."""
    for t in tests:
        print(f"--- {t.__name__}", flush=True)
        t0 = time.monotonic()
        try:
            t()
        except Exception:
            _results["failed"] += 1
            print(f"FAIL {t.__name__} raised:", flush=True)
            traceback.print_exc()
            sys.stdout.flush()
        print(f"    ({t.__name__}: {time.monotonic() - t0:.1f} s)", flush=True)
    _cleanup()
    print(f"{_results['passed']} passed, {_results['failed']} failed", flush=True)
    sys.exit(1 if _results["failed"] else 0)


# ---------------------------------------------------------------- nginx
def write_nginx_conf(d, http_head, servers, connections=1024):
    """Write D/nginx.conf: one worker in the foreground, its pid, logs and
    temporary files in D, `http_head` then `servers` in the http block; its path."""
    conf = f"""
daemon off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections {connections}; }}
http {{
    {http_head.strip()}
    client_body_temp_path {d}/tmp_body;
    proxy_temp_path {d}/tmp_proxy;
    fastcgi_temp_path {d}/tmp_fastcgi;
    uwsgi_temp_path {d}/tmp_uwsgi;
    scgi_temp_path {d}/tmp_scgi;
    default_type text/plain;
    {servers}
}}
"""
    path = os.path.join(d, "nginx.conf")
    with open(path, "w") as f:
        f.write(conf)
    return path


class Nginx:
    """nginx on loopback serving the test endpoints on each port.
    /health answers 503 while DIR/down-PORT exists, else 200 "ok"."""

    def __init__(self, ports, tls_ports=(), cert=None, key=None, host="127.0.0.1"):
        self.dir = tmpdir("nginx-")
        os.chmod(self.dir, 0o755)   # nginx workers run as nobody and serve files from here
        self.ports, self.tls_ports, self.host = list(ports), list(tls_ports), host
        with open(os.path.join(self.dir, "big"), "wb") as f:
            f.write(b"x" * (10 << 20))
        servers = []
        for p in self.ports + self.tls_ports:
            tls = p in self.tls_ports
            lst = f"listen {host}:{p}{' ssl' if tls else ''};"
            if host == "127.0.0.1":
                lst += f" listen [::1]:{p}{' ssl' if tls else ''};" if self._v6() else ""
            certs = (f"ssl_certificate {cert}; ssl_certificate_key {key}; ssl_protocols TLSv1.2 TLSv1.3;"
                     " ssl_session_cache shared:TLS:1m;") if tls else ""
            servers.append(f"""
    server {{
        {lst}
        {certs}
        location = /health {{
            if (-f {self.dir}/down-{p}) {{ return 503 "down\\n"; }}
            return 200 "ok\\n";
        }}
        location = /text {{ return 200 "hello world\\n"; }}
        location = /secure {{
            if ($http_x_api_key != "s3cret-value-42") {{ return 401 "no key\\n"; }}
            return 200 "ok\\n";
        }}
        location = /big {{ alias {self.dir}/big; }}
        location = /slow {{ limit_rate 2k; alias {self.dir}/big; }}
    }}""")
        path = write_nginx_conf(self.dir, f"""
    log_format conn '$connection $connection_requests $request_uri $status $ssl_session_reused';
    access_log {self.dir}/access.log conn;
    keepalive_requests 100000;""", "".join(servers))
        self.proc = spawn("nginx", ["nginx", "-p", self.dir, "-c", path, "-e", f"{self.dir}/error.log"],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: self._listening(), 10, "nginx to listen")

    @staticmethod
    def _v6():
        try:
            s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
            s.bind(("::1", 0))
            s.close()
            return True
        except OSError:
            return False

    def _listening(self):
        for p in self.ports + self.tls_ports:
            with socket.create_connection((self.host, p), timeout=1):
                pass
        return True

    def access(self):
        """(connection id, request number on it, uri, status) per request."""
        return [x[:4] for x in self.access_tls()]

    def access_tls(self):
        """As access(), plus "r" (TLS session resumed) or "." per request."""
        out = []
        with open(os.path.join(self.dir, "access.log")) as f:
            for line in f:
                c, n, uri, st, reused = line.split()
                out.append((int(c), int(n), uri, int(st), reused))
        return out

    def down(self, port, is_down=True):
        f = os.path.join(self.dir, f"down-{port}")
        if is_down:
            open(f, "w").close()
        elif os.path.exists(f):
            os.unlink(f)

    def stop(self):
        stop_peer(self.proc)


# ---------------------------------------------------------------- dnsmasq
class Dnsmasq:
    """dnsmasq answering `records` {name: ip} for the .test domain and
    NXDOMAIN for every other name under .test."""

    def __init__(self, records, ttl=60, extra=()):
        self.dir = tmpdir("dnsmasq-")
        # A free port can be taken between our probe and dnsmasq's bind (c-ares
        # and the other peers use UDP ports too): try a few.
        for attempt in range(5):
            self.port = free_udp_port()
            lines = ["no-resolv", "no-hosts", "bind-interfaces", "listen-address=127.0.0.1",
                     f"port={self.port}", "local=/test/", f"local-ttl={ttl}", "user=root",
                     f"pid-file={self.dir}/pid", "log-facility=-"]
            lines += [f"host-record={n},{ip}" for n, ip in records.items()]
            lines += list(extra)
            path = os.path.join(self.dir, "dnsmasq.conf")
            with open(path, "w") as f:
                f.write("\n".join(lines) + "\n")
            self.proc = spawn("dnsmasq", ["dnsmasq", "-k", "-C", path],
                              stdout=subprocess.DEVNULL, stderr=open(os.path.join(self.dir, "log"), "w"))
            time.sleep(0.3)
            if self.proc.poll() is None:
                return
            forget(self.proc)
            err = open(os.path.join(self.dir, "log")).read()
            if "Address already in use" not in err:
                raise AssertionError("dnsmasq exited: " + err)
        raise AssertionError("dnsmasq could not bind a free port in 5 tries")

    def stop(self):
        stop(self.proc)


def free_udp_port():
    return free_port(kind=socket.SOCK_DGRAM)


# ---------------------------------------------------------------- daemon
def api_target(url, **kw):
    t = {"url": url}
    t.update(kw)
    return t


def make_config(regions, state_dir, port, **extra):
    cfg = {
        "controller": {"id": "test", "listen": f"127.0.0.1:{port}", "state_dir": state_dir,
                       "log_level": "debug"},
        "probe_defaults": {"interval_ms": 300, "timeout_ms": 250, "rise": 2, "fall": 2},
        "regions": regions,
    }
    for k, v in extra.items():
        cfg[k] = v
    return cfg


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost", timeout=5)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(5)
        self.sock.connect(self.path)


class Daemon:
    def __init__(self, cfg, dir=None, env=None, wait=True):
        self.dir = dir or tmpdir("regiond-")
        self.cfg_path = os.path.join(self.dir, "regiond.json")
        self.write_config(cfg)
        listen = cfg["controller"]["listen"] if not isinstance(cfg, str) else "127.0.0.1:0"
        self.unix = listen[5:] if listen.startswith("unix:") else None
        self.port = None if self.unix else int(listen.rsplit(":", 1)[1])
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = os.path.join(self.dir, "regiond.log")
        e = dict(os.environ)
        e.update(env or {})
        self.log = open(self.log_path, "ab")
        self.proc = spawn("regiond", [REGIOND, "--config", self.cfg_path], stdout=self.log,
                          stderr=self.log, env=e)
        if wait:
            wait_for(lambda: self.get("/healthz")[0] == 200 or self._died(), 15, "regiond /healthz")

    def _died(self):
        if self.proc.poll() is not None:
            raise AssertionError(f"regiond exited {self.proc.returncode}:\n{self.read_log()}")
        return False

    def write_config(self, cfg):
        text = cfg if isinstance(cfg, str) else json.dumps(cfg, indent=1)
        with open(self.cfg_path, "w") as f:
            f.write(text)

    def reload(self, cfg):
        self.write_config(cfg)
        self.proc.send_signal(signal.SIGHUP)

    def read_log(self):
        with open(self.log_path, "r", errors="replace") as f:
            return f.read()

    def get(self, path, headers=None, method="GET"):
        if self.unix:
            c = UnixHTTPConnection(self.unix)
            c.request(method, path, headers=headers or {})
            r = c.getresponse()
            out = (r.status, r.read())
            c.close()
            return out
        req = urllib.request.Request(self.base + path, headers=headers or {}, method=method)
        try:
            with urllib.request.urlopen(req, timeout=5) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def status(self):
        code, body = self.get("/v1/status")
        assert code == 200, f"/v1/status answered {code}"
        return json.loads(body)

    def target(self, region, name="api[0]"):
        for r in self.status()["regions"]:
            if r["name"] == region:
                for t in r["targets"]:
                    if t["name"] == name:
                        return t
        raise KeyError(f"{region}/{name}")

    def region(self, region):
        for r in self.status()["regions"]:
            if r["name"] == region:
                return r
        raise KeyError(region)

    def wait_target(self, region, state, timeout=10, name="api[0]"):
        return wait_for(lambda: (lambda t: t if t["state"] == state else None)(self.target(region, name)),
                        timeout, f"{region}/{name} to become {state}")

    def stop(self, timeout=5):
        """SIGTERM (once) and wait; returns the exit code, printing the log
        tail when it is not 0 (a sanitizer report lands there)."""
        rc = stop(self.proc, timeout=timeout)
        self.log.close()
        if rc != 0:
            print(f"regiond exited {rc}; log tail:\n" + "\n".join(self.read_log().splitlines()[-80:]))
        return rc


def token_file(entries=(("ops", None, False),), mode=0o600):
    """A token file ("NAME TOKEN [ro]" lines) and the tokens by name."""
    import secrets
    d = tmpdir("tokens-")
    path = os.path.join(d, "tokens")
    toks = {}
    with open(path, "w") as f:
        f.write("# regiond API tokens\n")
        for name, tok, ro in entries:
            tok = tok or secrets.token_hex(20)
            toks[name] = tok
            f.write(f"{name} {tok}{' ro' if ro else ''}\n")
    os.chmod(path, mode)
    return path, toks


# ---------------------------------------------------------------- Route 53 peer
TEST_KEY = {"access_key": "AKIDREGIONDTEST", "secret_key": "te+st/Secret0Key0ForRegiond0Tests0000000"}


def aws_cli(endpoint, region, service, args, key=TEST_KEY):
    """The aws CLI (Debian's, by full path) against a local peer with the test
    key and nothing from the environment's own AWS set-up; its JSON, or None."""
    env = dict(os.environ, AWS_ACCESS_KEY_ID=key["access_key"], AWS_SECRET_ACCESS_KEY=key["secret_key"],
               AWS_DEFAULT_REGION=region, AWS_EC2_METADATA_DISABLED="true",
               AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null", AWS_PAGER="")
    env.pop("AWS_SESSION_TOKEN", None)
    r = subprocess.run(["/usr/bin/aws", "--endpoint-url", endpoint, "--region", region, "--output", "json",
                        service, *args], capture_output=True, text=True, timeout=60, env=env)
    if r.returncode != 0:
        raise AssertionError(f"aws {service} {' '.join(args)} failed: {r.stderr}")
    return json.loads(r.stdout) if r.stdout.strip() else None


class Route53Peer:
    """tests/peers/route53_peer.py: strict Route 53 API, DNS for the zone,
    credential endpoints, fault injection (see tests/peers/README.md)."""

    def __init__(self, zone, creds=(TEST_KEY,), pending_ms=300, extra=()):
        self.dir = tmpdir("r53peer-")
        self.zone_id = zone["id"]
        zf, cf = os.path.join(self.dir, "zone.json"), os.path.join(self.dir, "creds.json")
        with open(zf, "w") as f:
            json.dump(zone, f)
        with open(cf, "w") as f:
            json.dump(list(creds), f)
        self.log = open(os.path.join(self.dir, "peer.log"), "w")
        self.proc = spawn("route53-peer", ["/usr/bin/python3", os.path.join(SRC, "tests", "peers", "route53_peer.py"),
                                           "--zone", zf, "--credentials", cf, "--port", "0", "--dns-port", "0",
                                           "--pending-ms", str(pending_ms), *extra],
                          stdout=subprocess.PIPE, stderr=self.log, text=True)
        line = self.proc.stdout.readline()
        if not line:
            raise AssertionError("route53 peer did not start: " + open(os.path.join(self.dir, "peer.log")).read())
        info = json.loads(line)
        self.port, self.dns_port = info["port"], info["dns_port"]
        self.url = f"http://127.0.0.1:{self.port}"

    def call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read() or b"null")

    def records(self):
        return self.call("GET", "/_peer/records")["records"]

    def weights(self, name):
        return {r["SetIdentifier"]: r["Weight"] for r in self.records()
                if r["Name"] == name and "SetIdentifier" in r}

    def changes(self):
        return self.call("GET", "/_peer/changes")["changes"]

    def stats(self):
        return self.call("GET", "/_peer/stats")

    def inject(self, **faults):
        return self.call("POST", "/_peer/inject", faults)

    def aws(self, *args, key=TEST_KEY):
        return aws_cli(self.url, "us-east-1", "route53", args, key)

    def stop(self):
        stop(self.proc)
        self.log.close()


def weighted_zone(name, regions, ttl=60, zone_id="Z0REGIONDTEST1"):
    """A zone with one weighted A record per region: {set_id: (ip, weight)}."""
    return {"id": zone_id, "name": "example.test.",
            "records": [{"Name": name, "Type": "A", "SetIdentifier": sid, "Weight": w, "TTL": ttl,
                         "ResourceRecords": [{"Value": ip}]} for sid, (ip, w) in regions.items()]}


# ---------------------------------------------------------------- DynamoDB peer
class DdbPeer:
    """tests/peers/ddb_peer.py: one dynalite per region behind a strict front
    (SigV4, botocore's model), global-table replicas, a replicator with delay
    and pause, backups and PITR, fault injection (tests/peers/README-dynamodb.md)."""

    def __init__(self, regions, table="orders", creds=(TEST_KEY,), backup_ms=1000, pitr="on", delay_ms=0,
                 heartbeat_table="regiond-heartbeat"):
        self.dir = tmpdir("ddbpeer-")
        nm = os.path.join(SRC, "tests", "peers", "node_modules", "dynalite", "cli.js")
        if not os.path.exists(nm):
            raise AssertionError("dynalite is not installed: run scripts/install-dynalite.sh (scripts/test.sh does)")
        cf, tf = os.path.join(self.dir, "creds.json"), os.path.join(self.dir, "tables.json")
        with open(cf, "w") as f:
            json.dump(list(creds), f)
        with open(tf, "w") as f:
            json.dump([{"TableName": t, "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
                        "BillingMode": "PAY_PER_REQUEST"} for t in (table, heartbeat_table) if t], f)
        self.log = open(os.path.join(self.dir, "peer.log"), "w")
        self.proc = spawn("ddb-peer", ["/usr/bin/python3", os.path.join(SRC, "tests", "peers", "ddb_peer.py"),
                                       "--regions", ",".join(regions), "--credentials", cf, "--table-config", tf,
                                       "--backup-ms", str(backup_ms), "--pitr", pitr,
                                       "--replicate-delay-ms", str(delay_ms)],
                          stdout=subprocess.PIPE, stderr=self.log, text=True)
        line = self.proc.stdout.readline()
        if not line:
            raise AssertionError("ddb peer did not start: " + open(os.path.join(self.dir, "peer.log")).read()[-3000:])
        info = json.loads(line)
        self.ports = {r: v["port"] for r, v in info["regions"].items()}
        self.control = f"http://127.0.0.1:{info['control_port']}"

    def url(self, region):
        return f"http://127.0.0.1:{self.ports[region]}"

    def call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.control + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read() or b"null")

    def aws(self, region, *args, key=TEST_KEY):
        return aws_cli(self.url(region), region, "dynamodb", args, key)

    def stop(self):
        stop(self.proc)
        self.log.close()
