"""Clients and tiny upstreams for the HTTP/2 tests.

- RawH2: frames over a raw socket (hyperframe + hpack), so a test can break every rule of
  RFC 9113 and read exactly what hop answers (GOAWAY, RST_STREAM, HEADERS...).
- H2Client: a well-behaved client on python3-h2 (flow control, settings, trailers), over
  cleartext (h2c prior knowledge) or TLS with ALPN h2.
- h1_request: HTTP/1.1 through http.client (a common/http_raw.py Response).

Named h2_helpers (not helpers) so it never shadows a sibling suite's module.
"""
import http.client
import json
import pathlib
import socket
import ssl
import sys
import threading
import time

import h2.config
import h2.connection
import h2.events
import h2.settings
import hpack
from hyperframe.frame import (ContinuationFrame, DataFrame, Frame, GoAwayFrame, HeadersFrame, PingFrame,
                              RstStreamFrame, SettingsFrame, WindowUpdateFrame)

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "common"))
from hop_ports import free_port, wait_for_port  # noqa: E402,F401  (shared by the suites)
from hop_process import RssSampler, rss_kib  # noqa: E402,F401
from http_raw import Response, SocketOwner  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[3]
CERTS = REPO / "examples" / "certs"
CA = CERTS / "ca.pem"

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
MAX_WINDOW = 2 ** 31 - 1

# RFC 9113 §7 error codes
NO_ERROR = 0x0
PROTOCOL_ERROR = 0x1
INTERNAL_ERROR = 0x2
FLOW_CONTROL_ERROR = 0x3
STREAM_CLOSED = 0x5
FRAME_SIZE_ERROR = 0x6
REFUSED_STREAM = 0x7
CANCEL = 0x8
COMPRESSION_ERROR = 0x9
ENHANCE_YOUR_CALM = 0xB
ERROR_NAMES = {0: "NO_ERROR", 1: "PROTOCOL_ERROR", 2: "INTERNAL_ERROR", 3: "FLOW_CONTROL_ERROR",
               4: "SETTINGS_TIMEOUT", 5: "STREAM_CLOSED", 6: "FRAME_SIZE_ERROR", 7: "REFUSED_STREAM",
               8: "CANCEL", 9: "COMPRESSION_ERROR", 10: "CONNECT_ERROR", 11: "ENHANCE_YOUR_CALM",
               12: "INADEQUATE_SECURITY", 13: "HTTP_1_1_REQUIRED"}


def errname(code):
    return ERROR_NAMES.get(code, hex(code)) if code is not None else None


