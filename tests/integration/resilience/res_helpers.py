"""Clients, load, hop configs and misbehaving python origins for the resilience tests.

The HTTP/1.1 client underneath get() is common/http_raw.py, shared with the other suites.

Named res_helpers (not helpers) so it never shadows a sibling suite's module.
"""
import json
import re
import select
import signal
import socket
import struct
import subprocess
import textwrap
import threading
import time

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "common"))
import hop_ports  # noqa: E402
import http_raw  # noqa: E402
from hop_ports import free_port, wait_for_port  # noqa: E402,F401  (shared by the suites)
from http_raw import Response, metric, metrics  # noqa: E402,F401


def get(port, path="/", method="GET", body=b"", headers=None, timeout=5.0):
    """One request on a fresh connection, with Connection: close (and Content-Length: 0 on an
    empty POST, PUT or PATCH); raises on socket errors."""
    h = {"Connection": "close"}
    if (body or method in ("POST", "PUT", "PATCH")) and "Transfer-Encoding" not in (headers or {}):
        h["Content-Length"] = str(len(body))
    h.update(headers or {})
    return http_raw.get(port, path, headers=h, method=method, body=body, timeout=timeout)


def wait_until(pred, timeout=5.0, interval=0.02):
    return hop_ports.wait_until(pred, timeout, interval)


def timed_get(port, path="/", **kw):
    t0 = time.monotonic()
    r = get(port, path, **kw)
    return r, time.monotonic() - t0


def clusters(admin_port):
    return {c["name"]: c for c in json.loads(get(admin_port, "/clusters").body)}


def host_state(admin_port, cluster, address):
    for h in clusters(admin_port)[cluster]["hosts"]:
        if h["address"] == address:
            return h
    raise KeyError(address)


# ---- load ---------------------------------------------------------------------------

class WrkResult:
    def __init__(self, out):
        self.out = out
        m = re.search(r"(\d+) requests in", out)
        assert m, out
        self.requests = int(m.group(1))
        m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
        self.non2xx = int(m.group(1)) if m else 0
        m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
        self.socket_errors = tuple(int(x) for x in m.groups()) if m else (0, 0, 0, 0)
        m = re.search(r"Requests/sec:\s+([\d.]+)", out)
        self.rps = float(m.group(1)) if m else 0.0
        m = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
        self.p99_ms = _ms(m.group(1), m.group(2)) if m else None

    @property
    def failed(self):
        return self.non2xx + sum(self.socket_errors)

    def summary(self):
        return (f"requests={self.requests} rps={self.rps:.0f} non2xx={self.non2xx} "
                f"socket_errors={self.socket_errors} p99_ms={self.p99_ms}")


