"""Starts hop serving examples/dns.yaml as a real process: `hop run -c examples/dns.yaml`.

The suite tests hop and nothing else: when hop does not answer, every test fails with hop's
exit code and output. examples/dns.yaml names fixed ports (DNS 5353, admin 9901, the failover
record's health target 9201), so the suite runs in a private network namespace where those
ports are always free (common/fixed_ports.py).

Run with Debian's interpreter (it has pytest and dnspython):
    HOP_BIN=build/hop /usr/bin/python3 -m pytest -q tests/integration/dns
"""
import http.server
import pathlib
import shutil
import subprocess
import sys
import threading

import dns.message
import dns.query
import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "common"))
from fixed_ports import fixed_ports  # noqa: E402
from hop_ports import free_port, wait_until  # noqa: E402,F401  (the suite's tests import wait_until from here)
from hop_process import hop_bin, hop_binary, time_limit_fixture  # noqa: E402,F401

ROOT = pathlib.Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "examples" / "dns.yaml"
PORT, ADMIN, HEALTH = 5353, 9901, 9201  # as examples/dns.yaml says

thirty_second_bound = time_limit_fixture(30)  # pytest-timeout is not packaged in Debian 12


def answers(timeout=0.3):
    try:
        q = dns.message.make_query("ns1.hop.test", "A")
        r = dns.query.udp(q, "127.0.0.1", port=PORT, timeout=timeout)
        return r.rcode() == 0 and bool(r.answer)
    except Exception:
        return False


def start_hop(tmp_path, zone_file, origin, admin=None):
    """`hop run` serving zone_file as `origin` on a free port (the caller waits for it)."""
    port = free_port()
    cfg = tmp_path / "hop.yaml"
    cfg.write_text((f"admin: 127.0.0.1:{admin}\n" if admin else "") +
                   f"dns:\n  listen: [127.0.0.1:{port}]\n  zones:\n"
                   f"    - {{origin: {origin}, file: {zone_file}}}\n")
    proc = subprocess.Popen([hop_binary(), "run", "-c", str(cfg)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    return proc, port


def start_peer(kind, zone_file, origin, tmp):
    """knotd or nsd in the foreground on a free port, serving zone_file (installed by
    scripts/install-deps --test; the settings are those of the benchmarks' peers)."""
    port = free_port()
    d = tmp / kind
    d.mkdir()
    if kind == "knot":
        conf = d / "knot.conf"
        conf.write_text(f"server:\n  listen: 127.0.0.1@{port}\n  rundir: {d}\n  udp-workers: 1\n  tcp-workers: 1\n"
                        f"database:\n  storage: {d}\nlog:\n  - target: stderr\n    any: warning\n"
                        f"zone:\n  - domain: {origin}\n    file: {zone_file}\n    semantic-checks: off\n")
        cmd = ["knotd", "-c", str(conf)]
    else:
        conf = d / "nsd.conf"
        conf.write_text(f"server:\n  ip-address: 127.0.0.1@{port}\n  server-count: 1\n  username: \"\"\n"
                        f"  zonesdir: \"{d}\"\n  database: \"\"\n  zonelistfile: \"{d}/zone.list\"\n"
                        f"  xfrdfile: \"{d}/xfrd.state\"\n  pidfile: \"{d}/nsd.pid\"\n  logfile: \"{d}/nsd.log\"\n"
                        f"remote-control:\n  control-enable: no\n"
                        f"zone:\n  name: \"{origin}\"\n  zonefile: \"{zone_file}\"\n")
        cmd = ["nsd", "-d", "-c", str(conf)]
    binary = shutil.which(cmd[0]) or f"/usr/sbin/{cmd[0]}"
    proc = subprocess.Popen([binary] + cmd[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return proc, port


class HealthServer:
    """GET /health → 200 on 127.0.0.1:9201; stop() makes connections refused."""

    def __init__(self, port=HEALTH):
        self.port = port
        self.httpd = None

    def start(self):
        class H(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200 if self.path == "/health" else 404)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        http.server.ThreadingHTTPServer.allow_reuse_address = True
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), H)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self):
        if self.httpd:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.httpd = None


@pytest.fixture(scope="session")
def network():
    """examples/dns.yaml's fixed ports, free: the rest of the session runs in this namespace."""
    with fixed_ports(tcp=(PORT, ADMIN, HEALTH), udp=(PORT,)) as where:
        yield where


@pytest.fixture(scope="session")
def health_server(network):
    h = HealthServer()
    h.start()  # up before hop starts, so the primary starts healthy
    yield h
    h.stop()


@pytest.fixture(scope="session")
def server(hop_bin, network, health_server, tmp_path_factory):
    if answers():
        pytest.fail(f"something other than the hop under test already answers on 127.0.0.1:{PORT} ({network})")
    log = tmp_path_factory.mktemp("dns-hop") / "hop.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([hop_bin, "run", "-c", str(EXAMPLE)], stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
    up = wait_until(lambda: proc.poll() is not None or answers(), timeout=10)
    if proc.poll() is not None or not up:
        if proc.poll() is None:
            proc.kill()
        proc.wait(5)
        pytest.fail(f"`hop run -c examples/dns.yaml` did not answer DNS on 127.0.0.1:{PORT} within 10 s "
                    f"(exit code {proc.returncode}); its output:\n{log.read_text(errors='replace')[-4000:]}")
    yield {"proc": proc, "admin": f"127.0.0.1:{ADMIN}", "log": log}
    died = proc.poll()
    proc.terminate()
    proc.wait(10)
    assert died is None, f"hop exited ({died}) during the suite; its output:\n{log.read_text(errors='replace')[-4000:]}"
