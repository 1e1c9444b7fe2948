"""contrib/nginx/regiond-dashboard.conf, filled in and run with a real nginx
over TLS in front of the daemon: the dashboard and the read-only API come
through, the event stream streams, state-changing requests are refused; a
DNS-rebinding Host forwarded by nginx is refused by regiond (only its
controller.allowed_hosts and loopback names are served)."""
import os
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request

import harness  # noqa: E402
from harness import (SRC, Daemon, Nginx, check, check_eq, free_port, make_config, run_tests, spawn,
                     tmpdir, token_file, wait_for)


def test_proxy():
    p = free_port()
    ngx = Nginx([p])
    path, toks = token_file([("ops", None, False), ("wall", None, True)])
    cfg = make_config([{"name": "r1", "api": [{"url": f"http://127.0.0.1:{p}/health"}]}], tmpdir(), free_port())
    cfg["controller"]["token_file"] = path
    cfg["controller"]["allowed_hosts"] = ["ops-wall.test"]
    d = Daemon(cfg)
    d.wait_target("r1", "up")
    px = tmpdir("proxy-")
    os.chmod(px, 0o755)
    crt, key = os.path.join(px, "c.pem"), os.path.join(px, "k.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-keyout", key, "-out", crt, "-days", "2", "-subj", "/CN=localhost"], check=True,
                   capture_output=True, timeout=30)
    lp = free_port()
    conf = open(os.path.join(SRC, "contrib", "nginx", "regiond-dashboard.conf")).read()
    for k, v in {"@SERVER_NAME@": "ops-wall.test", "@LISTEN@": f"127.0.0.1:{lp}", "@CERT@": crt, "@KEY@": key,
                 "@REGIOND@": f"127.0.0.1:{d.port}", "@READ_TOKEN@": toks["wall"], "@ALLOW@": "127.0.0.1"}.items():
        conf = conf.replace(k, v)
    check("@" not in conf.replace("$host", ""), "every placeholder filled")
    main = f"""daemon off; pid {px}/nginx.pid; error_log {px}/error.log;
events {{}}
http {{ access_log off; client_body_temp_path {px}/b; proxy_temp_path {px}/p; fastcgi_temp_path {px}/f;
uwsgi_temp_path {px}/u; scgi_temp_path {px}/s;
{conf}
}}"""
    with open(os.path.join(px, "nginx.conf"), "w") as f:
        f.write(main)
    r = subprocess.run(["nginx", "-t", "-p", px, "-c", os.path.join(px, "nginx.conf")], capture_output=True,
                       text=True, timeout=20)
    check_eq(r.returncode, 0, f"nginx -t accepts the example ({r.stderr.strip()[-200:]})")
    proc = spawn("nginx-proxy", ["nginx", "-p", px, "-c", os.path.join(px, "nginx.conf")],
                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ctx = ssl.create_default_context(cafile=crt)
    ctx.check_hostname = False

    def get(path, method="GET", data=None, host="ops-wall.test"):
        req = urllib.request.Request(f"https://127.0.0.1:{lp}{path}", method=method, data=data,
                                     headers={"Content-Type": "application/json", "Host": host})
        try:
            with urllib.request.urlopen(req, timeout=5, context=ctx) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    wait_for(lambda: get("/healthz")[0] == 200, 10, "proxy up")
    code, body = get("/")
    check(code == 200 and b"<html" in body.lower(), "the dashboard through TLS")
    check_eq(get("/v1/status")[0], 200, "the read-only API through the proxy")
    for path in ("/", "/v1/status", "/v1/events", "/app.js"):
        check_eq(get(path, host="rebind.attacker.example")[0], 403, f"a rebinding Host through nginx is refused ({path})")
    code, _ = get("/v1/status", host="localhost")
    check_eq(code, 200, "a loopback name still works through nginx")
    code, _ = get("/v1/overrides", "POST", b'{"region":"r1","action":"drain","duration_s":60}')
    check_eq(code, 403, "state-changing requests refused by the proxy")
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", lp), timeout=5))
    s.sendall(b"GET /v1/events HTTP/1.1\r\nHost: ops-wall.test\r\n\r\n")
    data = b""
    deadline = time.monotonic() + 5
    while b"event: " not in data and time.monotonic() < deadline:
        data += s.recv(4096)
    s.close()
    check(b"text/event-stream" in data and b"event: " in data, "the event stream streams through the proxy")
    audit = os.path.join(cfg["controller"]["state_dir"], "audit.log")
    check(not os.path.exists(audit) or "POST" not in open(audit).read(), "nothing state-changing reached regiond")
    harness.stop_peer(proc)
    check_eq(d.stop(), 0, "clean exit")
    ngx.stop()


if __name__ == "__main__":
    run_tests([test_proxy])
