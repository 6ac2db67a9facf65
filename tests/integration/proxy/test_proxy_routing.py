"""Virtual hosts (exact and wildcard Host) → routes by path, method and headers → actions."""
import collections
import time

import pytest

from conftest import cluster_yaml
from proxy_helpers import Conn, curl, free_port, get


@pytest.fixture(scope="module")
def router(hop_bin, echo_backends, tmp_path_factory):
    from hop_process import HopLauncher

    launcher = HopLauncher(hop_bin, tmp_path_factory.mktemp("router"))
    port, admin = free_port(), free_port()
    a, b, g = echo_backends["alpha"], echo_backends["beta"], echo_backends["gamma"]
    text = f"""
workers: 1
admin: 127.0.0.1:{admin}
access_log: stdout
listeners:
  - name: web
    address: 127.0.0.1:{port}
    virtual_hosts:
      - name: api
        domains: [api.example.com]
        routes:
          - match: {{ prefix: /, methods: [POST] }}
            cluster: beta
          - match: {{ prefix: / }}
            cluster: alpha
      - name: wild
        domains: ["*.example.com"]
        routes:
          - match: {{ prefix: / }}
            cluster: gamma
      - name: deeper-wild
        domains: ["*.eu.example.com"]
        routes:
          - match: {{ prefix: / }}
            direct: {{ status: 200, body: "eu\\n" }}
      - name: default
        domains: ["*"]
        routes:
          - match: {{ path: /exact }}
            direct: {{ status: 201, body: "exact\\n", content_type: text/x-exact }}
          - match: {{ regex: "/items/[0-9]+" }}
            cluster: beta
          - match: {{ prefix: /hdr, headers: [{{ name: x-canary, exact: "yes" }}] }}
            cluster: gamma
          - match: {{ prefix: /hdr, headers: [{{ name: x-tier, prefix: "gold" }}] }}
            cluster: beta
          - match: {{ prefix: /hdr, headers: [{{ name: x-ver, regex: "v[0-9]+" }}] }}
            direct: {{ status: 200, body: "regex-header\\n" }}
          - match: {{ prefix: /hdr, headers: [{{ name: x-debug, present: true }}] }}
            direct: {{ status: 200, body: "present\\n" }}
          - match: {{ prefix: /hdr }}
            cluster: alpha
          - match: {{ prefix: /api/v1/ }}
            cluster: alpha
            prefix_rewrite: /v2/
          - match: {{ prefix: /strip }}
            cluster: alpha
            prefix_rewrite: /
          - match: {{ path: /old }}
            redirect: {{ path: /new, code: 301 }}
          - match: {{ path: /moved }}
            redirect: {{ scheme: https, host: other.example, strip_query: true, code: 308 }}
          - match: {{ prefix: /split }}
            split: {{ alpha: 70, beta: 20, gamma: 10 }}
          - match: {{ prefix: /only-get, methods: [GET, HEAD] }}
            direct: {{ status: 200, body: "get\\n" }}
          - match: {{ prefix: /a }}
            cluster: alpha
clusters:
{cluster_yaml("alpha", [a])}{cluster_yaml("beta", [b])}{cluster_yaml("gamma", [g])}"""
    path = launcher.write_config(text)
    hp = launcher.spawn(["run", "-c", str(path)], wait_ports=[port, admin], port=port, admin=admin)
    yield hp
    launcher.stop_all()


def backend_of(r):
    assert r.status == 200, r
    return r.header("x-backend")


def test_exact_host_selects_virtual_host(router):
    assert backend_of(get(router.port, "/", host="api.example.com")) == "alpha"
    assert backend_of(get(router.port, "/", host="API.Example.COM:8080")) == "alpha"


def test_wildcard_host_selects_virtual_host(router):
    assert backend_of(get(router.port, "/", host="www.example.com")) == "gamma"
    assert backend_of(get(router.port, "/", host="a.b.example.com")) == "gamma"
    # The wildcard needs a label in front: example.com itself falls to the default.
    assert get(router.port, "/exact", host="example.com").status == 201


def test_longest_wildcard_wins(router):
    assert get(router.port, "/", host="fr.eu.example.com").body == b"eu\n"


def test_unknown_host_uses_catch_all(router):
    assert get(router.port, "/exact", host="nobody.test").status == 201


def test_method_match(router):
    assert backend_of(get(router.port, "/x", method="POST", body=b"hi", host="api.example.com")) == "beta"
    assert backend_of(get(router.port, "/x", method="GET", host="api.example.com")) == "alpha"
    assert get(router.port, "/only-get").body == b"get\n"
    r = get(router.port, "/only-get", method="DELETE")
    assert r.status == 404 and r.header("x-hop-error") == "no-route"


