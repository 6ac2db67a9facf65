"""An HTTP/2 client gets the trailers an HTTP/1.1 upstream sent after its chunked body, as
a trailing HEADERS frame with lowercase names, minus fields that must not be trailers."""
import socket
import threading

from h2_helpers import H2Client, free_port
from http_raw import read_through_head


def chunked_upstream_with_trailers():
    """Answers every request on every connection with a chunked body and trailers."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", free_port()))
    sock.listen(8)

    def serve(c):
        with c:
            buf = b""
            while True:
                buf = read_through_head(c, buf)
                if buf is None:
                    return
                buf = buf.split(b"\r\n\r\n", 1)[1]
                c.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/plain\r\n\r\n"
                          b"5\r\nhello\r\n0\r\nX-Checksum: sha256=abc\r\nConnection: close\r\nGrpc-Status: 0\r\n\r\n")

    def accept():
        while True:
            try:
                c, _ = sock.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(c,), daemon=True).start()
    threading.Thread(target=accept, daemon=True).start()
    return sock


def test_trailers_from_a_chunked_http11_upstream_reach_the_h2_client(hop):
    up = chunked_upstream_with_trailers()
    try:
        hp = hop.start(protocol="h1", upstream_port=up.getsockname()[1])
        with H2Client(hp.port) as c:
            r = c.request("GET", "/trailers")
        assert r.status == 200 and bytes(r.body) == b"hello", r
        assert dict(r.trailers) == {"x-checksum": "sha256=abc", "grpc-status": "0"}, r.trailers
    finally:
        up.close()
