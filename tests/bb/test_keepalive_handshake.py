"""full_handshake_s with keepalive (issue 15, item 9): a kept-alive HTTPS
target still verifies its certificate in a new, full (not resumed) TLS
handshake at least every full_handshake_s, and the status field
`last.full_handshake` is true only for a probe that made one.  Counted at
nginx: its access log gives each request's connection, the request's number
on it and whether the TLS session was resumed."""
import os
import subprocess
import time

from harness import Daemon, Nginx, check, check_eq, free_port, make_config, run_tests, tmpdir

WINDOW_S = 6.0


def make_cert(d):
    crt, key = os.path.join(d, "t.crt"), os.path.join(d, "t.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", key, "-out", crt, "-days", "30", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=30)
    return crt, key


def per_uri(ngx, uri):
    """{connection: [(request number, resumed flag)]} for requests to URI."""
    out = {}
    for conn, n, u, status, reused in ngx.access_tls():
        if u == uri and status == 200:
            out.setdefault(conn, []).append((n, reused))
    return out


def test_keepalive_reverifies():
    crt, key = make_cert(tmpdir())
    # One port per target: curl pools connections per host and port, so
    # targets on one port could share them.
    p1, p2 = free_port(), free_port()
    ngx = Nginx([], tls_ports=[p1, p2], cert=crt, key=key)
    # "period": keep-alive, a full handshake every second; "long": every
    # minute (so within the window only the first probe makes one).
    regions = [{"name": "period", "api": [{"url": f"https://127.0.0.1:{p1}/health?period", "keepalive": True, "full_handshake_s": 1,
                                           "interval_ms": 250, "timeout_ms": 200}]},
               {"name": "long", "api": [{"url": f"https://127.0.0.1:{p2}/health?long", "keepalive": True, "full_handshake_s": 60,
                                         "interval_ms": 250, "timeout_ms": 200}]}]
    d = Daemon(make_config(regions, tmpdir(), free_port(), tls={"ca_file": crt}))
    d.wait_target("period", "up")
    d.wait_target("long", "up")
    time.sleep(1.2)   # "long"'s first (full) probe is well behind us
    flags = {"period": [], "long": []}
    t_end = time.monotonic() + WINDOW_S
    while time.monotonic() < t_end:
        for r in flags:
            last = d.target(r)["last"]
            flags[r].append((last["at"], last["full_handshake"]))
        time.sleep(0.05)
    check_eq(d.stop(), 0, "clean exit")
    ngx.stop()

    period, long_ = per_uri(ngx, "/health?period"), per_uri(ngx, "/health?long")
    print(f"period connections: {period}; long connections: {long_}", flush=True)
    # A forced full handshake is a connection of its own, closed after its
    # one request; the target's kept-alive connection carries the rest.
    forced = [c for c in period.values() if len(c) == 1]
    kept = [c for c in period.values() if len(c) > 1]
    print(f"period: {len(forced)} one-request (forced) connections, kept-alive ones {[len(c) for c in kept]}; "
          f"long: {sorted(len(c) for c in long_.values())}", flush=True)
    # The run lasted about WINDOW_S + 2.5 s (up, wait, window): one a second.
    check(WINDOW_S / 1.5 <= len(forced) <= WINDOW_S + 4,
          f"full_handshake_s 1: a new connection about every second ({len(forced)})")
    check(len(kept) == 1 and len(kept[0]) >= 10,
          f"keep-alive goes on on one connection ({[len(c) for c in kept]} requests)")
    # Every forced connection is a full handshake; the target's first connection too (nothing to resume
    # yet). The kept-alive connection may resume a session of this target (its certificate was verified
    # in that session's full handshake): when the first probe fails (a timeout on a loaded machine),
    # rounds are forced until one full handshake succeeds, and the kept-alive connection opens after.
    first = period[min(period)][0]
    check(first == (1, ".") and all(c[0] == (1, ".") for c in forced),
          f"the first connection and every forced one began with a full handshake, no resumed session "
          f"(first {first}, forced {[c[0] for c in forced]})")
    # "long": the first forced one would come at a random point of the second half of the period (targets
    # started together do not all reconnect at once): with 60 s, none in the first 30 s, and this run is
    # far shorter. So one kept-alive connection, reused throughout; before it only start-up rounds that
    # had no full handshake yet (single requests, full handshakes).
    long_kept = [c for c in long_.values() if len(c) > 1]
    long_rest = [c for c in long_.values() if len(c) == 1]
    check(len(long_kept) == 1 and long_[min(long_)][0] == (1, ".") and all(c == [(1, ".")] for c in long_rest),
          f"full_handshake_s 60: one connection reused throughout, the first fully verified ({long_})")

    # The status field tells the truth: distinct probes (by time) of
    # "period" include full handshakes and reused-connection probes;
    # "long" made none in the window.
    per = dict(flags["period"])
    check(any(per.values()) and not all(per.values()),
          f"period: last.full_handshake true for some probes, false for others "
          f"({sum(per.values())} of {len(per)})")
    full = sum(per.values())
    check(full <= len(forced), f"no more probes claim a full handshake than nginx saw "
                               f"({full} <= {len(forced)})")
    lng = sorted(dict(flags["long"]).items())
    claims = [at for at, full in lng if full]
    check(lng and claims in ([], [lng[0][0]]),
          f"long: only the probe that opened the connection (the earliest) may claim a full handshake "
          f"({len(claims)} of {len(lng)})")


if __name__ == "__main__":
    run_tests([test_keepalive_reverifies])
