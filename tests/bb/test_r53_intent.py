"""A Route 53 batch goes out only once its intent record is durable.

After a restart regiond tells its own landed change from someone else's by
the intent record (route53-change.json).  When the batch was sent while the
record was still queued for the disk, a kill -9 right after the batch landed
left no record: the restart took regiond's own drain for drift and held the
region at 0 after it recovered (bb_test_crash found it on a loaded machine).

Here every fsync of regiond waits STALL_S (strace), the drain's batch is
watched for at the Route 53 peer and regiond is killed -9 the moment it
lands; after the restart on the same state, with the region healthy again,
the drain must be known as regiond's own: no drift, and the weight back at
100 at the peer."""
import signal

from harness import check, check_eq, run_tests, stop, wait_for
from harness import Daemon
from state_kit import fsync_stalled
from test_failover import NAME, setup, wait_all_up

# Two fsyncs a state write (the file, then its directory): 0.2 s each write,
# a few queued ahead of the record still within the 1 s the actuator waits;
# without the wait the batch lands 0.2 s or more before its record.
STALL_S = 0.1


def test_kill_right_after_the_batch_lands():
    ngx, ports, peer, cfg, d, env = setup()
    wait_all_up(d)
    with fsync_stalled(d.proc.pid, STALL_S):
        ngx.down(ports[1])
        wait_for(lambda: peer.weights(NAME)["eu-west-1"] == 0, 20, "the drain landed at the peer", interval=0.01)
        d.proc.send_signal(signal.SIGKILL)
        d.proc.wait(timeout=5)
    stop(d.proc)
    d.log.close()
    ngx.down(ports[1], False)
    d2 = Daemon(cfg, dir=d.dir, env=env)
    try:
        wait_for(lambda: peer.weights(NAME)["eu-west-1"] == 100, 20, "eu-west-1 back at 100 once healthy")
    except AssertionError:
        print("\n".join(x for x in (d.read_log() + d2.read_log()).splitlines() if "route53" in x)[-4000:])
        raise
    log = d2.read_log()
    check("route53_drift" not in log, "the restart knows the drain as its own: no drift reported")
    w = {x["region"]: x for x in d2.status()["failover"]["weights"]}
    check_eq(w["eu-west-1"]["drifted"], False, "eu-west-1 not held as drifted")
    check_eq(peer.weights(NAME), {"us-east-1": 100, "eu-west-1": 100, "ap-southeast-2": 100},
             "every weight back at 100 at the peer")
    check_eq(d2.stop(), 0, "clean exit")
    peer.stop()
    ngx.stop()


if __name__ == "__main__":
    run_tests([test_kill_right_after_the_batch_lands])
