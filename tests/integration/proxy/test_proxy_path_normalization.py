"""The router matches, and the upstream receives, the normalized path: a rule on /admin
cannot be side-stepped with dot segments, doubled slashes or encoded letters, and the
upstream sees the same resource the router chose. The access log keeps what was sent."""
import socket

import h2.config
import h2.connection
import h2.events
import pytest

from conftest import cluster_yaml
from proxy_helpers import Conn, free_port, get


def config(port, admin, upstream, normalize=None):
    extra = "" if normalize is None else f"    normalize_path: {str(normalize).lower()}\n"
    return (f"workers: 1\nadmin: 127.0.0.1:{admin}\naccess_log: stdout\nlisteners:\n  - name: web\n"
            f"    address: 127.0.0.1:{port}\n{extra}    routes:\n"
            f"      - match: {{ prefix: /admin }}\n        direct: {{ status: 403, body: \"no\\n\" }}\n"
            f"      - match: {{ prefix: /api/ }}\n        cluster: app\n        prefix_rewrite: /v2/\n"
            f"      - match: {{ prefix: / }}\n        cluster: app\n"
            "clusters:\n" + cluster_yaml("app", [upstream]))


@pytest.fixture
def normalizing(hop, echo_backends):
    port, admin = free_port(), free_port()
    hp = hop.run_config(config(port, admin, echo_backends["alpha"]), port=port, admin=admin)
    hp.port = port
    return hp


@pytest.mark.parametrize("path", ["/admin", "/public/../admin", "/%61dmin", "//admin", "/public/%2e%2E/admin",
                                  "/./admin/", "/../../admin/x", "/public/..//admin"])
def test_a_rule_on_admin_holds_however_the_path_is_spelled(normalizing, path):
    assert get(normalizing.port, path).status == 403, path


@pytest.mark.parametrize("sent, seen", [
    ("/a/./b/../c", "/a/c"),
    ("/x//y///z?q=/../&r=%2e", "/x/y/z?q=/../&r=%2e"),   # the query is left as sent
    ("/%7Euser/%41b%2fc", "/~user/Ab%2Fc"),                # %2F stays encoded: one segment
    ("/api/../api/./v/%2e%2e/users", "/v2/users"),         # prefix_rewrite applies to the normal form
    ("/plain/path", "/plain/path"),
])
def test_the_upstream_gets_the_normalized_path(normalizing, sent, seen):
    r = get(normalizing.port, sent)
    assert r.status == 200 and r.json()["path"] == seen, (sent, r.status, r.body)


def test_the_access_log_keeps_the_path_as_sent(normalizing):
    assert get(normalizing.port, "/a/../b").status == 200
    assert normalizing.access_log(min_lines=1)[-1]["path"] == "/a/../b"


@pytest.mark.parametrize("path", ["/%", "/a%2", "/%zz", "/x%g0y"])
def test_a_broken_escape_is_a_400(normalizing, path):
    with Conn(normalizing.port) as c:
        r = c.request("GET", path)
        assert r.status == 400, path
        # The connection stays usable: the request was well framed.
        assert c.request("GET", "/ok").status == 200


def test_normalization_can_be_turned_off(hop, echo_backends):
    port, admin = free_port(), free_port()
    hop.run_config(config(port, admin, echo_backends["alpha"], normalize=False), port=port, admin=admin)
    r = get(port, "/public/../admin")
    assert r.status == 200 and r.json()["path"] == "/public/../admin"
    assert get(port, "/%zz").status == 200


def test_http2_requests_are_normalized_too(normalizing):
    s = socket.create_connection(("127.0.0.1", normalizing.port), timeout=5)
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    statuses = {}
    for sid, path in ((1, "/public/../admin"), (3, "/%61dmin"), (5, "/%zz"), (7, "/a/./b")):
        conn.send_headers(sid, [(":method", "GET"), (":path", path), (":scheme", "http"),
                                (":authority", "x")], end_stream=True)
    s.sendall(conn.data_to_send())
    while len(statuses) < 4:
        data = s.recv(65536)
        assert data
        for ev in conn.receive_data(data):
            if isinstance(ev, h2.events.ResponseReceived):
                statuses[ev.stream_id] = dict(ev.headers)[b":status"]
        s.sendall(conn.data_to_send())
    s.close()
    assert statuses == {1: b"403", 3: b"403", 5: b"400", 7: b"200"}
