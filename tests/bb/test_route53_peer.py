"""Self-test of the strict Route 53 peer (tests/peers/route53_peer.py) with
independent clients: the aws CLI (botocore signs and parses), curl's own
SigV4 signer (libcurl, as regiond uses it), dnslib's DNS client, and plain
HTTP for the IMDSv2 and container credential endpoints."""
import http.client
import json
import os
import socket
import subprocess
import sys
import time
from collections import Counter

from harness import SRC, check, check_eq, run_tests, spawn, stop, tmpdir

sys.path.insert(0, os.path.join(SRC, "tests", "peers"))
from r53_peer_client import Route53Peer  # noqa: E402

from botocore.auth import SigV4Auth  # noqa: E402
from botocore.awsrequest import AWSRequest  # noqa: E402
from botocore.credentials import Credentials  # noqa: E402
from dnslib import QTYPE, RCODE, DNSRecord  # noqa: E402

ZID = "Z0123456789ABC"
KEY, SECRET = "AKIAREGIONDTEST00001", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
TKEY, TSECRET, TTOKEN = "ASIAREGIONDTEST00002", "tmpSecret/abc+def", "FwoGZXIvYXdzEJr//////////token=="
CREDS = [{"access_key": KEY, "secret_key": SECRET},
         {"access_key": TKEY, "secret_key": TSECRET, "token": TTOKEN}]
NS = "https://route53.amazonaws.com/doc/2013-04-01/"
# A change stays PENDING this long: longer than any CLI run here, however
# loaded the machine (3 s was too short for two CLI runs under load in CI).
# The switch to INSYNC is then checked with a short window set on the peer.
PENDING_MS = 60000


def weighted(region, weight, ttl=60):
    return {"Name": "api.example.test.", "Type": "CNAME", "SetIdentifier": region, "Weight": weight, "TTL": ttl,
            "ResourceRecords": [{"Value": f"{region}.api.example.test"}]}


ZONE = {"id": ZID, "name": "example.test.", "records": [
    weighted("us-east-1", 100), weighted("eu-west-1", 0),
    {"Name": "us-east-1.api.example.test.", "Type": "A", "TTL": 30, "ResourceRecords": [{"Value": "192.0.2.1"}]},
    {"Name": "eu-west-1.api.example.test.", "Type": "A", "TTL": 30, "ResourceRecords": [{"Value": "192.0.2.2"}]},
]}

_peer = None


def peer():
    global _peer
    if _peer is None:
        _peer = Route53Peer(ZONE, CREDS, args=["--pending-ms", str(PENDING_MS), "--container-token", "ctok-123"],
                            spawn=spawn, stop=stop, workdir=tmpdir("r53peer-"))
    return _peer


def aws(*args, env=None, key=KEY, secret=SECRET, token=None):
    e = {"PATH": "/usr/bin:/bin", "HOME": tmpdir("awshome-"), "AWS_DEFAULT_REGION": "us-east-1",
         "AWS_EC2_METADATA_DISABLED": "true", "AWS_CONFIG_FILE": "/dev/null",
         "AWS_SHARED_CREDENTIALS_FILE": "/dev/null", "AWS_PAGER": ""}
    if key:
        e["AWS_ACCESS_KEY_ID"], e["AWS_SECRET_ACCESS_KEY"] = key, secret
    if token:
        e["AWS_SESSION_TOKEN"] = token
    e.update(env or {})
    p = subprocess.run(["/usr/bin/aws", "--endpoint-url", peer().url, "--output", "json", *args], env=e,
                       capture_output=True, text=True, timeout=60)
    out = json.loads(p.stdout) if p.returncode == 0 and p.stdout.strip() else None
    return p.returncode, out, p.stderr


def signed(method, path, body=b"", query="", key=KEY, secret=SECRET, token=None, headers=None):
    """A request signed by botocore's SigV4Auth, sent with http.client."""
    target = path + (f"?{query}" if query else "")
    req = AWSRequest(method=method, url=peer().url + target, data=body, headers=headers or {})
    SigV4Auth(Credentials(key, secret, token), "route53", "us-east-1").add_auth(req)
    c = http.client.HTTPConnection("127.0.0.1", peer().port, timeout=10)
    c.request(method, target, body=body, headers=dict(req.headers.items()))
    r = c.getresponse()
    out = (r.status, r.read().decode().replace("\n", " "))
    c.close()
    return out


