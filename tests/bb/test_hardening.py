"""Hardening: the unit's exposure per systemd-analyze security (offline) is at
most 2.0, and the daemon runs as nobody in a mount namespace where / is
read-only and only its state directory is writable (bubblewrap): it probes,
answers, refuses a read-only state_dir with a clear error and stops cleanly
on SIGTERM.  The unit's system-call filter itself is not exercised here:
PID 1 is not systemd."""
import json
import os
import re
import shutil
import signal
import subprocess
import time

from harness import (REGIOND, SRC, Nginx, check, check_eq, free_port, make_config, run_tests, spawn,
                     stop, tmpdir, wait_for)

NOBODY = 65534


def test_exposure():
    unit = open(os.path.join(SRC, "systemd", "regiond.service.in")).read().replace("@REGIOND_CONFDIR@", "/etc/regiond")
    path = os.path.join(tmpdir(), "regiond.service")
    with open(path, "w") as f:
        f.write(unit.replace("@REGIOND_SBINDIR@/regiond", os.path.abspath(REGIOND)))
    r = subprocess.run(["systemd-analyze", "security", "--offline=true", "--no-pager", path],
                       capture_output=True, text=True, timeout=60)
    out = r.stdout + r.stderr
    m = re.search(r"Overall exposure level for \S+: (\d+(?:\.\d+)?)", out)
    check(m is not None, f"systemd-analyze security printed an overall exposure level (rc {r.returncode})")
    if not m:
        print(out[-2000:])
        return
    level = float(m.group(1))
    print(f"overall exposure level: {level}")
    open_items = [l for l in out.splitlines() if l.startswith("\u2717")]
    print("remaining items:\n" + "\n".join(re.sub(r"\s{2,}", "  ", l) for l in open_items))
    check(level <= 2.0, f"overall exposure {level} <= 2.0")
    # IP egress must stay open: the daemon talks to AWS and to every probed API.
    check("IPAddressDeny=any" not in unit and "PrivateNetwork=yes" not in unit, "network egress not denied")


def _sandbox_dirs():
    """A world-traversable base with a config dir (readable by nobody) and
    a state dir owned by nobody."""
    base = tmpdir("regiond-sandbox-")
    os.chmod(base, 0o755)
    cfgdir = os.path.join(base, "etc")
    state = os.path.join(base, "state")
    os.mkdir(cfgdir, 0o755)
    os.mkdir(state, 0o750)
    os.chown(state, NOBODY, NOBODY)
    # The sandbox masks /tmp (and a checkout may live there): the daemon runs
    # from a copy in the base, which is bound read-only into the sandbox.
    shutil.copy2(os.path.abspath(REGIOND), os.path.join(base, "regiond"))
    os.chmod(os.path.join(base, "regiond"), 0o755)
    return base, cfgdir, state


def _bwrap(base, state, argv):
    """bwrap: / read-only, fresh /tmp /dev /proc, the test base read-only,
    only STATE writable, own pid namespace; then drop to nobody."""
    return ["bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp",
            "--ro-bind", base, base, "--bind", state, state, "--unshare-pid", "--die-with-parent",
            "--", "setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
            "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", *argv]


def _bwrap_works():
    r = subprocess.run(["bwrap", "--ro-bind", "/", "/", "--unshare-pid", "--dev", "/dev", "--proc", "/proc",
                        "/bin/true"], capture_output=True, text=True, timeout=30)
    return r.returncode, r.stderr.strip()


def _descendant(pid, comm):
    """The first descendant of pid whose comm is `comm` (found by walking
    /proc parent links from our own child, never by name alone)."""
    kids = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            st = open(f"/proc/{d}/stat").read()
        except OSError:
            continue
        name = st[st.index("(") + 1:st.rindex(")")]
        ppid = int(st[st.rindex(")") + 2:].split()[1])
        kids.setdefault(ppid, []).append((int(d), name))
    todo = [pid]
    while todo:
        p = todo.pop()
        for c, name in kids.get(p, []):
            if name == comm:
                return c
            todo.append(c)
    return None


