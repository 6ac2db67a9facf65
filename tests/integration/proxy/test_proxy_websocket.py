"""WebSocket through hop: HTTP/1.1 Upgrade passed on, 101 relayed, then a tunnel.

Real clients and servers (python3-websockets) for the protocol, over cleartext and TLS;
raw sockets where every byte and every FIN must be ours (early frames, half-closes,
refusals, timeouts, idle memory).
"""
import asyncio
import os
import signal
import socket
import ssl
import threading
import time

import pytest
import websockets

from conftest import simple_config
from proxy_helpers import (OPEN_UPSTREAMS, Conn, ScriptedUpstream, free_port, get, metric, read_until_close, rss_kib,
                           wait_until)

CERTS = os.path.join(os.path.dirname(__file__), "..", "..", "..", "examples", "certs")
HANDSHAKE = ("GET /chat HTTP/1.1\r\nHost: example.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n").encode()
SWITCH = (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
          b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n")


class EchoServer:
    """A python3-websockets echo server on its own event loop thread."""

    def __init__(self, ssl_ctx=None):
        self.loop = asyncio.new_event_loop()
        self.port = free_port()
        self.paths = []
        ready = threading.Event()

        async def echo(ws, path=None):
            self.paths.append(path if path is not None else ws.path)
            async for m in ws:
                await ws.send(m)

        async def main():
            self.server = await websockets.serve(echo, "127.0.0.1", self.port, max_size=1 << 24, ssl=ssl_ctx)
            ready.set()

        self.thread = threading.Thread(target=lambda: (self.loop.run_until_complete(main()), self.loop.run_forever()),
                                       daemon=True)
        self.thread.start()
        assert ready.wait(5), "the websockets server did not start"
        OPEN_UPSTREAMS.append(self)

    def close(self):
        async def stop():
            self.server.close()
            await self.server.wait_closed()
        try:
            asyncio.run_coroutine_threadsafe(stop(), self.loop).result(5)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)


def tunnel_upstream(after_switch=None, early=b""):
    """A raw origin that answers the handshake with 101 (and `early` bytes in the same
    write), then runs after_switch(conn, rest) or echoes until EOF and closes."""
    def handler(c, req, idx):
        assert b"\r\nconnection: upgrade\r\n" in req.lower() and b"\r\nupgrade: websocket\r\n" in req.lower(), req
        c.sendall(SWITCH + early)
        if after_switch:
            after_switch(c)
            return False
        while True:
            data = c.recv(65536)
            if not data:
                c.shutdown(socket.SHUT_WR)
                return False
            c.sendall(data)
    return ScriptedUpstream(handler, read_body=False)


def start_hop(hop, upstream_port, listener_extra="", tls=False, cluster_extra=""):
    port, admin = free_port(), free_port()
    extra = listener_extra
    if tls:
        extra += (f"\ntls:\n  certificates:\n    - {{ cert: {CERTS}/localhost.pem, key: {CERTS}/localhost-key.pem }}\n"
                  "  alpn: [http/1.1]\n")
    return hop.run_config(simple_config(port, admin, [upstream_port], listener_extra=extra, cluster_extra=cluster_extra),
                          port=port, admin=admin)


async def echo_session(url, ssl_ctx=None):
    async with websockets.connect(url, ssl=ssl_ctx, max_size=1 << 24) as ws:
        got = []
        for i in range(20):
            await ws.send(f"message {i}")
            got.append(await ws.recv())
        big = os.urandom(3 << 20)
        await ws.send(big)
        back = await ws.recv()
        return got, back == big


def test_websocket_echo_through_hop(hop):
    server = EchoServer()
    hp = start_hop(hop, server.port)
    got, big_ok = asyncio.run(echo_session(f"ws://127.0.0.1:{hp.port}/chat?room=1"))
    assert got == [f"message {i}" for i in range(20)]
    assert big_ok, "a 3 MiB binary message came back changed"
    assert server.paths == ["/chat?room=1"]
    assert wait_until(lambda: metric(hp.admin, "hop_downstream_tunnels_active", listener="web") == 0, 5)
    assert metric(hp.admin, "hop_downstream_upgrades_total", listener="web") == 1
    log = hp.access_log(min_lines=1)
    assert log[-1]["status"] == 101 and log[-1]["bytes_sent"] > 3 << 20, log[-1]


