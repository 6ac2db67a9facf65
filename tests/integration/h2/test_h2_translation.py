"""Protocol translation through hop, any client protocol to any upstream protocol.

Clients: HTTP/1.1 (http.client), h2c prior knowledge and h2 over TLS (python3-h2).
Upstreams: the built-in backend over HTTP/1.1 (cluster protocol h1) and h2c (protocol h2c).
"""
import json
import socket
import time

import pytest

from h2_helpers import PREFACE, FirstBytesUpstream, H2Client, h1_request
from hop_ports import wait_until
from http_raw import metric

CLIENTS = ["h1", "h2c", "h2"]
UPSTREAMS = ["h1", "h2c"]
MIB = 1 << 20


@pytest.fixture(scope="module")
def stacks(module_hop):
    """One hop per upstream protocol, each with a cleartext (h1 + h2c) and a TLS listener."""
    return {proto: module_hop.start(protocol=proto, tls=True) for proto in UPSTREAMS}


def call(hp, client, method="GET", path="/", headers=(), body=None, timeout=15.0):
    """(status, headers as list of (lowercase name, value), body bytes, trailers)."""
    if client == "h1":
        h = {"Host": "example.test"}
        h.update(dict(headers))
        r = h1_request(hp.port, method, path, headers=h, body=body, timeout=timeout)
        return r.status, [(k.lower(), v) for k, v in r.headers], r.body, []
    with H2Client(hp.tls_port if client == "h2" else hp.port, tls=client == "h2") as c:
        r = c.request(method, path, headers=headers, body=body, timeout=timeout)
        assert r.reset is None, f"stream reset {r}"
        return r.status, r.headers, bytes(r.body), r.trailers


@pytest.mark.parametrize("upstream", UPSTREAMS)
def test_hop_speaks_the_cluster_protocol_on_the_wire(hop, upstream):
    """protocol: h2c sends the HTTP/2 connection preface first; h1 an HTTP/1.1 request line."""
    probe = FirstBytesUpstream(want=24)
    try:
        hp = hop.start(protocol=upstream, upstream_port=probe.port)
        r = h1_request(hp.port, "GET", "/probe")
        assert r.status >= 500, r  # the probe closes without answering
        assert probe.seen, "hop never connected to the upstream"
        first = probe.seen[0]
        if upstream == "h2c":
            assert first.startswith(PREFACE), first
        else:
            assert first.startswith(b"GET /probe HTTP/1.1\r\n"), first
    finally:
        probe.close()


@pytest.mark.parametrize("upstream", UPSTREAMS)
@pytest.mark.parametrize("client", CLIENTS)
def test_get_is_forwarded_with_method_path_query_and_headers(stacks, client, upstream):
    hp = stacks[upstream]
    status, headers, body, _ = call(hp, client, "GET", "/some/path?x=1&y=two%20three",
                                    headers=[("x-test-header", "hello"), ("accept", "application/json")])
    assert status == 200, (status, headers, body[:300])
    assert dict(headers).get("x-backend") == "b1", headers
    e = json.loads(body)
    assert e["method"] == "GET"
    assert e["path"] == "/some/path?x=1&y=two%20three"
    h = e["headers"]
    assert h.get("x-test-header") == "hello", h
    assert h.get("accept") == "application/json", h
    assert h.get("host") == "example.test", h
    assert h.get("x-forwarded-for") == "127.0.0.1", h
    assert h.get("x-forwarded-proto") == ("https" if client == "h2" else "http"), h
    for hop_by_hop in ("connection", "keep-alive", "transfer-encoding", "upgrade", "http2-settings"):
        assert hop_by_hop not in h, h


