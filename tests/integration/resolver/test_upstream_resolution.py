"""Cluster hosts given by DNS name (issue 5, "Resolver for upstreams").

hop resolves them with c-ares, re-resolves when the TTL runs out, moves traffic when the
answer changes without failing requests, and keeps the last good answer when the resolver
fails (serve-stale, RFC 8767). The DNS server is hop itself (a `dns:` section), so the
test controls answers and TTLs; the origins are `hop backend` processes on 127.0.0.1 and
127.0.0.2.
"""
import pathlib
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "common"))
from hop_ports import free_port, watch_transition  # noqa: E402  (one copy for every suite)


def wait_port(host, port, limit=5.0):
    end = time.monotonic() + limit
    while time.monotonic() < end:
        try:
            socket.create_connection((host, port), 0.2).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def get(port, timeout=2.0):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=timeout) as r:
        return r.status, r.headers.get("x-backend")


ZONE = """
dns:
  listen: [127.0.0.1:{dns}]
  zones:
    - origin: hop.test.
      soa: {{mname: ns1.hop.test., rname: h.hop.test., serial: 1, minimum: 1}}
      records:
        - {{name: "@", type: NS, value: ns1.hop.test.}}
        - {{name: ns1, type: A, value: 127.0.0.1}}
        - {{name: app, type: A, ttl: 1, value: {ip}}}
"""


@pytest.fixture
def world(hop_bin, tmp_path):
    procs = []
    app_port, dns_port, web, admin = free_port(), free_port(), free_port(), free_port()

    def spawn(*args):
        p = subprocess.Popen([hop_bin, *args], stdout=subprocess.DEVNULL, stderr=open(tmp_path / f"{len(procs)}.err", "w"))
        procs.append(p)
        return p

    spawn("backend", "--listen", f"127.0.0.1:{app_port}", "--name", "one")
    spawn("backend", "--listen", f"127.0.0.2:{app_port}", "--name", "two")
    zone = tmp_path / "zone.yaml"
    zone.write_text(ZONE.format(dns=dns_port, ip="127.0.0.1"))
    dns_proc = spawn("run", "-c", str(zone))
    proxy_cfg = tmp_path / "proxy.yaml"
    proxy_cfg.write_text(f"""
admin: 127.0.0.1:{admin}
resolver: {{servers: [127.0.0.1:{dns_port}], min_ttl: 1s, timeout: 500ms}}
listeners: [{{name: web, address: 127.0.0.1:{web}, routes: [{{cluster: app}}]}}]
clusters: [{{name: app, hosts: [app.hop.test:{app_port}]}}]
""")
    assert wait_port("127.0.0.1", app_port) and wait_port("127.0.0.2", app_port) and wait_port("127.0.0.1", dns_port)
    spawn("run", "-c", str(proxy_cfg))
    assert wait_port("127.0.0.1", web)
    # The first answer arrives shortly after start.
    end = time.monotonic() + 5
    while time.monotonic() < end:
        try:
            if get(web)[0] == 200:
                break
        except Exception:
            time.sleep(0.05)

    class W:
        pass
    w = W()
    w.web, w.zone, w.dns_proc, w.dns_port, w.tmp, w.admin = web, zone, dns_proc, dns_port, tmp_path, admin
    w.proxy_proc, w.proxy_cfg, w.proxy_err = procs[-1], proxy_cfg, tmp_path / f"{len(procs) - 1}.err"
    yield w
    for p in procs:
        if p.poll() is None:
            p.terminate()
    for p in procs:
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            p.kill()


