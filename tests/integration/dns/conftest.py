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
import subprocess
import sys
import threading

import dns.message
import dns.query
import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "common"))
from fixed_ports import fixed_ports  # noqa: E402
from hop_ports import wait_until  # noqa: E402,F401  (the suite's tests import it from here)
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
