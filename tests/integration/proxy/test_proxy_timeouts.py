"""Timeouts: connect, per request (route), idle on both sides, request-header read (slowloris)."""
import socket
import threading
import time

import pytest

from conftest import simple_config
from proxy_helpers import Conn, ScriptedUpstream, free_port, get, metric, wait_until


def test_route_timeout_gives_504_upstream_timeout(hop, echo_backends):
    port, admin = free_port(), free_port()
    routes = ("      - match: { prefix: /slow }\n        cluster: app\n        prefix_rewrite: /\n        timeout: 300ms\n"
              "      - match: { prefix: / }\n        cluster: app\n")
    hop.run_config(simple_config(port, admin, [echo_backends["alpha"]], routes=routes), port=port, admin=admin)
    t0 = time.monotonic()
    r = get(port, "/slow/delay/3000")
    took = time.monotonic() - t0
    assert r.status == 504 and r.header("x-hop-error") == "upstream-timeout"
    assert 0.25 <= took < 1.5, took
    assert metric(admin, "hop_upstream_timeouts_total", cluster="app") == 1
    # A route without its own timeout uses the listener's (15 s): 1 s is fine there.
    assert get(port, "/delay/1000").status == 200


def test_listener_request_timeout_applies_without_route_timeout(hop, echo_backends):
    port, admin = free_port(), free_port()
    hop.run_config(simple_config(port, admin, [echo_backends["alpha"]], listener_extra="timeouts: { request: 400ms }"),
                   port=port, admin=admin)
    t0 = time.monotonic()
    r = get(port, "/delay/3000")
    assert r.status == 504 and time.monotonic() - t0 < 1.5


def test_connect_timeout_to_unresponsive_host(hop):
    # A listener whose accept queue is full drops further SYNs: connect() hangs, as it
    # would against a blackholed address, without leaving 127.0.0.0/8.
    blackhole = socket.socket()
    blackhole.bind(("127.0.0.1", 0))
    blackhole.listen(0)
    bport = blackhole.getsockname()[1]
    fillers = []
    for _ in range(4):
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", bport))
        fillers.append(s)
    time.sleep(0.1)
    port, admin = free_port(), free_port()
    hop.run_config(simple_config(port, admin, [bport], cluster_extra="connect_timeout: 300ms"), port=port, admin=admin)
    t0 = time.monotonic()
    r = get(port, "/")
    took = time.monotonic() - t0
    assert r.status in (503, 504), r
    assert r.header("x-hop-error") == "upstream-connect-timeout"
    assert 0.25 <= took < 1.5, took
    assert metric(admin, "hop_upstream_connect_failures_total", cluster="app") >= 1
    for s in fillers:
        s.close()
    blackhole.close()


def test_connect_refused_is_503_upstream_connect(hop):
    dead = free_port()
    port, admin = free_port(), free_port()
    hop.run_config(simple_config(port, admin, [dead]), port=port, admin=admin)
    r = get(port, "/")
    assert r.status == 503
    assert r.header("x-hop-error") == "upstream-connect"


def test_idle_client_keep_alive_connection_is_closed(hop, echo_backends):
    port, admin = free_port(), free_port()
    hop.run_config(simple_config(port, admin, [echo_backends["alpha"]], listener_extra="timeouts: { idle: 300ms }"),
                   port=port, admin=admin)
    with Conn(port) as c:
        assert c.request("GET", "/").status == 200
        t0 = time.monotonic()
        assert c.is_closed(timeout=2)
        assert 0.2 <= time.monotonic() - t0 < 1.0


