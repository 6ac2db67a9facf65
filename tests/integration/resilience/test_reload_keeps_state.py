"""A reload must not forget what hop learned about its hosts: a host that failed its health
check, or was ejected, stays out of rotation across SIGHUP (no retries here, so any request
sent to the dead host reaches the client as an error)."""
import signal
import time

from res_helpers import (PyOrigin, cluster_yaml, config, finish_wrk, free_port, get, host_state, metric, route_yaml,
                         start_wrk, wait_until)


def reloaded(admin):
    """Reloads that took effect: the count goes up after the new snapshot is published."""
    return metric(admin, "hop_config_reloads_total", result="ok")


def test_unhealthy_host_stays_out_of_rotation_across_reloads(hop):
    origins = [hop.backend(f"b{i}") for i in range(3)]
    port, admin = free_port(), free_port()
    hc = "health_check: { http: /health, interval: 1s, timeout: 200ms, unhealthy: 1, healthy: 2 }"
    text = config(port, admin, [route_yaml("/", "app", "timeout: 2s")],
                  [cluster_yaml("app", [o.port for o in origins], hc)], access_log="off")
    hp = hop.run_config(text, port, admin)
    dead = f"127.0.0.1:{origins[0].port}"
    assert wait_until(lambda: host_state(admin, "app", dead)["healthy"], timeout=3)
    origins[0].kill()
    assert wait_until(lambda: not host_state(admin, "app", dead)["healthy"], timeout=3)
    wrk = start_wrk(port, connections=8, seconds=3)
    reloads = 0
    states = []
    end = time.monotonic() + 3.0
    while time.monotonic() < end - 0.3:
        time.sleep(0.3)
        hop.write_config(text)
        hp.signal(signal.SIGHUP)
        reloads += 1
        # Read the state once this reload is in force: before it, the old snapshot answers.
        assert wait_until(lambda: reloaded(admin) == reloads, timeout=3), f"reload {reloads} never happened"
        states.append(host_state(admin, "app", dead)["healthy"])
    res = finish_wrk(wrk)
    refused = metric(admin, "hop_upstream_connect_failures_total")
    print(f"\n[reload-keeps-health] dead host, {reloads} SIGHUPs, no retries: {res.summary()} "
          f"connect_failures={refused:.0f}; dead host healthy after each reload: {states}")
    assert res.requests > 1000, res.out
    assert res.failed == 0, res.out
    assert reloads >= 3 and len(states) == reloads
    assert not any(states)
    assert hp.alive()


def test_ejected_host_stays_ejected_across_reload(hop):
    bad = hop.backend("bad", fail_status=500)
    good = [hop.backend("g1"), hop.backend("g2")]
    port, admin = free_port(), free_port()
    text = config(port, admin, [route_yaml("/", "app", "timeout: 2s")],
                  [cluster_yaml("app", [bad.port] + [g.port for g in good],
                                "outlier: { consecutive_5xx: 2, base_ejection: 20s, max_ejection_percent: 34% }")],
                  access_log="off", workers=1)
    hp = hop.run_config(text, port, admin)
    addr = f"127.0.0.1:{bad.port}"
    # Drive until the bad host is ejected (each 5xx here reaches the client: no retries).
    assert wait_until(lambda: (get(port, "/"), host_state(admin, "app", addr)["outlier"]["ejected"])[1],
                      timeout=5, interval=0)
    before = host_state(admin, "app", addr)["outlier"]
    hp.signal(signal.SIGHUP)
    assert wait_until(lambda: reloaded(admin) == 1, timeout=3)
    after = host_state(admin, "app", addr)
    res = finish_wrk(start_wrk(port, connections=8, seconds=1))
    print(f"\n[reload-keeps-ejection] before reload {before}; after reload ejected={after['outlier']['ejected']} "
          f"reason={after['reason']!r}; 1 s of load after: {res.summary()}")
    assert after["outlier"]["ejected"] and after["reason"] == "ejected: consecutive 5xx"
    assert res.non2xx == 0, res.out
    assert hp.alive()


def test_host_removed_by_reload_is_no_longer_health_checked(hop):
    leaving = PyOrigin(lambda m, p: (200, b"l"), "leaving")
    staying = PyOrigin(lambda m, p: (200, b"s"), "staying")
    port, admin = free_port(), free_port()
    hc = "health_check: { http: /health, interval: 100ms, timeout: 100ms, unhealthy: 2, healthy: 1 }"
    hp = hop.run_config(config(port, admin, [route_yaml("/", "app")],
                               [cluster_yaml("app", [leaving.address, staying.address], hc)]), port, admin)
    assert wait_until(lambda: leaving.count(path_prefix="/health") >= 3, timeout=3)
    hop.write_config(config(port, admin, [route_yaml("/", "app")], [cluster_yaml("app", [staying.address], hc)]))
    hp.signal(signal.SIGHUP)
    assert wait_until(lambda: reloaded(admin) == 1, timeout=3)
    time.sleep(0.3)  # a check already under way (timeout 100 ms) may still land
    before, staying_before = leaving.count(path_prefix="/health"), staying.count(path_prefix="/health")
    # Counted, not timed: while the remaining host gets five more checks, the removed one gets none.
    more = wait_until(lambda: staying.count(path_prefix="/health") - staying_before >= 5, timeout=5)
    after, staying_after = leaving.count(path_prefix="/health"), staying.count(path_prefix="/health")
    print(f"\n[reload-stops-checks] while the remaining host got {staying_after - staying_before} health checks "
          f"after the reload settled, the removed host got {after - before}; removed host's open connections "
          f"{leaving.open_connections}")
    assert more, "the remaining host is no longer health checked"
    assert after == before
    assert leaving.open_connections == 0
