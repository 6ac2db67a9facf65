"""PROXY protocol on a listener (hop behind an L4 load balancer such as HAProxy in TCP mode
or an AWS NLB): the header's source address is the client for X-Forwarded-For, the access
log and client-IP hashing; a connection without a valid header is closed unanswered."""
import socket
import struct
import time

from conftest import simple_config
from proxy_helpers import Conn, free_port, metric


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


def test_proxy_protocol_on_a_tls_listener_is_refused_for_now(hop):
    cfg = simple_config(free_port(), free_port(), [free_port()],
                        listener_extra="proxy_protocol: true\ntls: { cert: c.pem, key: k.pem }")
    rc, out, path = hop.check(cfg)
    assert rc != 0 and "proxy_protocol is only supported on cleartext listeners" in out, out


def test_h2c_after_the_header_sees_the_same_client(hop, echo_backends):
    import json
    import h2.config
    import h2.connection
    import h2.events
    hp = start(hop, echo_backends)
    s = socket.create_connection(("127.0.0.1", hp.port), timeout=5)
    try:
        s.sendall(b"PROXY TCP4 203.0.113.77 192.0.2.1 40000 80\r\n")
        c = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        c.initiate_connection()
        c.send_headers(1, [(":method", "GET"), (":path", "/h2"), (":scheme", "http"), (":authority", "example.test")],
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
        assert json.loads(body)["headers"]["x-forwarded-for"] == "203.0.113.77"
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
