"""Raw HTTP/1.1 for the integration suites: one copy, imported by each suite's helpers.

- Response: status, headers as received (a list of pairs), body.
- Conn: one client connection (a new TCP socket, or any connected socket such as a TLS one)
  that writes requests byte for byte and reads responses strictly (Content-Length, chunked,
  or until EOF; 1xx skipped unless asked for).
- get(): one request on a fresh connection; metrics() / metric(): hop's admin /metrics.
- SocketOwner: close() that ignores errors, and `with` support, for any class with .sock.
- read_until_close(): every byte a socket's peer sends until its FIN.
- read_through_head(): reads until a message head has ended, for hand-written servers.
"""
import json
import socket
import time


class Response:
    def __init__(self, status, headers, body, reason="", version="HTTP/1.1"):
        self.status = status
        self.headers = headers  # list of (name, value) as received
        self.body = body
        self.reason = reason
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


def read_until_close(sock):
    """Every byte the peer sends until it closes (its FIN)."""
    data = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk


def read_through_head(sock, buf=b""):
    """buf plus what the peer sends until a head has ended in it (CRLF CRLF), or None if the
    peer closes first. The bytes after the head stay in the result."""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        buf += chunk
    return buf


class SocketOwner:
    """close() (errors ignored) and `with` support for a class that keeps its socket in .sock."""

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()


class Conn(SocketOwner):
    """One client connection that speaks raw HTTP/1.1 and reads responses strictly.

    Conn(port) connects to 127.0.0.1:port (TCP_NODELAY); Conn(sock=s) speaks over a socket
    that is already connected (a TLS socket, say)."""

    def __init__(self, port=None, timeout=5.0, sock=None):
        if sock is None:
            sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = sock
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
            r = Response(status, headers, b"", reason=rest[0] if rest else "", version=version)
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
        """Host, then Content-Length when there is a body (unless headers say Transfer-Encoding),
        then `headers` in their order (a name in both takes the value from `headers`)."""
        h = {"Host": host}
        if body and not any(k.lower() == "transfer-encoding" for k in (headers or {})):
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


def get(port, path="/", headers=None, method="GET", body=b"", host="example.test", timeout=5.0):
    """One request on a fresh connection to 127.0.0.1:port; raises on socket errors."""
    with Conn(port, timeout=timeout) as c:
        return c.request(method, path, headers=headers, body=body, host=host)


def metrics(admin_port):
    """hop's admin /metrics as {series (name and labels): value}."""
    r = get(admin_port, "/metrics")
    assert r.status == 200, r
    out = {}
    for line in r.body.decode().splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


def metric(admin_port, name, **labels):
    """Sum of every series of `name` whose labels include `labels`."""
    total = 0.0
    for k, v in metrics(admin_port).items():
        base, _, lbl = k.partition("{")
        if base == name and all(f'{lk}="{lv}"' in lbl for lk, lv in labels.items()):
            total += v
    return total
