"""`hop run` with no file (the quickstart on fixed ports), and worker threads on SO_REUSEPORT."""
import collections
import os
import threading

import pytest

from conftest import simple_config
from fixed_ports import fixed_ports
from proxy_helpers import Conn, curl, free_port, get, metric, wait_until

QUICKSTART_PORTS = (8080, 9901, 9001, 9002)


@pytest.fixture
def quickstart(hop):
    # The quickstart's ports are fixed: in a private network namespace they are always free,
    # so another program on them can neither skip nor fail these tests (common/fixed_ports.py).
    with fixed_ports(tcp=QUICKSTART_PORTS):
        hp = hop.spawn(["run", "--workers", "2"], wait_ports=QUICKSTART_PORTS)
        yield hp
        hp.proc.kill()
        hp.proc.wait(5)


def test_quickstart_serves_and_prints_curl_examples(quickstart):
    assert wait_until(lambda: "curl" in quickstart.stdout() + quickstart.stderr(), timeout=3)
    banner = quickstart.stdout() + quickstart.stderr()
    assert "http://127.0.0.1:8080" in banner and "127.0.0.1:9901" in banner
    assert banner.count("curl ") >= 3


def test_quickstart_path_routing_direct_and_redirect(quickstart):
    r = get(8080, "/green/anything")
    assert r.header("x-backend") == "green" and r.json()["path"] == "/anything"
    r = get(8080, "/blue/x")
    assert r.header("x-backend") == "blue" and r.json()["path"] == "/x"
    assert get(8080, "/hello").body == b"hello from hop\n"
    r = get(8080, "/old")
    assert r.status == 301 and r.header("location").endswith("/hello")
    r = curl("-sL", "http://127.0.0.1:8080/old")
    assert r.stdout == b"hello from hop\n"


def test_quickstart_weighted_90_10_split(quickstart):
    counts = collections.Counter()
    with Conn(8080) as c:
        for _ in range(1000):
            counts[c.request("GET", "/").header("x-backend")] += 1
    assert 860 <= counts["blue"] <= 940, counts
    assert counts["blue"] + counts["green"] == 1000


def test_quickstart_admin_and_server_timing(quickstart):
    assert get(9901, "/ready").status == 200
    assert "<quickstart>" in get(9901, "/config").body.decode() or "quickstart" in get(9901, "/config").body.decode()
    r = get(8080, "/blue/delay/100")
    st = r.header("server-timing")
    assert st and "upstream-ttfb" in st and "hop-total" in st
    assert [c["name"] for c in get(9901, "/clusters").json()] == ["blue", "green"]


def listening_sockets(port):
    """LISTEN entries for 127.0.0.1:port in /proc/net/tcp: one per SO_REUSEPORT worker."""
    want = f"0100007F:{port:04X}"
    n = 0
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            parts = line.split()
            if parts[1] == want and parts[3] == "0A":
                n += 1
    return n


def test_workers_each_listen_with_so_reuseport(hop, echo_backends):
    port, admin = free_port(), free_port()
    hp = hop.run_config(simple_config(port, admin, [echo_backends["alpha"]], workers=3), port=port, admin=admin)
    assert listening_sockets(port) == 3
    assert len(os.listdir(f"/proc/{hp.pid}/task")) >= 4  # three workers and the control thread
    # Workers are named, so top -H, perf and a per-thread cgroup or affinity can find them.
    # Each thread names itself once it runs: on a loaded machine that can come after the
    # sockets are bound, so the names are waited for.
    def worker_names():
        tasks = os.listdir(f"/proc/{hp.pid}/task")
        names = sorted(open(f"/proc/{hp.pid}/task/{t}/comm").read().strip() for t in tasks)
        return [n for n in names if n.startswith("hop-worker-")]

    wait_until(lambda: len(worker_names()) == 3, timeout=5)
    assert worker_names() == ["hop-worker-0", "hop-worker-1", "hop-worker-2"]


def test_workers_serve_concurrent_clients(hop, echo_backends):
    port, admin = free_port(), free_port()
    hop.run_config(simple_config(port, admin, [echo_backends["alpha"], echo_backends["beta"]], workers=3),
                   port=port, admin=admin)
    errors = []

    def client():
        try:
            with Conn(port) as c:
                for _ in range(50):
                    assert c.request("GET", "/").status == 200
        except Exception as e:  # noqa: BLE001 - collected and asserted below
            errors.append(e)

    threads = [threading.Thread(target=client) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert not errors, errors[:3]
    assert metric(admin, "hop_downstream_requests_total", listener="web") == 600
    # Each worker keeps its own pool: more than one upstream connection was opened.
    assert metric(admin, "hop_upstream_connections_opened_total", cluster="app") >= 2


def test_workers_flag_overrides_config(hop, echo_backends):
    port, admin = free_port(), free_port()
    path = hop.write_config(simple_config(port, admin, [echo_backends["alpha"]], workers=1))
    hop.spawn(["run", "-c", str(path), "--workers", "2"], wait_ports=[port, admin])
    assert listening_sockets(port) == 2
