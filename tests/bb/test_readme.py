"""README.md is a promise to its reader; what of it a program can check:
  - it opens with the two set-up commands, unchanged, right after the first
    paragraph;
  - it names no issue numbers;
  - its production config passes `regiond --check-config` (with the secrets
    it names given as systemd credentials), with the "Running three
    instances" cluster section swapped in too; a copy with a typo'd key does
    not; every credential it names has a LoadCredential= line in its drop-in
    and the other way round;
  - `regiond --print-iam-policy` run as the README shows it gives a policy for
    that zone, record, guard and tables, and the heartbeat table's commands,
    and GetItem and PutItem on exactly the config's lease tables, as the
    README says;
  - its alarm table explains exactly the alarm kinds the code has
    (ALARM_KINDS in core/alarm.h; no C file raises a literal key), each with
    a meaning and an action;
  - its architecture sketch has exactly the code's folders, on the floors
    scripts/check-layers.py enforces;
  - every relative link and every #anchor leads somewhere.
Each list comparison is also run with one entry dropped and one invented, so
it is shown to fail when the lists drift."""
import glob
import json
import os
import re
import subprocess

from harness import REGIOND, SRC, check, check_eq, run_tests, tmpdir

OPENING = [
    "```sh",
    "bash scripts/demo.sh    # installs, builds, runs three simulated regions, local Route 53 and DynamoDB, "
    "the daemon; one region fails over and back",
    "bash scripts/test.sh    # installs, builds and runs every test, then again under ASan+UBSan",
    "```",
]


def readme():
    return open(os.path.join(SRC, "README.md")).read()


def section(text, heading):
    """The text under heading (a whole line) up to the next heading of the same or a higher level."""
    lines = text.split("\n")
    i = lines.index(heading)
    level = len(heading) - len(heading.lstrip("#"))
    out, fence = [], False
    for line in lines[i + 1:]:
        if line.startswith("```"):
            fence = not fence
        m = re.match(r"^(#+) ", line)
        if m and not fence and len(m.group(1)) <= level:
            break
        out.append(line)
    return "\n".join(out)


def blocks(text, lang):
    return re.findall(rf"^```{lang}\n(.*?)^```$", text, re.M | re.S)


def differ(got, want):
    dup = sorted({t for t in got if got.count(t) > 1})
    missing = sorted(set(want) - set(got))
    extra = sorted(set(got) - set(want))
    return "; ".join(f"{k}: {v}" for k, v in (("missing", missing), ("extra", extra), ("twice", dup)) if v)


def test_opening():
    lines = readme().split("\n")
    check_eq(lines[0], "# regiond", "the title")
    end = lines.index("", 2)       # the first paragraph: lines 2 .. end-1
    check(end > 2 and all(lines[2:end]), "a first paragraph follows the title")
    check_eq(lines[end + 1:end + 1 + len(OPENING)], OPENING,
             "the two set-up commands, unchanged, in one block right after it")


def test_no_issue_numbers():
    hits = re.findall(r".{0,30}\b(?:issues?|item)\s+#?\d+.{0,30}|.{0,30}#\d+\b.{0,30}", readme(), re.I)
    check_eq(hits, [], "no issue numbers in README.md")


def credentials_named(node, out):
    if isinstance(node, dict):
        if isinstance(node.get("credential"), str):
            out.append(node["credential"])
        for v in node.values():
            credentials_named(v, out)
    elif isinstance(node, list):
        for v in node:
            credentials_named(v, out)
    return out


def production():
    text = section(readme(), "## A production configuration")
    js = blocks(text, "json")
    check_eq(len(js), 1, "one JSON block in 'A production configuration'")
    cfg = json.loads(js[0])
    return text, cfg


def check_config(cfg, creds_dir, name):
    path = os.path.join(creds_dir, "..", name)
    with open(path, "w") as f:
        json.dump(cfg, f, indent=2)
    env = dict(os.environ, CREDENTIALS_DIRECTORY=creds_dir)
    return subprocess.run([REGIOND, "--check-config", path], capture_output=True, text=True, timeout=30, env=env)


