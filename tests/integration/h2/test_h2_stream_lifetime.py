"""HTTP/2 streams and connections end when nothing is left to do for them.

- A stream whose response is complete while the client's request is still open is reset
  with NO_ERROR (RFC 9113 §8.1), which also gives back the connection window its unread
  body held; otherwise it stays half-open for good, and enough of them freeze every upload
  on the connection.
- A client that stops reading (zero window, never recv) is closed after the idle timeout:
  the resets of its timed-out streams cannot reach it, so nothing else would end it.
"""
import socket
import time

from hyperframe.frame import DataFrame, SettingsFrame

from h2_helpers import (FLOW_CONTROL_ERROR, NO_ERROR, H2Client, RawH2, Resp, _Acceptor, assert_serving, free_port,
                        h1_request, h2_get)
from http_raw import metric, read_through_head

CHUNK = 16384  # the default SETTINGS_MAX_FRAME_SIZE


def opened(hp):
    c = RawH2(hp.port)
    c.start()
    assert c.pump(lambda: bool(c.server_settings) or any(isinstance(f, SettingsFrame) for f in c.frames), timeout=5)
    return c


def test_a_complete_response_to_an_open_request_resets_it_with_no_error(hop):
    refused = free_port()  # nothing listens: hop answers 502/503 at once, the request still open
    hp = hop.start(upstream_port=refused, listener_extra=["timeouts: { idle: 1s }"])
    with opened(hp) as c:
        c.send(c.headers_frame(1, end_stream=False, method="POST", path="/upload"))
        c.pump(lambda: c.stream(1).reset is not None or c.closed, timeout=5)
        st = c.stream(1)
        assert st.status in (502, 503) and st.ended, (st.status, st.ended)
        assert st.reset == NO_ERROR, st.reset
        # Nothing is open any more, so the idle timeout applies to the connection.
        assert c.wait_goaway_or_close(timeout=5), "the half-open stream kept the connection alive"
        assert c.goaway is None or c.goaway[0] == NO_ERROR
    assert hp.alive()


def test_bodies_of_early_answered_streams_give_their_window_back(hop):
    """Six uploads of 200 KiB each, every one answered (and ended) by hop before its body is
    read: 1.2 MiB through a 1 MiB connection window. Without the resets, the unread bodies
    stay charged to the connection and the sixth overruns it."""
    refused = free_port()
    hp = hop.start(upstream_port=refused)
    with opened(hp) as c:
        for n in range(6):
            sid = 1 + 2 * n
            c.send(c.headers_frame(sid, end_stream=False, method="POST", path=f"/upload/{n}"))
            c.pump(lambda: c.stream(sid).ended or c.closed, timeout=5)
            assert c.stream(sid).status in (502, 503), f"stream {sid}: {c.stream(sid).status}"
            for off in range(0, 200 * 1024, CHUNK):
                c.send(DataFrame(sid, data=b"x" * CHUNK))
            c.pump(lambda: c.stream(sid).reset is not None or c.goaway is not None or c.closed, timeout=5)
            assert c.goaway is None, f"GOAWAY {c.goaway} after {n + 1} uploads"
            assert c.stream(sid).reset == NO_ERROR
        # The connection is still good for a request.
        c.get(99, "/after")
        st = c.wait_stream(99)
        assert st.status in (502, 503) and c.goaway is None, (st.status, c.goaway)
    assert c.goaway is None or c.goaway[0] != FLOW_CONTROL_ERROR


def test_a_client_that_stops_reading_is_closed_after_the_idle_timeout(hop):
    hp = hop.start(listener_extra=["timeouts: { idle: 1s }"])
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: a small window
    s.settimeout(5)
    s.connect(("127.0.0.1", hp.port))
    c = RawH2.__new__(RawH2)
    RawH2.__init__(c, hp.port)  # the helper's own socket is replaced by the small one
    c.sock.close()
    c.sock = s
    c.start()  # huge stream and connection windows: hop may send as much as it likes
    for n in range(8):
        c.get(1 + 2 * n, "/bytes/1048576")
    try:
        active = lambda: metric(hp.admin, "hop_downstream_connections_active", listener="web")
        deadline = time.monotonic() + 3
        while active() != 1 and time.monotonic() < deadline:  # accepted and past the h2c hand-over
            time.sleep(0.02)
        assert active() == 1
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline:  # never recv: hop's output stays stuck
            if metric(hp.admin, "hop_downstream_connections_active", listener="web") == 0:
                break
            time.sleep(0.2)
        assert metric(hp.admin, "hop_downstream_connections_active", listener="web") == 0, \
            "a client that reads nothing still holds its connection"
    finally:
        s.close()
    assert_serving(hp.port, "after a stalled reader", h2_port=hp.port)


