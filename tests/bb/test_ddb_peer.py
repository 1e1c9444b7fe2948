"""Self-test of the strict DynamoDB peer (tests/peers/ddb_peer.py) with
independent clients: the aws CLI (botocore signs, paginates and parses),
curl's own SigV4 signer (libcurl, as regiond uses it), and botocore's SigV4Auth
with plain http.client for raw requests.  dynalite must already be installed
(scripts/install-dynalite.sh); this test never installs anything."""
import http.client
import json
import os
import socket
import subprocess
import sys
import time

from harness import SRC, check, check_eq, eventually, run_tests, spawn, stop, tmpdir, wait_for

sys.path.insert(0, os.path.join(SRC, "tests", "peers"))
from ddb_peer_client import DYNALITE_CLI, DdbPeer, dynalite_installed  # noqa: E402

from botocore.auth import SigV4Auth  # noqa: E402
from botocore.awsrequest import AWSRequest  # noqa: E402
from botocore.credentials import Credentials  # noqa: E402

REGIONS = ["us-east-1", "eu-west-1", "ap-southeast-2"]
KEY, SECRET = "AKIAREGIONDTEST00001", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
TKEY, TSECRET, TTOKEN = "ASIAREGIONDTEST00002", "tmpSecret/abc+def", "FwoGZXIvYXdzEJr//////////token=="
CREDS = [{"access_key": KEY, "secret_key": SECRET}, {"access_key": TKEY, "secret_key": TSECRET, "token": TTOKEN}]
TABLE = "regiond-health"
TABLES = [{"TableName": TABLE, "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
           "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
           "BillingMode": "PAY_PER_REQUEST"}]
CT = "application/x-amz-json-1.0"
BACKUP_MS = 3000   # long enough that a loaded machine still sees CREATING

_peer = None


def peer():
    global _peer
    if _peer is None:
        _peer = DdbPeer(REGIONS, CREDS, tables=TABLES, args=["--backup-ms", str(BACKUP_MS), "--pitr", "off"],
                        spawn=spawn, stop=stop, workdir=tmpdir("ddbpeer-"))
    return _peer


def aws(region, *args, key=KEY, secret=SECRET, attempts=None):
    e = {"PATH": "/usr/bin:/bin", "HOME": tmpdir("awshome-"), "AWS_ACCESS_KEY_ID": key,
         "AWS_SECRET_ACCESS_KEY": secret, "AWS_EC2_METADATA_DISABLED": "true", "AWS_CONFIG_FILE": "/dev/null",
         "AWS_SHARED_CREDENTIALS_FILE": "/dev/null", "AWS_PAGER": ""}
    if attempts:
        e["AWS_MAX_ATTEMPTS"] = str(attempts)
    p = subprocess.run(["/usr/bin/aws", "--endpoint-url", peer().url(region), "--region", region, "--output", "json",
                        "dynamodb", *args], env=e, capture_output=True, text=True, timeout=60)
    out = json.loads(p.stdout) if p.returncode == 0 and p.stdout.strip() else None
    return p.returncode, out, p.stderr


def call(region, op, params=None, raw=None, key=KEY, secret=SECRET, token=None, scope=None, headers=None):
    """A request signed by botocore's SigV4Auth: (status, decoded answer or raw bytes)."""
    body = raw if raw is not None else json.dumps(params or {}).encode()
    h = {"Content-Type": CT, "X-Amz-Target": "DynamoDB_20120810." + op}
    h.update(headers or {})
    req = AWSRequest(method="POST", url=peer().url(region) + "/", data=body, headers=h)
    SigV4Auth(Credentials(key, secret, token), "dynamodb", scope or region).add_auth(req)
    c = http.client.HTTPConnection("127.0.0.1", peer().port(region), timeout=20)
    try:
        c.request("POST", "/", body=body, headers=dict(req.headers.items()))
        r = c.getresponse()
        data = r.read()
    finally:
        c.close()
    try:
        return r.status, json.loads(data)
    except ValueError:
        return r.status, data


def etype(ans):
    return ans.get("__type", "").rsplit("#", 1)[-1] if isinstance(ans, dict) else None


def item_in(region, pk):
    return [i for i in peer().items(region, TABLE) if i["pk"]["S"] == pk]


