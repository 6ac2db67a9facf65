"""Every error kind hop answers itself: the status, x-hop-error, its /metrics counter, and
the access log's `error` and `attempts`; plus panic mode and ejection back-off."""
import threading
import time

import pytest

from hop_ports import watch_transition
from res_helpers import (HANG, RESET, BlackHole, PyOrigin, cluster_yaml, clusters, config, free_port, get, host_state,
                         metric, route_yaml, timed_get, wait_until)


def test_each_error_kind_is_answered_counted_and_logged(hop):
    hanger = PyOrigin(lambda m, p: HANG, "hang")
    resetter = PyOrigin(lambda m, p: RESET, "reset")
    slow = hop.backend("slow")
    closed_port = free_port()  # nothing listens: connect refused
    port, admin = free_port(), free_port()
    hp = hop.run_config(config(port, admin, [
        route_yaml("/timeout", "hang", "timeout: 300ms"),
        route_yaml("/refused", "refused"),
        route_yaml("/reset", "reset"),
        route_yaml("/", "slow", "timeout: 5s"),
    ], [
        cluster_yaml("hang", [hanger.address]),
        cluster_yaml("refused", [closed_port]),
        cluster_yaml("reset", [resetter.address]),
        cluster_yaml("slow", [slow.port], "circuit_breakers: { max_requests: 1 }"),
    ]), port, admin)
    # The holder keeps the 1-request breaker full; /overflow goes first, while it surely does.
    holder = threading.Thread(target=lambda: get(port, "/delay/2000", timeout=8))
    holder.start()
    assert wait_until(lambda: metric(admin, "hop_upstream_requests_total", cluster="slow") >= 1, timeout=2)
    cases = {
        "/overflow": (503, "overflow", "hop_upstream_circuit_breaker_open_total", "slow"),
        "/timeout": (504, "upstream-timeout", "hop_upstream_timeouts_total", "hang"),
        "/refused": (503, "upstream-connect", "hop_upstream_connect_failures_total", "refused"),
        "/reset": (502, "upstream-reset", "hop_upstream_resets_total", "reset"),
    }
    got = {}
    for path, (status, err, counter, cluster) in cases.items():
        r, d = timed_get(port, path)
        got[path] = (r.status, r.header("x-hop-error"), metric(admin, counter, cluster=cluster), round(d * 1000))
    holder.join(8)
    log = {e["path"]: e for e in hp.access_log(min_lines=5)}
    print("\n[error-kinds] path: (status, x-hop-error, counter, ms) / access log error, attempts")
    for path in cases:
        e = log.get(path, {})
        print(f"  {path}: {got[path]} / {e.get('error')!r}, {e.get('attempts')}")
    for path, (status, err, counter, cluster) in cases.items():
        assert got[path][:3] == (status, err, 1.0), (path, got[path])
        assert log[path]["status"] == status and log[path].get("error") == err, log[path]
    for path in ("/timeout", "/refused", "/reset"):
        assert log[path]["attempts"] == 1, log[path]
    assert log["/delay/2000"]["status"] == 200 and "error" not in log["/delay/2000"]
    assert hp.alive()


def test_retried_5xx_returns_the_upstreams_own_last_response(hop):
    origin = PyOrigin(lambda m, p: (503, b"origin says no"), "down")
    port, admin = free_port(), free_port()
    hop.run_config(config(port, admin, [route_yaml("/", "app", "retries: { attempts: 2, on: [5xx], "
                                                              "backoff: { base: 1ms, max: 2ms } }")],
                          [cluster_yaml("app", [origin.address])]), port, admin)
    r = get(port, "/")
    print(f"\n[retried-5xx] client got {r.status} {r.body!r} x-hop-error={r.header('x-hop-error')} "
          f"after {origin.count()} upstream tries")
    assert r.status == 503 and r.body == b"origin says no" and r.header("x-hop-error") is None
    assert origin.count() == 3


