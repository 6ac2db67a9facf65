"""Bodies stream both ways through bounded buffers: 1 GiB each way with hop's RSS flat."""
import re
import socket
import threading
import time


from conftest import simple_config
from hop_process import RssSampler, rss_kib
from proxy_helpers import Conn, ScriptedUpstream, free_port

GIB = 1 << 30
RSS_LIMIT_KIB = 64 * 1024


def start_proxy(hop, backend_port):
    port, admin = free_port(), free_port()
    # A long request timeout: these tests measure memory, and a loaded machine may take more
    # than the default 15 s to move 1 GiB (see test_request_timeout_does_not_count_the_clients_upload_time).
    return hop.run_config(simple_config(port, admin, [backend_port], access_log="off",
                                        listener_extra="timeouts: { request: 60s }"), port=port, admin=admin)


def test_one_gib_download_streams_with_flat_memory(hop):
    backend = hop.backend("big")
    hp = start_proxy(hop, backend.port)
    base = rss_kib(hp.pid)
    with RssSampler(hp.pid) as s, Conn(hp.port, timeout=10) as c:
        c.send(b"GET /bytes/%d HTTP/1.1\r\nHost: a\r\n\r\n" % GIB)
        head = b""
        while b"\r\n\r\n" not in head:
            head += c.sock.recv(65536)
        head, rest = head.split(b"\r\n\r\n", 1)
        assert b" 200 " in head.split(b"\r\n")[0]
        assert b"Content-Length: %d" % GIB in head
        got = len(rest)
        buf = bytearray(1 << 20)
        while got < GIB:
            n = c.sock.recv_into(buf)
            assert n > 0, f"closed after {got} bytes"
            got += n
    assert got == GIB
    assert s.samples > 10
    print(f"peak RSS {s.peak} KiB")
    assert s.peak < RSS_LIMIT_KIB, f"peak RSS {s.peak} KiB (start {base} KiB)"


def length_sink():
    """Counts a Content-Length request body in python, so the upload test measures hop and
    not the speed of hop backend."""
    def handler(c, req, idx):
        size = int(re.search(rb"(?i)content-length: *(\d+)", req).group(1))
        got = len(req.split(b"\r\n\r\n", 1)[1])
        buf = bytearray(1 << 20)
        while got < size:
            n = c.recv_into(buf, min(len(buf), size - got))
            if not n:
                return False
            got += n
        body = b"%d" % got
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))

    return ScriptedUpstream(handler, read_body=False)


def test_one_gib_upload_streams_with_flat_memory(hop):
    up = length_sink()
    hp = start_proxy(hop, up.port)
    block = b"u" * (1 << 20)
    with RssSampler(hp.pid) as s, Conn(hp.port, timeout=10) as c:
        c.send(b"POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n" % GIB)
        for _ in range(GIB // len(block)):
            c.sock.sendall(block)
        r = c.read_response()
    assert r.status == 200
    assert int(r.body) == GIB
    print(f"peak RSS {s.peak} KiB")
    assert s.peak < RSS_LIMIT_KIB, f"peak RSS {s.peak} KiB"
    up.close()


def chunked_sink():
    """Counts a chunked request body's raw bytes until the last-chunk marker: a python
    origin, so the test measures hop and not a second parser."""
    def handler(c, req, idx):
        assert b"transfer-encoding: chunked" in req.lower()
        buf = bytearray(1 << 20)
        first = req.split(b"\r\n\r\n", 1)[1]
        total, tail = len(first), first[-16:]
        while not tail.endswith(b"\r\n0\r\n\r\n"):
            n = c.recv_into(buf)
            if not n:
                return False
            total += n
            tail = (tail + bytes(buf[max(0, n - 16):n]))[-16:]
        body = b"%d" % total
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))

    return ScriptedUpstream(handler, read_body=False)


