"""Upstream TLS from hop A (cleartext listener) to hop B (TLS listener with built-in backends):
verification, SNI, mTLS with a client certificate, and HTTP/2 by ALPN."""
import json

import pytest

from tls_helpers import CA, CLIENT, ROGUE, config, curl, free_port, listener, tls_block, wait_until


def start_b(hop, to_backend="h1", **tls):
    """B: a TLS listener in front of a built-in backend, reached over `to_backend` (h1 | h2c)."""
    port, backend = free_port(), free_port()
    hp = hop.start(config([listener("b-https", port, tls=tls_block(**tls))], backends=[("b1", backend)],
                          access_log="stdout", cluster_extra={"protocol": to_backend}))
    hp.port = port
    return hp


def start_a(hop, b_port, protocol="h1", **tls):
    port = free_port()
    up = {"ca": str(CA), "sni": "localhost"}
    up.update(tls)
    hp = hop.start(config([listener("a-web", port)], cluster_hosts=[b_port], access_log="stdout",
                          cluster_extra={"protocol": protocol, "tls": up}))
    hp.port = port
    return hp


def get(a, path="/up"):
    return curl("-i", f"http://127.0.0.1:{a.port}{path}")


def header(body_with_head, name):
    for line in body_with_head.split("\r\n\r\n", 1)[0].splitlines():
        k, _, v = line.partition(":")
        if k.strip().lower() == name:
            return v.strip()
    return None


def echo(body_with_head):
    return json.loads(body_with_head.split("\r\n\r\n", 1)[1])


def assert_logged(hp, reason):
    """hop's process log says why the upstream TLS connection failed: a refusal for the
    wrong reason (a crashed upstream, a refused port) must not pass for this one."""
    assert wait_until(lambda: reason in hp.stderr(), timeout=3), f"no {reason!r} in hop's log:\n{hp.stderr()[-2000:]}"


def test_upstream_tls_h1(hop):
    b = start_b(hop)
    a = start_a(hop, b.port)
    p, status, version, out = get(a, "/via-tls")
    assert p.returncode == 0, p.stderr
    assert status == 200, out + "\nA stderr:\n" + a.stderr()
    e = echo(out)
    assert e["path"] == "/via-tls"
    assert e["headers"]["x-forwarded-proto"] == "https"  # B terminated TLS
    log = b.access_log(min_lines=1)
    assert log and log[-1]["path"] == "/via-tls", log
    assert log[-1]["protocol"] == "HTTP/1.1", log[-1]


def test_upstream_tls_connections_are_reused(hop):
    b = start_b(hop)
    a = start_a(hop, b.port)
    for i in range(5):
        p, status, _, out = get(a, f"/r{i}")
        assert status == 200, out
    log = a.access_log(min_lines=5)
    assert [e.get("upstream_reused") for e in log[-4:]] == [True] * 4, log


def test_upstream_wrong_ca_fails_verification(hop):
    b = start_b(hop)
    a = start_a(hop, b.port, ca=str(ROGUE[0]))  # not the CA that signed B's certificate
    p, status, _, out = get(a)
    assert status == 503 and header(out, "x-hop-error") == "upstream-connect", out
    assert_logged(a, "TLS handshake failed: certificate verify failed: unable to get local issuer certificate")


def test_upstream_sni_selects_certificate_and_name_is_verified(hop):
    b = start_b(hop)  # serves localhost.pem by default, other.pem for SNI other.test
    a = start_a(hop, b.port, sni="other.test")
    p, status, _, out = get(a)
    assert status == 200, out + "\nA stderr:\n" + a.stderr()
    # A name that none of B's certificates carry fails verification.
    a2 = start_a(hop, b.port, sni="wrong.example")
    p, status, _, out = get(a2)
    assert status == 503 and header(out, "x-hop-error") == "upstream-connect", out
    assert_logged(a2, "TLS handshake failed: certificate verify failed: hostname mismatch")


@pytest.mark.parametrize("protocol", ["h1", "h2"])
def test_upstream_mtls_without_client_cert_is_refused_for_it(hop, protocol):
    """TLS 1.3: B's refusal arrives as an alert after A's side of the handshake is done, so
    A's request sees a reset; the alert's reason is in A's log."""
    b = start_b(hop, to_backend="h2c" if protocol == "h2" else "h1", client_ca=str(CA), client_cert="required")
    a = start_a(hop, b.port, protocol=protocol)
    p, status, _, out = get(a)
    print(f"A without a client cert answered {status}, x-hop-error: {header(out, 'x-hop-error')}")
    assert status == 502 and header(out, "x-hop-error") == "upstream-reset", out
    assert_logged(a, "TLS read failed: tlsv13 alert certificate required")


@pytest.mark.parametrize("protocol", ["h1", "h2"])
def test_upstream_mtls_with_client_cert(hop, protocol):
    # B forwards over h2c when A speaks h2 to it: its HTTP/2 downstream then needs no h2→h1 translation.
    b = start_b(hop, to_backend="h2c" if protocol == "h2" else "h1", client_ca=str(CA), client_cert="required")
    a = start_a(hop, b.port, protocol=protocol, cert=str(CLIENT[0]), key=str(CLIENT[1]))
    p, status, _, out = get(a, "/mtls-up")
    assert status == 200, out + "\nA stderr:\n" + a.stderr() + "\nB stderr:\n" + b.stderr()
    assert echo(out)["path"] == "/mtls-up"


@pytest.mark.parametrize("protocol", ["h2", "auto"])
@pytest.mark.parametrize("b_to_backend", ["h2c", "h1"])
def test_upstream_h2_by_alpn(hop, protocol, b_to_backend):
    b = start_b(hop, to_backend=b_to_backend)
    a = start_a(hop, b.port, protocol=protocol)
    for i in range(3):
        p, status, _, out = get(a, f"/h2-up{i}")
        assert status == 200, out + "\nA stderr:\n" + a.stderr()
    log = b.access_log(min_lines=3)
    assert [e["protocol"] for e in log] == ["HTTP/2"] * 3, log
    assert [e["path"] for e in log] == [f"/h2-up{i}" for i in range(3)], log


def test_upstream_auto_falls_back_to_h1_when_b_offers_no_h2(hop):
    b = start_b(hop, alpn=["http/1.1"])
    a = start_a(hop, b.port, protocol="auto")
    p, status, _, out = get(a)
    assert status == 200, out + "\nA stderr:\n" + a.stderr()
    log = b.access_log(min_lines=1)
    assert log[-1]["protocol"] == "HTTP/1.1", log
