"""Redaction at the source (issue 14, item 1).  The strict Route 53 peer
knows the session credentials with one secret and regiond signs with
another: every call gets SignatureDoesNotMatch with the canonical request
echoed, as AWS answers, including x-amz-security-token and its value.  The
token value (and the secret) then appears nowhere: daemon log, /v1/status,
/v1/weights, /metrics, the event ring, every webhook post, every state file.
The AWS alarm is raised once (keyed on the code, not the message, which
changes with every x-amz-date) and resolved when the peer learns the right
secret."""
import os
import secrets
import time

from harness import (Daemon, Nginx, Route53Peer, check, check_eq, free_port, run_tests, tmpdir, wait_for,
                     weighted_zone)
from test_alarms import Receiver
from test_secrets import events_ring, state_files

NAME = "api.example.test."
REGIONS = ["us-east-1", "eu-west-1"]
IPS = ["127.0.0.11", "127.0.0.12"]


def test_signature_mismatch_leaks_nothing():
    token = "IQoJb3JpZ2luX2VjE" + secrets.token_hex(40) + "/+="
    good = {"access_key": "ASIAREGIONDREDACT01", "secret_key": "Right+" + secrets.token_hex(16), "token": token}
    wrong_secret = "Wrong+" + secrets.token_hex(16)
    ports = [free_port() for _ in REGIONS]
    ngx = Nginx(ports)
    peer = Route53Peer(weighted_zone(NAME, {r: (ip, 100) for r, ip in zip(REGIONS, IPS)}),
                       creds=(dict(good, secret_key=wrong_secret + "x"),), pending_ms=200)
    hook = Receiver()
    regions = [{"name": r, "api": [{"url": f"http://127.0.0.1:{p}/health"}], "route53": {"value": ip, "weight": 100}}
               for r, p, ip in zip(REGIONS, ports, IPS)]
    cfg = {
        "controller": {"id": "ctl-redact", "listen": f"127.0.0.1:{free_port()}", "state_dir": tmpdir(),
                       "log_level": "debug"},
        "probe_defaults": {"interval_ms": 300, "timeout_ms": 250, "rise": 2, "fall": 2},
        "aws": {"endpoints": {"route53": peer.url}, "retry": {"base_ms": 20, "max_ms": 200}},
        "route53": {"hosted_zone_id": peer.zone_id, "record_name": NAME, "record_type": "A", "ttl": 60,
                    "name_servers": [f"127.0.0.1:{peer.dns_port}"], "reconcile_s": 5},
        "alarms": {"retry_base_ms": 100, "retry_max_ms": 1000,
                   "webhooks": [{"name": "ops", "url": f"http://127.0.0.1:{hook.port}/hook"}]},
        "regions": regions,
    }
    env = {"AWS_ACCESS_KEY_ID": good["access_key"], "AWS_SECRET_ACCESS_KEY": wrong_secret,
           "AWS_SESSION_TOKEN": token, "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
           "AWS_CONFIG_FILE": "/nonexistent"}
    d = Daemon(cfg, env=env)
    # The peer really answers with the canonical request, token included.
    wait_for(lambda: any(x.get("error") == "SignatureDoesNotMatch" for x in peer.stats()["requests"]), 10,
             "the peer refuses the signature")
    wait_for(lambda: any(m["key"] == "aws-route53" for m in hook.got), 10, "AWS alarm delivered")
    refused = lambda: [x for x in peer.stats()["requests"] if x.get("error") == "SignatureDoesNotMatch"]
    wait_for(lambda: len(refused()) >= 3, 25, "three refused reads (reconcile_s 5), each with a new x-amz-date")
    time.sleep(1)   # deliveries of anything a later attempt raised
    raised = [m for m in hook.got if m["key"] == "aws-route53"]
    check_eq(len(raised), 1, "one AWS alarm delivered, de-duplicated across attempts")
    check("SignatureDoesNotMatch" in raised[0].get("summary", ""), f"alarm names the code: {raised[0].get('summary')}")
    values = {"session token": token, "secret key": wrong_secret}
    places = {"/v1/status": d.get("/v1/status")[1].decode(errors="replace"),
              "/v1/weights": d.get("/v1/weights")[1].decode(errors="replace"),
              "/metrics": d.get("/metrics")[1].decode(errors="replace"),
              "/v1/events ring": events_ring(d.port)}
    check("SignatureDoesNotMatch" in places["/v1/status"], "status shows the failure's code")
    # Fixed: the peer learns the secret regiond signs with; the alarm resolves.
    peer.call("POST", "/_peer/credentials", [dict(good, secret_key=wrong_secret)])
    wait_for(lambda: any(m["key"] == "aws-route53" and m.get("state") == "resolved" for m in hook.got), 20,
             "AWS alarm resolved once calls work")
    check_eq(len([m for m in hook.got if m["key"] == "aws-route53"]), 2, "one trigger, one resolve")
    check_eq(d.stop(), 0, "clean exit")
    places["daemon log"] = d.read_log()
    places["webhook posts"] = repr(hook.got)
    for name, text in state_files(cfg["controller"]["state_dir"]).items():
        places["state_dir/" + name] = text
    check("canonical request removed" in places["daemon log"], "the log says the canonical request was removed")
    for where, text in places.items():
        found = [n for n, v in values.items() if v in text]
        check(not found, f"no secret in {where} ({len(text)} bytes){': LEAKED ' + ', '.join(found) if found else ''}")
    hook.close()
    peer.stop()
    ngx.stop()


if __name__ == "__main__":
    run_tests([test_signature_mismatch_leaks_nothing])
