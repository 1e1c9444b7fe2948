"""The send window and the AWS client's rate limiter (docs/safety.md,
Fencing, invariant 4): tests/r53_term_driver runs regiond's Route 53
actuator on the real loop and AWS client against the strict Route 53 peer,
with a send window the test sets exactly ("term E WINDOW_MS": send_until =
the driver's clock + WINDOW_MS, so no later than the moment the test reads
"term ok" + WINDOW_MS).  The client may send 1 request/s (burst 1) and
retries at once, so every retry of a refused batch waits in the rate
limiter's queue for its token; the peer answers every batch
PriorRequestNotComplete.  Judged on the peer's request log: no attempt
arrives after the window (+ SLACK_S for the last attempt's transit), the
batch never lands, and the driver logs the call as not sent, closed before
a token was taken (the window ends half-way through a wait for a token).  Without the
check before each attempt the retries went on, one a second, until
aws.retry.max_attempts."""
import re
import time

from harness import Route53Peer, check, check_eq, run_tests, wait_for
from test_r53_fence_actuator import Driver, landed, zone

WINDOW_S = 6.5   # the batch's attempts come about 2, 3, 4, 5, 6 s after apply: the window ends between two
SLACK_S = 0.75
AWS = {"route53_rate_per_s": 1, "route53_burst": 1, "retry": {"base_ms": 1, "max_ms": 1, "max_attempts": 12}}


def test_queued_retry_stops_at_the_window():
    peer = Route53Peer(zone(5), pending_ms=100)
    d = Driver(peer, aws=AWS)
    try:
        d.expect(lambda x: x == "note idle", 15, "the start-up read done")
        d.send("term 6 600000")
        wait_for(lambda: landed(peer, 0), 20, "the guard bump of term 6 landed")
        wait_for(lambda: d.state().get("idle") == "1", 20, "idle after the bump")
        n = len(peer.changes())
        peer.inject(prior=1000, ops=["ChangeResourceRecordSets"])
        t_inject = time.monotonic()
        d.send(f"term 6 {int(WINDOW_S * 1000)}")
        d.expect(lambda x: x == "term ok", 10, "the window set")
        bound = time.monotonic() + WINDOW_S
        d.send("apply 1 0 100")
        d.expect(lambda x: x.startswith("apply rc="), 10, "apply answered")
        check_eq(d.seen[-1], "apply rc=0", "the weight batch starts (read, then the batch)")
        # the call is over: failed here (the check) or after its last attempt (without it)
        wait_for(lambda: d.state().get("phase") == "idle", 60, "the refused batch's call ends, the actuator idle")
        tries = [r for r in peer.stats()["requests"] if r["t"] >= t_inject and r.get("op") == "ChangeResourceRecordSets"]
        print(f"{len(tries)} attempts of the batch, at {[round(r['t'] - bound, 2) for r in tries]} s from the "
              f"window's end")
        check(len(tries) >= 2 and all(r.get("fault") == "prior" for r in tries),
              f"the batch was refused and retried before the window closed ({len(tries)} attempts)")
        late = [round(r["t"] - bound, 2) for r in peer.stats()["requests"] if r["t"] > bound + SLACK_S]
        check_eq(late, [], f"no Route 53 request after the window (+{SLACK_S} s)")
        check_eq(len(peer.changes()), n, "the batch never landed")
        m = re.search(r'aws call not sent: send window closed" op=ChangeResourceRecordSets attempts=(\d+) '
                      r'where="([^"]+)"', d.log_text())
        check(m is not None and int(m.group(1)) == len(tries),
              f"the driver logs the batch not sent after its {len(tries)} attempts ({m and m.group(0)})")
        check(m is not None and m.group(2) in ("queued for a token", "before a token"),
              f"the window closed before a token was taken ({m and m.group(2)})")
    finally:
        d.stop()
        peer.stop()


if __name__ == "__main__":
    run_tests([test_queued_retry_stops_at_the_window])
