#!/usr/bin/python3
"""A strict local Route 53 endpoint for regiond's tests (run with Debian's
/usr/bin/python3: it needs python3-botocore and python3-dnslib).

    route53_peer.py --zone ZONE.json [--zone ...] --credentials CREDS.json
                    [--port 0] [--dns-port 0] [--pending-ms 1000]
                    [--cred-ttl-s 900] [--container-path /v2/credentials/]
                    [--container-token TOKEN] [--rate-limit 0]
                    [--icb-form standard|legacy] [--max-skew-s 300] [--seed N]
                    [--verbose]

When ready it prints one JSON line {"port":..,"dns_port":..,"pid":..}.

HTTP on 127.0.0.1:PORT serves
  /2013-04-01/...   the Route 53 API (ListResourceRecordSets,
                    ChangeResourceRecordSets, GetChange, GetHostedZone,
                    ListHostedZones), every request SigV4-verified
  /latest/...       IMDSv2 (token, role name, role credentials)
  /v2/credentials/  container credentials
  /_peer/...        the unsigned control API (see README.md beside this file)
DNS (UDP and TCP) on 127.0.0.1:DNS_PORT answers for the zones."""
import argparse
import json
import os
import signal
import socket
import sys
import threading
import time
import uuid
from urllib.parse import parse_qsl, unquote, urlsplit

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import r53_xml  # noqa: E402
import sigv4_check  # noqa: E402
from peer_http import PeerHandler, Server  # noqa: E402
from r53_dns import DnsServer, Resolver  # noqa: E402
from r53_faults import ApiError, FaultsMixin, huge_body  # noqa: E402
from r53_state import State, iso_z  # noqa: E402
from r53_zone import ChangeError, Zone, canon_name  # noqa: E402

API = "/2013-04-01/"
ROLE = "regiond-test-role"
MAX_BODY = r53_xml.MAX_BODY
RRTYPES = r53_xml.MODEL.shape_for("RRType").enum


def load_zone(spec):
    return Zone(spec["id"], spec["name"], spec.get("records", []), health_checks=spec.get("health_checks"),
                comment=spec.get("comment"))


