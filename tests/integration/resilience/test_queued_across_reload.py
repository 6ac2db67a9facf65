"""A request queued for a pool connection when a reload removes its host is still served."""
import os
import pathlib
import signal
import subprocess
import sys
import threading
import time
import urllib.request

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "common"))
from hop_ports import free_port, wait_for_port  # noqa: E402

HOP = os.environ.get("HOP_BIN") or str(pathlib.Path(__file__).resolve().parents[3] / "build" / "hop")


def config(port, hosts):
    return (f"workers: 1\nlisteners: [{{name: web, address: '127.0.0.1:{port}', routes: [{{cluster: app}}]}}]\n"
            f"clusters: [{{name: app, pool: {{max_connections: 1}}, hosts: [{', '.join(repr(h) for h in hosts)}]}}]\n")


def test_request_queued_on_a_removed_host_is_still_served(tmp_path):
    a, b, port = free_port(), free_port(), free_port()
    procs = [subprocess.Popen([HOP, "backend", "--listen", f"127.0.0.1:{p}", "--name", n],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for p, n in ((a, "a"), (b, "b"))]
    cfg = tmp_path / "hop.yaml"
    cfg.write_text(config(port, [f"127.0.0.1:{a}"]))
    hop = subprocess.Popen([HOP, "run", "-c", str(cfg)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    procs.append(hop)
    try:
        for p in (a, b, port):
            wait_for_port(p)
        results = {}

        def fetch(name, path):
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
                results[name] = (r.status, r.headers.get("x-backend"))

        # One connection to host a: the first request holds it for 600 ms, the second queues.
        t1 = threading.Thread(target=fetch, args=("slow", "/delay/600"))
        t1.start()
        time.sleep(0.15)
        t2 = threading.Thread(target=fetch, args=("queued", "/"))
        t2.start()
        time.sleep(0.15)
        cfg.write_text(config(port, [f"127.0.0.1:{b}"]))  # host a leaves the config
        hop.send_signal(signal.SIGHUP)
        t1.join(6)
        t2.join(6)
        print(f"\n[queued-across-reload] {results}")
        assert results["slow"] == (200, "a")
        assert results["queued"] == (200, "a")  # finished on the snapshot it started with
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as r:
            assert r.headers.get("x-backend") == "b"  # new requests use the new config
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(5)
