"""Fixtures for `hop trace` integration tests: real servers on 127.0.0.1 ports of their own.

Run with Debian's interpreter (it has pytest, dnspython):
    HOP_BIN=build/hop /usr/bin/python3 -m pytest tests/integration/trace
"""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
sys.path.insert(0, str(HERE))

from servers import nginx_config, pki  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "common"))
from hop_ports import free_port, wait_for_port  # noqa: E402,F401  (shared by the suites)
from hop_process import hop_bin  # noqa: E402,F401  ($HOP_BIN or build/hop; a missing binary fails)


def hop_has_command(hop, name):
    out = subprocess.run([hop, "--help"], capture_output=True, text=True, timeout=10)
    return any(line.split()[:1] == [name] for line in out.stdout.splitlines())


class Servers:
    """Starts processes and stops exactly those, by pid, at teardown."""

    def __init__(self):
        self.procs = []

    def start(self, args, port, **kw):
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **kw)
        self.procs.append(proc)
        wait_for_port(port, proc)
        return proc

    def stop_all(self):
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()


@pytest.fixture(scope="session")
def servers():
    s = Servers()
    yield s
    s.stop_all()


@pytest.fixture(scope="session")
def backend(servers):
    """A python HTTP/1.1 backend: /delay/<ms>, /status/<code>, /bytes/<n>, /chunked, /close."""
    port = free_port()
    servers.start([sys.executable, str(HERE / "servers" / "backend.py"), str(port)], port)
    return port


@pytest.fixture(scope="session")
def certs(tmp_path_factory):
    if not shutil.which("openssl"):  # a missing tool is a failed test, not a skipped one
        pytest.fail("openssl CLI missing (scripts/install-deps --test installs it)")
    return pki.make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="session")
def nginx(servers, backend, certs, tmp_path_factory):
    """nginx in front of the backend: plain HTTP/1.1, TLS with h2, and TLS listeners whose
    certificates are expired, for another name, or from an unknown CA."""
    if not shutil.which("nginx"):
        pytest.fail("nginx missing (scripts/install-deps --test installs nginx-light)")
    prefix = tmp_path_factory.mktemp("nginx")
    ports = {name: free_port() for name in ("http", "h2", "expired", "wrong_name", "unknown_ca")}
    conf = prefix / "nginx.conf"
    conf.write_text(nginx_config.render(prefix, ports, backend, certs))
    servers.start(["nginx", "-c", str(conf), "-p", str(prefix)], ports["http"])
    for name in ports:
        wait_for_port(ports[name])
    return ports


@pytest.fixture(scope="session")
def dns_server(servers):
    """An authoritative-only DNS server: app.test. A 127.0.0.1 TTL 300, NXDOMAIN otherwise."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, str(HERE / "servers" / "dns_server.py"), str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    servers.procs.append(proc)
    line = proc.stdout.readline()  # "ready": UDP has no connect to wait on
    assert line.strip() == "ready", proc.stderr.read()
    return port


def run_trace(hop, *args, timeout=30):
    return subprocess.run([hop, "trace", *args], capture_output=True, text=True, timeout=timeout)


def run_trace_json(hop, *args, timeout=30):
    import json
    proc = run_trace(hop, "--json", *args, timeout=timeout)
    rows = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    return proc, rows


@pytest.fixture(scope="session")
def raw_server(servers):
    """raw_server(mode) -> port of a server that answers with fixed bytes (servers/raw_server.py)."""
    started = {}

    def start(mode):
        if mode not in started:
            port = free_port()
            servers.start([sys.executable, str(HERE / "servers" / "raw_server.py"), str(port), mode], port)
            started[mode] = port
        return started[mode]

    return start
