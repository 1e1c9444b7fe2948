"""TLS and DNS against real peers: a self-signed certificate fails
verification (and passes with the per-target insecure flag or the right CA),
certificate expiry is exported, a replaced certificate shows within the full
handshake interval, names resolve through c-ares against a local dnsmasq and
NXDOMAIN gives a clear reason."""
import os
import signal
import subprocess

from harness import (Daemon, Dnsmasq, Nginx, check, check_eq, free_port, make_config, run_tests,
                     tmpdir, wait_for)


def make_cert(d, name, days=30):
    crt, key = os.path.join(d, name + ".crt"), os.path.join(d, name + ".key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", key, "-out", crt, "-days", str(days), "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=30)
    return crt, key


def test_tls():
    d = tmpdir()
    crt, key = make_cert(d, "a")
    p = free_port()
    ngx = Nginx([], tls_ports=[p], cert=crt, key=key)
    url = f"https://127.0.0.1:{p}/health"
    regions = [{"name": "verify", "api": [{"url": url}]},
               {"name": "insecure", "api": [{"url": url, "insecure": True}]}]
    dm = Daemon(make_config(regions, tmpdir(), free_port()))
    t = dm.wait_target("verify", "down")
    check(t["reason"].startswith("tls: certificate verify failed"), f"self-signed: verify fails ({t['reason']})")
    t = dm.wait_target("insecure", "up")
    check(t["insecure"] is True, "insecure flag shown in status")
    check(t["cert_expiry_days"] is not None and 28 < t["cert_expiry_days"] <= 30.1,
          f"cert expiry days exported ({t['cert_expiry_days']})")
    check_eq(dm.stop(), 0, "clean exit")

    # Trusting the test CA: verified probes succeed; then the certificate is
    # replaced by one from another key: a resumed session would hide it, the
    # forced full handshake must not.
    regions = [{"name": "ca", "api": [{"url": url, "full_handshake_s": 2, "interval_ms": 300,
                                       "timeout_ms": 250}]}]
    dm = Daemon(make_config(regions, tmpdir(), free_port(), tls={"ca_file": crt}))
    t = dm.wait_target("ca", "up")
    check(t["cert_expiry_days"] is not None, "expiry read on a verified full handshake")
    wait_for(lambda: dm.target("ca")["counters"]["probes"] >= 8, 10, "several probes (resumed sessions)")
    check_eq(dm.target("ca")["state"], "up", "still up across resumed handshakes")
    reqs = [x for x in ngx.access_tls() if x[3] == 200]
    reused = [x for x in reqs if x[4] == "r"]
    check(len(reused) >= len(reqs) // 2, f"TLS sessions resumed ({len(reused)} of {len(reqs)})")
    check(len(reqs) - len(reused) >= 2, "full handshakes still happen")
    crt2, key2 = make_cert(d, "b")
    os.replace(crt2, crt + ".new")
    os.replace(key2, key + ".new")
    # nginx keeps serving: point its config at the new pair and reload it.
    conf = os.path.join(ngx.dir, "nginx.conf")
    text = open(conf).read().replace(crt, crt + ".new").replace(key, key + ".new")
    open(conf, "w").write(text)
    ngx.proc.send_signal(signal.SIGHUP)
    t = dm.wait_target("ca", "down", timeout=15)
    check(t["reason"].startswith("tls: certificate verify failed"), f"replaced certificate detected ({t['reason']})")
    check_eq(dm.stop(), 0, "clean exit")
    ngx.stop()


def test_expiry_after_late_start():
    """A target whose first (forced) probe found nothing listening: the
    certificate's expiry must be read by the first round that reaches it,
    not a whole full_handshake_s later (its connections were full handshakes
    anyway: there was no session to resume)."""
    d = tmpdir()
    crt, key = make_cert(d, "late")
    p = free_port()
    url = f"https://127.0.0.1:{p}/health"
    regions = [{"name": "late", "api": [{"url": url, "full_handshake_s": 3600, "interval_ms": 300,
                                         "timeout_ms": 250}]}]
    dm = Daemon(make_config(regions, tmpdir(), free_port(), tls={"ca_file": crt}))
    t = dm.wait_target("late", "down")
    check(t["cert_expiry_days"] is None, "no expiry while nothing listens")
    ngx = Nginx([], tls_ports=[p], cert=crt, key=key)
    t = dm.wait_target("late", "up", timeout=15)
    check(t["cert_expiry_days"] is not None and 28 < t["cert_expiry_days"] <= 30.1,
          f"expiry read once the target answers ({t['cert_expiry_days']})")
    check_eq(dm.stop(), 0, "clean exit")
    ngx.stop()


def test_dns():
    p = free_port()
    ngx = Nginx([p])
    dns = Dnsmasq({"api.good.test": "127.0.0.1"}, ttl=2,
                  extra=["address=/multi.test/127.0.0.1", "address=/multi.test/127.0.0.2"])
    regions = [{"name": "good", "api": [{"url": f"http://api.good.test:{p}/health", "ip_version": 4}]},
               {"name": "nx", "api": [{"url": f"http://api.nope.test:{p}/health"}]},
               {"name": "multi", "api": [{"url": f"http://multi.test:{p}/health", "ip_version": 4}]}]
    cfg = make_config(regions, tmpdir(), free_port(),
                      resolver={"servers": [f"127.0.0.1:{dns.port}"], "min_ttl_s": 1})
    d = Daemon(cfg)
    t = d.wait_target("good", "up")
    check_eq(t["last"]["addr"], "127.0.0.1", "probed the address dnsmasq gave")
    t = d.wait_target("nx", "down")
    check_eq(t["reason"], "dns: api.nope.test: name not found (NXDOMAIN)", "NXDOMAIN reason")
    # Two addresses, one listening: each probed on its own, the bad one named.
    t = d.wait_target("multi", "down")
    check_eq(t["reason"], "127.0.0.2: connect: refused", "failing address named in the reason")
    got = sorted((a["addr"], a["outcome"]) for a in t["addresses"])
    check_eq(got, [("127.0.0.1", "ok"), ("127.0.0.2", "connect")], "every address probed on its own")
    code, body = d.get("/metrics")
    text = body.decode()
    hits = [l for l in text.splitlines() if l.startswith("regiond_dns_cache_hits_total ")]
    check(hits and float(hits[0].split()[1]) > 0, "TTL cache answers repeated lookups")
    check_eq(d.stop(), 0, "clean exit")
    dns.stop()
    ngx.stop()


if __name__ == "__main__":
    run_tests([test_tls, test_expiry_after_late_start, test_dns])
