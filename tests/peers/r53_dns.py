"""Authoritative DNS for the test peer's hosted zones (UDP and TCP on
127.0.0.1, python3-dnslib for the wire format).

Like Route 53's name servers: a weighted group (same name and type, several
SetIdentifiers) answers ONE record per query, drawn at random by weight; a
group whose weights are all 0 answers each record with equal probability;
records whose health check is unhealthy are left out unless all are.  CNAMEs
are followed inside the zone; aliases to records of the same zone answer the
target's records under the queried name.  NXDOMAIN for names of the zone that
do not exist (SOA in the authority section), NOERROR/NODATA for names that
exist without the type, REFUSED for names outside every zone."""
import random
import socket
import struct
import threading
import time

from dnslib import AAAA, CAA, CNAME, MX, NS, PTR, QTYPE, RCODE, RR, SOA, SRV, TXT, A, DNSRecord, DNSError

from r53_zone import canon_name, plain_name, txt_strings

MAX_CHAIN = 8
ZONE_TYPES = {"SOA", "A", "TXT", "NS", "CNAME", "MX", "NAPTR", "PTR", "SRV", "SPF", "AAAA", "CAA", "DS"}


def _rdata(rtype, value):
    f = value.split()
    if rtype == "A":
        return A(value)
    if rtype == "AAAA":
        return AAAA(value)
    if rtype == "CNAME":
        return CNAME(plain_name(value))
    if rtype == "NS":
        return NS(plain_name(value))
    if rtype == "PTR":
        return PTR(plain_name(value))
    if rtype in ("TXT", "SPF"):
        return TXT([s.encode("latin-1", "replace") for s in txt_strings(value)])
    if rtype == "MX":
        return MX(plain_name(f[1]), int(f[0]))
    if rtype == "SRV":
        return SRV(int(f[0]), int(f[1]), int(f[2]), plain_name(f[3]))
    if rtype == "SOA":
        return SOA(f[0], f[1], tuple(int(x) for x in f[2:7]))
    if rtype == "CAA":
        tag, rest = f[1], value.split(" ", 2)[2]
        return CAA(int(f[0]), tag, rest.strip('"'))
    return None