@pytest.mark.parametrize("upstream", UPSTREAMS)
@pytest.mark.parametrize("client", CLIENTS)
def test_post_body_of_one_mib_arrives_whole(stacks, client, upstream):
    hp = stacks[upstream]
    payload = bytes(range(256)) * (MIB // 256)
    status, headers, body, _ = call(hp, client, "POST", "/upload?part=1", headers=[("x-kind", "upload")],
                                    body=payload)
    assert status == 200, (status, body[:300])
    e = json.loads(body)
    assert e["method"] == "POST"
    assert e["path"] == "/upload?part=1"
    assert e["body_bytes"] == MIB, e
    assert e["headers"].get("x-kind") == "upload"
    assert e["headers"].get("x-forwarded-for") == "127.0.0.1"


@pytest.mark.parametrize("client", ["h2c", "h2"])
def test_one_hundred_concurrent_streams_to_an_h2c_upstream(stacks, client):
    hp = stacks["h2c"]
    with H2Client(hp.tls_port if client == "h2" else hp.port, tls=client == "h2") as c:
        sids = {c.start("GET", f"/delay/200?i={i}", headers=[("x-i", str(i))]): i for i in range(100)}
        resps = c.wait(list(sids), timeout=20)
    bad = [(sids[s], r) for s, r in zip(sids, resps) if r.status != 200 or r.reset is not None]
    assert not bad, bad[:5]
    for s, r in zip(sids, resps):
        e = r.json()
        assert e["path"] == f"/delay/200?i={sids[s]}", e
        assert e["headers"]["x-i"] == str(sids[s])


@pytest.mark.parametrize("upstream", UPSTREAMS)
@pytest.mark.parametrize("client", CLIENTS)
def test_ten_mib_response_arrives_intact(stacks, client, upstream):
    """/bytes/N is runs of "abc...z" (each write restarts the run, so the bytes depend on
    how the body was chunked): check the length and that nothing else got in."""
    hp = stacks[upstream]
    status, headers, body, _ = call(hp, client, "GET", "/bytes/10485760", timeout=30)
    assert status == 200
    assert len(body) == 10 * MIB, len(body)
    cl = dict(headers).get("content-length")
    assert cl in (None, str(10 * MIB)), cl
    assert body.startswith(b"abcdefghijklmnopqrstuvwxyz"), body[:64]
    assert body.translate(None, b"abcdefghijklmnopqrstuvwxyz") == b"", "bytes outside a-z in the body"


@pytest.mark.parametrize("client", ["h2c", "h2"])
def test_split_cookie_fields_arrive_joined_at_an_http1_upstream(stacks, client):
    """RFC 9113 §8.2.3: h2 clients may send one cookie field per crumb; to HTTP/1.1 they are
    joined with "; " into one Cookie header."""
    hp = stacks["h1"]
    status, _, body, _ = call(hp, client, "GET", "/cookies",
                              headers=[("cookie", "a=1"), ("x-between", "y"), ("cookie", "b=2")])
    assert status == 200
    assert body.count(b'"cookie"') == 1, body
    assert json.loads(body)["headers"]["cookie"] == "a=1; b=2"


@pytest.mark.parametrize("client", ["h2c", "h2"])
def test_trailers_from_an_h2c_upstream_reach_the_h2_client(stacks, client):
    hp = stacks["h2c"]
    status, headers, body, trailers = call(hp, client, "GET", "/trailers")
    assert status == 200, (status, body[:200])
    assert json.loads(body)["path"] == "/trailers"
    assert ("x-backend-trailer", "done") in trailers, trailers


@pytest.mark.parametrize("upstream", UPSTREAMS)
@pytest.mark.parametrize("client", CLIENTS)
def test_rfc9218_priority_header_passes_through(stacks, client, upstream):
    """RFC 9218: `priority` is an end-to-end header field; hop forwards it unchanged."""
    status, _, body, _ = call(stacks[upstream], client, "GET", "/prio", headers=[("priority", "u=1, i")])
    assert status == 200, body[:200]
    assert json.loads(body)["headers"].get("priority") == "u=1, i", body[:400]


@pytest.mark.parametrize("pause", [0.0, 0.002])
def test_a_slow_http1_client_gets_a_whole_body_from_an_h2c_upstream(stacks, pause):
    """An HTTP/1.1 client that reads in small bites behind a small receive buffer: hop's
    output buffer fills, and the body the exchange still holds must move on once the client
    has taken what was queued (it once sat there until the client gave up: the upstream
    waits for hop to open the flow-control window, and hop waited for the upstream)."""
    size = 4 * MIB
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)
    s.settimeout(10)
    s.connect(("127.0.0.1", stacks["h2c"].port))
    try:
        s.sendall(f"GET /bytes/{size} HTTP/1.1\r\nHost: example.test\r\n\r\n".encode())
        got = bytearray()
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            got += chunk
            if b"\r\n\r\n" in got and len(got) - got.index(b"\r\n\r\n") - 4 >= size:
                break
            if pause:
                time.sleep(pause)
        head, _, body = bytes(got).partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), head[:200]
        assert f"content-length: {size}".encode() in head.lower(), head
        assert len(body) == size
        assert body.translate(None, b"abcdefghijklmnopqrstuvwxyz") == b"", "bytes outside a-z in the body"
        # The end of the response must have been noticed too: the connection serves the next.
        s.sendall(b"GET /bytes/10 HTTP/1.1\r\nHost: example.test\r\n\r\n")
        nxt = b""
        while not nxt.endswith(b"\r\n\r\nabcdefghij"):
            chunk = s.recv(4096)
            assert chunk, f"closed instead of answering the next request: {nxt!r}"
            nxt += chunk
        assert nxt.startswith(b"HTTP/1.1 200"), nxt
    finally:
        s.close()


