"""hop trace against nginx and a python origin: timings land in the right phase, reuse
shows as reused with no setup cost, TLS details and h2 are reported."""
import re

from conftest import run_trace, run_trace_json

STABLE_FIELDS = {"status", "dns_ms", "connect_ms", "tls_ms", "ttfb_ms", "transfer_ms",
                 "total_ms", "reused", "remote_addr", "tls_version", "alpn", "bytes",
                 "server_timing"}


def test_backend_delay_shows_in_ttfb(hop_bin, nginx):
    proc, rows = run_trace_json(hop_bin, f"http://127.0.0.1:{nginx['http']}/delay/200")
    assert proc.returncode == 0, proc.stderr
    r = rows[0]
    assert r["status"] == 200
    assert 195 <= r["ttfb_ms"] < 1000
    # The delay belongs to ttfb alone, not to setup or transfer: each of those is shorter than
    # the 200 ms delay (a bound from the delay, not from how fast a loaded machine connects).
    assert r["connect_ms"] < 195 and r["transfer_ms"] < 195
    assert r["total_ms"] >= r["ttfb_ms"]


def test_json_has_the_stable_fields(hop_bin, nginx):
    proc, rows = run_trace_json(hop_bin, f"http://127.0.0.1:{nginx['http']}/")
    assert proc.returncode == 0, proc.stderr
    assert STABLE_FIELDS <= rows[0].keys()
    assert rows[0]["remote_addr"] == f"127.0.0.1:{nginx['http']}"
    assert rows[0]["tls_version"] == "" and rows[0]["alpn"] == ""


def test_reused_connection_shows_connect_zero(hop_bin, nginx):
    proc, rows = run_trace_json(hop_bin, "-n", "3", f"http://127.0.0.1:{nginx['http']}/")
    assert proc.returncode == 0, proc.stderr
    assert [r["reused"] for r in rows] == [False, True, True]
    assert rows[0]["connect_ms"] > 0
    for r in rows[1:]:
        assert r["connect_ms"] == 0 and r["dns_ms"] == 0 and r["tls_ms"] == 0


def test_no_reuse_opens_a_connection_each_time(hop_bin, nginx):
    proc, rows = run_trace_json(hop_bin, "-n", "2", "--no-reuse",
                                f"http://127.0.0.1:{nginx['http']}/")
    assert proc.returncode == 0, proc.stderr
    assert [r["reused"] for r in rows] == [False, False]
    assert all(r["connect_ms"] > 0 for r in rows)


def test_traceparent_is_sent_and_reported(hop_bin, backend, tmp_path):
    body = tmp_path / "body"
    proc, rows = run_trace_json(hop_bin, "-o", str(body), f"http://127.0.0.1:{backend}/")
    assert proc.returncode == 0, proc.stderr
    tp = rows[0]["traceparent"]
    assert re.fullmatch(r"00-[0-9a-f]{32}-[0-9a-f]{16}-01", tp)
    assert body.read_text().strip() == tp  # the origin echoes what it received


def test_each_request_of_a_run_shares_the_trace_id(hop_bin, backend):
    proc, rows = run_trace_json(hop_bin, "-n", "3", f"http://127.0.0.1:{backend}/")
    ids = [r["traceparent"].split("-") for r in rows]
    assert len({i[1] for i in ids}) == 1 and len({i[2] for i in ids}) == 3


def test_h2_body_is_written(hop_bin, nginx, certs, tmp_path):
    body = tmp_path / "body"
    proc, rows = run_trace_json(hop_bin, "--cacert", certs["ca"], "-o", str(body),
                                f"https://localhost:{nginx['h2']}/bytes/100000")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert body.stat().st_size == rows[0]["bytes"] == 100000


def test_origin_server_timing_is_parsed(hop_bin, backend):
    proc, rows = run_trace_json(hop_bin, f"http://127.0.0.1:{backend}/")
    st = rows[0]["server_timing"]
    assert {"name": "db", "dur": 12.5, "desc": "query, cached"} in st
    assert {"name": "cache", "dur": None, "desc": "miss"} in st


