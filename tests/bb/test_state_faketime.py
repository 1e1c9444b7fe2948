"""Monotonic expiries (issue 14, item 5), with libfaketime stepping regiond's
wall clock (its monotonic clock untouched) while a 30-minute drill drains a
region: +3 h leaves ~30 minutes and the drain in place at the strict Route
53 peer; a restart 10 minutes of wall time later leaves ~20; a step back of
a day (live, and across a restart) never makes the time left grow.  The
peer accepts signatures two days off (--max-skew-s), so regiond could undo
the drain at any point if it thought the drill over."""
import os
import time

from harness import check, run_tests, tmpdir, wait_for
from state_kit import NAME, Setup

LIB = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1"


def active(s, d):
    import json
    code, body = d.get("/v1/drills")
    ds = [x for x in json.loads(body) if x["state"] == "active"]
    return ds[0] if ds else None


def override_left(d):
    import json
    code, body = d.get("/v1/overrides")
    o = [x for x in json.loads(body) if x["region"] == "eu-west-1"]
    return o[0]["expires_in_s"] if o else None


def test_wall_clock_steps_during_a_drill():
    ft = os.path.join(tmpdir("ft-"), "faketime")

    def clock(offset):
        with open(ft, "w") as f:
            f.write(offset + "\n")

    clock("+0")
    s = Setup(want_weight=100, peer_args=("--max-skew-s", str(2 * 86400)))   # the peer takes the stepped clock
    s.env.update({"LD_PRELOAD": LIB, "FAKETIME_TIMESTAMP_FILE": ft, "FAKETIME_NO_CACHE": "1",
                  "FAKETIME_DONT_FAKE_MONOTONIC": "1", "ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "") +
                  ":verify_asan_link_order=0"})
    d = s.start()
    s.live_read(d)
    code, out = s.api(d, "POST", "/v1/drills", {"region": "eu-west-1", "action": "drain", "duration_s": 1800})
    check(code in (200, 201), f"30-minute drill started ({code} {out})")
    wait_for(lambda: s.peer.weights(NAME)["eu-west-1"] == 0, 10, "drill drain at the peer")
    left0 = active(s, d)["remaining_s"]
    check(1790 <= left0 <= 1800, f"~30 min left at the start ({left0} s)")
    clock("+3h")
    time.sleep(1.5)   # several drill and controller ticks on the stepped clock
    a = active(s, d)
    check(a is not None and 1780 <= a["remaining_s"] <= 1800,
          f"wall clock +3 h: the drill runs on with ~30 min left ({a and a['remaining_s']} s)")
    ol = override_left(d)
    check(ol is not None and 1780 <= ol <= 1806, f"wall clock +3 h: its override has ~30 min left ({ol} s)")
    check(s.peer.weights(NAME)["eu-west-1"] == 0, "wall clock +3 h: the drain stays at the peer")
    # A step back while running: nothing grows.
    clock("-1d")
    time.sleep(1.5)
    a = active(s, d)
    check(a is not None and a["remaining_s"] <= left0, f"wall clock -1 d live: time left does not grow ({a and a['remaining_s']} s)")
    # Restart 10 minutes of wall time later: the gap is taken off.
    clock("+3h")
    before = active(s, d)["remaining_s"]
    check(d.stop() == 0, "clean exit")
    clock("+190m")
    d = s.start()
    a = active(s, d)
    check(a is not None and before - 620 <= a["remaining_s"] <= before - 590,
          f"restart 10 min later: ~10 min less left ({before} -> {a and a['remaining_s']} s)")
    ol = override_left(d)
    check(ol is not None and before - 620 <= ol <= before - 580, f"restart 10 min later: override too ({ol} s)")
    before = a["remaining_s"]
    check(d.stop() == 0, "clean exit")
    clock("-1d")
    d = s.start()
    a = active(s, d)
    check(a is not None and a["remaining_s"] <= before, f"restart a day earlier: time left does not grow "
                                                        f"({before} -> {a and a['remaining_s']} s)")
    ol = override_left(d)
    check(ol is not None and ol <= before + 5, f"restart a day earlier: the override's does not grow ({ol} s)")
    s.live_read(d)
    check(s.peer.weights(NAME)["eu-west-1"] == 0, "the drain is still at the peer")
    check(d.stop() == 0, "clean exit")
    s.stop()


if __name__ == "__main__":
    run_tests([test_wall_clock_steps_during_a_drill])
