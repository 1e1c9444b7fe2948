"""Attacks on the DynamoDB heartbeat's invariant "a stall on any pair is a
finding within stale_after" (issue 12 review), against dynalite behind the
strict peer, the stale item written with the aws CLI."""
import json

from harness import DdbPeer, Daemon, Nginx, check, check_eq, free_port, run_tests, wait_for
from test_ddb_heartbeat import FINDING_WITHIN_S, TWO, cfg_for
from test_dynamodb import ENV, replica


def test_stale_item_with_a_higher_sequence_hides_no_stall():
    """The reader region already holds this writer's item with a sequence above this run's (a previous
    run whose wall clock was ahead and was then stepped back, or a second controller started later with
    the same controller.id): a paused pair is still a finding within stale_after."""
    ports = [free_port() for _ in TWO]
    ngx = Nginx(ports)
    peer = DdbPeer(TWO)
    peer.call("POST", "/_peer/replication", {"from": "us-east-1", "to": "eu-west-1", "paused": True})
    # Far above this run's sequences (wall ms * 1000 at start): the clock was a year ahead.
    item = {"pk": {"S": "__regiond#hb#us-east-1#ctl-ddb"}, "hb_seq": {"N": "9999999999999999999"},
            "hb_written_ms": {"N": "1"}, "hb_writer": {"S": "us-east-1"}, "hb_controller": {"S": "ctl-ddb"}}
    peer.aws("eu-west-1", "put-item", "--table-name", "regiond-heartbeat", "--item", json.dumps(item))
    d = Daemon(cfg_for(peer, ports, TWO, {}), env=ENV)
    r = wait_for(lambda: (lambda x: x if "replication from us-east-1 stalled" in x["finding"] else None)(
        replica(d, "eu-west-1")), FINDING_WITHIN_S + 10, "a stall finding in eu-west-1", interval=0.1)
    check(True, f"us-east-1 -> eu-west-1 paused from the start is a finding despite the stale item: "
          f"{r['finding'][:100]}")
    peer.call("POST", "/_peer/replication", {"from": "us-east-1", "to": "eu-west-1", "paused": False})
    wait_for(lambda: not replica(d, "eu-west-1")["finding"], 15, "finding cleared once replication resumes")
    check(True, "resumed: this run's heartbeat replaces the stale item and the finding clears")
    check_eq(d.stop(), 0, "clean exit")
    peer.stop()
    ngx.stop()


if __name__ == "__main__":
    run_tests([test_stale_item_with_a_higher_sequence_hides_no_stall])