def change_xml(*changes, comment=None):
    parts = []
    for action, rr in changes:
        inner = f"<Name>{rr['Name']}</Name><Type>{rr['Type']}</Type>"
        for k in ("SetIdentifier", "Weight", "TTL"):
            if k in rr:
                inner += f"<{k}>{rr[k]}</{k}>"
        inner += "<ResourceRecords>" + "".join(f"<ResourceRecord><Value>{v['Value']}</Value></ResourceRecord>"
                                               for v in rr["ResourceRecords"]) + "</ResourceRecords>"
        parts.append(f"<Change><Action>{action}</Action><ResourceRecordSet>{inner}</ResourceRecordSet></Change>")
    c = f"<Comment>{comment}</Comment>" if comment else ""
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<ChangeResourceRecordSetsRequest xmlns="{NS}"><ChangeBatch>'
            f"{c}<Changes>{''.join(parts)}</Changes></ChangeBatch></ChangeResourceRecordSetsRequest>").encode()


def batch_file(*changes):
    path = os.path.join(tmpdir("batch-"), "batch.json")
    with open(path, "w") as f:
        json.dump({"Changes": [{"Action": a, "ResourceRecordSet": rr} for a, rr in changes]}, f)
    return "file://" + path


def weights():
    return {r["SetIdentifier"]: r["Weight"] for r in peer().records()
            if r["Name"] == "api.example.test." and r["Type"] == "CNAME"}


def set_weights(us, eu):
    st, body = signed("POST", f"/2013-04-01/hostedzone/{ZID}/rrset/",
                      change_xml(("UPSERT", weighted("us-east-1", us)), ("UPSERT", weighted("eu-west-1", eu))))
    assert st == 200, body


# ---------------------------------------------------------------- tests
def test_cli_reads_and_changes():
    rc, out, err = aws("route53", "list-hosted-zones")
    check(rc == 0 and out["HostedZones"][0]["Id"] == f"/hostedzone/{ZID}", f"list-hosted-zones ({err.strip()})")
    rc, out, err = aws("route53", "list-resource-record-sets", "--hosted-zone-id", ZID, "--page-size", "1")
    recs = out["ResourceRecordSets"] if out else []
    check_eq([(r["Name"], r["Type"], r.get("SetIdentifier")) for r in recs],
             [("example.test.", "NS", None), ("example.test.", "SOA", None),
              ("api.example.test.", "CNAME", "eu-west-1"), ("api.example.test.", "CNAME", "us-east-1"),
              ("eu-west-1.api.example.test.", "A", None), ("us-east-1.api.example.test.", "A", None)],
             "CLI pages through every record (page size 1) in Route 53's order")
    check_eq({r.get("SetIdentifier"): r.get("Weight") for r in recs if r["Type"] == "CNAME"},
             {"us-east-1": 100, "eu-west-1": 0}, "weights read by the CLI")

    rc, out, err = aws("route53", "change-resource-record-sets", "--hosted-zone-id", f"/hostedzone/{ZID}",
                       "--change-batch", batch_file(("UPSERT", weighted("eu-west-1", 100))))
    applied_by = time.monotonic()           # the peer applied (and timed) the change before this
    check(rc == 0 and out["ChangeInfo"]["Status"] == "PENDING" and out["ChangeInfo"]["Id"].startswith("/change/C"),
          f"UPSERT accepted, PENDING ({err.strip() or out})")
    check_eq(weights(), {"us-east-1": 100, "eu-west-1": 100}, "records changed at once (while PENDING)")
    cid = out["ChangeInfo"]["Id"] if out else "/change/none"
    rc, out2, err = aws("route53", "get-change", "--id", cid)
    took = time.monotonic() - applied_by
    check(rc == 0 and out2["ChangeInfo"]["Status"] == "PENDING",
          f"get-change right after: PENDING ({took:.1f} s after the change; {err.strip()})")
    # The window shortened to 1 s: a change older than that is INSYNC (the
    # peer times each change from when it applied it, before the CLI returned).
    peer().config(pending_ms=1000)
    try:
        time.sleep(max(0.0, applied_by + 1.2 - time.monotonic()))
        rc, out2, err = aws("route53", "get-change", "--id", cid)
    finally:
        peer().config(pending_ms=PENDING_MS)
    check(rc == 0 and out2["ChangeInfo"]["Status"] == "INSYNC", f"get-change after pending_ms: INSYNC ({err.strip()})")

    # DELETE with a wrong weight in an otherwise valid batch: refused, nothing applied.
    rc, out, err = aws("route53", "change-resource-record-sets", "--hosted-zone-id", ZID, "--change-batch",
                       batch_file(("UPSERT", weighted("us-east-1", 5)), ("DELETE", weighted("eu-west-1", 7))))
    check(rc != 0 and "(InvalidChangeBatch)" in err and
          "Tried to delete resource record set [name='api.example.test.', type='CNAME', "
          "set-identifier='eu-west-1'] but the values provided do not match the current values" in err,
          f"DELETE with wrong values -> InvalidChangeBatch ({err.strip()})")
    check_eq(weights(), {"us-east-1": 100, "eu-west-1": 100}, "the batch is atomic: the UPSERT was not applied")
    rc, out, err = aws("route53", "change-resource-record-sets", "--hosted-zone-id", ZID, "--change-batch",
                       batch_file(("CREATE", weighted("us-east-1", 1))))
    check(rc != 0 and "but it already exists" in err, f"CREATE of an existing record refused ({err.strip()})")
    rc, out, err = aws("route53", "get-change", "--id", "CNOSUCHCHANGE1")
    check(rc != 0 and "(NoSuchChange)" in err, f"unknown change -> NoSuchChange ({err.strip()})")
    rc, out, err = aws("route53", "list-resource-record-sets", "--hosted-zone-id", "ZNOSUCHZONE")
    check(rc != 0 and "(NoSuchHostedZone)" in err, f"unknown zone -> NoSuchHostedZone ({err.strip()})")