def test_a_client_with_a_closed_window_does_not_stall_others_on_a_shared_upstream_session(hop):
    """Client A announces a stream window of 0 and opens twenty 1 MiB downloads through an
    HTTP/2 upstream session; hop may hold at most a stream window (64 KiB) per stream for
    it, 1.25 MiB in all -- more than the session's 1 MiB connection window. Client B's
    request rides the same upstream session and must still be answered: A's unread bytes
    may not use up the session's connection window. That B's request really rode A's session
    is checked: hop opened one upstream connection in all (a second session would let B pass
    without proving anything)."""
    hp = hop.start(protocol="h2c")
    a = RawH2(hp.port)
    a.start(settings={SettingsFrame.INITIAL_WINDOW_SIZE: 0}, big_windows=False)
    try:
        for n in range(20):
            a.get(1 + 2 * n, "/bytes/1048576")
        a.pump(lambda: all(a.stream(1 + 2 * n).status for n in range(20)), timeout=5)
        time.sleep(0.5)  # let the upstream fill what hop will hold for A
        r = h1_request(hp.port, "GET", "/bytes/1000", timeout=5)
        assert r.status == 200 and len(r.body) == 1000, r
        r2 = h2_get(hp.port, "/bytes/2000", timeout=5)
        assert r2.status == 200 and len(r2.body) == 2000, r2
        assert metric(hp.admin, "hop_upstream_connections_opened_total", cluster="app") == 1
        assert metric(hp.admin, "hop_upstream_requests_total", cluster="app") == 22
    finally:
        a.close()


def test_a_stream_refused_mid_headers_is_not_logged_as_a_request(hop):
    """nghttp2 refuses a header block with a connection-specific field; that stream never
    was a request: no access-log line, no 499, no duration of 'time since boot'."""
    hp = hop.start(access_log="stdout")
    with opened(hp) as c:
        c.send(c.headers_frame(1, path="/bad", extra=[("connection", "x")]))
        c.pump(lambda: c.stream(1).reset is not None or c.stream(1).status is not None or c.closed, timeout=3)
        c.get(3, "/good")
        assert c.wait_stream(3).status == 200
    log = hp.access_log(min_lines=1)
    assert [e["path"] for e in log] == ["/good"], log
    assert all(e["duration_ms"] < 10_000 for e in log), log


def test_an_early_answer_then_close_reaches_an_h2_client_not_a_502(hop):
    """HTTP/2 client, HTTP/1.1 upstream that answers 413 after the head and closes with the
    body unread: hop's next body write fails, and the 413 waiting in the socket is what the
    client must get -- not 502 upstream-reset."""
    import threading
    import h2.exceptions

    class AnswersEarlyAndCloses(_Acceptor):
        def on_accept(self, c):
            threading.Thread(target=self.answer, args=(c,), daemon=True).start()

        def answer(self, c):
            read_through_head(c)
            time.sleep(0.3)  # hop is writing the body meanwhile (into buffers nobody reads)
            c.sendall(b"HTTP/1.1 413 Content Too Large\r\nContent-Length: 8\r\nConnection: close\r\n\r\ntoo big\n")
            c.close()  # the body unread: the kernel resets the connection

    srv = AnswersEarlyAndCloses(16)
    hp = hop.start(sink_port=srv.port)
    try:
        for _ in range(3):
            with H2Client(hp.port) as c:
                sid = c.conn.get_next_available_stream_id()
                c.resps[sid] = Resp()
                size = 4 << 20
                c.conn.send_headers(sid, [(":method", "PUT"), (":scheme", "http"), (":authority", "t"),
                                          (":path", "/sink/upload"), ("content-length", str(size))])
                c.flush()
                sent = 0
                while sent < size and not c.resps[sid].ended and c.resps[sid].reset is None:
                    window = min(c.conn.local_flow_control_window(sid), c.conn.max_outbound_frame_size)
                    if window <= 0:
                        c._read(0.2)
                        continue
                    try:
                        c.conn.send_data(sid, b"x" * min(window, size - sent), end_stream=sent + window >= size)
                        c.flush()
                    except (h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError, OSError):
                        break
                    sent += window
                r = c.wait([sid], timeout=10)[0]
                assert r.status == 413, r
    finally:
        srv.close()
