"""Config numbers a hostile or careless author chose (issue 14, range checks):
huge, negative, zero where meaningless, fractional, 2^32 (which would wrap
in 32 bits), and 1e999 (infinity to a JSON parser).  Each is refused by
--check-config with the file, the key path and what is expected; the list
limits that keep the daemon from half-running (more name servers than the
DNS check asks, a resolver list c-ares would refuse at start) are refused by
--check-config and by the daemon alike, and the limits themselves pass (so
the checks can fail)."""
import json
import os
import subprocess

from harness import REGIOND, check, check_eq, run_tests, tmpdir, token_file
from test_state_check_config import base

CASES = [
    # (what, how to change the base config, raw JSON for the "RAW" placeholder, key path, expectation)
    ("interval huge", lambda c: c.update(probe_defaults={"interval_ms": 1e300}), None,
     "probe_defaults.interval_ms", "expected an integer from 100 to 3600000"),
    ("interval negative", lambda c: c.update(probe_defaults={"interval_ms": -5}), None,
     "probe_defaults.interval_ms", "expected an integer from 100 to 3600000"),
    ("interval zero", lambda c: c.update(probe_defaults={"interval_ms": 0}), None,
     "probe_defaults.interval_ms", "expected an integer"),
    ("timeout fractional", lambda c: c.update(probe_defaults={"timeout_ms": 2.5}), None,
     "probe_defaults.timeout_ms", "expected an integer"),
    ("rise zero in a target", lambda c: c["regions"][1]["api"][0].update(rise=0), None,
     "regions[1].api[0].rise", "expected an integer from 1 to 100"),
    ("window zero", lambda c: c.update(decision={"window_s": 0}), None,
     "decision.window_s", "expected an integer from 1 to 604800"),
    ("hold-down 1e19", lambda c: c.update(decision={"hold_down_s": 1e19}), None,
     "decision.hold_down_s", "expected an integer from 0 to 86400"),
    ("ttl negative", lambda c: c["route53"].update(ttl=-1), None,
     "route53.ttl", "expected an integer from 0 to 2147483647"),
    ("rate infinite", lambda c: c.update(aws={"route53_rate_per_s": "RAW"}), "1e999",
     "aws.route53_rate_per_s", "expected a number from 0.1 to 5"),
    ("events ring 2^32", lambda c: c["controller"].update(events_ring=2 ** 32), None,
     "controller.events_ring", "expected an integer from 16 to 1000000"),
    ("api connections 2^32+1", lambda c: c["controller"].update(max_api_connections=2 ** 32 + 1), None,
     "controller.max_api_connections", "expected an integer from 4 to 65536"),
    ("retry base negative", lambda c: c.update(alarms={"retry_base_ms": -1}), None,
     "alarms.retry_base_ms", "expected an integer"),
    ("retry max below base", lambda c: c.update(aws={"retry": {"base_ms": 5000, "max_ms": 10}}), None,
     "aws.retry", "expected"),
    ("nine name servers", lambda c: c["route53"].update(name_servers=[f"127.0.0.1:{5000 + i}" for i in range(9)]),
     None, "route53.name_servers", "expected at most 8 name servers"),
    ("33 resolvers", lambda c: c.update(resolver={"servers": [f"127.0.0.{i + 1}" for i in range(33)]}), None,
     "resolver.servers", "expected at most 32 servers"),
]


def write(cfg, raw=None):
    text = json.dumps(cfg)
    if raw is not None:
        text = text.replace('"RAW"', raw)
    p = os.path.join(tmpdir("cr-"), "regiond.json")
    with open(p, "w") as f:
        f.write(text)
    return p


def run(args, path, timeout=10):
    env = dict(os.environ, AWS_ACCESS_KEY_ID="AKIDX", AWS_SECRET_ACCESS_KEY="x" * 20)
    r = subprocess.run([REGIOND, *args, path], capture_output=True, text=True, timeout=timeout, env=env)
    return r.returncode, r.stdout + r.stderr


def test_hostile_numbers_refused():
    tokens, _ = token_file()
    sd = tmpdir("cr-state-")
    rc, out = run(["--check-config"], write(base(tokens, sd)))
    check_eq(rc, 0, f"the base config is ok ({out.strip()})")
    for what, change, raw, key, expect in CASES:
        cfg = base(tokens, sd)
        change(cfg)
        path = write(cfg, raw)
        rc, out = run(["--check-config"], path)
        check(rc != 0 and f"{path}: {key}" in out and expect in out and "ok" not in out.split(),
              f"{what}: refused naming the file, {key} and the expectation ({rc}: {out.strip()[:200]})")


def test_list_limits():
    tokens, _ = token_file()
    sd = tmpdir("cr-state-")
    at = base(tokens, sd)
    at["route53"]["name_servers"] = [f"127.0.0.1:{5000 + i}" for i in range(8)]
    at["resolver"] = {"servers": [f"[2001:db8::{i + 1}]:5353" for i in range(32)]}
    rc, out = run(["--check-config"], write(at))
    check_eq(rc, 0, f"8 name servers and 32 resolvers (long IPv6 with ports) are ok ({out.strip()[:200]})")
    for what, change, raw, key, expect in CASES[-2:]:
        cfg = base(tokens, sd)
        change(cfg)
        path = write(cfg, raw)
        rc, out = run(["--config"], path)
        check(rc != 0 and key in out and expect in out, f"{what}: the daemon refuses it too ({rc}: {out.strip()[:200]})")


if __name__ == "__main__":
    run_tests([test_hostile_numbers_refused, test_list_limits])
