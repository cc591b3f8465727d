#!/usr/bin/env python3
"""Replay speed against native and recording speed, in one run.

For each replay test program (tests/programs/replay_*) and for the demo service under
a fixed load, measures the native run, the run under `rewind record` (launch mode) and
`rewind replay` of that recording, and prints the times with the ratios record/native,
replay/native and replay/record. Each time is the median of --repeat runs.

A program runs its work `repeat N` times, N chosen once so that the native run takes
about --native-seconds: the same work in all three runs, and enough of it that rewind's
fixed start-up cost (bundling the binaries) does not hide the per-event cost.

The demo service case: start examples/broken-app, send --requests sequential GET / over
one keep-alive connection from this script (127.0.0.1 only), then stop it. Native time
runs from start to the last answer; recorded time to the end of `rewind record` after a
SIGINT (which writes the final state and detaches; the script then kills the service).
Its replay re-executes that whole recorded run.

replay_wait_sigusr1 is left out: its run time is whenever the signal arrives.

Usage: bench/replay_speed.py [--build build] [--repeat 3] [--native-seconds 0.5]
                             [--requests 2000] [--programs NAME,...] [--quick]
                             [--rewind-flag=FLAG ...]
"""
import argparse
import http.client
import os
import pathlib
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

LEFT_OUT = {"replay_wait_sigusr1"}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(port, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/health")
            if conn.getresponse().read() == b"ok\n":
                conn.close()
                return
        except OSError:
            pass
        time.sleep(0.02)
    raise SystemExit("broken-app did not start")


def send_load(port, requests):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    for _ in range(requests):
        conn.request("GET", "/")
        body = conn.getresponse().read()
        if not body.startswith(b"Hello from broken-app"):
            raise SystemExit(f"unexpected answer from broken-app: {body[:80]!r}")
    conn.close()


def timed(cmd, timeout=600):
    """Seconds the command took, or None when it failed (its stderr goes to ours)."""
    start = time.perf_counter()
    r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                       timeout=timeout)
    elapsed = time.perf_counter() - start
    if r.returncode != 0:
        last = (r.stderr.strip().splitlines() or [""])[-1]
        print(f"  {' '.join(map(str, cmd[:2]))}: exit {r.returncode}: {last}", file=sys.stderr)
        return None
    return elapsed


def rounds_for(program, seconds):
    """How many rounds of the program's work take about `seconds` natively."""
    rounds = 1
    while True:
        took = timed([program, "repeat", str(rounds)])
        if took is None:
            raise SystemExit(f"{program} failed natively")
        if took >= seconds / 4 or rounds >= 1000:
            return max(1, min(1000, round(rounds * seconds / took)))
        rounds *= 4


def program_case(args, program, rounds, workdir):
    command = [program, "repeat", str(rounds)]
    native = timed(command)
    out = workdir / "bench.rwd"
    try:
        record = timed([args.rewind, "record", *args.rewind_flag, "-o", out, "--", *command])
        replay = timed([args.rewind, "replay", out]) if record is not None else None
        return native, record, replay, out.stat().st_size if out.exists() else None
    finally:
        out.unlink(missing_ok=True)