def _ms(v, unit):
    return float(v) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def start_wrk(port, path="/", connections=16, seconds=3, threads=2):
    return subprocess.Popen(["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency",
                             f"http://127.0.0.1:{port}{path}"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finish_wrk(proc, timeout=20):
    try:
        out, _ = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return WrkResult(out)


# ---- hop configs --------------------------------------------------------------------

def cluster_yaml(name, addresses, extra=""):
    hosts = ", ".join(a if ":" in str(a) else f"127.0.0.1:{a}" for a in addresses)
    s = f"  - name: {name}\n    hosts: [{hosts}]\n"
    if extra:
        s += textwrap.indent(textwrap.dedent(extra).strip("\n"), "    ") + "\n"
    return s


def route_yaml(prefix, cluster, extra=""):
    s = f"      - match: {{ prefix: {prefix} }}\n        cluster: {cluster}\n"
    if extra:
        s += textwrap.indent(textwrap.dedent(extra).strip("\n"), "        ") + "\n"
    return s


def config(port, admin, routes, clusters_yaml, workers=2, access_log="stdout", top=""):
    """`routes`: route_yaml() strings in match order; `clusters_yaml`: cluster_yaml() strings."""
    return (f"workers: {workers}\nadmin: 127.0.0.1:{admin}\naccess_log: {access_log}\n{top}"
            f"listeners:\n  - name: web\n    address: 127.0.0.1:{port}\n    routes:\n"
            + "".join(routes) + "clusters:\n" + "".join(clusters_yaml))


# ---- misbehaving origins ------------------------------------------------------------

OPEN_SERVERS = []  # closed after every test by conftest, even when the test failed early

HANG = "hang"    # read the request, never answer, keep the connection open
RESET = "reset"  # read the request, then close with RST (SO_LINGER 0)


class PyOrigin:
    """A threaded HTTP/1.1 origin on 127.0.0.1 whose `handler(method, path)` decides per
    request: (status, body), HANG or RESET. Counts requests per method and open connections,
    so a test can see what hop sent and when hop closed its pooled connections."""

    def __init__(self, handler, name="py"):
        self.handler = handler
        self.name = name
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(256)
        self.port = self.sock.getsockname()[1]
        self.address = f"127.0.0.1:{self.port}"
        self.lock = threading.Lock()
        self.requests = []   # (method, path)
        self.bodies = []     # the request bodies, de-chunked, in arrival order
        self.times = []      # time.monotonic() of each request's arrival
        self.in_flight = 0   # requests inside the handler now, and the most ever at once
        self.max_in_flight = 0
        self.open_connections = 0
        self.accepted = 0
        self._stop = threading.Event()
        OPEN_SERVERS.append(self)
        threading.Thread(target=self._accept, daemon=True).start()

    def count(self, method=None, path_prefix=""):
        with self.lock:
            return sum(1 for m, p in self.requests if (method is None or m == method) and p.startswith(path_prefix))

    def _accept(self):
        while not self._stop.is_set():
            try:
                r, _, _ = select.select([self.sock], [], [], 0.1)
                if not r:
                    continue
                c, _ = self.sock.accept()
            except (OSError, ValueError):
                return
            with self.lock:
                self.open_connections += 1
                self.accepted += 1
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        buf = b""
        c.settimeout(0.2)
        try:
            while not self._stop.is_set():
                while b"\r\n\r\n" not in buf:
                    chunk = self._recv(c)
                    if not chunk:
                        return
                    buf += chunk
                head, buf = buf.split(b"\r\n\r\n", 1)
                if re.search(rb"(?im)^transfer-encoding:\s*chunked", head):
                    body, buf = self._read_chunked(c, buf)
                    if body is None:
                        return
                else:
                    m = re.search(rb"(?im)^content-length:\s*(\d+)", head)
                    n = int(m.group(1)) if m else 0
                    while len(buf) < n:
                        chunk = self._recv(c)
                        if not chunk:
                            return
                        buf += chunk
                    body, buf = buf[:n], buf[n:]
                method, path = head.split(b"\r\n", 1)[0].decode().split(" ")[:2]
                with self.lock:
                    self.requests.append((method, path))
                    self.bodies.append(body)
                    self.times.append(time.monotonic())
                    self.in_flight += 1
                    self.max_in_flight = max(self.max_in_flight, self.in_flight)
                try:
                    action = self.handler(method, path)
                finally:
                    with self.lock:
                        self.in_flight -= 1
                if action == HANG:
                    while not self._stop.is_set() and self._recv(c):
                        pass
                    return
                if action == RESET:
                    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    return
                status, body = action
                c.sendall(f"HTTP/1.1 {status} X\r\nContent-Length: {len(body)}\r\nx-backend: {self.name}\r\n\r\n"
                          .encode() + body)
        except OSError:
            pass
        finally:
            try:
                c.close()
            except OSError:
                pass
            with self.lock:
                self.open_connections -= 1

    def _read_chunked(self, c, buf):
        """(body, rest) of a chunked body (trailers dropped), or (None, b'') at EOF."""
        body = b""
        while True:
            while b"\r\n" not in buf:
                chunk = self._recv(c)
                if not chunk:
                    return None, b""
                buf += chunk
            line, buf = buf.split(b"\r\n", 1)
            size = int(line.split(b";")[0], 16)
            if size == 0:
                while not buf.startswith(b"\r\n"):
                    if b"\r\n" in buf:
                        buf = buf.split(b"\r\n", 1)[1]  # a trailer field
                        continue
                    chunk = self._recv(c)
                    if not chunk:
                        return None, b""
                    buf += chunk
                return body, buf[2:]
            while len(buf) < size + 2:
                chunk = self._recv(c)
                if not chunk:
                    return None, b""
                buf += chunk
            body += buf[:size]
            buf = buf[size + 2:]

    def _recv(self, c):
        """Bytes, or b'' at EOF; waits while the peer is quiet (so HANG holds until hop closes)."""
        while not self._stop.is_set():
            try:
                return c.recv(65536)
            except socket.timeout:
                continue
        return b""

    def close(self):
        self._stop.set()
        try:
            self.sock.close()
        except OSError:
            pass


class BlackHole:
    """A 127.0.0.1 port whose SYNs go unanswered: a listener with a full accept queue that
    never accepts (Linux drops SYNs to a full queue), so connects to it time out."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(0)
        self.port = self.sock.getsockname()[1]
        self.address = f"127.0.0.1:{self.port}"
        self.fillers = []
        for _ in range(4):  # fill the queue (backlog 0 still admits one) and check it is full
            s = socket.socket()
            s.setblocking(False)
            try:
                s.connect(("127.0.0.1", self.port))
            except BlockingIOError:
                pass
            self.fillers.append(s)
        OPEN_SERVERS.append(self)

    def close(self):
        for s in self.fillers + [self.sock]:
            try:
                s.close()
            except OSError:
                pass


class NginxOrigin:
    """nginx as an origin on 127.0.0.1:port — the real server the failover scenarios lose —
    as one process (master_process off), so a signal reaches the whole server: kill()
    (SIGKILL: connections reset, nothing listens), stop() (SIGQUIT: graceful — the listener
    closes, requests in flight finish), pause()/resume() (SIGSTOP/SIGCONT: connections
    accepted by the kernel, never answered), start() again on the same port.
    Answers 200 "hello\\n" on every path, /health included, and reads POST bodies."""

    def __init__(self, folder, port=None):
        self.dir = pathlib.Path(folder)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.address = f"127.0.0.1:{self.port}"
        (self.dir / "nginx.conf").write_text(textwrap.dedent(f"""\
            daemon off; master_process off; worker_processes 1;
            pid {self.dir}/nginx.pid; error_log {self.dir}/error.log;
            worker_rlimit_nofile 20000;
            events {{ worker_connections 10000; }}
            http {{
              access_log off; keepalive_requests 1000000; keepalive_timeout 300s;
              client_body_temp_path {self.dir}/body;
              server {{
                listen 127.0.0.1:{self.port} backlog=4096;
                location / {{ return 200 "hello\\n"; }}
              }}
            }}
            """))
        self.proc = None
        OPEN_SERVERS.append(self)
        self.start()

    def start(self):
        self.proc = subprocess.Popen(["nginx", "-p", str(self.dir), "-c", str(self.dir / "nginx.conf")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(self.port, self.proc)

    def _signal(self, sig, wait=False):
        self.proc.send_signal(sig)
        if wait:
            self.proc.wait(10)

    def kill(self):
        self._signal(signal.SIGKILL, wait=True)

    def stop(self):
        self._signal(signal.SIGQUIT, wait=True)

    def pause(self):
        self._signal(signal.SIGSTOP)

    def resume(self):
        self._signal(signal.SIGCONT)

    def close(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()
            self.proc.wait(10)


def start_wrk_script(port, lua, folder, path="/", connections=16, seconds=3, threads=2):
    """wrk with a Lua script (e.g. POST bodies), written to folder/wrk.lua."""
    import pathlib as _p
    script = pathlib.Path(folder) / "wrk.lua"
    script.write_text(lua)
    return subprocess.Popen(["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script),
                             f"http://127.0.0.1:{port}{path}"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
