"""Fixtures for the TLS / HTTP/2 client-side tests: hop processes on free 127.0.0.1 ports.

Run with Debian's interpreter:
    HOP_BIN=build/hop /usr/bin/python3 -m pytest -q tests/integration/tls
"""
import json
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

from tls_helpers import to_yaml, wait_for_port  # noqa: E402


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    # Other suites run pytest as the same user and pytest keeps only the three newest
    # /tmp/pytest-of-USER/pytest-N folders: a private base folder unless --basetemp says otherwise.
    if not config.option.basetemp:
        config.option.basetemp = tempfile.mkdtemp(prefix="hop-tls-it-")
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


def _ports_of(cfg):
    """Every port hop should be listening on once it is up (admin, backends, listeners)."""
    ports = []
    if cfg.get("admin"):
        ports.append(int(cfg["admin"].rsplit(":", 1)[1]))
    for section in ("backends", "listeners"):
        for item in cfg.get(section, []):
            ports.append(int(item["address"].rsplit(":", 1)[1]))
    return ports


class Hop:
    def __init__(self, proc, cfg_path, stdout_path, stderr_path, cfg):
        self.proc = proc
        self.pid = proc.pid
        self.cfg_path = cfg_path
        self.stdout_path = stdout_path
        self.stderr_path = stderr_path
        self.cfg = cfg

    def stdout(self):
        return Path(self.stdout_path).read_text(errors="replace")

    def stderr(self):
        return Path(self.stderr_path).read_text(errors="replace")

    def access_log(self, min_lines=0, timeout=3.0):
        """The JSON lines hop wrote to stdout (buffered by hop: wait for them)."""
        deadline = time.monotonic() + timeout
        while True:
            lines = [json.loads(x) for x in self.stdout().splitlines() if x.startswith("{")]
            if len(lines) >= min_lines or time.monotonic() > deadline:
                return lines
            time.sleep(0.05)

    def rewrite(self, cfg):
        """Writes a new configuration to the same file (for SIGHUP)."""
        self.cfg = cfg
        Path(self.cfg_path).write_text(to_yaml(cfg))

    def signal(self, sig):
        self.proc.send_signal(sig)

    def alive(self):
        return self.proc.poll() is None


class HopLauncher:
    """Starts hop processes and stops exactly those, by pid, at teardown."""

    def __init__(self, hop_bin, tmp_path):
        self.hop_bin = hop_bin
        self.tmp_path = tmp_path
        self.procs = []
        self.count = 0

    def write(self, cfg, name=None):
        self.count += 1
        path = self.tmp_path / (name or f"hop{self.count}.yaml")
        path.write_text(cfg if isinstance(cfg, str) else to_yaml(cfg))
        return path

    def start(self, cfg):
        """`hop run -c` on cfg (a dict, see tls_helpers.config); waits for all its ports."""
        path = self.write(cfg)
        n = self.count
        out = self.tmp_path / f"hop{n}.stdout"
        err = self.tmp_path / f"hop{n}.stderr"
        proc = subprocess.Popen([self.hop_bin, "run", "-c", str(path)], stdout=open(out, "wb"),
                                stderr=open(err, "wb"), cwd=self.tmp_path)
        self.procs.append(proc)
        try:
            for p in _ports_of(cfg):
                wait_for_port(p, proc)
        except RuntimeError as e:
            raise RuntimeError(f"{e}\nconfig:\n{path.read_text()}\nstderr:\n{err.read_text(errors='replace')}") \
                from None
        return Hop(proc, path, out, err, cfg)

    def check(self, cfg, name=None):
        """`hop check -c`: returns (exit code, stdout+stderr, config path)."""
        path = self.write(cfg, name)
        p = subprocess.run([self.hop_bin, "check", "-c", str(path)], capture_output=True, timeout=20,
                           cwd=self.tmp_path)
        return p.returncode, p.stdout.decode(errors="replace") + p.stderr.decode(errors="replace"), path

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

