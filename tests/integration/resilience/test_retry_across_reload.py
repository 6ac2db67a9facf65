"""A retry that was waiting out its backoff when a SIGHUP landed must still go to a host of
its cluster (the one it was not tried on), not to whatever host now sits at the same index."""
import signal
import subprocess
import threading

import pytest

from res_helpers import PyOrigin, cluster_yaml, config, free_port, get, route_yaml, wait_until

RETRY = "timeout: 5s\nretries: { attempts: 1, on: [5xx], backoff: { base: 800ms, max: 800ms } }"


def _retry_across_reload(hop, new_hosts):
    failing = PyOrigin(lambda m, p: (503, b"failing"), "failing")
    healthy = PyOrigin(lambda m, p: (200, b"healthy"), "healthy")
    port, admin = free_port(), free_port()
    hosts = {"failing": failing.address, "healthy": healthy.address}
    hp = hop.run_config(config(port, admin, [route_yaml("/", "app", RETRY)],
                               [cluster_yaml("app", [failing.address, healthy.address])], workers=1), port, admin)
    # Whichever host round robin picks first: send until a first try lands on `failing`.
    result = {}

    def client(path):
        try:
            result["r"] = get(port, path, timeout=6)
        except (OSError, EOFError) as e:
            result["error"] = repr(e)

    for i in range(10):
        path = f"/victim{i}"
        t = threading.Thread(target=client, args=(path,))
        t.start()
        if wait_until(lambda p=path: failing.count("GET", p) > 0 or not t.is_alive(), timeout=2) \
                and failing.count("GET", path) > 0:
            break
        t.join(2)
    else:
        pytest.fail("no first try ever reached the failing host")
    # The first try failed; hop is in its 800 ms backoff. Reload now.
    hop.write_config(config(port, admin, [route_yaml("/", "app", RETRY)],
                            [cluster_yaml("app", [hosts[h] for h in new_hosts])], workers=1))
    hp.signal(signal.SIGHUP)
    t.join(8)
    r = result.get("r")
    try:
        hp.proc.wait(timeout=0.5)  # let a crash be seen as one
    except subprocess.TimeoutExpired:
        pass
    print(f"\n[retry-across-reload {new_hosts}] client got {r.status if r else None} "
          f"{r.body if r else b''!r}; {path} tries: failing={failing.count('GET', path)} "
          f"healthy={healthy.count('GET', path)}; client error={result.get('error')}; hop exit code="
          f"{hp.proc.poll()}")
    return r, failing.count("GET", path), hp


def test_retry_in_backoff_during_reload_that_reorders_hosts(hop):
    r, failing_tries, hp = _retry_across_reload(hop, ["healthy", "failing"])
    assert r is not None and r.status == 200 and r.body == b"healthy"
    assert failing_tries == 1


def test_retry_in_backoff_during_reload_that_removes_a_host(hop):
    r, failing_tries, hp = _retry_across_reload(hop, ["failing"])
    assert hp.alive()
    assert r is not None and r.status == 200 and r.body == b"healthy"
