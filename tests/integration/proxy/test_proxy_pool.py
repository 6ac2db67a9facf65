"""Upstream pool: keep-alive reuse, max connections, bounded pending queue, idle timeout,
max requests per connection, and stale pooled connections that cost no client an error."""
import random
import select
import threading
import time
import weakref

from conftest import simple_config
from proxy_helpers import Conn, ScriptedUpstream, free_port, get, metric, wait_until


def ok(c, req, idx):
    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")


def start(hop, upstream_ports, pool_yaml):
    port, admin = free_port(), free_port()
    return hop.run_config(simple_config(port, admin, upstream_ports, cluster_extra=pool_yaml), port=port, admin=admin)


def test_pool_reuses_upstream_connection_for_new_client_connections(hop):
    up = ScriptedUpstream(ok)
    hp = start(hop, [up.port], "")
    for _ in range(25):
        assert get(hp.port, "/").status == 200  # a new client connection each time
    assert up.connections == 1
    assert metric(hp.admin, "hop_upstream_connections_reused_total", cluster="app") >= 24
    log = hp.access_log(min_lines=25)
    assert [e["upstream_reused"] for e in log[:2]] == [False, True]
    up.close()


def test_max_connections_and_pending_overflow_is_503(hop, echo_backends):
    hp = start(hop, [echo_backends["alpha"]], "pool: { max_connections: 1, max_pending: 1 }")
    results = {}

    def slow(i):
        results[i] = get(hp.port, "/delay/800", timeout=10)

    threads = [threading.Thread(target=slow, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
        time.sleep(0.1)
    # One request on the only connection, one queued: the third overflows.
    r = get(hp.port, "/now")
    assert r.status == 503, r
    assert r.header("x-hop-error") == "overflow"
    for t in threads:
        t.join(10)
    assert results[0].status == 200 and results[1].status == 200
    assert metric(hp.admin, "hop_upstream_pool_overflow_total", cluster="app") == 1
    # The queued request waited for the first: one connection served both in turn.
    assert metric(hp.admin, "hop_upstream_connections_opened_total", cluster="app") == 1


def test_pool_idle_timeout_closes_upstream_connection(hop):
    closed = []

    def handler(c, req, idx):
        ok(c, req, idx)
        c.settimeout(5)
        try:
            if c.recv(1, 2) == b"":  # MSG_PEEK: wait for hop's next request or its close
                closed.append(time.monotonic())
                return False
        except OSError:
            closed.append(time.monotonic())
            return False

    up = ScriptedUpstream(handler)
    hp = start(hop, [up.port], "pool: { idle_timeout: 300ms }")
    t0 = time.monotonic()
    assert get(hp.port, "/").status == 200
    answered = time.monotonic()  # the connection went idle between t0 and here
    assert wait_until(lambda: closed, timeout=3), "the idle upstream connection was never closed"
    # Not before the 300 ms idle timeout, and within it plus 450 ms of turn-around.
    assert closed[0] - t0 >= 0.3 and closed[0] - answered <= 0.3 + 0.45, (closed[0] - t0, closed[0] - answered)
    assert get(hp.port, "/").status == 200
    assert up.connections == 2
    up.close()


def test_max_requests_per_connection(hop):
    up = ScriptedUpstream(ok)
    hp = start(hop, [up.port], "pool: { max_requests_per_connection: 3 }")
    with Conn(hp.port) as c:
        for _ in range(9):
            assert c.request("GET", "/").status == 200
    assert up.connections == 3
    up.close()


def closes_idle_after(delay):
    """An origin that closes a keep-alive connection `delay` after each response when no
    request follows, without saying Connection: close (like many servers' keep-alive timeout)."""

    def handler(c, req, idx):
        body = b"ok %d" % idx
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        r, _, _ = select.select([c], [], [], delay)
        if not r:
            return False

    return ScriptedUpstream(handler)


def test_stale_pooled_connection_costs_no_client_an_error(hop):
    up = closes_idle_after(0.03)
    hp = start(hop, [up.port], "")
    rng = random.Random(7)
    statuses = []
    for i in range(150):
        # Sleeps around the origin's close delay hit both "already closed" and the race.
        time.sleep(rng.uniform(0.0, 0.06))
        statuses.append(get(hp.port, f"/{i}").status)
    assert statuses.count(200) == 150, [s for s in statuses if s != 200]
    assert up.connections > 10  # the origin really did close connections
    up.close()


def test_stale_pooled_connection_with_request_body_costs_no_error(hop):
    up = closes_idle_after(0.03)
    hp = start(hop, [up.port], "")
    rng = random.Random(11)
    statuses = []
    with Conn(hp.port) as c:
        for i in range(100):
            time.sleep(rng.uniform(0.0, 0.06))
            statuses.append(c.request("POST", f"/{i}", body=b"payload").status)
    assert statuses.count(200) == 100, statuses
    up.close()


def test_reused_connection_closed_as_the_request_arrives_is_retried_on_a_fresh_one(hop):
    # The origin serves one request per connection, then closes when the next one arrives
    # without answering: the worst case of the keep-alive race, made deterministic.
    served_on = weakref.WeakKeyDictionary()  # not id(): ids of closed sockets are reused

    def handler(c, req, idx):
        n = served_on.get(c, 0)
        served_on[c] = n + 1
        if n >= 1:
            return False
        body = b"ok %d" % idx
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))

    up = ScriptedUpstream(handler)
    hp = start(hop, [up.port], "")
    with Conn(hp.port) as c:
        for i in range(10):
            r = c.request("GET", f"/{i}")
            assert r.status == 200, r
    log = hp.access_log(min_lines=10)
    assert any(e["attempts"] == 2 for e in log), log
    up.close()