def test_sandbox_as_nobody():
    if shutil.which("bwrap") is None:
        check(False, "bwrap is installed (run scripts/install-deps.sh test; scripts/test.sh does)")
        return
    rc, err = _bwrap_works()
    if not check_eq(rc, 0, f"bwrap can create namespaces here ({err or 'ok'})"):
        return
    p = free_port()
    ngx = Nginx([p])
    base, cfgdir, state = _sandbox_dirs()
    port = free_port()
    cfg = make_config([{"name": "r1", "api": [{"url": f"http://127.0.0.1:{p}/health"}]}], state, port)
    cfg_path = os.path.join(cfgdir, "regiond.json")
    with open(cfg_path, "w") as f:
        json.dump(cfg, f)
    os.chmod(cfg_path, 0o644)
    log_path = os.path.join(base, "regiond.log")
    log = open(log_path, "wb")
    proc = spawn("bwrap-regiond", _bwrap(base, state, [os.path.join(base, "regiond"), "--config", cfg_path]),
                 stdout=log, stderr=log)
    import urllib.request

    def get(path):
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            return r.status, r.read()

    def up():
        if proc.poll() is not None:
            raise AssertionError(f"sandboxed regiond exited {proc.returncode}: {open(log_path).read()[-2000:]}")
        st = json.loads(get("/v1/status")[1])
        t = st["regions"][0]["targets"][0]
        return t if t["state"] == "up" else None

    try:
        t = wait_for(up, 20, "sandboxed regiond to probe r1 up")
        check_eq(t["state"], "up", "sandboxed daemon (nobody, / read-only) probes the nginx target up")
        code, _ = get("/v1/status")
        check_eq(code, 200, "/v1/status answers from the sandbox")
        code, _ = get("/metrics")
        check_eq(code, 200, "/metrics answers from the sandbox")
        pid = _descendant(proc.pid, "regiond")
        check(pid is not None, f"found the daemon's pid under bwrap ({pid})")
        st = open(f"/proc/{pid}/status").read()
        uid = re.search(r"^Uid:\s+(\d+)", st, re.M).group(1)
        capeff = re.search(r"^CapEff:\s+(\w+)", st, re.M).group(1)
        check_eq(uid, str(NOBODY), "daemon runs as nobody")
        check_eq(int(capeff, 16), 0, "daemon has no effective capabilities")
        owners = {os.stat(os.path.join(state, f)).st_uid for f in os.listdir(state)}
        check(owners <= {NOBODY}, f"state files written by nobody ({sorted(os.listdir(state))})")
        # Outside the state dir nothing is writable: / is read-only for the
        # daemon's user and namespace alike (checked by the same identity).
        r = subprocess.run(_bwrap(base, state, ["/bin/sh", "-c", f"touch /regiond-escape 2>&1; "
                                                f"touch {cfgdir}/x 2>&1; touch {state}/ok && echo wrote-state"]),
                           capture_output=True, text=True, timeout=30)
        check("wrote-state" in r.stdout and r.stdout.count("touch:") == 2 and not os.path.exists("/regiond-escape"),
              f"in the sandbox only the state dir is writable ({r.stdout.strip()!r})")
        # SIGTERM to the daemon itself: clean exit, which bwrap passes on.
        os.kill(pid, signal.SIGTERM)
        t0 = time.monotonic()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        check(proc.poll() is not None and time.monotonic() - t0 < 10, "stopped within 10 s of SIGTERM")
        check_eq(proc.returncode, 0, "clean exit status through bwrap")
    finally:
        if proc.poll() is None:
            stop(proc)
        log.close()
    text = open(log_path, errors="replace").read()
    check("Permission denied" not in text and "Read-only" not in text, "no write failure logged in a normal run")

    # A state_dir outside the writable area: refused at start with a clear error.
    ro_state = os.path.join(base, "ro-state")
    os.mkdir(ro_state, 0o755)          # exists but owned by root, and bind-mounted read-only
    cfg["controller"]["state_dir"] = ro_state
    cfg["controller"]["listen"] = f"127.0.0.1:{free_port()}"
    bad = os.path.join(cfgdir, "bad.json")
    with open(bad, "w") as f:
        json.dump(cfg, f)
    os.chmod(bad, 0o644)
    r = subprocess.run(_bwrap(base, state, [os.path.join(base, "regiond"), "--config", bad]),
                       capture_output=True, text=True, timeout=30)
    err = (r.stdout + r.stderr).strip()
    check(r.returncode != 0 and "not writable" in err and ro_state in err,
          f"read-only state_dir refused with a clear error (rc {r.returncode}): {err[-200:]}")
    # And one under / that does not exist: it cannot be created.
    cfg["controller"]["state_dir"] = "/regiond-state-escape"
    with open(bad, "w") as f:
        json.dump(cfg, f)
    r = subprocess.run(_bwrap(base, state, [os.path.join(base, "regiond"), "--config", bad]),
                       capture_output=True, text=True, timeout=30)
    err = (r.stdout + r.stderr).strip()
    check(r.returncode != 0 and "cannot create" in err and not os.path.exists("/regiond-state-escape"),
          f"state_dir under / cannot be created (rc {r.returncode}): {err[-200:]}")
    ngx.stop()


if __name__ == "__main__":
    run_tests([test_exposure, test_sandbox_as_nobody])
