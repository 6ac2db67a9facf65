"""Configs, clients and parsers for the TLS / HTTP/2 client-side tests.

Clients are real programs (curl, openssl s_client, nghttp, h2load) or Python sockets
(ssl, python3-h2; keep-alive HTTP/1.1 over a TLS socket is Conn(sock=...) of common/http_raw.py).
Named tls_helpers (not helpers) so it never shadows a sibling suite's module.
"""
import json
import pathlib
import re
import socket
import ssl
import subprocess
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "common"))
from hop_ports import free_port, wait_for_port, wait_until  # noqa: E402,F401  (shared by the suites)
from http_raw import Conn, SocketOwner, metric, metrics  # noqa: E402,F401

REPO = pathlib.Path(__file__).resolve().parents[3]
CERTS = REPO / "examples" / "certs"
CA = CERTS / "ca.pem"
LOCALHOST = (CERTS / "localhost.pem", CERTS / "localhost-key.pem")
OTHER = (CERTS / "other.pem", CERTS / "other-key.pem")
CLIENT = (CERTS / "client.pem", CERTS / "client-key.pem")
ROGUE = (CERTS / "rogue-client.pem", CERTS / "rogue-client-key.pem")

HTTP_REQUEST = b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"


# ------------------------------------------------------------------ YAML

def _scalar(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    s = str(v)
    if s == "" or re.fullmatch(r"[-+]?[0-9.]+", s) or re.search(r"[:#{}\[\],&*!|>'\"%@`]|^\s|\s$", s):
        return json.dumps(s)  # a double-quoted YAML scalar
    return s


def _emit(obj, indent, out):
    pad = " " * indent
    for k, v in obj.items():
        if isinstance(v, dict):
            out.append(f"{pad}{k}:")
            _emit(v, indent + 2, out)
        elif isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
            out.append(f"{pad}{k}:")
            for item in v:
                sub = []
                _emit(item, indent + 4, sub)
                sub[0] = pad + "  - " + sub[0][indent + 4:]
                out.extend(sub)
        elif isinstance(v, list):
            out.append(f"{pad}{k}: [{', '.join(_scalar(x) for x in v)}]")
        else:
            out.append(f"{pad}{k}: {_scalar(v)}")


def to_yaml(cfg):
    """Block-style YAML for nested dicts/lists of plain values (keys keep their order)."""
    out = []
    _emit(cfg, 0, out)
    return "\n".join(out) + "\n"


def tls_block(certs=(LOCALHOST, OTHER), **extra):
    d = {"certificates": [{"cert": str(c), "key": str(k)} for c, k in certs], "alpn": ["h2", "http/1.1"]}
    d.update(extra)
    return d


def listener(name, port, tls=None, cluster="app", **extra):
    d = {"name": name, "address": f"127.0.0.1:{port}"}
    if tls is not None:
        d["tls"] = tls
    d.update(extra)
    d["routes"] = [{"match": {"prefix": "/"}, "cluster": cluster}]
    return d


def config(listeners, cluster_hosts=None, backends=None, admin=None, cluster_extra=None, workers=1,
           access_log="off", top=None):
    """One cluster `app` over cluster_hosts (default: the built-in backends)."""
    cfg = {"workers": workers}
    if admin:
        cfg["admin"] = f"127.0.0.1:{admin}"
    cfg["access_log"] = access_log
    if top:
        cfg.update(top)
    if backends:
        cfg["backends"] = [{"name": n, "address": f"127.0.0.1:{p}"} for n, p in backends]
    cfg["listeners"] = listeners
    hosts = cluster_hosts or [p for _, p in (backends or [])]
    cluster = {"name": "app"}
    cluster.update(cluster_extra or {})
    cluster["hosts"] = [f"127.0.0.1:{p}" for p in hosts]
    cfg["clusters"] = [cluster]
    return cfg


# ------------------------------------------------------------------ clients

def run(args, timeout=20, input=None):
    return subprocess.run(args, capture_output=True, timeout=timeout, input=input)


def curl(*args, timeout=15):
    """curl -sS with `-w` status/version on the last line: returns (proc, status, version, body)."""
    p = run(["curl", "-sS", "-o", "-", "-w", "\n%{http_code} %{http_version}", *args], timeout=timeout)
    out = p.stdout.decode(errors="replace")
    body, _, tail = out.rpartition("\n")
    code, _, version = tail.partition(" ")
    return p, int(code or 0), version, body


def s_client(port, *args, input=b"", timeout=15):
    """openssl s_client against 127.0.0.1:port; returns stdout+stderr as text."""
    p = run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", *args], timeout=timeout, input=input)
    return p.stdout.decode(errors="replace") + p.stderr.decode(errors="replace")


def peer_subject(output):
    """The leaf subject openssl s_client printed ("subject=CN = other.test" → "CN = other.test")."""
    m = re.search(r"^subject=(.*)$", output, re.M)
    return m.group(1).strip() if m else None


def ssl_context(alpn=("http/1.1",), cert=None):
    ctx = ssl.create_default_context(cafile=str(CA))
    if alpn:
        ctx.set_alpn_protocols(list(alpn))
    if cert:
        ctx.load_cert_chain(str(cert[0]), str(cert[1]))
    return ctx


def tls_connect(port, server_hostname="localhost", alpn=("http/1.1",), timeout=5.0):
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    return ssl_context(alpn).wrap_socket(sock, server_hostname=server_hostname)


TLS_VERSIONS = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}


