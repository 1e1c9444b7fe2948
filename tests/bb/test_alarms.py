"""Alarms reach people: a local webhook receiver gets the fail-open alarm
once (not once per probe), then its resolve; a receiver that answers 500 gets
retries with growing gaps."""
import http.server
import json
import threading
import time

from harness import Daemon, Nginx, check, check_eq, eventually, free_port, make_config, run_tests, tmpdir, wait_for


class Receiver:
    def __init__(self, fail_first=0):
        self.got, self.times, self.fail_left = [], [], fail_first
        rec = self

        class H(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                rec.times.append(time.monotonic())
                if rec.fail_left > 0:
                    rec.fail_left -= 1
                    self.send_response(500)
                    self.end_headers()
                    return
                rec.got.append(json.loads(body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *a):
                pass

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), H)
        self.port = self.srv.server_address[1]
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


def test_fail_open_alarm_once_then_resolve():
    ports = [free_port() for _ in range(3)]
    ngx = Nginx(ports)
    ok, flaky = Receiver(), Receiver(fail_first=3)
    regions = [{"name": f"r{i}", "api": [{"url": f"http://127.0.0.1:{p}/health"}]} for i, p in enumerate(ports)]
    cfg = make_config(regions, tmpdir(), free_port(),
                      alarms={"retry_base_ms": 200, "retry_max_ms": 2000,
                              "webhooks": [{"name": "ops", "url": f"http://127.0.0.1:{ok.port}/hook"},
                                           {"name": "flaky", "url": f"http://127.0.0.1:{flaky.port}/hook"}]},
                      decision={"settle_ms": 300})
    d = Daemon(cfg)
    for r in ("r0", "r1", "r2"):
        d.wait_target(r, "up")
    for p in ports:
        ngx.down(p)
    wait_for(lambda: any(m["key"] == "failover" for m in ok.got), 10, "fail-open alarm delivered")
    time.sleep(3)   # many probe rounds: still one delivery
    fo = [m for m in ok.got if m["key"] == "failover"]
    check_eq([m["state"] for m in fo], ["firing"], "fail-open alarm delivered once, not once per probe")
    check(fo and fo[0]["severity"] == "critical" and "fail open" in fo[0]["summary"],
          f"critical, with the reason: {fo[0]['summary'] if fo else ''}")
    st = d.status()["alarms"]
    check(any(a["key"] == "failover" for a in st["active"]), "active alarm in /v1/status")
    for p in ports:
        ngx.down(p, False)
    eventually(lambda: [m["state"] for m in ok.got if m["key"] == "failover"] == ["firing", "resolved"], 15,
               "then its resolve (delivered once)")
    wait_for(lambda: any(m["key"] == "failover" for m in flaky.got), 15, "retried delivery succeeds")
    gaps = [b - a for a, b in zip(flaky.times, flaky.times[1:4])]
    check(len(flaky.times) >= 4 and gaps[2] > gaps[0], f"500s retried with growing gaps ({[round(g, 2) for g in gaps]})")
    m = d.get("/metrics")[1].decode()
    check('regiond_alarm_deliveries_total{webhook="flaky",result="retry"}' in m, "retries counted in /metrics")
    check_eq(d.stop(), 0, "clean exit")
    ok.close()
    flaky.close()
    ngx.stop()


if __name__ == "__main__":
    run_tests([test_fail_open_alarm_once_then_resolve])
