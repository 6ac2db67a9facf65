"""A request queued for a pool connection when a reload removes its host is still served."""
import threading
import time
import urllib.request

from res_helpers import free_port


def config(port, hosts):
    return (f"workers: 1\nlisteners: [{{name: web, address: '127.0.0.1:{port}', routes: [{{cluster: app}}]}}]\n"
            f"clusters: [{{name: app, pool: {{max_connections: 1}}, hosts: [{', '.join(repr(h) for h in hosts)}]}}]\n")


def test_request_queued_on_a_removed_host_is_still_served(hop):
    a, b = hop.backend("a"), hop.backend("b")
    port = free_port()
    hp = hop.run_config(config(port, [f"127.0.0.1:{a.port}"]), port=port)
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
    hop.write_config(config(port, [f"127.0.0.1:{b.port}"]))  # host a leaves the config
    hp.hup()
    t1.join(6)
    t2.join(6)
    print(f"\n[queued-across-reload] {results}")
    assert results["slow"] == (200, "a")
    assert results["queued"] == (200, "a")  # finished on the snapshot it started with
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as r:
        assert r.headers.get("x-backend") == "b"  # new requests use the new config