def connect(port, host="127.0.0.1", timeout=5.0, tls=False):
    """A TCP socket to hop; with tls, TLS with ALPN h2 (verified against the test CA)."""
    sock = socket.create_connection((host, port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if tls:
        ctx = ssl.create_default_context(cafile=str(CA))
        ctx.set_alpn_protocols(["h2"])
        sock = ctx.wrap_socket(sock, server_hostname="localhost")
        assert sock.selected_alpn_protocol() == "h2", sock.selected_alpn_protocol()
    return sock


class RawStream:
    def __init__(self):
        self.headers = []       # one decoded header list per HEADERS block (response, trailers)
        self.data = bytearray()
        self.ended = False
        self.reset = None       # RST_STREAM error code

    @property
    def status(self):
        for block in self.headers:
            for k, v in block:
                if k == b":status":
                    return int(v)
        return None


class RawH2(SocketOwner):
    """One HTTP/2 client connection whose every frame is written by the test."""

    def __init__(self, port, host="127.0.0.1", timeout=5.0, tls=False):
        self.sock = connect(port, host, timeout, tls)
        self.buf = bytearray()
        self.enc = hpack.Encoder()
        self.dec = hpack.Decoder()
        self.dec.max_header_list_size = 1 << 24
        self.streams = {}
        self.frames = []          # every frame received, in order
        self.goaway = None        # (error_code, last_stream_id, debug)
        self.closed = False       # EOF or reset seen
        self.server_settings = {}
        self.ack_settings = True  # False: hop's SETTINGS stay unacknowledged until ack() is called
        self._block = None        # (stream_id, bytearray) of a header block in progress
        self._lock = threading.Lock()

    # ---- sending
    def send_raw(self, data):
        with self._lock:
            self.sock.sendall(data)

    def send(self, *frames):
        self.send_raw(b"".join(f.serialize() for f in frames))

    def start(self, settings=None, big_windows=True):
        """Preface + SETTINGS; big_windows: we never have to send WINDOW_UPDATE."""
        s = dict(settings or {})
        if big_windows:
            s.setdefault(SettingsFrame.INITIAL_WINDOW_SIZE, MAX_WINDOW)
        frames = [SettingsFrame(0, settings=s)]
        if big_windows:
            frames.append(WindowUpdateFrame(0, window_increment=MAX_WINDOW - 65535))
        self.send_raw(PREFACE + b"".join(f.serialize() for f in frames))

    def header_block(self, method="GET", path="/", extra=(), authority="example.test", scheme="http",
                     huffman=True):
        hs = [(":method", method), (":scheme", scheme), (":authority", authority), (":path", path)]
        hs += list(extra)
        return self.enc.encode(hs, huffman=huffman)

    def headers_frame(self, sid, end_stream=True, end_headers=True, block=None, **kw):
        f = HeadersFrame(sid)
        f.data = block if block is not None else self.header_block(**kw)
        if end_stream:
            f.flags.add("END_STREAM")
        if end_headers:
            f.flags.add("END_HEADERS")
        return f

    def get(self, sid, path="/", **kw):
        self.send(self.headers_frame(sid, path=path, **kw))

    # ---- receiving
    def _fill(self, timeout):
        self.sock.settimeout(timeout)
        try:
            chunk = self.sock.recv(1 << 20)
        except socket.timeout:
            return False
        except (ConnectionResetError, BrokenPipeError, ssl.SSLError):
            chunk = b""
        if not chunk:
            self.closed = True
            return False
        self.buf += chunk
        return True

    def _parse_one(self):
        if len(self.buf) < 9:
            return None
        frame, length = Frame.parse_frame_header(memoryview(bytes(self.buf[:9])))
        if len(self.buf) < 9 + length:
            return None
        body = bytes(self.buf[9:9 + length])
        del self.buf[:9 + length]
        frame.parse_body(memoryview(body))
        return frame

    def _handle(self, f):
        self.frames.append(f)
        if isinstance(f, SettingsFrame):
            if "ACK" not in f.flags:
                self.server_settings.update(f.settings)
                if self.ack_settings:
                    self.ack()
        elif isinstance(f, GoAwayFrame):
            self.goaway = (f.error_code, f.last_stream_id, f.additional_data)
        elif isinstance(f, RstStreamFrame):
            self.stream(f.stream_id).reset = f.error_code
        elif isinstance(f, (HeadersFrame, ContinuationFrame)):
            if isinstance(f, HeadersFrame):
                self._block = (f.stream_id, bytearray(f.data), "END_STREAM" in f.flags)
            else:
                self._block[1].extend(f.data)
            if "END_HEADERS" in f.flags:
                sid, block, end = self._block
                self._block = None
                st = self.stream(sid)
                st.headers.append(self.dec.decode(bytes(block), raw=True))
                if end:
                    st.ended = True
        elif isinstance(f, DataFrame):
            st = self.stream(f.stream_id)
            st.data += f.data
            if "END_STREAM" in f.flags:
                st.ended = True

    def ack(self):
        """Acknowledges hop's SETTINGS (done on arrival unless ack_settings is False)."""
        try:
            self.send(SettingsFrame(0, flags=["ACK"]))
        except OSError:
            pass

    def synced(self, timeout=5.0):
        """Returns once hop has processed everything sent so far: it answers PINGs in order."""
        opaque = b"%08d" % (len(self.frames) % 10 ** 8)
        self.send(PingFrame(0, opaque_data=opaque))
        return self.pump(lambda: any(isinstance(f, PingFrame) and "ACK" in f.flags and f.opaque_data == opaque
                                     for f in self.frames), timeout)

    def stream(self, sid):
        return self.streams.setdefault(sid, RawStream())

    def pump(self, until=lambda: False, timeout=5.0):
        """Reads frames until until() is true, the connection closes, or timeout; returns until()."""
        deadline = time.monotonic() + timeout
        while True:
            while True:
                f = self._parse_one()
                if f is None:
                    break
                self._handle(f)
            if until():
                return True
            if self.closed:
                return until()
            left = deadline - time.monotonic()
            if left <= 0:
                return until()
            self._fill(min(left, 0.5))

    def wait_stream(self, sid, timeout=5.0):
        self.pump(lambda: self.stream(sid).ended or self.stream(sid).reset is not None or self.closed, timeout)
        return self.stream(sid)

    def wait_goaway_or_close(self, timeout=5.0):
        return self.pump(lambda: self.goaway is not None or self.closed, timeout)

    def wait_closed(self, timeout=5.0):
        """Reads (and parses) until EOF; True when the peer closed within timeout."""
        return self.pump(lambda: self.closed, timeout)


class Sender(threading.Thread):
    """Writes chunks in the background (the test reads meanwhile); stops at the first error."""

    def __init__(self, conn, chunks):
        super().__init__(daemon=True)
        self.conn = conn
        self.chunks = chunks
        self.sent = 0
        self.error = None

    def run(self):
        try:
            for c in self.chunks:
                self.conn.send_raw(c)
                self.sent += len(c)
        except OSError as e:
            self.error = e


# ------------------------------------------------------------------ well-behaved h2 client

class Resp:
    def __init__(self):
        self.status = None
        self.headers = []
        self.body = bytearray()
        self.trailers = []
        self.ended = False
        self.reset = None

    def header(self, name, default=None):
        for k, v in self.headers:
            if k == name:
                return v
        return default

    def header_all(self, name):
        return [v for k, v in self.headers if k == name]

    def json(self):
        return json.loads(bytes(self.body))

    def __repr__(self):
        return f"Resp({self.status} reset={self.reset} {self.headers} {bytes(self.body[:200])!r})"


class H2Client(SocketOwner):
    """python3-h2 client: cleartext prior knowledge, or TLS with ALPN h2 (CA: examples/certs/ca.pem)."""

    def __init__(self, port, tls=False, server_hostname="localhost", timeout=10.0):
        self.sock = connect(port, timeout=timeout, tls=tls)
        self.scheme = "https" if tls else "http"
        cfg = h2.config.H2Configuration(client_side=True, header_encoding="utf-8")
        self.conn = h2.connection.H2Connection(config=cfg)
        self.conn.local_settings = h2.settings.Settings(
            client=True, initial_values={h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: MAX_WINDOW,
                                         h2.settings.SettingCodes.ENABLE_PUSH: 0})
        self.conn.initiate_connection()
        self.conn.increment_flow_control_window(MAX_WINDOW - 65535)
        self.resps = {}
        self.terminated = None
        self.flush()

    def flush(self):
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def _read(self, timeout):
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(1 << 20)
        except socket.timeout:
            return
        if not data:
            raise EOFError(f"connection closed (GOAWAY: {self.terminated})")
        for ev in self.conn.receive_data(data):
            self._event(ev)
        self.flush()

    def _event(self, ev):
        if isinstance(ev, h2.events.ResponseReceived):
            r = self.resps[ev.stream_id]
            r.headers = list(ev.headers)
            r.status = int(dict(ev.headers)[":status"])
        elif isinstance(ev, h2.events.DataReceived):
            self.resps[ev.stream_id].body += ev.data
            self.conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
        elif isinstance(ev, h2.events.TrailersReceived):
            self.resps[ev.stream_id].trailers = list(ev.headers)
        elif isinstance(ev, h2.events.StreamEnded):
            self.resps[ev.stream_id].ended = True
        elif isinstance(ev, h2.events.StreamReset):
            if ev.stream_id in self.resps:
                self.resps[ev.stream_id].reset = ev.error_code
        elif isinstance(ev, h2.events.ConnectionTerminated):
            self.terminated = (ev.error_code, ev.last_stream_id)

    def start(self, method="GET", path="/", headers=(), body=None, authority="example.test"):
        sid = self.conn.get_next_available_stream_id()
        hs = [(":method", method), (":scheme", self.scheme), (":authority", authority), (":path", path)]
        if body is not None:
            hs.append(("content-length", str(len(body))))
        hs += list(headers)
        self.resps[sid] = Resp()
        self.conn.send_headers(sid, hs, end_stream=not body)
        self.flush()
        if body:
            self._send_body(sid, body)
        return sid

    def _send_body(self, sid, body):
        view = memoryview(body)
        off = 0
        while off < len(body):
            window = min(self.conn.local_flow_control_window(sid), self.conn.max_outbound_frame_size)
            if window <= 0:
                self._read(1.0)
                continue
            n = min(window, len(body) - off)
            end = off + n == len(body)
            self.conn.send_data(sid, view[off:off + n].tobytes(), end_stream=end)
            off += n
            self.flush()

    def wait(self, sids, timeout=10.0):
        deadline = time.monotonic() + timeout
        while not all(self.resps[s].ended or self.resps[s].reset is not None for s in sids):
            if time.monotonic() > deadline:
                raise TimeoutError(f"streams not finished: {[(s, self.resps[s]) for s in sids]}")
            self._read(0.5)
        return [self.resps[s] for s in sids]

    def request(self, method="GET", path="/", headers=(), body=None, timeout=10.0, **kw):
        sid = self.start(method, path, headers, body, **kw)
        return self.wait([sid], timeout)[0]

    def close(self):
        try:
            self.conn.close_connection()
            self.flush()
        except Exception:
            pass
        super().close()


def h2_get(port, path="/", tls=False, **kw):
    with H2Client(port, tls=tls) as c:
        return c.request("GET", path, **kw)


# ------------------------------------------------------------------ HTTP/1.1

def h1_request(port, method="GET", path="/", headers=None, body=None, timeout=10.0):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request(method, path, body=body, headers=dict(headers or {"Host": "example.test"}))
        r = c.getresponse()
        return Response(r.status, r.getheaders(), r.read())
    finally:
        c.close()


def assert_serving(port, what="", h2_port=None, tls=False):
    """Another client still gets 200 from the same hop, over h2c (or h2 on h2_port with tls)
    and HTTP/1.1 (on port)."""
    r = h2_get(h2_port or port, "/still-serving", tls=tls)
    assert r.status == 200, f"after {what}: h2 GET got {r}"
    r1 = h1_request(port, "GET", "/still-serving")
    assert r1.status == 200, f"after {what}: HTTP/1.1 GET got {r1}"


# ------------------------------------------------------------------ upstreams and probes

class _Acceptor:
    """A listener on 127.0.0.1 whose thread hands each accepted connection to on_accept(c)."""

    def __init__(self, backlog, rcvbuf=None):
        self.sock = socket.socket()
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(backlog)
        self.port = self.sock.getsockname()[1]
        self._stop = False
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self):
        self.sock.settimeout(0.2)
        while not self._stop:
            try:
                c, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.on_accept(c)

    def close(self):
        self._stop = True
        self._t.join()
        self.sock.close()


class BlackholeUpstream(_Acceptor):
    """Accepts TCP connections and never reads: a request body stalls in hop (and the kernel)."""

    def __init__(self):
        self.conns = []
        super().__init__(64, rcvbuf=4096)

    def on_accept(self, c):
        self.conns.append(c)

    def close(self):
        super().close()
        for c in self.conns:
            c.close()


class FirstBytesUpstream(_Acceptor):
    """Records the first bytes hop sends on each upstream connection, then closes it."""

    def __init__(self, want=24):
        self.want = want
        self.seen = []
        super().__init__(16)

    def on_accept(self, c):
        c.settimeout(2)
        data = b""
        try:
            while len(data) < self.want:
                chunk = c.recv(4096)
                if not chunk:
                    break
                data += chunk
        except OSError:
            pass
        self.seen.append(data)
        c.close()
