"""hop trace against hop itself: `hop backend` as the origin and `hop proxy --server-timing`
in front, so the server-side rows (hop-pre, upstream-connect, upstream-ttfb, retries,
hop-total) appear nested under ttfb."""
import pytest

from conftest import free_port, hop_has_command, run_trace, run_trace_json


@pytest.fixture(scope="module")
def hop_backend(hop_bin, servers):
    assert hop_has_command(hop_bin, "backend"), "`hop --help` does not list the backend command"
    port = free_port()
    servers.start([hop_bin, "backend", "--listen", f"127.0.0.1:{port}", "--workers", "1"], port)
    return port


@pytest.fixture(scope="module")
def hop_proxy(hop_bin, servers, hop_backend):
    assert hop_has_command(hop_bin, "proxy"), "`hop --help` does not list the proxy command"
    port = free_port()
    servers.start([hop_bin, "proxy", "--listen", f"127.0.0.1:{port}", "--to",
                   f"127.0.0.1:{hop_backend}", "--server-timing", "--workers", "1"], port)
    return port


def timing(row, name):
    found = [e for e in row["server_timing"] if e["name"] == name]
    assert found, f"no {name} in {row['server_timing']}"
    return found[0]


def test_backend_delay_shows_in_ttfb(hop_bin, hop_backend):
    proc, rows = run_trace_json(hop_bin, f"http://127.0.0.1:{hop_backend}/delay/200")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert 195 <= rows[0]["ttfb_ms"] < 1000


def test_backend_error_status_fails_in_http(hop_bin, hop_backend):
    proc, rows = run_trace_json(hop_bin, f"http://127.0.0.1:{hop_backend}/status/500")
    assert proc.returncode == 7 and rows[0]["failed_phase"] == "http"


def test_proxy_server_timing_rows(hop_bin, hop_proxy, hop_backend):
    proc, rows = run_trace_json(hop_bin, f"http://127.0.0.1:{hop_proxy}/delay/200")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    r = rows[0]
    names = [e["name"] for e in r["server_timing"]]
    for name in ("hop-pre", "upstream-connect", "upstream-ttfb", "retries", "hop-total"):
        assert name in names
    ttfb = timing(r, "upstream-ttfb")
    assert ttfb["desc"] == f"127.0.0.1:{hop_backend}"
    # hop's wait for its upstream lies inside the client's send + ttfb: hop trace can be late to
    # stamp the end of its write on a loaded machine, so ttfb alone may be the shorter.
    assert 195 <= ttfb["dur"] <= r["send_ms"] + r["ttfb_ms"] + 1
    assert timing(r, "upstream-connect")["desc"] in ("new", "reused")
    assert timing(r, "retries")["desc"] == "0"
    assert timing(r, "hop-total")["dur"] >= ttfb["dur"]


def test_proxy_pooled_upstream_connect_is_zero(hop_bin, hop_proxy):
    proc, rows = run_trace_json(hop_bin, "-n", "3", f"http://127.0.0.1:{hop_proxy}/")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert [r["reused"] for r in rows] == [False, True, True]
    assert all(r["connect_ms"] == 0 for r in rows[1:])
    last = timing(rows[-1], "upstream-connect")
    assert last["desc"] == "reused" and last["dur"] == 0


def test_waterfall_nests_server_rows_under_ttfb(hop_bin, hop_proxy):
    proc = run_trace(hop_bin, f"http://127.0.0.1:{hop_proxy}/delay/50")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    ttfb = next(i for i, l in enumerate(lines) if l.strip().startswith("ttfb "))
    transfer = next(i for i, l in enumerate(lines) if l.strip().startswith("transfer "))
    nested = [l.strip().split()[0] for l in lines[ttfb + 1:transfer]]
    assert nested == ["hop-pre", "upstream-connect", "upstream-ttfb", "retries", "hop-total"]


def test_traceparent_reaches_the_backend_through_hop(hop_bin, hop_proxy, tmp_path):
    import json
    body = tmp_path / "body.json"
    proc, rows = run_trace_json(hop_bin, "-o", str(body), f"http://127.0.0.1:{hop_proxy}/echo")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    seen = json.loads(body.read_text())["headers"]["traceparent"]
    sent = rows[0]["traceparent"]
    # Same trace-id (W3C §3.2.2.3); a proxy that takes part may give its own parent-id.
    assert seen.split("-")[1] == sent.split("-")[1]
