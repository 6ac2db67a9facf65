"""Starts hop serving examples/dns.yaml as a real process.

`hop run -c examples/dns.yaml` when the hop binary serves `dns:`; until then (or with
HOP_DNS_SERVER=path) the one-thread bench/dns/dns_serve, which runs the same DnsServer.
"""
import http.server
import os
import pathlib
import shutil
import socket
import subprocess
import sys
import threading
import time

import dns.message
import dns.query
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "common"))
from hop_ports import free_port  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "examples" / "dns.yaml"
PORT = 5353


def answers(timeout=0.3):
    try:
        q = dns.message.make_query("ns1.hop.test", "A")
        r = dns.query.udp(q, "127.0.0.1", port=PORT, timeout=timeout)
        return r.rcode() == 0 and bool(r.answer)
    except Exception:
        return False


def wait_until(pred, limit=10.0, step=0.05):
    end = time.monotonic() + limit
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(step)
    return False


def hop_binary():
    for cand in (os.environ.get("HOP_BIN"), ROOT / "build" / "hop", ROOT / "build-dns" / "hop"):
        if cand and pathlib.Path(cand).is_file():
            return str(cand)
    return None


def start_hop(tmp_path, zone_file, origin, admin=None):
    """`hop run` serving zone_file as `origin` on a free port (the caller waits for it)."""
    port = free_port()
    cfg = tmp_path / "hop.yaml"
    cfg.write_text((f"admin: 127.0.0.1:{admin}\n" if admin else "") +
                   f"dns:\n  listen: [127.0.0.1:{port}]\n  zones:\n"
                   f"    - {{origin: {origin}, file: {zone_file}}}\n")
    proc = subprocess.Popen([hop_binary(), "run", "-c", str(cfg)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    return proc, port


def start_peer(kind, zone_file, origin, tmp):
    """knotd or nsd in the foreground on a free port, serving zone_file (installed by
    scripts/install-deps --test; the settings are those of the benchmarks' peers)."""
    port = free_port()
    d = tmp / kind
    d.mkdir()
    if kind == "knot":
        conf = d / "knot.conf"
        conf.write_text(f"server:\n  listen: 127.0.0.1@{port}\n  rundir: {d}\n  udp-workers: 1\n  tcp-workers: 1\n"
                        f"database:\n  storage: {d}\nlog:\n  - target: stderr\n    any: warning\n"
                        f"zone:\n  - domain: {origin}\n    file: {zone_file}\n    semantic-checks: off\n")
        cmd = ["knotd", "-c", str(conf)]
    else:
        conf = d / "nsd.conf"
        conf.write_text(f"server:\n  ip-address: 127.0.0.1@{port}\n  server-count: 1\n  username: \"\"\n"
                        f"  zonesdir: \"{d}\"\n  database: \"\"\n  zonelistfile: \"{d}/zone.list\"\n"
                        f"  xfrdfile: \"{d}/xfrd.state\"\n  pidfile: \"{d}/nsd.pid\"\n  logfile: \"{d}/nsd.log\"\n"
                        f"remote-control:\n  control-enable: no\n"
                        f"zone:\n  name: \"{origin}\"\n  zonefile: \"{zone_file}\"\n")
        cmd = ["nsd", "-d", "-c", str(conf)]
    binary = shutil.which(cmd[0]) or f"/usr/sbin/{cmd[0]}"
    proc = subprocess.Popen([binary] + cmd[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return proc, port


def start(cmd):
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=ROOT)
    if wait_until(answers, 5.0):
        return proc
    proc.terminate()
    try:
        out = proc.communicate(timeout=5)[0].decode(errors="replace")
    except subprocess.TimeoutExpired:
        proc.kill()
        out = ""
    return out


class HealthServer:
    """GET /health → 200 on 127.0.0.1:9201; stop() makes connections refused."""

    def __init__(self, port=9201):
        self.port = port
        self.httpd = None

    def start(self):
        class H(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200 if self.path == "/health" else 404)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        http.server.ThreadingHTTPServer.allow_reuse_address = True
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), H)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self):
        if self.httpd:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.httpd = None


@pytest.fixture(scope="session")
def health_server():
    h = HealthServer()
    h.start()  # up before hop starts, so the primary starts healthy
    yield h
    h.stop()


@pytest.fixture(scope="session")
def server(health_server):
    if answers():
        pytest.fail(f"something already answers on 127.0.0.1:{PORT}")
    failures = []
    hop = hop_binary()
    if hop and not os.environ.get("HOP_DNS_SERVER"):
        got = start([hop, "run", "-c", str(EXAMPLE)])
        if isinstance(got, subprocess.Popen):
            yield {"proc": got, "kind": "hop run", "admin": "127.0.0.1:9901"}
            got.terminate()
            got.wait(timeout=10)
            return
        failures.append(f"hop run: {got[-2000:]}")
    serve = os.environ.get("HOP_DNS_SERVER")
    if not serve:
        serve = subprocess.run([str(ROOT / "bench/dns/build-serve")], check=True, capture_output=True,
                               text=True).stdout.strip()
    got = start([serve, str(EXAMPLE)])
    if not isinstance(got, subprocess.Popen):
        pytest.fail("no DNS server came up:\n" + "\n".join(failures + [got]))
    yield {"proc": got, "kind": "dns_serve", "admin": None}
    got.terminate()
    got.wait(timeout=10)