# ---------------------------------------------------------------- tests
def test_dynalite_present():
    check(dynalite_installed(), f"dynalite is installed at {DYNALITE_CLI} (scripts/install-dynalite.sh)")
    if not dynalite_installed():
        raise AssertionError("dynalite missing: run scripts/install-dynalite.sh before this test")
    info = peer().info
    check_eq(sorted(info["regions"]), sorted(REGIONS), "the ready line lists every region")
    check(all(r["port"] and r["dynalite_port"] for r in info["regions"].values()), "front and dynalite ports")


def test_describe_table_replicas():
    seen = set()
    for region in REGIONS:
        rc, out, err = aws(region, "describe-table", "--table-name", TABLE)
        t = (out or {}).get("Table", {})
        names = [r["RegionName"] for r in t.get("Replicas", [])]
        check(rc == 0 and t.get("GlobalTableVersion") == "2019.11.21" and
              sorted(names) == sorted(x for x in REGIONS if x != region) and
              all(r["ReplicaStatus"] == "ACTIVE" for r in t["Replicas"]),
              f"describe-table in {region}: Replicas {names} are the other regions, ACTIVE ({err.strip()[-200:]})")
        check(t.get("TableArn") == f"arn:aws:dynamodb:{region}:123456789012:table/{TABLE}",
              f"TableArn names {region}: {t.get('TableArn')}")
        seen.update(names)
    check_eq(sorted(seen), sorted(REGIONS), "every region appears as a replica somewhere")
    since = time.time() - 600
    peer().set_replica("eu-west-1", "INACCESSIBLE_ENCRYPTION_CREDENTIALS", inaccessible_since=since)
    peer().set_table_status("us-east-1", "UPDATING")
    st, ans = call("us-east-1", "DescribeTable", {"TableName": TABLE})
    reps = {r["RegionName"]: r for r in ans["Table"]["Replicas"]}
    check(reps["eu-west-1"]["ReplicaStatus"] == "INACCESSIBLE_ENCRYPTION_CREDENTIALS" and
          abs(reps["eu-west-1"]["ReplicaInaccessibleDateTime"] - since) < 0.01,
          f"replica state and ReplicaInaccessibleDateTime set through the control API: {reps['eu-west-1']}")
    check_eq(ans["Table"]["TableStatus"], "UPDATING", "forced TableStatus")
    peer().set_replica("eu-west-1", "ACTIVE")
    peer().set_table_status("us-east-1", None)
    st, ans = call("us-east-1", "DescribeTable", {"TableName": TABLE})
    check(ans["Table"]["TableStatus"] == "ACTIVE" and
          all("ReplicaInaccessibleDateTime" not in r for r in ans["Table"]["Replicas"]), "states restored")