def test_reset_is_retried_on_another_host_when_reset_is_in_on(hop):
    resetter = PyOrigin(lambda m, p: RESET, "reset")
    good = PyOrigin(lambda m, p: (200, b"good"), "good")
    port, admin = free_port(), free_port()
    hp = hop.run_config(config(port, admin, [route_yaml("/", "app", "retries: { attempts: 1, on: [reset] }")],
                               [cluster_yaml("app", [resetter.address, good.address])], workers=1), port, admin)
    statuses = [get(port, f"/r{i}").status for i in range(6)]
    resets = metric(admin, "hop_upstream_resets_total")
    retries = metric(admin, "hop_upstream_retries_total")
    print(f"\n[reset-retry] statuses={statuses} resetter_tries={resetter.count()} resets_total={resets:.0f} "
          f"retries_total={retries:.0f}")
    assert statuses == [200] * 6
    assert resetter.count() >= 1 and resets == resetter.count() and retries == resetter.count()
    assert hp.alive()


def test_request_timeout_bounds_the_whole_retry_sequence(hop):
    hangers = [PyOrigin(lambda m, p: HANG, f"hang{i}") for i in range(3)]
    port, admin = free_port(), free_port()
    hp = hop.run_config(config(port, admin, [route_yaml("/", "app", "timeout: 1s\nretries: { attempts: 10, "
                                                                   "on: [per-try-timeout], per_try_timeout: 400ms }")],
                               [cluster_yaml("app", [h.address for h in hangers])]), port, admin)
    r, d = timed_get(port, "/")
    tries = sum(h.count() for h in hangers)
    logged = hp.access_log(min_lines=1)[-1]
    print(f"\n[request-timeout over retries] {r.status} {r.header('x-hop-error')} after {d*1000:.0f} ms "
          f"({logged['duration_ms']:.0f} ms in hop's log; route timeout 1 s, per-try 400 ms, 10 retries allowed); "
          f"tries={tries}")
    assert r.status == 504 and r.header("x-hop-error") == "upstream-timeout"
    # The route's 1 s ends the sequence, not 11 tries of 400 ms: at least 1 s (the client's
    # clock starts first), and by hop's clock less than 1 s plus 400 ms of turn-around.
    assert d >= 0.95 and logged["duration_ms"] < 1000 + 400, (d, logged)
    # Tries start at 0, 400 and 800 ms (plus backoff): at most 3 fit in 1 s, at least 2.
    assert 2 <= tries <= 3


@pytest.mark.parametrize("threshold", ["50%", "0%"])
def test_panic_mode_serves_from_unhealthy_hosts_when_all_fail_their_check(hop, threshold):
    # hop panics whenever no host is healthy, whatever the threshold (balancer.cc, and the
    # balancer unit test: "0 = only panic when nothing is healthy"). So with a valid config
    # (a cluster needs at least one host) 503 no-healthy-upstream cannot happen: see README.
    origins = [PyOrigin(lambda m, p: (503, b"") if p == "/health" else (200, b"alive"), f"o{i}") for i in range(2)]
    port, admin = free_port(), free_port()
    hc = "health_check: { http: /health, interval: 100ms, timeout: 100ms, unhealthy: 1, healthy: 1 }"
    hop.run_config(config(port, admin, [route_yaml("/", "app")],
                          [cluster_yaml("app", [o.address for o in origins], hc + f"\npanic_threshold: {threshold}")]),
                   port, admin)
    assert wait_until(lambda: not any(h["healthy"] for h in
                                      clusters(admin)["app"]["hosts"]), timeout=3)
    statuses = [get(port, "/").status for _ in range(10)]
    print(f"\n[panic] both hosts failing /health, panic_threshold {threshold}: statuses={set(statuses)} "
          f"split={[o.count(path_prefix='/') - o.count(path_prefix='/health') for o in origins]}")
    assert statuses == [200] * 10
    assert metric(admin, "hop_upstream_no_healthy_total") == 0


