"""Admin endpoints (/metrics, /ready, /clusters, /config) and the JSON access log."""
import json
import signal
import time

import pytest

from conftest import simple_config
from proxy_helpers import Conn, free_port, get, metric, metrics, read_until_close, wait_until

METRIC_NAMES = [
    "hop_config_generation", "hop_config_reloads_total", "hop_draining",
    "hop_downstream_requests_total", "hop_downstream_responses_total", "hop_downstream_connections_active",
    "hop_downstream_connections_total", "hop_downstream_protocol_errors_total",
    "hop_downstream_request_duration_seconds_bucket", "hop_downstream_request_duration_seconds_sum",
    "hop_downstream_request_duration_seconds_count",
    "hop_upstream_requests_total", "hop_upstream_responses_total", "hop_upstream_connections_opened_total",
    "hop_upstream_connections_reused_total", "hop_upstream_connect_failures_total", "hop_upstream_timeouts_total",
    "hop_upstream_resets_total", "hop_upstream_pool_overflow_total", "hop_upstream_pending_requests",
    "hop_upstream_connections_active", "hop_upstream_ttfb_seconds_bucket",
]


@pytest.fixture
def served(hop, echo_backends):
    port, admin = free_port(), free_port()
    routes = ('      - match: { path: /direct }\n        direct: { status: 200, body: "direct" }\n'
              "      - match: { prefix: / }\n        cluster: app\n")
    return hop.run_config(simple_config(port, admin, [echo_backends["alpha"], echo_backends["beta"]], routes=routes),
                          port=port, admin=admin)


def test_metrics_exposes_every_hop_series(served):
    get(served.port, "/")
    r = get(served.admin, "/metrics")
    assert r.status == 200
    assert r.header("content-type", "").startswith("text/plain")
    names = {k.partition("{")[0] for k in metrics(served.admin)}
    missing = [n for n in METRIC_NAMES if n not in names]
    assert not missing, missing
    text = r.body.decode()
    assert "# TYPE hop_downstream_requests_total counter" in text
    assert "# TYPE hop_downstream_request_duration_seconds histogram" in text


def test_metrics_count_requests_and_classes(served):
    # The readiness probe's connection may still be in the accept queue: wait until it is counted.
    deadline = time.monotonic() + 2
    while metric(served.admin, "hop_downstream_connections_total", listener="web") < 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    conns_before = metric(served.admin, "hop_downstream_connections_total", listener="web")
    for _ in range(5):
        get(served.port, "/")
    get(served.port, "/status/503")
    get(served.port, "/direct")
    assert metric(served.admin, "hop_downstream_requests_total", listener="web") == 7
    assert metric(served.admin, "hop_downstream_responses_total", listener="web", **{"class": "2xx"}) == 6
    assert metric(served.admin, "hop_downstream_responses_total", listener="web", **{"class": "5xx"}) == 1
    assert metric(served.admin, "hop_upstream_requests_total", cluster="app") == 6
    assert metric(served.admin, "hop_upstream_responses_total", cluster="app", **{"class": "5xx"}) == 1
    assert metric(served.admin, "hop_downstream_request_duration_seconds_count", listener="web") == 7
    assert metric(served.admin, "hop_downstream_connections_total", listener="web") - conns_before == 7


def test_ready_endpoint(served):
    r = get(served.admin, "/ready")
    assert r.status == 200


def test_clusters_endpoint_is_json_with_hosts_and_stats(served, echo_backends):
    get(served.port, "/")
    r = get(served.admin, "/clusters")
    assert r.status == 200
    data = r.json()
    assert isinstance(data, list) and len(data) == 1
    c = data[0]
    assert c["name"] == "app" and c["lb"] == "round_robin"
    addrs = sorted(h["address"] for h in c["hosts"])
    assert addrs == sorted(f"127.0.0.1:{echo_backends[n]}" for n in ("alpha", "beta"))
    assert all(h["healthy"] and h["weight"] == 1 for h in c["hosts"])
    assert c["stats"]["requests"] == 1


def test_config_endpoint_shows_configuration_in_force(served):
    r = get(served.admin, "/config")
    assert r.status == 200
    text = r.body.decode()
    assert "name: web" in text and "cluster: app" in text


def test_unknown_admin_path_is_404(served):
    assert get(served.admin, "/nope").status == 404


