"""Fixtures for the resilience fault-injection tests: hop, its origins, every process ours.

Run with Debian's interpreter:
    HOP_BIN=build-res/hop /usr/bin/python3 -m pytest -q -s tests/integration/resilience
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

from res_helpers import OPEN_SERVERS, free_port, wait_for_port  # noqa: E402


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    # Other suites on this machine run pytest as the same user and pytest keeps only the
    # three newest /tmp/pytest-of-USER folders: a private base folder keeps our logs alive.
    if not config.option.basetemp:
        config.option.basetemp = tempfile.mkdtemp(prefix="hop-res-it-")
        config.hop_private_basetemp = config.option.basetemp


def pytest_sessionfinish(session, exitstatus):
    path = getattr(session.config, "hop_private_basetemp", None)
    if path and exitstatus == 0:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def hop_bin():
    path = os.path.abspath(os.environ.get("HOP_BIN") or str(REPO / "build" / "hop"))
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        pytest.skip(f"no hop binary at {path}: build it or set HOP_BIN")
    return path


class HopProcess:
    def __init__(self, proc, stdout_path, stderr_path, port=None, admin=None):
        self.proc = proc
        self.pid = proc.pid
        self.stdout_path = stdout_path
        self.stderr_path = stderr_path
        self.port = port
        self.admin = admin

    def stdout(self):
        return Path(self.stdout_path).read_text(errors="replace")

    def stderr(self):
        return Path(self.stderr_path).read_text(errors="replace")

    def access_log(self, min_lines=0, timeout=3.0):
        """The JSON lines hop wrote to stdout (hop buffers them: wait for enough)."""
        import json

        deadline = time.monotonic() + timeout
        while True:
            lines = [json.loads(line) for line in self.stdout().splitlines() if line.startswith("{")]
            if len(lines) >= min_lines or time.monotonic() > deadline:
                return lines
            time.sleep(0.05)

    def signal(self, sig):
        self.proc.send_signal(sig)

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=5)

    def alive(self):
        return self.proc.poll() is None


class HopLauncher:
    """Starts hop processes (proxies and `hop backend` origins) and kills exactly those."""

    def __init__(self, hop_bin, tmp_path):
        self.hop_bin = hop_bin
        self.tmp_path = tmp_path
        self.procs = []
        self.count = 0
        self.config_path = tmp_path / "hop.yaml"

    def spawn(self, args, wait_ports=(), port=None, admin=None):
        self.count += 1
        out = self.tmp_path / f"hop{self.count}.stdout"
        err = self.tmp_path / f"hop{self.count}.stderr"
        proc = subprocess.Popen([self.hop_bin, *args], stdout=open(out, "wb"), stderr=open(err, "wb"),
                                cwd=self.tmp_path)
        self.procs.append(proc)
        hp = HopProcess(proc, out, err, port=port, admin=admin)
        try:
            for p in wait_ports:
                wait_for_port(p, proc)
        except RuntimeError as e:
            raise RuntimeError(f"{e}\nstderr:\n{hp.stderr()}") from None
        return hp

    def write_config(self, text):
        self.config_path.write_text(textwrap.dedent(text))

    def run_config(self, text, port, admin):
        self.write_config(text)
        return self.spawn(["run", "-c", str(self.config_path)], wait_ports=[port, admin], port=port, admin=admin)

    def backend(self, name, port=None, fail_status=None):
        port = port or free_port()
        args = ["backend", "--listen", f"127.0.0.1:{port}", "--name", name]
        if fail_status:
            args += ["--fail-status", str(fail_status)]
        return self.spawn(args, wait_ports=[port], port=port)

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
    while OPEN_SERVERS:
        OPEN_SERVERS.pop().close()