def test_websocket_over_tls(hop):
    server = EchoServer()
    hp = start_hop(hop, server.port, tls=True)
    ctx = ssl.create_default_context(cafile=os.path.join(CERTS, "ca.pem"))
    got, big_ok = asyncio.run(echo_session(f"wss://localhost:{hp.port}/secure", ctx))
    assert got[-1] == "message 19" and big_ok


def test_websocket_to_a_tls_upstream(hop):
    """TLS toward the upstream (the cluster's tls:), TLS from the client too."""
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(os.path.join(CERTS, "localhost.pem"), os.path.join(CERTS, "localhost-key.pem"))
    server = EchoServer(server_ctx)
    hp = start_hop(hop, server.port, tls=True, cluster_extra=f"tls: {{ ca: {CERTS}/ca.pem, sni: localhost }}")
    ctx = ssl.create_default_context(cafile=os.path.join(CERTS, "ca.pem"))
    got, big_ok = asyncio.run(echo_session(f"wss://localhost:{hp.port}/both", ctx))
    assert got[0] == "message 0" and big_ok
    assert server.paths == ["/both"]


def test_a_session_outlives_the_request_timeout(hop):
    """The request timeout (1 s here) bounds the handshake, not the session after it."""
    server = EchoServer()
    hp = start_hop(hop, server.port, listener_extra="timeouts: { request: 1s }")

    async def session():
        async with websockets.connect(f"ws://127.0.0.1:{hp.port}/long") as ws:
            for i in range(5):
                await ws.send(str(i))
                assert await ws.recv() == str(i)
                await asyncio.sleep(0.6)
    asyncio.run(session())


def test_bytes_before_and_after_the_switch_keep_their_order(hop):
    """The client's first frame may follow its request in the same packet, the upstream's
    in the same packet as its 101: neither may be lost or reordered."""
    up = tunnel_upstream(early=b"hello-from-upstream")
    hp = start_hop(hop, up.port)
    with Conn(hp.port) as c:
        c.send(HANDSHAKE + b"early-client-bytes")
        r = c.read_response(skip_1xx=False)
        assert r.status == 101, r
        assert r.header("upgrade").lower() == "websocket" and r.header("connection").lower() == "upgrade", r.headers
        assert r.header("sec-websocket-accept") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        assert r.header("content-length") is None and r.header("transfer-encoding") is None
        want = b"hello-from-upstream" + b"early-client-bytes"
        while len(c.buf) < len(want):
            c._fill()
        assert bytes(c.buf) == want
        c.buf.clear()
        c.send(b"x" * 100000)
        while len(c.buf) < 100000:
            c._fill()
        assert bytes(c.buf) == b"x" * 100000


def test_half_closes_pass_through_both_ways(hop):
    """The client's FIN reaches the upstream as a FIN after its last bytes; the upstream can
    still answer, and its FIN ends the client's side."""
    def after(c):
        data = read_until_close(c)
        c.sendall(b"you said " + data)
        c.shutdown(socket.SHUT_WR)
        time.sleep(0.2)

    up = tunnel_upstream(after_switch=after)
    hp = start_hop(hop, up.port)
    with Conn(hp.port) as c:
        c.send(HANDSHAKE)
        assert c.read_response(skip_1xx=False).status == 101
        c.send(b"goodbye")
        c.sock.shutdown(socket.SHUT_WR)
        while True:
            try:
                c._fill()
            except EOFError:
                break
        assert bytes(c.buf) == b"you said goodbye"
    assert wait_until(lambda: metric(hp.admin, "hop_downstream_tunnels_active", listener="web") == 0, 5)