def test_strict_requests():
    path = f"/2013-04-01/hostedzone/{ZID}/rrset/"
    # Exact DELETE then CREATE in one batch is allowed; values must match exactly.
    st, body = signed("POST", path, change_xml(("DELETE", weighted("eu-west-1", 100)),
                                               ("CREATE", weighted("eu-west-1", 0))))
    check_eq(st, 200, f"exact DELETE + CREATE in one batch ({body[:200]})")
    # Element order is part of the schema.
    bad = change_xml(("UPSERT", weighted("eu-west-1", 3))).replace(b"<Weight>3</Weight><TTL>60</TTL>",
                                                                    b"<TTL>60</TTL><Weight>3</Weight>")
    st, body = signed("POST", path, bad)
    check(st == 400 and "<Code>InvalidInput</Code>" in body and "cvc-complex-type.2.4.a" in body,
          f"elements out of order -> InvalidInput ({body[:300]})")
    st, body = signed("POST", path, change_xml(("UPSERT", weighted("eu-west-1", 256))))
    check(st == 400 and "<Code>InvalidInput</Code>" in body and "255" in body, "weight 256 -> InvalidInput")
    st, body = signed("POST", path, change_xml(("REPLACE", weighted("eu-west-1", 1))))
    check(st == 400 and "cvc-enumeration-valid" in body, "unknown Action -> InvalidInput (enum)")
    nsless = change_xml(("UPSERT", weighted("eu-west-1", 1))).replace(f' xmlns="{NS}"'.encode(), b"")
    st, body = signed("POST", path, nsless)
    check(st == 400 and "cvc-elt.1" in body, "body without the Route 53 namespace refused")
    st, body = signed("POST", path, b"<ChangeResourceRecordSetsRequest")
    check(st == 400 and "<Code>InvalidInput</Code>" in body, "malformed XML -> 400 InvalidInput")
    noset = {"Name": "api.example.test.", "Type": "CNAME", "Weight": 1, "TTL": 60,
             "ResourceRecords": [{"Value": "x.example.test"}]}
    st, body = signed("POST", path, change_xml(("UPSERT", noset)))
    check(st == 400 and "Missing field &apos;SetIdentifier&apos;" in body.replace("'", "&apos;"),
          f"Weight without SetIdentifier -> InvalidInput ({body[:300]})")
    st, body = signed("POST", path, change_xml(("UPSERT", weighted("eu-west-1", 0, ttl=300))))
    check(st == 400 and "InvalidChangeBatch" in body and "same value for TTL" in body,
          "weighted records with different TTLs refused")
    outside = {"Name": "api.example.org.", "Type": "A", "TTL": 60, "ResourceRecords": [{"Value": "192.0.2.9"}]}
    st, body = signed("POST", path, change_xml(("CREATE", outside)))
    check(st == 400 and "is not permitted in zone example.test." in body, "name outside the zone refused")
    bad_a = {"Name": "x.example.test.", "Type": "A", "TTL": 60, "ResourceRecords": [{"Value": "192.0.2"}]}
    st, body = signed("POST", path, change_xml(("CREATE", bad_a)))
    check(st == 400 and "ARRDATAIllegalIPv4Address" in body, "bad IPv4 value refused")
    # The older InvalidChangeBatch form, when asked for.
    peer().config(icb_form="legacy")
    st, body = signed("POST", path, change_xml(("DELETE", weighted("eu-west-1", 9))))
    peer().config(icb_form="standard")
    check(st == 400 and body.split(" ", 2)[2].startswith(f'<InvalidChangeBatch xmlns="{NS}"><Messages><Message>'),
          f"legacy InvalidChangeBatch form ({body[:200]})")
    # ListResourceRecordSets parameters and paging tokens.
    st, body = signed("GET", f"/2013-04-01/hostedzone/{ZID}/rrset", query="type=A")
    check(st == 400 and "InvalidInput" in body, "type without name -> InvalidInput")
    st, body = signed("GET", f"/2013-04-01/hostedzone/{ZID}/rrset", query="maxitems=1&name=api.example.test&type=CNAME")
    check(st == 200 and "<IsTruncated>true</IsTruncated>" in body and
          "<NextRecordIdentifier>us-east-1</NextRecordIdentifier>" in body and
          "<SetIdentifier>eu-west-1</SetIdentifier>" in body, "page from name+type; NextRecordIdentifier given")


