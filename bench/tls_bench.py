#!/usr/bin/python3
"""hop vs nginx vs HAProxy terminating TLS, side by side (issue 4).

One worker each pinned to CPU 0, the same certificate (examples/certs/localhost.pem, EC
P-256), proxying to the same nginx origin over cleartext HTTP/1.1. Rounds alternate
(hop nginx haproxy hop ...) so machine noise hits everyone alike; tables show medians.

 warm       h2load over TLS + h2, 10 connections x 10 streams, connections stay up:
            CPU-us per request (the proxy's utime+stime from /proc over requests served)
 full       openssl s_time -new: a full handshake per connection (TLS 1.3, then 1.2):
            handshakes per CPU-second of the proxy
 resumed    openssl s_time -reuse: resumed handshakes (tickets / session ids):
            handshakes per CPU-second of the proxy

    bench/tls_bench.py [--rounds 3] [--duration 5] [--only warm,full,resumed]
"""
import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import proxy_bench as pb  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
CERT = REPO / "examples" / "certs" / "localhost.pem"
KEY = REPO / "examples" / "certs" / "localhost-key.pem"
CA = REPO / "examples" / "certs" / "ca.pem"
PORTS = {"hop": 18200, "nginx": 18202, "haproxy": 18201}
ORIGIN_PORT = 19201
NAMES = ("hop", "nginx", "haproxy")


def hop_config(port):
    text = f"""workers: 1
listeners:
  - name: tls
    address: 127.0.0.1:{port}
    tls:
      certificates: [{{cert: {CERT}, key: {KEY}}}]
    routes: [{{match: {{prefix: /}}, cluster: origin}}]
clusters:
  - name: origin
    hosts: [127.0.0.1:{ORIGIN_PORT}]
"""
    f = tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False)
    f.write(text)
    f.close()
    return f.name


def proxy_cmd(name, hop):
    port = PORTS[name]
    if name == "hop":
        tail = [hop, "run", "-c", hop_config(port)]
    else:
        tail = ["bash", str(pb.PEER), name, "--listen", f"127.0.0.1:{port}", "--to", f"127.0.0.1:{ORIGIN_PORT}",
                "--tls", str(CERT), str(KEY)]
    return ["taskset", "-c", "0"] + tail


def h2load(port, seconds):
    cmd = ["taskset", "-c", "1", "h2load", "-D", str(seconds), "-c", "10", "-m", "10", "-t", "1",
           f"https://127.0.0.1:{port}/"]
    out = subprocess.run(cmd, capture_output=True, text=True).stdout
    m = re.search(r"requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed", out)
    if not m:
        raise RuntimeError(f"h2load failed: {out}")
    proto = re.search(r"Application protocol: (\S+)", out)
    return {"requests": int(m.group(2)), "failed": int(m.group(3)), "alpn": proto.group(1) if proto else "?"}


def s_time(port, seconds, mode, version):
    cmd = ["taskset", "-c", "1", "openssl", "s_time", "-connect", f"127.0.0.1:{port}", mode, "-time", str(seconds),
           f"-{version}", "-CAfile", str(CA)]
    out = subprocess.run(cmd, capture_output=True, text=True).stdout
    counts = re.findall(r"(\d+) connections in [\d.]+s", out)
    if not counts:
        raise RuntimeError(f"s_time failed: {out}")
    return {"requests": int(counts[-1])}


def measured(name, args, fn):
    p = pb.start(proxy_cmd(name, args.hop), PORTS[name])
    try:
        fn(PORTS[name], 1)  # warm-up: pools, session caches
        c0 = pb.cpu_seconds(p.pid)
        r = fn(PORTS[name], args.duration)
        r["cpu"] = pb.cpu_seconds(p.pid) - c0
    finally:
        pb.stop(p)
    return r


def run(args, label, fn, unit, per_cpu):
    res = {n: [] for n in NAMES}
    for rnd in range(args.rounds):
        for n in NAMES:
            r = measured(n, args, fn)
            r["figure"] = (r["requests"] / r["cpu"]) if per_cpu else (r["cpu"] * 1e6 / max(r["requests"], 1))
            res[n].append(r)
            print(f"  [{label}] round {rnd + 1} {n:8s} " + " ".join(f"{k}={v}" for k, v in r.items()), flush=True)
    med = {n: statistics.median(x["figure"] for x in rows) for n, rows in res.items()}
    best = max(med["nginx"], med["haproxy"]) if per_cpu else min(med["nginx"], med["haproxy"])
    print(f"\n== {label}: {unit}")
    for n in NAMES:
        extra = f"  alpn={res[n][0].get('alpn')}" if "alpn" in res[n][0] else ""
        fails = sum(r.get("failed", 0) for r in res[n])
        print(f"  {n:8s} {med[n]:10.1f}   {med[n] / best:.2f}x the better peer   failed={fails}{extra}")
    return med


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--hop", default=pb.HOP)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--only", default="warm,full,resumed")
    args = ap.parse_args()
    only = set(args.only.split(","))
    origin = pb.start(["taskset", "-c", "1", "bash", str(pb.PEER), "origin", "--listen", f"127.0.0.1:{ORIGIN_PORT}"],
                      ORIGIN_PORT)
    try:
        if "warm" in only:
            run(args, "warm h2 over TLS", lambda port, s: h2load(port, s), "CPU-us per request (lower is better)",
                False)
        for version in ("tls1_3", "tls1_2"):
            if "full" in only:
                run(args, f"full handshakes {version}", lambda port, s: s_time(port, s, "-new", version),
                    "handshakes per CPU-second (higher is better)", True)
            if "resumed" in only:
                run(args, f"resumed handshakes {version}", lambda port, s: s_time(port, s, "-reuse", version),
                    "handshakes per CPU-second (higher is better)", True)
    finally:
        pb.stop(origin)


if __name__ == "__main__":
    time.sleep(0)
    main()
