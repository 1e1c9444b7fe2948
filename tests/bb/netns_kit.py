"""Network namespaces for the black-box tests that partition (bb_test_netns_lease, bb_test_netns_quorum,
bb_test_soak_quorum): three controllers, each in its OWN namespace
(c1, c2, c3), three regions r1..r3 each a namespace with nginx on REGION_IP:80, and a "shared" namespace
that routes between them and holds the test process and the peers.  The peers listen on the shared
namespace's 127.0.0.1 (they refuse anything else); the controllers reach them at PEER_ADDR, which the
shared namespace DNATs to 127.0.0.1 (route_localnet).  Every address (198.18.0.0/15) and rule exists only
in namespaces made here; nothing is added to the root namespace.  Each regiond's API is on its own
namespace's 127.0.0.1: NsDaemon.get enters that namespace for the call (setns) and comes back.

build_namespaces() returns why when the kernel (or missing privilege) refuses `ip netns add`: the test
then prints "SKIP: ..." and exits SKIP_CODE.  teardown() (atexit) stops every process the harness
started, by pid, and deletes the namespaces.

Names: every namespace is rg{TAG}-{PID}-..., every veth r{TAG}{PID}..., the nft tables rg{TAG}peers and
rg{TAG}cut (TAG "n" unless a test calls use_tag() before build_namespaces()).  The pid keeps two tests
running at once (ctest -j2) apart; the tag says whose a leftover namespace is.  The veths, addresses
(198.18.0.0/15) and nft tables exist only inside this test's own namespaces, so another test's same
addresses and table names never meet them.

The pieces (add_namespace, add_leaf, enter, ns_fault, ns_unfault, sh, teardown) also serve a test with
its own layout (bb_test_netns_outage)."""
import atexit
import ctypes
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

import harness
from harness import check, check_eq, spawn, tmpdir, wait_for

SKIP_CODE = 77
CLONE_NEWNET = 0x40000000
PEER_ADDR = "198.18.0.1"
PID = os.getpid()
TAG = "n"


def _ctls(tag):
    return {i: (f"rg{tag}-{PID}-c{i}", f"r{tag}{PID}c{i}", f"198.18.{10 + i}.1", f"198.18.{10 + i}.2")
            for i in (1, 2, 3)}


def _regs(tag):
    return {r: (f"rg{tag}-{PID}-{r}", f"r{tag}{PID}{r}", f"198.18.{20 + j}.1", f"198.18.{20 + j}.2")
            for j, r in enumerate(["r1", "r2", "r3"], 1)}


NS_S = f"rg{TAG}-{PID}-s"
CTLS = _ctls(TAG)
REGS = _regs(TAG)

_made_ns, _fds = [], {}
_libc = ctypes.CDLL(None, use_errno=True)
def sh(*argv, input=None, check_rc=True):
    r = subprocess.run(list(argv), input=input, capture_output=True, text=True, timeout=20)
    if check_rc and r.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} failed ({r.returncode}): {r.stderr.strip()}")
    return r


def setns(fd):
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"setns: {os.strerror(e)}")


def nsfd(ns):
    if ns not in _fds:
        _fds[ns] = os.open(f"/run/netns/{ns}", os.O_RDONLY)
    return _fds[ns]


def teardown():
    harness._cleanup()
    if "root" in _fds:
        try:
            setns(_fds["root"])
        except OSError as e:
            print(f"teardown: back to the root namespace: {e}", flush=True)
    for fd in _fds.values():
        os.close(fd)
    _fds.clear()
    for ns in reversed(_made_ns):
        r = sh("ip", "netns", "del", ns, check_rc=False)
        if r.returncode != 0:
            print(f"teardown: ip netns del {ns}: {r.stderr.strip()}", flush=True)
    _made_ns.clear()


def nft(ns, text):
    sh("ip", "netns", "exec", ns, "nft", "-f", "-", input=text)


def use_tag(tag):
    """Name this test's namespaces, veths and nft tables with tag (1 to 3 lower-case letters; "n" is the
    default) instead: call before build_namespaces().  CTLS and REGS change in place, so a test's
    `from netns_kit import CTLS, REGS` sees the new names; read NS_S as netns_kit.NS_S."""
    global TAG, NS_S
    if _made_ns:
        raise AssertionError("use_tag() after namespaces were made")
    if not (1 <= len(tag) <= 3 and tag.isalpha() and tag.islower()):
        raise AssertionError(f"use_tag({tag!r}): 1 to 3 lower-case letters (a veth name is at most 15 bytes)")
    TAG, NS_S = tag, f"rg{tag}-{PID}-s"
    for now, new in ((CTLS, _ctls(tag)), (REGS, _regs(tag))):
        now.clear()
        now.update(new)