def test_http1_clients_that_stop_reading_are_closed_after_the_idle_timeout(hop):
    """Through an HTTP/2 upstream the exchange may finish (the whole body taken from the
    upstream, the rest queued in hop) while the client still has bytes to read; whatever
    the body size, a client that stops reading must be closed after the listener's idle
    timeout instead of holding its connection and hop's buffers for ever. Sizes from 16 KiB
    to 6 MiB, all at once: where the kernel's buffers end varies, so one of them lands in
    each case (all in the kernel, exchange finished with bytes queued, exchange still
    holding body)."""
    hp = hop.start(protocol="h2c", listener_extra=["timeouts: { idle: 2s }"])
    socks = []
    try:
        for size in range(16 << 10, 6 << 20, 48 << 10):
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.connect(("127.0.0.1", hp.port))
            s.sendall(f"GET /bytes/{size} HTTP/1.1\r\nHost: example.test\r\n\r\n".encode())
            socks.append(s)
        active = lambda: metric(hp.admin, "hop_downstream_connections_active", listener="web")  # noqa: E731
        assert wait_until(lambda: active() == 0, 8), f"{active()} of {len(socks)} stalled clients still held"
        for s in socks:  # each was answered before it was closed (not dropped as a 499)
            s.settimeout(2)
            assert s.recv(64).startswith(b"HTTP/1.1 200")
    finally:
        for s in socks:
            s.close()


def test_an_http1_client_that_leaves_before_an_h2c_answer_is_logged_499_at_once(hop):
    """Through an HTTP/2 upstream too, a client's FIN while hop waits for the answer ends the
    request then (499), instead of when the slow answer finally comes."""
    hp = hop.start(protocol="h2c", access_log="stdout")
    s = socket.create_connection(("127.0.0.1", hp.port))
    s.sendall(b"GET /delay/5000 HTTP/1.1\r\nHost: example.test\r\n\r\n")
    time.sleep(0.3)
    s.close()
    t = time.monotonic()
    log = []
    while time.monotonic() - t < 3 and not log:
        log = [e for e in hp.access_log() if e["path"] == "/delay/5000"]
        time.sleep(0.05)
    assert log and log[0]["status"] == 499, log
