"""Balancing: weighted round robin, least request, random, Maglev on header, cookie, client IP."""
import collections
import socket
import threading
import time

from proxy_helpers import Conn, ScriptedUpstream, free_port, read_until_close


def weighted_hosts(ports_weights):
    return "".join(f"      - {{ address: 127.0.0.1:{p}, weight: {w} }}\n" for p, w in ports_weights)


def start(hop, ports_weights, lb, hash_on=None):
    port, admin = free_port(), free_port()
    hosts = weighted_hosts(ports_weights)
    text = f"""workers: 1
admin: 127.0.0.1:{admin}
listeners:
  - name: web
    address: 127.0.0.1:{port}
    routes:
      - cluster: app
clusters:
  - name: app
    lb: {lb}
"""
    if hash_on:
        text += f"    hash_on: \"{hash_on}\"\n"
    text += "    hosts:\n" + hosts
    return hop.run_config(text, port=port, admin=admin)


def count(port, n, headers_for=lambda i: {}):
    c = collections.Counter()
    with Conn(port) as conn:
        for i in range(n):
            r = conn.request("GET", "/", headers=headers_for(i))
            assert r.status == 200
            c[r.header("x-backend")] += 1
    return c


def test_weighted_round_robin_is_exact(hop, echo_backends):
    hp = start(hop, [(echo_backends["alpha"], 3), (echo_backends["beta"], 1)], "round_robin")
    c = count(hp.port, 400)
    assert c == {"alpha": 300, "beta": 100}, c


def test_round_robin_smooth_interleaves(hop, echo_backends):
    hp = start(hop, [(echo_backends["alpha"], 2), (echo_backends["beta"], 1)], "round_robin")
    seq = []
    with Conn(hp.port) as conn:
        for _ in range(9):
            seq.append(conn.request("GET", "/").header("x-backend"))
    # Smooth WRR never sends three in a row to the heavier host with weights 2:1.
    assert "alpha,alpha,alpha" not in ",".join(seq), seq
    assert seq.count("alpha") == 6


def test_random_follows_weights(hop, echo_backends):
    hp = start(hop, [(echo_backends["alpha"], 3), (echo_backends["beta"], 1)], "random")
    c = count(hp.port, 2000)
    assert 1380 <= c["alpha"] <= 1620, c


def test_least_request_prefers_the_less_busy_host(hop, echo_backends):
    def slow(c, req, idx):
        time.sleep(0.3)
        c.sendall(b"HTTP/1.1 200 OK\r\nx-backend: slow\r\nContent-Length: 2\r\n\r\nok")

    up = ScriptedUpstream(slow)
    hp = start(hop, [(echo_backends["alpha"], 1), (up.port, 1)], "least_request")
    counts = collections.Counter()
    lock = threading.Lock()
    stop = time.monotonic() + 2.0

    def client():
        with Conn(hp.port) as conn:
            while time.monotonic() < stop:
                b = conn.request("GET", "/").header("x-backend")
                with lock:
                    counts[b] += 1

    threads = [threading.Thread(target=client) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    up.close()
    total = sum(counts.values())
    # Round robin would give the slow host half; least request sends it a small share.
    assert counts["alpha"] / total > 0.85, counts


def maglev_spread(port, n_keys, headers_for):
    mapping = {}
    with Conn(port) as conn:
        for k in range(n_keys):
            seen = {conn.request("GET", "/", headers=headers_for(k)).header("x-backend") for _ in range(3)}
            assert len(seen) == 1, f"key {k} went to {seen}"
            mapping[k] = seen.pop()
    return collections.Counter(mapping.values()), mapping


def test_maglev_on_header_is_sticky_and_weighted(hop, echo_backends):
    hp = start(hop, [(echo_backends["alpha"], 2), (echo_backends["beta"], 1), (echo_backends["gamma"], 1)],
               "maglev", "header:x-user")
    c, mapping = maglev_spread(hp.port, 400, lambda k: {"X-User": f"user-{k}"})
    assert 160 <= c["alpha"] <= 240 and 70 <= c["beta"] <= 130 and 70 <= c["gamma"] <= 130, c
    # Another connection agrees with the first.
    with Conn(hp.port) as conn:
        for k in range(0, 400, 37):
            assert conn.request("GET", "/", headers={"X-User": f"user-{k}"}).header("x-backend") == mapping[k]


def test_maglev_on_cookie_is_sticky(hop, echo_backends):
    hp = start(hop, [(echo_backends["alpha"], 1), (echo_backends["beta"], 1)], "maglev", "cookie:sid")
    c, _ = maglev_spread(hp.port, 200, lambda k: {"Cookie": f"theme=dark; sid=s{k}; x=1"})
    assert 70 <= c["alpha"] <= 130, c


def test_maglev_on_client_ip_is_sticky(hop, echo_backends):
    hp = start(hop, [(echo_backends["alpha"], 1), (echo_backends["beta"], 1)], "maglev", "client_ip")
    mapping = {}
    for i in range(2, 122):
        src = f"127.0.0.{i}"
        seen = set()
        for _ in range(3):
            s = socket.socket()
            s.settimeout(5)
            s.bind((src, 0))
            s.connect(("127.0.0.1", hp.port))
            s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
            data = read_until_close(s)
            s.close()
            head = data.split(b"\r\n\r\n", 1)[0].decode()
            seen.add([line.split(":", 1)[1].strip() for line in head.split("\r\n") if line.lower().startswith("x-backend")][0])
        assert len(seen) == 1, (src, seen)
        mapping[src] = seen.pop()
    c = collections.Counter(mapping.values())
    assert 35 <= c["alpha"] <= 85, c
