"""Structured logs under systemd.  In a bubblewrap mount namespace whose
/run/systemd/journal/socket is a datagram socket this test reads, regiond's
stderr is a file the test owns: when JOURNAL_STREAM names that file's
device:inode, each line arrives as one native-protocol datagram (parsed
here, the length-prefixed form included) with MESSAGE, PRIORITY,
SYSLOG_IDENTIFIER=regiond and REGIOND_REGION/TARGET/EVENT; with another
inode the text format goes to stderr and nothing to the socket; a socket
nobody reads (its queue full) or nobody listens on sends the lines to
stderr with the "<N>" prefix while the daemon keeps answering."""
import json
import os
import shutil
import signal
import socket
import struct
import threading
import time
import urllib.request

from harness import (REGIOND, check, check_eq, free_port, make_config, run_tests, spawn, stop, tmpdir,
                     wait_for)

REGION = "eu-west-1"
TARGET = "edge.api"


def parse_native(buf):
    """One datagram of the journal native protocol
    (https://systemd.io/JOURNAL_NATIVE_PROTOCOL/) as a list of (key, value):
    KEY=VALUE\\n, or KEY\\n + 64-bit little-endian length + value + \\n."""
    out, i = [], 0
    while i < len(buf):
        nl = buf.index(b"\n", i)
        line = buf[i:nl]
        if b"=" in line:
            k, v = line.split(b"=", 1)
            i = nl + 1
        else:
            k = line
            (n,) = struct.unpack("<Q", buf[nl + 1:nl + 9])
            v = buf[nl + 9:nl + 9 + n]
            if buf[nl + 9 + n:nl + 10 + n] != b"\n":
                raise ValueError(f"binary field {k!r} not closed by a newline")
            i = nl + 10 + n
        out.append((k.decode(), v.decode()))
    return out


class Journal:
    """A datagram socket at DIR/socket; read=True: a thread reads it."""

    def __init__(self, read=True):
        self.dir = tmpdir("regiond-journal-")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(os.path.join(self.dir, "socket"))
        self.entries = []   # [(list of (k, v), raw bytes)]
        self.bad = []
        self.lock = threading.Lock()
        self.done = False
        if read:
            self.sock.settimeout(0.2)
            self.thread = threading.Thread(target=self._run, daemon=True)
            self.thread.start()

    def _take(self, data):
        try:
            e = parse_native(data)
        except (ValueError, struct.error, UnicodeDecodeError) as ex:
            self.bad.append((repr(ex), data[:200]))
            return
        with self.lock:
            self.entries.append(e)

    def _run(self):
        while not self.done:
            try:
                self._take(self.sock.recv(1 << 20))
            except socket.timeout:
                pass
            except OSError:
                return

    def drain(self):
        """Read what is queued now (no thread)."""
        self.sock.setblocking(False)
        n = 0
        while True:
            try:
                self._take(self.sock.recv(1 << 20))
                n += 1
            except BlockingIOError:
                return n

    def find(self, pred):
        with self.lock:
            for e in self.entries:
                d = dict(e)
                if pred(d):
                    return e
        return None

    def close(self):
        self.done = True
        if hasattr(self, "thread"):
            self.thread.join(5)
        self.sock.close()


def _descendant(pid, comm):
    """The first descendant of pid named comm (walking /proc parent links
    from our own child, never by name alone)."""
    kids = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            st = open(f"/proc/{d}/stat").read()
        except OSError:
            continue
        ppid = int(st[st.rindex(")") + 2:].split()[1])
        kids.setdefault(ppid, []).append((int(d), st[st.index("(") + 1:st.rindex(")")]))
    todo = [pid]
    while todo:
        for c, name in kids.get(todo.pop(), []):
            if name == comm:
                return c
            todo.append(c)
    return None


class Sandboxed:
    """regiond under bwrap: the host's / as is, a fresh /run whose
    systemd/journal is JDIR; stderr is the file LOG."""

    def __init__(self, jdir, cfg, cfg_path, stream_of):
        self.cfg, self.cfg_path = cfg, cfg_path
        self.write(cfg)
        self.log_path = os.path.join(os.path.dirname(cfg_path), "stderr.log")
        self.log = open(self.log_path, "wb")
        st = os.fstat(self.log.fileno()) if stream_of is None else os.stat(stream_of)
        env = dict(os.environ, JOURNAL_STREAM=f"{st.st_dev}:{st.st_ino}")
        self.port = int(cfg["controller"]["listen"].rsplit(":", 1)[1])
        self.proc = spawn("bwrap-regiond", [
            "bwrap", "--dev-bind", "/", "/", "--tmpfs", "/run", "--bind", jdir, "/run/systemd/journal",
            "--die-with-parent", "--", REGIOND, "--config", cfg_path], stdout=self.log, stderr=self.log, env=env)
        wait_for(lambda: self._died() or self.healthz() == 200, 20, "sandboxed regiond /healthz")
        self.pid = wait_for(lambda: _descendant(self.proc.pid, "regiond"), 5, "regiond's pid under bwrap")

    def _died(self):
        if self.proc.poll() is not None:
            raise AssertionError(f"regiond exited {self.proc.returncode}: {self.text()[-2000:]}")
        return False

    def write(self, cfg):
        with open(self.cfg_path, "w") as f:
            f.write(cfg if isinstance(cfg, str) else json.dumps(cfg))

    def healthz(self):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=2) as r:
            return r.status

    def hup(self):
        os.kill(self.pid, signal.SIGHUP)

    def text(self):
        return open(self.log_path, errors="replace").read()

    def stop(self):
        if self.proc.poll() is None and self.pid:
            os.kill(self.pid, signal.SIGTERM)   # the daemon itself; bwrap passes its status on
            try:
                self.proc.wait(timeout=10)
            except Exception:
                pass
        try:
            rc = stop(self.proc, timeout=10)
        finally:
            self.log.close()
        return rc


