"""What is retried and what is not: methods, buffered body size, per-try timeouts, the
retry budget under a total outage, and the circuit breaker failing fast."""
import threading
import time

import pytest

from res_helpers import (HANG, PyOrigin, cluster_yaml, clusters, config, finish_wrk, free_port, get, metric, route_yaml,
                         start_wrk, timed_get)

ALWAYS_503 = lambda m, p: (503, b"down")  # noqa: E731


def _attempts(hp, path, n_before):
    log = hp.access_log(min_lines=n_before + 1)
    return [e for e in log if e["path"] == path][-1]


def test_only_idempotent_methods_are_retried_unless_retry_non_idempotent(hop):
    origin = PyOrigin(ALWAYS_503, "down")
    port, admin = free_port(), free_port()
    policy = "retries: {{ attempts: 2, on: [5xx], backoff: {{ base: 1ms, max: 2ms }}{extra} }}"
    hp = hop.run_config(config(port, admin,
                               [route_yaml("/any", "app", policy.format(extra=", retry_non_idempotent: true")),
                                route_yaml("/", "app", policy.format(extra=""))],
                               [cluster_yaml("app", [origin.address])]), port, admin)
    seen = {}
    for method, path in [("GET", "/get"), ("HEAD", "/head"), ("PUT", "/put"), ("DELETE", "/delete"),
                         ("POST", "/post"), ("PATCH", "/patch"), ("POST", "/any/post"), ("PATCH", "/any/patch")]:
        r = get(port, path, method=method, body=b"x" if method in ("POST", "PUT", "PATCH") else b"")
        assert r.status == 503
        seen[f"{method} {path}"] = origin.count(method, path)
    log = {f"{e['method']} {e['path']}": e["attempts"] for e in hp.access_log(min_lines=8)}
    print(f"\n[idempotency] upstream requests per client request (attempts 2 = up to 3): {seen}; "
          f"access log attempts: {log}")
    for k in ("GET /get", "HEAD /head", "PUT /put", "DELETE /delete", "POST /any/post", "PATCH /any/patch"):
        assert seen[k] == 3 and log[k] == 3, k
    for k in ("POST /post", "PATCH /patch"):
        assert seen[k] == 1 and log[k] == 1, k


def test_body_larger_than_max_buffered_body_is_not_retried(hop):
    origin = PyOrigin(ALWAYS_503, "down")
    port, admin = free_port(), free_port()
    hp = hop.run_config(config(port, admin,
                               [route_yaml("/", "app", "retries: { attempts: 2, on: [5xx], max_buffered_body: 1KiB, "
                                                       "backoff: { base: 1ms, max: 2ms } }")],
                               [cluster_yaml("app", [origin.address])]), port, admin)
    small = get(port, "/small", method="PUT", body=b"s" * 1000)
    large = get(port, "/large", method="PUT", body=b"l" * 4096)
    small_n, large_n = origin.count("PUT", "/small"), origin.count("PUT", "/large")
    print(f"\n[max-buffered-body 1KiB] PUT 1000 B -> {small_n} upstream attempts, PUT 4096 B -> {large_n}")
    assert small.status == 503 and large.status == 503
    assert small_n == 3
    assert large_n == 1
    assert hp.alive()


