"""Each network step can fail; hop trace names the phase, says why, and exits non-zero
with the status of that phase (3 dns, 4 connect, 5 tls, 6 send/ttfb/transfer, 7 http)."""
import socket

from conftest import free_port, run_trace_json


def assert_failed(proc, rows, phase, code, words):
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    r = rows[-1]
    assert r["ok"] is False and r["failed_phase"] == phase
    assert any(w in r["error"].lower() for w in words), r["error"]


def test_dns_nxdomain_fails_in_dns(hop_bin, dns_server):
    proc, rows = run_trace_json(hop_bin, "--dns-server", f"127.0.0.1:{dns_server}",
                                "http://missing.test/")
    assert_failed(proc, rows, "dns", 3, ["not find", "domain name not found", "resolve"])


def test_dns_answer_reports_ttl_and_resolver(hop_bin, dns_server, backend):
    proc, rows = run_trace_json(hop_bin, "--dns-server", f"127.0.0.1:{dns_server}", "-n", "2",
                                "--no-reuse", f"http://app.test:{backend}/")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    d = rows[0]["dns"]
    assert d["source"] == "dns" and d["ttl"] == 300 and d["cached"] is False
    assert d["resolver"] == f"127.0.0.1:{dns_server}"
    assert rows[0]["dns_ms"] > 0
    assert rows[1]["dns"]["cached"] is True


def test_dns_server_silent_times_out_in_dns(hop_bin):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        port = silent.getsockname()[1]
        proc, rows = run_trace_json(hop_bin, "--dns-server", f"127.0.0.1:{port}",
                                    "--connect-timeout", "1", "http://app.test/")
    assert proc.returncode == 3, proc.stdout
    assert rows[0]["failed_phase"] == "dns"


def test_connection_refused_fails_in_connect(hop_bin):
    proc, rows = run_trace_json(hop_bin, f"http://127.0.0.1:{free_port()}/")
    assert_failed(proc, rows, "connect", 4, ["refused"])


def test_connect_timeout_fails_in_connect(hop_bin):
    # A listener whose accept queue is full drops new SYNs, so the connect hangs until
    # our deadline: the local stand-in for a black-holed address.
    with socket.socket() as full:
        full.bind(("127.0.0.1", 0))
        full.listen(0)
        port = full.getsockname()[1]
        fillers = []
        for _ in range(4):
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", port))
            fillers.append(s)
        try:
            proc, rows = run_trace_json(hop_bin, "--connect-timeout", "0.5",
                                        f"http://127.0.0.1:{port}/")
        finally:
            for s in fillers:
                s.close()
    assert_failed(proc, rows, "connect", 4, ["timed out"])
    assert 400 <= rows[0]["connect_ms"] < 3000


def test_expired_certificate_fails_in_tls(hop_bin, nginx, certs):
    proc, rows = run_trace_json(hop_bin, "--cacert", certs["ca"],
                                f"https://localhost:{nginx['expired']}/")
    assert_failed(proc, rows, "tls", 5, ["expired"])
    assert rows[0]["tls"]["not_after"].startswith("2020-01-02")


def test_wrong_name_fails_in_tls(hop_bin, nginx, certs):
    proc, rows = run_trace_json(hop_bin, "--cacert", certs["ca"],
                                f"https://localhost:{nginx['wrong_name']}/")
    assert_failed(proc, rows, "tls", 5, ["hostname mismatch"])


def test_unknown_ca_fails_in_tls(hop_bin, nginx, certs):
    proc, rows = run_trace_json(hop_bin, "--cacert", certs["ca"],
                                f"https://localhost:{nginx['unknown_ca']}/")
    assert_failed(proc, rows, "tls", 5, ["local issuer", "self-signed", "self signed"])


def test_insecure_accepts_what_verification_refuses(hop_bin, nginx, certs):
    proc, rows = run_trace_json(hop_bin, "-k", f"https://localhost:{nginx['expired']}/")
    assert proc.returncode == 0, proc.stdout
    assert rows[0]["status"] == 200