def test_name_is_resolved_and_traffic_follows_a_changed_answer_without_errors(world):
    assert {get(world.web)[1] for _ in range(5)} == {"one"}
    world.zone.write_text(ZONE.format(dns=world.dns_port, ip="127.0.0.2"))
    world.dns_proc.send_signal(signal.SIGHUP)
    # TTL 1 s: within a few seconds every request goes to the new address, and none fails
    # on the way (in-flight requests finish on the hosts they started with).
    seen, errors = [], 0
    end = time.monotonic() + 6
    while time.monotonic() < end:
        try:
            status, backend = get(world.web)
            seen.append(backend)
            errors += status != 200
        except Exception:
            errors += 1
        if seen[-5:] == ["two"] * 5:
            break
        time.sleep(0.02)
    print(f"requests until moved: {len(seen)}, errors: {errors}")
    assert errors == 0
    assert seen[-5:] == ["two"] * 5


def test_resolver_failure_keeps_the_last_good_answer(world):
    assert get(world.web) == (200, "one")
    world.dns_proc.terminate()
    world.dns_proc.wait(5)
    # Several TTLs pass with the resolver unreachable: hop keeps serving from the stale answer.
    end = time.monotonic() + 3.5
    while time.monotonic() < end:
        assert get(world.web) == (200, "one")
        time.sleep(0.1)
    log = "".join(p.read_text() for p in world.tmp.glob("*.err"))
    assert "serving the last good answer" in log


def ready(admin):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{admin}/ready", timeout=2) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_ready_once_the_name_has_its_first_answer(world):
    # The fixture waited for the first proxied 200: by then the name had its answer.
    assert ready(world.admin) == (200, "ready\n")
    assert get(world.web) == (200, "one")


def test_ready_waits_for_an_unanswered_name_at_most_ready_wait(hop_bin, tmp_path):
    """A resolver that never answers: /ready says which name it waits for (so a load
    balancer sends nothing to an instance whose clusters have no hosts yet), and gives up
    waiting after resolver.ready_wait.

    hop counts ready_wait from when it configured the name: after the process started and
    before its admin port accepted (control.cc: the resolver is set up before the admin
    server). So the switch to 200 is bracketed by times measured here, without a bound on how
    long start-up takes on a loaded machine."""
    ready_wait = 1.5
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        dns_port = silent.getsockname()[1]
        web, admin, app = free_port(), free_port(), free_port()
        cfg = tmp_path / "proxy.yaml"
        cfg.write_text(f"""
admin: 127.0.0.1:{admin}
resolver: {{servers: [127.0.0.1:{dns_port}], timeout: 200ms, ready_wait: {int(ready_wait * 1000)}ms}}
listeners: [{{name: web, address: 127.0.0.1:{web}, routes: [{{cluster: app}}]}}]
clusters: [{{name: app, hosts: [app.hop.test:{app}]}}]
""")
        spawned = time.monotonic()
        p = subprocess.Popen([hop_bin, "run", "-c", str(cfg)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            assert wait_port("127.0.0.1", admin)
            admin_up = time.monotonic()
            assert ready(admin) == (503, f"resolving upstream name app.hop.test:{app}\n")
            became = watch_transition(lambda: ready(admin)[0] == 200, timeout=ready_wait + 8, interval=0.05)
            print(f"ready after {became.last_false - admin_up:.2f}..{became.first_true - spawned:.2f} s")
            assert became and ready(admin) == (200, "ready\n")
            assert became.first_true - spawned >= ready_wait, became  # never ready before ready_wait
            assert became.last_false - admin_up < ready_wait, became  # and no longer than that
        finally:
            p.terminate()
            p.wait(5)


def test_a_reload_that_changes_resolver_servers_says_they_need_a_restart(world):
    """Rebuilding the resolver would drop every answer it holds, so a reload keeps it and
    says so, and traffic goes on."""
    text = world.proxy_cfg.read_text()
    world.proxy_cfg.write_text(text.replace("timeout: 500ms", "timeout: 700ms"))
    world.proxy_proc.send_signal(signal.SIGHUP)
    end = time.monotonic() + 5
    while time.monotonic() < end and "take effect on restart" not in world.proxy_err.read_text():
        time.sleep(0.05)
    assert "resolver servers, TTL bounds and timeout take effect on restart" in world.proxy_err.read_text()
    assert get(world.web)[0] == 200
