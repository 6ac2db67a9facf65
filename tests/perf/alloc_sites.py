#!/usr/bin/python3
"""Where the steady-state allocations of the proxy come from: the stacks behind them.

Starts the counting build as in test_no_alloc_per_request.py, warms it with wrk, then
attaches gdb with a breakpoint on operator new while wrk keeps the load on, records the
backtrace of the next N allocations and prints the distinct stacks, most frequent first.
Slow under gdb (each hit stops the worker), so N stays small: a per-request allocation
shows within a few hundred hits.

    tests/perf/alloc_sites.py [--hits 300] [--depth 12] [--close]    # HOP_ALLOC_BIN as in the test

--close loads with `Connection: close` (a new client connection per request, benchmark 2),
which shows what a connection costs on top of a request.
"""
import argparse
import collections
import re
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import test_no_alloc_per_request as t  # noqa: E402


def gdb_script(hits, depth):
    return f"""set pagination off
set confirm off
set print thread-events off
break 'operator new(unsigned long)'
python
import gdb
for i in range({hits}):
    gdb.execute("continue")
    print("=== hit", i)
    gdb.execute("bt {depth}")
end
detach
quit
"""


def frames(text):
    stacks = text.split("=== hit")[1:]
    out = collections.Counter()
    for s in stacks:
        names = []
        for line in s.splitlines():
            m = re.match(r"#\d+\s+(?:0x[0-9a-f]+ in )?(.+?) \(", line)
            if m:
                names.append(m.group(1))
        out[tuple(names[1:])] += 1  # frame 0 is operator new itself
    return out, len(stacks)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--hits", type=int, default=300)
    ap.add_argument("--depth", type=int, default=12)
    ap.add_argument("--close", action="store_true")
    ap.add_argument("--seconds", type=float, default=120, help="stop sampling after this long (an "
                    "allocation-free path never hits the breakpoint)")
    args = ap.parse_args()
    hop = t.counting_binary()
    backend, port, admin = t.free_port(), t.free_port(), t.free_port()
    procs = [subprocess.Popen([hop, "backend", "--listen", f"127.0.0.1:{backend}"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)]
    t.wait_port(backend)
    proxy = subprocess.Popen([hop, "proxy", "--listen", f"127.0.0.1:{port}", "--to", f"127.0.0.1:{backend}",
                              "--workers", "1", "--admin", f"127.0.0.1:{admin}"], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    procs.append(proxy)
    try:
        t.wait_port(port)
        t.wait_port(admin)
        # wrk as a long background load; gdb stops it only through the proxy's pauses.
        close = ["-H", "Connection: close"] if args.close else []
        load = subprocess.Popen(["wrk", "-t1", "-c4", "-d600s"] + close + [f"http://127.0.0.1:{port}/"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(load)
        t.wait_served(admin, t.served(admin), 10000)  # warm: first-use allocations out of the sample
        with tempfile.NamedTemporaryFile("w", suffix=".gdb") as f:
            f.write(gdb_script(args.hits, args.depth))
            f.flush()
            try:
                out = subprocess.run(["gdb", "-q", "-batch", "-p", str(proxy.pid), "-x", f.name],
                                     capture_output=True, text=True, timeout=args.seconds).stdout
            except subprocess.TimeoutExpired as e:
                out = e.stdout or ""
                out = out.decode(errors="replace") if isinstance(out, bytes) else out
                print(f"(sampling stopped after {args.seconds:.0f} s)")
        stacks, total = frames(out)
        print(f"{total} allocations sampled in steady state; distinct stacks, most frequent first:\n")
        if total == 0:
            print("none: the worker did not allocate while sampled")
        for stack, n in stacks.most_common():
            print(f"{n:5d} ({100 * n / max(total, 1):.0f}%)")
            for fr in stack:
                print(f"        {fr}")
            print()
    finally:
        for p in reversed(procs):
            p.terminate()
            p.wait(10)


if __name__ == "__main__":
    main()
