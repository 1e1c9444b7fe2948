"""The Debian package (debian/, scripts/package.sh), checked without installing
it on the host: built into a temporary directory, unpacked with dpkg-deb -x
into a temporary root, then judged there by the tools an operator's machine
would use: the unpacked regiond checks the unpacked example config (and
refuses a broken copy of it), systemd-analyze verifies the unpacked unit,
man --warnings renders each page, bash completes regionctl's commands with
the unpacked completion script (with and without the bash-completion
library), lintian reports no error.  regiond.json(5) is checked against
docs/config.md row by row: every key with its type and default.

Exit 77 ("SKIP: ...") only when a tool the check needs is not installed
(scripts/install-deps.sh test installs them all)."""
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import time

from harness import REGIOND, SRC, check, check_eq, run_tests, tmpdir

TOOLS = {"dpkg-buildpackage": "dpkg-dev", "dh": "debhelper", "lintian": "lintian", "man": "man-db",
         "systemd-analyze": "systemd", "bash": "bash"}
EXPECTED = ["usr/sbin/regiond", "usr/bin/regionctl", "lib/systemd/system/regiond.service",
            "etc/regiond/regiond.json", "usr/share/doc/regiond/examples/regiond-rules.yml",
            "usr/share/doc/regiond/examples/regiond-dashboard.conf", "usr/share/man/man8/regiond.8.gz",
            "usr/share/man/man1/regionctl.1.gz", "usr/share/man/man5/regiond.json.5.gz",
            "usr/share/bash-completion/completions/regionctl", "usr/share/doc/regiond/copyright"]
PKG = {}


def _build():
    """scripts/package.sh into a temporary directory, once."""
    if PKG.get("failed"):
        raise AssertionError("the package did not build (see the first test)")
    if PKG:
        return PKG
    out = tmpdir("regiond-pkg-")
    t0 = time.monotonic()
    r = subprocess.run([os.path.join(SRC, "scripts", "package.sh"), out], capture_output=True, text=True,
                       timeout=450, cwd="/")
    PKG["secs"] = time.monotonic() - t0
    print(f"package build: {PKG['secs']:.1f} s")
    debs = glob.glob(os.path.join(out, "regiond_*_amd64.deb"))
    if not check(r.returncode == 0 and len(debs) == 1,
                 f"scripts/package.sh (run from /) built one regiond_VERSION_amd64.deb (rc {r.returncode}): "
                 f"{r.stderr[-1500:]}"):
        PKG["failed"] = True
        raise AssertionError("the package did not build")
    check_eq(r.stdout.strip(), debs[0], "package.sh prints the .deb's path")
    root = tmpdir("regiond-root-")
    subprocess.run(["dpkg-deb", "-x", debs[0], root], check=True, timeout=60)
    PKG.update(deb=debs[0], root=root)
    return PKG


def test_file_set():
    p = _build()
    root = p["root"]
    for f in EXPECTED:
        check(os.path.isfile(os.path.join(root, f)), f"package has /{f}")
    check(os.access(os.path.join(root, "usr/sbin/regiond"), os.X_OK), "regiond is executable")
    wants = glob.glob(os.path.join(root, "etc/systemd/system/*.wants/*"))
    check_eq(wants, [], "the package ships no enablement symlink")
    ctrl = tmpdir("regiond-ctrl-")
    subprocess.run(["dpkg-deb", "-e", p["deb"], ctrl], check=True, timeout=60)
    conffiles = open(os.path.join(ctrl, "conffiles")).read().split()
    check_eq(conffiles, ["/etc/regiond/regiond.json"], "the example config is the package's conffile")
    scripts = "".join(open(f).read() for f in glob.glob(os.path.join(ctrl, "*inst")) + glob.glob(
        os.path.join(ctrl, "*rm")))
    check("deb-systemd-invoke start" not in scripts and "deb-systemd-invoke restart" not in scripts,
          "maintainer scripts never start the service")
    check(re.search(r"^\s*deb-systemd-helper enable", scripts, re.M) is None or "was-enabled" in scripts,
          "maintainer scripts enable the unit only where the operator had enabled it")
    r = subprocess.run([os.path.join(root, "usr/bin/regionctl"), "--version"], capture_output=True, text=True,
                       timeout=10)
    check(r.returncode == 0 and r.stdout.strip(), f"unpacked regionctl --version: {r.stdout.strip()!r}")