def credentials_dir(cfg):
    """What systemd's LoadCredential= would give the unit: one file per credential the config names."""
    d = os.path.join(tmpdir("readme-"), "creds")
    os.mkdir(d)
    names = credentials_named(cfg, [])
    if cfg["controller"].get("token_credential"):
        names.append(cfg["controller"]["token_credential"])
    for n in set(names):
        with open(os.path.join(d, n), "w") as f:
            if n == cfg["controller"].get("token_credential"):
                f.write("ops " + os.urandom(20).hex() + "\nwall " + os.urandom(20).hex() + " ro\n")
            elif "url" in n:
                f.write("https://hooks.slack.com/services/T000/B000/XXXXXXXX\n")
            else:
                f.write(os.urandom(16).hex() + "\n")
        os.chmod(os.path.join(d, n), 0o600)
    return d, names


def test_production_config():
    text, cfg = production()
    for sec in ("controller", "regions", "route53", "decision", "dynamodb", "alarms", "cluster", "aws"):
        check(sec in cfg, f"the production example has a {sec} section")
    creds, names = credentials_dir(cfg)
    r = check_config(cfg, creds, "regiond.json")
    check_eq((r.returncode, r.stdout.strip().endswith(f"ok ({len(cfg['regions'])} regions, 3 targets)")), (0, True),
             f"regiond --check-config accepts it ({r.stdout.strip()} {r.stderr.strip()})")
    check('"...: ok (3 regions, 3 targets)"' in text, "the README shows that answer")
    bad = json.loads(json.dumps(cfg))
    bad["decision"]["hold_down"] = 300
    r = check_config(bad, creds, "typo.json")
    check(r.returncode == 1 and "decision.hold_down" in r.stderr,
          f"a copy with a typo'd key is refused, naming it ({r.stderr.strip()})")

    # the three-instance section, swapped in
    three = section(readme(), "## Running three instances")
    snippet = blocks(three, "json")
    check_eq(len(snippet), 1, "one JSON block in 'Running three instances'")
    multi = json.loads(json.dumps(cfg))
    multi["cluster"] = json.loads("{" + snippet[0] + "}")["cluster"]
    r = check_config(multi, creds, "three.json")
    check_eq(r.returncode, 0, f"its cluster section is accepted too ({r.stderr.strip()})")

    # the drop-in gives the unit every credential the config names, and no other
    ini = blocks(text, "ini")
    check_eq(len(ini), 1, "one systemd drop-in in 'A production configuration'")
    loaded = re.findall(r"^LoadCredential=([^:\n]+):(/\S+)$", ini[0], re.M)
    check_eq(differ([n for n, _ in loaded], sorted(set(names))), "",
             "LoadCredential= lines name exactly the config's credentials")
    check(differ([n for n, _ in loaded][1:], sorted(set(names))) != "", "a missing LoadCredential= line is caught")
    files = {}
    for node in credentials_walk(cfg):
        if "file" in node:
            files[node["credential"]] = node["file"]
    files[cfg["controller"]["token_credential"]] = cfg["controller"]["token_file"]
    check_eq(dict(loaded), files, "each credential loads the file the config falls back to")


def credentials_walk(node):
    if isinstance(node, dict):
        if "credential" in node:
            yield node
        for v in node.values():
            yield from credentials_walk(v)
    elif isinstance(node, list):
        for v in node:
            yield from credentials_walk(v)


