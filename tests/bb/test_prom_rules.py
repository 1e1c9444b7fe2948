"""contrib/prometheus/regiond-rules.yml: promtool accepts it, it holds the
alerts the runbook names, and every regiond_ series it uses is one regiond
exports: a daemon configured with every feature the rules watch is scraped.  Needs promtool (Debian package "prometheus",
scripts/install-deps.sh test): without it the test fails, it does not skip."""
import os
import re
import shutil
import socket
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import SRC, check, check_eq, run_tests  # noqa: E402

RULES = os.path.join(SRC, "contrib", "prometheus", "regiond-rules.yml")
EXPECTED = [
    "RegiondRegionDown", "RegiondFailoverAlarm", "RegiondFrozenForLong", "RegiondRoute53Drift",
    "RegiondDynamoDBReplicaNotOK", "RegiondReplicationLagHigh", "RegiondBackupsFailing",
    "RegiondPITRDisabled", "RegiondConfigReloadFailed", "RegiondAWSThrottled", "RegiondAWSFailures",
    "RegiondTargetCertExpiring", "RegiondAlarmDeliveryFailing",
]


def promtool():
    p = shutil.which("promtool")
    if not p:
        raise RuntimeError("promtool not found: install the Debian package 'prometheus' "
                           "(bash scripts/install-deps.sh test)")
    return p


def test_promtool_accepts():
    r = subprocess.run([promtool(), "check", "rules", RULES], capture_output=True, text=True, timeout=60)
    print(r.stdout + r.stderr, flush=True)
    check_eq(r.returncode, 0, "promtool check rules exit status")
    check(f"SUCCESS: {len(EXPECTED)} rules found" in r.stdout, f"promtool found {len(EXPECTED)} rules")


def test_alert_names():
    text = open(RULES).read()
    names = re.findall(r"^\s*- alert:\s*(\S+)\s*$", text, re.M)
    check_eq(sorted(names), sorted(EXPECTED), "alert names")
    check("histogram_quantile(0.99" in text and "regiond_ddb_replication_lag_seconds_bucket" in text,
          "lag p99 uses the histogram buckets")
    check('regiond_backups_total{result="failed"}' in text, "backups failing counts failed runs")
    check("regiond_target_cert_expiry_days < 14" in text, "cert expiry under 14 days")
    for sev in re.findall(r"severity:\s*(\S+)", text):
        check(sev in ("critical", "warning"), f"severity label {sev}")


def selectors(text):
    """(name, {label: (op, value)}) for each regiond_ series selector in the
    rules' expressions; _bucket/_sum/_count name the histogram's series."""
    out = set()
    for name, labels in re.findall(r"\b(regiond_[a-z0-9_]+)(?:\{([^}]*)\})?", text):
        m = tuple(sorted((k, op, v) for k, op, v in re.findall(r'(\w+)\s*(=~|!=|!~|=)\s*"([^"]*)"', labels or "")))
        out.add((name, m))
    return sorted(out)


def matches(sample_labels, matchers):
    for k, op, v in matchers:
        got = sample_labels.get(k, "")
        ok = {"=": got == v, "!=": got != v, "=~": re.fullmatch(v, got) is not None,
              "!~": re.fullmatch(v, got) is None}[op]
        if not ok:
            return False
    return True