def test_replication_delay():
    p = peer()
    # 3 s: the aws CLI's own exit after the answer, on a loaded 2-core machine, took over 1 s in CI
    p.replication(src="us-east-1", dst="eu-west-1", delay_ms=3000)
    rc, _, err = aws("us-east-1", "put-item", "--table-name", TABLE, "--item", '{"pk":{"S":"hb-1"},"seq":{"N":"1"}}')
    t_done = time.monotonic()
    check(rc == 0, f"put-item in us-east-1 ({err.strip()[-200:]})")
    early = item_in("eu-west-1", "hb-1")
    waited = time.monotonic() - t_done
    check(not early and waited < 2.7, f"not in eu-west-1 before the 3 s delay (looked {waited:.2f} s after the "
                                      f"put-item returned)")
    wait_for(lambda: item_in("eu-west-1", "hb-1"), 10, "hb-1 in eu-west-1")
    wait_for(lambda: item_in("ap-southeast-2", "hb-1"), 5, "hb-1 in ap-southeast-2")
    log = [x for x in p.ctl("GET", "replication")["log"] if x["to"] == "eu-west-1" and x["key"]["pk"]["S"] == "hb-1"]
    check(log and log[-1]["result"] == "applied" and log[-1]["t_applied"] - log[-1]["t_write"] >= 3.0,
          f"replication lag >= 3 s for us-east-1 -> eu-west-1: {log[-1:]}")
    rc, out, err = aws("eu-west-1", "get-item", "--table-name", TABLE, "--key", '{"pk":{"S":"hb-1"}}',
                       "--consistent-read")
    check(rc == 0 and out["Item"]["seq"]["N"] == "1", "get-item in eu-west-1 reads the replicated item")
    # UpdateItem and DeleteItem replicate the item as read back from the source.
    st, _ = call("us-east-1", "UpdateItem", {"TableName": TABLE, "Key": {"pk": {"S": "hb-1"}},
                                             "UpdateExpression": "SET seq = :s",
                                             "ExpressionAttributeValues": {":s": {"N": "2"}}})
    check_eq(st, 200, "UpdateItem through the front")
    wait_for(lambda: item_in("eu-west-1", "hb-1")[0]["seq"]["N"] == "2", 10, "updated item replicated")
    p.replication(delay_ms=0)
    st, _ = call("us-east-1", "DeleteItem", {"TableName": TABLE, "Key": {"pk": {"S": "hb-1"}}})
    wait_for(lambda: not item_in("eu-west-1", "hb-1") and not item_in("ap-southeast-2", "hb-1"), 5,
             "delete replicated")
    dels = [x for x in p.ctl("GET", "replication")["log"] if x["key"]["pk"]["S"] == "hb-1"][-2:]
    check(len(dels) == 2 and all(x["result"] == "applied" for x in dels) and
          sorted(x["to"] for x in dels) == ["ap-southeast-2", "eu-west-1"],
          f"the peer's replication log shows the delete applied in both other regions ({dels})")


def test_pause_loss_and_last_writer_wins():
    p = peer()
    p.replication(src="us-east-1", dst="eu-west-1", paused=True, delay_ms=0)
    st, _ = call("us-east-1", "PutItem", {"TableName": TABLE, "Item": {"pk": {"S": "hb-2"}, "v": {"S": "a"}}})
    wait_for(lambda: item_in("ap-southeast-2", "hb-2"), 5, "hb-2 in the unpaused region")
    time.sleep(0.6)
    pair = [x for x in p.replication()["pairs"] if x["from"] == "us-east-1" and x["to"] == "eu-west-1"][0]
    check(not item_in("eu-west-1", "hb-2") and pair["held"] == 1, f"paused pair holds the copy: {pair}")
    p.replication(src="us-east-1", dst="eu-west-1", paused=False)
    eventually(lambda: item_in("eu-west-1", "hb-2"), 5, "resume delivers the held copy")
    # last writer wins: a copy older than the destination's own later write is not applied
    p.replication(src="us-east-1", dst="eu-west-1", paused=True)
    call("us-east-1", "PutItem", {"TableName": TABLE, "Item": {"pk": {"S": "hb-3"}, "v": {"S": "old"}}})
    call("eu-west-1", "PutItem", {"TableName": TABLE, "Item": {"pk": {"S": "hb-3"}, "v": {"S": "new"}}})
    p.replication(src="us-east-1", dst="eu-west-1", paused=False)
    wait_for(lambda: [x for x in p.replication()["log"] if x["key"]["pk"]["S"] == "hb-3" and x["to"] == "eu-west-1"
                      and x["from"] == "us-east-1"], 5, "the stale copy handled")
    check_eq(item_in("eu-west-1", "hb-3")[0]["v"]["S"], "new", "last writer wins in eu-west-1")
    eventually(lambda: item_in("us-east-1", "hb-3")[0]["v"]["S"] == "new", 5,
               "the later eu-west-1 write reaches us-east-1")
    p.replication(src="us-east-1", dst="ap-southeast-2", loss=1.0)
    call("us-east-1", "PutItem", {"TableName": TABLE, "Item": {"pk": {"S": "hb-4"}}})
    wait_for(lambda: item_in("eu-west-1", "hb-4"), 5, "hb-4 in eu-west-1")
    time.sleep(0.3)
    pair = [x for x in p.replication()["pairs"] if x["from"] == "us-east-1" and x["to"] == "ap-southeast-2"][0]
    check(not item_in("ap-southeast-2", "hb-4") and pair["lost"] >= 1, f"loss=1.0 drops the copy: {pair}")
    p.replication(loss=0.0)
    # BatchWriteItem replicates too
    call("eu-west-1", "BatchWriteItem", {"RequestItems": {TABLE: [{"PutRequest": {"Item": {"pk": {"S": "b-1"}}}},
                                                                 {"PutRequest": {"Item": {"pk": {"S": "b-2"}}}}]}})
    eventually(lambda: len(item_in("us-east-1", "b-1") + item_in("us-east-1", "b-2")) == 2, 5,
               "BatchWriteItem replicated")


