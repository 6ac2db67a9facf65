"""Ports on 127.0.0.1, waiting, and timing state changes, for the integration suites: one
copy, imported by each suite's helpers.

This folder holds no tests; scripts/test runs it as a suite of zero tests only if pytest
finds some, so it is skipped there (see scripts/test).
"""
import socket
import time


_handed_out = set()


def free_port():
    """A port nothing listens on now (the kernel's pick): tests never collide on fixed ports.
    Never the same port twice in one test process: the kernel may give a just-closed port
    again, and `port, admin = free_port(), free_port()` then named one port for both."""
    for _ in range(64):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _handed_out:
            _handed_out.add(port)
            return port
    raise RuntimeError("no fresh port in 64 tries")


def wait_for_port(port, proc=None, timeout=10.0):
    """Returns once 127.0.0.1:port accepts; raises if proc exits first or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.03)
    raise RuntimeError(f"nothing listening on 127.0.0.1:{port}")


def wait_until(pred, timeout=5.0, interval=0.05):
    """pred()'s first true value, polled every `interval` seconds; after timeout, pred() once more."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(interval)
    return pred()


class Transition:
    """When a polled condition turned true, bracketed on this process's monotonic clock: after
    `last_false` (when the last poll that still saw it false was sent, or watching began) and
    no later than `first_true` (when the first poll that saw it true returned); `value` is that
    poll's result.

    Bounds asserted on the bracket hold however late the polls run on a loaded machine: slow
    polls only widen the bracket, and the assertions are written so a wider bracket is never a
    false failure. "Turned true no later than X after the cause" is `last_false < cause_done + X`
    (it was still false at last_false); "not sooner than Y" is `first_true >= cause_start + Y`."""

    def __init__(self, value, last_false, first_true):
        self.value = value
        self.last_false = last_false
        self.first_true = first_true

    def __bool__(self):
        return bool(self.value)

    def __repr__(self):
        return f"Transition(value={self.value!r}, last_false={self.last_false:.3f}, first_true={self.first_true:.3f})"


def watch_transition(pred, timeout=5.0, interval=0.02):
    """Polls pred() until it returns a true value; returns a Transition (false when timeout ran
    out first: then `value` is pred()'s last result and `first_true` the time it returned)."""
    deadline = time.monotonic() + timeout
    last_false = time.monotonic()
    while True:
        sent = time.monotonic()
        v = pred()
        done = time.monotonic()
        if v or done >= deadline:
            return Transition(v, last_false, done)
        last_false = sent
        time.sleep(interval)
