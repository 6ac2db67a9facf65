"""A small HTTP/1.1 origin for the trace tests. Paths:
/delay/<ms>   answer after <ms> milliseconds (the ttfb the trace must show)
/status/<n>   answer with status n
/bytes/<n>    n body bytes
/chunked      a chunked body
/close        a close-delimited body (no Content-Length)
anything else 200 with the request's traceparent echoed in the body and a header
"""
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Buffered so head and body leave in one write (flushed after each request): two small
    # writes meet Nagle and delayed ACK and add 40 ms to the transfer phase, which would be
    # this backend's cost, not the path's.
    wbufsize = 64 * 1024

    def _send(self, code, body, extra=()):
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Echo-Traceparent", self.headers.get("traceparent", ""))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        parts = self.path.strip("/").split("/")
        if parts[0] == "delay" and len(parts) > 1:
            time.sleep(int(parts[1]) / 1000.0)
            self._send(200, b"slept\n")
        elif parts[0] == "status" and len(parts) > 1:
            self._send(int(parts[1]), b"status\n")
        elif parts[0] == "bytes" and len(parts) > 1:
            self._send(200, b"x" * int(parts[1]))
        elif parts[0] == "chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("Server-Timing", 'app;dur=1.5;desc="handler"')
            self.end_headers()
            self.wfile.write(b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
        elif parts[0] == "close":
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(b"until close\n")
            self.close_connection = True
        else:
            self._send(200, (self.headers.get("traceparent", "") + "\n").encode(),
                       [("Server-Timing", 'db;dur=12.5;desc="query, cached", cache;desc=miss')])

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n)
        self._send(200, b"got " + str(len(body)).encode() + b"\n")

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
    server.daemon_threads = True
    server.serve_forever()