def test_backups():
    rc, out, err = aws("us-east-1", "create-backup", "--table-name", TABLE, "--backup-name", "regiond-bk1")
    d = (out or {}).get("BackupDetails", {})
    arn = d.get("BackupArn", "")
    check(rc == 0 and d.get("BackupStatus") == "CREATING" and d.get("BackupType") == "USER" and
          arn.startswith(f"arn:aws:dynamodb:us-east-1:123456789012:table/{TABLE}/backup/"),
          f"create-backup: {d} ({err.strip()[-200:]})")
    st, ans = call("us-east-1", "ListBackups", {"TableName": TABLE})
    mine = [b for b in ans["BackupSummaries"] if b["BackupArn"] == arn]
    check(mine and mine[0]["BackupStatus"] == "CREATING", f"list-backups shows it CREATING: {mine}")
    st, ans = call("us-east-1", "DeleteBackup", {"BackupArn": arn})
    check_eq(etype(ans), "BackupInUseException", "delete-backup while CREATING")
    time.sleep(BACKUP_MS / 1000.0 + 0.1)
    rc, out, err = aws("us-east-1", "list-backups", "--table-name", TABLE)
    mine = [b for b in (out or {}).get("BackupSummaries", []) if b["BackupArn"] == arn]
    check(rc == 0 and mine and mine[0]["BackupStatus"] == "AVAILABLE", f"then AVAILABLE: {mine}")
    st, ans = call("eu-west-1", "DescribeBackup", {"BackupArn": arn})
    check_eq(etype(ans), "BackupNotFoundException", "a us-east-1 backup is not found in eu-west-1")
    rc, out, err = aws("us-east-1", "describe-backup", "--backup-arn", arn)
    desc = (out or {}).get("BackupDescription", {})
    check(rc == 0 and desc["SourceTableDetails"]["TableName"] == TABLE, "describe-backup with SourceTableDetails")
    rc, out, err = aws("us-east-1", "delete-backup", "--backup-arn", arn)
    check(rc == 0 and out["BackupDescription"]["BackupDetails"]["BackupStatus"] == "DELETED", "delete-backup")
    st, ans = call("us-east-1", "DeleteBackup", {"BackupArn": arn})
    check_eq(etype(ans), "BackupNotFoundException", "deleting it again")
    st, ans = call("us-east-1", "CreateBackup", {"TableName": "no-such-table", "BackupName": "x12"})
    check_eq(etype(ans), "TableNotFoundException", "backup of a missing table")