def test_example_config():
    root = _build()["root"]
    regiond = os.path.join(root, "usr/sbin/regiond")
    cfg = os.path.join(root, "etc/regiond/regiond.json")
    r = subprocess.run([regiond, "--check-config", cfg], capture_output=True, text=True, timeout=30)
    check_eq(r.returncode, 0, f"unpacked regiond --check-config accepts the unpacked example "
                              f"({(r.stdout + r.stderr).strip()})")
    doc = json.load(open(cfg))
    check("route53" not in doc and "dynamodb" not in doc, "the example config is monitor-only")
    r = subprocess.run([regiond, "--print-iam-policy", "--config", cfg], capture_output=True, text=True,
                       timeout=30)
    check(r.returncode == 0 and json.loads(r.stdout)["Statement"] == [],
          f"the example needs no AWS permission (IAM policy: {r.stdout.strip()!r})")
    # The check can fail: a copy with a typo'd key is refused, naming the key.
    bad = os.path.join(tmpdir(), "bad.json")
    doc["controller"]["listn"] = doc["controller"].pop("listen")
    json.dump(doc, open(bad, "w"))
    r = subprocess.run([regiond, "--check-config", bad], capture_output=True, text=True, timeout=30)
    check(r.returncode == 1 and "listn" in r.stderr, f"a broken copy is refused: {r.stderr.strip()}")


def test_unit():
    root = _build()["root"]
    path = os.path.join(root, "lib/systemd/system/regiond.service")
    unit = open(path).read()
    execs = re.findall(r"^(ExecStart(?:Pre)?)=(\S+)", unit, re.M)
    check_eq(execs, [("ExecStartPre", "/usr/sbin/regiond"), ("ExecStart", "/usr/sbin/regiond")],
             "the unit runs the packaged binary at its install path")
    check("--config /etc/regiond/regiond.json" in unit and "@" not in unit.replace("@system-service", "")
          .replace("@privileged", "").replace("@resources", ""), "the unit names the packaged config; no "
          "unsubstituted @VAR@")
    for key in ["DynamicUser=yes", "StateDirectory=regiond", "ProtectSystem=strict", "NoNewPrivileges=yes",
                "CapabilityBoundingSet=\n", "SystemCallFilter=@system-service", "Type=notify"]:
        check(key in unit, f"packaged unit keeps {key.strip()}")
    for name, sec in re.findall(r"man:([\w.]+)\((\d)\)", unit):
        check(os.path.isfile(os.path.join(root, f"usr/share/man/man{sec}/{name}.{sec}.gz")),
              f"Documentation=man:{name}({sec}) is in the package")
    # systemd-analyze verify checks ExecStart= binaries on the host, where
    # /usr/sbin/regiond is not installed: verify a copy that points at the
    # unpacked binary (the packaged path is checked above).
    copy = os.path.join(tmpdir(), "regiond.service")
    with open(copy, "w") as f:
        f.write(unit.replace("/usr/sbin/regiond", os.path.join(root, "usr/sbin/regiond")))
    r = subprocess.run(["systemd-analyze", "verify", "--man=no", copy], capture_output=True, text=True,
                       timeout=60)
    out = (r.stdout + r.stderr).strip()
    check("Unknown key" not in out and "Failed to parse" not in out and r.returncode == 0,
          f"systemd-analyze verify: no unknown key, nothing unparsed (rc {r.returncode}) {out!r}")
    check_eq(out, "", "systemd-analyze verify printed nothing")