def test_iam_policy_step():
    text, cfg = production()
    cmd = re.search(r"^regiond (--print-iam-policy --config /etc/regiond/regiond\.json) > \S+$", text, re.M)
    check(cmd is not None, "the README shows the --print-iam-policy step")
    creds, _ = credentials_dir(cfg)
    path = os.path.join(creds, "..", "regiond.json")
    with open(path, "w") as f:
        json.dump(cfg, f)
    args = cmd.group(1).replace("/etc/regiond/regiond.json", path).split()
    r = subprocess.run([REGIOND] + args, capture_output=True, text=True, timeout=30,
                       env=dict(os.environ, CREDENTIALS_DIRECTORY=creds))
    check(r.returncode == 0, "it exits 0" + ("" if r.returncode == 0 else f" (exit {r.returncode}: {r.stderr[:300]})"))
    pol = json.loads(r.stdout)
    check_eq(pol.get("Version"), "2012-10-17", "stdout is one IAM policy document")
    body = json.dumps(pol)
    zone, name = cfg["route53"]["hosted_zone_id"], cfg["route53"]["record_name"]
    check(f"arn:aws:route53:::hostedzone/{zone}" in body, "it is scoped to the config's hosted zone")
    change = [s for s in pol["Statement"] if "route53:ChangeResourceRecordSets" in s["Action"]]
    names = change[0]["Condition"]["ForAllValues:StringEquals"]["route53:ChangeResourceRecordSetsNormalizedRecordNames"]
    check_eq(sorted(names), sorted([name, "_regiond-epoch." + name]), "changes only the record name and its guard")
    acct = cfg["aws"]["account_id"]
    for reg in cfg["regions"]:
        check(f"arn:aws:dynamodb:{reg['name']}:{acct}:table/{cfg['dynamodb']['table']}" in body,
              f"DynamoDB statements name the table in {reg['name']}")
    unscoped = sorted(a for s in pol["Statement"] if s["Resource"] in ("*", "arn:aws:route53:::change/*")
                      for a in s["Action"])
    check_eq(unscoped, ["dynamodb:ListBackups", "route53:GetChange"],
             "only ListBackups and GetChange are unscoped, as the README says")
    for reg in cfg["regions"][1:]:
        check(f'"RegionName": "{reg["name"]}"' in r.stderr, f"stderr has the heartbeat replica command for {reg['name']}")
    check("create-table" in r.stderr and "regiond-heartbeat" in r.stderr and "create-table" not in r.stdout,
          "the heartbeat table's create-table command is on stderr")
    check("it also allows `dynamodb:GetItem` and `dynamodb:PutItem` on exactly the lease tables" in " ".join(text.split()),
          "the README says a cluster section adds the lease tables")
    pol = json.loads(r.stdout) if r.returncode == 0 else {"Statement": []}
    want = sorted(f"arn:aws:dynamodb:{t['region']}:{acct}:table/{t['table']}" for t in cfg["cluster"]["lease_tables"])
    lease = [s for s in pol["Statement"] if any(str(x).endswith(":table/" + cfg["cluster"]["lease_tables"][0]["table"])
                                                for x in (s["Resource"] if isinstance(s["Resource"], list)
                                                          else [s["Resource"]]))]
    got = sorted(x for s in lease for x in (s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]]))
    acts = sorted({a for s in lease for a in s["Action"]})
    check_eq((got, acts), (want, ["dynamodb:GetItem", "dynamodb:PutItem"]),
             "with the cluster section: GetItem and PutItem on exactly the lease tables")


KIND = re.compile(r'X\((ALARM_[A-Z0-9_]+),\s*"([A-Za-z0-9@-]+)"\)')


def code_alarm_keys():
    hits = [p for p in glob.glob(os.path.join(SRC, "*", "alarm.h")) if "ALARM_KINDS" in open(p).read()]
    check_eq(len(hits), 1, f"one alarm.h declares ALARM_KINDS ({hits})")
    text = open(hits[0]).read()
    block = text[text.index("#define ALARM_KINDS(X)"):]
    block = block[:block.index("\n\n")]
    keys = [k for _, k in KIND.findall(block)]
    check(len(keys) >= 15, f"ALARM_KINDS parsed ({len(keys)} kinds)")
    return keys


