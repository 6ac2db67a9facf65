"""nghttp (several URIs on one connection) and h2load (multiplexed load) over TLS and h2c."""
import re

import pytest

from tls_helpers import config, free_port, listener, parse_h2load, run, tls_block


@pytest.fixture(scope="module")
def served(module_hop):
    class P:
        pass
    p = P()
    p.tls, p.clear, p.backend = free_port(), free_port(), free_port()
    cfg = config([listener("https", p.tls, tls=tls_block()), listener("web", p.clear)],
                 backends=[("b1", p.backend)])
    p.hop = module_hop.start(cfg)
    return p


def nghttp_streams(out):
    """{stream id: status} from nghttp -v's "recv (stream_id=N) :status: S" lines."""
    return {int(m.group(1)): int(m.group(2)) for m in re.finditer(r"recv \(stream_id=(\d+)\) :status: (\d+)", out)}


@pytest.mark.parametrize("scheme", ["https", "http"])
def test_nghttp_several_uris_on_one_connection(served, scheme):
    port = served.tls if scheme == "https" else served.clear
    host = "localhost" if scheme == "https" else "127.0.0.1"
    uris = [f"{scheme}://{host}:{port}/one", f"{scheme}://{host}:{port}/two", f"{scheme}://{host}:{port}/three"]
    p = run(["nghttp", "-nv", *uris])
    out = p.stdout.decode(errors="replace")
    assert p.returncode == 0, out + p.stderr.decode()
    assert out.count("] Connected") == 1, out  # one connection for the three URIs
    if scheme == "https":
        assert "negotiated protocol: h2" in out, out
    statuses = nghttp_streams(out)
    assert len(statuses) == 3, out
    assert set(statuses.values()) == {200}, statuses
    assert "recv GOAWAY" not in out, out


def test_nghttp_get_echo_body(served):
    p = run(["nghttp", f"https://localhost:{served.tls}/body-check"])
    assert p.returncode == 0, p.stderr
    assert b'"path":"/body-check"' in p.stdout.replace(b" ", b""), p.stdout


@pytest.mark.parametrize("scheme", ["https", "http"])
def test_h2load_all_succeed(served, scheme):
    port = served.tls if scheme == "https" else served.clear
    url = f"{scheme}://127.0.0.1:{port}/"
    # -N 5s: a connection hop leaves silent is given up (and counted as failed) instead of hanging h2load.
    p = run(["h2load", "-n", "5000", "-c", "10", "-m", "50", "-N", "5s", url], timeout=25)
    out = p.stdout.decode(errors="replace")
    r = parse_h2load(out)
    assert r["protocol"] == ("h2" if scheme == "https" else "h2c"), out
    assert r["total"] == 5000, out
    assert r["succeeded"] == 5000, out
    assert r["failed"] == 0 and r["errored"] == 0 and r["timeout"] == 0, out
    assert r["2xx"] == 5000, out
    assert served.hop.alive(), served.hop.stderr()


def test_h2load_http11_over_tls_all_succeed(served):
    # The same load over HTTP/1.1 (ALPN http/1.1, one request at a time per connection).
    p = run(["h2load", "--h1", "-n", "2000", "-c", "10", "-N", "5s", f"https://127.0.0.1:{served.tls}/"], timeout=25)
    out = p.stdout.decode(errors="replace")
    r = parse_h2load(out)
    assert r["protocol"] == "http/1.1", out
    assert (r["succeeded"], r["failed"], r["errored"], r["timeout"]) == (2000, 0, 0, 0), out