ROFF_CHARS = {"\\(en": "\u2013", "\\(em": "\u2014", "\\(mu": "\u00d7", "\\(<=": "\u2264", "\\(>=": "\u2265",
              "\\(->": "\u2192", "\\~": "\u00a0"}


def _man_entries(page_text):
    """(key, type, default) of each .TP entry in the regiond.json(5) source."""
    out = set()
    for m in re.finditer(r"^\.TP\n(.*)$", page_text, re.M):
        plain = re.sub(r"\\f[BIR]", "", m.group(1)).replace("\\-", "-").replace("\\e", "\\")
        for esc, ch in ROFF_CHARS.items():
            plain = plain.replace(esc, ch)
        e = re.match(r"^(.*?) \(([^;]*); (?:default (.*)|no default|required|optional)\)$", plain)
        if e:
            out.add((e.group(1), e.group(3)))
    return out


def _doc_entries(md_path):
    r = subprocess.run([sys.executable, os.path.join(SRC, "scripts", "config-man.py"), "--keys", md_path],
                       capture_output=True, text=True, timeout=30, check=True)
    out = set()
    for line in r.stdout.splitlines():
        _, key, default = line.split("\t")
        # As written in docs/config.md, less Markdown's backticks and bold.
        d = default.replace("`", "").replace("**", "")
        out.add((key.replace("`", ""), None if default in ("", "no", "**yes**") else d))
    return out


def test_man_pages():
    root = _build()["root"]
    for page in ["usr/share/man/man8/regiond.8.gz", "usr/share/man/man1/regionctl.1.gz",
                 "usr/share/man/man5/regiond.json.5.gz"]:
        r = subprocess.run(["man", "--warnings", "-l", os.path.join(root, page)], capture_output=True,
                           text=True, timeout=60, env={**os.environ, "MANWIDTH": "80", "MAN_KEEP_FORMATTING": ""})
        check(r.returncode == 0 and "NAME" in r.stdout, f"man renders {page}")
        check_eq(r.stderr.strip(), "", f"man --warnings: no warning for {page}")
    # regiond.json(5) and docs/config.md: the same keys with the same defaults.
    src = subprocess.run(["zcat", os.path.join(root, "usr/share/man/man5/regiond.json.5.gz")], capture_output=True,
                         text=True, check=True, timeout=30).stdout
    doc = _doc_entries(os.path.join(SRC, "docs", "config.md"))
    man = _man_entries(src)
    check(len(doc) > 100, f"docs/config.md has its key tables ({len(doc)} rows)")
    check_eq(sorted(man ^ doc, key=str), [], "regiond.json(5) and docs/config.md: same keys, same defaults")
    for k in ["interval_ms", "state_dir", "listen", "rise", "fall"]:
        check(any(e[0] == k for e in man), f"regiond.json(5) documents {k}")
    # The comparison can fail: a config.md with one row removed differs.
    md = open(os.path.join(SRC, "docs", "config.md")).read()
    cut = os.path.join(tmpdir(), "config.md")
    with open(cut, "w") as f:
        f.write(re.sub(r"^\| `tries` .*\n", "", md, flags=re.M))
    check_eq(sorted(d[0] for d in doc - _doc_entries(cut)), ["tries"], "the key comparison sees a missing row")


def _complete(script, words, library):
    pre = "source /usr/share/bash-completion/bash_completion; " if library else ""
    line = " ".join(words)
    prog = (f"{pre}source {script}; complete -p regionctl; "
            f"COMP_WORDS=({' '.join(repr(w) for w in words)}); COMP_CWORD={len(words) - 1}; "
            f"COMP_LINE={line!r}; COMP_POINT={len(line)}; _regionctl regionctl; "
            "printf '%s\\n' \"${COMPREPLY[@]}\"")
    r = subprocess.run(["bash", "--norc", "--noprofile", "-c", prog], capture_output=True, text=True, timeout=30)
    lines = r.stdout.splitlines()
    return r.returncode, (lines[0] if lines else ""), sorted(l for l in lines[1:] if l), r.stderr.strip()


