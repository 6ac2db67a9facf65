"""Active health checks: a host whose /health fails leaves rotation within interval ×
unhealthy, comes back within interval × healthy, and /clusters says why."""
import threading
import time

from hop_ports import watch_transition
from res_helpers import HANG, PyOrigin, cluster_yaml, config, free_port, get, host_state, route_yaml, wait_until

INTERVAL_MS, UNHEALTHY, HEALTHY = 200, 3, 2
JITTER = 1.1    # hop stretches each interval by up to 10% at random (health_checker.h)
# A probe's own time on a loaded, shared 2-core machine (hop's turn and the python origin's).
# Polling /clusters adds nothing: the switch is bracketed by the polls around it
# (hop_ports.watch_transition) and the bound is checked on the last poll that had not seen it.
SLACK_S = 0.25


def within(transition, cause_done, bound_s):
    """The state had not switched yet at a poll sent `bound_s` or more after the cause?"""
    return transition.last_false - cause_done < bound_s


def test_failing_health_check_leaves_rotation_in_time_and_comes_back(hop):
    sick = threading.Event()

    def flaky(method, path):
        if path == "/health":
            return (503, b"sick") if sick.is_set() else (200, b"ok")
        return 200, b"flaky"

    flaky_origin = PyOrigin(flaky, "flaky")
    steady = PyOrigin(lambda m, p: (200, b"steady"), "steady")
    port, admin = free_port(), free_port()
    hc = (f"health_check: {{ http: /health, interval: {INTERVAL_MS}ms, timeout: 200ms, "
          f"unhealthy: {UNHEALTHY}, healthy: {HEALTHY} }}")
    hp = hop.run_config(config(port, admin, [route_yaml("/", "app")],
                               [cluster_yaml("app", [flaky_origin.address, steady.address], hc)]), port, admin)
    state = lambda: host_state(admin, "app", flaky_origin.address)  # noqa: E731
    assert wait_until(lambda: state()["healthy"] and state()["health_check"]["checks"] >= HEALTHY, timeout=3)
    assert {get(port, "/").body for _ in range(4)} == {b"flaky", b"steady"}

    sick.set()
    t0 = time.monotonic()
    out = watch_transition(lambda: not state()["healthy"], timeout=3)
    assert out, "still healthy 3 s after /health turned 503"
    out_s = out.last_false - t0
    st = state()
    served = flaky_origin.count(path_prefix="/x")
    bodies = {get(port, "/x").body for _ in range(20)}
    assert flaky_origin.count(path_prefix="/x") == served, "an unhealthy host still got traffic"

    sick.clear()
    t1 = time.monotonic()
    back = watch_transition(lambda: state()["healthy"], timeout=3)
    assert back, "still unhealthy 3 s after /health recovered"
    back_s = back.last_false - t1
    back_bodies = {get(port, "/y").body for _ in range(4)}
    print(f"\n[health-check] interval={INTERVAL_MS}ms unhealthy={UNHEALTHY} healthy={HEALTHY}: still in rotation "
          f"{out_s*1000:.0f} ms after /health turned 503 (bound {INTERVAL_MS*UNHEALTHY} ms x jitter), still out "
          f"{back_s*1000:.0f} ms after it recovered (bound {INTERVAL_MS*HEALTHY} ms); while out: reason="
          f"{st['reason']!r} last_result={st['health_check']['last_result']!r} "
          f"consecutive_failures={st['health_check']['consecutive_failures']}")
    assert within(out, t0, INTERVAL_MS * UNHEALTHY / 1000 * JITTER + SLACK_S), out_s
    assert within(back, t1, INTERVAL_MS * HEALTHY / 1000 * JITTER + SLACK_S), back_s
    assert bodies == {b"steady"}
    assert back_bodies == {b"flaky", b"steady"}
    assert st["reason"].startswith("failing health check") and "503" in st["health_check"]["last_result"]
    assert st["health_check"]["consecutive_failures"] >= UNHEALTHY
    assert st["outlier"]["ejected"] is False  # health and ejection are reported apart
    assert hp.alive()


def test_killed_origin_fails_health_check_with_connect_error_and_recovers_on_restart(hop):
    a, b = hop.backend("a"), hop.backend("b")
    port, admin = free_port(), free_port()
    hc = f"health_check: {{ http: /health, interval: {INTERVAL_MS}ms, timeout: 200ms, unhealthy: 2, healthy: 2 }}"
    hp = hop.run_config(config(port, admin, [route_yaml("/", "app")], [cluster_yaml("app", [a.port, b.port], hc)]),
                        port, admin)
    addr = f"127.0.0.1:{a.port}"
    assert wait_until(lambda: host_state(admin, "app", addr)["healthy"], timeout=3)
    a.kill()
    t0 = time.monotonic()
    out = watch_transition(lambda: not host_state(admin, "app", addr)["healthy"], timeout=3)
    assert out, "still healthy 3 s after its origin was killed"
    out_s = out.last_false - t0
    st = host_state(admin, "app", addr)
    statuses = [get(port, "/").status for _ in range(10)]
    hop.backend("a-again", port=a.port)
    t1 = time.monotonic()
    back = watch_transition(lambda: host_state(admin, "app", addr)["healthy"], timeout=3)
    assert back, "still unhealthy 3 s after its origin came back"
    back_s = back.last_false - t1
    names = {get(port, "/").header("x-backend") for _ in range(6)}
    print(f"\n[health-check-kill] still in {out_s*1000:.0f} ms after SIGKILL (bound {INTERVAL_MS*2} ms), still out "
          f"{back_s*1000:.0f} ms after restart (bound {INTERVAL_MS*2} ms); last_result while down: "
          f"{st['health_check']['last_result']!r}; statuses while down {set(statuses)}; names after: {names}")
    assert within(out, t0, INTERVAL_MS * 2 / 1000 * JITTER + SLACK_S), out_s
    assert within(back, t1, INTERVAL_MS * 2 / 1000 * JITTER + SLACK_S), back_s
    assert statuses == [200] * 10
    assert st["reason"].startswith("failing health check")
    assert "a-again" in names
    assert hp.alive()


def test_hanging_health_endpoint_fails_by_timeout(hop):
    hanging_health = PyOrigin(lambda m, p: HANG if p == "/health" else (200, b"x"), "hh")
    other = PyOrigin(lambda m, p: (200, b"y"), "other")
    port, admin = free_port(), free_port()
    hc = "health_check: { http: /health, interval: 200ms, timeout: 150ms, unhealthy: 2, healthy: 1 }"
    hp = hop.run_config(config(port, admin, [route_yaml("/", "app")],
                               [cluster_yaml("app", [hanging_health.address, other.address], hc)]), port, admin)
    t0 = time.monotonic()
    assert wait_until(lambda: not host_state(admin, "app", hanging_health.address)["healthy"]
                      and host_state(admin, "app", hanging_health.address)["health_check"]["checks"] >= 2, timeout=3)
    st = host_state(admin, "app", hanging_health.address)
    bodies = {get(port, "/").body for _ in range(6)}
    print(f"\n[health-timeout] /health hangs (timeout 150 ms, unhealthy 2): out after "
          f"{(time.monotonic() - t0)*1000:.0f} ms from start, last_result={st['health_check']['last_result']!r}, "
          f"reason={st['reason']!r}; bodies served {bodies}; hanging health connections open "
          f"{hanging_health.open_connections}")
    assert "timeout" in st["health_check"]["last_result"]
    assert bodies == {b"y"}
    # Each timed-out check closes its connection: no pile-up of hung health probes.
    assert hanging_health.open_connections <= 2
    assert hp.alive()
