#!/usr/bin/python3
"""check-tests — no check in the tests that cannot fail.

    /usr/bin/python3 scripts/check-tests.py [--root DIR]

Parses every .py file below DIR/tests and DIR/bench (node_modules, build
directories and __pycache__ left out) and fails (exit 1), naming file and
line, on:
  - check(C, ...) (or harness.check, or check(cond=C)) whose condition C is
    a constant expression (literals and operators only, no name, call or
    attribute) that is true: check(True, ...), check(1, ...), check("x", ...),
    check(not False, ...) pass whatever happens.  Write the condition itself,
    e.g. `eventually(pred, timeout, what)` instead of
    `wait_for(pred, ...); check(True, what)`;
  - check_eq(A, B, ...) with both A and B constant;
  - eventually(lambda: C, ...) or wait_for(lambda: C, ...) with C a true constant;
  - a file that does not parse.
A false constant (`check(False, what)` in a branch that must not be
reached) is allowed: it fails whenever it runs.
"""
import argparse
import ast
import os
import sys

SKIP = {".git", "node_modules", "__pycache__"}
CONST_NODES = (ast.Constant, ast.UnaryOp, ast.BinOp, ast.BoolOp, ast.Compare, ast.Tuple, ast.List, ast.Set,
               ast.Dict, ast.unaryop, ast.operator, ast.boolop, ast.cmpop, ast.expr_context)


def py_files(root):
    for top in ("tests", "bench"):
        for d, dirs, files in os.walk(os.path.join(root, top)):
            dirs[:] = sorted(x for x in dirs if x not in SKIP and not x.startswith("build"))
            for f in sorted(files):
                if f.endswith(".py"):
                    yield os.path.join(d, f)


def constant(node):
    """(True, value) when node is built from literals and operators alone."""
    if node is None or not all(isinstance(n, CONST_NODES) for n in ast.walk(node)):
        return False, None
    try:
        return True, eval(compile(ast.Expression(node), "<const>", "eval"), {"__builtins__": {}})
    except Exception:   # e.g. 1 / 0: not a value, not this checker's business
        return False, None


def callee(call):
    f = call.func
    return f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None


def arg(call, i, name):
    if len(call.args) > i and not any(isinstance(a, ast.Starred) for a in call.args[:i + 1]):
        return call.args[i]
    return next((k.value for k in call.keywords if k.arg == name), None)


def problems(tree):
    for call in ast.walk(tree):
        if not isinstance(call, ast.Call):
            continue
        name = callee(call)
        if name == "check":
            is_const, v = constant(arg(call, 0, "cond"))
            if is_const and v:
                yield call.lineno, f"check({v!r}, ...) cannot fail: give it the condition itself"
        elif name == "check_eq":
            (ca, a), (cb, b) = constant(arg(call, 0, "got")), constant(arg(call, 1, "want"))
            if ca and cb:
                yield call.lineno, f"check_eq({a!r}, {b!r}, ...) compares two constants"
        elif name in ("eventually", "wait_for"):
            pred = arg(call, 0, "pred")
            if isinstance(pred, ast.Lambda):
                is_const, v = constant(pred.body)
                if is_const and v:
                    yield call.lineno, f"{name}(lambda: {v!r}, ...) is met at once: poll the condition itself"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    root = ap.parse_args().root
    bad = n = 0
    for path in py_files(root):
        n += 1
        rel = os.path.relpath(path, root)
        try:
            with open(path, encoding="utf-8") as f:
                tree = ast.parse(f.read(), filename=rel)
        except (SyntaxError, UnicodeDecodeError, ValueError) as e:
            print(f"{rel}: does not parse: {e}", file=sys.stderr)
            bad += 1
            continue
        for line, why in sorted(problems(tree)):
            print(f"{rel}:{line}: {why}", file=sys.stderr)
            bad += 1
    print(f"check-tests: {n} files, {bad} problem{'s' if bad != 1 else ''}")
    return 1 if bad or not n else 0


if __name__ == "__main__":
    sys.exit(main())