def add_namespace(ns):
    """Make namespace ns (teardown() deletes it), its loopback up: None, or why `ip netns add` is refused."""
    r = sh("ip", "netns", "add", ns, check_rc=False)
    if r.returncode != 0:
        return f"ip netns add {ns} failed: {r.stderr.strip() or 'exit ' + str(r.returncode)}"
    _made_ns.append(ns)
    sh("ip", "-n", ns, "link", "set", "lo", "up")
    return None


def add_leaf(hub, ns, veth, hub_addr, addr, route=True):
    """Make namespace ns (teardown() deletes it) joined to namespace hub by a veth pair, both ends made
    directly in the namespaces: veth with hub_addr/24 in hub, eth0 with addr/24 in ns, loopback up;
    with route, ns's default route is via hub_addr."""
    sh("ip", "netns", "add", ns)
    _made_ns.append(ns)
    sh("ip", "link", "add", veth, "netns", hub, "type", "veth", "peer", "name", "eth0", "netns", ns)
    sh("ip", "-n", hub, "addr", "add", f"{hub_addr}/24", "dev", veth)
    sh("ip", "-n", hub, "link", "set", veth, "up")
    sh("ip", "-n", ns, "addr", "add", f"{addr}/24", "dev", "eth0")
    sh("ip", "-n", ns, "link", "set", "eth0", "up")
    sh("ip", "-n", ns, "link", "set", "lo", "up")
    if route:
        sh("ip", "-n", ns, "route", "add", "default", "via", hub_addr)


def enter(ns):
    """This process (and every process it starts after) into namespace ns; teardown() goes back to the
    root namespace."""
    if "root" not in _fds:
        _fds["root"] = os.open("/proc/self/ns/net", os.O_RDONLY)
    setns(nsfd(ns))


def build_namespaces():
    """None when built, or why namespaces are refused."""
    why = add_namespace(NS_S)
    if why:
        return why
    sh("ip", "-n", NS_S, "addr", "add", f"{PEER_ADDR}/32", "dev", "lo")
    for ns, veth, saddr, addr in list(CTLS.values()) + list(REGS.values()):
        add_leaf(NS_S, ns, veth, saddr, addr)
    for k in ("net.ipv4.ip_forward=1", "net.ipv4.conf.all.route_localnet=1"):
        sh("ip", "netns", "exec", NS_S, "sysctl", "-qw", k)
    for _, veth, _, _ in list(CTLS.values()):
        sh("ip", "netns", "exec", NS_S, "sysctl", "-qw", f"net.ipv4.conf.{veth}.route_localnet=1")
    # the controllers reach the peers (on the shared namespace's loopback) at PEER_ADDR
    nft(NS_S, f"table ip rg{TAG}peers {{\n chain pre {{\n  type nat hook prerouting priority -100; policy accept;\n"
              f"  ip daddr {PEER_ADDR} tcp dport 1-65535 dnat to 127.0.0.1\n }}\n}}\n")
    enter(NS_S)
    return None


def begin(bound_s, seen=""):
    """A test's start: SIGTERM/SIGINT exit through atexit, teardown() at exit, the namespaces built (or
    "SKIP: ..." and exit SKIP_CODE).  Returns test_duration, the last test: the whole run under bound_s
    seconds (seen: what runs took, for its message)."""
    signal.signal(signal.SIGTERM, lambda s, f: sys.exit(128 + s))
    signal.signal(signal.SIGINT, lambda s, f: sys.exit(128 + s))
    atexit.register(teardown)
    started = time.monotonic()
    why = build_namespaces()
    if why:
        print(f"SKIP: network namespaces are refused here (kernel or privilege), this test did not run: {why}",
              flush=True)
        teardown()
        sys.exit(SKIP_CODE)

    def test_duration():
        took = time.monotonic() - started
        print(f"timing: whole test {took:.1f} s", flush=True)
        check(took < bound_s, f"the test stays bounded ({took:.1f} s{'; ' + seen if seen else ''})")
    return test_duration


class InNs:
    """This process in namespace ns for the block, then back in the shared one."""

    def __init__(self, ns):
        self.ns = ns

    def __enter__(self):
        setns(nsfd(self.ns))

    def __exit__(self, *a):
        setns(nsfd(NS_S))