class Peer:
    def __init__(self, args):
        self.args = args
        self.huge = None
        self.state = State(args.pending_ms, args.cred_ttl_s, args.rate_limit, args.icb_form)
        self.zones = {}
        for path in args.zone or []:
            with open(path) as f:
                spec = json.load(f)
            for z in spec if isinstance(spec, list) else [spec]:
                zone = load_zone(z)
                self.zones[zone.id] = zone
        if args.credentials:
            with open(args.credentials) as f:
                self.state.set_static(json.load(f))
        self.resolver = Resolver(lambda: list(self.zones.values()),
                                 rng=__import__("random").Random(args.seed) if args.seed is not None else None)

    # ------------------------------------------------ routing of API paths
    @staticmethod
    def route(method, path):
        """(operation, {uri params}) or raise ApiError."""
        rest = path[len(API):]
        parts = rest.split("/")
        if parts[0] == "hostedzone":
            if len(parts) == 1:
                if method == "GET":
                    return "ListHostedZones", {}
            elif len(parts) == 2 and parts[1]:
                if method == "GET":
                    return "GetHostedZone", {"Id": unquote(parts[1])}
            elif len(parts) in (3, 4) and parts[2] == "rrset" and (len(parts) == 3 or parts[3] == ""):
                zid = unquote(parts[1])
                if method == "GET":
                    return "ListResourceRecordSets", {"HostedZoneId": zid}
                if method == "POST":
                    return "ChangeResourceRecordSets", {"HostedZoneId": zid}
        elif parts[0] == "change" and len(parts) == 2 and parts[1]:
            if method == "GET":
                return "GetChange", {"Id": unquote(parts[1])}
        raise ApiError(404, "UnknownOperationException", f"No operation matches {method} {path}")

    def zone(self, zid):
        z = self.zones.get(zid)
        if z is None:
            raise ApiError(404, "NoSuchHostedZone", f"No hosted zone found with ID: {zid}")
        return z

    # ------------------------------------------------ operations
    def op_ListResourceRecordSets(self, uri, query, _body):
        zone = self.zone(uri["HostedZoneId"])
        params = dict(uri)
        for k, m in (("name", "StartRecordName"), ("type", "StartRecordType"),
                     ("identifier", "StartRecordIdentifier"), ("maxitems", "MaxItems")):
            if k in query:
                params[m] = query[k]
        try:
            r53_xml.judge(r53_xml.MODEL.operation_model("ListResourceRecordSets").input_shape, params)
        except r53_xml.XmlInputError as e:
            raise ApiError(400, e.code, e.message)
        name, rtype, ident = params.get("StartRecordName"), params.get("StartRecordType"), \
            params.get("StartRecordIdentifier")
        if rtype is not None and name is None:
            raise ApiError(400, "InvalidInput", "The input is not valid: type is specified without name")
        if ident is not None and rtype is None:
            raise ApiError(400, "InvalidInput", "The input is not valid: identifier is specified without name "
                           "and type")
        if name is not None:
            try:
                name = canon_name(name)
            except ValueError as e:
                raise ApiError(400, "InvalidInput", f"Invalid name '{params['StartRecordName']}': {e}")
        max_items = 300
        if "MaxItems" in params:
            mi = params["MaxItems"]
            if not mi.isdigit() or int(mi) < 1:
                raise ApiError(400, "InvalidInput", f"Value '{mi}' for parameter maxitems is invalid: it must be "
                               "a positive integer")
            max_items = min(int(mi), 300)
        page, nxt = zone.list(name, rtype, ident, max_items)
        out = {"ResourceRecordSets": page, "IsTruncated": nxt is not None, "MaxItems": str(max_items)}
        if nxt:
            out["NextRecordName"], out["NextRecordType"] = nxt[0], nxt[1]
            if nxt[2] is not None:
                out["NextRecordIdentifier"] = nxt[2]
        return out

    def op_ChangeResourceRecordSets(self, uri, _query, body, key=None):
        zone = self.zone(uri["HostedZoneId"])
        try:
            params = r53_xml.parse_request("ChangeResourceRecordSets", body, uri)
        except r53_xml.XmlInputError as e:
            raise ApiError(e.status, e.code, e.message)
        batch = params["ChangeBatch"]
        groups = set()
        for c in batch["Changes"]:
            try:
                groups.add((canon_name(c["ResourceRecordSet"]["Name"]), c["ResourceRecordSet"]["Type"]))
            except ValueError:
                pass            # zone.apply names the bad name
        groups = sorted(groups)
        with zone.lock:     # an RLock: the groups before and after, atomically with the batch
            before = [r for g in groups for r in zone.group(*g)]
            try:
                zone.apply(batch["Changes"])
            except ChangeError as e:
                self.state.add_rejected(zone.id, batch.get("Comment"), batch["Changes"], key, e.code, e.messages,
                                        before)
                if e.code == "InvalidChangeBatch":
                    raise
                raise ApiError(e.status, e.code, e.messages[0])
            after = [r for g in groups for r in zone.group(*g)]
            rec = self.state.add_change(zone.id, batch.get("Comment"), batch["Changes"], key=key, before=before,
                                        after=after)
        return {"ChangeInfo": self.state.change_info(rec)}

    def op_GetChange(self, uri, _query, _body):
        cid = uri["Id"]
        with self.state.lock:
            rec = self.state.changes.get(cid)
        if rec is None:
            raise ApiError(404, "NoSuchChange", f"A change with the specified change ID does not exist: {cid}")
        return {"ChangeInfo": self.state.change_info(rec)}

    def hosted_zone(self, zone):
        with zone.lock:
            count = len(zone.records)
        hz = {"Id": "/hostedzone/" + zone.id, "Name": zone.name, "CallerReference": zone.caller_reference,
              "Config": {"PrivateZone": False}, "ResourceRecordSetCount": count}
        if zone.comment:
            hz["Config"]["Comment"] = zone.comment
        return hz

    def op_GetHostedZone(self, uri, _query, _body):
        zone = self.zone(uri["Id"])
        ns = zone.group(zone.name, "NS")
        servers = [v["Value"].rstrip(".") for v in ns[0]["ResourceRecords"]] if ns else []
        return {"HostedZone": self.hosted_zone(zone), "DelegationSet": {"NameServers": servers}}

    def op_ListHostedZones(self, _uri, query, _body):
        max_items = 100
        if "maxitems" in query:
            mi = query["maxitems"]
            if not mi.isdigit() or int(mi) < 1:
                raise ApiError(400, "InvalidInput", f"Value '{mi}' for parameter maxitems is invalid")
            max_items = min(int(mi), 100)
        ids = list(self.zones)
        if "marker" in query:
            if query["marker"] not in self.zones:
                raise ApiError(400, "InvalidInput", f"Invalid marker: {query['marker']}")
            ids = ids[ids.index(query["marker"]):]
        page, rest = ids[:max_items], ids[max_items:]
        out = {"HostedZones": [self.hosted_zone(self.zones[i]) for i in page], "IsTruncated": bool(rest),
               "MaxItems": str(max_items), "Marker": query.get("marker", "")}
        if rest:
            out["NextMarker"] = rest[0]
        return out


