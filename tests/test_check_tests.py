#!/usr/bin/python3
"""test_check_tests — scripts/check-tests.py fails where it must.

The real tree passes (that is also the ctest check_tests_lint).  In a
temporary directory: a copy of a real black-box test passes; the same copy
with one real check's condition replaced by True fails, naming that line;
then each planted check that cannot fail (True, 1, a string, `not False`,
harness.check, a keyword cond, check_eq of two constants, eventually of a
constant lambda) fails with file, line and why, while checks that can fail
(a name, a call, False in an unreachable branch) pass; and a file that does
not parse fails."""
import os
import re
import shutil
import subprocess
import sys
import tempfile

SRC = os.environ.get("REGIOND_SRC", os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
CHECK = os.path.join(SRC, "scripts", "check-tests.py")
REAL = os.path.join("tests", "bb", "test_ddb_peer.py")
fails = 0


def run(root):
    p = subprocess.run(["/usr/bin/python3", CHECK, "--root", root], capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout, p.stderr


def expect(name, ok, rc, out, err, needles=()):
    global fails
    good = (rc == 0) if ok else (rc == 1 and all(n in err for n in needles))
    print(f"{'ok  ' if good else 'FAIL'} {name}: rc={rc}")
    if not good:
        fails += 1
        print(out, err, sep="\n")


def tree_with(files):
    """A root holding tests/bb/FILE = TEXT for each (FILE, TEXT)."""
    t = tempfile.mkdtemp(prefix="check-tests-")
    os.makedirs(os.path.join(t, "tests", "bb"))
    for name, text in files:
        with open(os.path.join(t, "tests", "bb", name), "w") as f:
            f.write(text)
    return t


def case(name, line, *needles, ok=False):
    text = f"from harness import check, check_eq, eventually\nimport harness\n\n\ndef test_x(x):\n    {line}\n"
    t = tree_with([("test_planted.py", text)])
    try:
        expect(name, ok, *run(t), needles=needles)
    finally:
        shutil.rmtree(t)


expect("the tree itself", True, *run(SRC))

real = open(os.path.join(SRC, REAL)).read()
t = tree_with([(os.path.basename(REAL), real)])
try:
    expect(f"an untouched copy of {REAL}", True, *run(t))
    m = re.search(r"^( +)check\((?!False)[^,\n]+,", real, re.M)
    n = real[:m.start()].count("\n") + 1
    with open(os.path.join(t, REAL), "w") as f:
        f.write(real[:m.start()] + f"{m.group(1)}check(True," + real[m.end():])
    expect(f"{REAL} with line {n}'s condition replaced by True", False, *run(t),
           needles=[f"{REAL}:{n}: check(True, ...) cannot fail"])
finally:
    shutil.rmtree(t)

P = "tests/bb/test_planted.py:6: "
case("check(True, ...)", 'check(True, "the drain landed")', P + "check(True, ...) cannot fail")
case("check(1, ...)", 'check(1, "the drain landed")', P + "check(1, ...) cannot fail")
case("check of a non-empty string", 'check("yes", "the drain landed")', P + "check('yes', ...) cannot fail")
case("check(not False, ...)", 'check(not False, "the drain landed")', P + "check(True, ...) cannot fail")
case("check(1 == 1, ...)", 'check(1 == 1, "the drain landed")', P + "check(True, ...) cannot fail")
case("harness.check(True, ...)", 'harness.check(True, "the drain landed")', P + "check(True, ...) cannot fail")
case("check(cond=True, ...)", 'check(cond=True, what="the drain landed")', P + "check(True, ...) cannot fail")
case("check_eq of two constants", 'check_eq(0, 0, "exit code")', P + "check_eq(0, 0, ...) compares two constants")
case("eventually(lambda: True, ...)", 'eventually(lambda: True, 5, "the drain landed")',
     P + "eventually(lambda: True, ...) is met at once")
case("check(x, ...)", 'check(x, "the drain landed")', ok=True)
case("check of a call", 'check(x.stop() == 0, "clean exit")', ok=True)
case("check(False, ...) in a branch", 'check(False, "never reached")', ok=True)
case("check_eq(x, 0, ...)", 'check_eq(x, 0, "exit code")', ok=True)
case("eventually(lambda: x, ...)", 'eventually(lambda: x, 5, "x")', ok=True)
case("a file that does not parse", 'check(x, "unclosed"', "tests/bb/test_planted.py: does not parse")
print("test_check_tests: " + ("FAILED" if fails else "ok"))
sys.exit(1 if fails else 0)