def test_ejection_expires_and_a_second_ejection_lasts_longer(hop):
    bad = hop.backend("bad", fail_status=500)
    good = [hop.backend("g1"), hop.backend("g2")]
    port, admin = free_port(), free_port()
    hop.run_config(config(port, admin, [route_yaml("/", "app", "retries: { attempts: 1, on: [5xx] }")],
                          [cluster_yaml("app", [bad.port] + [g.port for g in good],
                                        "outlier: { consecutive_5xx: 2, base_ejection: 500ms, max_ejection: 10s, "
                                        "max_ejection_percent: 34% }")], workers=1), port, admin)
    addr = f"127.0.0.1:{bad.port}"
    st = lambda: host_state(admin, "app", addr)  # noqa: E731

    def ejection(n, duration_ms):
        """Drives requests until the n-th ejection, then watches it end. Bracketed on this
        clock: the ejection began after `sent` (the request that caused it went out) and by
        `seen` (the state read that showed it); it ended after `unejected.last_false` and by
        `unejected.first_true`. Each bound below holds however slowly the requests run."""
        while True:
            sent = time.monotonic()
            get(port, "/")
            s = st()
            seen = time.monotonic()
            if s["outlier"]["ejected"] and s["outlier"]["ejections"] == n:
                break
            assert seen - t_start < 10, f"not ejected a {n}th time: {s}"
        unejected = watch_transition(lambda: not st()["outlier"]["ejected"], timeout=duration_ms / 1000 + 3)
        assert unejected, f"ejection {n} never ended"
        print(f"\n[ejection back-off] ejection {n}: ejected_for_ms={s['outlier']['ejected_for_ms']} at first sight, "
              f"back in rotation {(unejected.last_false - seen)*1000:.0f}..{(unejected.first_true - sent)*1000:.0f} ms "
              f"after it began (expected {duration_ms} ms); reason={s['reason']!r}")
        # What hop reports: between the full duration and what is left after our own delay.
        assert duration_ms - (seen - sent) * 1000 - 1 <= s["outlier"]["ejected_for_ms"] <= duration_ms, s
        # What hop does: not back before the duration (less 2 ms: hop keeps whole milliseconds,
        # so the ejection can start up to 1 ms before our clock's `sent`), nor kept out past it.
        assert unejected.first_true - sent >= (duration_ms - 2) / 1000, unejected
        assert unejected.last_false - seen < duration_ms / 1000, unejected
        assert s["reason"] == "ejected: consecutive 5xx"

    t_start = time.monotonic()
    ejection(1, 500)   # base_ejection
    ejection(2, 1000)  # base_ejection x 2: a host ejected again stays out longer


def test_connect_timeout_is_its_own_error_and_retried_only_under_connect_failure(hop):
    hole = BlackHole()
    good = PyOrigin(lambda m, p: (200, b"good"), "good")
    port, admin = free_port(), free_port()
    cl = "connect_timeout: 200ms"
    # The retry policy is under test, not ejection: the black hole stays in rotation (the
    # connect-failure detector would take it out after its first timeout).
    keep = cl + "\noutlier: { consecutive_local_origin_failure: 0, consecutive_gateway_failure: 1000 }"
    hp = hop.run_config(config(port, admin, [
        route_yaml("/plain", "hole"),
        route_yaml("/refused-only", "both", "retries: { attempts: 1, on: [refused] }"),
        route_yaml("/", "both", "retries: { attempts: 1, on: [connect-failure] }"),
    ], [
        cluster_yaml("hole", [hole.address], cl),
        cluster_yaml("both", [hole.address, good.address], keep),
    ], workers=1), port, admin)
    r, d = timed_get(port, "/plain")
    plain = (r.status, r.header("x-hop-error"), round(d * 1000))
    refused_only = [get(port, "/refused-only").status for _ in range(4)]
    retried = [timed_get(port, "/x") for _ in range(4)]
    failures = metric(admin, "hop_upstream_connect_failures_total")
    log = hp.access_log(min_lines=9)
    print(f"\n[connect-timeout 200ms] black-holed host alone: {plain}; on [refused] only: {refused_only}; on "
          f"[connect-failure]: {[(x.status, round(t * 1000)) for x, t in retried]}; connect_failures_total="
          f"{failures:.0f}; log errors {[e.get('error') for e in log]}")
    # The connect timeout ends it: at least 200 ms, and by hop's clock less than 200 ms plus
    # 400 ms of turn-around (the route has no timeout of its own to end it instead).
    assert plain[:2] == (503, "upstream-connect-timeout") and d >= 0.18, plain
    assert log[0]["path"] == "/plain" and log[0]["duration_ms"] < 200 + 400, log[0]
    assert sorted(refused_only) == [200, 200, 503, 503]  # a timeout is not a refusal: not retried
    assert [x.status for x, _ in retried] == [200] * 4
    assert log[0].get("error") == "upstream-connect-timeout"