def test_completion():
    script = os.path.join(_build()["root"], "usr/share/bash-completion/completions/regionctl")
    libs = [False] + ([True] if os.path.exists("/usr/share/bash-completion/bash_completion") else [])
    check(len(libs) == 2, "bash-completion is installed (both code paths tested)")
    for lib in libs:
        how = "with bash-completion" if lib else "plain bash"
        rc, spec, got, err = _complete(script, ["regionctl", "st"], lib)
        check_eq(spec, "complete -F _regionctl regionctl", f"{how}: complete -p regionctl")
        check_eq(got, ["status"], f"{how}: 'regionctl st<TAB>' completes status ({err})")
        _, _, got, _ = _complete(script, ["regionctl", "--api", "http://127.0.0.1:9470", "dr"], lib)
        check_eq(got, ["drain", "drill"], f"{how}: after --api URL the command completes")
        _, _, got, _ = _complete(script, ["regionctl", "drill", ""], lib)
        check_eq(got, ["list", "report", "start", "stop"], f"{how}: drill's subcommands")
        _, _, got, _ = _complete(script, ["regionctl", "status", "--"], lib)
        check_eq(got, ["--json", "--observers"], f"{how}: status --json, --observers")


def test_lintian():
    p = _build()
    r = subprocess.run(["lintian", "--info", "--display-info", "--pedantic", p["deb"]], capture_output=True,
                       text=True, timeout=240)
    tags = [l for l in (r.stdout + r.stderr).splitlines() if re.match(r"^[EWIPX]: ", l)]
    print("lintian:\n" + ("\n".join(tags) or "(nothing)"))
    errors = [l for l in tags if l.startswith("E: ")]
    check_eq(errors, [], "lintian reports no error")
    check(r.returncode == 0 or not errors, f"lintian exit status {r.returncode}")


def _files(root):
    return {os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root) for f in fs}


def test_cmake_install_same_set():
    """cmake --install (prefix /usr/local) installs what the package does,
    under the prefix, and its unit names the prefix's binary and config."""
    pkg = _build()["root"]
    dest = tmpdir("regiond-destdir-")
    build = os.path.dirname(os.path.abspath(REGIOND))
    r = subprocess.run(["cmake", "--install", build], env={**os.environ, "DESTDIR": dest}, capture_output=True,
                       text=True, timeout=60)
    check_eq(r.returncode, 0, f"cmake --install {build} ({r.stderr.strip()[-300:]})")
    debian_only = {"usr/share/doc/regiond/copyright", "usr/share/doc/regiond/changelog.gz"}
    want = {re.sub(r"^usr/", "", re.sub(r"\.gz$", "", f)) for f in _files(pkg) - debian_only}
    got = {re.sub(r"^usr/local/", "", f) for f in _files(dest)}
    check_eq(sorted(got ^ want), [], "cmake --install and the package: the same files (less the prefix)")
    unit = open(os.path.join(dest, "usr/local/lib/systemd/system/regiond.service")).read()
    check("ExecStart=/usr/local/sbin/regiond --config /usr/local/etc/regiond/regiond.json" in unit,
          "the unit installed by cmake names the prefix's binary and config")


def main():
    missing = [f"{t} ({pkg})" for t, pkg in TOOLS.items() if shutil.which(t) is None]
    if missing:
        print(f"SKIP: not installed: {', '.join(missing)} (scripts/install-deps.sh test installs them)")
        sys.exit(77)
    run_tests([test_file_set, test_cmake_install_same_set, test_example_config, test_unit, test_man_pages, test_completion, test_lintian])


if __name__ == "__main__":
    main()