def tls_refusal(port, version, cert=None, server_hostname="localhost"):
    """Why hop's TLS listener refuses this client: the OpenSSL reason of the alert it sends
    (e.g. "TLSV13_ALERT_CERTIFICATE_REQUIRED"), or None when the connection is accepted.

    The client writes nothing after the handshake and reads, so hop's alert is read before
    its close. (A client that sends its request at once, as curl does, may meet a reset
    instead: in TLS 1.3 a refused client certificate is only announced after the client has
    finished the handshake, and curl then reports no reason at all.)"""
    ctx = ssl.create_default_context(cafile=str(CA))
    ctx.minimum_version = ctx.maximum_version = TLS_VERSIONS[version]
    if cert:
        ctx.load_cert_chain(str(cert[0]), str(cert[1]))
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        try:
            with ctx.wrap_socket(raw, server_hostname=server_hostname) as s:
                s.settimeout(1.0)
                s.recv(1)  # hop sends nothing to an accepted client that has not asked
        except ssl.SSLError as e:
            return e.reason
        except socket.timeout:
            return None
    return None


def peer_cn(sslsock):
    cert = sslsock.getpeercert()
    for rdn in cert.get("subject", ()):
        for k, v in rdn:
            if k == "commonName":
                return v
    return None


# ------------------------------------------------------------------ h2load

def parse_h2load(out):
    """{'total','started','done','succeeded','failed','errored','timeout', '2xx', 'protocol'}."""
    m = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, "
                  r"(\d+) errored, (\d+) timeout", out)
    assert m, out
    keys = ("total", "started", "done", "succeeded", "failed", "errored", "timeout")
    r = dict(zip(keys, map(int, m.groups())))
    s = re.search(r"status codes: (\d+) 2xx", out)
    r["2xx"] = int(s.group(1)) if s else None
    a = re.search(r"Application protocol: (\S+)", out)
    r["protocol"] = a.group(1) if a else None
    return r


# ------------------------------------------------------------------ raw HTTP/2 frames