def test_idle_upstream_mid_response_cuts_the_client(hop):
    def stalls(c, req, idx):
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial")
        time.sleep(3)
        return False

    up = ScriptedUpstream(stalls)
    port, admin = free_port(), free_port()
    hop.run_config(simple_config(port, admin, [up.port], listener_extra="timeouts: { idle: 400ms }"),
                   port=port, admin=admin)
    with Conn(port) as c:
        c.send(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        t0 = time.monotonic()
        with pytest.raises((EOFError, ConnectionResetError)):
            c.read_response()
        assert time.monotonic() - t0 < 2.0
    up.close()


def slow_headers(port, interval, stop):
    """Slowloris: a header byte every `interval`, never finishing the head."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n")
    try:
        while not stop.is_set():
            s.sendall(b"X")
            time.sleep(interval)
    except OSError:
        pass
    return s


def test_slowloris_gets_408_and_others_are_still_served(hop, echo_backends):
    port, admin = free_port(), free_port()
    hop.run_config(simple_config(port, admin, [echo_backends["alpha"]], listener_extra="timeouts: { header_read: 600ms }"),
                   port=port, admin=admin)
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n")
    t0 = time.monotonic()
    data = b""
    try:
        while True:
            try:
                s.sendall(b"X")
            except OSError:
                break
            time.sleep(0.1)
            s.setblocking(False)
            try:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
            except BlockingIOError:
                pass
            finally:
                s.setblocking(True)
            if time.monotonic() - t0 > 3:
                break
            # Meanwhile others are served.
            assert get(port, "/meanwhile").status == 200
    finally:
        s.close()
    took = time.monotonic() - t0
    assert data.startswith(b"HTTP/1.1 408"), data
    assert took < 1.6, took


def test_many_slowloris_connections_do_not_starve_others(hop, echo_backends):
    port, admin = free_port(), free_port()
    hop.run_config(simple_config(port, admin, [echo_backends["alpha"]], listener_extra="timeouts: { header_read: 1s }"),
                   port=port, admin=admin)
    stop = threading.Event()
    socks = []
    threads = [threading.Thread(target=lambda: socks.append(slow_headers(port, 0.2, stop))) for _ in range(100)]
    for t in threads:
        t.start()
    time.sleep(0.3)
    for i in range(20):
        r = get(port, f"/ok{i}", timeout=2)
        assert r.status == 200
    stop.set()
    for t in threads:
        t.join(5)
    for s in socks:
        s.close()


def test_silent_connection_is_closed_after_header_timeout(hop, echo_backends):
    # defer_accept off: hop accepts at once and its own header timer is what closes.
    port, admin = free_port(), free_port()
    hop.run_config(simple_config(port, admin, [echo_backends["alpha"]],
                                 listener_extra="timeouts: { header_read: 400ms, defer_accept: 0s }"),
                   port=port, admin=admin)
    with Conn(port) as c:
        t0 = time.monotonic()
        assert c.is_closed(timeout=2)
        assert time.monotonic() - t0 < 1.0


def test_deferred_accept_holds_silent_connections_in_the_kernel(hop, echo_backends):
    """TCP_DEFER_ACCEPT (default 1 s): hop sees a connection when its first bytes arrive. A
    silent one costs hop nothing until the kernel hands it over after ~1 s; then the header
    timeout closes it. One that speaks late is served normally."""
    port, admin = free_port(), free_port()
    hop.run_config(simple_config(port, admin, [echo_backends["alpha"]], listener_extra="timeouts: { header_read: 300ms }"),
                   port=port, admin=admin)
    # The launcher's readiness probe connected and closed without a byte: its FIN hands it to
    # hop at once. Count from after it, or a loaded machine counts it late, among the silent.
    assert wait_until(lambda: metric(admin, "hop_downstream_connections_total") == 1, timeout=5)
    accepted = 1
    silent = [Conn(port) for _ in range(20)]
    late = Conn(port)
    time.sleep(0.5)
    assert metric(admin, "hop_downstream_connections_total") == accepted  # all still in the kernel
    assert late.request("GET", "/late").status == 200  # data arrives: accepted and served at once
    assert metric(admin, "hop_downstream_connections_total") == accepted + 1
    t0 = time.monotonic()
    for c in silent:
        assert c.is_closed(timeout=6)  # kernel hand-over (~1-3 s) + header_read
    assert time.monotonic() - t0 < 6
    assert metric(admin, "hop_downstream_connections_total") == accepted + 21
    for c in silent + [late]:
        c.close()


def test_idle_timeout_does_not_cut_a_download_that_is_flowing(hop, echo_backends):
    port, admin = free_port(), free_port()
    hop.run_config(simple_config(port, admin, [echo_backends["alpha"]], access_log="off",
                                 listener_extra="timeouts: { idle: 500ms, request: 10s }"), port=port, admin=admin)
    size = 20 << 20
    with Conn(port) as c:
        c.send(b"GET /bytes/%d HTTP/1.1\r\nHost: a\r\n\r\n" % size)
        got = 0
        while got < size:  # ~1.6 s at 256 KiB per 20 ms: never idle for even 50 ms
            n = len(c.sock.recv(256 * 1024))
            if n == 0:
                break
            got += n
            time.sleep(0.02)
    assert got >= size


def test_request_timeout_does_not_count_the_clients_upload_time(hop, echo_backends):
    port, admin = free_port(), free_port()
    hop.run_config(simple_config(port, admin, [echo_backends["alpha"]],
                                 listener_extra="timeouts: { idle: 10s, request: 500ms }"), port=port, admin=admin)
    with Conn(port) as c:
        c.send(b"POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\n")
        for _ in range(20):  # 1.5 s of steady upload
            c.send(b"x" * 5000)
            time.sleep(0.075)
        r = c.read_response()
    assert r.status == 200 and r.json()["body_bytes"] == 100000


def test_header_timeout_applies_to_later_requests_on_a_keep_alive_connection(hop, echo_backends):
    port, admin = free_port(), free_port()
    hop.run_config(simple_config(port, admin, [echo_backends["alpha"]],
                                 listener_extra="timeouts: { header_read: 500ms, idle: 10s }"), port=port, admin=admin)
    with Conn(port) as c:
        assert c.request("GET", "/").status == 200
        c.send(b"GET /second HTTP/1.1\r\n")
        t0 = time.monotonic()
        r = None
        for _ in range(30):
            try:
                c.send(b"X")
            except OSError:
                break
            c.sock.settimeout(0.1)
            try:
                r = c.read_response()
                break
            except socket.timeout:
                continue
        assert r is not None and r.status == 408, r
        assert time.monotonic() - t0 < 1.5


def test_client_that_said_close_and_leaves_during_a_slow_response_is_a_499(hop, echo_backends):
    """A Connection: close request is served without putting the client socket on the event
    loop; while hop waits on a slow upstream it joins the loop after 100 ms, so a client
    that leaves is still noticed long before the upstream answers."""
    port, admin = free_port(), free_port()
    hp = hop.run_config(simple_config(port, admin, [echo_backends["alpha"]]), port=port, admin=admin)
    with Conn(port) as c:
        c.send(b"GET /delay/3000 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        time.sleep(0.3)
    t0 = time.monotonic()
    log = hp.access_log(min_lines=1, timeout=2.5)
    took = time.monotonic() - t0
    assert [e["status"] for e in log] == [499], log
    assert took < 1.0, took  # noticed at once, not when the upstream answers at 3 s
    # A quick Connection: close request is answered and closed by hop.
    with Conn(port) as c:
        c.send(b"GET /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        r = c.read_response()
        assert r.status == 200 and r.header("connection") == "close"
        assert c.is_closed(timeout=1)
