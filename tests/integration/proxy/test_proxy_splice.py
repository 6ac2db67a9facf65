"""Large response bodies are relayed with splice(2) (listener `splice`, on by default):
upstream socket → pipe → client socket, never through hop's buffers. The bytes must be the
same as the buffered path's, in order, however fast or slow either side is, and a body cut
on either side must end the client's connection, not hang it or leak the pipe."""
import hashlib
import os
import re
import socket
import time

from conftest import simple_config
from http_raw import metric
from proxy_helpers import Conn, ScriptedUpstream, free_port

SPLICED = "hop_downstream_spliced_bytes_total"


def body_for(size):
    # Deterministic per size, but not periodic: a misplaced or repeated chunk changes the hash.
    out, seed = bytearray(), size.to_bytes(8, "big")
    while len(out) < size:
        seed = hashlib.sha256(seed).digest()
        out += seed * 64
    return bytes(out[:size])


def sized_bodies(conn, req, idx):
    """GET /size/N answers N bytes with Content-Length; /cut/N/M promises N and sends M."""
    path = req.split(b" ", 2)[1].decode()
    m = re.match(r"/(size|cut|extra)/(\d+)(?:/(\d+))?", path)
    size = int(m.group(2))
    if m.group(1) == "extra":  # the body, then a whole second response nobody asked for, in one write
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size + body_for(size) +
                     b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nEVIL")
        return True
    send = int(m.group(3)) if m.group(1) == "cut" else size
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size)
    conn.sendall(body_for(size)[:send])
    return m.group(1) == "size"  # a cut body closes the upstream connection


def start(hop, upstream, splice=True, cluster_extra=""):
    port, admin = free_port(), free_port()
    extra = "" if splice else "splice: false"
    return hop.run_config(simple_config(port, admin, [upstream.port], listener_extra=extra, access_log="off",
                                        cluster_extra=cluster_extra), port=port, admin=admin)


def read_body(c, size, chunk=1 << 20, pause=0.0):
    """Reads the rest of a response of `size` bytes after read_response's head."""
    got = bytearray()
    while len(got) < size:
        data = c.sock.recv(min(chunk, size - len(got)))
        if not data:
            break
        got += data
        if pause:
            time.sleep(pause)
    return bytes(got)


def get_head(c, path):
    c.send(b"GET " + path.encode() + b" HTTP/1.1\r\nHost: a\r\n\r\n")
    head = b""
    while b"\r\n\r\n" not in head:
        data = c.sock.recv(1)  # byte by byte: nothing of the body is taken with the head
        assert data, "closed before the head"
        head += data
    return head


def test_bodies_of_every_size_arrive_intact_on_one_connection(hop):
    up = ScriptedUpstream(sized_bodies)
    hp = start(hop, up)
    sizes = [10, 65535, 65536, 65537, 1_000_003, 5 * 1024 * 1024 + 11, 100]
    with Conn(hp.port, timeout=20) as c:
        for size in sizes:
            before = metric(hp.admin, SPLICED)
            head = get_head(c, f"/size/{size}")
            assert b" 200 " in head.split(b"\r\n")[0] and b"Content-Length: %d" % size in head
            body = read_body(c, size)
            assert len(body) == size and body == body_for(size), f"size {size}: body differs"
            spliced = metric(hp.admin, SPLICED) - before
            if size >= 128 * 1024:
                # All but what came with the head in hop's first read from the upstream.
                assert spliced >= size - 64 * 1024, (size, spliced)
            elif size < 64 * 1024:
                assert spliced == 0, (size, spliced)
    assert up.connections == 1  # the upstream connection went back to the pool each time


def test_splice_off_relays_the_same_bytes_through_the_buffer(hop):
    up = ScriptedUpstream(sized_bodies)
    hp = start(hop, up, splice=False)
    with Conn(hp.port, timeout=20) as c:
        for size in (1_000_003, 3 * 1024 * 1024):
            get_head(c, f"/size/{size}")
            assert read_body(c, size) == body_for(size)
    assert metric(hp.admin, SPLICED) == 0


def test_a_slow_client_gets_the_whole_body(hop):
    up = ScriptedUpstream(sized_bodies)
    hp = start(hop, up)
    size = 3 * 1024 * 1024 + 5
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)  # the pipe fills, hop waits for room
    s.connect(("127.0.0.1", hp.port))
    with Conn(sock=s, timeout=20) as c:
        get_head(c, f"/size/{size}")
        body = read_body(c, size, chunk=32 * 1024, pause=0.0005)
    assert body == body_for(size)
    assert metric(hp.admin, SPLICED) > 0