def rule_daemon():
    """A daemon configured so that every family the rules use exists: three
    regions (one probed over HTTPS, for the certificate's expiry), Route 53
    (the strict peer), DynamoDB replicas with heartbeats, PITR and a backup
    schedule (the strict DynamoDB peer), and an alarm webhook."""
    from harness import (TEST_KEY, DdbPeer, Daemon, Nginx, Route53Peer, free_port, tmpdir, wait_for,
                         weighted_zone)
    regions = ["us-east-1", "eu-west-1", "ap-southeast-2"]
    d = tmpdir("promrules-")
    crt, key = os.path.join(d, "t.crt"), os.path.join(d, "t.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", key, "-out", crt, "-days", "30", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"], check=True, capture_output=True,
                   timeout=30)
    ports, tls_port = [free_port() for _ in regions], free_port()
    ngx = Nginx(ports, tls_ports=[tls_port], cert=crt, key=key)
    name = "api.example.test."
    r53 = Route53Peer(weighted_zone(name, {r: (f"127.0.0.{11 + i}", 100) for i, r in enumerate(regions)}))
    ddb = DdbPeer(regions)
    hook = socket.socket()
    hook.bind(("127.0.0.1", 0))   # an alarm receiver nobody answers on: deliveries fail, that is fine
    hook.listen(8)
    cfg = {
        "controller": {"id": "ctl-rules", "listen": f"127.0.0.1:{free_port()}", "state_dir": tmpdir()},
        "probe_defaults": {"interval_ms": 300, "timeout_ms": 250, "rise": 2, "fall": 2},
        "tls": {"ca_file": crt},
        "aws": {"endpoints": dict({"route53": r53.url}, **{f"dynamodb.{r}": ddb.url(r) for r in regions}),
                "retry": {"base_ms": 50, "max_ms": 400, "max_attempts": 3}},
        "route53": {"hosted_zone_id": r53.zone_id, "record_name": name, "record_type": "A", "ttl": 60},
        "dynamodb": {"table": "orders", "describe_interval_s": 1, "rpo_ms": 1500, "stale_after_s": 3,
                     "heartbeat": {"interval_ms": 300, "read_interval_ms": 100},
                     "pitr": {"enabled": True, "check_interval_s": 5},
                     "backups": [{"name": "nightly", "regions": regions, "schedule": "0 3 * * *"}]},
        "alarms": {"webhooks": [{"name": "ops", "url": f"http://127.0.0.1:{hook.getsockname()[1]}/hook"}]},
        "regions": [{"name": r, "api": [{"url": f"http://127.0.0.1:{p}/health"}],
                     "route53": {"value": f"127.0.0.{11 + i}", "weight": 100}}
                    for i, (r, p) in enumerate(zip(regions, ports))],
    }
    cfg["regions"][0]["api"].append({"url": f"https://127.0.0.1:{tls_port}/health", "name": "tls"})
    env = {"AWS_ACCESS_KEY_ID": TEST_KEY["access_key"], "AWS_SECRET_ACCESS_KEY": TEST_KEY["secret_key"],
           "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent", "AWS_CONFIG_FILE": "/nonexistent"}
    dmn = Daemon(cfg, env=env)

    def ready():
        st = dmn.status()
        pairs = st.get("dynamodb", {}).get("pairs", [])
        return (all(r["state"] == "up" for r in st["regions"]) and pairs and
                all(p["samples"] >= 1 for p in pairs))
    wait_for(ready, 30, "regions up and a replication lag sample for every pair")

    def stop():
        dmn.stop()
        ddb.stop()
        r53.stop()
        ngx.stop()
        hook.close()
    return dmn, stop


def test_series_exist():
    """Each series a rule selects (name and label matchers) is in a scrape of
    /metrics from a daemon configured with every feature the rules watch."""
    from prometheus_client.parser import text_string_to_metric_families
    sels = selectors(open(RULES).read())
    check(len(sels) >= 13, f"selectors found in the rules ({len(sels)})")
    d, stop = rule_daemon()
    try:
        code, body = d.get("/metrics")
        check_eq(code, 200, "/metrics scraped")
        samples = [s for fam in text_string_to_metric_families(body.decode()) for s in fam.samples]
        for name, m in sels:
            hits = [s for s in samples if s.name == name and matches(s.labels, m)]
            shown = name + ("{" + ",".join(f'{k}{op}"{v}"' for k, op, v in m) + "}" if m else "")
            check(hits, f"{shown} is exported by the daemon ({len(hits)} series)")
    finally:
        stop()


if __name__ == "__main__":
    run_tests([test_promtool_accepts, test_alert_names, test_series_exist])
