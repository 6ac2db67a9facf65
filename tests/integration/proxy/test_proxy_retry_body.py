"""A request body that goes again on a retry must arrive whole and well framed: the retried
attempt replays every byte hop took from the client, including re-chunked bytes the first
upstream never read."""
import hashlib
import socket
import threading
import time

from conftest import simple_config
from proxy_helpers import Conn, ScriptedUpstream, free_port

ROUTE = """      - match: { prefix: / }
        cluster: app
        retries: { attempts: 1, on: [5xx], retry_non_idempotent: true, max_buffered_body: 32MiB }
"""


class FirstStallsThenServes:
    """Connection 1 reads the request head and a little body, answers 503 at once and reads
    no more (hop's writes to it stop halfway); later connections decode the chunked body
    strictly and answer with its SHA-256. A ScriptedUpstream whose handler owns every byte
    after the head (one request per connection, so request n is connection n)."""

    def __init__(self):
        self.errors = []
        self._release = threading.Event()
        self.up = ScriptedUpstream(self._handle, read_body=False)
        self.port = self.up.port

    @property
    def accepted(self):
        return self.up.connections

    def _handle(self, c, req, idx):
        head, buf = req.split(b"\r\n\r\n", 1)
        if idx == 1:
            self._refuse_early(c, buf)
        else:
            self._serve(c, head, buf)
        return False  # one request per connection

    def _refuse_early(self, c, got):
        while len(got) < 100_000:
            got += c.recv(65536)
        time.sleep(0.5)  # read no more: hop fills the socket buffers and is left mid-write
        c.sendall(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n")
        self._release.wait(30)  # held open, unread, until the test is done

    def _serve(self, c, head, buf):
        try:
            assert b"transfer-encoding: chunked" in head.lower(), head
            body = bytearray()

            def need(n):
                nonlocal buf
                while len(buf) < n:
                    more = c.recv(65536)
                    if not more:
                        raise EOFError("body cut")
                    buf += more

            while True:
                need(1)
                while b"\r\n" not in buf:
                    need(len(buf) + 1)
                line, buf = buf.split(b"\r\n", 1)
                size = int(line, 16)  # a chunk header that is really data fails here
                need(size + 2)
                if size == 0:
                    assert buf[:2] == b"\r\n", buf[:20]
                    break
                body += buf[:size]
                assert buf[size:size + 2] == b"\r\n", "chunk framing broken"
                buf = buf[size + 2:]
            digest = hashlib.sha256(body).hexdigest().encode()
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(digest), digest))
        except Exception as e:  # reported by the test
            self.errors.append(repr(e))

    def close(self):
        self._release.set()
        self.up.close()


def test_a_chunked_body_retried_after_a_partial_write_arrives_whole(hop):
    """A 16 MiB chunked PUT (more than the sockets to the first host hold once it stops
    reading) gets an early 503 and is retried on 5xx while the upload is still going."""
    up = FirstStallsThenServes()
    port, admin = free_port(), free_port()
    hp = hop.run_config(simple_config(port, admin, [up.port], routes=ROUTE, access_log="off"), port=port, admin=admin)
    body = hashlib.sha256(b"seed").digest() * (16 << 15)  # 16 MiB: more than the sockets between hop and host 1 hold
    try:
        with Conn(hp.port, timeout=20) as c:
            c.send(b"PUT /upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n")
            sender = threading.Thread(target=lambda: [
                c.sock.sendall(b"%x\r\n%s\r\n" % (len(body[i:i + 65536]), body[i:i + 65536]))
                for i in range(0, len(body), 65536)] + [c.sock.sendall(b"0\r\n\r\n")], daemon=True)
            sender.start()
            r = c.read_response()
            sender.join(10)
        assert up.errors == [], up.errors
        assert r.status == 200, r
        assert r.body == hashlib.sha256(body).hexdigest().encode()
        assert up.accepted == 2
    finally:
        up.close()


def test_per_try_timeout_starts_when_the_request_is_complete(hop, echo_backends):
    """A client that uploads slowly is not the host's fault: a 10-byte body at one byte per
    100 ms against a 300 ms per-try timeout is answered, not 504 (and not retried)."""
    route = """      - match: { prefix: / }
        cluster: app
        retries: { attempts: 2, on: [per-try-timeout], per_try_timeout: 300ms, retry_non_idempotent: true }
"""
    port, admin = free_port(), free_port()
    hp = hop.run_config(simple_config(port, admin, [echo_backends["alpha"]], routes=route), port=port, admin=admin)
    with Conn(hp.port, timeout=10) as c:
        c.send(b"POST /slow HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n")
        for i in range(10):
            time.sleep(0.1)
            c.send(b"%d" % i)
        r = c.read_response()
    assert r.status == 200, r
    assert r.json()["body_bytes"] == 10
    log = hp.access_log(min_lines=1)
    assert log[-1]["attempts"] == 1, log[-1]


