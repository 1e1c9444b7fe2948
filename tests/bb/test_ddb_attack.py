"""Attacks on the DynamoDB heartbeat's invariant "a stall on any pair is a
finding within stale_after" (issue 12 review), against dynalite behind the
strict peer, the stale item written with the aws CLI."""
import json
import time

from harness import DdbPeer, Daemon, Nginx, check, check_eq, eventually, free_port, run_tests, wait_for
from test_ddb_heartbeat import FINDING_WITHIN_S, TWO, cfg_for
from test_dynamodb import ENV, REGIONS, config, replica
from test_backup_owned import jobs, listed, run_now, state


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
    eventually(lambda: (lambda x: x if "replication from us-east-1 stalled" in x["finding"] else None)(
        replica(d, "eu-west-1")), FINDING_WITHIN_S + 10,
        "us-east-1 -> eu-west-1 paused from the start is a finding despite the stale item",
        show=lambda r: r["finding"][:100])
    peer.call("POST", "/_peer/replication", {"from": "us-east-1", "to": "eu-west-1", "paused": False})
    eventually(lambda: not replica(d, "eu-west-1")["finding"], 15,
               "resumed: this run's heartbeat replaces the stale item and the finding clears")
    check_eq(d.stop(), 0, "clean exit")
    peer.stop()
    ngx.stop()


def test_hand_made_backup_with_the_lost_runs_name_is_never_adopted():
    """The operator made a backup by hand under exactly the name the run uses (default template, one
    minute), then CreateBackup's answer is lost: the look-up by name finds two.  Neither may be recorded
    as the schedule's, or retention (keep_last 1) later deletes the operator's backup."""
    ports = [free_port() for _ in REGIONS]
    ngx = Nginx(ports)
    peer = DdbPeer(REGIONS, backup_ms=300)
    cfg = config(peer, ports, dynamodb={"backups": [
        {"name": "nightly", "regions": ["us-east-1"], "schedule": "0 3 * * *", "keep_last": 1}]})
    d = Daemon(cfg, env=ENV)
    wait_for(lambda: jobs(d)["nightly"]["phase"] == "idle", 10, "schedule idle")
    if time.gmtime().tm_sec >= 40:   # the run must fall in the minute the name was made for
        time.sleep(61 - time.gmtime().tm_sec)
    name = time.strftime("regiond-orders-nightly.%Y%m%dT%H%MZ", time.gmtime())
    hand = peer.aws("us-east-1", "create-backup", "--table-name", "orders", "--backup-name", name)
    hand_arn = hand["BackupDetails"]["BackupArn"]
    peer.call("POST", "/_peer/inject", {"region": "us-east-1", "ops": ["CreateBackup"], "drop_after": 1})
    run_now(d)
    j = wait_for(lambda: (lambda j: j if j["phase"] == "idle" and j["last_result"] else None)(
        jobs(d)["nightly"]), 30, "the run ends")
    same = [b["BackupArn"] for b in listed(peer) if b["BackupName"] == name]
    check_eq(len(same), 2, f"the run's backup and the hand-made one share the name {name}")
    check(hand_arn not in j["own_arns"], f"the hand-made backup is not the schedule's own ({j['last_result'][:120]})")
    saved = state(d, cfg)["jobs"]["nightly@us-east-1"]
    check(hand_arn not in [b["arn"] for b in saved["backups"]], "nor recorded in backups.json")
    run_now(d)   # a normal run: retention keep_last 1 over what the schedule recorded
    wait_for(lambda: (lambda j: j if j["phase"] == "idle" and j["last_result"].startswith("AVAILABLE")
                      and "retention" in j["last_result"] else None)(jobs(d)["nightly"]), 30, "second run done")
    check(any(b["BackupArn"] == hand_arn for b in listed(peer)),
          "the hand-made backup still exists after retention (aws CLI list-backups)")
    check_eq(d.stop(), 0, "clean exit")
    peer.stop()
    ngx.stop()


if __name__ == "__main__":
    run_tests([test_stale_item_with_a_higher_sequence_hides_no_stall,
               test_hand_made_backup_with_the_lost_runs_name_is_never_adopted])
