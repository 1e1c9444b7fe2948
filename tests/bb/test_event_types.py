"""The event types are one list in the code (FEED_EVENTS, issue 16 item 5):
README.md's list of /v1/events types and the dashboard's (web/app.js
EVENT_TYPES, which it subscribes to by name: a type missing there never
reaches the dashboard) must be exactly that list, every type in the list
must be emitted somewhere in the C code, and no C file may emit a type as a
string literal.  The same for alarm keys: docs/config.md's list is exactly
ALARM_KINDS (alarm.h) and no C file raises or resolves a literal key.  Each
list check is also run on a list with one entry removed and one added, so it
is shown to fail when the lists drift."""
import glob
import os
import re

from harness import SRC, check, check_eq, run_tests

ENTRY = re.compile(r'X\((EV_[A-Z0-9_]+),\s*"([a-z0-9_]+)",')


def header():
    """feed.h wherever the tree keeps it (daemon/ now, core/ later)."""
    hits = [p for p in glob.glob(os.path.join(SRC, "*", "feed.h")) if "FEED_EVENTS" in open(p).read()]
    check_eq(len(hits), 1, f"one feed.h declares FEED_EVENTS ({hits})")
    return hits[0]


def enum_types():
    text = open(header()).read()
    block = text[text.index("#define FEED_EVENTS(X)"):]
    block = block[:block.index("\n\n")]
    pairs = ENTRY.findall(block)
    check(len(pairs) >= 30, f"FEED_EVENTS parsed ({len(pairs)} types)")
    return pairs


KIND = re.compile(r'X\((ALARM_[A-Z0-9_]+),\s*"([A-Za-z0-9@-]+)"\)')


def alarm_kinds():
    hits = [p for p in glob.glob(os.path.join(SRC, "*", "alarm.h")) if "ALARM_KINDS" in open(p).read()]
    check_eq(len(hits), 1, f"one alarm.h declares ALARM_KINDS ({hits})")
    text = open(hits[0]).read()
    block = text[text.index("#define ALARM_KINDS(X)"):]
    block = block[:block.index("\n\n")]
    pairs = KIND.findall(block)
    check(len(pairs) >= 15, f"ALARM_KINDS parsed ({len(pairs)} kinds)")
    return pairs


def config_md_alarm_keys():
    text = open(os.path.join(SRC, "docs", "config.md")).read()
    start = text.index("An alarm is keyed:")
    para = text[start:text.index("\n\n", start)]
    para = para[para.index("Keys:"):]
    para = para[:para.index("Every key")] if "Every key" in para else para
    return re.findall(r"`([A-Za-z0-9@-]+)`", para)


def readme_types():
    text = open(os.path.join(SRC, "README.md")).read()
    start = text.index("`/v1/events` event types:")
    para = text[start:text.index("\n\n", start)]
    para = re.sub(r"\([^)]*\)", "", para[len("`/v1/events` event types:"):])   # fields, remarks
    return re.findall(r"`([a-z0-9_]+)`", para)


def web_types():
    text = open(os.path.join(SRC, "web", "app.js")).read()
    m = re.search(r"const EVENT_TYPES = \[([^\]]*)\];", text)
    check(m is not None, "web/app.js declares EVENT_TYPES")
    return re.findall(r"'([a-z0-9_]+)'", m.group(1))


def c_sources():
    out = []
    for d in sorted(os.listdir(SRC)):
        if d in ("build", "build-asan", "tests", "bench", "contrib") or d.startswith("."):
            continue
        out += glob.glob(os.path.join(SRC, d, "*.c"))
    check(len(out) > 40, f"C sources found ({len(out)})")
    return out


def differ(got, want):
    """'' when got is exactly want (no duplicates), else what differs."""
    dup = sorted({t for t in got if got.count(t) > 1})
    missing = sorted(set(want) - set(got))
    extra = sorted(set(got) - set(want))
    return "; ".join(f"{k}: {v}" for k, v in (("missing", missing), ("extra", extra), ("twice", dup)) if v)


def test_lists_match_the_enum():
    names = [n for _, n in enum_types()]
    check_eq(differ(names, names), "", "FEED_EVENTS has no type twice")
    for what, got in (("README.md", readme_types()), ("web/app.js EVENT_TYPES", web_types())):
        check_eq(differ(got, names), "", f"{what} lists exactly the FEED_EVENTS types")
        # the comparison can fail: one type dropped, one invented
        check(differ(got[1:], names) != "", f"{what} without {got[0]} is caught")
        check(differ(got + ["made_up_event"], names) != "", f"{what} with an extra type is caught")


def test_every_type_is_emitted_and_none_by_literal():
    srcs = {p: open(p).read() for p in c_sources()}
    feed_c = [p for p in srcs if p.endswith("/feed.c")]
    for enum, name in enum_types():
        users = [os.path.relpath(p, SRC) for p, t in srcs.items() if re.search(rf"\b{enum}\b", t)]
        check(users, f"{name} ({enum}) is emitted somewhere ({users})")
    literal = re.compile(r'(feed_emit|_event|_feed)\(\s*"')
    bad = [os.path.relpath(p, SRC) for p, t in srcs.items() if literal.search(t)]
    check_eq(bad, [], "no event type passed as a string literal")
    check(len(feed_c) == 1 and 'event: gap' not in srcs[feed_c[0]], "the gap frame takes its name from the enum")


def test_alarm_keys_match_the_kinds():
    keys = [k for _, k in alarm_kinds()]
    check_eq(differ(keys, keys), "", "ALARM_KINDS has no key twice")
    got = config_md_alarm_keys()
    check_eq(differ(got, keys), "", "docs/config.md lists exactly the ALARM_KINDS keys")
    check(differ(got[1:], keys) != "", f"docs/config.md without {got[0]} is caught")
    check(differ(got + ["made-up-alarm"], keys) != "", "docs/config.md with an extra key is caught")
    srcs = {p: open(p).read() for p in c_sources()}
    for enum, key in alarm_kinds():
        users = [os.path.relpath(p, SRC) for p, t in srcs.items() if re.search(rf"\b{enum}\b", t)]
        check(users, f"alarm {key} ({enum}) is raised or resolved somewhere ({users})")
    literal = re.compile(r'alarm_(raise|resolve)\(\s*"')
    bad = [os.path.relpath(p, SRC) for p, t in srcs.items() if literal.search(t)]
    check_eq(bad, [], "no alarm key passed as a string literal")
    fmt = re.compile(r'snprintf\([^;]*"(route53-drift|replica|pitr-off|pitr-drift|aws|state-corrupt)-%')
    bad = [os.path.relpath(p, SRC) for p, t in srcs.items() if fmt.search(t)]
    check_eq(bad, [], "no caller formats an alarm key itself")


if __name__ == "__main__":
    run_tests([test_lists_match_the_enum, test_every_type_is_emitted_and_none_by_literal,
               test_alarm_keys_match_the_kinds])
