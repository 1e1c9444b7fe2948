#!/usr/bin/python3
"""Generate regiond.json(5) from docs/config.md, so the two never disagree.

  scripts/config-man.py docs/config.md OUT.5 VERSION
  scripts/config-man.py --keys docs/config.md     print "section key default" per row

Every section heading (## or ###) followed by a table whose first column is
"key" becomes a subsection; each row becomes one entry: the key, its type,
its default, what is allowed and its meaning, as written in docs/config.md.
Prose between tables is left out (the page points to the full document)."""
import re
import sys

CHARS = {"\u2013": "\\(en", "\u2014": "\\(em", "\u00d7": "\\(mu", "\u2026": "...", "\u2192": "\\(->",
         "\u2264": "\\(<=", "\u2265": "\\(>=", "\u2260": "\\(!=", "\u00b1": "\\(+-", "\u2248": "\\(~~",
         "\u00b5": "\\(mc", "\u2717": "x", "\u2713": "v", "\u201c": "\\(lq", "\u201d": "\\(rq",
         "\u2018": "\\(oq", "\u2019": "\\(cq", "\u00a0": "\\~", "\u2212": "\\-", "\u00be": "\\(34", "\u00bd": "\\(12", "\u00bc": "\\(14"}


def roff(md):
    """Markdown inline text to roff: `code` bold, **x** bold, [t](l) -> t."""
    md = re.sub(r"\s*\(\[below\]\([^)]*\)\)", "", md)
    md = re.sub(r"\[([^\]]+)\]\([^)]*\)", r"\1", md)
    out = []
    for i, part in enumerate(re.split(r"(`[^`]*`)", md)):
        code = part.startswith("`") and part.endswith("`") and len(part) >= 2
        if code:
            part = part[1:-1]
        part = part.replace("\\", "\\e").replace("-", "\\-")
        for c, r in CHARS.items():
            part = part.replace(c, r)
        if not code:
            part = re.sub(r"\*\*([^*]+)\*\*", r"\\fB\1\\fR", part)
        out.append(f"\\fB{part}\\fR" if code and part else part)
    s = "".join(out)
    bad = [c for c in s if ord(c) > 126]
    if bad:
        raise SystemExit(f"config-man.py: no roff mapping for {sorted(set(bad))!r}: add it to CHARS")
    return s


def cells(line):
    line = line.strip()
    parts = re.split(r"(?<!\\)\|", line.strip("|"))
    return [p.strip().replace("\\|", "|") for p in parts]


def tables(md):
    """Yield (section, header, rows) for every key table."""
    section, lines, i = None, md.splitlines(), 0
    while i < len(lines):
        m = re.match(r"^#{2,3} (.*)$", lines[i])
        if m:
            section = m.group(1).strip()
        if lines[i].startswith("|") and i + 1 < len(lines) and re.match(r"^\|[-| :]+\|$", lines[i + 1]):
            header = [h.lower() for h in cells(lines[i])]
            rows, i = [], i + 2
            while i < len(lines) and lines[i].startswith("|"):
                rows.append(dict(zip(header, cells(lines[i]))))
                i += 1
            if header and header[0] == "key":
                yield section, header, rows
            continue
        i += 1


def keys(md):
    for section, _, rows in tables(md):
        for r in rows:
            yield section, r["key"].strip("`"), r.get("default", r.get("required", ""))


def page(md, version):
    out = [f'.TH REGIOND.JSON 5 "2026-12-05" "regiond {version}" "File Formats"',
           ".SH NAME", "regiond.json \\- regiond configuration file",
           ".SH SYNOPSIS", ".I /etc/regiond/regiond.json",
           ".SH DESCRIPTION",
           "regiond reads one JSON file.",
           "It is checked as a whole before it is used; any error rejects the whole file with one",
           "message that names the file, the key path and what was expected.",
           "Unknown keys and duplicate keys are rejected.",
           "Integers may be written 1000 or 1e3; fractions, strings and null are refused where a",
           "number is expected.",
           "Only \\fBregions\\fR is required; leave a key out to get its default.",
           ".PP",
           "A file without a \\fBroute53\\fR and a \\fBdynamodb\\fR section is monitor\\-only:",
           "regiond then writes nothing to AWS.",
           ".PP",
           "This page is generated from docs/config.md (installed under",
           ".IR /usr/share/doc/regiond/ ),",
           "which also has a full example and the error messages.",
           ".SH KEYS"]
    for section, header, rows in tables(md):
        out += [".SS " + roff(section).replace('"', "")]
        for r in rows:
            key = roff(r["key"])
            typ = roff(r.get("type", ""))
            if "default" in r:
                extra = f"default {roff(r['default'])}" if r["default"] else "no default"
            else:
                extra = "required" if "yes" in r.get("required", "") else "optional"
            out += [".TP", f"{key} ({typ}; {extra})"]
            text = roff(r.get("meaning", ""))
            if r.get("allowed"):
                text += ".\n.br\nAllowed: " + roff(r["allowed"])
            out.append(text if not text.startswith((".", "'")) or text.startswith(".br") else "\\&" + text)
    out += [".SH FILES", ".TP", ".I /etc/regiond/regiond.json",
            "The config (a monitor\\-only example as installed by the Debian package).",
            ".SH SEE ALSO", ".BR regiond (8),", ".BR regionctl (1)"]
    return "\n".join(out) + "\n"


def main():
    if sys.argv[1] == "--keys":
        for s, k, d in keys(open(sys.argv[2], encoding="utf-8").read()):
            print(f"{s}\t{k}\t{d}")
        return
    src, dst, version = sys.argv[1:4]
    import os
    os.makedirs(os.path.dirname(os.path.abspath(dst)), exist_ok=True)
    text = page(open(src, encoding="utf-8").read(), version)
    with open(dst + ".tmp", "w", encoding="ascii") as f:
        f.write(text)
    os.replace(dst + ".tmp", dst)


if __name__ == "__main__":
    main()
