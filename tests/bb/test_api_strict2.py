"""Strict framing and Host, second round (issue 13), against the strict
Route 53 peer: each hostile request below carries a drain of us-east-1 that
would change the peer's weights if any reading of the bytes served it.

- Transfer-Encoding in an HTTP/1.0 request: RFC 9112 6.1 makes the framing
  faulty; regiond must answer 400 and close (it read the body as chunked and
  applied the drain).
- A chunked request body at all: evhttp's chunk parser is lax ("+2a",
  "0x2a", " 2a" are sizes to it, no CRLF needed after a chunk's data), and
  regiond offers no hook to make it strict, so the body must come with a
  Content-Length: 411, closed.
- A header name that is not a token ("Content-Length : N", RFC 9112 5.1:
  whitespace before the colon MUST be 400): evhttp kept "Content-Length " as
  another header, read no body, and served the request smuggled in it.
- HEAD with a body (Content-Length above 0, or chunked): evhttp reads no
  body for HEAD, so the body was served as the next request: 400.
- A request target with a control byte or a second space, and a version that
  is not HTTP/1.x: 400.
- Host with a port that is not one decimal 1-65535 ("localhost:80:80",
  "[::1]:80:80", "localhost:", "localhost:8x", "localhost:0",
  "localhost:65536") -> 403; "[::1]:8080", "localhost:65535", "[::1]",
  "127.0.0.1:1" still served.
Nothing changes in the Route 53 peer, no override is set, not frozen."""
import json
import re
import socket
import time

from harness import check, check_eq, eventually, run_tests
from test_failover import NAME, REGIONS, TOKENS, setup, wait_all_up

TOKEN = [l.split()[1] for l in open(TOKENS) if l.strip() and not l.startswith("#")][0]
DRAIN = json.dumps({"region": "us-east-1", "action": "drain", "duration_s": 600}).encode()
AUTH = f"Authorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\n".encode()


