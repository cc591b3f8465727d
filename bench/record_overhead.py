#!/usr/bin/env python3
"""Recording overhead on the demo service under a fixed HTTP load, in one run.

Runs examples/broken-app natively, under `rewind record -p`, and under
`strace -f -qq -xx -s 65536 -o FILE -p`, each with the same wrk load, and prints
throughput and p99 latency ratios against native, the recording's bytes per request,
and rewind's attach pause (target stopped for the initial snapshot).

Usage: bench/record_overhead.py [--build build] [--seconds 10] [--connections 8]
"""
import argparse
import os
import pathlib
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(port, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise SystemExit("broken-app did not start")


def parse_wrk(text):
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    total = int(re.search(r"(\d+) requests in", text).group(1))
    m = re.search(r"99%\s+([\d.]+)(us|ms|s)", text)
    scale = {"us": 1e-3, "ms": 1.0, "s": 1e3}[m.group(2)]
    return rps, float(m.group(1)) * scale, total


def wait_traced(pid, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open(f"/proc/{pid}/status") as f:
            if any(l.startswith("TracerPid:") and l.split()[1] != "0" for l in f):
                return
        time.sleep(0.01)
    raise SystemExit("tracer did not attach")


def run_case(name, app, args, workdir):
    port = free_port()
    proc = subprocess.Popen([app, "--port", str(port)], stdout=subprocess.DEVNULL)
    tracer, out, pause_ms = None, None, None
    try:
        wait_healthy(port)
        if name == "rewind":
            out = workdir / "bench.rwd"
            tracer = subprocess.Popen([args.rewind, "record", "-p", str(proc.pid), "-o", str(out)],
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        elif name == "strace":
            out = workdir / "bench.strace"
            tracer = subprocess.Popen(["strace", "-f", "-qq", "-xx", "-s", "65536", "-o", str(out),
                                       "-p", str(proc.pid)], stderr=subprocess.DEVNULL)
        if tracer:
            wait_traced(proc.pid)
            time.sleep(0.5)
        wrk = subprocess.run(["wrk", "-t2", f"-c{args.connections}", f"-d{args.seconds}s",
                              "--latency", f"http://127.0.0.1:{port}/"],
                             capture_output=True, text=True, check=True)
        rps, p99, total = parse_wrk(wrk.stdout)
        size = None
        if tracer:
            tracer.send_signal(signal.SIGINT)
            stdout, stderr = tracer.communicate(timeout=120)
            if name == "rewind":
                m = re.search(r"target paused ([\d.]+) ms", stderr or "")
                pause_ms = float(m.group(1)) if m else None
            size = out.stat().st_size
        return {"rps": rps, "p99_ms": p99, "requests": total, "bytes": size, "pause_ms": pause_ms}
    finally:
        proc.kill()
        proc.wait()
        if tracer and tracer.poll() is None:
            tracer.kill()
        if out and out.exists():
            out.unlink()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--connections", type=int, default=8)
    args = ap.parse_args()
    build = pathlib.Path(args.build)
    args.rewind = str(build / "bin" / "rewind")
    app = str(build / "bin" / "broken-app")
    for tool in ("wrk", "strace"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is missing: run scripts/install-deps")
    with tempfile.TemporaryDirectory() as d:
        workdir = pathlib.Path(d)
        results = {name: run_case(name, app, args, workdir)
                   for name in ("native", "rewind", "strace")}
    native = results["native"]
    print(f"demo service, wrk -t2 -c{args.connections} -d{args.seconds}s GET /, "
          f"{os.cpu_count()} cores")
    print(f"{'':8} {'req/s':>10} {'p99 ms':>9} {'rps vs native':>14} {'p99 vs native':>14} "
          f"{'bytes/req':>10}")
    for name, r in results.items():
        per_req = f"{r['bytes'] / r['requests']:.0f}" if r["bytes"] else "-"
        print(f"{name:8} {r['rps']:10.0f} {r['p99_ms']:9.2f} {r['rps'] / native['rps']:14.3f} "
              f"{r['p99_ms'] / native['p99_ms']:14.2f} {per_req:>10}")
    rw, st = results["rewind"], results["strace"]
    print(f"rewind throughput vs strace: {rw['rps'] / st['rps']:.2f}x")
    if rw["pause_ms"] is not None:
        print(f"rewind attach pause (initial snapshot): {rw['pause_ms']:.1f} ms")


if __name__ == "__main__":
    main()