def _config():
    refused = free_port()   # nothing listens: connections are refused
    state = tmpdir("regiond-jstate-")
    return make_config([{"name": REGION, "api": [{"name": TARGET, "url": f"http://127.0.0.1:{refused}/health"}]}],
                       state, free_port())


def _bwrap_ok():
    import subprocess
    if shutil.which("bwrap") is None:
        return check(False, "bwrap is installed (scripts/install-deps.sh test)")
    r = subprocess.run(["bwrap", "--dev-bind", "/", "/", "--tmpfs", "/run", "/bin/true"],
                       capture_output=True, text=True, timeout=30)
    return check_eq(r.returncode, 0, f"bwrap can create a mount namespace here ({r.stderr.strip() or 'ok'})")


def _event(j, name, **want):
    """The journal entry of event NAME whose JSON has the pairs WANT."""
    def pred(d):
        if d.get("REGIOND_EVENT") != name or not d.get("MESSAGE", "").startswith(f"event={name} {{"):
            return False
        ev = json.loads(d["MESSAGE"].split(" ", 1)[1])
        return all(ev.get(k) == v for k, v in want.items())
    return wait_for(lambda: j.find(pred), 20, f"journal entry of {name} {want}")


def test_fields():
    if not _bwrap_ok():
        return
    j = Journal()
    # The config's directory: a newline, '=' and a quote in its name, so the
    # "reloading config" line's path value carries them (input the code did
    # not choose): it must arrive intact as one MESSAGE.
    base = tmpdir("regiond-jr-")
    cfg_dir = os.path.join(base, 'ops\nteam="a=b"')
    os.mkdir(cfg_dir)
    cfg = _config()
    d = Sandboxed(j.dir, cfg, os.path.join(cfg_dir, "regiond.json"), None)
    try:
        e = _event(j, "target_state", region=REGION, target=TARGET, to="down")
        f = dict(e)
        check_eq(len(f), len(e), "each field once")
        check_eq(f.get("REGIOND_REGION"), REGION, "REGIOND_REGION of the target's event")
        check_eq(f.get("REGIOND_TARGET"), TARGET, "REGIOND_TARGET of the target's event")
        check_eq(f.get("PRIORITY"), "6", "an event is logged at info (6)")
        check_eq(f.get("SYSLOG_IDENTIFIER"), "regiond", "SYSLOG_IDENTIFIER")
        check("REGIOND_DECISION" not in f, "no REGIOND_DECISION on a target event")
        ev = json.loads(f["MESSAGE"].split(" ", 1)[1])
        check(ev["reason"].startswith("connect:"), f"the refused connection is the reason ({ev['reason']})")
        r = _event(j, "region_state", region=REGION)
        check_eq(dict(r).get("REGIOND_REGION"), REGION, "REGIOND_REGION of the region's event")
        check("REGIOND_TARGET" not in dict(r), "no REGIOND_TARGET on a region event")

        dec = dict(_event(j, "decision"))
        num = json.loads(dec["MESSAGE"].split(" ", 1)[1])["decision"]
        check_eq((dec.get("REGIOND_DECISION"), dec.get("PRIORITY")), (str(num), "6"),
                 "REGIOND_DECISION of a decision event is its number")

        # The operator reloads without the target: a key=value line (not an
        # event) whose region= and target= become fields, at notice (5).
        cfg2 = json.loads(json.dumps(cfg))
        cfg2["regions"][0]["api"][0]["name"] = "other"
        d.write(cfg2)
        d.hup()
        rm = wait_for(lambda: j.find(lambda x: x.get("MESSAGE", "").startswith('msg="target removed"')),
                      20, "target removed line")
        rm = dict(rm)
        check_eq(rm.get("MESSAGE"), f'msg="target removed" region={REGION} target={TARGET}', "MESSAGE as the text line")
        check_eq((rm.get("PRIORITY"), rm.get("REGIOND_REGION"), rm.get("REGIOND_TARGET")), ("5", REGION, TARGET),
                 "a line's region= and target= pairs become fields")
        want = f'msg="reloading config" path={d.cfg_path}'
        got = wait_for(lambda: j.find(lambda x: x.get("MESSAGE") == want), 10, "reloading line, newline intact")
        check(got is not None, "a value with a newline, '=' and quotes arrives intact as one MESSAGE")

        # A bad reload whose unknown key holds a forged pair: the error is
        # free text, so it never becomes a field; priority error (3).
        d.write(dict(cfg2, **{'x" region=forged target=evil': 1}))
        d.hup()
        bad = wait_for(lambda: j.find(lambda x: "config reload rejected" in x.get("MESSAGE", "")), 20,
                       "reload rejected line")
        bad = dict(bad)
        check('region=forged target=evil' in bad["MESSAGE"], "the bad key is in MESSAGE")
        check_eq((bad.get("PRIORITY"), bad.get("REGIOND_REGION"), bad.get("REGIOND_TARGET")), ("3", None, None),
                 "a region= inside an error's text is not a field")
        check_eq(d.healthz(), 200, "still answering")
    finally:
        rc = d.stop()
        j.close()
    check_eq(rc, 0, "clean exit")
    text = d.text()
    check(j.bad == [], f"every datagram parses ({j.bad[:2]})")
    check("level=" not in text and "event=" not in text, f"nothing went to stderr as text ({text[-300:]!r})")
    check(j.find(lambda x: x.get("MESSAGE") == 'msg="stopping" signal=TERM') is not None,
          "the stop line reached the journal")
    first = j.entries[0] if j.entries else []
    check_eq(dict(first).get("MESSAGE"), 'msg="logging to the journal"',
             "the first entry is sent at start-up (it opens libsystemd's socket before the loop runs)")


