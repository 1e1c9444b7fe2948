"""--check-config checks what the daemon checks at start (issue 14, item 7):
the token file (missing, mode 0644, a directory, a bad line, a short
token), more regions than failover manages, a name server that is not an
address, a state_dir that cannot be used.  Each is refused with the key
path named, and the daemon itself refuses the same config with the same
key path; the config the cases are cut from prints ok (so the check can
fail), and so do 64 regions."""
import json
import os
import subprocess

from harness import REGIOND, check, check_eq, free_port, run_tests, tmpdir, token_file


def base(tokens, state_dir, n=2):
    return {"controller": {"id": "cc", "listen": f"127.0.0.1:{free_port()}", "state_dir": state_dir,
                           "token_file": tokens},
            "route53": {"hosted_zone_id": "Z0REGIONDTEST1", "record_name": "api.example.test.", "record_type": "A",
                        "name_servers": ["127.0.0.1:5353", "[::1]:53", "192.0.2.53"]},
            "regions": [{"name": f"r{i}", "api": [{"url": f"http://127.0.0.1:{9000 + i}/health"}],
                         "route53": {"value": f"127.0.0.{10 + i % 200}", "weight": 100}} for i in range(n)]}


def run(args, cfg, timeout=10):
    d = tmpdir("cc-")
    p = os.path.join(d, "regiond.json")
    with open(p, "w") as f:
        json.dump(cfg, f)
    env = dict(os.environ, AWS_ACCESS_KEY_ID="AKIDX", AWS_SECRET_ACCESS_KEY="x" * 20)
    r = subprocess.run([REGIOND, *args, p], capture_output=True, text=True, timeout=timeout, env=env)
    return r.returncode, r.stdout + r.stderr


def test_each_case_refused_with_key_path():
    good_tokens, _ = token_file()
    sd = tmpdir("cc-state-")
    rc, out = run(["--check-config"], base(good_tokens, sd))
    check_eq(rc, 0, f"the base config is ok ({out.strip()})")
    rc, out = run(["--check-config"], base(good_tokens, sd, n=64))
    check_eq(rc, 0, f"64 regions are ok ({out.strip()[:120]})")
    d = tmpdir("cc-tok-")
    loose, _ = token_file(mode=0o644)
    bad_line = os.path.join(d, "bad-line")
    short = os.path.join(d, "short")
    for path, text in ((bad_line, "just-one-field\n"), (short, "ops abc\n")):
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, 0o600)
    a_file = os.path.join(d, "a-file")
    open(a_file, "w").close()
    cases = [
        ("token file missing", dict(token_file=os.path.join(d, "nope")), "controller.token_file", "cannot read"),
        ("token file mode 0644", dict(token_file=loose), "controller.token_file", "readable by group or others"),
        ("token file a directory", dict(token_file=d), "controller.token_file", "not a regular file"),
        ("token file bad line", dict(token_file=bad_line), "controller.token_file", "line 1"),
        ("token too short", dict(token_file=short), "controller.token_file", "line 1"),
        ("state_dir a file", dict(state_dir=a_file), "controller.state_dir", "not writable"),
    ]
    for what, ctl, key, why in cases:
        cfg = base(good_tokens, sd)
        cfg["controller"].update(ctl)
        for args in (["--check-config"], ["--config"]):
            rc, out = run(args, cfg)
            check(rc != 0 and key in out and why in out and "ok (" not in out,
                  f"{what}: {args[0]} refuses, naming {key} (rc {rc}: {out.strip()[-200:]})")
    cfg = base(good_tokens, sd, n=65)
    for args in (["--check-config"], ["--config"]):
        rc, out = run(args, cfg)
        check(rc != 0 and "regions" in out and "at most 64" in out, f"65 regions: {args[0]} refuses ({out.strip()[-160:]})")
    for ns in ("not-an-ip:53", "127.0.0.1:99999", "[::1", "example.com"):
        cfg = base(good_tokens, sd)
        cfg["route53"]["name_servers"] = ["127.0.0.1:53", ns]
        for args in (["--check-config"], ["--config"]):
            rc, out = run(args, cfg)
            check(rc != 0 and "route53.name_servers[1]" in out,
                  f"name server {ns!r}: {args[0]} refuses, naming route53.name_servers[1] ({out.strip()[-160:]})")


if __name__ == "__main__":
    run_tests([test_each_case_refused_with_key_path])
