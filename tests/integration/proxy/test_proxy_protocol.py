"""PROXY protocol on a listener (hop behind an L4 load balancer such as HAProxy in TCP mode
or an AWS NLB): the header's source address is the client for X-Forwarded-For, the access
log and client-IP hashing; a connection without a valid header is closed unanswered."""
import json
import os
import socket
import ssl
import struct
import time

import pytest

from conftest import simple_config
from proxy_helpers import Conn, curl, free_port, metric

CERTS = os.path.join(os.path.dirname(__file__), "..", "..", "..", "examples", "certs")


def start(hop, echo_backends, extra="proxy_protocol: true"):
    port, admin = free_port(), free_port()
    return hop.run_config(simple_config(port, admin, [echo_backends["alpha"]], listener_extra=extra),
                          port=port, admin=admin)


def v2_tcp4(src, sport, dst="127.0.0.1", dport=80, command=1):
    body = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!HH", sport, dport)
    return b"\r\n\r\n\x00\r\nQUIT\n" + bytes([0x20 | command, 0x11]) + struct.pack("!H", len(body)) + body


def forwarded_for(conn, path="/pp"):
    r = conn.request("GET", path)
    assert r.status == 200, r
    return r.json()["headers"]["x-forwarded-for"]


def h2_get_body(s, scheme):
    """One HTTP/2 GET /h2 over the connected socket s (prior knowledge or ALPN); the body."""
    import h2.config
    import h2.connection
    import h2.events
    c = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    c.initiate_connection()
    c.send_headers(1, [(":method", "GET"), (":path", "/h2"), (":scheme", scheme), (":authority", "example.test")],
                   end_stream=True)
    s.sendall(c.data_to_send())
    body, done = b"", False
    while not done:
        data = s.recv(65536)
        assert data, "closed before the response"
        for e in c.receive_data(data):
            if isinstance(e, h2.events.DataReceived):
                body += e.data
            elif isinstance(e, h2.events.StreamEnded):
                done = True
        s.sendall(c.data_to_send())
    return body


def test_v1_source_is_the_client(hop, echo_backends):
    hp = start(hop, echo_backends)
    with Conn(hp.port) as c:
        c.send(b"PROXY TCP4 203.0.113.9 192.0.2.1 40000 80\r\n")
        assert forwarded_for(c) == "203.0.113.9"
        assert forwarded_for(c, "/again") == "203.0.113.9", "the whole connection is that client's"
    log = hp.access_log(min_lines=2)
    assert [e["client"] for e in log[-2:]] == ["203.0.113.9", "203.0.113.9"], log


def test_v2_ipv4_and_ipv6_and_the_header_split_across_packets(hop, echo_backends):
    hp = start(hop, echo_backends)
    hdr = v2_tcp4("198.51.100.23", 51000)
    with Conn(hp.port) as c:
        for i in range(len(hdr)):  # one byte per packet: hop waits for the rest
            c.send(hdr[i:i + 1])
            time.sleep(0.002)
        assert forwarded_for(c) == "198.51.100.23"
    six = socket.inet_pton(socket.AF_INET6, "2001:db8::42") + socket.inet_pton(socket.AF_INET6, "::1") + \
        struct.pack("!HH", 443, 80)
    hdr6 = b"\r\n\r\n\x00\r\nQUIT\n\x21\x21" + struct.pack("!H", len(six)) + six
    with Conn(hp.port) as c:
        c.send(hdr6 + b"GET /six HTTP/1.1\r\nHost: example.test\r\n\r\n")  # with the request
        r = c.read_response()
        assert r.json()["headers"]["x-forwarded-for"] == "2001:db8::42"


def test_local_and_unknown_keep_the_socket_address(hop, echo_backends):
    """LOCAL (the balancer's own health check) and UNKNOWN name no client."""
    hp = start(hop, echo_backends)
    with Conn(hp.port) as c:
        c.send(v2_tcp4("198.51.100.23", 1, command=0))
        assert forwarded_for(c) == "127.0.0.1"
    with Conn(hp.port) as c:
        c.send(b"PROXY UNKNOWN\r\n")
        assert forwarded_for(c) == "127.0.0.1"


