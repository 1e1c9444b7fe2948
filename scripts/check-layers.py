#!/usr/bin/python3
"""check-layers — the floors of docs/architecture.md ("Floors"), enforced.

    /usr/bin/python3 scripts/check-layers.py [--root DIR]

Reads every `#include "..."` of every .c and .h file below the repository
root (build directories, .git and node_modules left out) and fails (exit 1)
when:
  - an include does not name its folder from the repository root
    ("core/loop.h", never "loop.h" or "../core/loop.h"), or names no file;
  - a file of a folder not in FLOORS includes or is included (every folder
    with C code has its floor);
  - an include goes up (to a folder on a higher floor) or sideways (to
    another folder of the same floor: each folder includes only itself and
    lower floors);
  - the folders include each other in a cycle (impossible while the two
    rules above hold; checked on its own all the same).
It prints the folder include graph (includes per folder pair) either way.
"""
import argparse
import os
import re
import sys

# Lowest first.  A folder includes only its own and lower floors.
FLOORS = [
    ["config"],                                   # pure parsing and validation, cron
    ["core"],                                     # loop, log, state, feed, alarm, resolver, c-ares, hist
    ["aws"],                                      # AWS client, credentials, XML/JSON, ddb_call
    ["probes", "failover", "backup", "systemd", "cluster"],  # modules: report up through callbacks
    ["daemon", "ctl"],                            # control, targets, drills, API/web, main; regionctl
    ["tests", "bench"],                           # may use anything
]
SKIP = {".git", "node_modules", "__pycache__"}
INC = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def sources(root):
    for d, dirs, files in os.walk(root):
        rel = os.path.relpath(d, root)
        dirs[:] = sorted(x for x in dirs if x not in SKIP and not x.startswith("build")
                         and not (rel == "." and x.startswith(".")))
        for f in sorted(files):
            if f.endswith((".c", ".h")):
                yield os.path.normpath(os.path.join(rel, f))


def folder(path):
    return path.split(os.sep)[0] if os.sep in path else "."


def find_cycles(edges):
    """Strongly connected components with more than one folder (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    nodes = sorted({a for a, _ in edges} | {b for _, b in edges})
    succ = {n: sorted(b for a, b in edges if a == n) for n in nodes}

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in succ[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for n in nodes:
        if n not in index:
            visit(n)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    root = os.path.abspath(ap.parse_args().root)
    floor = {f: i for i, fl in enumerate(FLOORS) for f in fl}
    errors, graph = [], {}
    for src in sources(root):
        with open(os.path.join(root, src), encoding="utf-8", errors="replace") as f:
            text = f.read()
        a = folder(src)
        for m in INC.finditer(text):
            inc = m.group(1)
            line = text.count("\n", 0, m.start()) + 1
            where = f"{src}:{line}: #include \"{inc}\""
            if "/" not in inc or inc.startswith(".") or os.path.normpath(inc) != inc:
                errors.append(f"{where}: name the header from the repository root (\"folder/{os.path.basename(inc)}\")")
                continue
            if not os.path.isfile(os.path.join(root, inc)):
                errors.append(f"{where}: no such file from the repository root")
                continue
            b = folder(inc)
            graph[(a, b)] = graph.get((a, b), 0) + 1
            for x in (a, b):
                if x not in floor:
                    errors.append(f"{where}: folder {x}/ has no floor: add it to FLOORS in scripts/check-layers.py")
            if a in floor and b in floor and floor[b] > floor[a]:
                errors.append(f"{where}: goes up from {a}/ (floor {floor[a]}) to {b}/ (floor {floor[b]}): "
                              "pass a callback down instead (docs/architecture.md, Floors)")
            elif a in floor and b in floor and a != b and floor[b] == floor[a]:
                errors.append(f"{where}: goes sideways from {a}/ to {b}/ (both floor {floor[a]}): "
                              "move what both need down a floor, or pass a callback")
    print("floors, lowest first: " + " -> ".join("/".join(fl) for fl in FLOORS))
    print("folder include graph (includes per pair, within a folder in brackets):")
    for (a, b), n in sorted(graph.items(), key=lambda kv: (floor.get(kv[0][0], 99), kv[0])):
        print(f"  {a:>8} -> {b:<8} {'(' + str(n) + ')' if a == b else n}")
    for comp in find_cycles([e for e in graph if e[0] != e[1]]):
        errors.append("folders include each other in a cycle: " + ", ".join(comp))
    for e in errors:
        print("check-layers: " + e, file=sys.stderr)
    if errors:
        print(f"check-layers: FAILED ({len(errors)} problems)", file=sys.stderr)
        return 1
    print("check-layers: ok (no include goes up a floor or sideways, no cycle between folders)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