class Resolver:
    """Answers from the peer's zones (a callable returning the Zone list)."""

    def __init__(self, zones, rng=None):
        self.zones = zones
        self.rng = rng or random.Random()
        self.lock = threading.Lock()
        self.queries = 0
        self.log = []           # last answers, for /_peer/dns-log

    def zone_for(self, cname):
        best = None
        for z in self.zones():
            if cname == z.name or cname.endswith("." + z.name):
                if best is None or len(z.name) > len(best.name):
                    best = z
        return best

    def pick(self, zone, group):
        """The one record of a group Route 53 would answer with."""
        if len(group) <= 1 or all(r.get("SetIdentifier") is None for r in group):
            return group[0] if group else None
        healthy = [r for r in group if zone.health_checks.get(r.get("HealthCheckId"), True)]
        group = healthy or group
        if any(r.get("Weight") is not None for r in group):
            weights = [int(r.get("Weight") or 0) for r in group]
            if sum(weights) == 0:
                return self.rng.choice(group)
            return self.rng.choices(group, weights=weights)[0]
        primary = [r for r in group if r.get("Failover") == "PRIMARY"]
        return (primary or group)[0]

    def _records(self, zone, cname, rtype, qname, depth=0):
        """RRs for (name, type) after selection and alias resolution."""
        rec = self.pick(zone, zone.group(cname, rtype))
        if rec is None:
            return None
        at = rec.get("AliasTarget")
        if at is not None:
            if at.get("HostedZoneId") != zone.id or depth >= MAX_CHAIN:
                return []
            return self._records(zone, at["DNSName"], rtype, qname, depth + 1)
        ttl = int(rec.get("TTL") or 0)
        out = []
        for v in rec.get("ResourceRecords") or []:
            rd = _rdata(rtype, v["Value"])
            if rd is not None:
                out.append(RR(qname, getattr(QTYPE, rtype), rdata=rd, ttl=ttl))
        return out

    def _soa(self, zone):
        recs = self._records(zone, zone.name, "SOA", plain_name(zone.name)) or []
        for rr in recs:
            rr.ttl = min(rr.ttl, rr.rdata.times[4])
        return recs

    def _wildcard(self, zone, cname):
        labels = cname.rstrip(".").split(".")
        zl = len(zone.name.rstrip(".").split("."))
        names = zone.names()
        for i in range(1, len(labels) - zl + 1):
            encloser = ".".join(labels[i:]) + "."
            if "\\052." + encloser in names:
                return "\\052." + encloser
            if encloser in names:
                return None
        return None

    def resolve(self, request):
        reply = request.reply(ra=0, aa=0)
        q = request.q
        with self.lock:
            self.queries += 1
        if request.header.opcode != 0:
            reply.header.rcode = RCODE.NOTIMP
            return reply
        try:
            cname = canon_name(str(q.qname))
        except ValueError:
            reply.header.rcode = RCODE.FORMERR
            return reply
        zone = self.zone_for(cname)
        if zone is None:
            reply.header.rcode = RCODE.REFUSED
            return reply
        reply.header.aa = 1
        qtype = QTYPE.get(q.qtype)
        qname = q.qname
        for _ in range(MAX_CHAIN):
            names = zone.names()
            owner = cname
            if cname not in names and not any(n.endswith("." + cname) for n in names):
                owner = self._wildcard(zone, cname)
                if owner is None:
                    reply.header.rcode = RCODE.NXDOMAIN
                    reply.auth = self._soa(zone)
                    break
            if qtype == "ANY":
                with zone.lock:
                    types = sorted({t for (n, t, _s) in zone.records if n == owner})
                for t in types:
                    reply.rr += self._records(zone, owner, t, qname) or []
                break
            recs = self._records(zone, owner, qtype, qname) if qtype in ZONE_TYPES else None
            if recs:
                reply.rr += recs
                break
            if qtype != "CNAME":
                cn = self._records(zone, owner, "CNAME", qname)
                if cn:
                    reply.rr += cn
                    target = canon_name(str(cn[0].rdata.label))
                    tzone = self.zone_for(target)
                    if tzone is not zone:
                        break
                    cname, qname = target, cn[0].rdata.label
                    continue
            reply.auth = self._soa(zone)
            break
        with self.lock:
            self.log.append({"t": time.monotonic(), "qname": str(q.qname), "qtype": qtype,
                             "rcode": RCODE.get(reply.header.rcode),
                             "answer": [f"{rr.rname} {QTYPE.get(rr.rtype)} {rr.rdata}" for rr in reply.rr]})
            del self.log[:-2000]
        return reply

    def answer(self, data, udp=False):
        try:
            request = DNSRecord.parse(data)
        except (DNSError, Exception):
            if len(data) >= 12:
                (qid,) = struct.unpack("!H", data[:2])
                return struct.pack("!HHHHHH", qid, 0x8001, 0, 0, 0, 0)   # FORMERR
            return None
        try:
            reply = self.resolve(request)
        except Exception:
            reply = request.reply(ra=0, aa=0)
            reply.header.rcode = RCODE.SERVFAIL
        out = reply.pack()
        if udp:
            limit = max(512, min(request.ar[0].edns_len if request.ar and request.ar[0].rtype == 41 else 512,
                                 4096))
            if len(out) > limit:
                out = reply.truncate().pack()
        return out


class DnsServer:
    """UDP (and TCP on the same port when free) on host:port; port 0 picks."""

    def __init__(self, resolver, host="127.0.0.1", port=0):
        self.resolver = resolver
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind((host, port))
        self.port = self.udp.getsockname()[1]
        self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self.tcp.bind((host, self.port))
            self.tcp.listen(16)
        except OSError:
            self.tcp.close()
            self.tcp = None
        self.stopping = False

    def start(self):
        threading.Thread(target=self._udp_loop, daemon=True).start()
        if self.tcp:
            threading.Thread(target=self._tcp_loop, daemon=True).start()

    def _udp_loop(self):
        while not self.stopping:
            try:
                data, addr = self.udp.recvfrom(4096)
            except OSError:
                return
            out = self.resolver.answer(data, udp=True)
            if out:
                try:
                    self.udp.sendto(out, addr)
                except OSError:
                    pass

    def _tcp_loop(self):
        while not self.stopping:
            try:
                conn, _ = self.tcp.accept()
            except OSError:
                return
            threading.Thread(target=self._tcp_conn, args=(conn,), daemon=True).start()

    def _tcp_conn(self, conn):
        conn.settimeout(5)
        try:
            while True:
                hdr = self._recv(conn, 2)
                if not hdr:
                    return
                (n,) = struct.unpack("!H", hdr)
                data = self._recv(conn, n)
                if data is None:
                    return
                out = self.resolver.answer(data)
                if out:
                    conn.sendall(struct.pack("!H", len(out)) + out)
        except OSError:
            pass
        finally:
            conn.close()

    @staticmethod
    def _recv(conn, n):
        buf = b""
        while len(buf) < n:
            chunk = conn.recv(n - len(buf))
            if not chunk:
                return None
            buf += chunk
        return buf

    def close(self):
        self.stopping = True
        self.udp.close()
        if self.tcp:
            self.tcp.close()
