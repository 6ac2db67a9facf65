"""Real faults under wrk load (2 hop workers): a killed origin, a 5xx origin, a hanging
origin, reloads every 300 ms, a host removed by reload. Clients must see no error."""
import signal
import threading
import time


from res_helpers import (HANG, PyOrigin, cluster_yaml, config, finish_wrk, free_port, get, host_state, metric,
                         route_yaml, start_wrk, timed_get, wait_until)

RETRY_ALL = """\
timeout: 2s
retries:
  attempts: 2
  on: [5xx, connect-failure, reset]
  backoff: { base: 5ms, max: 20ms }
"""


def test_origin_killed_mid_load_no_client_sees_an_error(hop):
    origins = [hop.backend(f"b{i}") for i in range(3)]
    port, admin = free_port(), free_port()
    hp = hop.run_config(config(port, admin, [route_yaml("/", "app", RETRY_ALL)],
                               [cluster_yaml("app", [o.port for o in origins],
                                             "outlier: { consecutive_gateway_failure: 3, base_ejection: 10s }")],
                               access_log="off"), port, admin)
    wrk = start_wrk(port, connections=16, seconds=4)
    time.sleep(1.5)
    origins[0].kill()
    killed_at = time.monotonic()
    res = finish_wrk(wrk)
    retries = metric(admin, "hop_upstream_retries_total")
    refused = metric(admin, "hop_upstream_connect_failures_total")
    resets = metric(admin, "hop_upstream_resets_total")
    state = host_state(admin, "app", f"127.0.0.1:{origins[0].port}")
    print(f"\n[kill-mid-load] {res.summary()} retries={retries:.0f} connect_failures={refused:.0f} "
          f"resets={resets:.0f} killed_host_ejected={state['outlier']['ejected']} "
          f"reason={state['reason']!r} (killed {time.monotonic() - killed_at:.1f}s before the end)")
    assert res.requests > 1000, res.out
    assert res.failed == 0, res.out
    # The first refused connect ejects it (the connect-failure detector), long before three
    # gateway failures in a row could: with 16 connections, at most one refusal per
    # connection can have been under way when it was ejected.
    assert state["outlier"]["ejected"] and state["reason"] == "ejected: consecutive connect failures"
    assert 1 <= refused <= 16
    assert hp.alive()


def test_5xx_origin_is_retried_around_and_ejected(hop):
    good = [hop.backend("good1"), hop.backend("good2")]
    bad = hop.backend("bad", fail_status=500)
    port, admin = free_port(), free_port()
    hp = hop.run_config(config(port, admin, [route_yaml("/", "app", RETRY_ALL)],
                               [cluster_yaml("app", [bad.port] + [g.port for g in good],
                                             "outlier: { consecutive_5xx: 3, base_ejection: 10s, "
                                             "max_ejection_percent: 34% }")],
                               access_log="off"), port, admin)
    res = finish_wrk(start_wrk(port, connections=16, seconds=3))
    st = host_state(admin, "app", f"127.0.0.1:{bad.port}")
    retries = metric(admin, "hop_upstream_retries_total")
    r5xx = metric(admin, "hop_upstream_responses_total", **{"class": "5xx"})
    attempts = metric(admin, "hop_upstream_requests_total")
    print(f"\n[5xx-origin] {res.summary()} upstream_attempts={attempts:.0f} upstream_5xx={r5xx:.0f} "
          f"retries={retries:.0f} ejected={st['outlier']['ejected']} ejections={st['outlier']['ejections']} "
          f"reason={st['reason']!r} ejected_for_ms={st['outlier']['ejected_for_ms']}")
    assert res.requests > 1000, res.out
    assert res.failed == 0, res.out
    assert retries >= 1
    assert st["outlier"]["ejected"] and st["outlier"]["reason"] == "consecutive 5xx"
    assert st["reason"] == "ejected: consecutive 5xx" and st["healthy"] is False
    # Ejected: the bad host saw only the few 5xx before each ejection, not a third of the load.
    assert r5xx < 0.01 * res.requests + 10
    # The healthy ones are untouched (max_ejection_percent 34% of 3 hosts = 1 host).
    for g in good:
        assert not host_state(admin, "app", f"127.0.0.1:{g.port}")["outlier"]["ejected"]
    assert hp.alive()


