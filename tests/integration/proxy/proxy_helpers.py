"""Clients and tiny upstreams for the proxy tests: raw sockets so every byte is ours.

Named proxy_helpers (not helpers) so it never shadows a sibling suite's module.
"""
import json
import re
import select
import socket
import subprocess
import threading
import time

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "common"))
from hop_ports import free_port, wait_for_port  # noqa: E402,F401  (shared by the suites)


class Response:
    def __init__(self, status, reason, headers, body, version):
        self.status = status
        self.reason = reason
        self.headers = headers  # list of (name, value) as received
        self.body = body
        self.version = version

    def header(self, name, default=None):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return default

    def header_all(self, name):
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return f"Response({self.status} {self.headers} {self.body[:200]!r})"


class Conn:
    """One client connection that speaks raw HTTP/1.1 and reads responses strictly."""

    def __init__(self, port, timeout=5.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self):
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            raise EOFError("connection closed")
        self.buf += chunk

    def _line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        i = self.buf.index(b"\r\n")
        line = bytes(self.buf[:i])
        del self.buf[:i + 2]
        return line

    def _exact(self, n):
        while len(self.buf) < n:
            self._fill()
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def read_response(self, head_request=False, skip_1xx=True):
        while True:
            status_line = self._line().decode("latin-1")
            version, code, *rest = status_line.split(" ", 2)
            status = int(code)
            headers = []
            while True:
                line = self._line()
                if not line:
                    break
                k, v = line.decode("latin-1").split(":", 1)
                headers.append((k.strip(), v.strip()))
            r = Response(status, rest[0] if rest else "", headers, b"", version)
            if 100 <= status < 200 and skip_1xx:
                continue
            break
        if head_request or status in (204, 304) or 100 <= status < 200:
            return r
        te = r.header("transfer-encoding")
        cl = r.header("content-length")
        if te is not None:
            assert te.lower() == "chunked", te
            body = bytearray()
            while True:
                size = int(self._line().split(b";")[0], 16)
                if size == 0:
                    while self._line():
                        pass
                    break
                body += self._exact(size)
                assert self._exact(2) == b"\r\n"
            r.body = bytes(body)
        elif cl is not None:
            r.body = self._exact(int(cl))
        else:
            while True:
                try:
                    self._fill()
                except EOFError:
                    break
            r.body, self.buf = bytes(self.buf), bytearray()
        return r

    def request(self, method, path, headers=None, body=b"", host="example.test"):
        h = {"Host": host}
        if body:
            h["Content-Length"] = str(len(body))
        h.update(headers or {})
        head = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in h.items()) + "\r\n"
        self.send(head.encode() + body)
        return self.read_response(head_request=(method == "HEAD"))

    def is_closed(self, timeout=2.0):
        """True when the peer has closed (EOF or reset) within timeout, after any pending bytes."""
        deadline = time.monotonic() + timeout
        self.sock.settimeout(0.2)
        while time.monotonic() < deadline:
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                continue
            except ConnectionResetError:
                return True
            if not chunk:
                return True
            self.buf += chunk
        return False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()


def get(port, path="/", headers=None, method="GET", body=b"", host="example.test", timeout=5.0):
    with Conn(port, timeout=timeout) as c:
        return c.request(method, path, headers=headers, body=body, host=host)


def raw_exchange(port, data, timeout=3.0):
    """Sends data, half-closes nothing, returns (first response or None, closed_after)."""
    with Conn(port, timeout=timeout) as c:
        c.send(data)
        try:
            r = c.read_response()
        except (EOFError, ConnectionResetError):
            return None, True
        return r, c.is_closed(timeout=timeout)


def metrics(admin_port):
    r = get(admin_port, "/metrics")
    assert r.status == 200
    out = {}
    for line in r.body.decode().splitlines():
        if not line or line.startswith("#"):
            continue
        name, value = line.rsplit(" ", 1)
        out[name] = float(value)
    return out


def metric(admin_port, name, **labels):
    """Sum of every series of `name` whose labels include `labels`."""
    total = 0.0
    for k, v in metrics(admin_port).items():
        base, _, lbl = k.partition("{")
        if base != name:
            continue
        if all(f'{lk}="{lv}"' in lbl for lk, lv in labels.items()):
            total += v
    return total


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


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


def wait_until(pred, timeout=5.0, interval=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(interval)
    return pred()