def test_a_refused_upgrade_is_an_ordinary_response(hop):
    """An upstream that does not switch (426, 400, 200...) answers like any request, and the
    connection goes on as HTTP/1.1."""
    def refuse(c, req, idx):
        body = b"upgrade refused"
        status = b"426 Upgrade Required" if idx == 1 else b"200 OK"
        c.sendall(b"HTTP/1.1 " + status + b"\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    up = ScriptedUpstream(refuse)
    OPEN_UPSTREAMS.append(up)
    hp = start_hop(hop, up.port)
    with Conn(hp.port) as c:
        c.send(HANDSHAKE)
        r = c.read_response()
        assert r.status == 426 and r.body == b"upgrade refused"
        c.send(b"GET /next HTTP/1.1\r\nHost: example.test\r\n\r\n")
        assert c.read_response().status == 200
    assert metric(hp.admin, "hop_downstream_upgrades_total", listener="web") == 0
    # The refused upgrade's upstream connection was not reused for /next: a backend that
    # switched protocols anyway must not get another request on it.
    assert up.connections == 2, up.connections


def test_only_websocket_upgrades_are_passed_on(hop):
    """Upgrade: h2c (or anything else) is hop-by-hop and dropped, as before; a 101 that was
    not asked for is the upstream's error (502)."""
    seen = []

    def switch_anyway(c, req, idx):
        seen.append(req)
        c.sendall(SWITCH)
        return False
    up = ScriptedUpstream(switch_anyway)
    OPEN_UPSTREAMS.append(up)
    hp = start_hop(hop, up.port)
    r = get(hp.port, "/", headers={"Connection": "Upgrade, HTTP2-Settings", "Upgrade": "h2c",
                                   "HTTP2-Settings": "AAMAAABkAAQAAP__"})
    assert r.status == 502 and r.header("x-hop-error") == "upstream-upgrade-unsupported", r
    head = seen[0].split(b"\r\n\r\n")[0].lower()
    assert b"\r\nupgrade:" not in head and b"\r\nconnection:" not in head and b"http2-settings" not in head, head


def test_an_idle_tunnel_is_closed_after_tunnel_idle(hop):
    up = tunnel_upstream()
    hp = start_hop(hop, up.port, listener_extra="timeouts: { tunnel_idle: 1s }")
    with Conn(hp.port, timeout=10) as c:
        c.send(HANDSHAKE)
        assert c.read_response(skip_1xx=False).status == 101
        c.send(b"ping")
        while len(c.buf) < 4:
            c._fill()
        t = time.monotonic()
        assert c.is_closed(timeout=8), "the idle tunnel was not closed"
        waited = time.monotonic() - t
        assert 0.8 < waited < 5, waited
    log = hp.access_log(min_lines=1)
    assert log[-1]["status"] == 101 and log[-1]["error"] == "tunnel-idle-timeout", log[-1]


def test_a_client_that_vanishes_frees_the_upstream_connection(hop):
    """A reset is not a half-close: the tunnel ends at once even though the upstream stays
    quiet and keeps its side open."""
    closed = threading.Event()

    def after(c):
        while c.recv(65536):
            pass
        closed.set()
        time.sleep(30)  # quiet, and not closing: only hop can end the tunnel now
    up = tunnel_upstream(after_switch=after)
    hp = start_hop(hop, up.port)
    c = Conn(hp.port)
    c.send(HANDSHAKE)
    assert c.read_response(skip_1xx=False).status == 101
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    c.sock.close()  # RST
    assert closed.wait(5), "the upstream side of the tunnel was never closed"
    # Ended, not half-closed: the upstream keeps its side open and says nothing for 30 s.
    assert wait_until(lambda: metric(hp.admin, "hop_downstream_tunnels_active", listener="web") == 0, 1.5)


def test_only_a_bodyless_http11_get_is_upgraded(hop):
    """POST with a body, or HTTP/1.0, asking for websocket: passed on as plain requests."""
    seen = []

    def answer(c, req, idx):
        seen.append(req)
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    up = ScriptedUpstream(answer)
    OPEN_UPSTREAMS.append(up)
    hp = start_hop(hop, up.port)
    ws_fields = {"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
                 "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}
    assert get(hp.port, "/post", method="POST", body=b"data", headers=ws_fields).status == 200
    with Conn(hp.port) as c:
        c.send(b"GET /old HTTP/1.0\r\nHost: example.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
        assert c.read_response().status == 200
    for req in seen:
        head = req.split(b"\r\n\r\n")[0].lower()
        assert b"\r\nupgrade:" not in head, head


def test_idle_tunnels_hold_no_buffers(hop):
    """300 open, quiet WebSockets: hop's memory grows by its connection state only (the
    input and upstream buffers, 16 KiB each, are given back while nothing is in flight)."""
    up = tunnel_upstream()
    hp = start_hop(hop, up.port)
    with Conn(hp.port) as warm:  # first-use allocations out of the way
        warm.send(HANDSHAKE)
        assert warm.read_response(skip_1xx=False).status == 101
    base = rss_kib(hp.proc.pid)
    conns = []
    try:
        for _ in range(300):
            c = Conn(hp.port)
            c.send(HANDSHAKE)
            conns.append(c)
        for c in conns:
            assert c.read_response(skip_1xx=False).status == 101
        for c in conns:
            c.send(b"hi")
        for c in conns:
            while len(c.buf) < 2:
                c._fill()
        time.sleep(0.3)
        per_tunnel = (rss_kib(hp.proc.pid) - base) / len(conns)
        assert metric(hp.admin, "hop_downstream_tunnels_active", listener="web") == 300
        print(f"{per_tunnel:.2f} KiB per idle tunnel")
        assert per_tunnel < 12, f"{per_tunnel:.1f} KiB per idle tunnel"
    finally:
        for c in conns:
            c.sock.close()


def test_tunnel_idle_below_a_second_is_a_config_error(hop):
    cfg = simple_config(free_port(), free_port(), [free_port()], listener_extra="timeouts: { tunnel_idle: 0s }")
    rc, out, path = hop.check(cfg)
    assert rc != 0 and "tunnel_idle must be at least 1s" in out and f"{path.name}:" in out, out


def test_a_slow_upstream_holds_back_a_fast_client_and_loses_nothing(hop):
    """8 MiB from the client while the upstream reads slowly: hop keeps one buffer per
    direction (its memory stays flat), delivers every byte in order, and passes the
    client's FIN on only after the last byte."""
    total = 8 << 20
    received = bytearray()
    done = threading.Event()

    def after(c):
        while True:
            chunk = c.recv(16384)
            if not chunk:
                break
            received.extend(chunk)
            time.sleep(0.004)  # about 4 MB/s: the client writes far faster
        c.sendall(b"got %d" % len(received))
        done.set()

    up = tunnel_upstream(after_switch=after)
    hp = start_hop(hop, up.port)
    pattern = bytes(range(256)) * 4096  # 1 MiB
    with Conn(hp.port, timeout=30) as c:
        c.send(HANDSHAKE)
        assert c.read_response(skip_1xx=False).status == 101
        base = rss_kib(hp.proc.pid)
        peak = base
        for _ in range(total // len(pattern)):
            c.send(pattern)
            peak = max(peak, rss_kib(hp.proc.pid))
        c.sock.shutdown(socket.SHUT_WR)
        assert done.wait(25), f"the upstream got {len(received)} of {total} bytes and no FIN"
        while not c.buf.endswith(b"got %d" % total):
            c._fill()
    assert len(received) == total and bytes(received) == pattern * (total // len(pattern))
    assert peak - base < 2048, f"hop grew by {peak - base} KiB while relaying to a slow upstream"


def test_sigterm_closes_open_tunnels_at_the_drain_deadline(hop):
    """A WebSocket is in flight for as long as it is open: on SIGTERM hop keeps it until
    drain_timeout, then closes it and exits 0 (it does not wait for the session's end)."""
    up = tunnel_upstream()
    port, admin = free_port(), free_port()
    hp = hop.run_config(simple_config(port, admin, [up.port], top_extra="drain_timeout: 1s\n"), port=port, admin=admin)
    with Conn(hp.port, timeout=10) as c:
        c.send(HANDSHAKE)
        assert c.read_response(skip_1xx=False).status == 101
        t0 = time.monotonic()
        hp.signal(signal.SIGTERM)
        c.send(b"still here")  # the tunnel works while draining
        while len(c.buf) < 10:
            c._fill()
        assert bytes(c.buf) == b"still here"
        assert c.is_closed(timeout=5), "the tunnel outlived the drain deadline"
        assert hp.wait(5) == 0
        assert 0.8 < time.monotonic() - t0 < 4