def test_an_early_answer_then_close_reaches_the_client_not_a_502(hop):
    """The upstream reads the head, answers 413 and closes with the body unread (its kernel
    resets the connection). hop's next write fails; the 413 is still in the socket and is
    what the client must get -- not 502 upstream-reset."""
    def refuse(c, req, idx):
        c.sendall(b"HTTP/1.1 413 Content Too Large\r\nContent-Length: 8\r\nConnection: close\r\n\r\ntoo big\n")
        return False  # close with the body unread

    up = ScriptedUpstream(refuse, read_body=False)
    port, admin = free_port(), free_port()
    hp = hop.run_config(simple_config(port, admin, [up.port], access_log="off"), port=port, admin=admin)
    statuses = []
    for _ in range(10):
        with Conn(hp.port, timeout=10) as c:
            body = b"x" * (4 << 20)
            c.send(b"PUT /big HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % len(body))
            sender = threading.Thread(target=lambda: _send_quietly(c.sock, body), daemon=True)
            sender.start()
            r = c.read_response()
            statuses.append((r.status, r.header("x-hop-error")))
    up.close()
    assert statuses == [(413, None)] * 10, statuses


def _send_quietly(sock, data):
    try:
        sock.sendall(data)
    except OSError:
        pass  # hop closes after the 413: the rest of the body is not wanted


def test_a_post_waiting_for_a_connection_is_timed_by_its_try(hop):
    """A POST whose whole (Content-Length) body came with its head is complete in hop at
    once: its try timer runs while it waits in the pool's queue behind a stalled request,
    so it gets its retries and a 504 after the tries, not after the idle timeout."""
    stalled = []

    def never_answer(c, req, idx):
        stalled.append(c)  # read, keep, never answer
        time.sleep(30)
        return False

    up = ScriptedUpstream(never_answer)
    route = """      - match: { prefix: /hang }
        cluster: app
      - match: { prefix: / }
        cluster: app
        retries: { attempts: 1, on: [per-try-timeout], per_try_timeout: 300ms, retry_non_idempotent: true }
"""
    port, admin = free_port(), free_port()
    hp = hop.run_config(simple_config(port, admin, [up.port], routes=route, cluster_extra="pool: { max_connections: 1 }",
                                      listener_extra="timeouts: { idle: 20s, request: 20s }"), port=port, admin=admin)
    first = Conn(hp.port, timeout=10)
    try:
        first.send(b"GET /hang HTTP/1.1\r\nHost: t\r\n\r\n")  # takes the only connection (no try timer)
        time.sleep(0.2)
        with Conn(hp.port, timeout=10) as c:
            t = time.monotonic()
            c.send(b"POST /queued HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\n")
            time.sleep(0.1)  # the body comes while the request waits for a connection
            c.send(b"hello")
            r = c.read_response()
            took = time.monotonic() - t
        assert r.status == 504, r
        assert took < 5, f"the queued POST waited {took:.1f}s: no try timer while queued"
    finally:
        first.close()
        up.close()


def test_a_bad_chunk_after_an_early_answer_closes_instead_of_appending_a_400(hop):
    """The upstream answers (and starts its body) before the request body ends; then the
    client's next chunk is malformed. The client has part of a 200: a 400 after it would be
    read as that response's body. hop closes the connection instead."""
    def early(c, req, idx):
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b"a" * 10)
        time.sleep(3)
        return False

    up = ScriptedUpstream(early, read_body=False)
    port, admin = free_port(), free_port()
    hp = hop.run_config(simple_config(port, admin, [up.port], access_log="off"), port=port, admin=admin)
    with Conn(hp.port, timeout=5) as c:
        c.send(b"POST /x HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
        got = b""
        while b"aaaaaaaaaa" not in got:
            got += c.sock.recv(65536)
        c.send(b"zz\r\nnot a chunk\r\n")
        assert c.is_closed(timeout=3)
        got += bytes(c.buf)
    assert got.startswith(b"HTTP/1.1 200"), got
    assert b"HTTP/1.1 400" not in got, got
    up.close()