def test_other_inode_is_text():
    if not _bwrap_ok():
        return
    j = Journal()
    cfg_dir = tmpdir("regiond-jt-")
    other = os.path.join(cfg_dir, "other")
    open(other, "w").close()
    d = Sandboxed(j.dir, _config(), os.path.join(cfg_dir, "regiond.json"), other)
    try:
        wait_for(lambda: "event=target_state" in d.text() and '"to":"down"' in d.text(), 20,
                 "target_state down on stderr")
    finally:
        rc = d.stop()
        time.sleep(0.3)
        j.close()
    check_eq(rc, 0, "clean exit")
    lines = [l for l in d.text().splitlines() if l.strip()]
    check(lines and all(" level=" in l and l[:4].isdigit() for l in lines),
          f"every line in the text format ({lines[:1]})")
    check(any('level=info event=target_state {' in l and f'"target":"{TARGET}"' in l for l in lines),
          "the target's event as a text line")
    check_eq(len(j.entries), 0, "nothing arrived on the journal socket")


def test_stuck_or_absent_journal():
    """Nobody reads the socket (its queue fills), then nobody listens on it:
    the lines go to stderr with the journald prefix, none lost, and the
    loop keeps answering."""
    if not _bwrap_ok():
        return
    j = Journal(read=False)
    cfg_dir = tmpdir("regiond-js-")
    d = Sandboxed(j.dir, _config(), os.path.join(cfg_dir, "regiond.json"), None)
    cfg = d.cfg

    def bad_reload(key):
        d.write(dict(cfg, **{key: 1}))
        d.hup()

    def on_stderr(key):
        return any(l.startswith('<3>msg="config reload rejected') and f"unknown key '{key}'" in l
                   for l in d.text().splitlines())

    try:
        qlen = int(open("/proc/sys/net/unix/max_dgram_qlen").read())
        n = qlen + 5
        codes = []
        for i in range(n):   # each a distinct line (repeats would be suppressed)
            bad_reload(f"stuck-{i}")
            # A barrier: the loop took the signal before it answers a new
            # connection, so the next config write cannot overtake it.
            codes.append(d.healthz())
        check_eq(set(codes), {200}, f"the loop answered after each of {n} reloads")
        wait_for(lambda: on_stderr(f"stuck-{n - 1}"), 20, "the last line on stderr")
        check_eq(d.healthz(), 200, "the loop answers (within 2 s) while the journal is stuck")
        j.drain()
        queued = {i for i in range(n) if j.find(lambda x: f"unknown key 'stuck-{i}'" in x.get("MESSAGE", ""))}
        spilled = {i for i in range(n) if on_stderr(f"stuck-{i}")}
        check(len(queued) <= qlen and spilled, f"the queue took {len(queued)}, stderr the rest ({len(spilled)})")
        check_eq(queued | spilled, set(range(n)), "every line either queued or on stderr: none lost")
        check_eq(queued & spilled, set(), "no line twice")
        # The socket file stays but nobody listens (connection refused).
        j.close()
        bad_reload("refused-1")
        wait_for(lambda: on_stderr("refused-1"), 10, "refused: the line on stderr")
        # No socket file at all (libsystemd would call that a success).
        os.unlink(os.path.join(j.dir, "socket"))
        bad_reload("absent-1")
        wait_for(lambda: on_stderr("absent-1"), 10, "absent: the line on stderr")
        check_eq(d.healthz(), 200, "still answering")
    finally:
        rc = d.stop()
    check_eq(rc, 0, "clean exit")


if __name__ == "__main__":
    run_tests([test_fields, test_other_inode_is_text, test_stuck_or_absent_journal])
