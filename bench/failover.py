#!/usr/bin/python3
"""Losing a backend under load (issue 26): hop, nginx and HAProxy side by side.

    bench/failover.py [--rounds 1] [--seconds 60] [--connections 200] [--only hop,nginx,haproxy] [--json FILE]

Two nginx origins (one process each, `return 200`), a proxy in front with one worker, and
`wrk -t2 -c200` through it for 60 s while origin A is SIGKILLed at 4, 16, 28, 40 and 52 s
and started again 5 s later. Each proxy is configured the way its users would for this:

- hop: round robin, `retries: {attempts: 2, on: [connect-failure, reset, 5xx]}`, an HTTP
  health check every 1 s (unhealthy after 2); everything else default (the connect-failure
  detector ejects on the first failed connect).
- nginx 1.22: its defaults for this — `proxy_next_upstream error timeout`, `max_fails=1
  fail_timeout=10s` — with upstream keepalive (nginx has no active health checks).
- HAProxy 2.6: `option redispatch`, `retries 3`, `check inter 1s fall 2` with `option httpchk
  GET /health`, `observe layer4`, `http-reuse always`.

Per proxy: requests, client errors (non-2xx and socket errors), p50/p99 latency (wrk, whole
run), and, from tcpdump on lo, every connection attempt (SYN) to the lost origin while it
was down: how many, and the time from the kill to the last attempt of the burst that
follows it (attempts closer than 50 ms apart; later ones are the periodic health probes).
The proxy runs on CPU 0, wrk and the origins on CPU 1 (as bench/run). Not part of CI.
"""
import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HOP = os.environ.get("HOP_BIN", str(REPO / "build" / "hop"))
PROXY_CPUS, LOAD_CPUS = "0", "1"
PORTS = {"hop": 18200, "nginx": 18201, "haproxy": 18202}
ADMIN = 18209
ORIGINS = (19101, 19102)


def need(binary, package):
    if not shutil.which(binary):
        subprocess.run(["apt-get", "install", "-y", "-q", package], check=True, stdout=subprocess.DEVNULL,
                       env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})


def wait_port(port, timeout=10):
    import socket
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"nothing on port {port}")


