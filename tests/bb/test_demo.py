"""The README's demo script, shortened: three regions come up, eu-west-1 breaks
and heals on its timer, and the script stops everything it started."""
import os
import re
import socket
import subprocess

from harness import REGIOND, SRC, check, check_eq, free_port, run_tests


def test_demo():
    port = free_port()
    env = dict(os.environ, DEMO_SECONDS="42", DEMO_CYCLE="32", DEMO_PENDING_MS="1000", DEMO_DRILL_S="4", DEMO_TICK="1", DEMO_PORT=str(port),
               REGIOND_BUILD=os.path.dirname(os.path.abspath(REGIOND)))
    r = subprocess.run(["bash", os.path.join(SRC, "scripts", "demo.sh")], env=env, capture_output=True,
                       text=True, timeout=120)
    out = r.stdout
    check_eq(r.returncode, 0, "demo exits 0 when DEMO_SECONDS is up")
    check(f"http://127.0.0.1:{port}/v1/status" in out, "demo prints the status URL")
    check(out.lstrip().count("Dashboard: ") and out.index("Dashboard: ") < out.index("/v1/status"),
          "the demo opens with the dashboard URL")
    check(">>> drill report:" in out and "| batch submitted |" in out and "| traffic restored (DNS-visible) |" in out,
          "a scripted drill runs and its report is printed")
    check(re.search(r">>> t=\d+s: breaking eu-west-1", out) is not None, "demo breaks eu-west-1 on its timer")
    frames = out.split("--- t=")
    states = []
    for f in frames[1:]:
        m = re.search(r"^eu-west-1\s+(\w+)", f, re.M)
        if m:
            states.append(m.group(1))
    check("down" in states, f"eu-west-1 shown down ({states})")
    check("down" in states and "up" in states[states.index("down"):], "eu-west-1 shown up again after healing")
    check(re.search(r"^us-east-1\s+up", frames[-1], re.M) is not None, "the other regions stay up")
    weights = [re.search(r"^eu-west-1\s+(-?\d+)\s+(-?\d+)\s+\d+", f, re.M) for f in frames[1:]]
    lives = [int(m.group(1)) for m in weights if m]
    check(0 in lives, f"eu-west-1's Route 53 weight went to 0 ({lives})")
    check(0 in lives and 100 in lives[lives.index(0):], "and back to 100 after it healed")
    check(re.search(r"^us-east-1\s+eu-west-1\s+1[5-9]\d\d\.\d", out, re.M) is not None,
          "demo shows replication lag per pair (1.5 s into eu-west-1)")
    check(re.search(r"^every-minute\s+us-east-1\s+\* \* \* \* \*", out, re.M) is not None,
          "demo shows the backup schedule")
    check(re.search(r">>> change .* batch submitted [0-9.]+ s, -> INSYNC [0-9.]+ s, -> visible in DNS [0-9.]+ s", out)
          is not None, "demo prints the failover timeline")
    s = socket.socket()
    s.settimeout(1)
    closed = s.connect_ex(("127.0.0.1", port)) != 0 and s.connect_ex(("127.0.0.12", 8080)) != 0
    s.close()
    check(closed, "daemon and nginx stopped when the demo ended")


if __name__ == "__main__":
    run_tests([test_demo])
