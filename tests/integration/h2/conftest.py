"""Fixtures for the HTTP/2 tests: hop processes (with built-in backends) on free 127.0.0.1 ports.

Run with Debian's interpreter:
    HOP_BIN=build/hop /usr/bin/python3 -m pytest -q tests/integration/h2
"""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
sys.path.insert(0, str(HERE))

from h2_helpers import CERTS, free_port, wait_for_port  # noqa: E402


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    # Other suites run pytest as the same user and pytest keeps only the three newest
    # /tmp/pytest-of-USER/pytest-N folders: a private base folder unless --basetemp says otherwise.
    if not config.option.basetemp:
        config.option.basetemp = tempfile.mkdtemp(prefix="hop-h2-it-")
        config.hop_private_basetemp = config.option.basetemp


def pytest_sessionfinish(session, exitstatus):
    # Keep the hop logs of a failed run for reading; drop those of a passing one.
    path = getattr(session.config, "hop_private_basetemp", None)
    if path and exitstatus == 0:
        for _ in range(3):
            shutil.rmtree(path, ignore_errors=True)
            if not os.path.exists(path):
                break
            time.sleep(0.2)


@pytest.fixture(scope="session")
def hop_bin():
    path = os.environ.get("HOP_BIN") or str(REPO / "build" / "hop")
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        pytest.skip(f"no hop binary at {path}: build it or set HOP_BIN")
    return path


class Hop:
    """One `hop run`: a cleartext listener (h1 + h2c prior knowledge) on .port, optionally a
    TLS listener (ALPN h2, http/1.1) on .tls_port, a built-in backend on .backend_port."""

    def __init__(self, proc, stdout_path, stderr_path, port, tls_port, backend_port, admin):
        self.proc = proc
        self.pid = proc.pid
        self.stdout_path = stdout_path
        self.stderr_path = stderr_path
        self.port = port
        self.tls_port = tls_port
        self.backend_port = backend_port
        self.admin = admin

    def stderr(self):
        return Path(self.stderr_path).read_text(errors="replace")

    def alive(self):
        return self.proc.poll() is None


def flow(d):
    return "{ " + ", ".join(f"{k}: {v}" for k, v in d.items()) + " }"


class HopLauncher:
    """Starts hop processes and stops exactly those, by pid, at teardown."""

    def __init__(self, hop_bin, tmp_path):
        self.hop_bin = hop_bin
        self.tmp_path = tmp_path
        self.procs = []
        self.count = 0

    def start(self, http2=None, protocol="h1", upstream_port=None, tls=False, listener_extra=None,
              cluster_extra=None, access_log="off", sink_port=None):
        """hop with one built-in backend; every listener routes / to cluster `app`, which
        speaks `protocol` to upstream_port (default: the built-in backend). With sink_port,
        /sink goes to cluster `sink` (HTTP/1.1 to that port) and the rest to `app`."""
        self.count += 1
        port, admin, bport = free_port(), free_port(), free_port()
        tls_port = free_port() if tls else None
        http2 = dict(http2 or {})
        routes = ["    routes:"]
        if sink_port:
            routes += ["      - match: { prefix: /sink }", "        cluster: sink"]
        routes += ["      - match: { prefix: / }", "        cluster: app"]
        lines = [
            "workers: 1",
            f"admin: 127.0.0.1:{admin}",
            f"access_log: {access_log}",
            "backends:",
            f"  - {{ name: b1, address: 127.0.0.1:{bport} }}",
            "listeners:",
            "  - name: web",
            f"    address: 127.0.0.1:{port}",
        ]
        if http2:
            lines.append(f"    http2: {flow(http2)}")
        lines += [f"    {x}" for x in (listener_extra or [])]
        lines += routes
        if tls:
            lines += [
                "  - name: https",
                f"    address: 127.0.0.1:{tls_port}",
                "    tls:",
                "      certificates:",
                f"        - {{ cert: {CERTS}/localhost.pem, key: {CERTS}/localhost-key.pem }}",
                "      alpn: [h2, http/1.1]",
            ]
            if http2:
                lines.append(f"    http2: {flow(http2)}")
            lines += [f"    {x}" for x in (listener_extra or [])]
            lines += routes
        lines += [
            "clusters:",
            "  - name: app",
            f"    protocol: {protocol}",
            f"    hosts: [127.0.0.1:{upstream_port or bport}]",
        ]
        lines += [f"    {x}" for x in (cluster_extra or [])]
        if sink_port:
            lines += ["  - name: sink", f"    hosts: [127.0.0.1:{sink_port}]"]
        cfg = self.tmp_path / f"hop{self.count}.yaml"
        cfg.write_text("\n".join(lines) + "\n")
        out = self.tmp_path / f"hop{self.count}.stdout"
        err = self.tmp_path / f"hop{self.count}.stderr"
        proc = subprocess.Popen([self.hop_bin, "run", "-c", str(cfg)], stdout=open(out, "wb"),
                                stderr=open(err, "wb"), cwd=self.tmp_path)
        self.procs.append(proc)
        try:
            for p in (port, admin, bport, tls_port):
                if p:
                    wait_for_port(p, proc)
        except RuntimeError as e:
            raise RuntimeError(f"{e}\nconfig:\n{cfg.read_text()}\nstderr:\n{err.read_text(errors='replace')}") \
                from None
        return Hop(proc, out, err, port, tls_port, bport, admin)

    def stop_all(self):
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
        for p in self.procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass


@pytest.fixture
def hop(hop_bin, tmp_path):
    launcher = HopLauncher(hop_bin, tmp_path)
    yield launcher
    launcher.stop_all()


@pytest.fixture(scope="module")
def module_hop(hop_bin, tmp_path_factory):
    """A launcher whose hop processes live for one test module (read-only tests share them)."""
    launcher = HopLauncher(hop_bin, tmp_path_factory.mktemp("module"))
    yield launcher
    launcher.stop_all()


class TestTookTooLong(Exception):
    pass


@pytest.fixture(autouse=True)
def thirty_second_bound():
    """No test may run past 30 s (pytest-timeout is not packaged in Debian 12)."""
    def expired(signum, frame):
        raise TestTookTooLong("test exceeded 30 s")

    old = signal.signal(signal.SIGALRM, expired)
    signal.alarm(30)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)