def service_case(args, workdir):
    port = free_port()
    start = time.perf_counter()
    app = subprocess.Popen([args.app, "--port", str(port)], stdout=subprocess.DEVNULL)
    try:
        wait_healthy(port)
        send_load(port, args.requests)
        native = time.perf_counter() - start
    finally:
        app.kill()
        app.wait()

    out = workdir / "bench.rwd"
    # Files, not pipes: the service, still running after rewind detached, keeps them open.
    log, errors = workdir / "record.out", workdir / "record.err"
    port = free_port()
    start = time.perf_counter()
    with open(log, "w") as stdout, open(errors, "w") as stderr:
        rec = subprocess.Popen([args.rewind, "record", *args.rewind_flag, "-o", str(out), "--",
                                args.app, "--port",
                                str(port)], stdout=stdout, stderr=stderr)
    try:
        wait_healthy(port)
        send_load(port, args.requests)
        rec.send_signal(signal.SIGINT)
        rec.wait(timeout=120)
        record = time.perf_counter() - start if rec.returncode == 0 else None
        if record is None:
            print(f"  rewind record of broken-app: exit {rec.returncode}: "
                  f"{errors.read_text().strip()}", file=sys.stderr)
        replay = timed([args.rewind, "replay", out]) if record is not None else None
        return native, record, replay, out.stat().st_size if out.exists() else None
    finally:
        if rec.poll() is None:
            rec.kill()
            rec.wait()
        # Recording stopped, rewind detached from the service, which is still running.
        m = re.search(r"listening on port \d+ \(pid (\d+)\)", log.read_text())
        if m:
            try:
                os.kill(int(m.group(1)), signal.SIGKILL)
            except ProcessLookupError:
                pass
        out.unlink(missing_ok=True)


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--repeat", type=int, default=3, help="runs per measurement (median)")
    ap.add_argument("--native-seconds", type=float, default=0.5,
                    help="native run time each program's rounds are chosen for")
    ap.add_argument("--requests", type=int, default=2000, help="demo service load")
    ap.add_argument("--programs", help="comma-separated program names (default: all)")
    ap.add_argument("--rewind-flag", action="append", default=[],
                    help="extra `rewind record` flag (repeatable), e.g. --trap-every-rdtsc")
    ap.add_argument("--quick", action="store_true",
                    help="one run each, 0.1 s native runs, 200 requests")
    args = ap.parse_args()
    if args.quick:
        args.repeat, args.native_seconds, args.requests = 1, 0.1, 200
    build = pathlib.Path(args.build)
    args.rewind = str(build / "bin" / "rewind")
    args.app = str(build / "bin" / "broken-app")
    programs_dir = build / "tests" / "programs"
    names = sorted(p.name for p in programs_dir.glob("replay_*")
                   if p.is_file() and os.access(p, os.X_OK) and p.name not in LEFT_OUT)
    names.append("broken-app")
    if args.programs:
        wanted = args.programs.split(",")
        unknown = set(wanted) - set(names)
        if unknown:
            sys.exit(f"unknown programs: {', '.join(sorted(unknown))} (have: {', '.join(names)})")
        names = [n for n in names if n in wanted]
    if not pathlib.Path(args.rewind).exists():
        sys.exit(f"{args.rewind} is missing: build first (scripts/build)")

    rows = []
    with tempfile.TemporaryDirectory() as d:
        workdir = pathlib.Path(d)
        for name in names:
            if name == "broken-app":
                label = f"broken-app ({args.requests} req)"
                runs = [service_case(args, workdir) for _ in range(args.repeat)]
            else:
                rounds = rounds_for(programs_dir / name, args.native_seconds)
                label = f"{name} x{rounds}"
                runs = [program_case(args, programs_dir / name, rounds, workdir)
                        for _ in range(args.repeat)]
            rows.append((label, *(median(r[i] for r in runs) for i in range(4))))
            print(f"  measured {label}", file=sys.stderr)

    def ratio(a, b):
        return f"{a / b:.2f}" if a is not None and b else "-"

    def secs(v):
        return f"{v:.3f}" if v is not None else "failed"

    print(f"replay speed, median of {args.repeat} run(s), {os.cpu_count()} cores; "
          f"program xN: its work repeated N times")
    print(f"{'program':30} {'native s':>9} {'record s':>9} {'replay s':>9} {'rec/nat':>8} "
          f"{'rep/nat':>8} {'rep/rec':>8} {'MiB':>7}")
    for name, native, record, replay, size in rows:
        mib = f"{size / 2**20:.1f}" if size else "-"
        print(f"{name:30} {secs(native):>9} {secs(record):>9} {secs(replay):>9} "
              f"{ratio(record, native):>8} {ratio(replay, native):>8} {ratio(replay, record):>8} "
              f"{mib:>7}")


if __name__ == "__main__":
    main()
