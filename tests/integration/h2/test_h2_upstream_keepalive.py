"""Keepalive PINGs on upstream HTTP/2 connections (cluster `http2: {ping_interval, ping_timeout}`).

The upstream is a scripted h2c server (python3-h2) so a test can make it vanish without a
FIN: it stops reading and answering after its first response, as a crashed host behind a
NAT or a dropped firewall state looks to hop.
"""
import socket
import struct
import threading
import time

import h2.config
import h2.connection
import h2.events

from h2_helpers import free_port, h1_request
from http_raw import metric

PING = 0x6


class ScriptedH2cUpstream:
    """Accepts h2c connections and answers every request with 200 "ok". With go_silent,
    the first connection stops reading and writing after its first response; the bytes
    it still receives are kept raw (not answered) until hop closes it."""

    def __init__(self, go_silent):
        self.go_silent = go_silent
        self.port = free_port()
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", self.port))
        self.sock.listen(16)
        self.connections = 0
        self.pings = 0             # PINGs answered (live connections)
        self.silent_bytes = b""    # what arrived on the silent connection after it went quiet
        self.silent_closed_at = None
        self.silent_since = None
        self.stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self):
        self.stop = True
        self.sock.close()

    def _accept(self):
        while not self.stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            silent = self.go_silent and self.connections == 1
            threading.Thread(target=self._serve, args=(conn, silent), daemon=True).start()

    def _serve(self, conn, silent):
        h2c = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=False))
        h2c.initiate_connection()
        conn.sendall(h2c.data_to_send())
        answered = False
        with conn:
            while not self.stop:
                try:
                    data = conn.recv(65536)
                except OSError:
                    data = b""
                if not data:
                    return
                for ev in h2c.receive_data(data):
                    if isinstance(ev, h2.events.RequestReceived):
                        h2c.send_headers(ev.stream_id, [(":status", "200"), ("content-length", "2")])
                        h2c.send_data(ev.stream_id, b"ok", end_stream=True)
                        answered = True
                    elif isinstance(ev, h2.events.PingReceived):
                        self.pings += 1  # h2 queues the ACK itself
                conn.sendall(h2c.data_to_send())
                if silent and answered:
                    self._go_quiet(conn)
                    return

    def _go_quiet(self, conn):
        self.silent_since = time.monotonic()
        while True:
            try:
                data = conn.recv(65536)
            except OSError:
                data = b""
            if not data:
                self.silent_closed_at = time.monotonic()
                return
            self.silent_bytes += data


def frame_types(raw):
    """Frame types of a run of whole HTTP/2 frames."""
    out, i = [], 0
    while i + 9 <= len(raw):
        length = struct.unpack(">I", b"\0" + raw[i:i + 3])[0]
        out.append(raw[i + 3])
        i += 9 + length
    return out


def start_hop(hop, upstream, **http2):
    extra = [f"http2: {{ {', '.join(f'{k}: {v}' for k, v in http2.items())} }}"] if http2 else []
    return hop.start(protocol="h2c", upstream_port=upstream.port, cluster_extra=extra)


def test_an_upstream_that_stops_answering_is_closed_after_the_ping_timeout(hop):
    up = ScriptedH2cUpstream(go_silent=True)
    try:
        hp = start_hop(hop, up, ping_interval="1s", ping_timeout="500ms")
        assert h1_request(hp.port).status == 200
        deadline = time.monotonic() + 10
        while up.silent_closed_at is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert up.silent_closed_at is not None, "hop kept a connection whose host stopped answering"
        quiet_for = up.silent_closed_at - up.silent_since
        # 1 s of silence, then 0.5 s for the answer that never comes; generous upper bound.
        assert 1.2 <= quiet_for <= 5, quiet_for
        assert PING in frame_types(up.silent_bytes), up.silent_bytes
        # Counted by the worker just after it closes the socket: the test may see the close first.
        deadline = time.monotonic() + 5
        while metric(hp.admin, "hop_upstream_keepalive_timeouts_total", cluster="app") != 1:
            assert time.monotonic() < deadline, "keepalive timeout not counted"
            time.sleep(0.05)
        # The next request gets a new connection, not the dead one.
        assert h1_request(hp.port).status == 200
        assert up.connections == 2
    finally:
        up.close()


def test_a_live_upstream_answers_pings_and_keeps_its_connection(hop):
    up = ScriptedH2cUpstream(go_silent=False)
    try:
        hp = start_hop(hop, up, ping_interval="1s", ping_timeout="500ms")
        assert h1_request(hp.port).status == 200
        time.sleep(2.6)  # two keepalive rounds on an idle connection
        assert h1_request(hp.port).status == 200
        assert up.connections == 1
        assert up.pings >= 2
        assert metric(hp.admin, "hop_upstream_keepalive_timeouts_total", cluster="app") == 0
    finally:
        up.close()


def test_no_pings_unless_configured(hop):
    up = ScriptedH2cUpstream(go_silent=False)
    try:
        hp = start_hop(hop, up)
        assert h1_request(hp.port).status == 200
        time.sleep(1.5)
        assert h1_request(hp.port).status == 200
        assert up.connections == 1 and up.pings == 0
    finally:
        up.close()
