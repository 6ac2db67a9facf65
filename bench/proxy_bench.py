#!/usr/bin/python3
"""hop vs nginx vs HAProxy as HTTP/1.1 reverse proxies, side by side on one origin.

One worker each, keep-alive on both sides, small responses. Runs rounds in alternation
(hop, nginx, haproxy, hop, ...) so machine noise hits everyone alike, and reports per proxy:
requests/s (wrk) and CPU microseconds per request (the proxy's utime+stime from /proc,
children included, divided by requests served).

    bench/proxy_bench.py [--rounds 3] [--duration 5] [--connections 50] [--mode keepalive|close]
"""
import argparse
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PEER = REPO.parent / "shared" / "peers" / "run-peer"
HOP = os.environ.get("HOP_BIN", str(REPO / "build" / "hop"))
TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    """utime+stime of pid and all its descendants (nginx workers are children)."""
    total = 0
    pids = [pid]
    seen = set()
    while pids:
        p = pids.pop()
        if p in seen:
            continue
        seen.add(p)
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
            for child in Path(f"/proc/{p}/task").iterdir():
                kids = Path(f"/proc/{p}/task/{child.name}/children")
                if kids.exists():
                    pids += [int(x) for x in kids.read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            pass
    return total / TICK


def rss_kib(pid):
    total = 0
    for p in [pid] + children(pid):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except FileNotFoundError:
            pass
    return total


def children(pid):
    out = []
    try:
        for t in Path(f"/proc/{pid}/task").iterdir():
            out += [int(x) for x in (t / "children").read_text().split()]
    except FileNotFoundError:
        pass
    return out


def wait_port(port, timeout=10):
    import socket
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"port {port} did not open")


def start(cmd, port):
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    wait_port(port)
    return p


def stop(p):
    try:
        os.killpg(p.pid, signal.SIGTERM)
        p.wait(5)
    except Exception:
        os.killpg(p.pid, signal.SIGKILL)


def wrk(port, duration, connections, close, path="/"):
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", f"http://127.0.0.1:{port}{path}"]
    if close:
        cmd[1:1] = ["-H", "Connection: close"]
    out = subprocess.run(cmd, capture_output=True, text=True).stdout
    reqs = int(re.search(r"(\d+) requests in", out).group(1))
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    errors = sum(int(x) for x in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return reqs, rps, errors + (int(non2xx.group(1)) if non2xx else 0), out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--connections", type=int, default=50)
    ap.add_argument("--mode", choices=["keepalive", "close"], default="keepalive")
    ap.add_argument("--path", default="/")
    ap.add_argument("--workers", type=int, default=1)
    args = ap.parse_args()

    origin = start(["bash", str(PEER), "origin", "--listen", "127.0.0.1:9001", "--workers", "1"], 9001)
    w = str(args.workers)
    proxies = {
        "hop": (["taskset", "-c", "0", HOP, "proxy", "--listen", "127.0.0.1:8000", "--to", "127.0.0.1:9001",
                 "--workers", w], 8000),
        "nginx": (["taskset", "-c", "0", "bash", str(PEER), "nginx", "--listen", "127.0.0.1:8002", "--to",
                   "127.0.0.1:9001", "--workers", w], 8002),
        "haproxy": (["taskset", "-c", "0", "bash", str(PEER), "haproxy", "--listen", "127.0.0.1:8001", "--to",
                     "127.0.0.1:9001", "--workers", w], 8001),
    }
    if args.workers > 1:
        for k, (cmd, port) in proxies.items():
            cmd[2] = "0-1"
    results = {k: [] for k in proxies}
    try:
        for r in range(args.rounds):
            for name, (cmd, port) in proxies.items():
                p = start(cmd, port)
                wrk(port, 1, args.connections, args.mode == "close", args.path)  # warm pools
                c0 = cpu_seconds(p.pid)
                reqs, rps, errors, _ = wrk(port, args.duration, args.connections, args.mode == "close", args.path)
                c1 = cpu_seconds(p.pid)
                stop(p)
                us = (c1 - c0) * 1e6 / max(reqs, 1)
                results[name].append((rps, us, errors))
                print(f"round {r + 1} {name:8s} {rps:10.0f} req/s {us:7.1f} CPU-us/req errors={errors}", flush=True)
    finally:
        stop(origin)
    print(f"\nmode={args.mode} connections={args.connections} workers={args.workers} "
          f"duration={args.duration}s rounds={args.rounds} (median of rounds)")
    print(f"{'proxy':8s} {'req/s':>10s} {'CPU-us/req':>11s} {'vs nginx':>9s} {'errors':>7s}")
    med = {}
    for name, rows in results.items():
        rows = sorted(rows, key=lambda x: x[1])
        m = rows[len(rows) // 2]
        med[name] = m
    for name, (rps, us, err) in med.items():
        print(f"{name:8s} {rps:10.0f} {us:11.1f} {us / med['nginx'][1]:8.2f}x {err:7d}")


if __name__ == "__main__":
    main()