def test_bytes_past_a_response_that_filled_the_buffer_never_reach_the_next_request(hop):
    """The upstream sends a response of exactly hop's 16 KiB buffer and a second, unasked
    response behind it in the same write. hop's read takes exactly the first; the edge is
    spent, so the connection must not be pooled: the next request (here from another
    client) would read EVIL as its answer."""
    first = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n"
    body_len = 16384 - len(first % 99999) + 0
    head = first % body_len
    assert len(head) + body_len == 16384

    def handler(c, req, idx):
        if b"GET /first " in req:
            c.sendall(head + b"a" * body_len + b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nEVIL")
        else:
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    up = ScriptedUpstream(handler)
    hp = start(hop, [up.port], "")
    for _ in range(5):
        r = get(hp.port, "/first")
        assert r.status == 200 and r.body == b"a" * body_len
        r = get(hp.port, "/second")  # a new client connection
        assert r.body == b"ok", f"another request's bytes were delivered: {r!r}"
    up.close()


def test_a_request_that_got_a_1xx_is_never_resent_as_stale(hop):
    """A reused connection that fails after the upstream sent 102 Processing is no stale
    connection: the upstream has the POST. It must not be sent again elsewhere."""
    def handler(c, req, idx):
        if req.startswith(b"GET"):
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            return True
        c.sendall(b"HTTP/1.1 102 Processing\r\n\r\n")
        time.sleep(0.1)
        return False  # then the upstream dies

    up = ScriptedUpstream(handler)
    hp = start(hop, [up.port], "")
    with Conn(hp.port) as c:
        c.send(b"GET /warm HTTP/1.1\r\nHost: t\r\n\r\n")
        assert c.read_response().status == 200
        c.send(b"POST /order HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello")
        r = c.read_response(skip_1xx=False)
        assert r.status == 102
        r = c.read_response()
        assert r.status == 502, r
    time.sleep(0.3)
    posts = [s for s in up.seen if s.startswith(b"POST")]
    assert len(posts) == 1, f"the POST reached the upstream {len(posts)} times"
    up.close()


def test_a_response_that_exactly_fills_the_buffer_keeps_its_connection(hop):
    """The same 16 KiB response with nothing behind it: the extra read finds the socket
    drained, so the connection is pooled (no new connection per such response)."""
    first = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n"
    body_len = 16384 - len(first % 99999)
    head = first % body_len

    def handler(c, req, idx):
        c.sendall(head + b"b" * body_len)
    up = ScriptedUpstream(handler)
    hp = start(hop, [up.port], "")
    for _ in range(4):
        r = get(hp.port, "/exact")
        assert r.status == 200 and len(r.body) == body_len
    assert up.connections == 1, up.connections
    up.close()