def test_signatures():
    p = peer()
    p.reset_stats()
    rc, out, err = aws("route53", "list-hosted-zones", secret="not-the-secret")
    check(rc != 0 and "(SignatureDoesNotMatch)" in err, f"wrong secret -> SignatureDoesNotMatch ({err.strip()[:120]})")
    rc, out, err = aws("route53", "list-hosted-zones", key="AKIAUNKNOWNKEY000000")
    check(rc != 0 and "(InvalidClientTokenId)" in err, "unknown key -> InvalidClientTokenId")
    rc, out, err = aws("route53", "get-hosted-zone", "--id", ZID, key=TKEY, secret=TSECRET, token=TTOKEN)
    check(rc == 0, f"session-token credentials accepted ({err.strip()})")
    st, body = signed("GET", f"/2013-04-01/hostedzone/{ZID}", key=TKEY, secret=TSECRET, token="wrong-token")
    check(st == 403 and "InvalidClientTokenId" in body, "wrong session token -> 403 InvalidClientTokenId")
    st, body = signed("GET", f"/2013-04-01/hostedzone/{ZID}", key=TKEY, secret=TSECRET)
    check(st == 403 and "InvalidClientTokenId" in body, "missing session token -> 403")
    c = http.client.HTTPConnection("127.0.0.1", p.port, timeout=5)
    c.request("GET", f"/2013-04-01/hostedzone/{ZID}")
    r = c.getresponse()
    check(r.status == 403 and b"MissingAuthenticationToken" in r.read(), "unsigned request -> 403")
    c.close()
    # libcurl's signer, as regiond uses it (query built sorted, as AWS requires).
    curl = ["curl", "-sS", "--aws-sigv4", "aws:amz:us-east-1:route53", "--user", f"{KEY}:{SECRET}",
            "-o", "-", "-w", "\n%{http_code}"]
    q = f"{p.url}/2013-04-01/hostedzone/{ZID}/rrset?maxitems=2&name=api.example.test.&type=CNAME"
    res = subprocess.run(curl + [q], capture_output=True, text=True, timeout=20)
    check(res.stdout.endswith("\n200") and "<ListResourceRecordSetsResponse" in res.stdout,
          f"curl --aws-sigv4 GET verified ({res.stdout[-200:]!r} {res.stderr})")
    body = change_xml(("UPSERT", weighted("eu-west-1", 0)), comment="from curl")
    res = subprocess.run(curl + ["-H", "Content-Type: text/xml", "--data-binary", "@-",
                                 f"{p.url}/2013-04-01/hostedzone/{ZID}/rrset/"],
                         input=body.decode(), capture_output=True, text=True, timeout=20)
    check(res.stdout.endswith("\n200") and "<Status>PENDING</Status>" in res.stdout,
          f"curl --aws-sigv4 POST (ChangeResourceRecordSets) verified ({res.stdout[-300:]!r})")
    unsorted = f"{p.url}/2013-04-01/hostedzone/{ZID}/rrset?name=api.example.test.&maxitems=2"
    res = subprocess.run(curl + [unsorted], capture_output=True, text=True, timeout=20)
    check(res.stdout.endswith("\n403") and "SignatureDoesNotMatch" in res.stdout,
          "curl with an unsorted query string is refused, as AWS refuses it")
    res = subprocess.run(["curl", "-sS", "--aws-sigv4", "aws:amz:eu-west-1:route53", "--user", f"{KEY}:{SECRET}",
                          "-o", "-", "-w", "\n%{http_code}", f"{p.url}/2013-04-01/hostedzone"],
                         capture_output=True, text=True, timeout=20)
    check(res.stdout.endswith("\n403") and "scoped to a valid region" in res.stdout, "wrong region in scope refused")
    check_eq(p.stats()["rejected_signatures"], 7, "rejected signatures counted")