class FrameClient(SocketOwner):
    """An HTTP/2 client whose frames are read one by one (hyperframe + hpack), so a test sees the
    exact order of GOAWAY and response frames (python3-h2's state machine stops at GOAWAY)."""

    PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

    def __init__(self, sock):
        import hpack
        self.sock = sock
        self.buf = bytearray()
        self.enc = hpack.Encoder()
        self.dec = hpack.Decoder()
        self.timeline = []  # ("headers"|"data"|"goaway"|"rst"|..., stream id, details)
        self.closed = False

    @classmethod
    def cleartext(cls, port, timeout=10.0):
        return cls(socket.create_connection(("127.0.0.1", port), timeout=timeout))

    @classmethod
    def tls(cls, port, timeout=10.0):
        sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        s = ssl_context(alpn=("h2",)).wrap_socket(sock, server_hostname="localhost")
        assert s.selected_alpn_protocol() == "h2"
        return cls(s)

    def start(self):
        from hyperframe.frame import SettingsFrame, WindowUpdateFrame
        s = SettingsFrame(0, settings={SettingsFrame.ENABLE_PUSH: 0, SettingsFrame.INITIAL_WINDOW_SIZE: 2 ** 24})
        self.sock.sendall(self.PREFACE + s.serialize() + WindowUpdateFrame(0, window_increment=2 ** 24).serialize())

    def get(self, sid, path, authority="localhost", scheme="http"):
        from hyperframe.frame import HeadersFrame
        block = self.enc.encode([(":method", "GET"), (":scheme", scheme), (":authority", authority), (":path", path)])
        f = HeadersFrame(sid, data=block, flags=["END_HEADERS", "END_STREAM"])
        self.sock.sendall(f.serialize())

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            self.closed = True
            self.timeline.append(("eof", 0, None))
            return False
        self.buf += chunk
        return True

    def read_frame(self):
        """Reads and records one frame; False at EOF."""
        from hyperframe.frame import (DataFrame, Frame, GoAwayFrame, HeadersFrame, PingFrame, RstStreamFrame,
                                      SettingsFrame)
        while len(self.buf) < 9:
            if not self._fill():
                return False
        f, length = Frame.parse_frame_header(memoryview(self.buf[:9]))
        while len(self.buf) < 9 + length:
            if not self._fill():
                return False
        f.parse_body(memoryview(bytes(self.buf[9:9 + length])))
        del self.buf[:9 + length]
        end = "END_STREAM" in f.flags
        if isinstance(f, SettingsFrame):
            if "ACK" not in f.flags:
                self.sock.sendall(SettingsFrame(0, flags=["ACK"]).serialize())
            self.timeline.append(("settings", 0, "ACK" in f.flags))
        elif isinstance(f, PingFrame):
            if "ACK" not in f.flags:
                self.sock.sendall(PingFrame(0, data=f.opaque_data, flags=["ACK"]).serialize())
            self.timeline.append(("ping", 0, None))
        elif isinstance(f, HeadersFrame):
            self.timeline.append(("headers", f.stream_id, (self.dec.decode(bytes(f.data)), end)))
        elif isinstance(f, DataFrame):
            self.timeline.append(("data", f.stream_id, (bytes(f.data), end)))
        elif isinstance(f, GoAwayFrame):
            self.timeline.append(("goaway", 0, (f.error_code, f.last_stream_id)))
        elif isinstance(f, RstStreamFrame):
            self.timeline.append(("rst", f.stream_id, f.error_code))
        else:
            self.timeline.append((type(f).__name__, f.stream_id, None))
        return True

    def read_until(self, pred, timeout=10.0):
        deadline = time.monotonic() + timeout
        while not pred():
            if time.monotonic() > deadline:
                raise TimeoutError(f"timeline so far: {self.timeline}")
            self.sock.settimeout(max(0.05, deadline - time.monotonic()))
            if not self.read_frame():
                break
        return pred()

    def stream_ended(self, sid):
        return any(k in ("headers", "data") and s == sid and d[1] for k, s, d in self.timeline) or \
            any(k == "rst" and s == sid for k, s, _ in self.timeline)

    def response(self, sid):
        """(status, headers dict, body) from the timeline."""
        status, headers, body = None, {}, bytearray()
        for k, s, d in self.timeline:
            if s != sid:
                continue
            if k == "headers":
                for name, value in d[0]:
                    if name == ":status" and status is None:
                        status = int(value)
                    else:
                        headers[name] = value
            elif k == "data":
                body += d[0]
        return status, headers, bytes(body)
