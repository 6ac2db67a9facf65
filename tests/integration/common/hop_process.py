"""hop processes for the integration suites: one launcher, imported by each suite's conftest.

- hop_binary(): $HOP_BIN, else <repo>/build/hop, as an absolute path.
- HopLauncher: writes configs into a test's folder, runs `hop run -c` (or any hop command),
  waits for the ports, keeps stdout and stderr in files, and at teardown kills exactly the
  processes it started, by pid (SIGKILL, then waits up to 5 s each).
- HopProcess: one of them: .pid, .port, .admin (and whatever the suite attached), stderr(),
  stdout(), access_log(), hup(), term(), signal(), wait(), alive(), kill(), stop().
- Fixtures and hooks a conftest takes by importing them: hop_bin (session), launcher_fixture()
  for `hop` (per test) and `module_hop` (per module), suite_hooks() for a private pytest base
  folder, time_limit_fixture() for the per-test bound. rss_kib() / RssSampler for memory tests.
"""
import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import textwrap
import threading
import time
from pathlib import Path

import pytest

from hop_ports import free_port, wait_for_port

REPO = Path(__file__).resolve().parents[3]


def hop_binary():
    """$HOP_BIN or <repo>/build/hop, absolute (the launcher runs hop in a test's folder)."""
    return os.path.abspath(os.environ.get("HOP_BIN") or str(REPO / "build" / "hop"))


@pytest.fixture(scope="session")
def hop_bin():
    path = hop_binary()
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        pytest.fail(f"no hop binary at {path}: build it (cmake --build build) or set HOP_BIN")
    return path


class HopProcess:
    """One hop process. Keyword arguments become attributes (port, admin, tls_port, cfg...)."""

    def __init__(self, proc, stdout_path, stderr_path, workdir=None, config_path=None, render=None, **attrs):
        self.proc = proc
        self.pid = proc.pid
        self.stdout_path = stdout_path
        self.stderr_path = stderr_path
        self.workdir = workdir
        self.config_path = config_path
        self._render = render
        self.port = None
        self.admin = None
        self.__dict__.update(attrs)

    def stdout(self):
        return Path(self.stdout_path).read_text(errors="replace")

    def stderr(self):
        return Path(self.stderr_path).read_text(errors="replace")

    def access_log(self, min_lines=0, timeout=3.0):
        """The JSON lines hop wrote to stdout (hop buffers them: wait for enough)."""
        deadline = time.monotonic() + timeout
        while True:
            lines = [json.loads(line) for line in self.stdout().splitlines() if line.startswith("{")]
            if len(lines) >= min_lines or time.monotonic() > deadline:
                return lines
            time.sleep(0.05)

    def rewrite(self, cfg):
        """Writes a new configuration to the file hop was started with (then hup() reloads it)."""
        self.cfg = cfg
        Path(self.config_path).write_text(self._render(cfg))

    def signal(self, sig):
        self.proc.send_signal(sig)

    def hup(self):
        """SIGHUP: reload the configuration file."""
        self.proc.send_signal(signal.SIGHUP)

    def term(self):
        """SIGTERM: drain, then exit."""
        self.proc.send_signal(signal.SIGTERM)

    def wait(self, timeout):
        return self.proc.wait(timeout=timeout)

    def alive(self):
        return self.proc.poll() is None

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=5)

    def stop(self, timeout=5.0):
        """SIGTERM, then SIGKILL if still running after timeout; returns the exit code."""
        if self.proc.poll() is None:
            self.term()
            try:
                return self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.proc.returncode


