"""Ambiguous or malformed messages are rejected, the connection closed, nothing forwarded
(RFC 9112 §2.2, §5.2, §6.1, §6.3, §7.1); a malformed upstream response becomes a 502."""
import socket
import threading
import time

import pytest

from conftest import simple_config
from proxy_helpers import Conn, ScriptedUpstream, free_port, get, metric, raw_exchange


def ok_handler(c, req, idx):
    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")


@pytest.fixture
def guarded(hop):
    """hop in front of an origin that records every request it receives."""
    up = ScriptedUpstream(ok_handler)
    port, admin = free_port(), free_port()
    hp = hop.run_config(simple_config(port, admin, [up.port]), port=port, admin=admin)
    hp.upstream = up
    yield hp
    up.close()


SMUGGLE = b"GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n"

CASES = {
    "content_length_with_transfer_encoding":
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + SMUGGLE,
         400),
    "transfer_encoding_then_content_length":
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n" + SMUGGLE,
         400),
    "differing_content_lengths":
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 40\r\n\r\nabc" + SMUGGLE, 400),
    "content_length_list_differing": (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 40\r\n\r\nabc", 400),
    "content_length_plus_sign": (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +3\r\n\r\nabc", 400),
    "content_length_negative": (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400),
    "content_length_hex": (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x3\r\n\r\nabc", 400),
    "content_length_overflow":
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999\r\n\r\nabc", 400),
    "transfer_encoding_not_final_chunked": (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
                                            400),
    "transfer_encoding_chunked_twice":
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
         400),
    "transfer_encoding_in_http10": (b"POST / HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    "bare_lf_line_endings": (b"GET / HTTP/1.1\nHost: a\n\n", 400),
    "bare_lf_inside_head": (b"GET / HTTP/1.1\r\nHost: a\nX-A: b\r\n\r\n", 400),
    "bare_cr_in_field": (b"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\rc\r\n\r\n", 400),
    "obs_fold": (b"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n", 400),
    "obs_fold_tab": (b"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n\tc\r\n\r\n", 400),
    "control_char_in_value": (b"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\x01c\r\n\r\n", 400),
    "nul_in_value": (b"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\x00c\r\n\r\n", 400),
    "del_in_value": (b"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\x7fc\r\n\r\n", 400),
    "whitespace_before_colon": (b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length : 3\r\n\r\nabc", 400),
    "space_in_field_name": (b"GET / HTTP/1.1\r\nHost: a\r\nX A: b\r\n\r\n", 400),
    "control_char_in_target": (b"GET /a\x01b HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    "double_space_request_line": (b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    "lowercase_version": (b"GET / http/1.1\r\nHost: a\r\n\r\n", 400),
    "missing_host": (b"GET / HTTP/1.1\r\n\r\n", 400),
    "two_hosts": (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
    "request_line_too_long": (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: a\r\n\r\n", 414),
    "host_with_slash": (b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400),
    "host_with_userinfo": (b"GET / HTTP/1.1\r\nHost: a@b\r\n\r\n", 400),
    "transfer_encoding_unknown": (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n", 400),
    "transfer_encoding_unsupported_coding":
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501),
    "unsupported_expectation": (b"GET / HTTP/1.1\r\nHost: a\r\nExpect: teapot\r\n\r\n", 417),
    "http_version_2": (b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505),
    "invalid_method_char": (b"G@T / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    "headers_too_large": (b"GET / HTTP/1.1\r\nHost: a\r\n" + b"".join(b"X-%d: %s\r\n" % (i, b"v" * 1000)
                                                                     for i in range(20)) + b"\r\n", 431),
    "too_many_headers": (b"GET / HTTP/1.1\r\nHost: a\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(101)) + b"\r\n",
                         431),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_malformed_request_rejected_closed_and_not_forwarded(guarded, name):
    data, status = CASES[name]
    r, closed = raw_exchange(guarded.port, data)
    assert r is not None, "no response before close"
    assert r.status == status, r
    assert closed, "connection left open after a framing error"
    time.sleep(0.1)
    assert guarded.upstream.requests == 0, guarded.upstream.seen


def test_protocol_errors_are_counted(guarded):
    before = metric(guarded.admin, "hop_downstream_protocol_errors_total")
    raw_exchange(guarded.port, CASES["obs_fold"][0])
    raw_exchange(guarded.port, CASES["bare_lf_line_endings"][0])
    assert metric(guarded.admin, "hop_downstream_protocol_errors_total") - before == 2


CHUNK_CASES = {
    "chunk_size_hex_prefix": b"0x5\r\nhello\r\n0\r\n\r\n",
    "chunk_size_not_hex": b"zz\r\nhello\r\n0\r\n\r\n",
    "chunk_size_negative": b"-5\r\nhello\r\n0\r\n\r\n",
    "chunk_size_overflow": b"fffffffffffffffffff\r\nhello\r\n0\r\n\r\n",
    "chunk_size_leading_space": b" 5\r\nhello\r\n0\r\n\r\n",
    "chunk_data_longer_than_size": b"3\r\nhello\r\n0\r\n\r\n",
    "chunk_size_bare_lf": b"5\nhello\r\n0\r\n\r\n",
    "chunk_extension_with_cr": b"5;a=\rb\r\nhello\r\n0\r\n\r\n",
    "chunk_extension_too_long": b"5;" + b"e" * 2000 + b"\r\nhello\r\n0\r\n\r\n",
}


@pytest.mark.parametrize("name", sorted(CHUNK_CASES))
def test_invalid_chunked_request_body_is_400_and_closed(guarded, name):
    data = b"POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n" + CHUNK_CASES[name] + SMUGGLE
    r, closed = raw_exchange(guarded.port, data)
    assert r is not None and r.status == 400, r
    assert closed
    time.sleep(0.1)
    assert not any(b"/smuggled" in s for s in guarded.upstream.seen)


def test_limits_are_configurable(hop, echo_backends):
    port, admin = free_port(), free_port()
    limits = """
        limits:
          max_request_line: 200
          max_head: 4KiB
          max_headers: 5
        """
    hop.run_config(simple_config(port, admin, [echo_backends["alpha"]], listener_extra=limits), port=port, admin=admin)
    assert get(port, "/" + "a" * 150).status == 200
    r, closed = raw_exchange(port, b"GET /" + b"a" * 250 + b" HTTP/1.1\r\nHost: a\r\n\r\n")
    assert r.status == 414 and closed
    assert get(port, "/", headers={f"X-{i}": "v" for i in range(4)}).status == 200
    r, closed = raw_exchange(port, b"GET / HTTP/1.1\r\nHost: a\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(6))
                             + b"\r\n")
    assert r.status == 431 and closed
    r, closed = raw_exchange(port, b"GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + b"v" * 5000 + b"\r\n\r\n")
    assert r.status == 431 and closed


BAD_RESPONSES = {
    "garbage": b"GARBAGE GARBAGE\r\n\r\n",
    "binary_noise": bytes(range(256)) * 4,
    "bare_lf": b"HTTP/1.1 200 OK\nContent-Length: 2\n\nok",
    "content_length_and_transfer_encoding":
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "differing_content_lengths": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok",
    "invalid_content_length": b"HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\nok",
    "status_code_four_digits": b"HTTP/1.1 2000 OK\r\nContent-Length: 2\r\n\r\nok",
    "obs_fold": b"HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\nContent-Length: 2\r\n\r\nok",
    "header_without_colon": b"HTTP/1.1 200 OK\r\nNoColonHere\r\nContent-Length: 2\r\n\r\nok",
    "head_too_large": b"HTTP/1.1 200 OK\r\n" + b"X-Pad: " + b"p" * 70000 + b"\r\n\r\n",
    "http09_style_body": b"<html>hello</html>",
}




@pytest.mark.parametrize("name", sorted(BAD_RESPONSES))
def test_malformed_upstream_response_is_502(hop, name):
    payload = BAD_RESPONSES[name]

    def handler(c, req, idx):
        c.sendall(payload)
        time.sleep(0.2)
        return False

    up = ScriptedUpstream(handler)
    port, admin = free_port(), free_port()
    hop.run_config(simple_config(port, admin, [up.port]), port=port, admin=admin)
    r = get(port, "/", timeout=3)
    assert r.status == 502, r
    expected = ("upstream-protocol-error", "upstream-reset") if name == "http09_style_body" else ("upstream-protocol-error",)
    assert r.header("x-hop-error") in expected
    up.close()


def test_invalid_chunk_in_upstream_response_cuts_client_connection(hop):
    def handler(c, req, idx):
        c.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\nbad\r\n0\r\n\r\n")

    up = ScriptedUpstream(handler)
    port, admin = free_port(), free_port()
    hop.run_config(simple_config(port, admin, [up.port]), port=port, admin=admin)
    with Conn(port) as c:
        c.send(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        with pytest.raises((EOFError, ConnectionResetError, AssertionError, ValueError)):
            c.read_response()  # must never look like a complete message
    up.close()


@pytest.mark.parametrize("data", [
    pytest.param(b"GET /x#frag HTTP/1.1\r\nHost: a\r\n\r\n", id="fragment_in_target"),
    pytest.param(b"GET / HTTP/1.1\r\nHost: a:80:90\r\n\r\n", id="host_with_two_ports"),
])
def test_invalid_target_or_host_rejected(guarded, data):
    r, closed = raw_exchange(guarded.port, data)
    assert r is not None and r.status == 400, r
    assert guarded.upstream.requests == 0


def test_listener_max_connections_holds_excess_clients_until_a_slot_frees(hop, echo_backends):
    port, admin = free_port(), free_port()
    hop.run_config(simple_config(port, admin, [echo_backends["alpha"]], listener_extra="limits: { max_connections: 2 }"),
                   port=port, admin=admin)
    time.sleep(0.2)  # the readiness probe's connection is gone
    first, second = Conn(port), Conn(port)
    assert first.request("GET", "/").status == 200 and second.request("GET", "/").status == 200
    third = Conn(port, timeout=3)
    third.send(b"GET /third HTTP/1.1\r\nHost: a\r\n\r\n")
    third.sock.settimeout(0.5)
    with pytest.raises(OSError):
        third.read_response()  # not served while two connections are open
    third.sock.settimeout(3)
    first.close()
    assert third.read_response().json()["path"] == "/third"
    second.close()
    third.close()


def early_answering_origin():
    """Answers 401 as soon as a request head arrives, without reading the body (as an auth
    check or a 413 would), and records the request lines it is sent."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    seen = []

    def serve(c):
        buf = b""
        try:
            while True:
                while b"\r\n\r\n" not in buf:
                    d = c.recv(65536)
                    if not d:
                        return
                    buf += d
                head, _ = buf.split(b"\r\n\r\n", 1)
                seen.append(head.split(b"\r\n")[0])
                c.sendall(b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 4\r\n\r\nnope")
                buf = b""  # whatever body bytes came along are dropped
        except OSError:
            pass

    def accept():
        while True:
            try:
                c, _ = srv.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(c,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    return srv, seen


def test_rest_of_body_after_early_response_is_never_parsed_as_a_request(hop):
    srv, seen = early_answering_origin()
    port, admin = free_port(), free_port()
    hop.run_config(simple_config(port, admin, [srv.getsockname()[1]]), port=port, admin=admin)
    smuggled = b"GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n"
    body = b"0123456789" + smuggled + b"x" * (200 - len(smuggled))
    with Conn(port, timeout=2) as c:
        c.send(b"POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n" % len(body) + body[:10])
        first = c.read_response()
        assert first.status == 401
        try:
            c.send(body[10:])
        except OSError:
            pass
        time.sleep(0.5)
    srv.close()
    assert seen == [b"POST /upload HTTP/1.1"], seen


def test_upstream_closing_without_a_response_is_502_upstream_reset(hop):
    up = ScriptedUpstream(lambda c, req, idx: False)  # reads the request, closes
    port, admin = free_port(), free_port()
    hop.run_config(simple_config(port, admin, [up.port]), port=port, admin=admin)
    r = get(port, "/")
    assert r.status == 502 and r.header("x-hop-error") == "upstream-reset"
    assert metric(admin, "hop_upstream_resets_total", cluster="app") >= 1
    # A fresh connection that failed is not retried: exactly one attempt reached the origin.
    assert up.requests == 1


def test_max_connections_counts_only_its_own_listener(hop, echo_backends):
    """A busy listener must not stop a small-limit listener from accepting: the limit is
    per listener (10 connections held on `big`; `small` allows 2 and still serves)."""
    port, admin, big = free_port(), free_port(), free_port()
    cfg = simple_config(port, admin, [echo_backends["alpha"]], listener_extra="limits: { max_connections: 2 }")
    cfg = cfg.replace("clusters:\n", f"  - name: big\n    address: 127.0.0.1:{big}\n"
                      "    routes:\n      - match: {{ prefix: / }}\n        cluster: app\n".replace("{{", "{").replace("}}", "}")
                      + "clusters:\n", 1)
    hop.run_config(cfg, port=port, admin=admin)
    time.sleep(0.2)
    held = [Conn(big) for _ in range(10)]
    try:
        for c in held:
            assert c.request("GET", "/").status == 200
        with Conn(port, timeout=3) as small:
            assert small.request("GET", "/small").status == 200
    finally:
        for c in held:
            c.close()
