"""SIGTERM/SIGINT drain and exit 0; SIGHUP swaps the configuration without dropping anything."""
import re
import signal
import subprocess
import threading
import time

import pytest

from conftest import simple_config
from proxy_helpers import Conn, free_port, get, metric, wait_until


def direct_config(port, admin, body, drain="10s"):
    return (f"workers: 2\nadmin: 127.0.0.1:{admin}\ndrain_timeout: {drain}\nlisteners:\n  - name: web\n"
            f"    address: 127.0.0.1:{port}\n    routes:\n      - direct: {{ status: 200, body: \"{body}\" }}\n")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_drain_lets_in_flight_finish_closes_idle_and_exits_0(hop, echo_backends, sig):
    port, admin = free_port(), free_port()
    hp = hop.run_config(simple_config(port, admin, [echo_backends["alpha"]], top_extra="drain_timeout: 5s\n"),
                        port=port, admin=admin)
    idle = Conn(port)
    assert idle.request("GET", "/warm").status == 200
    result = {}

    def in_flight():
        result["r"] = get(port, "/delay/1000", timeout=5)

    t = threading.Thread(target=in_flight)
    t.start()
    time.sleep(0.3)
    t0 = time.monotonic()
    hp.signal(sig)
    # Idle keep-alive connections are closed at once.
    assert idle.is_closed(timeout=1.0)
    assert time.monotonic() - t0 < 1.0
    # No new connections are accepted.
    time.sleep(0.2)
    with pytest.raises(OSError):
        c = Conn(port, timeout=1)
        c.send(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        c.read_response()
    t.join(5)
    r = result["r"]
    assert r.status == 200 and r.json()["path"] == "/delay/1000"
    assert (r.header("connection") or "").lower() == "close"
    assert hp.wait(5) == 0
    assert time.monotonic() - t0 < 2.5


def test_drain_timeout_bounds_shutdown(hop, echo_backends):
    port, admin = free_port(), free_port()
    hp = hop.run_config(simple_config(port, admin, [echo_backends["alpha"]], top_extra="drain_timeout: 500ms\n"),
                        port=port, admin=admin)
    t = threading.Thread(target=lambda: _swallow(lambda: get(port, "/delay/8000", timeout=10)))
    t.start()
    time.sleep(0.3)
    t0 = time.monotonic()
    hp.signal(signal.SIGTERM)
    assert hp.wait(5) == 0
    assert time.monotonic() - t0 < 2.0
    t.join(10)


def _swallow(fn):
    try:
        fn()
    except (OSError, EOFError):
        pass


def test_ready_is_503_while_draining(hop, echo_backends):
    port, admin = free_port(), free_port()
    hp = hop.run_config(simple_config(port, admin, [echo_backends["alpha"]], top_extra="drain_timeout: 5s\n"),
                        port=port, admin=admin)
    assert get(admin, "/ready").status == 200
    t = threading.Thread(target=lambda: _swallow(lambda: get(port, "/delay/1500", timeout=5)))
    t.start()
    time.sleep(0.2)
    hp.signal(signal.SIGTERM)
    time.sleep(0.2)
    r = get(admin, "/ready")
    assert r.status == 503
    assert metric(admin, "hop_draining") == 1
    t.join(5)
    assert hp.wait(5) == 0


def test_sighup_new_requests_use_new_configuration(hop):
    port, admin = free_port(), free_port()
    hp = hop.run_config(direct_config(port, admin, "v1"), port=port, admin=admin)
    keep = Conn(port)
    assert keep.request("GET", "/").body == b"v1"
    hop.write_config(direct_config(port, admin, "v2"))
    hp.signal(signal.SIGHUP)
    assert wait_until(lambda: get(port, "/").body == b"v2", timeout=3)
    # A keep-alive connection opened before the reload picks it up for its next request.
    assert keep.request("GET", "/").body == b"v2"
    keep.close()
    assert metric(admin, "hop_config_reloads_total", result="ok") == 1
    assert metric(admin, "hop_config_generation") == 2
    assert "reloaded" in hp.stderr() + hp.stdout()  # see test_process_log_goes_to_stderr


def test_sighup_in_flight_request_finishes_on_old_configuration(hop, echo_backends):
    port, admin = free_port(), free_port()
    hp = hop.run_config(simple_config(port, admin, [echo_backends["alpha"]]), port=port, admin=admin)
    result = {}
    t = threading.Thread(target=lambda: result.setdefault("r", get(port, "/delay/800", timeout=5)))
    t.start()
    time.sleep(0.2)
    hop.write_config(simple_config(port, admin, [echo_backends["beta"]]))
    hp.signal(signal.SIGHUP)
    assert wait_until(lambda: get(port, "/").header("x-backend") == "beta", timeout=3)
    t.join(5)
    assert result["r"].status == 200
    assert result["r"].header("x-backend") == "alpha"


@pytest.mark.parametrize("bad", ["listeners: [ {", "listeners:\n  - name: web\n    adress: nope\n", "bogus_key: 1\n"])
def test_sighup_invalid_file_is_rejected_logged_and_old_config_kept(hop, bad):
    port, admin = free_port(), free_port()
    hp = hop.run_config(direct_config(port, admin, "v1"), port=port, admin=admin)
    hop.write_config(bad)
    hp.signal(signal.SIGHUP)
    assert wait_until(lambda: metric(admin, "hop_config_reloads_total", result="rejected") == 1, timeout=3)
    assert "reload rejected" in hp.stderr() + hp.stdout()  # see test_process_log_goes_to_stderr
    assert get(port, "/").body == b"v1"
    assert metric(admin, "hop_config_generation") == 1
    # A later good file still loads.
    hop.write_config(direct_config(port, admin, "v3"))
    hp.signal(signal.SIGHUP)
    assert wait_until(lambda: get(port, "/").body == b"v3", timeout=3)


def parse_wrk(out):
    m = re.search(r"(\d+) requests in", out)
    assert m, out
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return int(m.group(1)), int(non2xx.group(1)) if non2xx else 0, sock.groups() if sock else None


def test_reload_under_wrk_load_drops_nothing(hop, echo_backends):
    port, admin = free_port(), free_port()
    configs = [simple_config(port, admin, [echo_backends["alpha"]], workers=2, access_log="off"),
               simple_config(port, admin, [echo_backends["beta"], echo_backends["gamma"]], workers=2,
                             access_log="off")]
    hp = hop.run_config(configs[0], port=port, admin=admin)
    wrk = subprocess.Popen(["wrk", "-t2", "-c32", "-d3s", "--latency", f"http://127.0.0.1:{port}/"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    reloads = 0
    t_end = time.monotonic() + 3.0
    while time.monotonic() < t_end:
        time.sleep(0.3)
        reloads += 1
        hop.write_config(configs[reloads % 2])
        hp.signal(signal.SIGHUP)
    out, _ = wrk.communicate(timeout=15)
    total, non2xx, sock = parse_wrk(out)
    assert total > 1000, out
    assert non2xx == 0, out
    assert sock is None, out
    assert metric(admin, "hop_config_reloads_total", result="ok") >= 8
    assert hp.alive()


def listeners_config(admin, listeners):
    s = f"workers: 2\nadmin: 127.0.0.1:{admin}\nlisteners:\n"
    for name, port, body in listeners:
        s += (f"  - name: {name}\n    address: 127.0.0.1:{port}\n    routes:\n"
              f"      - direct: {{ status: 200, body: \"{body}\" }}\n")
    return s


def test_sighup_adds_and_removes_listeners(hop):
    a, b, admin = free_port(), free_port(), free_port()
    hp = hop.run_config(listeners_config(admin, [("a", a, "A")]), port=a, admin=admin)
    hop.write_config(listeners_config(admin, [("a", a, "A"), ("b", b, "B")]))
    hp.signal(signal.SIGHUP)
    assert wait_until(lambda: _try_body(b) == b"B", timeout=3)
    assert get(a, "/").body == b"A"
    hop.write_config(listeners_config(admin, [("b", b, "B2")]))
    hp.signal(signal.SIGHUP)
    assert wait_until(lambda: _try_body(b) == b"B2", timeout=3)
    with pytest.raises(OSError):
        get(a, "/", timeout=1)


def _try_body(port):
    try:
        return get(port, "/", timeout=1).body
    except OSError:
        return None


def _log_paths(path):
    return [line for line in path.read_text().splitlines() if line.startswith("{")]


def test_sigusr1_reopens_the_access_log_after_rotation(hop, echo_backends, tmp_path):
    """logrotate's way: rename the file, signal, and hop writes to a new file at the old
    path; what was logged before the signal stays in the renamed one."""
    port, admin = free_port(), free_port()
    log = tmp_path / "access.log"
    hp = hop.run_config(simple_config(port, admin, [echo_backends["alpha"]], workers=2, access_log=str(log)),
                        port=port, admin=admin)
    keep = Conn(port)
    assert keep.request("GET", "/before").status == 200
    assert wait_until(lambda: log.exists() and len(_log_paths(log)) == 1, timeout=3)
    rotated = tmp_path / "access.log.1"
    log.rename(rotated)
    hp.signal(signal.SIGUSR1)
    assert wait_until(log.exists, timeout=3)
    assert keep.request("GET", "/after-on-old-connection").status == 200
    assert get(port, "/after-on-new-connection").status == 200
    assert wait_until(lambda: len(_log_paths(log)) == 2, timeout=3)
    assert ['"/before"' in line for line in _log_paths(rotated)] == [True]
    assert all('"/after-on' in line for line in _log_paths(log))
    keep.close()
    assert "access log reopened" in hp.stderr() + hp.stdout()
    assert hp.alive()


def test_sighup_reopens_the_access_log_and_follows_a_new_path(hop, echo_backends, tmp_path):
    port, admin = free_port(), free_port()
    first, second = tmp_path / "a.log", tmp_path / "b.log"
    cfg = lambda p: simple_config(port, admin, [echo_backends["alpha"]], access_log=str(p))  # noqa: E731
    hp = hop.run_config(cfg(first), port=port, admin=admin)
    assert get(port, "/one").status == 200
    hop.write_config(cfg(second))
    hp.signal(signal.SIGHUP)
    assert wait_until(second.exists, timeout=3)
    assert get(port, "/two").status == 200
    assert wait_until(lambda: len(_log_paths(second)) == 1, timeout=3)
    assert ['"/one"' in line for line in _log_paths(first)] == [True]
    assert '"/two"' in _log_paths(second)[0]
    # A path hop cannot open rejects the reload; logging goes on where it was.
    hop.write_config(cfg(tmp_path / "no-such-dir" / "c.log"))
    hp.signal(signal.SIGHUP)
    assert wait_until(lambda: metric(admin, "hop_config_reloads_total", result="rejected") == 1, timeout=3)
    assert get(port, "/three").status == 200
    assert wait_until(lambda: len(_log_paths(second)) == 2, timeout=3)


def test_sigusr1_that_cannot_open_the_file_keeps_logging_to_the_old_one(hop, echo_backends, tmp_path):
    port, admin = free_port(), free_port()
    folder = tmp_path / "logs"
    folder.mkdir()
    hp = hop.run_config(simple_config(port, admin, [echo_backends["alpha"]], access_log=str(folder / "a.log")),
                        port=port, admin=admin)
    moved = tmp_path / "logs-moved"
    folder.rename(moved)  # the configured path's folder is gone: reopening fails
    hp.signal(signal.SIGUSR1)
    assert wait_until(lambda: "SIGUSR1: cannot open access log" in hp.stderr() + hp.stdout(), timeout=3)
    assert get(port, "/still-logged").status == 200
    assert wait_until(lambda: any('"/still-logged"' in line for line in _log_paths(moved / "a.log")), timeout=3)
    assert hp.alive()


def test_sighup_to_a_dns_address_in_use_is_rejected_and_dns_keeps_answering(hop, echo_backends):
    """Workers bind DNS sockets after a reload is published, where a failure could only be
    logged (and DNS would be gone). The control thread proves new DNS addresses first."""
    import socket as socketlib
    import dns.message
    import dns.query
    port, admin, dns1 = free_port(), free_port(), free_port()
    blocker = socketlib.socket(socketlib.AF_INET, socketlib.SOCK_DGRAM)  # no SO_REUSEPORT: hop cannot share it
    blocker.bind(("127.0.0.1", 0))
    dns2 = blocker.getsockname()[1]
    zone = "dns:\n  listen: ['127.0.0.1:{p}']\n  zones: [{{origin: t., records: [{{name: x, type: A, value: 10.0.0.9}}]}}]\n"
    base = simple_config(port, admin, [echo_backends["alpha"]])
    hp = hop.run_config(base + zone.format(p=dns1), port=port, admin=admin)
    try:
        ask = lambda p: dns.query.udp(dns.message.make_query("x.t.", "A"), "127.0.0.1", port=p, timeout=2)
        assert ask(dns1).answer[0][0].address == "10.0.0.9"
        hop.write_config(base + zone.format(p=dns2))
        hp.signal(signal.SIGHUP)
        assert wait_until(lambda: metric(admin, "hop_config_reloads_total", result="rejected") == 1, timeout=3)
        assert f"dns: cannot bind UDP 127.0.0.1:{dns2}" in hp.stderr() + hp.stdout()
        assert ask(dns1).answer[0][0].address == "10.0.0.9", "the DNS in force must keep answering"
    finally:
        blocker.close()
