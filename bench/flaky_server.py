#!/usr/bin/python3
"""A health endpoint that fails a random share of requests, for
bench/false_drain.py.  Serves GET /health on every --ports port (one thread
per request); what a port does is read from DIR/mode-PORT at every request:

  ok            200 "ok"
  flaky-503     503 on a random --rate of requests, else 200
  flaky-stall   no answer for --stall-ms on a random --rate of requests, else 200
  503           always 503 (an outage)
  stall         never answers within --stall-ms (an outage)

Every answer is logged to DIR/log-PORT as "WALL_MS RESULT" (ok, 503, stall),
so the exact sequence a prober saw can be replayed.  Prints "ready" once every
port is bound.

usage: bench/flaky_server.py --dir DIR --ports P1,P2 [--rate 0.1] [--stall-ms 2000] [--seed N]"""
import argparse
import http.server
import os
import random
import socketserver
import sys
import threading
import time


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64


def handler_for(port, a, rng, lock, log):
    class H(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _mode(self):
            try:
                with open(os.path.join(a.dir, f"mode-{port}")) as f:
                    return f.read().strip() or "ok"
            except OSError:
                return "ok"

        def do_GET(self):
            mode = self._mode()
            with lock:
                hit = rng.random() < a.rate
            if mode in ("503", "stall"):
                result = mode
            elif mode.startswith("flaky-") and hit:
                result = mode[6:]
            else:
                result = "ok"
            with lock:
                log.write(f"{int(time.time() * 1000)} {result}\n")
                log.flush()
            try:
                if result == "stall":
                    time.sleep(a.stall_ms / 1000)
                body = b"ok\n" if result != "503" else b"down\n"
                self.send_response(200 if result != "503" else 503)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except OSError:
                pass   # the prober gave up (a stall past its timeout)
    return H


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--ports", required=True)
    ap.add_argument("--rate", type=float, default=0.10)
    ap.add_argument("--stall-ms", type=int, default=2000)
    ap.add_argument("--seed", type=int)
    a = ap.parse_args()
    servers = []
    for p in (int(x) for x in a.ports.split(",")):
        rng = random.Random(None if a.seed is None else a.seed * 100003 + p)
        log = open(os.path.join(a.dir, f"log-{p}"), "a")
        s = Server(("127.0.0.1", p), handler_for(p, a, rng, threading.Lock(), log))
        threading.Thread(target=s.serve_forever, daemon=True).start()
        servers.append(s)
    print("ready", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    import signal
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    main()
