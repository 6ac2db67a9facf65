"""mTLS on a listener: client_ca with client_cert required / optional."""
import json

import pytest

from tls_helpers import CA, CLIENT, ROGUE, config, curl, free_port, listener, s_client, tls_block, tls_refusal

# What hop's alert says (OpenSSL's reasons): TLS 1.3 has an alert for a missing client
# certificate; TLS 1.2 answers it with a handshake failure. A certificate from another CA is
# "unknown CA" in both.
NO_CERT = {"1.3": "TLSV13_ALERT_CERTIFICATE_REQUIRED", "1.2": "SSLV3_ALERT_HANDSHAKE_FAILURE"}
UNKNOWN_CA = "TLSV1_ALERT_UNKNOWN_CA"


@pytest.fixture(scope="module")
def served(module_hop):
    class P:
        pass
    p = P()
    p.required, p.optional, p.backend = free_port(), free_port(), free_port()
    cfg = config(
        [listener("required", p.required, tls=tls_block(client_ca=str(CA), client_cert="required")),
         listener("optional", p.optional, tls=tls_block(client_ca=str(CA), client_cert="optional"))],
        backends=[("b1", p.backend)])
    p.hop = module_hop.start(cfg)
    return p


def get(port, *args):
    return curl("--cacert", str(CA), *args, f"https://localhost:{port}/mtls")


@pytest.mark.parametrize("proto", ["--http1.1", "--http2"])
def test_required_without_client_cert_fails_for_the_missing_certificate(served, proto):
    p, status, _, _ = get(served.required, proto)
    assert p.returncode != 0, (p.returncode, status)
    assert status == 0, status
    for version, reason in NO_CERT.items():
        assert tls_refusal(served.required, version) == reason, version


@pytest.mark.parametrize("version", ["--tlsv1.2", "--tlsv1.3"])
def test_required_rogue_cert_fails_as_unknown_ca(served, version):
    tls_max = ["--tls-max", "1.2"] if version == "--tlsv1.2" else []
    p, status, _, _ = get(served.required, version, *tls_max, "--cert", str(ROGUE[0]), "--key", str(ROGUE[1]))
    assert p.returncode != 0, (p.returncode, status)
    assert status == 0, status
    assert tls_refusal(served.required, version.removeprefix("--tlsv"), cert=ROGUE) == UNKNOWN_CA


@pytest.mark.parametrize("proto", ["--http1.1", "--http2"])
@pytest.mark.parametrize("version", ["--tlsv1.2", "--tlsv1.3"])
def test_required_client_cert_gets_200(served, proto, version):
    tls_max = ["--tls-max", "1.2"] if version == "--tlsv1.2" else []
    p, status, v, body = get(served.required, proto, version, *tls_max, "--cert", str(CLIENT[0]),
                             "--key", str(CLIENT[1]))
    assert p.returncode == 0, p.stderr
    assert status == 200
    assert v == ("2" if proto == "--http2" else "1.1")
    assert json.loads(body)["path"] == "/mtls"


def test_required_sends_acceptable_ca_names(served):
    out = s_client(served.required, "-servername", "localhost", "-CAfile", str(CA), "-cert", str(CLIENT[0]),
                   "-key", str(CLIENT[1]))
    assert "Acceptable client certificate CA names" in out, out
    assert "CN = hop test CA" in out.split("Acceptable client certificate CA names", 1)[1], out


@pytest.mark.parametrize("proto", ["--http1.1", "--http2"])
def test_optional_without_cert_gets_200(served, proto):
    p, status, _, _ = get(served.optional, proto)
    assert p.returncode == 0, p.stderr
    assert status == 200
    assert tls_refusal(served.optional, "1.3") is None  # the probe tells accepted from refused


def test_optional_with_client_cert_gets_200(served):
    p, status, _, _ = get(served.optional, "--http1.1", "--cert", str(CLIENT[0]), "--key", str(CLIENT[1]))
    assert p.returncode == 0, p.stderr
    assert status == 200


def test_optional_rogue_cert_fails_as_unknown_ca(served):
    # "A certificate that does not verify is rejected either way."
    p, status, _, _ = get(served.optional, "--http1.1", "--cert", str(ROGUE[0]), "--key", str(ROGUE[1]))
    assert p.returncode != 0, (p.returncode, status)
    for version in ("1.2", "1.3"):
        assert tls_refusal(served.optional, version, cert=ROGUE) == UNKNOWN_CA, version