def test_list_backups_pagination():
    p = peer()
    now = time.time()
    recs = [p.add_backup("ap-southeast-2", TABLE, f"outside-{i}", created_at=now - 86400 * (5 - i)) for i in range(5)]
    made = [r["BackupArn"] for r in recs]
    p.add_backup("ap-southeast-2", TABLE, "system-one", type="SYSTEM", created_at=now - 100)
    rc, out, err = aws("ap-southeast-2", "list-backups", "--page-size", "2")
    got = [b["BackupArn"] for b in (out or {}).get("BackupSummaries", [])]
    check(rc == 0 and got == made, f"CLI pages through 5 USER backups in creation order ({err.strip()[-200:]})")
    lb = [r for r in p.stats()["requests"] if r["region"] == "ap-southeast-2" and r["op"] == "ListBackups"]
    check(len(lb) >= 3, f"the CLI needed {len(lb)} ListBackups requests (ExclusiveStartBackupArn)")
    rc, out, err = aws("ap-southeast-2", "list-backups", "--max-items", "2", "--page-size", "1")
    check(rc == 0 and [b["BackupArn"] for b in out["BackupSummaries"]] == made[:2] and out.get("NextToken"),
          "--max-items 2 --page-size 1")
    st, ans = call("ap-southeast-2", "ListBackups", {"Limit": 1})
    check(st == 200 and ans["LastEvaluatedBackupArn"] == made[0] and len(ans["BackupSummaries"]) == 1,
          f"raw Limit=1: LastEvaluatedBackupArn is the first backup ({ans.get('LastEvaluatedBackupArn')})")
    st, ans = call("ap-southeast-2", "ListBackups", {"Limit": 3, "ExclusiveStartBackupArn": made[2]})
    check([b["BackupArn"] for b in ans["BackupSummaries"]] == made[3:] and "LastEvaluatedBackupArn" not in ans,
          "ExclusiveStartBackupArn continues after it; a short last page has no LastEvaluatedBackupArn")
    st, ans = call("ap-southeast-2", "ListBackups", {"TimeRangeLowerBound": recs[2]["BackupCreationDateTime"],
                                                     "TimeRangeUpperBound": recs[4]["BackupCreationDateTime"]})
    check_eq([b["BackupArn"] for b in ans["BackupSummaries"]], made[2:4], "time range: lower inclusive, upper exclusive")
    st, ans = call("ap-southeast-2", "ListBackups", {"BackupType": "SYSTEM"})
    check(len(ans["BackupSummaries"]) == 1 and "BackupExpiryDateTime" in ans["BackupSummaries"][0],
          "BackupType SYSTEM filter")
    st, ans = call("ap-southeast-2", "ListBackups", {"BackupType": "ALL"})
    check_eq(len(ans["BackupSummaries"]), 6, "BackupType ALL")
    st, ans = call("ap-southeast-2", "ListBackups", {"Limit": 0, "BackupType": "OTHER"})
    check(st == 400 and etype(ans) == "ValidationException" and "2 validation errors" in ans["message"],
          f"Limit 0 and an unknown BackupType: {ans}")


def test_pitr():
    rc, out, err = aws("eu-west-1", "describe-continuous-backups", "--table-name", TABLE)
    pd = (out or {}).get("ContinuousBackupsDescription", {}).get("PointInTimeRecoveryDescription", {})
    check(rc == 0 and pd.get("PointInTimeRecoveryStatus") == "DISABLED", f"PITR off at start: {pd}")
    rc, out, err = aws("eu-west-1", "update-continuous-backups", "--table-name", TABLE,
                       "--point-in-time-recovery-specification", "PointInTimeRecoveryEnabled=true")
    check(rc == 0, f"update-continuous-backups on ({err.strip()[-200:]})")
    rc, out, err = aws("eu-west-1", "describe-continuous-backups", "--table-name", TABLE)
    pd = (out or {}).get("ContinuousBackupsDescription", {}).get("PointInTimeRecoveryDescription", {})
    check(pd.get("PointInTimeRecoveryStatus") == "ENABLED" and "EarliestRestorableDateTime" in pd and
          "LatestRestorableDateTime" in pd, f"described on with a window: {pd}")
    # RecoveryPeriodInDays (newer than Debian's botocore): raw requests
    peer().pitr(region="eu-west-1", table=TABLE, enabled=True, enabled_at=time.time() - 40 * 86400)
    st, ans = call("eu-west-1", "UpdateContinuousBackups", {
        "TableName": TABLE, "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True,
                                                                 "RecoveryPeriodInDays": 7}})
    pd = ans["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]
    now = time.time()
    check(st == 200 and pd["RecoveryPeriodInDays"] == 7 and abs(pd["EarliestRestorableDateTime"] - (now - 7 * 86400)) < 5
          and pd["LatestRestorableDateTime"] <= now and pd["LatestRestorableDateTime"] > now - 400,
          f"a 7-day window: {pd}")
    st, ans = call("eu-west-1", "UpdateContinuousBackups", {
        "TableName": TABLE, "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True,
                                                                 "RecoveryPeriodInDays": 36}})
    check(st == 400 and etype(ans) == "ValidationException" and "recoveryPeriodInDays" in ans["message"],
          f"RecoveryPeriodInDays 36 refused: {ans}")
    st, ans = call("us-east-1", "DescribeContinuousBackups", {"TableName": "no-such-table"})
    check_eq(etype(ans), "TableNotFoundException", "PITR of a missing table")


