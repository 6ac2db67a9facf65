"""HTTP/1.1 on both sides (RFC 9112): keep-alive, pipelining, chunked, 100-continue,
bodyless responses, hop-by-hop stripping and the forwarding headers."""
import time

import pytest

from conftest import simple_config
from proxy_helpers import Conn, ScriptedUpstream, curl, free_port, get, metric


def test_keep_alive_serves_many_requests_on_one_connection(proxy):
    with Conn(proxy.port) as c:
        for i in range(20):
            r = c.request("GET", f"/ka/{i}")
            assert r.status == 200
            assert r.json()["path"] == f"/ka/{i}"
            assert r.header("connection") is None or r.header("connection").lower() != "close"
        assert not c.is_closed(timeout=0.3)
    log = proxy.access_log(min_lines=20)
    assert sum(1 for e in log if e["path"].startswith("/ka/")) == 20


def test_curl_keep_alive_reuses_client_connection(proxy):
    url = f"http://127.0.0.1:{proxy.port}/curl"
    r = curl("-v", url, url, url)
    assert r.returncode == 0
    assert r.stderr.count(b"Re-using existing connection") + r.stderr.count(b"Reusing existing connection") == 2


def test_pipelined_requests_answered_in_order(proxy):
    with Conn(proxy.port) as c:
        # The slowest first: an out-of-order proxy would answer /fast before /delay/300.
        c.send(b"GET /delay/300 HTTP/1.1\r\nHost: a\r\n\r\n"
               b"GET /fast HTTP/1.1\r\nHost: a\r\n\r\n"
               b"POST /post HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"
               b"GET /delay/100 HTTP/1.1\r\nHost: a\r\n\r\n")
        paths = [c.read_response().json()["path"] for _ in range(4)]
    assert paths == ["/delay/300", "/fast", "/post", "/delay/100"]


def test_chunked_request_body_is_forwarded_chunked(proxy):
    with Conn(proxy.port) as c:
        c.send(b"POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n")
        r = c.read_response()
        assert r.status == 200
        j = r.json()
        assert j["body_bytes"] == 11
        assert j["headers"].get("transfer-encoding") == "chunked"
        assert "content-length" not in j["headers"]
        # The connection stays usable after a chunked body.
        assert c.request("GET", "/after").json()["path"] == "/after"


def test_chunked_request_body_sent_in_pieces(proxy):
    with Conn(proxy.port) as c:
        c.send(b"POST /slow HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n")
        for piece in (b"4\r\n", b"ab", b"cd\r\n", b"3\r", b"\nxyz\r\n", b"0\r\n", b"\r\n"):
            time.sleep(0.02)
            c.send(piece)
        assert c.read_response().json()["body_bytes"] == 7


def chunked_origin():
    def handler(c, req, idx):
        c.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Origin: chunked\r\n\r\n"
                  b"3\r\nabc\r\n1a;name=v\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nX-Trailer: t\r\n\r\n")
    return ScriptedUpstream(handler)


def test_chunked_response_reaches_http11_client_chunked(hop):
    up = chunked_origin()
    port, admin = free_port(), free_port()
    hop.run_config(simple_config(port, admin, [up.port]), port=port, admin=admin)
    with Conn(port) as c:
        for _ in range(3):
            r = c.request("GET", "/c")
            assert r.status == 200
            assert r.header("transfer-encoding") == "chunked"
            assert r.body == b"abc" + b"abcdefghijklmnopqrstuvwxyz"
    up.close()


def test_chunked_response_to_http10_client_is_delimited_by_close(hop):
    up = chunked_origin()
    port, admin = free_port(), free_port()
    hop.run_config(simple_config(port, admin, [up.port]), port=port, admin=admin)
    with Conn(port) as c:
        c.send(b"GET /c HTTP/1.0\r\nHost: a\r\n\r\n")
        r = c.read_response()
        assert r.status == 200
        assert r.header("transfer-encoding") is None
        assert r.body == b"abcabcdefghijklmnopqrstuvwxyz"
    up.close()