def test_faults():
    p = peer()
    p.reset_stats()
    p.inject(throttle=1)
    rc, out, err = aws("route53", "get-hosted-zone", "--id", ZID)
    reqs = p.stats()["requests"]
    check(rc == 0 and [(r["status"], r.get("error")) for r in reqs] == [(400, "Throttling"), (200, None)],
          f"injected Throttling answered, the CLI retried ({[(r['status'], r.get('error')) for r in reqs]})")
    p.inject(throttle=5)
    st, body = signed("GET", f"/2013-04-01/hostedzone/{ZID}")
    check(st == 400 and "<Code>Throttling</Code>" in body and "<Message>Rate exceeded</Message>" in body,
          "Throttling is HTTP 400 with Code Throttling")
    p.clear_faults()
    p.inject(error5xx=1, ops=["GetChange"])
    st, _ = signed("GET", f"/2013-04-01/hostedzone/{ZID}")
    check_eq(st, 200, "fault limited to other operations left this one alone")
    st, body = signed("GET", "/2013-04-01/change/CANY")
    check(st == 500 and "InternalFailure" in body, "error5xx -> 500 InternalFailure")
    p.inject(deny=1)
    st, body = signed("GET", f"/2013-04-01/hostedzone/{ZID}")
    check(st == 403 and "AccessDenied" in body, "deny -> 403 AccessDenied")
    p.inject(prior=1)
    st, body = signed("POST", f"/2013-04-01/hostedzone/{ZID}/rrset/", change_xml(("UPSERT", weighted("us-east-1", 100))))
    check(st == 400 and "PriorRequestNotComplete" in body, "prior -> PriorRequestNotComplete")
    p.inject(drop=1)
    try:
        signed("GET", f"/2013-04-01/hostedzone/{ZID}")
        dropped = False
    except (http.client.RemoteDisconnected, ConnectionError):
        dropped = True
    check(dropped, "drop -> connection closed without an answer")
    p.inject(slow=1, slow_ms=400)
    t0 = time.monotonic()
    st, _ = signed("GET", f"/2013-04-01/hostedzone/{ZID}")
    check(st == 200 and time.monotonic() - t0 >= 0.38, "slow -> answered after slow_ms")
    p.inject(endless=1)
    target = f"/2013-04-01/hostedzone/{ZID}/rrset?maxitems=1"
    req = AWSRequest(method="GET", url=peer().url + target, data=b"", headers={})
    SigV4Auth(Credentials(KEY, SECRET, None), "route53", "us-east-1").add_auth(req)
    c = http.client.HTTPConnection("127.0.0.1", peer().port, timeout=10)
    c.request("GET", target, headers=dict(req.headers.items()))
    r = c.getresponse()
    t0, got = time.monotonic(), b""
    while time.monotonic() - t0 < 0.6:
        got += r.read1(4096)
    c.close()
    check(r.status == 200 and r.getheader("Transfer-Encoding") == "chunked" and got.startswith(b"<?xml")
          and b"</ListResourceRecordSetsResponse>" not in got,
          f"endless -> 200, a chunked answer still unfinished after 0.6 s ({len(got)} bytes)")
    p.inject(huge=1)
    st, body = signed("GET", target)
    check(st == 200 and len(body) == 50 << 20 and body.endswith("</ListResourceRecordSetsResponse> "),
          f"huge -> 200 with a complete 50 MiB answer ({len(body)} bytes)")
    check_eq(p.ctl("GET", "inject")["counts"]["huge"], 0, "huge consumed")
    n_before = len(p.changes())
    p.inject(drop_after=1)
    try:
        signed("POST", f"/2013-04-01/hostedzone/{ZID}/rrset/", change_xml(("UPSERT", weighted("us-east-1", 42))))
    except (http.client.RemoteDisconnected, ConnectionError):
        pass
    check(len(p.changes()) == n_before + 1 and weights()["us-east-1"] == 42,
          "drop_after -> change applied, answer lost")
    set_weights(100, 0)
    s = p.stats()
    check(s["max_rate_1s"] >= 2 and all("t" in r and "op" in r and "key" in r for r in s["requests"]),
          f"stats: requests with t/op/status/key and max_rate_1s ({s['max_rate_1s']})")
    p.config(rate_limit=2)
    time.sleep(1.05)    # the limit counts the requests of the last second
    sts = [signed("GET", f"/2013-04-01/hostedzone/{ZID}")[0] for _ in range(4)]
    p.config(rate_limit=0)
    check(sts[:2] == [200, 200] and 400 in sts[2:], f"--rate-limit answers Throttling above the rate ({sts})")