def test_chunked_and_close_delimited_bodies(hop_bin, backend):
    proc, rows = run_trace_json(hop_bin, f"http://127.0.0.1:{backend}/chunked")
    assert proc.returncode == 0, proc.stderr
    assert rows[0]["bytes"] == 11
    assert rows[0]["server_timing"][0]["name"] == "app"
    proc, rows = run_trace_json(hop_bin, "-n", "2", f"http://127.0.0.1:{backend}/close")
    assert proc.returncode == 0, proc.stderr
    assert [r["bytes"] for r in rows] == [12, 12]
    assert [r["reused"] for r in rows] == [False, False]


def test_post_body_is_sent(hop_bin, backend):
    proc, rows = run_trace_json(hop_bin, "-d", "hello", f"http://127.0.0.1:{backend}/")
    assert proc.returncode == 0, proc.stderr
    assert rows[0]["bytes"] == len(b"got 5\n")


def test_large_body_throughput(hop_bin, backend):
    proc, rows = run_trace_json(hop_bin, f"http://127.0.0.1:{backend}/bytes/2000000")
    assert proc.returncode == 0, proc.stderr
    assert rows[0]["bytes"] == 2_000_000
    assert rows[0]["throughput_bps"] > 0


def test_tls_h2_reports_version_alpn_and_certificate(hop_bin, nginx, certs):
    proc, rows = run_trace_json(hop_bin, "--cacert", certs["ca"],
                                f"https://localhost:{nginx['h2']}/delay/200")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    r = rows[0]
    assert r["tls_version"] == "TLSv1.3"
    assert r["alpn"] == "h2" and r["protocol"] == "HTTP/2"
    assert r["tls_ms"] > 0
    assert "localhost" in r["tls"]["subject"]
    assert r["tls"]["not_after"].startswith("2049-12-31")
    assert r["tls"]["resumed"] is False
    assert r["ttfb_ms"] >= 195


def test_h2_reuse_and_tls_resumption(hop_bin, nginx, certs):
    url = f"https://127.0.0.1:{nginx['h2']}/"
    proc, rows = run_trace_json(hop_bin, "--cacert", certs["ca"], "-n", "3", url)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert [r["reused"] for r in rows] == [False, True, True]
    assert all(r["connect_ms"] == 0 and r["tls_ms"] == 0 for r in rows[1:])
    proc, rows = run_trace_json(hop_bin, "--cacert", certs["ca"], "-n", "2", "--no-reuse", url)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert [r["tls"]["resumed"] for r in rows] == [False, True]


def test_http1_forced_over_tls(hop_bin, nginx, certs):
    proc, rows = run_trace_json(hop_bin, "--http1.1", "--cacert", certs["ca"],
                                f"https://localhost:{nginx['h2']}/")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert rows[0]["alpn"] == "http/1.1" and rows[0]["protocol"] == "HTTP/1.1"


def test_resolve_override(hop_bin, nginx, certs):
    port = nginx["h2"]
    proc, rows = run_trace_json(hop_bin, "--cacert", certs["ca"], "--resolve",
                                f"localhost:{port}:127.0.0.1", f"https://localhost:{port}/")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert rows[0]["dns"]["source"] == "--resolve"


def test_waterfall_plain_output(hop_bin, nginx, certs):
    proc = run_trace(hop_bin, "--cacert", certs["ca"], "-n", "2",
                     f"https://localhost:{nginx['h2']}/delay/200")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "\x1b[" not in out  # not a TTY: no colour codes
    for phase in ("dns", "connect", "tls", "send", "ttfb", "transfer", "total", "traceparent"):
        assert phase in out
    assert "TLSv1.3" in out and "alpn h2" in out
    assert "setup (dns+connect+tls)" in out and "paid 1 time" in out