def test_per_try_timeout_moves_a_hung_try_to_another_host(hop):
    hanger = PyOrigin(lambda m, p: HANG, "hang")
    fast = PyOrigin(lambda m, p: (200, b"fast"), "fast")
    port, admin = free_port(), free_port()
    retry = ("timeout: 3s\nretries: { attempts: 1, on: [per-try-timeout], per_try_timeout: 200ms, "
             "backoff: { base: 1ms, max: 2ms } }")
    hp = hop.run_config(config(port, admin, [route_yaml("/", "app", retry)],
                               [cluster_yaml("app", [hanger.address, fast.address])], workers=1), port, admin)
    results = [timed_get(port, f"/r{i}") for i in range(6)]
    timeouts = metric(admin, "hop_upstream_timeouts_total")
    log = {e["path"]: e for e in hp.access_log(min_lines=6)}
    hung = {p for _, p in hanger.requests}
    print(f"\n[per-try-timeout 200ms, request timeout 3s] 6 GETs over [hang, fast]: statuses="
          f"{[r.status for r, _ in results]} durations_ms={[round(d*1000) for _, d in results]} "
          f"hanger_tries={sorted(hung)} logged attempts/ms={[(e['attempts'], e['duration_ms']) for e in log.values()]} "
          f"timeouts_total={timeouts:.0f}")
    assert all(r.status == 200 and r.body == b"fast" for r, _ in results)
    assert hung, "the hanging host was never tried"
    # Which requests met the hanging host is counted, not guessed from their durations:
    # exactly those were tried twice, and each waited the per-try timeout (the client's clock
    # starts first) but nowhere near the 3 s request timeout (hop's clock).
    assert {p for p, e in log.items() if e["attempts"] == 2} == hung, log
    assert all(e["attempts"] == 1 for p, e in log.items() if p not in hung), log
    assert all(d >= 0.2 for i, (_, d) in enumerate(results) if f"/r{i}" in hung)
    assert all(log[p]["duration_ms"] < 200 + 400 for p in hung), log
    assert timeouts == len(hung)
    assert hp.alive()


def test_per_try_timeout_bounds_each_try_when_every_host_hangs(hop):
    hangers = [PyOrigin(lambda m, p: HANG, f"hang{i}") for i in range(2)]
    port, admin = free_port(), free_port()
    retry = ("timeout: 3s\nretries: { attempts: 1, on: [per-try-timeout], per_try_timeout: 200ms, "
             "backoff: { base: 1ms, max: 2ms } }")
    hp = hop.run_config(config(port, admin, [route_yaml("/", "app", retry)],
                               [cluster_yaml("app", [h.address for h in hangers])]), port, admin)
    r, d = timed_get(port, "/")
    entry = hp.access_log(min_lines=1)[-1]
    print(f"\n[per-try-timeout all hang] {r.status} {r.header('x-hop-error')} after {d*1000:.0f} ms "
          f"({entry['duration_ms']:.0f} ms in hop's log; 2 tries x 200 ms, request timeout 3 s); tries per host "
          f"{[h.count() for h in hangers]}; log attempts={entry['attempts']} error={entry['error']}")
    assert r.status == 504 and r.header("x-hop-error") == "upstream-timeout"
    # Two per-try timeouts, not the request timeout: at least 2 x 200 ms, and by hop's own
    # clock well short of 3 s (a margin of 400 ms for hop's turn-around on a loaded machine).
    assert d >= 0.39 and entry["duration_ms"] < 2 * 200 + 400, (d, entry)
    assert [h.count() for h in hangers] == [1, 1]
    assert entry["attempts"] == 2 and entry["error"] == "upstream-timeout"


def test_total_outage_retries_stay_within_budget(hop):
    origins = [hop.backend(f"down{i}", fail_status=503) for i in range(2)]
    port, admin = free_port(), free_port()
    retry = "retries: { attempts: 3, on: [5xx], budget: 20%, budget_min: 5, backoff: { base: 10ms, max: 50ms } }"
    hp = hop.run_config(config(port, admin, [route_yaml("/", "app", retry)],
                               [cluster_yaml("app", [o.port for o in origins])], access_log="off"), port, admin)
    res = finish_wrk(start_wrk(port, connections=20, seconds=3))
    attempts = metric(admin, "hop_upstream_requests_total")
    retries = metric(admin, "hop_upstream_retries_total")
    exhausted = metric(admin, "hop_upstream_retry_budget_exhausted_total")
    bound = 1.25 * res.requests + 5
    print(f"\n[retry-budget] every host 503, 20 clients, attempts 3, budget 20% min 5: {res.summary()} "
          f"upstream_attempts={attempts:.0f} ({attempts / max(res.requests, 1):.3f}x client requests; "
          f"bound {bound:.0f}) retries={retries:.0f} budget_exhausted={exhausted:.0f}")
    assert res.requests > 200, res.out
    assert res.non2xx == res.requests  # every answer is the upstream's 503, none hangs
    assert attempts <= bound
    assert exhausted > 0
    assert hp.alive()