def test_alarms_explained():
    keys = code_alarm_keys()
    srcs = [p for d in os.listdir(SRC) if os.path.isdir(os.path.join(SRC, d)) and not d.startswith(".")
            and d not in ("build", "build-asan", "build-deb", "tests", "bench")
            for p in glob.glob(os.path.join(SRC, d, "*.c"))]
    literal = [os.path.relpath(p, SRC) for p in srcs if re.search(r'alarm_raise\(\s*"', open(p).read())]
    check_eq(literal, [], "no C file raises an alarm under a literal key (every key is an ALARM_KINDS kind)")
    table = section(readme(), "### Alarms: what each means and what to do")
    rows = re.findall(r"^\| `([^`]+)` \|([^|]*)\|([^|]*)\|([^|]*)\|$", table, re.M)
    got = [k for k, _, _, _ in rows]
    check_eq(differ(got, keys), "", "the README's alarm table lists exactly the ALARM_KINDS keys")
    check(differ(got[1:], keys) != "", f"the table without {got[0] if got else '?'} is caught")
    check(differ(got + ["made-up-alarm"], keys) != "", "the table with an invented key is caught")
    thin = [k for k, sev, meaning, action in rows
            if not re.search(r"critical|warning", sev) or len(meaning.strip()) < 20 or len(action.strip()) < 10]
    check_eq(thin, [], "every alarm has a severity, a meaning and what to do")


def floors():
    text = open(os.path.join(SRC, "scripts", "check-layers.py")).read()
    block = text[text.index("FLOORS = ["):]
    block = block[:block.index("\n]") + 2]
    return [re.findall(r'"([a-z]+)"', line) for line in block.split("\n")[1:-1]]


def test_architecture_sketch():
    arch = section(readme(), "## Architecture")
    sketch = re.findall(r"^```\n(.*?)^```$", arch, re.M | re.S)
    check_eq(len(sketch), 1, "one sketch under Architecture")
    rows = []
    for line in sketch[0].split("\n"):
        m = re.match(r"^ ((?:[a-z]+/ *)+)", line)
        if m:
            rows.append(re.findall(r"([a-z]+)/", m.group(1)))
    code = sorted(d for d in os.listdir(SRC) if os.path.isdir(os.path.join(SRC, d))
                  and (glob.glob(os.path.join(SRC, d, "*.c")) or d == "web") and d not in ("tests", "bench")
                  and not d.startswith("build"))
    got = [d for r in rows for d in r]
    check_eq(differ(got, code), "", f"the sketch names exactly the code's folders {code}")
    want = [f for f in reversed(floors()) if f != ["tests", "bench"]] + [["web"]]
    check_eq(rows, want, "its rows are the floors of scripts/check-layers.py, highest first (web/ apart)")


def slug(h):
    return re.sub(r"[^a-z0-9 _-]", "", h.strip().lower()).replace(" ", "-")


def test_links():
    text = readme()
    heads = {slug(h) for h in re.findall(r"^#+ (.*)$", text, re.M)}
    links = re.findall(r"\]\(([^)\s]+)\)", text)
    check(len(links) >= 10, f"links found ({len(links)})")
    bad = []
    for link in links:
        if re.match(r"^[a-z]+://", link):
            continue
        path, _, anchor = link.partition("#")
        if path:
            if not os.path.exists(os.path.join(SRC, path)):
                bad.append(link)
            elif anchor and path.endswith(".md"):
                if anchor not in {slug(h) for h in re.findall(r"^#+ (.*)$", open(os.path.join(SRC, path)).read(),
                                                              re.M)}:
                    bad.append(link)
        elif anchor not in heads:
            bad.append(link)
    check_eq(bad, [], "every relative link and anchor leads somewhere")
    for doc in ("config.md", "safety.md", "ha.md", "architecture.md", "metrics.md", "performance.md"):
        check(f"](docs/{doc}" in text, f"README links docs/{doc}")


if __name__ == "__main__":
    run_tests([test_opening, test_no_issue_numbers, test_production_config, test_iam_policy_step,
               test_alarms_explained, test_architecture_sketch, test_links])
