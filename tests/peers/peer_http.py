"""HTTP plumbing that ddb_peer.py and route53_peer.py share: the threaded
server, and a request handler base with the reply, chunked-body and
connection-drop helpers.  A handler sets `default_ctype` and `max_body` and
defines _chunk_error(too_large), the exception a bad chunked body raises."""
import socket
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


class PeerHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    peer = None                  # set on the class by main()
    default_ctype = "application/json"
    max_body = 16 << 20

    def _chunk_error(self, too_large):
        raise NotImplementedError

    def _reply(self, status, body, ctype=None, headers=()):
        self.send_response(status)
        self.send_header("Content-Type", ctype or self.default_ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _read_chunked(self):
        out = bytearray()
        while True:
            line = self.rfile.readline(1024).strip()
            try:
                n = int(line.split(b";")[0], 16)
            except ValueError:
                raise self._chunk_error(False)
            if n == 0:
                while self.rfile.readline(1024).strip():
                    pass
                return bytes(out)
            if len(out) + n > self.max_body:
                raise self._chunk_error(True)
            out += self.rfile.read(n)
            self.rfile.readline(1024)

    def _drop(self):
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