def test_circuit_breaker_fails_fast_when_the_cluster_is_saturated(hop):
    slow = hop.backend("slow")
    port, admin = free_port(), free_port()
    hp = hop.run_config(config(port, admin, [route_yaml("/", "app", "timeout: 5s")],
                               [cluster_yaml("app", [slow.port], "circuit_breakers: { max_requests: 5 }")]),
                        port, admin)
    results = []
    lock = threading.Lock()

    def client():
        try:
            r = timed_get(port, "/delay/2000", timeout=8)
        except OSError as e:
            r = (e, None)
        with lock:
            results.append((*r, time.monotonic()))

    threads = [threading.Thread(target=client) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    ok = [(d, at) for r, d, at in results if not isinstance(r, Exception) and r.status == 200]
    shed = [(d, at) for r, d, at in results
            if not isinstance(r, Exception) and r.status == 503 and r.header("x-hop-error") == "overflow"]
    opened = metric(admin, "hop_upstream_circuit_breaker_open_total")
    log = hp.access_log(min_lines=20)
    print(f"\n[circuit-breaker max_requests 5] 20 concurrent GET /delay/2000: {len(ok)} x 200 in "
          f"{[round(d * 1000) for d, _ in sorted(ok)]} ms, {len(shed)} x 503 overflow in "
          f"{[round(d * 1000) for d, _ in sorted(shed)]} ms; breaker_open_total={opened:.0f}")
    assert len(ok) == 5 and len(shed) == 15, results
    # Fails fast, by ordering: every refusal is back before the first admitted request ends
    # (2 s upstream delay): none of them queued behind the saturated upstream.
    assert max(at for _, at in shed) < min(at for _, at in ok)
    assert opened == 15
    assert sum(1 for e in log if e.get("error") == "overflow" and e["status"] == 503) == 15


def _chunked(data, size=1000):
    out = b""
    for i in range(0, len(data), size):
        part = data[i:i + size]
        out += f"{len(part):x}\r\n".encode() + part + b"\r\n"
    return out + b"0\r\n\r\n"


def test_every_retry_carries_the_whole_request_body(hop):
    origin = PyOrigin(ALWAYS_503, "down")
    port, admin = free_port(), free_port()
    hop.run_config(config(port, admin, [route_yaml("/", "app", "retries: { attempts: 2, on: [5xx], "
                                                              "backoff: { base: 1ms, max: 2ms } }")],
                          [cluster_yaml("app", [origin.address])]), port, admin)
    body = bytes(range(256)) * 40  # 10 KiB, under the 64 KiB default max_buffered_body
    get(port, "/cl", method="PUT", body=body)
    get(port, "/chunked", method="PUT", body=_chunked(body), headers={"Transfer-Encoding": "chunked"})
    lens = [len(b) for b in origin.bodies]
    print(f"\n[replayed-body] PUT 10240 B (content-length, then chunked), attempts 2: bodies seen by the "
          f"origin {lens}")
    assert origin.count("PUT", "/cl") == 3 and origin.count("PUT", "/chunked") == 3
    assert origin.bodies == [body] * 6


def test_max_connections_breaker_bounds_upstream_concurrency(hop):
    origin = PyOrigin(lambda m, p: (time.sleep(0.2), (200, b"ok"))[1], "slowpy")
    port, admin = free_port(), free_port()
    hp = hop.run_config(config(port, admin, [route_yaml("/", "app", "timeout: 10s")],
                               [cluster_yaml("app", [origin.address], "circuit_breakers: { max_connections: 2 }")],
                               workers=1), port, admin)
    results = []
    threads = [threading.Thread(target=lambda: results.append(timed_get(port, "/", timeout=10))) for _ in range(10)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(15)
    wall = time.monotonic() - t0
    print(f"\n[max_connections 2] 10 concurrent requests to a 200 ms origin: statuses="
          f"{sorted(r.status for r, _ in results)} origin max in flight={origin.max_in_flight} "
          f"connections accepted={origin.accepted} wall={wall*1000:.0f} ms")
    assert [r.status for r, _ in results] == [200] * 10
    assert origin.max_in_flight <= 2 and origin.accepted <= 2
    assert wall >= 0.95  # 10 × 200 ms over 2 connections
    assert hp.alive()


def test_max_pending_breaker_sheds_what_cannot_wait(hop):
    origin = PyOrigin(lambda m, p: (time.sleep(1.0), (200, b"ok"))[1], "slowpy")
    port, admin = free_port(), free_port()
    hp = hop.run_config(config(port, admin, [route_yaml("/", "app", "timeout: 10s")],
                               [cluster_yaml("app", [origin.address],
                                             "pool: { max_connections: 1 }\ncircuit_breakers: { max_pending: 3 }")],
                               workers=1), port, admin)
    results = []
    lock = threading.Lock()

    def client():
        r, d = timed_get(port, "/", timeout=10)
        with lock:
            results.append((r, d, time.monotonic()))

    threads = [threading.Thread(target=client) for _ in range(10)]
    for t in threads:
        t.start()
        time.sleep(0.01)  # arrive in order: the first gets the connection, the next 3 queue
    for t in threads:
        t.join(15)
    ok = sorted((d, at) for r, d, at in results if r.status == 200)
    shed = sorted((d, at) for r, d, at in results if r.status == 503 and r.header("x-hop-error") == "overflow")
    opened = metric(admin, "hop_upstream_circuit_breaker_open_total")
    print(f"\n[max_pending 3, pool max_connections 1] 10 concurrent to a 1 s origin: {len(ok)} x 200 "
          f"({[round(d*1000) for d, _ in ok]} ms), {len(shed)} x 503 overflow (max {max(shed or [(0, 0)])[0]*1000:.0f} "
          f"ms); breaker_open_total={opened:.0f}")
    assert len(ok) == 4 and len(shed) == 6, results
    # Shed at once, by ordering: every refusal is back before the first served request ends.
    assert max(at for _, at in shed) < min(at for _, at in ok)
    assert opened == 6
    assert hp.alive()


@pytest.mark.parametrize("workers", [
    1,
    2,
])
def test_max_retries_breaker_caps_retries_in_flight(hop, workers):
    origins = [hop.backend(f"down{i}", fail_status=503) for i in range(2)]
    port, admin = free_port(), free_port()
    retry = ("retries: { attempts: 3, on: [5xx], budget: 100%, budget_min: 1000, "
             "backoff: { base: 50ms, max: 100ms } }")
    hp = hop.run_config(config(port, admin, [route_yaml("/", "app", retry)],
                               [cluster_yaml("app", [o.port for o in origins], "circuit_breakers: { max_retries: 2 }")],
                               access_log="off", workers=workers), port, admin)
    wrk = start_wrk(port, connections=20, seconds=2)
    samples = []
    while wrk.poll() is None:
        try:
            samples.append(clusters(admin)["app"]["active_retries"])
        except OSError:
            pass
        time.sleep(0.01)
    res = finish_wrk(wrk)
    exhausted = metric(admin, "hop_upstream_retry_budget_exhausted_total")
    retries = metric(admin, "hop_upstream_retries_total")
    print(f"\n[max_retries 2, {workers} worker(s)] 20 clients, all 503, budget 100%: {res.summary()} "
          f"active_retries sampled {len(samples)}x, max {max(samples)}, over 2 in {sum(x > 2 for x in samples)}; "
          f"retries={retries:.0f} refused by breaker/budget={exhausted:.0f}")
    assert max(samples) <= 2
    assert exhausted > 0
    assert hp.alive()


def _status_from_path(method, path):
    return int(path.strip("/").split("/")[0]), b"status from path"


def test_retry_conditions_select_which_statuses_are_retried(hop):
    origin = PyOrigin(_status_from_path, "status")
    port, admin = free_port(), free_port()
    fast = "backoff: { base: 1ms, max: 2ms }"
    hop.run_config(config(port, admin, [
        route_yaml("/gw", "app", f"prefix_rewrite: /\nretries: {{ attempts: 1, on: [gateway-error], {fast} }}"),
        route_yaml("/codes", "app", f"prefix_rewrite: /\nretries: {{ attempts: 1, on: [retriable-status-codes], "
                                    f"status_codes: [409], {fast} }}"),
        route_yaml("/any5xx", "app", f"prefix_rewrite: /\nretries: {{ attempts: 1, on: [5xx], {fast} }}"),
    ], [cluster_yaml("app", [origin.address])]), port, admin)
    table = {}
    for route, statuses in [("/gw", (500, 502, 503, 504)), ("/codes", (409, 410, 503)),
                            ("/any5xx", (500, 501, 599, 404))]:
        for st in statuses:
            before = origin.count()
            r = get(port, f"{route}/{st}")
            assert r.status == st
            table[f"{route}/{st}"] = origin.count() - before
    print(f"\n[retry-conditions] upstream tries per request (1 = not retried): {table}")
    assert table == {"/gw/500": 1, "/gw/502": 2, "/gw/503": 2, "/gw/504": 2,
                     "/codes/409": 2, "/codes/410": 1, "/codes/503": 1,
                     "/any5xx/500": 2, "/any5xx/501": 2, "/any5xx/599": 2, "/any5xx/404": 1}


def test_backoff_is_exponential_and_jittered_within_bounds(hop):
    origin = PyOrigin(ALWAYS_503, "down")
    port, admin = free_port(), free_port()
    hop.run_config(config(port, admin, [route_yaml("/", "app", "timeout: 5s\nretries: { attempts: 3, on: [5xx], "
                                                              "backoff: { base: 100ms, max: 300ms } }")],
                          [cluster_yaml("app", [origin.address])]), port, admin)
    gaps = []
    for i in range(3):
        n = len(origin.times)
        assert get(port, f"/{i}").status == 503
        t = origin.times[n:]
        gaps.append([round((b - a) * 1000) for a, b in zip(t, t[1:])])
    print(f"\n[backoff base 100ms max 300ms] gaps between tries (ms), 3 requests: {gaps} "
          f"(expected [50..100], [100..200], [150..300] + hop's and the origin's turn-around)")
    # A gap is the backoff plus turn-around (the origin answering, hop reading, the origin's
    # thread reading the retry): never below the backoff's lower bound, so those are exact --
    # and the third retry's (150) is above the first's most (100): the wait grows. Above, the
    # turn-around of python threads beside stress --cpu 2 reached 190 ms: 300 ms is left, which
    # still catches a backoff read in the wrong unit or growing unbounded. The exact
    # arithmetic -- doubling, the cap, the jitter range -- is proxy::backoff's, checked by
    # tests/unit/engine/retry_backoff_test.cc.
    lower, upper = (50, 100, 150), (100, 200, 300)
    for g in gaps:
        assert len(g) == 3
        assert all(lo <= x <= hi + 300 for x, lo, hi in zip(g, lower, upper)), g


def test_hanging_host_is_ejected_after_consecutive_per_try_timeouts(hop):
    hanger = PyOrigin(lambda m, p: HANG, "hang")
    good = [PyOrigin(lambda m, p: (200, b"ok"), f"g{i}") for i in range(2)]
    port, admin = free_port(), free_port()
    # per_try_timeout 1 s: far above what a python origin needs to answer on a loaded
    # machine, so only the hanging host ever times out (100 ms let a slow answer from a good
    # host count as a gateway failure too).
    hp = hop.run_config(config(port, admin, [route_yaml("/", "app", "timeout: 5s\nretries: { attempts: 1, "
                                                                   "on: [per-try-timeout], per_try_timeout: 1s, "
                                                                   "backoff: { base: 1ms, max: 2ms } }")],
                               [cluster_yaml("app", [hanger.address] + [g.address for g in good],
                                             "outlier: { consecutive_gateway_failure: 2, base_ejection: 10s, "
                                             "max_ejection_percent: 34% }")], workers=1), port, admin)
    results = [get(port, f"/{i}") for i in range(30)]
    retried = sorted(e["path"] for e in hp.access_log(min_lines=30) if e["attempts"] == 2)
    st = [h for h in clusters(admin)["app"]["hosts"] if h["address"] == hanger.address][0]
    print(f"\n[hang-ejection] 30 GETs, per-try 1 s, consecutive_gateway_failure 2: statuses "
          f"{set(r.status for r in results)}, retried after a hung try: {retried}, hanger tried "
          f"{sorted(p for _, p in hanger.requests)}; hanger ejected={st['outlier']['ejected']} reason={st['reason']!r}")
    assert all(r.status == 200 for r in results)
    # Counted, not timed: the two requests the hanging host held are the two retried ones.
    assert hanger.count() == 2 and retried == sorted(p for _, p in hanger.requests)
    assert st["outlier"]["ejected"] and st["reason"] == "ejected: consecutive gateway failures"
