"""Clients and tiny upstreams for the proxy tests: raw sockets so every byte is ours.

The HTTP/1.1 client (Conn, get, metrics) is common/http_raw.py, shared with the other suites.

Named proxy_helpers (not helpers) so it never shadows a sibling suite's module.
"""
import re
import select
import socket
import subprocess
import threading

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "common"))
from hop_ports import free_port, wait_for_port, wait_until  # noqa: E402,F401  (shared by the suites)
from hop_process import rss_kib  # noqa: E402,F401
from http_raw import Conn, Response, get, metric, metrics, read_until_close  # noqa: E402,F401


def raw_exchange(port, data, timeout=3.0):
    """Sends data, half-closes nothing, returns (first response or None, closed_after)."""
    with Conn(port, timeout=timeout) as c:
        c.send(data)
        try:
            r = c.read_response()
        except (EOFError, ConnectionResetError):
            return None, True
        return r, c.is_closed(timeout=timeout)


def curl(*args, timeout=20):
    return subprocess.run(["curl", "-sS", *args], capture_output=True, timeout=timeout)


OPEN_UPSTREAMS = []  # closed after every test by conftest, even when the test failed early


class ScriptedUpstream:
    """A raw-socket origin on 127.0.0.1: `handler(conn_socket, request_bytes, index)` answers.

    Reads one request head at a time (and a Content-Length body), so it can misbehave in
    ways a real server library would refuse to: garbage, bad framing, silent closes.
    """

    def __init__(self, handler, read_body=True):
        self.handler = handler
        self.read_body = read_body  # False: the handler reads the body from the socket itself
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.requests = 0
        self.seen = []
        self._stop = False
        self._lock = threading.Lock()
        self._threads = []
        OPEN_UPSTREAMS.append(self)
        t = threading.Thread(target=self._accept, daemon=True)
        t.start()

    def _accept(self):
        while not self._stop:
            try:
                r, _, _ = select.select([self.sock], [], [], 0.1)
            except (OSError, ValueError):
                return  # closed by close()
            if not r:
                continue
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            with self._lock:
                self.connections += 1
            t = threading.Thread(target=self._serve, args=(c,), daemon=True)
            self._threads.append(t)
            t.start()

    def _serve(self, c):
        buf = b""
        c.settimeout(10)
        try:
            while not self._stop:
                while b"\r\n\r\n" not in buf:
                    chunk = c.recv(65536)
                    if not chunk:
                        return
                    buf += chunk
                head, buf = buf.split(b"\r\n\r\n", 1)
                m = re.search(rb"(?im)^content-length:\s*(\d+)", head)
                n = int(m.group(1)) if m and self.read_body else 0
                while len(buf) < n:
                    chunk = c.recv(65536)
                    if not chunk:
                        return
                    buf += chunk
                if self.read_body:
                    req, buf = head + b"\r\n\r\n" + buf[:n], buf[n:]
                else:
                    req, buf = head + b"\r\n\r\n" + buf, b""  # the handler owns every byte after the head
                with self._lock:
                    self.requests += 1
                    idx = self.requests
                    self.seen.append(req)
                if self.handler(c, req, idx) is False:
                    return
        except OSError:
            pass
        finally:
            try:
                c.close()
            except OSError:
                pass

    def close(self):
        self._stop = True
        try:
            self.sock.close()
        except OSError:
            pass