class Handler(FaultsMixin, PeerHandler):
    server_version = "route53-peer"
    sys_version = ""
    timeout = 30
    default_ctype = "text/xml"
    max_body = MAX_BODY

    # ------------------------------------------------ plumbing
    def log_message(self, fmt, *args):
        if self.peer.args.verbose:
            sys.stderr.write("route53-peer: " + (fmt % args) + "\n")

    def send_error(self, code, message=None, explain=None):
        """Malformed HTTP: an error XML instead of http.server's HTML."""
        self.close_connection = True
        if getattr(self, "request_version", "HTTP/0.9") == "HTTP/0.9":
            self.request_version = "HTTP/1.0"      # so the status line and headers are written
        body = r53_xml.error_xml("InvalidRequest" if code < 500 else "InternalFailure",
                                 message or "Bad request", str(uuid.uuid4()))
        try:
            self.send_response(code, message)
            self.send_header("Content-Type", "text/xml")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
        except OSError:
            pass

    def _json(self, status, obj):
        self._reply(status, (json.dumps(obj, default=str) + "\n").encode(), "application/json")

    def _read_body(self):
        te = self.headers.get("Transfer-Encoding")
        cl = self.headers.get("Content-Length")
        if te is not None:
            if cl is not None or te.lower() != "chunked":
                raise ApiError(400, "InvalidRequest", "Unsupported Transfer-Encoding or both Transfer-Encoding "
                               "and Content-Length")
            return self._read_chunked()
        if cl is None:
            return b""
        if not cl.isdigit():
            raise ApiError(400, "InvalidRequest", f"Invalid Content-Length '{cl}'")
        n = int(cl)
        if n > MAX_BODY:
            raise ApiError(400, "InvalidRequest", f"Request body of {n} bytes is larger than {MAX_BODY}")
        return self.rfile.read(n)

    def _chunk_error(self, too_large):
        return ApiError(400, "InvalidRequest", "Request body too large" if too_large else "Malformed chunk")

    def do_GET(self):
        self._dispatch()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_GET

    def _dispatch(self):
        try:
            path = urlsplit(self.path).path
            if path.startswith(API) or path == API.rstrip("/"):
                self._api()
            elif path.startswith("/_peer/"):
                self._control(path)
            elif path.startswith("/latest/"):
                self._imds(path)
            elif path.startswith(self.peer.args.container_path):
                self._container()
            else:
                self._read_body()
                self._reply(404, b"not found\n", "text/plain")
        except ApiError as e:
            self.close_connection = True
            self._reply(e.status, r53_xml.error_xml(e.code, e.message, str(uuid.uuid4()), e.etype))
        except (ConnectionError, socket.timeout):
            self.close_connection = True
        except Exception as e:          # never die on a request
            self.close_connection = True
            sys.stderr.write(f"route53-peer: internal error on {self.command} {self.path}: {e!r}\n")
            try:
                self._reply(500, r53_xml.error_xml("InternalFailure", f"peer error: {e!r}", str(uuid.uuid4()),
                                                   "Receiver"))
            except OSError:
                pass

    # ------------------------------------------------ the API
    def _api(self):
        st = self.peer.state
        body = self._read_body()
        t = time.monotonic()
        split = urlsplit(self.path)
        signed = self.headers.get("Authorization") is not None
        entry = {"t": t, "method": self.command, "path": split.path, "query": split.query, "op": None,
                 "status": None, "key": None, "signed": signed}
        rid = str(uuid.uuid4())
        try:
            try:
                op, uri = self.peer.route(self.command, split.path)
            except ApiError:
                op, uri = None, None
            entry["op"] = op
            try:
                entry["key"] = sigv4_check.verify(self.command, self.path, list(self.headers.items()), body,
                                                  st.lookup, max_skew_s=self.peer.args.max_skew_s)
            except sigv4_check.AuthError as e:
                entry["key"] = e.key
                with st.lock:
                    st.rejected_signatures += 1
                raise ApiError(403, e.code, e.message)
            if op is None:
                self.peer.route(self.command, split.path)
            if st.rate_limit and st.rate_in_last_second(t) >= st.rate_limit:
                raise ApiError(400, "Throttling", "Rate exceeded")
            self._faults_before(op, entry)
            if entry.get("fault") in ("drop", "endless", "huge"):
                return
            query = dict(parse_qsl(split.query, keep_blank_values=True))
            try:
                if op == "ChangeResourceRecordSets":
                    data = self.peer.op_ChangeResourceRecordSets(uri, query, body, key=entry["key"])
                else:
                    data = getattr(self.peer, "op_" + op)(uri, query, body)
            except ChangeError as e:
                entry["status"], entry["error"] = 400, "InvalidChangeBatch"
                entry["messages"] = e.messages
                if self._faults_after(op, entry):
                    return
                self._reply(400, r53_xml.invalid_change_batch_xml(e.messages, rid, st.icb_form),
                            headers=[("x-amzn-RequestId", rid)])
                return
            out = r53_xml.build_response(op, data)
            entry["status"] = 200
            if self._faults_after(op, entry):
                return
            self._reply(200, out, headers=[("x-amzn-RequestId", rid)])
        except ApiError as e:
            entry["status"], entry["error"] = e.status, e.code
            self._reply(e.status, r53_xml.error_xml(e.code, e.message, rid, e.etype),
                        headers=[("x-amzn-RequestId", rid)])
        finally:
            st.record(entry)

    def _control(self, path):
        st, peer = self.peer.state, self.peer
        body = self._read_body()
        try:
            arg = json.loads(body) if body.strip() else {}
        except ValueError as e:
            return self._json(400, {"error": f"bad JSON: {e}"})
        m = self.command
        q = dict(parse_qsl(urlsplit(self.path).query))
        try:
            if path == "/_peer/stats" and m == "GET":
                s = st.stats()
                s["dns_queries"] = peer.resolver.queries
                return self._json(200, s)
            if path == "/_peer/reset-stats" and m == "POST":
                st.reset_stats()
                return self._json(200, {"ok": True})
            if path == "/_peer/inject" and m == "POST":
                st.inject(arg)
                if arg.get("huge"):
                    huge_body(peer)             # now, not in the request it answers
                return self._json(200, st.faults_view())
            if path == "/_peer/inject" and m == "GET":
                return self._json(200, st.faults_view())
            if path == "/_peer/clear-faults" and m == "POST":
                st.clear_faults()
                return self._json(200, st.faults_view())
            if path == "/_peer/records":
                zone = peer.zones.get(q.get("zone") or arg.get("zone") or next(iter(peer.zones), None))
                if zone is None:
                    return self._json(404, {"error": "no such zone"})
                if m in ("POST", "PUT"):
                    zone.set_records(arg.get("records", []))
                return self._json(200, {"id": zone.id, "name": zone.name, "records": zone.sorted_records()})
            since = int(q.get("since", 0))       # only entries with a larger seq
            if path == "/_peer/changes" and m == "GET":
                with st.lock:
                    recs = [dict(st.changes[c]) for c in st.change_order if st.changes[c]["seq"] > since]
                for r in recs:
                    r["status"] = st.change_status(r)
                    r["submitted_at"] = iso_z(r["submitted"])
                return self._json(200, {"changes": recs})
            if path == "/_peer/rejected" and m == "GET":
                with st.lock:
                    return self._json(200, {"rejected": [dict(r) for r in st.rejected if r["seq"] > since]})
            if path == "/_peer/credentials" and m == "POST":
                st.set_static(arg if isinstance(arg, list) else arg.get("credentials", []))
                return self._json(200, {"ok": True, "count": len(st.static_creds)})
            if path == "/_peer/expire-credentials" and m == "POST":
                return self._json(200, {"expired": st.expire(arg.get("access_key"))})
            if path == "/_peer/health" and m == "POST":
                zone = peer.zones.get(arg.get("zone") or next(iter(peer.zones)))
                with zone.lock:
                    zone.health_checks[str(arg["id"])] = bool(arg.get("healthy", True))
                return self._json(200, {"health_checks": zone.health_checks})
            if path == "/_peer/config":
                if m == "POST":
                    self._set_config(arg)
                return self._json(200, {"pending_ms": st.pending_ms, "rate_limit": st.rate_limit,
                                        "icb_form": st.icb_form, "cred_ttl_s": st.cred_ttl_s})
            if path == "/_peer/dns-log" and m == "GET":
                with peer.resolver.lock:
                    return self._json(200, {"queries": list(peer.resolver.log)})
        except (ValueError, KeyError, TypeError, StopIteration, AttributeError, ChangeError) as e:
            return self._json(400, {"error": f"{type(e).__name__}: {e}"})
        return self._json(404, {"error": f"no control endpoint {m} {path}"})

    def _set_config(self, arg):
        st = self.peer.state
        with st.lock:
            if "pending_ms" in arg:
                st.pending_ms = int(arg["pending_ms"])
            if "rate_limit" in arg:
                st.rate_limit = int(arg["rate_limit"])
            if "cred_ttl_s" in arg:
                st.cred_ttl_s = int(arg["cred_ttl_s"])
            if "icb_form" in arg:
                if arg["icb_form"] not in ("standard", "legacy"):
                    raise ValueError("icb_form is standard or legacy")
                st.icb_form = arg["icb_form"]

    # ------------------------------------------------ credential endpoints
    def _imds(self, path):
        st = self.peer.state
        self._read_body()
        if path == "/latest/api/token":
            if self.command != "PUT":
                return self._reply(405, b"", "text/plain")
            if self.headers.get("X-Forwarded-For") is not None:
                return self._reply(403, b"", "text/plain")
            ttl = self.headers.get("X-aws-ec2-metadata-token-ttl-seconds")
            if ttl is None or not ttl.isdigit() or not 1 <= int(ttl) <= 21600:
                return self._reply(400, b"", "text/plain")
            tok = st.new_imds_token(int(ttl))
            return self._reply(200, tok.encode(), "text/plain",
                               headers=[("X-aws-ec2-metadata-token-ttl-seconds", ttl)])
        if self.command not in ("GET", "HEAD"):
            return self._reply(405, b"", "text/plain")
        if not st.imds_token_ok(self.headers.get("X-aws-ec2-metadata-token")):
            return self._reply(401, b"", "text/plain")
        base = "/latest/meta-data/iam/security-credentials"
        if path in (base, base + "/"):
            return self._reply(200, ROLE.encode(), "text/plain")
        if path == f"{base}/{ROLE}":
            if st.take_fault("imds_fail", "imds"):
                return self._reply(500, b"", "text/plain")
            c = st.mint("imds")
            doc = {"Code": "Success", "LastUpdated": c["LastUpdated"], "Type": "AWS-HMAC",
                   "AccessKeyId": c["AccessKeyId"], "SecretAccessKey": c["SecretAccessKey"], "Token": c["Token"],
                   "Expiration": c["Expiration"]}
            return self._reply(200, json.dumps(doc, indent=2).encode(), "text/plain")
        return self._reply(404, b"", "text/plain")

    def _container(self):
        st, args = self.peer.state, self.peer.args
        self._read_body()
        if self.command != "GET":
            return self._json(405, {"code": "MethodNotAllowed", "message": "GET only"})
        if args.container_token is not None and self.headers.get("Authorization") != args.container_token:
            return self._json(401, {"code": "AccessDenied", "message": "Authorization token is missing or "
                                    "not valid"})
        if st.take_fault("container_fail", "container"):
            return self._json(500, {"code": "InternalError", "message": "injected failure"})
        c = st.mint("container")
        return self._json(200, {"AccessKeyId": c["AccessKeyId"], "SecretAccessKey": c["SecretAccessKey"],
                                "Token": c["Token"], "Expiration": c["Expiration"],
                                "RoleArn": f"arn:aws:iam::123456789012:role/{ROLE}"})


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--dns-port", type=int, default=0)
    p.add_argument("--zone", action="append", help="zone JSON file (repeatable)")
    p.add_argument("--credentials", help="JSON list of {access_key, secret_key, token?}")
    p.add_argument("--pending-ms", type=int, default=1000)
    p.add_argument("--cred-ttl-s", type=int, default=900)
    p.add_argument("--container-path", default="/v2/credentials/")
    p.add_argument("--container-token")
    p.add_argument("--rate-limit", type=int, default=0, help="signed requests/s before Throttling (0: none)")
    p.add_argument("--icb-form", choices=("standard", "legacy"), default="standard")
    p.add_argument("--max-skew-s", type=int, default=300)
    p.add_argument("--seed", type=int, help="seed of the DNS weighted choice")
    p.add_argument("--no-dns", action="store_true")
    p.add_argument("--verbose", action="store_true")
    args = p.parse_args(argv)
    if not args.host.startswith("127.") and args.host != "::1":
        p.error("the peer listens on loopback only")
    return args


def main(argv=None):
    args = parse_args(argv)
    try:
        peer = Peer(args)
    except (OSError, ValueError, KeyError, TypeError, ChangeError) as e:
        sys.stderr.write(f"route53-peer: bad zone or credentials file: {e}\n")
        return 2
    Handler.peer = peer
    httpd = Server((args.host, args.port), Handler)
    dns = None
    if not args.no_dns:
        dns = DnsServer(peer.resolver, args.host, args.dns_port)
        dns.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    t = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
    t.start()
    print(json.dumps({"port": httpd.server_address[1], "dns_port": dns.port if dns else None,
                      "pid": os.getpid()}), flush=True)
    while not stop.wait(1.0):
        pass
    httpd.shutdown()
    httpd.server_close()
    if dns:
        dns.close()
    return 0


if __name__ == "__main__":
    rc = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # Everything is stopped by now: skip the interpreter's teardown of botocore's models, which can take
    # seconds on a loaded 2-core machine, past the test harness's 5 s bound for the peer to exit on SIGTERM.
    os._exit(rc)