def test_signatures():
    rc, out, err = aws("us-east-1", "list-tables", secret="wrong" + SECRET[5:], attempts=1)
    check(rc != 0 and ("InvalidSignatureException" in err or "UnrecognizedClientException" in err),
          f"a wrong secret is refused ({err.strip()[:80]})")
    st, ans = call("us-east-1", "ListTables", {}, key="AKIAUNKNOWN000000000")
    check_eq(etype(ans), "UnrecognizedClientException", "an unknown key")
    st, ans = call("us-east-1", "ListTables", {}, scope="eu-west-1")
    check(st == 400 and etype(ans) == "InvalidSignatureException", "a signature scoped to another region")
    st, ans = call("us-east-1", "ListTables", {}, key=TKEY, secret=TSECRET, token=TTOKEN)
    check_eq(st, 200, "temporary credentials with a signed session token")
    st, ans = call("us-east-1", "ListTables", {}, key=TKEY, secret=TSECRET)
    check_eq(etype(ans), "UnrecognizedClientException", "a temporary key without its token")
    c = http.client.HTTPConnection("127.0.0.1", peer().port("us-east-1"), timeout=10)
    c.request("POST", "/", body=b"{}", headers={"Content-Type": CT, "X-Amz-Target": "DynamoDB_20120810.ListTables"})
    r = c.getresponse()
    ans = json.loads(r.read())
    c.close()
    check(r.status == 400 and etype(ans) == "MissingAuthenticationTokenException", "no Authorization header")
    # libcurl's signer, as regiond uses it
    for region in ("us-east-1", "ap-southeast-2"):
        res = subprocess.run(["curl", "-sS", "--aws-sigv4", f"aws:amz:{region}:dynamodb", "--user", f"{KEY}:{SECRET}",
                              "-H", f"Content-Type: {CT}", "-H", "X-Amz-Target: DynamoDB_20120810.ListTables",
                              "-d", "{}", peer().url(region) + "/"], capture_output=True, text=True, timeout=20)
        check(res.returncode == 0 and TABLE in res.stdout, f"curl --aws-sigv4 accepted in {region} ({res.stdout[:200]})")
    res = subprocess.run(["curl", "-sS", "--aws-sigv4", "aws:amz:us-east-1:dynamodb", "--user", f"{TKEY}:{TSECRET}",
                          "-H", f"Content-Type: {CT}", "-H", "X-Amz-Target: DynamoDB_20120810.ListTables",
                          "-H", f"X-Amz-Security-Token: {TTOKEN}", "-d", "{}", peer().url("us-east-1") + "/"],
                         capture_output=True, text=True, timeout=20)
    check(TABLE in res.stdout, f"curl --aws-sigv4 with a session token header ({res.stdout[:200]})")


def test_strict_bodies():
    st, ans = call("us-east-1", "GetItem", {"TableName": TABLE})
    check(st == 400 and etype(ans) == "ValidationException" and "'key'" in ans["message"],
          f"GetItem without Key: {ans}")
    rc, out, err = aws("us-east-1", "get-item", "--table-name", "ab", "--key", '{"pk":{"S":"x"}}')
    check(rc != 0, "the CLI refuses a 2-character table name itself")
    st, ans = call("us-east-1", "GetItem", {"TableName": "a b!", "Key": {"pk": {"S": "x"}}})
    check(st == 400 and "regular expression pattern" in ans.get("message", ""), f"TableName pattern: {ans}")
    st, ans = call("us-east-1", "GetItem", {"TableName": TABLE, "Key": {"pk": {"S": "x"}}, "ConsistentReads": True})
    check(st == 400 and etype(ans) == "ValidationException" and "ConsistentReads" in ans["message"],
          "an unknown member is refused")
    st, ans = call("us-east-1", "ListTables", {"Limit": "10"})
    check(st == 400 and etype(ans) == "SerializationException", f"a string for an integer: {ans}")
    deep = {"S": "x"}
    for _ in range(40):
        deep = {"L": [deep]}
    st, ans = call("us-east-1", "PutItem", {"TableName": TABLE, "Item": {"pk": {"S": "deep"}, "d": deep}})
    check(st == 400 and "Nesting Levels" in ans.get("message", ""), f"nesting deeper than 32 levels: {ans}")
    st, ans = call("us-east-1", "ListTables", raw=b"[" * 100000 + b"]" * 100000)
    check(st == 400 and etype(ans) == "SerializationException", "a body nested 100000 deep")
    st, ans = call("us-east-1", "ListTables", raw=b"{not json")
    check(st == 400 and etype(ans) == "SerializationException", "a body that is not JSON")
    st, ans = call("us-east-1", "NoSuchOperation", {})
    check(st == 400 and etype(ans) == "UnknownOperationException", "an unknown X-Amz-Target")
    st, ans = call("us-east-1", "TransactWriteItems", {"TransactItems": [{"Put": {"TableName": TABLE,
                                                                                  "Item": {"pk": {"S": "t"}}}}]})
    check(st == 400 and etype(ans) == "UnknownOperationException", "an operation the peer does not model")
    st, ans = call("us-east-1", "ListTables", {}, headers={"Content-Type": "text/plain"})
    check_eq(st, 404, "a wrong Content-Type")
    st, ans = call("us-east-1", "PutItem", {"TableName": TABLE, "Item": {"pk": {"S": "x"}},
                                            "ConditionExpression": "attribute_not_exists(pk) AND"})
    check(st == 400 and etype(ans) == "ValidationException", "dynalite's own validation is passed on")