def test_exact_path_match_and_direct_response(router):
    r = get(router.port, "/exact")
    assert r.status == 201 and r.body == b"exact\n"
    assert r.header("content-type") == "text/x-exact"
    assert get(router.port, "/exact/more").status == 404
    # The query is not part of the path.
    assert get(router.port, "/exact?x=1").status == 201


def test_regex_path_match(router):
    assert backend_of(get(router.port, "/items/123")) == "beta"
    # Regex matches the whole path, not a substring.
    assert get(router.port, "/items/12x").status == 404


def test_header_matches(router):
    assert backend_of(get(router.port, "/hdr", headers={"X-Canary": "yes"})) == "gamma"
    assert backend_of(get(router.port, "/hdr", headers={"X-Canary": "yes-no"})) == "alpha"
    assert backend_of(get(router.port, "/hdr", headers={"X-Tier": "gold-plus"})) == "beta"
    assert get(router.port, "/hdr", headers={"X-Ver": "v12"}).body == b"regex-header\n"
    assert backend_of(get(router.port, "/hdr", headers={"X-Ver": "v12a"})) == "alpha"
    assert get(router.port, "/hdr", headers={"X-Debug": ""}).body == b"present\n"
    assert backend_of(get(router.port, "/hdr")) == "alpha"


def test_prefix_rewrite(router):
    assert get(router.port, "/api/v1/users?id=3").json()["path"] == "/v2/users?id=3"
    assert get(router.port, "/strip/deep/path").json()["path"] == "/deep/path"
    assert get(router.port, "/strip").json()["path"] == "/"


def test_prefix_rewrite_with_absolute_form_target(router):
    # RFC 9112 §3.2.2: a server must accept absolute-form; the rewrite applies to the path.
    with Conn(router.port) as c:
        c.send(b"GET http://example.test/api/v1/users HTTP/1.1\r\nHost: example.test\r\n\r\n")
        r = c.read_response()
    assert r.status == 200
    assert r.json()["path"] in ("/v2/users", "http://example.test/v2/users")


def test_redirect(router):
    r = get(router.port, "/old?q=1", host="site.test")
    assert r.status == 301
    assert r.header("location") == "http://site.test/new?q=1"
    r = get(router.port, "/moved?q=1", host="site.test")
    assert r.status == 308
    assert r.header("location") == "https://other.example/moved"


def test_curl_follows_redirect_to_direct_response(router):
    r = curl("-L", "-H", "Host: api.example.com", f"http://127.0.0.1:{router.port}/old")
    # /new on api.example.com goes to alpha via its catch-all route.
    assert r.returncode == 0


def test_weighted_split_follows_weights(router):
    counts = collections.Counter()
    with Conn(router.port) as c:
        for _ in range(1000):
            counts[backend_of(c.request("GET", "/split"))] += 1
    assert 630 <= counts["alpha"] <= 770, counts
    assert 140 <= counts["beta"] <= 260, counts
    assert 50 <= counts["gamma"] <= 150, counts


def test_no_route_is_404_with_hop_error(router):
    r = get(router.port, "/zzz")
    assert r.status == 404
    assert r.header("x-hop-error") == "no-route"


def test_absolute_form_authority_selects_virtual_host(router):
    with Conn(router.port) as c:
        c.send(b"GET http://api.example.com/abs HTTP/1.1\r\nHost: other.test\r\n\r\n")
        r = c.read_response()
    assert r.status == 200 and r.header("x-backend") == "alpha"
    assert r.json()["headers"]["host"] == "api.example.com"


def test_redirect_without_host_gives_usable_location(router):
    with Conn(router.port) as c:
        c.send(b"GET /old HTTP/1.0\r\n\r\n")
        r = c.read_response()
    assert r.status == 301
    loc = r.header("location")
    assert loc == "/new" or (loc.startswith("http://") and not loc.startswith("http:///")), loc


@pytest.mark.parametrize("status", [204, 304])
def test_direct_204_and_304_never_carry_a_body(hop, status):
    port = free_port()
    text = (f"workers: 1\nlisteners:\n  - name: web\n    address: 127.0.0.1:{port}\n    routes:\n"
            f"      - direct: {{ status: {status}, body: \"HTTP/1.1 200 SPLIT\\r\\n\\r\\n\" }}\n")
    hop.run_config(text, port=port)
    with Conn(port, timeout=2) as c:
        c.send(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        time.sleep(0.2)
        c.sock.settimeout(0.3)
        data = c.sock.recv(4096)
    assert data.split(b"\r\n\r\n", 1)[1] == b"", data
