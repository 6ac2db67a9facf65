"""The retry budget and max_requests breaker count live requests in shared counters: every
way a request can end (request timeout in a backoff or on a hang, overflow, reload, client
gone) must give its count back, or the budget and breakers drift shut."""
import signal
import socket
import threading
import time


from res_helpers import HANG, PyOrigin, cluster_yaml, clusters, config, free_port, get, route_yaml, wait_until


def _send(port, path):
    """A connection that has sent one request and reads nothing: close() it to leave."""
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
    return s


def _active(admin, *names):
    c = clusters(admin)
    return {n: (c[n]["active_requests"], c[n]["active_retries"]) for n in names}


def test_timeouts_overflow_and_reload_give_back_their_counts(hop):
    down = PyOrigin(lambda m, p: (503, b"down"), "down")
    hanger = PyOrigin(lambda m, p: HANG, "hang")
    port, admin = free_port(), free_port()
    text = config(port, admin, [
        route_yaml("/expire", "down", "timeout: 300ms\nretries: { attempts: 3, on: [5xx], "
                                      "backoff: { base: 400ms, max: 400ms } }"),
        route_yaml("/", "hang", "timeout: 2s"),  # the 5 holders all arrive well within it
    ], [
        cluster_yaml("down", [down.address]),
        cluster_yaml("hang", [hanger.address], "circuit_breakers: { max_requests: 3 }"),
    ])
    hp = hop.run_config(text, port, admin)
    expired = [get(port, "/expire").status for _ in range(3)]   # request timeout inside a backoff
    held = []
    lock = threading.Lock()

    def hold():
        r = get(port, "/held")
        with lock:
            held.append((r.status, r.header("x-hop-error")))

    holders = [threading.Thread(target=hold) for _ in range(5)]  # 5 to a 3-request breaker
    for t in holders:
        t.start()
    time.sleep(0.2)
    hop.write_config(text)
    hp.signal(signal.SIGHUP)  # a reload while they wait
    for t in holders:
        t.join(10)
    ok = wait_until(lambda: set(_active(admin, "down", "hang").values()) == {(0, 0)}, timeout=2)
    counts = _active(admin, "down", "hang")
    late = []
    ts = [threading.Thread(target=lambda: late.append(get(port, "/late").status)) for _ in range(3)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(10)
    print(f"\n[budget-accounting] 3 timeouts inside a backoff {expired}, 5 held on a 3-request breaker "
          f"through a reload {sorted(held)}: (active_requests, active_retries) after = {counts}; "
          f"3 later requests {late}")
    assert expired == [504] * 3
    assert sorted(held) == [(503, "overflow")] * 2 + [(504, "upstream-timeout")] * 3
    assert ok, counts
    assert late == [504] * 3  # the breaker admits 3 again: nothing leaked
    assert hp.alive()


def test_client_gone_frees_its_breaker_slot_and_stops_retrying(hop):
    """Three clients hang on a 3-request breaker and leave: their slots come back, so a
    fresh client is admitted (200, not 503 overflow). A client that leaves while hop waits
    out the backoff before a retry gets no retry at all: the origin sees its first try only.
    The backoff (1-2 s) is long enough that the client is surely gone before it ends."""
    backoff_max = 2.0
    down = PyOrigin(lambda m, p: (503, b"down"), "down")
    hanger = PyOrigin(lambda m, p: HANG if p == "/gone" else (200, b"fresh"), "hang")
    port, admin = free_port(), free_port()
    hop.run_config(config(port, admin, [
        route_yaml("/backoff", "down", "timeout: 10s\nretries: { attempts: 3, on: [5xx], "
                                       f"backoff: {{ base: {int(backoff_max * 1000)}ms, max: {int(backoff_max * 1000)}ms }} }}"),
        route_yaml("/", "hang", "timeout: 10s"),
    ], [
        cluster_yaml("down", [down.address]),
        cluster_yaml("hang", [hanger.address], "circuit_breakers: { max_requests: 3 }"),
    ]), port, admin)
    gone = [_send(port, "/gone") for _ in range(3)]
    assert wait_until(lambda: hanger.count("GET", "/gone") == 3, timeout=5), "the three never reached the origin"
    for s in gone:
        s.close()
    freed = wait_until(lambda: _active(admin, "hang")["hang"][0] == 0, timeout=5)
    fresh = get(port, "/fresh-client", timeout=5)

    leaving = _send(port, "/backoff")
    assert wait_until(lambda: down.count("GET", "/backoff") >= 1, timeout=5), "the first try never came"
    leaving.close()  # hop is in the backoff before the first retry now
    time.sleep(backoff_max + 0.5)  # past the end of that backoff: a retry would have arrived
    print(f"\n[client-gone] 3 clients left hung requests on a 3-request breaker: slots freed={bool(freed)}, a fresh "
          f"client got {fresh.status} {fresh.header('x-hop-error')}; a client gone in the retry backoff: the "
          f"origin saw {down.count('GET', '/backoff')} tries")
    assert freed, _active(admin, "hang")
    assert fresh.status == 200 and fresh.body == b"fresh", (fresh.status, fresh.header("x-hop-error"))
    assert down.count("GET", "/backoff") == 1  # no retry once the client is gone
