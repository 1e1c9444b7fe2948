"""contrib/prometheus/regiond-rules.yml: promtool accepts it, it holds the
alerts the runbook names, and every regiond_ series it uses is one regiond
exports (docs/metrics.md).  Needs promtool (Debian package "prometheus",
scripts/install-deps.sh test): without it the test fails, it does not skip."""
import os
import re
import shutil
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


def test_series_exist():
    """Each regiond_ name in an expression appears in the daemon's sources."""
    text = open(RULES).read()
    src = ""
    for d in ("daemon", "backup", "probes", "failover", "aws"):
        for f in sorted(os.listdir(os.path.join(SRC, d))):
            if f.endswith(".c"):
                src += open(os.path.join(SRC, d, f)).read()
    for name in sorted(set(re.findall(r"\b(regiond_[a-z0-9_]+)", text))):
        base = re.sub(r"_bucket$", "", name)
        check(base in src, f"{name} is exported by the daemon")


if __name__ == "__main__":
    run_tests([test_promtool_accepts, test_alert_names, test_series_exist])