def test_close_delimited_upstream_body_is_rechunked_for_http11_client(hop):
    def handler(c, req, idx):
        c.sendall(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil-close body")
        return False

    up = ScriptedUpstream(handler)
    port, admin = free_port(), free_port()
    hop.run_config(simple_config(port, admin, [up.port]), port=port, admin=admin)
    with Conn(port) as c:
        r = c.request("GET", "/")
        assert r.body == b"until-close body"
        assert r.header("transfer-encoding") == "chunked"
        assert c.request("GET", "/again").body == b"until-close body"
    up.close()


def test_expect_100_continue_gets_interim_response_before_body(proxy):
    with Conn(proxy.port) as c:
        c.send(b"POST /e HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\nExpect: 100-continue\r\n\r\n")
        interim = c.read_response(skip_1xx=False)
        assert interim.status == 100
        c.send(b"0123456789")
        r = c.read_response()
        assert r.status == 200
        j = r.json()
        assert j["body_bytes"] == 10
        assert "expect" not in j["headers"]


def test_curl_expect_100_continue_upload(proxy, tmp_path):
    f = tmp_path / "up.bin"
    f.write_bytes(b"x" * 200000)
    r = curl("-v", "-H", "Expect: 100-continue", "--data-binary", f"@{f}", f"http://127.0.0.1:{proxy.port}/up")
    assert r.returncode == 0, r.stderr
    assert b"HTTP/1.1 100 Continue" in r.stderr
    assert b'"body_bytes":200000' in r.stdout


def test_head_response_has_no_body_and_keeps_content_length(proxy):
    with Conn(proxy.port) as c:
        r = c.request("HEAD", "/bytes/5000")
        assert r.status == 200
        assert r.header("content-length") == "5000"
        # A body after the HEAD response would be read as the next response's start.
        r2 = c.request("GET", "/next")
        assert r2.status == 200 and r2.json()["path"] == "/next"


def test_204_and_304_have_no_body(proxy):
    with Conn(proxy.port) as c:
        for code in (204, 304, 204):
            r = c.request("GET", f"/status/{code}")
            assert r.status == code
            assert r.header("transfer-encoding") is None
        assert c.request("GET", "/after").json()["path"] == "/after"


def test_hop_by_hop_and_connection_listed_headers_are_not_forwarded(proxy):
    with Conn(proxy.port) as c:
        c.send(b"GET /h HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, X-Secret\r\nX-Secret: s\r\n"
               b"Keep-Alive: timeout=5\r\nTE: trailers\r\nProxy-Connection: keep-alive\r\nUpgrade: foo\r\n"
               b"Trailer: x\r\nX-Kept: k\r\n\r\n")
        h = c.read_response().json()["headers"]
    for gone in ("connection", "x-secret", "keep-alive", "te", "proxy-connection", "upgrade", "trailer"):
        assert gone not in h, (gone, h)
    assert h["x-kept"] == "k"


def test_hop_by_hop_response_headers_are_not_returned(hop):
    def handler(c, req, idx):
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: X-Internal\r\nX-Internal: 1\r\n"
                  b"Keep-Alive: timeout=3\r\nX-Public: 2\r\n\r\nok")

    up = ScriptedUpstream(handler)
    port, admin = free_port(), free_port()
    hop.run_config(simple_config(port, admin, [up.port]), port=port, admin=admin)
    r = get(port, "/")
    assert r.body == b"ok"
    assert r.header("x-internal") is None and r.header("keep-alive") is None
    assert r.header("x-public") == "2"
    up.close()


def test_forwarding_headers_added(proxy):
    r = get(proxy.port, "/fwd", headers={"X-Forwarded-For": "203.0.113.7", "Via": "1.0 edge",
                                         "X-Forwarded-Proto": "https"})
    h = r.json()["headers"]
    assert h["x-forwarded-for"] == "203.0.113.7, 127.0.0.1"
    assert h["x-forwarded-proto"] == "http"
    assert h["via"] == "1.0 edge, 1.1 hop"
    assert "1.1 hop" in r.header("via")
    plain = get(proxy.port, "/fwd").json()["headers"]
    assert plain["x-forwarded-for"] == "127.0.0.1"
    assert plain["via"] == "1.1 hop"


def test_http10_client_without_keep_alive_is_closed_after_response(proxy):
    with Conn(proxy.port) as c:
        c.send(b"GET /ten HTTP/1.0\r\n\r\n")
        r = c.read_response()
        assert r.status == 200 and r.json()["path"] == "/ten"
        assert c.is_closed()


