"""The retry budget and max_requests breaker count live requests in shared counters: every
way a request can end (request timeout in a backoff or on a hang, overflow, reload, client
gone) must give its count back, or the budget and breakers drift shut."""
import signal
import socket
import threading
import time


from res_helpers import HANG, PyOrigin, cluster_yaml, clusters, config, free_port, get, route_yaml, wait_until


def _abandon(port, path, after):
    """Sends a request and closes the connection `after` seconds later without reading."""
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
    time.sleep(after)
    s.close()


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
        route_yaml("/", "hang", "timeout: 800ms"),
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
        t.join(5)
    ok = wait_until(lambda: set(_active(admin, "down", "hang").values()) == {(0, 0)}, timeout=2)
    counts = _active(admin, "down", "hang")
    late = []
    ts = [threading.Thread(target=lambda: late.append(get(port, "/late").status)) for _ in range(3)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(5)
    print(f"\n[budget-accounting] 3 timeouts inside a backoff {expired}, 5 held on a 3-request breaker "
          f"through a reload {sorted(held)}: (active_requests, active_retries) after = {counts}; "
          f"3 later requests {late}")
    assert expired == [504] * 3
    assert sorted(held) == [(503, "overflow")] * 2 + [(504, "upstream-timeout")] * 3
    assert ok, counts
    assert late == [504] * 3  # the breaker admits 3 again: nothing leaked
    assert hp.alive()


def test_client_gone_frees_its_breaker_slot_and_stops_retrying(hop):
    down = PyOrigin(lambda m, p: (503, b"down"), "down")
    hanger = PyOrigin(lambda m, p: HANG, "hang")
    port, admin = free_port(), free_port()
    hop.run_config(config(port, admin, [
        route_yaml("/backoff", "down", "timeout: 10s\nretries: { attempts: 3, on: [5xx], "
                                       "backoff: { base: 400ms, max: 400ms } }"),
        route_yaml("/", "hang", "timeout: 10s"),
    ], [
        cluster_yaml("down", [down.address]),
        cluster_yaml("hang", [hanger.address], "circuit_breakers: { max_requests: 3 }"),
    ]), port, admin)
    threads = [threading.Thread(target=_abandon, args=(port, "/gone", 0.2)) for _ in range(3)]
    threads.append(threading.Thread(target=_abandon, args=(port, "/backoff", 0.1)))
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    t0 = time.monotonic()
    freed = wait_until(lambda: _active(admin, "hang")["hang"][0] == 0, timeout=1.5)
    freed_after = time.monotonic() - t0
    fresh = get(port, "/fresh-client", timeout=12) if not freed else None
    time.sleep(max(0.0, 1.5 - freed_after))
    print(f"\n[client-gone] 3 clients closed 200 ms into a hung request (route timeout 10 s): hang cluster "
          f"active_requests={_active(admin, 'hang')['hang'][0]} {freed_after*1000:.0f} ms later, upstream "
          f"connections still open={hanger.open_connections}, a fresh client got "
          f"{fresh.status if fresh else 'served'} {fresh.header('x-hop-error') if fresh else ''}; a client gone "
          f"100 ms into a 5xx backoff: origin still saw {down.count('GET', '/backoff')} tries")
    assert freed
    assert down.count("GET", "/backoff") <= 2
