#!/usr/bin/python3
"""test_check_layers — scripts/check-layers.py fails where it must.

On a copy of the tree's C sources (in a temporary directory): the copy as it
is passes; then, each on a fresh copy, one injected fault must fail the check
with its own message: an include that goes up a floor (core/ including
daemon/), a cycle between two folders of one floor (probes/ <-> failover/), a
bare include that hides its folder, and a folder with no floor.  The real
tree must pass too (that is also the ctest check_layers)."""
import os
import re
import shutil
import subprocess
import sys
import tempfile

SRC = os.environ.get("REGIOND_SRC", os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
CHECK = os.path.join(SRC, "scripts", "check-layers.py")
fails = 0


def run(root):
    p = subprocess.run(["/usr/bin/python3", CHECK, "--root", root], capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout, p.stderr


def copy_tree(dst):
    for d, dirs, files in os.walk(SRC):
        rel = os.path.relpath(d, SRC)
        dirs[:] = [x for x in dirs if x not in (".git", "node_modules") and not x.startswith("build")]
        for f in files:
            if f.endswith((".c", ".h")):
                os.makedirs(os.path.join(dst, rel), exist_ok=True)
                shutil.copy(os.path.join(d, f), os.path.join(dst, rel, f))


def add_include(root, path, inc):
    p = os.path.join(root, path)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    with open(p, "a") as f:
        f.write(f'\n#include "{inc}"\n')


def expect(name, ok, rc, out, err, needles=()):
    global fails
    good = (rc == 0) if ok else (rc == 1 and all(n in err for n in needles))
    print(f"{'ok  ' if good else 'FAIL'} {name}: rc={rc}")
    if not good:
        fails += 1
        print(out, err, sep="\n")


def case(name, faults, *needles):
    with tempfile.TemporaryDirectory(prefix="check-layers-") as t:
        copy_tree(t)
        for path, inc in faults:
            add_include(t, path, inc)
        expect(name, False, *run(t), needles=needles)


rc, out, err = run(SRC)
expect("the tree itself", True, rc, out, err)
if not re.search(r"^ *core -> config +[0-9]+$", out, re.M):
    fails += 1
    print("FAIL the graph is not printed:\n" + out)
with tempfile.TemporaryDirectory(prefix="check-layers-") as t:
    copy_tree(t)
    expect("an untouched copy", True, *run(t))
case("core/ includes daemon/ (up a floor)", [("core/log.c", "daemon/control.h")],
     "core/log.c:", 'include "daemon/control.h": goes up from core/ (floor 1) to daemon/ (floor 4)')
case("aws/ includes probes/ (up a floor)", [("aws/ddb_call.c", "probes/ddb.h")], "goes up from aws/")
case("backup/ includes probes/ (sideways on one floor)", [("backup/backup.c", "probes/ddb.h")],
     "goes sideways from backup/ to probes/ (both floor 3)")
case("probes/ <-> failover/ (a cycle on one floor)",
     [("probes/http.c", "failover/health.h"), ("failover/health.c", "probes/http.h")],
     "goes sideways from probes/ to failover/", "cycle: failover, probes")
case("cluster/ includes failover/ (sideways on one floor)", [("cluster/lease.c", "failover/route53.h")],
     "goes sideways from cluster/ to failover/ (both floor 3)")
case("failover/ includes cluster/ (sideways on one floor)", [("failover/route53.c", "cluster/lease.h")],
     "goes sideways from failover/ to cluster/")
case("a bare include", [("core/log.c", "loop.h")], "name the header from the repository root")
case("a folder with no floor", [("newfloor/x.c", "core/log.h")], "newfloor/ has no floor")
print("test_check_layers: " + ("FAILED" if fails else "ok"))
sys.exit(1 if fails else 0)
