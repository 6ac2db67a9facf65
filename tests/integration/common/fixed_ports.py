"""Fixed 127.0.0.1 ports for the tests that must use them (the quickstart's, examples/dns.yaml's).

Other programs on a shared machine -- another checkout's test run, a developer's hop -- may own
those ports at any moment; a test that then skipped, or fell back to something else, would
report a pass for code it never ran. So the test gets a private network namespace: its own
loopback, where every port is free. The calling thread moves into it (network namespaces are
per thread), and so does everything it starts afterwards: processes (hop, dig, curl) and
threads (python origins). On exit the thread moves back.

Creating a namespace needs CAP_SYS_ADMIN (CI runs as root, see scripts/install-deps). Without
it the test runs in the host's namespace, holding a lock so two runs of the suites never race
for the ports, and fails -- naming the busy ports -- when another program owns one.
"""
import contextlib
import ctypes
import errno
import fcntl
import os
import socket
import struct
import threading

import pytest

CLONE_NEWNET = 0x40000000
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
LOCK = "/tmp/hop-fixed-ports.lock"

_libc = ctypes.CDLL(None, use_errno=True)


def _loopback_up():
    """`ip link set lo up` without iproute2: a new namespace's lo starts down."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        ifr = fcntl.ioctl(s, SIOCGIFFLAGS, struct.pack("16sH14x", b"lo", 0))
        flags = struct.unpack("16sH14x", ifr)[1]
        fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", flags | IFF_UP))


@contextlib.contextmanager
def private_network():
    """Runs the body in a new network namespace (this thread only); raises PermissionError
    when the process may not create one."""
    own = os.open(f"/proc/self/task/{threading.get_native_id()}/ns/net", os.O_RDONLY)
    try:
        if _libc.unshare(CLONE_NEWNET) != 0:
            e = ctypes.get_errno()
            raise PermissionError(e, f"unshare(CLONE_NEWNET): {os.strerror(e)}")
        try:
            _loopback_up()
            yield
        finally:
            if _libc.setns(own, CLONE_NEWNET) != 0:
                e = ctypes.get_errno()
                raise OSError(e, f"setns back to the host's network namespace: {os.strerror(e)}")
    finally:
        os.close(own)


def _lock_fd():
    """The shared lock file, opened read-only: another user's file in sticky /tmp cannot be
    opened for writing (fs.protected_regular), and flock does not need it."""
    try:
        return os.open(LOCK, os.O_RDONLY)
    except FileNotFoundError:
        return os.open(LOCK, os.O_RDONLY | os.O_CREAT, 0o644)


def _bindable(port, kind):
    with socket.socket(socket.AF_INET, kind) as s:
        # As a server binds: TIME_WAIT leftovers of an earlier run do not count.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


@contextlib.contextmanager
def fixed_ports(tcp=(), udp=()):
    """The body may bind the given 127.0.0.1 ports: in a private network namespace, else (no
    CAP_SYS_ADMIN) in the host's under a lock, failing the test when a port is taken. Yields
    which of the two it is."""
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(private_network())
            where = "a private network namespace"
        except PermissionError as e:
            if e.errno not in (errno.EPERM, errno.EACCES):
                raise
            lock = _lock_fd()
            stack.callback(os.close, lock)
            fcntl.flock(lock, fcntl.LOCK_EX)
            busy = [f"{p}/tcp" for p in tcp if not _bindable(p, socket.SOCK_STREAM)]
            busy += [f"{p}/udp" for p in udp if not _bindable(p, socket.SOCK_DGRAM)]
            if busy:
                pytest.fail(f"fixed ports in use by another program: {busy} (a private network namespace "
                            f"would avoid them, but creating one was refused: {e.strerror})")
            where = "the host's network namespace"
        yield where