class HopLauncher:
    """Starts hop processes in tmp_path and stops exactly those, by pid, at teardown."""

    def __init__(self, hop_bin, tmp_path):
        self.hop_bin = hop_bin
        self.tmp_path = Path(tmp_path)
        self.procs = []
        self.count = 0  # processes started: their logs are hopN.stdout, hopN.stderr
        self.checks = 0

    def render(self, cfg):
        """The text of a configuration (a suite may also accept other forms than text)."""
        return textwrap.dedent(cfg)

    def write_config(self, cfg, name="hop.yaml"):
        path = self.tmp_path / name
        path.write_text(self.render(cfg))
        return path

    def spawn(self, args, wait_ports=(), cwd=None, config_path=None, **attrs):
        """Runs `hop *args` and waits until every port in wait_ports accepts; when hop exits
        first (or time runs out) raises RuntimeError with the config and hop's stderr."""
        self.count += 1
        out = self.tmp_path / f"hop{self.count}.stdout"
        err = self.tmp_path / f"hop{self.count}.stderr"
        proc = subprocess.Popen([self.hop_bin, *args], stdout=open(out, "wb"), stderr=open(err, "wb"),
                                cwd=cwd or self.tmp_path)
        self.procs.append(proc)
        hp = HopProcess(proc, out, err, workdir=self.tmp_path, config_path=config_path, render=self.render, **attrs)
        try:
            for p in wait_ports:
                wait_for_port(p, proc)
        except RuntimeError as e:
            config = f"\nconfig:\n{Path(config_path).read_text()}" if config_path else ""
            raise RuntimeError(f"{e}{config}\nstderr:\n{hp.stderr()}") from None
        return hp

    def run_config(self, config, port=None, admin=None, extra_wait=(), name="hop.yaml", args=(), **attrs):
        """Writes config to tmp_path/name and runs `hop run -c` on it; waits for port, admin and
        extra_wait (those given). The process keeps it as .cfg (see HopProcess.rewrite)."""
        path = self.write_config(config, name)
        waits = [p for p in (port, admin, *extra_wait) if p]
        return self.spawn(["run", "-c", str(path), *args], wait_ports=waits, config_path=path, port=port,
                          admin=admin, cfg=config, **attrs)

    def backend(self, name, port=None, fail_status=None):
        """`hop backend` (the built-in echo origin) on port (default: a free one)."""
        port = port or free_port()
        args = ["backend", "--listen", f"127.0.0.1:{port}", "--name", name]
        if fail_status:
            args += ["--fail-status", str(fail_status)]
        return self.spawn(args, wait_ports=[port], port=port)

    def check(self, cfg, name=None):
        """`hop check -c` on cfg written to tmp_path/name: returns (exit code, stdout+stderr, path)."""
        self.checks += 1
        path = self.write_config(cfg, name or f"check{self.checks}.yaml")
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


def launcher_fixture(cls=HopLauncher, name="hop", scope="function"):
    """A fixture `name` that yields a cls launcher and stops its processes at teardown: per test
    (in the test's tmp_path) or, with scope="module", shared by a module's read-only tests."""
    if scope == "function":
        @pytest.fixture(name=name)
        def launcher(hop_bin, tmp_path):
            hl = cls(hop_bin, tmp_path)
            yield hl
            hl.stop_all()
    else:
        @pytest.fixture(name=name, scope=scope)
        def launcher(hop_bin, tmp_path_factory):
            hl = cls(hop_bin, tmp_path_factory.mktemp(name))
            yield hl
            hl.stop_all()
    return launcher


def suite_hooks(prefix):
    """(pytest_configure, pytest_sessionfinish) for a suite's conftest.

    Other suites on this machine run pytest as the same user, and pytest keeps only the three
    newest /tmp/pytest-of-USER/pytest-N folders: theirs would delete ours mid-run (config files,
    logs). So a private base folder (mkdtemp(prefix)) unless --basetemp says otherwise; it is
    removed after a passing run and kept, for reading hop's logs, after a failing one."""
    @pytest.hookimpl(tryfirst=True)
    def pytest_configure(config):
        config.addinivalue_line("markers", "time_limit(seconds): this test's bound instead of the suite's")
        if not config.option.basetemp:
            config.option.basetemp = tempfile.mkdtemp(prefix=prefix)
            config.hop_private_basetemp = config.option.basetemp

    def pytest_sessionfinish(session, exitstatus):
        path = getattr(session.config, "hop_private_basetemp", None)
        if path and exitstatus == 0:
            for _ in range(3):  # a process we just killed may still be closing its log
                shutil.rmtree(path, ignore_errors=True)
                if not os.path.exists(path):
                    break
                time.sleep(0.2)

    return pytest_configure, pytest_sessionfinish


class TestTookTooLong(Exception):
    __test__ = False  # not a test class, whatever its name


@contextlib.contextmanager
def time_limit(seconds=30):
    """Raises TestTookTooLong in the main thread after `seconds` (SIGALRM): pytest-timeout is
    not packaged in Debian 12."""
    def expired(signum, frame):
        raise TestTookTooLong(f"test exceeded {seconds} s")

    old = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def time_limit_fixture(seconds=30, close=None):
    """An autouse fixture: no test may run past `seconds` (or the N of its
    @pytest.mark.time_limit(N): a scenario that is a minute long by definition); afterwards,
    even when the test failed early, every object in the list `close` (python origins a suite
    registers) is closed."""
    @pytest.fixture(autouse=True)
    def bound(request):
        marker = request.node.get_closest_marker("time_limit")
        with time_limit(marker.args[0] if marker else seconds):
            yield
        while close:
            close.pop().close()
    return bound


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise OSError(f"no VmRSS for pid {pid}")


class RssSampler:
    """`with RssSampler(pid) as s:` samples the RSS of pid every `interval` s: s.peak (KiB), s.samples."""

    def __init__(self, pid, interval=0.02):
        self.pid = pid
        self.interval = interval
        self.peak = 0
        self.samples = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            try:
                self.peak = max(self.peak, rss_kib(self.pid))
                self.samples += 1
            except OSError:
                return
            time.sleep(self.interval)

    def __enter__(self):
        self._t.start()
        return self

    def __exit__(self, *a):
        self._stop.set()
        self._t.join()