def test_connection_close_request_closes_after_response(proxy):
    with Conn(proxy.port) as c:
        c.send(b"GET /bye HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        r = c.read_response()
        assert r.status == 200
        assert r.header("connection").lower() == "close"
        assert c.is_closed()


def test_upstream_keep_alive_reused_across_client_connections(proxy):
    before = metric(proxy.admin, "hop_upstream_connections_reused_total")
    for i in range(10):
        assert get(proxy.port, f"/r{i}").status == 200
    after = metric(proxy.admin, "hop_upstream_connections_reused_total")
    assert after - before >= 8
    log = proxy.access_log(min_lines=10)
    assert sum(1 for e in log if e.get("upstream_reused")) >= 8


def test_request_head_arriving_in_pieces(proxy):
    with Conn(proxy.port) as c:
        for piece in (b"GE", b"T /pie", b"ces HTTP/1.1\r", b"\nHost: a\r\nX-A:", b" b\r\n", b"\r", b"\n"):
            c.send(piece)
            time.sleep(0.03)
        r = c.read_response()
        assert r.json()["path"] == "/pieces" and r.json()["headers"]["x-a"] == "b"




def test_response_head_split_across_upstream_segments(hop):
    def handler(c, req, idx):
        c.sendall(b"HTTP/1.1 200 OK\r\n")
        time.sleep(0.1)
        c.sendall(b"Content-Length: 2\r\n\r\nok")

    up = ScriptedUpstream(handler)
    port, admin = free_port(), free_port()
    hop.run_config(simple_config(port, admin, [up.port]), port=port, admin=admin)
    r = get(port, "/", timeout=3)
    assert r.status == 200 and r.body == b"ok"
    up.close()




def test_long_pipelined_burst_of_direct_responses_all_answered(hop):
    port, admin = free_port(), free_port()
    routes = '      - direct: { status: 200, body: "d" }\n'
    hop.run_config(simple_config(port, admin, [1], routes=routes), port=port, admin=admin)
    with Conn(port, timeout=3) as c:
        c.send(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n" * 100)
        answered = 0
        try:
            for _ in range(100):
                assert c.read_response().body == b"d"
                answered += 1
        except OSError:
            pass
    assert answered == 100


def test_long_pipelined_burst_of_proxied_requests_all_answered(proxy):
    with Conn(proxy.port, timeout=5) as c:
        c.send(b"".join(b"GET /p%d HTTP/1.1\r\nHost: a\r\n\r\n" % i for i in range(200)))
        paths = [c.read_response().json()["path"] for _ in range(200)]
    assert paths == [f"/p{i}" for i in range(200)]


def test_repeated_forwarding_header_lines_are_all_kept(proxy):
    with Conn(proxy.port) as c:
        c.send(b"GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 192.0.2.1\r\nX-Forwarded-For: 192.0.2.2\r\n"
               b"Via: 1.1 first\r\nVia: 1.1 second\r\n\r\n")
        h = c.read_response().json()["headers"]
    assert h["x-forwarded-for"] == "192.0.2.1, 192.0.2.2, 127.0.0.1"
    assert h["via"] == "1.1 first, 1.1 second, 1.1 hop"


def test_no_100_continue_for_http10_client(proxy):
    with Conn(proxy.port) as c:
        c.send(b"POST /e HTTP/1.0\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n")
        time.sleep(0.3)
        c.send(b"abc")
        r = c.read_response(skip_1xx=False)
    assert r.status == 200


def test_transfer_encoding_is_case_insensitive(proxy):
    for te in (b"Chunked", b"CHUNKED", b"chunked "):
        with Conn(proxy.port) as c:
            c.send(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: " + te + b"\r\n\r\n3\r\nabc\r\n0\r\n\r\n")
            assert c.read_response().json()["body_bytes"] == 3


def test_request_trailers_are_not_forwarded_but_body_is(proxy):
    with Conn(proxy.port) as c:
        c.send(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-Trailer: 1\r\n\r\n")
        j = c.read_response().json()
        assert j["body_bytes"] == 3
        assert c.request("GET", "/next").status == 200


def test_early_hints_forwarded_to_http11_client(hop):
    def handler(c, req, idx):
        c.sendall(b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n"
                  b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

    up = ScriptedUpstream(handler)
    port, admin = free_port(), free_port()
    hop.run_config(simple_config(port, admin, [up.port]), port=port, admin=admin)
    with Conn(port) as c:
        c.send(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        hints = c.read_response(skip_1xx=False)
        assert hints.status == 103 and hints.header("link") == "</a.css>; rel=preload"
        final = c.read_response()
        assert final.status == 200 and final.body == b"ok"
    up.close()


def test_upstream_connection_close_is_not_reused(hop):
    def handler(c, req, idx):
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
        return False

    up = ScriptedUpstream(handler)
    port, admin = free_port(), free_port()
    hop.run_config(simple_config(port, admin, [up.port]), port=port, admin=admin)
    with Conn(port) as c:
        for _ in range(5):
            assert c.request("GET", "/").body == b"ok"
    assert up.connections == 5
    up.close()


def test_upstream_bytes_beyond_content_length_are_dropped_with_the_connection(hop):
    def handler(c, req, idx):
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nEVIL!")

    up = ScriptedUpstream(handler)
    port, admin = free_port(), free_port()
    hop.run_config(simple_config(port, admin, [up.port]), port=port, admin=admin)
    with Conn(port) as c:
        assert c.request("GET", "/1").body == b"ok"
        time.sleep(0.1)
        assert c.request("GET", "/2").body == b"ok"  # never the "EVIL!" left over from the first
    up.close()


def test_304_with_content_length_has_no_body(hop):
    def handler(c, req, idx):
        c.sendall(b"HTTP/1.1 304 Not Modified\r\nContent-Length: 100\r\nETag: \"x\"\r\n\r\n")

    up = ScriptedUpstream(handler)
    port, admin = free_port(), free_port()
    hop.run_config(simple_config(port, admin, [up.port]), port=port, admin=admin)
    with Conn(port, timeout=2) as c:
        r = c.request("GET", "/")
        assert r.status == 304 and r.header("content-length") == "100"
        assert c.request("GET", "/").status == 304
    up.close()


def test_truncated_upstream_body_is_not_passed_off_as_complete(hop):
    def handler(c, req, idx):
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly-part")
        return False

    up = ScriptedUpstream(handler)
    port, admin = free_port(), free_port()
    hop.run_config(simple_config(port, admin, [up.port]), port=port, admin=admin)
    with Conn(port, timeout=3) as c:
        c.send(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        with pytest.raises(EOFError):
            c.read_response()
    up.close()


def test_client_abort_mid_download_leaves_hop_serving(hop):
    def handler(c, req, idx):
        try:
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 10000000\r\n\r\n" + b"x" * 10000000)
        except OSError:
            return False

    up = ScriptedUpstream(handler)
    port, admin = free_port(), free_port()
    hop.run_config(simple_config(port, admin, [up.port]), port=port, admin=admin)
    c = Conn(port)
    c.send(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    c.sock.recv(1000)
    c.close()
    time.sleep(0.2)
    r = get(port, "/")
    assert r.status == 200 and len(r.body) == 10000000
    # The aborted transfer's upstream connection could not be reused.
    assert up.connections == 2
    up.close()




@pytest.mark.parametrize("status,method", [(204, "GET"), (304, "GET"), (200, "HEAD")])
def test_stray_bytes_after_bodyless_response_never_reach_the_client(hop, status, method):
    def handler(c, req, idx):
        c.sendall(b"HTTP/1.1 %d X\r\nContent-Length: 22\r\n\r\nHTTP/1.1 200 SPLIT\r\n\r\n" % status)

    up = ScriptedUpstream(handler)
    port, admin = free_port(), free_port()
    hop.run_config(simple_config(port, admin, [up.port]), port=port, admin=admin)
    with Conn(port, timeout=2) as c:
        c.send(b"%s / HTTP/1.1\r\nHost: a\r\n\r\n" % method.encode())
        time.sleep(0.3)
        c.sock.settimeout(0.3)
        data = c.sock.recv(4096)
    up.close()
    head, _, rest = data.partition(b"\r\n\r\n")
    assert rest == b"", data
    if status == 204:
        assert b"content-length" not in head.lower()


def test_options_on_every_connection_line_are_stripped(proxy):
    with Conn(proxy.port) as c:
        c.send(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: X-Secret\r\nConnection: keep-alive\r\nX-Secret: s\r\n\r\n")
        h = c.read_response().json()["headers"]
    assert "x-secret" not in h, h