def test_admin_answers_a_request_sent_with_its_fin_and_head_gets_no_body(served):
    import socket
    s = socket.create_connection(("127.0.0.1", served.admin), timeout=5)
    s.sendall(b"GET /ready HTTP/1.1\r\nHost: a\r\n\r\n")
    s.shutdown(socket.SHUT_WR)  # as `printf ... | nc -N` does
    data = read_until_close(s)
    s.close()
    assert data.startswith(b"HTTP/1.1 200"), data
    with Conn(served.admin) as c:
        c.send(b"HEAD /metrics HTTP/1.1\r\nHost: a\r\n\r\n")
        r = c.read_response(head_request=True)
        assert r.status == 200 and int(r.header("content-length")) > 0
        assert c.is_closed(timeout=3) and bytes(c.buf) == b"", f"HEAD got a body: {bytes(c.buf)[:80]!r}"


def test_access_log_one_json_line_per_request_with_upstream_timings(served, echo_backends):
    with Conn(served.port) as c:
        c.request("GET", "/first?x=1")
        c.request("POST", "/second", body=b"12345")
        c.request("GET", "/bytes/1000")
        c.request("GET", "/direct")
    log = served.access_log(min_lines=4)
    assert len(log) == 4, log
    first, second, third, direct = log
    for e in log:
        for key in ("ts_ms", "method", "path", "status", "bytes_received", "bytes_sent", "duration_ms", "client"):
            assert key in e, (key, e)
    assert first["method"] == "GET" and first["path"] == "/first?x=1" and first["status"] == 200
    assert first["upstream_host"] in {f"127.0.0.1:{echo_backends[n]}" for n in ("alpha", "beta")}
    assert first["cluster"] == "app"
    # Times come from the event loop's clock, read once per wakeup: a fast origin can show 0.
    assert first["upstream_connect_ms"] >= 0 and first["upstream_ttfb_ms"] >= 0
    assert first["upstream_reused"] is False
    assert first["duration_ms"] >= first["upstream_ttfb_ms"]
    assert second["method"] == "POST" and second["bytes_received"] >= 5
    assert third["bytes_sent"] >= 1000
    assert direct["status"] == 200 and "upstream_host" not in direct
    # Round robin over two hosts: the third request reuses the first's connection.
    assert third["upstream_reused"] is True and third["upstream_connect_ms"] == 0


def test_access_log_records_errors_and_rejections(served):
    get(served.port, "/status/404")
    Conn(served.port).send(b"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n")
    log = served.access_log(min_lines=2)
    assert [e["status"] for e in log] == [404, 400]


def test_access_log_to_file(hop, echo_backends, tmp_path):
    port, admin = free_port(), free_port()
    path = tmp_path / "access.jsonl"
    hop.run_config(simple_config(port, admin, [echo_backends["alpha"]], access_log=str(path)), port=port, admin=admin)
    for i in range(30):
        assert get(port, f"/f{i}").status == 200
    deadline = time.monotonic() + 3
    lines = []
    while time.monotonic() < deadline:
        lines = path.read_text().splitlines() if path.exists() else []
        if len(lines) >= 30:
            break
        time.sleep(0.05)
    assert [json.loads(line)["path"] for line in lines] == [f"/f{i}" for i in range(30)]


def test_access_log_escapes_hostile_paths(served):
    with Conn(served.port) as c:
        c.request("GET", "/a\"b\\c%0A")
    e = served.access_log(min_lines=1)[0]
    assert e["path"] == "/a\"b\\c%0A"


def test_process_log_goes_to_stderr_not_into_stdout_access_log(served):
    get(served.port, "/")
    served.access_log(min_lines=1)
    lines = [line for line in served.stdout().splitlines() if line.strip()]
    assert lines and all(line.startswith("{") for line in lines), lines[:3]
    # The process log is on stderr: the start-up line, in the log's format.
    err = served.stderr()
    assert "[hop] [info] hop serving " in err, err[-2000:]
    assert not any(line.startswith("{") for line in err.splitlines()), err[-2000:]


def test_duration_histograms_bucket_by_latency(served):
    get(served.port, "/delay/300")
    for _ in range(3):
        get(served.port, "/")
    d = "hop_downstream_request_duration_seconds_bucket"
    assert metric(served.admin, d, listener="web", le="0.25") == 3
    assert metric(served.admin, d, listener="web", le="0.5") == 4
    assert metric(served.admin, d, listener="web", le="+Inf") == 4
    assert metric(served.admin, "hop_upstream_ttfb_seconds_bucket", cluster="app", le="0.25") == 3
    assert 0.3 <= metric(served.admin, "hop_downstream_request_duration_seconds_sum", listener="web") < 0.6


def test_counters_survive_a_reload(served):
    for _ in range(5):
        get(served.port, "/")
    served.signal(signal.SIGHUP)
    assert wait_until(lambda: metric(served.admin, "hop_config_generation") == 2, timeout=3)
    get(served.port, "/")
    assert metric(served.admin, "hop_downstream_requests_total", listener="web") == 6
    assert metric(served.admin, "hop_upstream_requests_total", cluster="app") == 6