class Origin:
    """nginx, one process, so SIGKILL takes the whole server down at once."""

    def __init__(self, folder, port):
        self.dir, self.port = Path(folder), port
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "nginx.conf").write_text(textwrap.dedent(f"""\
            daemon off; master_process off; worker_processes 1;
            pid {self.dir}/nginx.pid; error_log {self.dir}/error.log;
            worker_rlimit_nofile 20000; events {{ worker_connections 10000; }}
            http {{ access_log off; keepalive_requests 1000000; keepalive_timeout 300s;
              server {{ listen 127.0.0.1:{port} reuseport backlog=4096; location / {{ return 200 "hello world\\n"; }} }} }}
            """))
        self.proc = None
        self.start()

    def start(self):
        self.proc = subprocess.Popen(["taskset", "-c", LOAD_CPUS, "nginx", "-p", str(self.dir), "-c",
                                      str(self.dir / "nginx.conf")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port)

    def kill(self):
        self.proc.kill()
        self.proc.wait()

    def close(self):
        if self.proc.poll() is None:
            self.kill()


def proxy_config(name, folder, port):
    a, b = (f"127.0.0.1:{p}" for p in ORIGINS)
    if name == "hop":
        path = folder / "hop.yaml"
        path.write_text(textwrap.dedent(f"""\
            workers: 1
            admin: 127.0.0.1:{ADMIN}
            access_log: "off"
            listeners:
              - name: web
                address: 127.0.0.1:{port}
                routes:
                  - match: {{ prefix: / }}
                    cluster: app
                    retries: {{ attempts: 2, on: [connect-failure, reset, 5xx] }}
            clusters:
              - name: app
                hosts: [{a}, {b}]
                health_check: {{ http: /health, interval: 1s, unhealthy: 2 }}
            """))
        return [HOP, "run", "-c", str(path)]
    if name == "nginx":
        path = folder / "nginx.conf"
        path.write_text(textwrap.dedent(f"""\
            worker_processes 1; daemon off; pid {folder}/nginx.pid; error_log {folder}/error.log;
            worker_rlimit_nofile 20000; events {{ worker_connections 10000; }}
            http {{ access_log off; keepalive_requests 1000000; keepalive_timeout 300s;
              upstream be {{ server {a}; server {b}; keepalive 256; keepalive_requests 1000000; }}
              server {{ listen 127.0.0.1:{port} backlog=4096;
                location / {{ proxy_pass http://be; proxy_http_version 1.1; proxy_set_header Connection ""; }} }} }}
            """))
        return ["nginx", "-p", str(folder), "-c", str(path)]
    path = folder / "haproxy.cfg"
    path.write_text(textwrap.dedent(f"""\
        global
          nbthread 1
          maxconn 9000
        defaults
          mode http
          timeout connect 5s
          timeout client 300s
          timeout server 300s
          option http-keep-alive
          option redispatch
          retries 3
        frontend fe
          bind 127.0.0.1:{port}
          default_backend be
        backend be
          balance roundrobin
          http-reuse always
          option httpchk GET /health
          server s1 {a} check inter 1s fall 2 observe layer4
          server s2 {b} check inter 1s fall 2 observe layer4
        """))
    return ["haproxy", "-db", "-f", str(path)]


class SynCapture:
    """tcpdump on lo: the time of every SYN to `port` (connection attempts, probes included)."""

    def __init__(self, port):
        self.times = []
        self.proc = subprocess.Popen(["tcpdump", "-i", "lo", "-n", "-tt", "-l", "-q",
                                      f"tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn and dst port {port}"],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        threading.Thread(target=self._read, daemon=True).start()
        time.sleep(1.0)  # tcpdump attaches its filter

    def _read(self):
        for line in self.proc.stdout:
            m = re.match(r"(\d+\.\d+) ", line)
            if m:
                self.times.append(float(m.group(1)))

    def close(self):
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(5)


def parse_wrk(out):
    def ms(v, unit):
        return float(v) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
    r = {"requests": int(re.search(r"(\d+) requests in", out).group(1))}
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    non2xx = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    r["errors"] = non2xx + (sum(int(x) for x in m.groups()) if m else 0)
    for q in ("50", "99"):
        m = re.search(q + r"%\s+([\d.]+)(us|ms|s)", out)
        r[f"p{q}_ms"] = ms(*m.groups()) if m else None
    return r


def one_run(name, seconds, connections, work):
    folder = Path(tempfile.mkdtemp(prefix=f"failover-{name}-", dir=work))
    origins = [Origin(folder / f"origin{i}", p) for i, p in enumerate(ORIGINS)]
    port = PORTS[name]
    # Its own process group: nginx's workers die with their master (SIGKILL to the group).
    proxy = subprocess.Popen(["taskset", "-c", PROXY_CPUS, *proxy_config(name, folder, port)],
                             stdout=subprocess.DEVNULL, stderr=open(folder / "proxy.stderr", "w"),
                             start_new_session=True)
    syns = None
    try:
        wait_port(port)
        time.sleep(2.5)  # health checks settle
        syns = SynCapture(ORIGINS[0])
        wrk = subprocess.Popen(["taskset", "-c", LOAD_CPUS, "wrk", "-t2", f"-c{connections}", f"-d{seconds}s",
                                "--latency", f"http://127.0.0.1:{port}/"], stdout=subprocess.PIPE, text=True)
        t0 = time.monotonic()
        losses = []
        for i in range(5):
            time.sleep(max(0.0, t0 + 4 + 12 * i - time.monotonic()))
            killed = time.time()
            origins[0].kill()
            time.sleep(5)
            restarted = time.time()
            origins[0].start()
            losses.append((killed, restarted))
        out, _ = wrk.communicate(timeout=seconds + 60)
        r = parse_wrk(out)
        attempts, bursts = [], []
        for killed, restarted in losses:
            down = sorted(t for t in syns.times if killed <= t < restarted)
            attempts.append(len(down))
            end = killed
            for t in down:
                if t - end > 0.05:
                    break
                end = t
            bursts.append(round((end - killed) * 1000, 1))
        r["attempts_while_down"] = attempts
        r["kill_to_last_attempt_ms"] = bursts
        return r
    finally:
        if syns:
            syns.close()
        os.killpg(proxy.pid, signal.SIGKILL)
        proxy.wait()
        for o in origins:
            o.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--connections", type=int, default=200)
    ap.add_argument("--only", default="hop,nginx,haproxy")
    ap.add_argument("--json")
    a = ap.parse_args()
    need("tcpdump", "tcpdump")
    need("haproxy", "haproxy")
    need("nginx", "nginx-light")
    names = a.only.split(",")
    work = tempfile.mkdtemp(prefix="hop-failover-")
    results = {n: [] for n in names}
    for rnd in range(a.rounds):
        for n in names:
            r = one_run(n, a.seconds, a.connections, work)
            results[n].append(r)
            print(f"round {rnd + 1} {n:8} {json.dumps(r)}", flush=True)
    print(f"\n{a.connections} connections, {a.seconds} s, origin A killed 5 times for 5 s; medians of {a.rounds} round(s)")
    print(f"{'proxy':8} {'requests':>10} {'errors':>7} {'p50 ms':>7} {'p99 ms':>7}  attempts to A while down / kill->last (ms)")
    for n in names:
        rs = results[n]
        med = lambda k: statistics.median(x[k] for x in rs if x[k] is not None)  # noqa: E731
        print(f"{n:8} {med('requests'):>10.0f} {med('errors'):>7.0f} {med('p50_ms'):>7.2f} {med('p99_ms'):>7.2f}  "
              f"{rs[-1]['attempts_while_down']} / {rs[-1]['kill_to_last_attempt_ms']}")
    if a.json:
        Path(a.json).write_text(json.dumps(results, indent=1))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