def test_faults():
    p = peer()
    p.reset_stats()
    p.inject(region="us-east-1", throttle=1, ops=["ListTables"])
    st, ans = call("eu-west-1", "ListTables", {})
    check_eq(st, 200, "a fault injected in us-east-1 leaves eu-west-1 alone")
    st, ans = call("us-east-1", "DescribeTable", {"TableName": TABLE})
    check_eq(st, 200, "a fault for ListTables leaves DescribeTable alone")
    st, ans = call("us-east-1", "ListTables", {})
    check(st == 400 and etype(ans) == "ThrottlingException", f"injected throttle answered: {ans}")
    p.inject(region="us-east-1", throttle=1)
    rc, out, err = aws("us-east-1", "list-tables")
    check(rc == 0 and TABLE in out["TableNames"], "the aws CLI retries the throttle and succeeds")
    for kind, code, status in (("limit", "LimitExceededException", 400),
                               ("pte", "ProvisionedThroughputExceededException", 400),
                               ("error5xx", "InternalServerError", 500), ("deny", "AccessDeniedException", 400)):
        p.inject(region="ap-southeast-2", **{kind: 1})
        st, ans = call("ap-southeast-2", "GetItem", {"TableName": TABLE, "Key": {"pk": {"S": "x"}}})
        check(st == status and etype(ans) == code, f"{kind}: {st} {etype(ans)}")
    # A malformed request is judged before any pending fault: it gets its
    # ValidationException, and the fault waits for the next valid request.
    p.inject(region="ap-southeast-2", error5xx=1)
    st, ans = call("ap-southeast-2", "GetItem", {"TableName": TABLE})
    check(st == 400 and etype(ans) == "ValidationException",
          f"a malformed request hitting a fault is still judged: {st} {ans}")
    st, ans = call("ap-southeast-2", "GetItem", {"TableName": TABLE, "Key": {"pk": {"S": "x"}}})
    check(st == 500 and etype(ans) == "InternalServerError", f"the fault then hits the next valid request: {st} {ans}")
    p.inject(region="ap-southeast-2", garbage=1)
    st, ans = call("ap-southeast-2", "ListTables", {})
    check(st == 200 and isinstance(ans, bytes), "garbage: 200 with a body that is not JSON")
    p.inject(region="ap-southeast-2", truncated=1)
    try:
        call("ap-southeast-2", "ListTables", {})
        short = False
    except http.client.IncompleteRead:
        short = True
    check(short, "truncated: the body is shorter than announced (the read fails)")
    p.inject(region="ap-southeast-2", drop=1)
    try:
        call("ap-southeast-2", "ListTables", {})
        dropped = False
    except (http.client.RemoteDisconnected, ConnectionError):
        dropped = True
    check(dropped, "drop: connection closed without an answer")
    p.inject(region="ap-southeast-2", huge=1)
    st, ans = call("ap-southeast-2", "ListTables", {})
    check(st == 200 and len(ans["Padding"]) > 50_000_000, "huge: a 50 MiB answer")
    p.inject(region="eu-west-1", slow=1, slow_ms=400)
    t0 = time.monotonic()
    st, _ = call("eu-west-1", "ListTables", {})
    check(st == 200 and time.monotonic() - t0 >= 0.4, "slow: answered after slow_ms")
    p.inject(region="eu-west-1", error5xx=-1)
    sts = [call("eu-west-1", "ListTables", {})[0] for _ in range(3)]
    p.clear_faults()
    check(sts == [500, 500, 500] and call("eu-west-1", "ListTables", {})[0] == 200,
          "a persistent fault (-1) lasts until clear-faults")
    # keys: a fault scoped to one access key spares requests signed with another (and waits for its key)
    p.inject(region="eu-west-1", deny=1, keys=[TKEY], ops=["ListTables"])
    st, _ = call("eu-west-1", "ListTables", {})
    check_eq(st, 200, "a fault scoped to another key leaves this key's request alone")
    st, ans = call("eu-west-1", "ListTables", {}, key=TKEY, secret=TSECRET, token=TTOKEN)
    check(st == 400 and etype(ans) == "AccessDeniedException", f"the scoped fault hits its key: {st} {ans}")
    check_eq(call("eu-west-1", "ListTables", {}, key=TKEY, secret=TSECRET, token=TTOKEN)[0], 200,
             "a scoped fault is used up like any other")
    for bad in ([], "AKID", [1]):
        try:
            p.inject(region="eu-west-1", deny=1, keys=bad)
            refused = ""
        except AssertionError as e:   # the control API's 400
            refused = str(e)
        check(" 400 " in refused and "keys must be" in refused, f"keys={bad!r} refused: {refused!r}")
    st, _ = call("us-east-1", "ListTables", {}, key="AKIAUNKNOWN000000000")
    # The peer records a request after it has answered it: give the record a moment.
    for _ in range(20):
        s = p.stats()
        if s["regions"]["us-east-1"]["rejected_signatures"] >= 1:
            break
        time.sleep(0.1)
    faults = [r["fault"] for r in s["requests"] if r.get("fault")]
    check({"throttle", "limit", "pte", "error5xx", "deny", "garbage", "truncated", "drop", "huge", "slow"} <= set(faults),
          f"stats record every fault kind: {sorted(set(faults))}")
    check(s["regions"]["us-east-1"]["rejected_signatures"] >= 1 and
          all({"t", "region", "op", "status", "key"} <= set(r) for r in s["requests"]),
          "stats: per-request t/region/op/status/key and per-region counts")