def test_chunked_upload_of_256_mib_streams(hop):
    up = chunked_sink()
    hp = start_proxy(hop, up.port)
    block = b"c" * (1 << 20)
    frame = b"%x\r\n" % len(block) + block + b"\r\n"
    with RssSampler(hp.pid) as s, Conn(hp.port, timeout=10) as c:
        c.send(b"POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n")
        for _ in range(256):
            c.sock.sendall(frame)
        c.sock.sendall(b"0\r\n\r\n")
        r = c.read_response()
    assert r.status == 200
    # hop re-chunks: at least the payload, plus a small framing overhead per chunk.
    assert 256 << 20 < int(r.body) < (256 << 20) * 1.01
    print(f"peak RSS {s.peak} KiB")
    assert s.peak < RSS_LIMIT_KIB
    up.close()




def test_hop_backend_answers_a_long_pipelined_burst(hop):
    backend = hop.backend("pipe")
    with Conn(backend.port, timeout=2) as c:
        c.send(b"GET /health HTTP/1.1\r\nHost: a\r\n\r\n" * 40)
        answered = 0
        try:
            for _ in range(40):
                c.read_response()
                answered += 1
        except OSError:
            pass
    assert answered == 40


def test_chunked_download_of_256_mib_streams(hop):
    block = b"d" * (1 << 20)
    frame = b"%x\r\n" % len(block) + block + b"\r\n"

    def handler(c, req, idx):
        c.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        for _ in range(256):
            c.sendall(frame)
        c.sendall(b"0\r\n\r\n")

    up = ScriptedUpstream(handler)
    hp = start_proxy(hop, up.port)
    with RssSampler(hp.pid) as s, Conn(hp.port, timeout=10) as c:
        r = c.request("GET", "/")
    assert len(r.body) == 256 << 20
    print(f"peak RSS {s.peak} KiB")
    assert s.peak < RSS_LIMIT_KIB
    up.close()


def test_slow_reader_applies_backpressure_to_upstream(hop):
    backend = hop.backend("big")
    hp = start_proxy(hop, backend.port)
    c = Conn(hp.port, timeout=10)
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    c.send(b"GET /bytes/%d HTTP/1.1\r\nHost: a\r\n\r\n" % GIB)
    time.sleep(1.5)  # read nothing: hop must stop reading the upstream, not buffer it
    assert rss_kib(hp.pid) < RSS_LIMIT_KIB
    got = 0
    buf = bytearray(1 << 20)
    while got < 64 << 20:  # still flowing after the pause (the socket timeout bounds the wait)
        n = c.sock.recv_into(buf)
        assert n > 0
        got += n
    c.close()


def test_slow_upstream_reader_applies_backpressure_to_client_upload(hop):
    # An origin that takes the head, then reads nothing for a while: hop must stop reading
    # the client instead of buffering the upload.
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    size = 256 << 20
    result = {}

    def origin():
        c, _ = srv.accept()
        head = b""
        while b"\r\n\r\n" not in head:
            head += c.recv(4096)
        got = len(head.split(b"\r\n\r\n", 1)[1])
        time.sleep(1.5)
        buf = bytearray(1 << 20)
        while got < size:
            n = c.recv_into(buf)
            if not n:
                break
            got += n
        result["got"] = got
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        c.close()

    t = threading.Thread(target=origin, daemon=True)
    t.start()
    hp = start_proxy(hop, srv.getsockname()[1])
    sent = [0]
    with RssSampler(hp.pid) as s, Conn(hp.port, timeout=10) as c:
        c.send(b"POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n" % size)
        block = b"u" * (1 << 20)

        def upload():
            for _ in range(size // len(block)):
                c.sock.sendall(block)
                sent[0] += len(block)

        u = threading.Thread(target=upload, daemon=True)
        u.start()
        time.sleep(1.0)
        stalled_at = sent[0]
        assert stalled_at < 64 << 20, f"{stalled_at} bytes accepted while the origin read nothing"
        u.join(15)
        r = c.read_response()
    t.join(5)
    srv.close()
    assert r.status == 200 and result["got"] == size
    print(f"peak RSS {s.peak} KiB, client blocked after {stalled_at >> 20} MiB")
    assert s.peak < RSS_LIMIT_KIB