def raw(port, data, wait=1.0):
    """Send bytes, read until the server closes (or `wait` passes); the
    bytes and whether the server closed."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(data)
    s.settimeout(wait)
    out, closed = b"", False
    try:
        while True:
            b = s.recv(65536)
            if not b:
                closed = True
                break
            out += b
    except socket.timeout:
        pass
    except ConnectionResetError:
        closed = True
    s.close()
    return out, closed


def codes(out):
    """Status codes of the HTTP replies in a byte stream (Content-Length framed)."""
    res = []
    while re.match(rb"HTTP/\S+ \d{3} ", out):
        head, _, rest = out.partition(b"\r\n\r\n")
        res.append(int(head.split(b" ")[1]))
        n = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                n = int(line.split(b":")[1])
        out = rest[n:]
    return res


def drain_req(version=b"HTTP/1.1", extra=b"", body=DRAIN, cl=True):
    h = b"POST /v1/overrides " + version + b"\r\nHost: 127.0.0.1\r\n" + AUTH
    if cl:
        h += f"Content-Length: {len(body)}\r\n".encode()
    return h + extra + b"\r\n" + body


def chunked(body, size=None):
    return (size if size is not None else f"{len(body):x}".encode()) + b"\r\n" + body + b"\r\n0\r\n\r\n"


def expect(p, what, data, want):
    out, closed = raw(p, data)
    got = codes(out)
    check(got == [want] and closed, f"{what} -> {want} and closed (got {got}, closed {closed}: {out[:60]!r})")


def test_framing():
    ngx, ports, peer, cfg, d, env = setup()
    wait_all_up(d)
    p = d.port
    n0 = len(peer.changes())
    te = b"Transfer-Encoding: chunked\r\n"
    expect(p, "HTTP/1.0 with Transfer-Encoding: chunked",
           drain_req(b"HTTP/1.0", te, chunked(DRAIN), cl=False), 400)
    expect(p, "HTTP/1.0 with Transfer-Encoding: chunked and Connection: keep-alive",
           drain_req(b"HTTP/1.0", te + b"Connection: keep-alive\r\n", chunked(DRAIN), cl=False), 400)
    expect(p, "HTTP/1.0 GET with Transfer-Encoding: chunked",
           b"GET /healthz HTTP/1.0\r\nHost: 127.0.0.1\r\n" + te + b"\r\n0\r\n\r\n", 400)
    expect(p, "HTTP/1.1 chunked body", drain_req(extra=te, body=chunked(DRAIN), cl=False), 411)
    for size in [b"+" + f"{len(DRAIN):x}".encode(), b"0x" + f"{len(DRAIN):x}".encode(),
                 b" " + f"{len(DRAIN):x}".encode()]:
        expect(p, f"HTTP/1.1 chunk size {size!r}", drain_req(extra=te, body=chunked(DRAIN, size), cl=False), 411)
    smuggled = drain_req()
    for name in [b"Content-Length ", b"Content-Length\t", b"Content Length", b"Content-Length\x0b"]:
        data = (b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n" + name + b": " + str(len(smuggled)).encode() +
                b"\r\n\r\n" + smuggled)
        expect(p, f"header name {name!r} with a drain in its body", data, 400)
    expect(p, "Transfer-Encoding with a space before the colon, and a Content-Length",
           drain_req(extra=b"Transfer-Encoding : chunked\r\n"), 400)
    expect(p, "HEAD with a drain as its Content-Length body",
           b"HEAD /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: " + str(len(smuggled)).encode() +
           b"\r\n\r\n" + smuggled, 400)
    expect(p, "HEAD with a chunked drain", b"HEAD /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n" + te + b"\r\n" +
           chunked(smuggled), 400)
    out, _ = raw(p, b"HEAD /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    check_eq(codes(out), [200], "HEAD with Content-Length: 0 served")
    expect(p, "a header with an empty name", b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n: x\r\n\r\n", 400)
    expect(p, "a target with a second space", b"GET /healthz x HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 400)
    expect(p, "a target with a control byte", b"GET /health\x01z HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 400)
    expect(p, "a target with a tab", b"GET /healthz\t HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 400)
    expect(p, "HTTP/0.9 in the request line", b"GET /healthz HTTP/0.9\r\nHost: 127.0.0.1\r\n\r\n", 400)
    expect(p, "HTTP/-1.1 in the request line", b"GET /healthz HTTP/-1.1\r\nHost: 127.0.0.1\r\n\r\n", 400)
    # What is well formed still works: a Content-Length body, HTTP/1.0 without Transfer-Encoding.
    out, _ = raw(p, b"GET /healthz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
    check_eq(codes(out), [200], "HTTP/1.0 GET /healthz served")
    time.sleep(1.5)
    check_eq(json.loads(d.get("/v1/overrides")[1]), [], "no override was set")
    check_eq(len(peer.changes()), n0, "nothing changed in the Route 53 peer")
    check_eq(peer.weights(NAME), {r: 100 for r in REGIONS}, "peer weights untouched")
    check(not d.status()["failover"].get("frozen"), "not frozen")
    out, _ = raw(p, drain_req(), 1.0)
    check_eq(codes(out), [200], "the same drain with a Content-Length is accepted")
    eventually(lambda: peer.weights(NAME)["us-east-1"] == 0, 20,
               "a drain is visible in the peer (the test can see a drain)")
    refused = [l for l in d.get("/metrics")[1].decode().splitlines()
               if l.startswith('regiond_api_refused_total{reason="bad_request"}')]
    check(refused and float(refused[0].split()[1]) >= 20, f"the refusals are counted ({refused})")
    check_eq(d.stop(), 0, "clean exit")
    peer.stop()
    ngx.stop()


def test_host_port():
    ngx, ports, peer, cfg, d, env = setup()
    wait_all_up(d)
    p = d.port
    for host in [b"localhost:80:80", b"[::1]:80:80", b"127.0.0.1:80:80", b"localhost:", b"[::1]:", b"localhost:8x",
                 b"localhost:0", b"localhost:65536", b"localhost:+80", b"localhost:-1", b"localhost:99999999999",
                 b"[::1]8080", b"localhost: 80", b"[::1]]:80", b"[[::1]]:80", b"[]:80", b":80",
                 b"local host", b"user@localhost", b"localhost/x", b"localhost?x", b"localhost#x"]:
        out, closed = raw(p, b"GET /v1/status HTTP/1.1\r\nHost: " + host + b"\r\n\r\n")
        check(codes(out) == [403] and closed, f"Host: {host!r} -> 403 and closed ({codes(out)}: {out[:40]!r})")
    for host in [b"localhost:9470", b"[::1]:8080", b"[::1]", b"127.0.0.1:1", b"localhost:65535", b"LOCALHOST",
                 b"localhost.", b"127.0.0.1", b"[::ffff:127.0.0.1]:80", b"localhost:080"]:
        out, closed = raw(p, b"GET /healthz HTTP/1.1\r\nHost: " + host + b"\r\nConnection: close\r\n\r\n")
        check_eq(codes(out), [200], f"Host: {host!r} served")
    # A drain behind a bad port is refused; nothing reaches the peer.
    out, _ = raw(p, drain_req().replace(b"Host: 127.0.0.1\r\n", b"Host: localhost:80:80\r\n"))
    check_eq(codes(out), [403], "a drain with Host: localhost:80:80 -> 403")
    time.sleep(1.5)
    check_eq(json.loads(d.get("/v1/overrides")[1]), [], "no override was set")
    check_eq(len(peer.changes()), 0, "nothing changed in the Route 53 peer")
    check_eq(d.stop(), 0, "clean exit")
    peer.stop()
    ngx.stop()


if __name__ == "__main__":
    run_tests([test_framing, test_host_port])
