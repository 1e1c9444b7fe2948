"""DNS as a client sees it, for the failover tests: ask a name server
directly (python3-dnslib, UDP), and a name server that lags behind the zone.

The checks built on these read the answers themselves, never regiond's own
account of them."""
import socket
import threading
import time

from dnslib import CNAME, QTYPE, RR, A, DNSRecord


def ask(port, name, qtype="A", host="127.0.0.1", timeout=2.0):
    """The values in the answer section of one query: addresses for A/AAAA,
    target names (no trailing dot) for CNAME."""
    q = DNSRecord.question(name, qtype)
    raw = q.send(host, port, timeout=timeout)
    rep = DNSRecord.parse(raw)
    want = getattr(QTYPE, qtype)
    return {str(rr.rdata).rstrip(".") for rr in rep.rr if rr.rtype == want}


def absent_run(ports, name, value, n, qtype="A", interval=0.02):
    """Ask each name server in PORTS n times in a row; the answers that held
    VALUE (empty when it was absent from all n x len(ports) answers)."""
    bad = []
    for _ in range(n):
        for p in ports:
            got = ask(p, name, qtype)
            if value in got:
                bad.append((p, sorted(got)))
        time.sleep(interval)
    return bad


def seen_within(ports, name, value, n, qtype="A", interval=0.02):
    """True when VALUE is in at least one of n answers from each server."""
    for p in ports:
        for _ in range(n):
            if value in ask(p, name, qtype):
                break
            time.sleep(interval)
        else:
            return False
    return True


class LaggingNS:
    """A name server of the zone that has not caught up: until catch_up()'s
    moment it answers NAME's QTYPE query with the OLD values (A: every one, so
    a drained one is in each answer; CNAME: the first, a CNAME answer holds
    one target); from then on it relays each query to the zone's real name
    server (UPSTREAM port) and its answer back."""

    def __init__(self, name, old_values, upstream, qtype="A"):
        self.name, self.old, self.upstream = name.rstrip(".") + ".", list(old_values), upstream
        self.qtype = qtype
        self.at = float("inf")
        self.queries = 0
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.running = True
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def catch_up(self, after_s):
        self.at = time.monotonic() + after_s
        return self.at

    def _run(self):
        while self.running:
            try:
                data, addr = self.sock.recvfrom(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            self.queries += 1
            try:
                if time.monotonic() >= self.at:
                    out = DNSRecord.parse(data).send("127.0.0.1", self.upstream, timeout=1.0)
                else:
                    q = DNSRecord.parse(data)
                    r = q.reply()
                    if str(q.q.qname).lower() == self.name.lower() and q.q.qtype == QTYPE.A and \
                            self.qtype == "A":
                        for v in self.old:
                            r.add_answer(RR(self.name, QTYPE.A, rdata=A(v), ttl=60))
                    elif str(q.q.qname).lower() == self.name.lower() and q.q.qtype == QTYPE.CNAME and \
                            self.qtype == "CNAME":
                        r.add_answer(RR(self.name, QTYPE.CNAME, rdata=CNAME(self.old[0] + "."), ttl=60))
                    out = r.pack()
                self.sock.sendto(out, addr)
            except Exception:   # a malformed query or a slow upstream: no answer, as a lost packet
                continue

    def close(self):
        self.running = False
        self.t.join(timeout=2)
        self.sock.close()