def dns_answers(name, n, qtype="A"):
    c = Counter()
    last = None
    for _ in range(n):
        last = DNSRecord.parse(DNSRecord.question(name, qtype).send("127.0.0.1", peer().dns_port, timeout=2))
        c[str(last.rr[0].rdata) if last.rr else RCODE.get(last.header.rcode)] += 1
    return c, last


def test_dns():
    set_weights(100, 0)
    c, last = dns_answers("api.example.test", 40)
    check_eq(dict(c), {"us-east-1.api.example.test.": 40}, "weights 100/0: only the first record answers")
    check(last.header.aa == 1 and last.rr[0].ttl == 60 and QTYPE.get(last.rr[1].rtype) == "A" and
          str(last.rr[1].rdata) == "192.0.2.1" and last.rr[1].ttl == 30,
          "authoritative, record TTLs, CNAME followed inside the zone")
    set_weights(0, 0)
    c, _ = dns_answers("api.example.test", 60, "CNAME")
    check(set(c) == {"us-east-1.api.example.test.", "eu-west-1.api.example.test."} and min(c.values()) >= 10,
          f"all weights 0: both records answer ({dict(c)})")
    set_weights(30, 10)
    c, _ = dns_answers("api.example.test", 200, "CNAME")
    check(100 < c["us-east-1.api.example.test."] < 190, f"weights 30/10 drawn by weight ({dict(c)})")
    set_weights(100, 0)
    _, r = dns_answers("nope.example.test", 1)
    check(r.header.rcode == RCODE.NXDOMAIN and r.header.aa == 1 and QTYPE.get(r.auth[0].rtype) == "SOA",
          "NXDOMAIN with the SOA for a missing name")
    _, r = dns_answers("api.example.test", 1, "TXT")
    check(r.header.rcode == RCODE.NOERROR and QTYPE.get(r.rr[0].rtype) == "CNAME", "other type: the CNAME")
    _, r = dns_answers("www.example.org", 1)
    check(r.header.rcode == RCODE.REFUSED and r.header.aa == 0, "REFUSED outside the zone")
    _, r = dns_answers("example.test", 1, "SOA")
    check(r.rr and QTYPE.get(r.rr[0].rtype) == "SOA", "SOA at the apex")
    _, r = dns_answers("example.test", 1, "NS")
    check(len(r.rr) == 4 and all(QTYPE.get(x.rtype) == "NS" for x in r.rr), "NS at the apex")