def test_an_upstream_that_cuts_the_body_cuts_the_client(hop):
    up = ScriptedUpstream(sized_bodies)
    hp = start(hop, up)
    size, sent = 2_000_000, 700_000
    with Conn(hp.port, timeout=10) as c:
        head = get_head(c, f"/cut/{size}/{sent}")
        assert b"Content-Length: %d" % size in head
        body = read_body(c, size)
        # The client sees a short body and the connection closed: never a body made up.
        assert len(body) == sent and body == body_for(size)[:sent]
    with Conn(hp.port, timeout=10) as c:  # and hop goes on serving
        get_head(c, "/size/200000")
        assert read_body(c, 200000) == body_for(200000)


def test_bytes_past_the_content_length_never_reach_the_next_request(hop):
    # A spliced body stops at its Content-Length; what the upstream sent after it must
    # retire that upstream connection, not wait in its socket for the next request.
    up = ScriptedUpstream(sized_bodies)
    hp = start(hop, up)
    for _ in range(3):
        with Conn(hp.port, timeout=10) as c:
            get_head(c, "/extra/300000")
            assert read_body(c, 300000) == body_for(300000)
        with Conn(hp.port, timeout=10) as c:
            head = get_head(c, "/size/70000")
            assert b"Content-Length: 70000" in head, head
            assert read_body(c, 70000) == body_for(70000)
    assert metric(hp.admin, SPLICED) > 0
    assert up.connections >= 4  # every /extra connection was retired


def test_bytes_past_the_content_length_never_reach_a_waiting_request(hop):
    # With one upstream connection, the next request waits in the pool and is handed the
    # connection the moment the spliced body ends: the stray bytes must retire it first.
    up = ScriptedUpstream(sized_bodies)
    hp = start(hop, up, cluster_extra="pool: { max_connections: 1 }")
    with Conn(hp.port, timeout=10) as a, Conn(hp.port, timeout=10) as b:
        get_head(a, "/extra/3000000")
        b.send(b"GET /size/70000 HTTP/1.1\r\nHost: a\r\n\r\n")  # queued behind a's response
        time.sleep(0.2)
        assert read_body(a, 3000000) == body_for(3000000)
        r = b.read_response()
        assert r.status == 200 and r.body == body_for(70000), r
    assert up.connections == 2


def open_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def test_clients_that_leave_mid_body_leak_no_pipes(hop):
    up = ScriptedUpstream(sized_bodies)
    hp = start(hop, up)
    with Conn(hp.port, timeout=10) as c:  # warm: pools and the first pipes exist
        get_head(c, "/size/300000")
        read_body(c, 300000)
    base = open_fds(hp.pid)
    for _ in range(40):
        with Conn(hp.port, timeout=10) as c:
            get_head(c, "/size/4000000")
            read_body(c, 200_000)  # then leave with most of the body (and the pipe) in flight
    time.sleep(0.5)
    with Conn(hp.port, timeout=10) as c:
        get_head(c, "/size/300000")
        assert read_body(c, 300000) == body_for(300000)
    # Pipes left with bytes in them are closed; at most PipePool::kMaxSpare (16) are kept.
    # Upstream connections cut mid-body are closed too, so only a few pooled ones remain.
    assert open_fds(hp.pid) <= base + 2 * 16 + 4, (base, open_fds(hp.pid))


def test_a_spliced_response_leaves_its_upstream_connection_poolable(hop):
    """The end of a spliced body checks the upstream socket is drained; when it is, the
    connection goes back to the pool (large downloads must not pay a connect each)."""
    up = ScriptedUpstream(sized_bodies)
    hp = start(hop, up)
    for _ in range(4):
        with Conn(hp.port) as c:
            c.send(b"GET /size/1048576 HTTP/1.1\r\nHost: t\r\n\r\n")
            assert hashlib.sha256(c.read_response().body).digest() == hashlib.sha256(body_for(1048576)).digest()
    assert metric(hp.admin, SPLICED, listener="web") >= 4 * (1048576 - 65536)  # the first bytes come with the head
    assert up.connections == 1
    up.close()
