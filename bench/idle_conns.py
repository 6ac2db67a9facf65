"""Holds thousands of idle keep-alive HTTP/1.1 client connections open from one process.

Each connection sends one request and reads the whole response before going idle, so the
proxy holds it as a real keep-alive connection (past the accept and the first request),
which is the state whose memory benchmark 4 measures. One process with selectors: the
limit is 20,000 fds per process, so 10,000 connections fit without helper processes.
"""
import errno
import resource
import selectors
import socket
import struct
import time

REQUEST = b"GET / HTTP/1.1\r\nHost: bench\r\nUser-Agent: hop-bench-idle\r\n\r\n"
# Connects in flight at once: well under every listener's backlog (4096), so no SYN is
# dropped and retried a second later, which would stretch the run for nothing.
MAX_IN_FLIGHT = 256


def raise_fd_limit():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _response_complete(buf):
    head_end = buf.find(b"\r\n\r\n")
    if head_end < 0:
        return False
    length = 0
    for line in buf[:head_end].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    return len(buf) >= head_end + 4 + length


class IdleConnections:
    def __init__(self, port, host="127.0.0.1"):
        self.addr = (host, port)
        self.sockets = []
        self.failed = 0

    def open(self, n, timeout=60.0):
        """Opens n connections, one request each; returns how many got a full response."""
        raise_fd_limit()
        sel = selectors.DefaultSelector()
        pending = n
        in_flight = 0
        deadline = time.time() + timeout
        while (pending or in_flight) and time.time() < deadline:
            while pending and in_flight < MAX_IN_FLIGHT:
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.setblocking(False)
                err = s.connect_ex(self.addr)
                if err not in (0, errno.EINPROGRESS):
                    s.close()
                    self.failed += 1
                else:
                    sel.register(s, selectors.EVENT_WRITE, [b"", False])
                    in_flight += 1
                pending -= 1
            for key, events in sel.select(timeout=1.0):
                s, state = key.fileobj, key.data
                try:
                    if not state[1]:
                        if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                            raise OSError("connect failed")
                        s.send(REQUEST)
                        state[1] = True
                        sel.modify(s, selectors.EVENT_READ, state)
                        continue
                    chunk = s.recv(65536)
                    if not chunk:
                        raise OSError("closed before the response")
                    state[0] += chunk
                    if _response_complete(state[0]):
                        sel.unregister(s)
                        in_flight -= 1
                        self.sockets.append(s)
                except OSError:
                    sel.unregister(s)
                    s.close()
                    in_flight -= 1
                    self.failed += 1
        for key in list(sel.get_map().values()):
            key.fileobj.close()
            self.failed += 1
        sel.close()
        return len(self.sockets)

    def still_open(self):
        """Connections the proxy has not closed since (a closed one reads as EOF)."""
        sel = selectors.DefaultSelector()
        for s in self.sockets:
            sel.register(s, selectors.EVENT_READ)
        closed = sum(1 for _ in sel.select(timeout=0.2))
        sel.close()
        return len(self.sockets) - closed

    def close(self):
        # RST instead of FIN: 10,000 client-side TIME_WAITs per round would eat the
        # ephemeral port range that the following rounds and benchmarks need.
        linger = struct.pack("ii", 1, 0)
        for s in self.sockets:
            try:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
            except OSError:
                pass
            s.close()
        self.sockets = []
