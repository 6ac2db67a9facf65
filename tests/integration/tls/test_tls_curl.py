"""curl over TLS (h2 and HTTP/1.1 by ALPN, TLS 1.2 and 1.3) and one cleartext port serving
HTTP/1.1 and h2c prior knowledge."""
import json

import pytest

from tls_helpers import CA, ROGUE, Conn, config, curl, free_port, listener, tls_block, tls_connect, tls_refusal


@pytest.fixture(scope="module")
def served(module_hop):
    class P:
        pass
    p = P()
    p.tls, p.tls13, p.clear, p.admin, p.backend = (free_port() for _ in range(5))
    p.noh2, p.clear_noh2, p.h1first = (free_port() for _ in range(3))
    cfg = config(
        [listener("https", p.tls, tls=tls_block(min_version="1.2")),
         listener("https13", p.tls13, tls=tls_block(min_version="1.3")),
         listener("web", p.clear),
         listener("https-noh2", p.noh2, tls=tls_block(), http2={"enabled": False}),
         listener("web-noh2", p.clear_noh2, http2={"enabled": False}),
         listener("https-h1first", p.h1first, tls=tls_block(alpn=["http/1.1", "h2"]))],
        backends=[("b1", p.backend)], admin=p.admin)
    p.hop = module_hop.start(cfg)
    return p


def https(port, path="/"):
    return f"https://localhost:{port}{path}"


def test_http2_over_tls_by_alpn(served):
    p, status, version, body = curl("--cacert", str(CA), "--http2", https(served.tls, "/h2"))
    assert p.returncode == 0, p.stderr
    assert (status, version) == (200, "2")
    echo = json.loads(body)
    assert echo["path"] == "/h2"
    assert echo["headers"]["x-forwarded-proto"] == "https"


def test_http11_over_tls_by_alpn(served):
    p, status, version, body = curl("--cacert", str(CA), "--http1.1", https(served.tls, "/h1"))
    assert p.returncode == 0, p.stderr
    assert (status, version) == (200, "1.1")
    echo = json.loads(body)
    assert echo["path"] == "/h1"
    assert echo["headers"]["x-forwarded-proto"] == "https"


@pytest.mark.parametrize("proto", ["--http2", "--http1.1"])
def test_tls12_only_client(served, proto):
    p, status, version, body = curl("-v", "--cacert", str(CA), proto, "--tlsv1.2", "--tls-max", "1.2",
                                    https(served.tls))
    assert p.returncode == 0, p.stderr
    assert status == 200
    assert version == ("2" if proto == "--http2" else "1.1")
    assert "SSL connection using TLSv1.2" in p.stderr.decode(), p.stderr
    assert json.loads(body)["headers"]["x-forwarded-proto"] == "https"


@pytest.mark.parametrize("proto", ["--http2", "--http1.1"])
def test_tls13_client(served, proto):
    p, status, version, body = curl("-v", "--cacert", str(CA), proto, "--tlsv1.3", https(served.tls))
    assert p.returncode == 0, p.stderr
    assert status == 200
    assert version == ("2" if proto == "--http2" else "1.1")
    assert "SSL connection using TLSv1.3" in p.stderr.decode(), p.stderr


def test_min_version_13_listener_refuses_tls12_for_its_version(served):
    p, status, _, _ = curl("--cacert", str(CA), "--tlsv1.2", "--tls-max", "1.2", https(served.tls13))
    assert p.returncode != 0 and status == 0, (p.returncode, status, p.stderr)
    assert tls_refusal(served.tls13, "1.2") == "TLSV1_ALERT_PROTOCOL_VERSION"


@pytest.mark.parametrize("proto", ["--http2", "--http1.1"])
def test_min_version_13_listener_serves_tls13(served, proto):
    p, status, version, _ = curl("--cacert", str(CA), proto, "--tlsv1.3", https(served.tls13))
    assert p.returncode == 0, p.stderr
    assert (status, version) == (200, "2" if proto == "--http2" else "1.1")


def test_certificate_verifies_for_localhost_and_ip(served):
    # localhost.pem carries DNS:localhost and IP:127.0.0.1: both verify against the test CA.
    p, status, _, _ = curl("--http1.1", "--cacert", str(CA), f"https://127.0.0.1:{served.tls}/")
    assert p.returncode == 0, p.stderr
    assert status == 200
    # Trusting something else than the test CA, the chain does not verify (exit 60).
    p, status, _, _ = curl("--cacert", str(ROGUE[0]), https(served.tls))
    assert p.returncode == 60, (p.returncode, p.stderr)


def test_cleartext_port_serves_http11(served):
    p, status, version, body = curl(f"http://127.0.0.1:{served.clear}/plain")
    assert p.returncode == 0, p.stderr
    assert (status, version) == (200, "1.1")
    echo = json.loads(body)
    assert echo["path"] == "/plain"
    assert echo["headers"]["x-forwarded-proto"] == "http"


def test_cleartext_port_serves_h2c_prior_knowledge(served):
    p, status, version, body = curl("--http2-prior-knowledge", f"http://127.0.0.1:{served.clear}/h2c")
    assert p.returncode == 0, p.stderr
    assert (status, version) == (200, "2")
    echo = json.loads(body)
    assert echo["path"] == "/h2c"
    assert echo["headers"]["x-forwarded-proto"] == "http"


def test_cleartext_port_both_protocols_interleaved(served):
    # The same port, alternating: each connection is sniffed on its own.
    for i in range(3):
        _, s1, v1, _ = curl(f"http://127.0.0.1:{served.clear}/a{i}")
        _, s2, v2, _ = curl("--http2-prior-knowledge", f"http://127.0.0.1:{served.clear}/b{i}")
        assert (s1, v1, s2, v2) == (200, "1.1", 200, "2")


def test_http2_disabled_leaves_h2_out_of_alpn(served):
    p, status, version, _ = curl("-v", "--cacert", str(CA), "--http2", https(served.noh2))
    assert p.returncode == 0, p.stderr
    assert (status, version) == (200, "1.1")
    assert "ALPN: server accepted http/1.1" in p.stderr.decode(), p.stderr


def test_http2_disabled_refuses_h2c_prior_knowledge(served):
    p, status, _, _ = curl("--http2-prior-knowledge", f"http://127.0.0.1:{served.clear_noh2}/")
    assert status != 200, (status, p.stderr)
    p, status, version, _ = curl(f"http://127.0.0.1:{served.clear_noh2}/")
    assert (status, version) == (200, "1.1")


def test_server_alpn_order_wins(served):
    # alpn: [http/1.1, h2]: hop's order decides, though curl prefers h2.
    p, status, version, _ = curl("--cacert", str(CA), "--http2", https(served.h1first))
    assert p.returncode == 0, p.stderr
    assert (status, version) == (200, "1.1")


def test_no_common_alpn_goes_on_as_http11(served):
    # A client offering only an unknown protocol: no ALPN selected, HTTP/1.1 spoken.
    with tls_connect(served.tls, alpn=("spdy/3",)) as s:
        assert s.selected_alpn_protocol() is None
        r = Conn(sock=s).request("GET", "/no-alpn", host="localhost")
        assert r.status == 200 and json.loads(r.body)["path"] == "/no-alpn"