def test_tls_to_a_plain_listener_fails_in_tls(hop_bin, nginx):
    proc, rows = run_trace_json(hop_bin, "-k", f"https://127.0.0.1:{nginx['http']}/")
    assert proc.returncode == 5 and rows[0]["failed_phase"] == "tls"


def test_http_error_fails_in_http(hop_bin, nginx):
    proc, rows = run_trace_json(hop_bin, f"http://127.0.0.1:{nginx['http']}/status/503")
    assert_failed(proc, rows, "http", 7, ["503"])
    assert rows[0]["status"] == 503


def test_max_time_fails_in_ttfb(hop_bin, backend):
    proc, rows = run_trace_json(hop_bin, "--max-time", "0.3", f"http://127.0.0.1:{backend}/delay/2000")
    assert_failed(proc, rows, "ttfb", 6, ["timed out"])


def test_server_closing_without_answer_fails_in_ttfb(hop_bin):
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)
        port = srv.getsockname()[1]
        import subprocess
        import sys
        import threading

        def accept_and_close():
            conn, _ = srv.accept()
            conn.recv(4096)
            conn.close()

        t = threading.Thread(target=accept_and_close, daemon=True)
        t.start()
        proc, rows = run_trace_json(hop_bin, f"http://127.0.0.1:{port}/")
        t.join(5)
    assert_failed(proc, rows, "ttfb", 6, ["closed"])


def test_bad_arguments_exit_2(hop_bin):
    proc, _ = run_trace_json(hop_bin, "ftp://127.0.0.1/")
    assert proc.returncode == 2 and "scheme" in proc.stderr


def test_truncated_body_fails_in_transfer(hop_bin, raw_server):
    proc, rows = run_trace_json(hop_bin, f"http://127.0.0.1:{raw_server('truncated')}/")
    assert_failed(proc, rows, "transfer", 6, ["body was complete"])
    assert rows[0]["bytes"] == 10


def test_non_http_answer_fails_in_ttfb(hop_bin, raw_server):
    proc, rows = run_trace_json(hop_bin, f"http://127.0.0.1:{raw_server('garbage')}/")
    assert_failed(proc, rows, "ttfb", 6, ["status line"])


def test_tls_handshake_timeout_fails_in_tls(hop_bin):
    # The kernel completes the TCP handshake for a listener that never accepts, so connect
    # succeeds and the ClientHello goes unanswered.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        proc, rows = run_trace_json(hop_bin, "--connect-timeout", "0.5", "-k",
                                    f"https://127.0.0.1:{port}/")
    assert_failed(proc, rows, "tls", 5, ["timed out"])


def test_reused_connection_closed_by_server_is_replaced(hop_bin, raw_server):
    # The server keeps no connection past one response without saying so; the second
    # request finds it closed, and hop trace retries once on a new connection (RFC 9112
    # §9.3.1), showing it as not reused.
    proc, rows = run_trace_json(hop_bin, "-n", "3", f"http://127.0.0.1:{raw_server('one-per-conn')}/")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert all(r["status"] == 200 for r in rows)
    assert all(r["reused"] is False and r["connect_ms"] > 0 for r in rows[1:])


def test_slow_body_time_lands_in_transfer(hop_bin, raw_server):
    proc, rows = run_trace_json(hop_bin, f"http://127.0.0.1:{raw_server('slow-body')}/")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # The 300 ms between head and body is transfer time, not ttfb (bounds from that delay).
    assert rows[0]["ttfb_ms"] < 280
    assert 280 <= rows[0]["transfer_ms"] < 1500


def test_h2c_to_an_http1_server_fails_after_connect(hop_bin, backend):
    proc, rows = run_trace_json(hop_bin, "--http2", f"http://127.0.0.1:{backend}/")
    assert proc.returncode == 6, proc.stdout
    assert rows[0]["failed_phase"] in ("send", "ttfb")