def test_a_connection_without_a_valid_header_is_closed_unanswered(hop, echo_backends):
    hp = start(hop, echo_backends)
    for first in (b"GET / HTTP/1.1\r\nHost: example.test\r\n\r\n",      # no header at all
                  b"PROXY TCP4 203.0.113.9 192.0.2.1 99999 80\r\n",   # malformed
                  b"PROXY TCP4 203.0.113.9 192.0.2.1 1 80\n"):        # bare LF
        with Conn(hp.port) as c:
            c.send(first)
            assert c.is_closed(timeout=3), first
            assert bytes(c.buf) == b"", f"hop answered {bytes(c.buf)!r} to {first!r}"
    assert metric(hp.admin, "hop_downstream_protocol_errors_total", listener="web") >= 3


def test_a_silent_connection_is_closed_at_header_read(hop, echo_backends):
    hp = start(hop, echo_backends, extra="proxy_protocol: true\ntimeouts: { header_read: 1s }")
    with Conn(hp.port) as c:
        c.send(b"PROXY TCP4 203.0")  # and then nothing
        t = time.monotonic()
        assert c.is_closed(timeout=5)
        assert time.monotonic() - t < 4
        assert bytes(c.buf) == b"", f"answered {bytes(c.buf)!r}: the peer may not speak HTTP"


def test_without_proxy_protocol_the_header_is_a_bad_request(hop, echo_backends):
    hp = start(hop, echo_backends, extra="")
    with Conn(hp.port) as c:
        c.send(b"PROXY TCP4 203.0.113.9 192.0.2.1 40000 80\r\nGET / HTTP/1.1\r\nHost: example.test\r\n\r\n")
        assert c.read_response().status == 400


def start_tls(hop, echo_backends, extra=""):
    return start(hop, echo_backends, extra=f"proxy_protocol: true\n{extra}\ntls:\n  certificates:\n"
                 f"    - {{ cert: {CERTS}/localhost.pem, key: {CERTS}/localhost-key.pem }}\n")


def tls_client_ctx(alpn=("http/1.1",)):
    ctx = ssl.create_default_context(cafile=os.path.join(CERTS, "ca.pem"))
    ctx.set_alpn_protocols(list(alpn))
    return ctx


def test_tls_listener_reads_the_header_before_the_handshake(hop, echo_backends):
    hp = start_tls(hop, echo_backends)
    raw = socket.create_connection(("127.0.0.1", hp.port), timeout=5)
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    hdr = b"PROXY TCP4 203.0.113.9 192.0.2.1 40000 443\r\n"
    for i in range(len(hdr)):  # one byte per packet: hop waits for the rest
        raw.send(hdr[i:i + 1])
        time.sleep(0.002)
    with Conn(sock=tls_client_ctx().wrap_socket(raw, server_hostname="localhost")) as c:
        assert forwarded_for(c) == "203.0.113.9"
        assert forwarded_for(c, "/again") == "203.0.113.9"
    log = hp.access_log(min_lines=2)
    assert [e["client"] for e in log[-2:]] == ["203.0.113.9", "203.0.113.9"], log


def test_tls_header_and_client_hello_in_one_segment(hop, echo_backends):
    """A balancer sends the header and the client's first flight together: hop must take
    exactly the header off the socket and leave every byte of the ClientHello to TLS."""
    hp = start_tls(hop, echo_backends)
    for hdr in (v2_tcp4("198.51.100.23", 51000, dport=443), b"PROXY TCP4 198.51.100.23 192.0.2.1 1 443\r\n"):
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = tls_client_ctx().wrap_bio(incoming, outgoing, server_hostname="localhost")
        with pytest.raises(ssl.SSLWantReadError):
            tls.do_handshake()
        s = socket.create_connection(("127.0.0.1", hp.port), timeout=5)
        try:
            s.sendall(hdr + outgoing.read())  # one send: header and ClientHello
            request = b"GET /one HTTP/1.1\r\nHost: example.test\r\n\r\n"
            wrote, answer = False, b""
            while not answer.endswith(b"}\n"):  # the echo backend's JSON body
                try:
                    if not wrote:
                        tls.do_handshake()
                        tls.write(request)
                        wrote = True
                    answer += tls.read(65536)
                    continue
                except ssl.SSLWantReadError:
                    pass
                if outgoing.pending:
                    s.sendall(outgoing.read())
                data = s.recv(65536)
                assert data, f"closed; got {answer!r}"
                incoming.write(data)
            body = json.loads(answer.split(b"\r\n\r\n", 1)[1])
            assert body["headers"]["x-forwarded-for"] == "198.51.100.23", answer
        finally:
            s.close()