def test_robustness_and_exit():
    p = peer()
    port = p.port("us-east-1")
    for junk in (b"GARBAGE\r\n\r\n", b"POST / HTTP/1.1\r\nContent-Length: abc\r\n\r\n",
                 b"POST / HTTP/1.1\r\nContent-Length: 17000000\r\nContent-Type: " + CT.encode() + b"\r\n\r\n{}",
                 b"\x00\xff" * 100):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(junk)
        try:
            s.recv(4096)
        except OSError:
            pass
        s.close()
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 17000000\r\nContent-Type: " + CT.encode() + b"\r\n\r\n")
    head = s.recv(4096)
    s.close()
    check(head.startswith(b"HTTP/1.1 413"), f"a body over 16 MiB is refused: {head[:40]!r}")
    st, _ = call("us-east-1", "ListTables", {})
    check_eq(st, 200, "the peer still answers after malformed input")
    pids = p.dynalite_pids()
    rc = p.stop()
    check_eq(rc, 0, "SIGTERM: the peer exits 0")
    time.sleep(0.2)
    alive = [pid for pid in pids if os.path.exists(f"/proc/{pid}") and
             open(f"/proc/{pid}/stat").read().split()[2] != "Z"]
    check_eq(alive, [], "its dynalites are stopped")


if __name__ == "__main__":
    run_tests([test_dynalite_present, test_describe_table_replicas, test_replication_delay,
               test_pause_loss_and_last_writer_wins, test_backups, test_list_backups_pagination, test_pitr,
               test_signatures, test_strict_bodies, test_faults, test_robustness_and_exit])