def test_hanging_origin_gets_504_in_time_and_the_worker_serves_everyone_else(hop):
    """20 requests hang on an origin (route timeout 3 s) while wrk loads a fast one. Timed by
    orderings and hop's own clock, not by latencies a loaded machine stretches: every fast
    request sent once all 20 hang (on both workers) is answered before any of the 20 gets
    its 504 -- a worker blocked by a hanging upstream could not answer until the timeout --
    and hop logs each 504 at the timeout, no sooner, well within half a second after it."""
    timeout_s = 3.0
    hanger = PyOrigin(lambda m, p: HANG, name="hang")
    fast = hop.backend("fast")
    port, admin = free_port(), free_port()
    hp = hop.run_config(config(port, admin,
                               [route_yaml("/hang", "slow", f"timeout: {int(timeout_s * 1000)}ms"),
                                route_yaml("/", "app", "timeout: 2s")],
                               [cluster_yaml("slow", [hanger.address]), cluster_yaml("app", [fast.port])]),
                        port, admin)
    results = []

    def hang_client():
        try:
            r, d = timed_get(port, "/hang", timeout=timeout_s + 5)
            results.append((r, d, time.monotonic()))
        except OSError as e:
            results.append((e, None, time.monotonic()))

    wrk = start_wrk(port, connections=8, seconds=int(timeout_s) + 3)
    time.sleep(0.5)
    threads = [threading.Thread(target=hang_client) for _ in range(20)]
    for t in threads:
        t.start()
    assert wait_until(lambda: hanger.count() == 20, timeout=timeout_s / 2), f"{hanger.count()} of 20 reached the origin"
    fast_done = []
    for i in range(20):  # a new connection each: the kernel spreads them over both workers
        r = get(port, f"/fast/{i}")
        fast_done.append((r.status, time.monotonic()))
    for t in threads:
        t.join(timeout_s + 10)
    res = finish_wrk(wrk)
    durations = sorted(d for _, d, _ in results if d is not None)
    statuses = [r.status for r, _, _ in results if not isinstance(r, Exception)]
    errors = [r.header("x-hop-error") for r, _, _ in results if not isinstance(r, Exception)]
    first_504 = min(at for _, _, at in results)
    timeouts = metric(admin, "hop_upstream_timeouts_total", cluster="slow")
    log = [e for e in hp.access_log(min_lines=40) if e.get("path") == "/hang"]
    logged_ms = sorted(e["duration_ms"] for e in log)
    print(f"\n[hang] 20 hanging requests: statuses={set(statuses)} 504 after {durations[0]*1000:.0f}.."
          f"{durations[-1]*1000:.0f} ms at the client, {logged_ms[0]:.0f}..{logged_ms[-1]:.0f} ms in hop's log "
          f"(timeout {timeout_s*1000:.0f} ms); 20 fast requests meanwhile, the last answered "
          f"{(first_504 - fast_done[-1][1])*1000:.0f} ms before the first 504; {res.summary()}; "
          f"hop_upstream_timeouts_total{{slow}}={timeouts:.0f}")
    assert statuses == [504] * 20, results
    assert errors == ["upstream-timeout"] * 20
    assert [st for st, _ in fast_done] == [200] * 20
    assert fast_done[-1][1] < first_504, "a fast request waited for the hanging ones"
    assert durations[0] >= timeout_s - 0.05  # the client's clock started before hop's
    assert len(log) == 20 and all(e.get("error") == "upstream-timeout" and e["status"] == 504 for e in log)
    assert timeout_s * 1000 - 5 <= logged_ms[0] and logged_ms[-1] < timeout_s * 1000 + 500, logged_ms
    assert res.failed == 0 and res.requests > 500, res.out
    assert timeouts == 20
    assert hp.alive()


RESILIENT_CLUSTER = """\
health_check: { http: /health, interval: 200ms, timeout: 200ms, unhealthy: 2, healthy: 1 }
outlier: { consecutive_5xx: 5, base_ejection: 5s }
circuit_breakers: { max_requests: 1000, max_pending: 1000 }
"""


