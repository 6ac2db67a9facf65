"""Fixtures for the HTTP/1.1 reverse proxy tests: hop processes on free 127.0.0.1 ports.

Run with Debian's interpreter:
    HOP_BIN=build/hop /usr/bin/python3 -m pytest -q tests/integration/proxy
"""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
sys.path.insert(0, str(HERE))

from proxy_helpers import OPEN_UPSTREAMS, free_port, wait_for_port  # noqa: E402


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    # Other suites on this machine run pytest as the same user, and pytest keeps only the
    # three newest /tmp/pytest-of-USER/pytest-N folders: theirs would delete ours mid-run
    # (config files, logs). A private base folder unless --basetemp says otherwise.
    if not config.option.basetemp:
        config.option.basetemp = tempfile.mkdtemp(prefix="hop-proxy-it-")
        config.hop_private_basetemp = config.option.basetemp


def pytest_sessionfinish(session, exitstatus):
    # Keep the hop logs of a failed run for reading; drop those of a passing one.
    path = getattr(session.config, "hop_private_basetemp", None)
    if path and exitstatus == 0:
        for _ in range(3):  # a process we just killed may still be closing its log
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


class HopProcess:
    def __init__(self, proc, workdir, stdout_path, stderr_path, port=None, admin=None):
        self.proc = proc
        self.pid = proc.pid
        self.workdir = workdir
        self.stdout_path = stdout_path
        self.stderr_path = stderr_path
        self.port = port
        self.admin = admin

    def stdout(self):
        return Path(self.stdout_path).read_text(errors="replace")

    def stderr(self):
        return Path(self.stderr_path).read_text(errors="replace")

    def access_log(self, min_lines=0, timeout=3.0):
        """The JSON lines hop wrote to stdout (buffered by hop: wait for them)."""
        import json

        deadline = time.monotonic() + timeout
        while True:
            lines = [json.loads(line) for line in self.stdout().splitlines() if line.startswith("{")]
            if len(lines) >= min_lines or time.monotonic() > deadline:
                return lines
            time.sleep(0.05)

    def signal(self, sig):
        self.proc.send_signal(sig)

    def wait(self, timeout):
        return self.proc.wait(timeout=timeout)

    def alive(self):
        return self.proc.poll() is None


class HopLauncher:
    """Starts hop processes and stops exactly those, by pid, at teardown."""

    def __init__(self, hop_bin, tmp_path):
        self.hop_bin = hop_bin
        self.tmp_path = tmp_path
        self.procs = []
        self.count = 0

    def spawn(self, args, wait_ports=(), cwd=None, port=None, admin=None):
        self.count += 1
        out = self.tmp_path / f"hop{self.count}.stdout"
        err = self.tmp_path / f"hop{self.count}.stderr"
        proc = subprocess.Popen([self.hop_bin, *args], stdout=open(out, "wb"), stderr=open(err, "wb"),
                                cwd=cwd or self.tmp_path)
        self.procs.append(proc)
        hp = HopProcess(proc, self.tmp_path, out, err, port=port, admin=admin)
        try:
            for p in wait_ports:
                wait_for_port(p, proc)
        except RuntimeError as e:
            raise RuntimeError(f"{e}\nstderr:\n{hp.stderr()}") from None
        return hp

    def write_config(self, text, name="hop.yaml"):
        path = self.tmp_path / name
        path.write_text(textwrap.dedent(text))
        return path

    def run_config(self, text, port=None, admin=None, extra_wait=(), name="hop.yaml", args=()):
        """Writes `text` (str.format'ed with port/admin) and runs `hop run -c` on it."""
        path = self.write_config(text, name)
        waits = [p for p in (port, admin, *extra_wait) if p]
        return self.spawn(["run", "-c", str(path), *args], wait_ports=waits, port=port, admin=admin)

    def backend(self, name, port=None):
        port = port or free_port()
        hp = self.spawn(["backend", "--listen", f"127.0.0.1:{port}", "--name", name], wait_ports=[port], port=port)
        return hp

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


@pytest.fixture(scope="session")
def echo_backends(hop_bin, tmp_path_factory):
    """Three `hop backend` origins shared by the tests that only read their echo."""
    launcher = HopLauncher(hop_bin, tmp_path_factory.mktemp("backends"))
    ports = {}
    for name in ("alpha", "beta", "gamma"):
        ports[name] = launcher.backend(name).port
    yield ports
    launcher.stop_all()


def cluster_yaml(name, ports, extra=""):
    hosts = ", ".join(f"127.0.0.1:{p}" for p in ports)
    s = f"  - name: {name}\n    hosts: [{hosts}]\n"
    if extra:
        s += textwrap.indent(textwrap.dedent(extra).strip("\n"), "    ") + "\n"
    return s


def simple_config(port, admin, upstream_ports, listener_extra="", cluster_extra="", top_extra="", routes=None,
                  workers=1, access_log="stdout"):
    """One listener on `port` routing everything to cluster `app` over `upstream_ports`."""
    routes = routes or "      - match: { prefix: / }\n        cluster: app\n"
    s = f"workers: {workers}\nadmin: 127.0.0.1:{admin}\naccess_log: {access_log}\n"
    s += textwrap.dedent(top_extra)
    s += f"listeners:\n  - name: web\n    address: 127.0.0.1:{port}\n"
    if listener_extra:
        s += textwrap.indent(textwrap.dedent(listener_extra).strip("\n"), "    ") + "\n"
    s += "    routes:\n" + routes
    s += "clusters:\n" + cluster_yaml("app", upstream_ports, cluster_extra)
    return s


@pytest.fixture
def proxy(hop, echo_backends):
    """hop in front of alpha and beta (round robin), one worker, access log on stdout."""
    port, admin = free_port(), free_port()
    hp = hop.run_config(simple_config(port, admin, [echo_backends["alpha"], echo_backends["beta"]]),
                        port=port, admin=admin)
    return hp


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
    while OPEN_UPSTREAMS:
        OPEN_UPSTREAMS.pop().close()
