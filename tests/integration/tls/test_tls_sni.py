"""SNI picks the certificate; no SNI or an unknown name gets the first (default) one."""
import pytest

from tls_helpers import CA, config, curl, free_port, listener, peer_cn, peer_subject, s_client, tls_block, \
    tls_connect


@pytest.fixture(scope="module")
def tls_port(module_hop):
    port, backend = free_port(), free_port()
    module_hop.start(config([listener("https", port, tls=tls_block())], backends=[("b1", backend)]))
    return port


def test_sni_other_test_gets_other_certificate(tls_port):
    out = s_client(tls_port, "-servername", "other.test", "-CAfile", str(CA))
    assert peer_subject(out) == "CN = other.test", out
    assert "Verify return code: 0 (ok)" in out, out


def test_sni_localhost_gets_default_certificate(tls_port):
    out = s_client(tls_port, "-servername", "localhost", "-CAfile", str(CA))
    assert peer_subject(out) == "CN = localhost", out
    assert "Verify return code: 0 (ok)" in out, out


def test_no_sni_gets_default_certificate(tls_port):
    out = s_client(tls_port, "-noservername", "-CAfile", str(CA))
    assert peer_subject(out) == "CN = localhost", out


def test_unknown_sni_gets_default_certificate(tls_port):
    out = s_client(tls_port, "-servername", "nobody.example", "-CAfile", str(CA))
    assert peer_subject(out) == "CN = localhost", out


def test_wildcard_san_of_default_certificate(tls_port):
    # localhost.pem carries *.hop.test: a name it covers verifies.
    out = s_client(tls_port, "-servername", "api.hop.test", "-CAfile", str(CA), "-verify_hostname", "api.hop.test")
    assert peer_subject(out) == "CN = localhost", out
    assert "Verify return code: 0 (ok)" in out, out


def test_sni_with_python_and_curl_resolve(tls_port):
    with tls_connect(tls_port, server_hostname="other.test") as s:
        assert peer_cn(s) == "other.test"
    # curl sends SNI other.test and verifies the name against other.pem.
    p, status, _, _ = curl("--http1.1", "--cacert", str(CA), "--resolve", f"other.test:{tls_port}:127.0.0.1",
                           f"https://other.test:{tls_port}/")
    assert p.returncode == 0, p.stderr
    assert status == 200