def test_credential_endpoints():
    p = peer()
    p.reset_stats()
    c = http.client.HTTPConnection("127.0.0.1", p.port, timeout=5)

    def req(method, path, headers=None):
        c.request(method, path, headers=headers or {})
        r = c.getresponse()
        return r.status, r.read().decode()

    st, _ = req("PUT", "/latest/api/token")
    check_eq(st, 400, "IMDSv2 token without TTL header")
    st, tok = req("PUT", "/latest/api/token", {"X-aws-ec2-metadata-token-ttl-seconds": "60"})
    check(st == 200 and len(tok) > 20, "IMDSv2 token")
    st, _ = req("GET", "/latest/meta-data/iam/security-credentials/")
    check_eq(st, 401, "IMDS without token -> 401")
    st, role = req("GET", "/latest/meta-data/iam/security-credentials/", {"X-aws-ec2-metadata-token": tok})
    check_eq((st, role), (200, "regiond-test-role"), "IMDS role name")
    st, doc = req("GET", f"/latest/meta-data/iam/security-credentials/{role}", {"X-aws-ec2-metadata-token": tok})
    imds = json.loads(doc)
    check(st == 200 and imds["Code"] == "Success" and imds["Type"] == "AWS-HMAC" and
          imds["AccessKeyId"].startswith("ASIA") and imds["Expiration"].endswith("Z"), "IMDS credentials")
    rc, out, err = aws("route53", "get-hosted-zone", "--id", ZID, key=imds["AccessKeyId"],
                       secret=imds["SecretAccessKey"], token=imds["Token"])
    check(rc == 0, f"IMDS credentials accepted by the API ({err.strip()})")
    rc, out, err = aws("route53", "get-hosted-zone", "--id", ZID, key=None,
                       env={"AWS_EC2_METADATA_DISABLED": "false", "AWS_EC2_METADATA_SERVICE_ENDPOINT": p.url + "/"})
    check(rc == 0, f"aws CLI's own IMDSv2 provider gets accepted credentials ({err.strip()})")

    st, _ = req("GET", "/v2/credentials/regiond")
    check_eq(st, 401, "container credentials without the Authorization token -> 401")
    st, doc = req("GET", "/v2/credentials/regiond", {"Authorization": "ctok-123"})
    ctr = json.loads(doc)
    check(st == 200 and ctr["AccessKeyId"] != imds["AccessKeyId"] and ctr["Token"], "container credentials minted")
    st, _ = signed("GET", f"/2013-04-01/hostedzone/{ZID}", key=ctr["AccessKeyId"], secret=ctr["SecretAccessKey"],
                   token=ctr["Token"])
    check_eq(st, 200, "container credentials accepted")
    rc, out, err = aws("route53", "get-hosted-zone", "--id", ZID, key=None,
                       env={"AWS_CONTAINER_CREDENTIALS_FULL_URI": p.url + "/v2/credentials/regiond",
                            "AWS_CONTAINER_AUTHORIZATION_TOKEN": "ctok-123"})
    check(rc == 0, f"aws CLI's container provider gets accepted credentials ({err.strip()})")
    p.expire_credentials(ctr["AccessKeyId"])
    st, body = signed("GET", f"/2013-04-01/hostedzone/{ZID}", key=ctr["AccessKeyId"],
                      secret=ctr["SecretAccessKey"], token=ctr["Token"])
    check(st == 403 and "<Code>ExpiredToken</Code>" in body, "expired credentials -> ExpiredToken")
    s = p.stats()
    check(s["imds_fetches"] >= 2 and s["container_fetches"] >= 2,
          f"fetches counted (imds {s['imds_fetches']}, container {s['container_fetches']})")
    c.close()


def test_robustness_and_exit():
    p = peer()
    s = socket.create_connection(("127.0.0.1", p.port), timeout=5)
    s.sendall(b"GARBAGE\r\n\r\n")
    data = b""
    while True:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    s.close()
    check(data.startswith(b"HTTP/1.") and b" 400 " in data.split(b"\r\n")[0] and b"<ErrorResponse" in data,
          "garbage request line -> 400 with error XML")
    c = http.client.HTTPConnection("127.0.0.1", p.port, timeout=5)
    c.putrequest("POST", f"/2013-04-01/hostedzone/{ZID}/rrset/")
    c.putheader("Content-Length", str(50 << 20))
    c.endheaders()
    r = c.getresponse()
    check(r.status == 400 and b"larger than" in r.read(), "oversized body refused without reading it")
    c.close()
    st, body = signed("POST", f"/2013-04-01/hostedzone/{ZID}/rrset/", b'<!DOCTYPE x [<!ENTITY a "b">]><x/>')
    check_eq(st, 400, "DTD in a body refused")
    st, _ = signed("GET", f"/2013-04-01/hostedzone/{ZID}")
    check_eq(st, 200, "peer still serves after malformed input")
    t0 = time.monotonic()
    rc = p.stop()
    check(rc == 0 and time.monotonic() - t0 < 3, f"SIGTERM: clean exit ({rc})")


if __name__ == "__main__":
    run_tests([test_cli_reads_and_changes, test_strict_requests, test_signatures, test_faults, test_dns,
               test_credential_endpoints, test_robustness_and_exit])