class NsDaemon(harness.Daemon):
    """regiond run by `ip netns exec NS` (which execs it: the pid is regiond's), API on NS's loopback;
    given dir, started again in the same directory (config, log) after a kill9()."""

    def __init__(self, ns, cfg, env, dir=None, wait=True):
        self.ns, self.dir = ns, dir or tmpdir("regiond-")
        self.cfg_path = os.path.join(self.dir, "regiond.json")
        self.write_config(cfg)
        self.unix, self.port = None, int(cfg["controller"]["listen"].rsplit(":", 1)[1])
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = os.path.join(self.dir, "regiond.log")
        self.log = open(self.log_path, "ab")
        e = dict(os.environ)
        e.update(env)
        self.proc = spawn("regiond", ["ip", "netns", "exec", ns, harness.REGIOND, "--config", self.cfg_path],
                          stdout=self.log, stderr=self.log, env=e)
        if wait:
            wait_for(lambda: self.get("/healthz")[0] == 200 or self._died(), 15, "regiond /healthz")

    def get(self, path, headers=None, method="GET", timeout=3):
        with InNs(self.ns):
            req = urllib.request.Request(self.base + path, headers=headers or {}, method=method)
            try:
                with urllib.request.urlopen(req, timeout=timeout) as r:
                    return r.status, r.read()
            except urllib.error.HTTPError as e:
                return e.code, e.read()
            except OSError:
                return 0, b""


    def status_or_none(self, timeout=2):
        code, body = self.get("/v1/status", timeout=timeout)
        try:
            return json.loads(body) if code == 200 else None
        except ValueError:
            return None

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)
        harness.forget(self.proc)
        self.log.close()


def start_nginx(r):
    ns, _, _, addr = REGS[r]
    d = tmpdir("netnsl-nginx-")
    os.chmod(d, 0o755)
    path = harness.write_nginx_conf(d, "access_log off;", f"""server {{
        listen {addr}:80;
        location = /health {{ return 200 "ok {r}\\n"; }}
    }}""", connections=256)
    return spawn(f"nginx-{r}", ["ip", "netns", "exec", ns, "nginx", "-p", d, "-c", path, "-e", f"{d}/error.log"],
                 stdout=subprocess.DEVNULL, stderr=open(os.path.join(d, "nginx.out"), "w"))


def js(d, path="/v1/status"):
    code, body = d.get(path)
    return json.loads(body) if code == 200 else None


def cut(i, rule):
    """Instance i's partition: an nft rule in its namespace's output hook (its own packets; replaces none)."""
    nft(CTLS[i][0], f"table inet rg{TAG}cut {{\n chain out {{\n  type filter hook output priority 0; policy accept;\n"
                    f"  {rule}\n }}\n}}\n")


def uncut(i):
    ns = CTLS[i][0]
    if f"rg{TAG}cut" in sh("ip", "netns", "exec", ns, "nft", "list", "tables").stdout:
        sh("ip", "netns", "exec", ns, "nft", "delete", "table", "inet", f"rg{TAG}cut")


def ns_fault(ns, rule):
    """nft rule in namespace ns's input hook (table inet rgdfault, beside any rule already there)."""
    nft(ns, "table inet rgdfault {\n chain input {\n  type filter hook input priority 0; policy accept;\n"
            f"  {rule}\n }}\n}}\n")


def ns_unfault(ns):
    """Namespace ns's rgdfault table gone, if it is there."""
    if "rgdfault" in sh("ip", "netns", "exec", ns, "nft", "list", "tables").stdout:
        sh("ip", "netns", "exec", ns, "nft", "delete", "table", "inet", "rgdfault")


def region_fault(r, on=True):
    """Region r fails (nft drops its port 80: probes time out) or comes back."""
    if on:
        ns_fault(REGS[r][0], "tcp dport 80 drop")
    else:
        ns_unfault(REGS[r][0])


def stop_all(W):
    """The closing step of a namespace test: every instance in W["ds"] stops
    cleanly (exit 0, by its pid), then the nginx regions, the Route 53 peer
    and the DynamoDB peer."""
    for d in W["ds"]:
        check_eq(d.stop(), 0, f"{d.iid} stops cleanly")
    for p in W["ngx"]:
        harness.stop_peer(p)
    W["r53"].stop()
    W["ddb"].stop()


def guarded(W, t, need="ds", why="set-up failed"):
    """Step t, failing at once (not waiting out its bounds) when an earlier
    step did not leave W[need]."""
    def run():
        if need not in W:
            raise AssertionError(why if need == "ds" else f"an earlier step failed ({need} missing)")
        t()
    run.__name__ = t.__name__
    return run