def test_tls_h2_over_alpn_after_the_header(hop, echo_backends):
    hp = start_tls(hop, echo_backends, extra="http2: { enabled: true }")
    raw = socket.create_connection(("127.0.0.1", hp.port), timeout=5)
    raw.sendall(b"PROXY TCP6 2001:db8::7 2001:db8::1 40000 443\r\n")
    s = tls_client_ctx(("h2",)).wrap_socket(raw, server_hostname="localhost")
    try:
        assert s.selected_alpn_protocol() == "h2"
        assert json.loads(h2_get_body(s, "https"))["headers"]["x-forwarded-for"] == "2001:db8::7"
    finally:
        s.close()


def test_tls_curl_haproxy_protocol_interop(hop, echo_backends):
    """curl's own PROXY v1 sender (--haproxy-protocol), over TLS with HTTP/1.1 and h2."""
    hp = start_tls(hop, echo_backends, extra="http2: { enabled: true }")
    for version in ("--http1.1", "--http2"):
        r = curl("--haproxy-protocol", version, "--cacert", os.path.join(CERTS, "ca.pem"),
                 "--resolve", f"localhost:{hp.port}:127.0.0.1", f"https://localhost:{hp.port}/curl")
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["headers"]["x-forwarded-for"] == "127.0.0.1"


def test_tls_listener_without_a_valid_header_closes_unanswered(hop, echo_backends):
    hp = start_tls(hop, echo_backends, extra="timeouts: { header_read: 1s }")
    # A TLS client that does not send the header: its ClientHello is no PROXY header.
    raw = socket.create_connection(("127.0.0.1", hp.port), timeout=5)
    with pytest.raises((ssl.SSLError, ConnectionResetError, OSError)):
        tls_client_ctx().wrap_socket(raw, server_hostname="localhost")
    raw.close()
    for first in (b"PROXY TCP4 203.0.113.9 192.0.2.1 99999 443\r\n", b"GET / HTTP/1.1\r\n\r\n"):
        with Conn(hp.port) as c:
            c.send(first)
            assert c.is_closed(timeout=3), first
            assert bytes(c.buf) == b"", f"hop answered {bytes(c.buf)!r} to {first!r}"
    assert metric(hp.admin, "hop_downstream_protocol_errors_total", listener="web") >= 3
    with Conn(hp.port) as c:  # half a header, then nothing: the header_read timeout
        c.send(b"PROXY TCP4 203.0")
        t = time.monotonic()
        assert c.is_closed(timeout=5)
        assert time.monotonic() - t < 4
        assert bytes(c.buf) == b""
    with Conn(hp.port) as c:  # half a header, then the client's FIN: closed at once
        c.send(b"PROXY TCP4 203.0")
        c.sock.shutdown(socket.SHUT_WR)
        t = time.monotonic()
        assert c.is_closed(timeout=5)
        assert time.monotonic() - t < 0.5


def test_h2c_after_the_header_sees_the_same_client(hop, echo_backends):
    hp = start(hop, echo_backends)
    s = socket.create_connection(("127.0.0.1", hp.port), timeout=5)
    try:
        s.sendall(b"PROXY TCP4 203.0.113.77 192.0.2.1 40000 80\r\n")
        assert json.loads(h2_get_body(s, "http"))["headers"]["x-forwarded-for"] == "203.0.113.77"
    finally:
        s.close()


def test_only_the_first_bytes_of_a_connection_can_name_the_client(hop, echo_backends):
    """A PROXY line later on the connection is no header (a client cannot re-spoof
    itself): it is a malformed request, and the client stays what the balancer said."""
    hp = start(hop, echo_backends)
    with Conn(hp.port) as c:
        c.send(b"PROXY TCP4 203.0.113.9 192.0.2.1 40000 80\r\n"
               b"GET /a HTTP/1.1\r\nHost: example.test\r\n\r\nGET /b HTTP/1.1\r\nHost: example.test\r\n\r\n")
        assert c.read_response().json()["headers"]["x-forwarded-for"] == "203.0.113.9"
        assert c.read_response().json()["headers"]["x-forwarded-for"] == "203.0.113.9"  # pipelined
        c.send(b"PROXY TCP4 198.51.100.1 192.0.2.1 1 80\r\nGET /c HTTP/1.1\r\nHost: example.test\r\n\r\n")
        assert c.read_response().status == 400
