"""Trailer fields of a chunked response from an HTTP/1.1 upstream reach an HTTP/1.1 client
(re-chunked), minus the fields that must not travel as trailers."""
from conftest import simple_config
from proxy_helpers import Conn, ScriptedUpstream, free_port

TRAILED = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Checksum\r\n\r\n"
           b"5\r\nhello\r\n6\r\n world\r\n0\r\n"
           b"X-Checksum: sha256=abc\r\nContent-Length: 99\r\nServer-Timing: db;dur=5\r\n\r\n")


def answer(conn, req, idx):
    conn.sendall(TRAILED if b"/bad" not in req else TRAILED.replace(b"X-Checksum: sha", b"X Checksum: sha"))
    return True


def raw_response(port, path):
    """The response's bytes up to the end of its chunked body (last chunk and trailers)."""
    with Conn(port, timeout=5) as c:
        c.send(b"GET " + path + b" HTTP/1.1\r\nHost: a\r\n\r\n")
        data = b""
        while True:
            chunk = c.sock.recv(65536)
            assert chunk, data
            data += chunk
            if b"\r\n\r\n" not in data:
                continue
            body = data.split(b"\r\n\r\n", 1)[1]
            last = body.find(b"\r\n0\r\n")
            if last < 0:
                continue
            tail = body[last + 5:]  # after the last chunk's size line
            if tail.startswith(b"\r\n") or b"\r\n\r\n" in tail:
                return data


def test_trailers_from_a_chunked_upstream_reach_an_http11_client(hop):
    up = ScriptedUpstream(answer)
    port, admin = free_port(), free_port()
    hop.run_config(simple_config(port, admin, [up.port]), port=port, admin=admin)
    data = raw_response(port, b"/")
    head, body = data.split(b"\r\n\r\n", 1)
    assert b"Transfer-Encoding: chunked" in head
    chunks, trailer = body.split(b"\r\n0\r\n", 1)
    assert trailer == b"X-Checksum: sha256=abc\r\nServer-Timing: db;dur=5\r\n\r\n", trailer  # Content-Length dropped
    assert b"hello" in chunks and b" world" in chunks


def test_a_malformed_trailer_section_is_left_behind(hop):
    up = ScriptedUpstream(answer)
    port, admin = free_port(), free_port()
    hop.run_config(simple_config(port, admin, [up.port]), port=port, admin=admin)
    data = raw_response(port, b"/bad")
    body = data.split(b"\r\n\r\n", 1)[1]
    assert body.endswith(b"\r\n0\r\n\r\n"), body  # the body, then no trailer lines at all
