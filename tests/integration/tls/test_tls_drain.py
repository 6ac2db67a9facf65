"""SIGTERM drains HTTP/2 connections: the client gets GOAWAY first, then its in-flight response whole."""
import json
import signal

import pytest

from tls_helpers import FrameClient, config, free_port, listener, metric, tls_block, wait_until


def start(hop, upstream="h1"):
    port, tls_port, admin, backend = free_port(), free_port(), free_port(), free_port()
    hp = hop.start(config([listener("web", port), listener("https", tls_port, tls=tls_block())],
                          backends=[("b1", backend)], admin=admin, top={"drain_timeout": "10s"},
                          cluster_extra={"protocol": upstream}))
    hp.port, hp.tls_port, hp.admin = port, tls_port, admin
    return hp


@pytest.mark.parametrize("transport,upstream", [("h2c", "h1"), ("h2c", "h2c"), ("h2-tls", "h1"), ("h2-tls", "h2c")])
def test_sigterm_sends_goaway_then_finishes_in_flight_response(hop, transport, upstream):
    hp = start(hop, upstream)
    c = FrameClient.cleartext(hp.port) if transport == "h2c" else FrameClient.tls(hp.tls_port)
    c.start()
    c.get(1, "/delay/1000", scheme="http" if transport == "h2c" else "https")
    # The request is in flight once hop has sent it upstream.
    assert wait_until(lambda: metric(hp.admin, "hop_upstream_requests_total") >= 1, timeout=5), hp.stderr()
    assert not c.stream_ended(1)
    hp.signal(signal.SIGTERM)

    c.read_until(lambda: c.stream_ended(1) or c.closed, timeout=10)
    kinds = [k for k, _, _ in c.timeline]
    assert "goaway" in kinds, c.timeline
    first_goaway = kinds.index("goaway")
    response_frames = [i for i, (k, s, _) in enumerate(c.timeline) if s == 1 and k in ("headers", "data", "rst")]
    assert response_frames, f"no response to stream 1: {c.timeline}\nhop stderr:\n{hp.stderr()}"
    assert first_goaway < response_frames[0], c.timeline  # GOAWAY arrives while the request is in flight
    goaways = [d for k, _, d in c.timeline if k == "goaway"]
    assert all(code == 0 for code, _ in goaways), goaways  # NO_ERROR
    assert goaways[-1][1] >= 1, goaways  # stream 1 is covered by the last GOAWAY
    assert not any(k == "rst" for k, _, _ in c.timeline), c.timeline

    status, headers, body = c.response(1)
    assert c.stream_ended(1), c.timeline
    assert status == 200, c.timeline
    if "content-length" in headers:
        assert len(body) == int(headers["content-length"])
    assert json.loads(body)["path"] == "/delay/1000"

    # Then hop closes the connection and exits cleanly.
    c.read_until(lambda: c.closed, timeout=10)
    c.close()
    assert hp.proc.wait(timeout=10) == 0, hp.stderr()


def test_sigterm_idle_h2_connection_gets_goaway_and_close(hop):
    hp = start(hop)
    c = FrameClient.cleartext(hp.port)
    c.start()
    c.get(1, "/quick")
    c.read_until(lambda: c.stream_ended(1), timeout=5)
    assert c.response(1)[0] == 200
    hp.signal(signal.SIGTERM)
    c.read_until(lambda: c.closed, timeout=10)
    goaways = [d for k, _, d in c.timeline if k == "goaway"]
    assert goaways and goaways[-1] == (0, 1), c.timeline
    c.close()
    assert hp.proc.wait(timeout=10) == 0, hp.stderr()