def test_sighup_every_300ms_under_load_fails_no_request(hop):
    origins = [hop.backend(f"b{i}") for i in range(3)]
    port, admin = free_port(), free_port()
    # Alternate between two host sets that overlap in one host, with every resilience feature
    # on, so each reload rebuilds health state, outlier state and pools under traffic.
    configs = [config(port, admin, [route_yaml("/", "app", RETRY_ALL)],
                      [cluster_yaml("app", [o.port for o in hosts], RESILIENT_CLUSTER)], access_log="off")
               for hosts in (origins[:2], origins[1:])]
    hp = hop.run_config(configs[0], port, admin)
    wrk = start_wrk(port, connections=16, seconds=4)
    reloads = 0
    end = time.monotonic() + 4.0
    while time.monotonic() < end - 0.3:
        time.sleep(0.3)
        reloads += 1
        hop.write_config(configs[reloads % 2])
        hp.signal(signal.SIGHUP)
    res = finish_wrk(wrk)
    ok = metric(admin, "hop_config_reloads_total", result="ok")
    print(f"\n[sighup-300ms] {reloads} SIGHUPs ({ok:.0f} reloads ok) during {res.summary()} "
          f"retries={metric(admin, 'hop_upstream_retries_total'):.0f} "
          f"no_healthy={metric(admin, 'hop_upstream_no_healthy_total'):.0f}")
    assert res.requests > 1000, res.out
    assert res.failed == 0, res.out
    assert ok >= reloads - 1
    assert hp.alive()


def test_host_removed_by_reload_drains_its_pooled_connections_without_failing_requests(hop):
    ok = lambda m, p: (200, b"ok")  # noqa: E731
    leaving, staying = PyOrigin(ok, "leaving"), PyOrigin(ok, "staying")
    port, admin = free_port(), free_port()
    pool = "pool: { idle_timeout: 60s }"
    hp = hop.run_config(config(port, admin, [route_yaml("/", "app", RETRY_ALL)],
                               [cluster_yaml("app", [leaving.address, staying.address], pool)], access_log="off"),
                        port, admin)
    wrk = start_wrk(port, connections=8, seconds=3)
    time.sleep(1.0)
    pooled_before = leaving.open_connections
    served_before = leaving.count()
    hop.write_config(config(port, admin, [route_yaml("/", "app", RETRY_ALL)],
                            [cluster_yaml("app", [staying.address], pool)], access_log="off"))
    t0 = time.monotonic()
    hp.signal(signal.SIGHUP)
    drained = wait_until(lambda: leaving.open_connections == 0, timeout=5)
    drain_s = time.monotonic() - t0
    res = finish_wrk(wrk)
    print(f"\n[remove-host] leaving host had {pooled_before} pooled connections, {served_before} requests; "
          f"all closed {drain_s*1000:.0f} ms after SIGHUP (drained={bool(drained)}); "
          f"{res.summary()}; staying served {staying.count()}")
    assert pooled_before >= 1
    assert drained, f"{leaving.open_connections} connections to the removed host still open"
    assert res.failed == 0, res.out
    # Once the new configuration is in, no new request goes to the removed host.
    n = leaving.count()
    for _ in range(20):
        assert get(port, "/").status == 200
    assert leaving.count() == n
    assert hp.alive()


RETRY_ONCE_SLOWLY = """\
timeout: 2s
retries:
  attempts: 1
  on: [5xx]
  backoff: { base: 20ms, max: 40ms }
  budget: 100%       # the budget is not under test here: every 503 gets its retry
  budget_min: 1000
"""


def test_sighup_every_300ms_while_a_host_fails_and_is_retried_fails_no_request(hop):
    bad = hop.backend("bad", fail_status=503)
    good = [hop.backend(f"g{i}") for i in range(2)]
    port, admin = free_port(), free_port()
    # The 5xx host stays in (no outlier detection), so every third request is retried, and a
    # retry in backoff often straddles a reload; the host lists differ in length and order.
    configs = [config(port, admin, [route_yaml("/", "app", RETRY_ONCE_SLOWLY)],
                      [cluster_yaml("app", hosts)], access_log="off")
               for hosts in ([bad.port, good[0].port, good[1].port], [good[1].port, bad.port])]
    hp = hop.run_config(configs[0], port, admin)
    wrk = start_wrk(port, connections=16, seconds=3)
    reloads = 0
    end = time.monotonic() + 3.0
    while time.monotonic() < end - 0.3 and hp.alive():
        time.sleep(0.3)
        reloads += 1
        hop.write_config(configs[reloads % 2])
        hp.signal(signal.SIGHUP)
    res = finish_wrk(wrk)
    alive = hp.alive()
    retries = metric(admin, "hop_upstream_retries_total") if alive else None
    print(f"\n[sighup-300ms with retries] {reloads} SIGHUPs, hop alive={alive} (exit {hp.proc.poll()}); "
          f"{res.summary()} retries={retries}")
    assert alive
    assert res.requests > 1000 and res.failed == 0, res.out
