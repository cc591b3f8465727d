#!/usr/bin/env python3
"""Recording overhead on several targets under a fixed load, in one run.

Each target is measured four ways, one after the other: natively, under rewind (with
`--no-pin-cpu`), under rewind with `--pin-cpu` (the target's threads and rewind on one
CPU) and under `strace -f -qq -xx -s 65536 -o FILE` (strace keeps every byte the target
reads, as rewind does). One table shows throughput, its ratio to native, the issue's goal for
that ratio, p99 latency where the load generator gives one, the recording's bytes per
request or operation, and rewind's attach pause (target stopped for the initial
snapshot). A case that fails (rewind exits, the target dies under it, the load does
not finish) is a row saying so, with the reason below the table; the other cases run.

Targets (--only takes a comma-separated list of the names in brackets):
  [demo]          examples/broken-app, GET / under wrk -t2 -cC -dSs
  [redis]         redis-server, `redis-benchmark -t set` then `-t get` (two rows, each
                  its own server and recording), -cC, a fixed op count: the native SET
                  run calibrates it to about S seconds and every mode repeats it
  [go]            examples/go-service (Go net/http, built when go is installed), GET /
                  under wrk as for demo
  [syscall-loop]  bench/syscall_loop.c, built here with cc: ITERATIONS times write 4 KiB
                  to a pipe and read it back, timing only its loop; reported in seconds
                  (ratio = time / native time, so lower is better)
The services are recorded by attaching (`rewind record -p PID`, strace -p PID) once
they answer; the syscall loop is short-lived, so it is recorded by launching it
(`rewind record -o F -- prog`, `strace ... -- prog`). The goal column is the issue's
target for rewind (throughput >= 0.5x native for demo and redis, >= 0.3x for Go,
syscall loop <= 10x native time); it is printed, not checked.

Needs wrk and strace (scripts/install-deps), redis-server and redis-benchmark for
redis (scripts/install-deps --bench), go at build time for go, cc for syscall-loop.
Installs nothing itself. Every process it starts is killed before it exits.

Usage: bench/record_overhead.py [--build build] [--seconds 10] [--connections 8]
                                [--iterations 20000] [--only demo,redis,go,syscall-loop]
                                [--rewind-flag=--fast-clocks ...]
"""
import argparse
import dataclasses
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

# rewind: `record --no-pin-cpu`; rewind-pin: `record --pin-cpu` (the target and rewind
# on one CPU, the default for a launched program).
MODES = ("native", "rewind", "rewind-pin", "strace")
REWIND_FLAGS = {"rewind": ["--no-pin-cpu"], "rewind-pin": ["--pin-cpu"]}
STRACE = ["strace", "-f", "-qq", "-xx", "-s", "65536"]
TARGET_NAMES = ("demo", "redis", "go", "syscall-loop")
HERE = pathlib.Path(__file__).resolve().parent


class CaseFailed(Exception):
    """One target under one mode could not be measured; the message says why."""


@dataclasses.dataclass
class Result:
    value: float = 0.0  # operations per second, or seconds for a timed target
    p99_ms: float | None = None
    ops: int = 0
    bytes: int | None = None
    pause_ms: float | None = None
    error: str | None = None
    warning: str | None = None  # measured, but with something to know (wrk's socket errors)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tail(path, lines=1):
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(text[-lines:])


def kill(proc):
    if proc and proc.poll() is None:
        proc.kill()
    if proc:
        proc.wait()


def run_load(command, timeout):
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise CaseFailed(f"{command[0]} did not finish in {timeout:.0f} s")
    if done.returncode != 0:
        raise CaseFailed(f"{command[0]} exited with status {done.returncode}: "
                         f"{done.stderr.strip()[-200:]}")
    return done.stdout


class HttpService:
    """A service with GET /health, loaded with wrk on GET /."""

    unit = "req/s"
    timed = False

    def __init__(self, label, argv, goal):
        self.label, self.argv, self.goal = label, argv, goal

    def command(self, port, workdir):
        return self.argv(port)

    def ready(self, port):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1):
                return True
        except OSError:
            return False

    def prepare(self, port):
        pass

    def calibrate(self, port, args):
        pass

    def describe(self, args):
        return f"wrk -t2 -c{args.connections} -d{args.seconds}s GET /"

    def load(self, port, args):
        out = run_load(["wrk", "-t2", f"-c{args.connections}", f"-d{args.seconds}s",
                        "--latency", f"http://127.0.0.1:{port}/"], timeout=args.seconds + 60)
        rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
        total = re.search(r"(\d+) requests in", out)
        p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", out)
        if not (rps and total and p99) or int(total.group(1)) == 0:
            raise CaseFailed(f"wrk measured nothing: {out.strip()[-200:]}")
        scale = {"us": 1e-3, "ms": 1.0, "s": 1e3}[p99.group(2)]
        errors = re.search(r"Socket errors: .*", out)
        return Result(value=float(rps.group(1)), p99_ms=float(p99.group(1)) * scale,
                      ops=int(total.group(1)),
                      warning=f"wrk: {errors.group(0)}" if errors else None)


class RedisService:
    """redis-server without persistence, loaded with one redis-benchmark test."""

    unit = "ops/s"
    timed = False
    goal = ">= 0.5x"

    def __init__(self, test, shared):
        self.test = test
        self.label = f"redis {test.upper()}"
        self.shared = shared  # the op count, set by the first native run, kept for the rest

    def command(self, port, workdir):
        return ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--dir", str(workdir), "--daemonize", "no"]

    def send(self, port, line):
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(line.encode() + b"\r\n")
            return s.recv(64)

    def ready(self, port):
        try:
            return self.send(port, "PING").startswith(b"+PONG")
        except OSError:
            return False

    def prepare(self, port):
        # GET reads the key SET writes; give it a value so every GET is a hit.
        if not self.send(port, "SET key:__rand_int__ xxx").startswith(b"+OK"):
            raise CaseFailed("redis-server refused the SET that prepares the GET test")

    def benchmark(self, port, args, ops):
        out = run_load(["redis-benchmark", "-p", str(port), "-t", self.test, "-n", str(ops),
                        "-c", str(args.connections), "--csv"],
                       timeout=30 + 40 * args.seconds)
        row = re.search(r'^"([A-Z]+)","([\d.]+)",(?:"[\d.]+",){4}"([\d.]+)"', out, re.M)
        if not row:
            raise CaseFailed(f"redis-benchmark measured nothing: {out.strip()[-200:]}")
        return Result(value=float(row.group(2)), p99_ms=float(row.group(3)), ops=ops)

    def calibrate(self, port, args):
        if "ops" not in self.shared:
            probe = self.benchmark(port, args, 20000)
            self.shared["ops"] = max(10000, int(round(probe.value * args.seconds, -3)))

    def describe(self, args):
        return (f"redis-benchmark -t {self.test} -c{args.connections} "
                f"-n {self.shared.get('ops', '?')}")

    def load(self, port, args):
        if "ops" not in self.shared:
            raise CaseFailed("no op count: the native SET run, which sets it, failed")
        return self.benchmark(port, args, self.shared["ops"])


class SyscallLoop:
    """bench/syscall_loop.c, launched under each mode; it times its own loop."""

    label = "syscall-loop"
    unit = "s"
    timed = True
    goal = "<= 10x"

    def __init__(self, workdir):
        self.binary = workdir / "syscall_loop"
        try:
            subprocess.run(["cc", "-O2", "-Wall", "-o", str(self.binary),
                            str(HERE / "syscall_loop.c")], check=True, capture_output=True,
                           text=True)
        except subprocess.CalledProcessError as e:
            sys.exit(f"cannot build bench/syscall_loop.c: {e.stderr.strip()}")

    def describe(self, args):
        return f"{args.iterations} x (write 4 KiB to a pipe, read it back), launched"


def wait_until(check, what, timeout, alive=()):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for proc, name, log in alive:
            if proc.poll() is not None:
                raise CaseFailed(f"{name} exited with status {proc.returncode} {what}: "
                                 f"{tail(log, 2)}")
        if check():
            return
        time.sleep(0.02)
    raise CaseFailed(f"timed out after {timeout} s {what}")


def traced(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            return any(l.startswith("TracerPid:") and l.split()[1] != "0" for l in f)
    except OSError:
        return False


def run_service(target, mode, args, workdir):
    port = free_port()
    out = workdir / f"recording.{mode}"
    app_log, tracer_log = workdir / "target.log", workdir / "tracer.log"
    proc = tracer = None
    try:
        with open(app_log, "w") as log:
            proc = subprocess.Popen(target.command(port, workdir), stdout=log,
                                    stderr=subprocess.STDOUT)
        wait_until(lambda: target.ready(port), "before answering", 20,
                   [(proc, "the target", app_log)])
        target.prepare(port)
        if mode == "native":
            target.calibrate(port, args)
        else:
            command = ([args.rewind, "record", *REWIND_FLAGS[mode], *args.rewind_flag, "-p",
                        str(proc.pid), "-o", str(out)]
                       if mode in REWIND_FLAGS else STRACE + ["-o", str(out), "-p", str(proc.pid)])
            with open(tracer_log, "w") as log:
                tracer = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
            # rewind says when its initial snapshot is done and the target runs again.
            attached = ((lambda: "target paused" in tracer_log.read_text(errors="replace"))
                        if mode in REWIND_FLAGS else lambda: traced(proc.pid))
            wait_until(attached, "before attaching", 60,
                       [(tracer, mode, tracer_log), (proc, "the target", app_log)])
            time.sleep(0.5)
        watched = [(tracer, mode, tracer_log), (proc, "the target", app_log)]
        try:
            result = target.load(port, args)
        except CaseFailed as e:
            # The load generator's own complaint hides the cause when the target died.
            for p, name, log in watched:
                if p and p.poll() is not None:
                    raise CaseFailed(f"{name} exited with status {p.returncode} under load: "
                                     f"{tail(log, 2)}") from e
            raise
        for p, name, log in watched:
            if p and p.poll() is not None:
                raise CaseFailed(f"{name} exited with status {p.returncode} during the load: "
                                 f"{tail(log, 2)}")
        if tracer:
            tracer.send_signal(signal.SIGINT)
            try:
                tracer.wait(timeout=120)
            except subprocess.TimeoutExpired:
                raise CaseFailed(f"{mode} did not stop within 120 s of SIGINT")
            # strace detaches on SIGINT and then dies of it; rewind exits 0.
            if tracer.returncode not in ((0, -signal.SIGINT) if mode == "strace" else (0,)):
                raise CaseFailed(f"{mode} exited with status {tracer.returncode} on SIGINT: "
                                 f"{tail(tracer_log, 2)}")
            result.bytes = out.stat().st_size if out.exists() else None
            m = re.search(r"target paused ([\d.]+) ms", tracer_log.read_text(errors="replace"))
            result.pause_ms = float(m.group(1)) if m else None
        return result
    finally:
        # The tracer first, so that the target is not left stopped under it.
        kill(tracer)
        kill(proc)
        out.unlink(missing_ok=True)


def run_loop(target, mode, args, workdir):
    out = workdir / f"recording.{mode}"
    log_path = workdir / "tracer.log"
    command = [str(target.binary), str(args.iterations)]
    if mode in REWIND_FLAGS:
        command = [args.rewind, "record", *REWIND_FLAGS[mode], *args.rewind_flag, "-o", str(out),
                   "--", *command]
    elif mode == "strace":
        command = STRACE + ["-o", str(out), "--", *command]
    proc = None
    try:
        with open(log_path, "w") as log:
            proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, text=True,
                                    start_new_session=True)
        try:
            stdout, _ = proc.communicate(timeout=60 + 40 * args.seconds)
        except subprocess.TimeoutExpired:
            raise CaseFailed(f"{mode} run did not finish in {60 + 40 * args.seconds} s")
        m = re.search(r"syscall_loop: (\d+) iterations in ([\d.]+) s", stdout)
        if proc.returncode != 0 or not m:
            raise CaseFailed(f"{mode} run exited with status {proc.returncode}: "
                             f"{tail(log_path, 2) or stdout.strip()[-200:]}")
        return Result(value=float(m.group(2)), ops=int(m.group(1)),
                      bytes=out.stat().st_size if mode in REWIND_FLAGS and out.exists() else None)
    finally:
        if proc and proc.poll() is None:
            # The recorder and the program it launched: the whole session started here.
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        out.unlink(missing_ok=True)


def measure(target, mode, args, workdir):
    try:
        run = run_loop if target.timed else run_service
        return run(target, mode, args, workdir)
    except (CaseFailed, OSError) as e:
        return Result(error=str(e))


def missing_tools(only, args):
    needs = {"demo": ["wrk", args.app], "redis": ["redis-server", "redis-benchmark"],
             "go": ["wrk", args.go_service], "syscall-loop": ["cc"]}
    hints = {"wrk": "run scripts/install-deps", "cc": "run scripts/install-deps",
             "redis-server": "run scripts/install-deps --bench",
             "redis-benchmark": "run scripts/install-deps --bench",
             args.app: "run scripts/build",
             args.go_service: "install go, then run scripts/build"}
    tools = ["strace", args.rewind] + [t for name in only for t in needs[name]]
    hints.update({"strace": "run scripts/install-deps", args.rewind: "run scripts/build"})
    return [f"{t} is missing: {hints[t]}" for t in dict.fromkeys(tools)
            if not (shutil.which(t) if "/" not in t else os.access(t, os.X_OK))]


def cell(value, fmt, width):
    return f"{'-' if value is None else format(value, fmt):>{width}}"


def print_table(rows, args):
    def emit(line):
        print(line.rstrip())

    emit(f"recording overhead, {os.cpu_count()} cores; each target natively, under rewind, "
         f"under strace -f")
    for target, _ in rows:
        emit(f"  {target.label:13} {target.describe(args)}")
    header = (f"{'target':13} {'mode':10} {'throughput':>14} {'vs native':>10} {'goal':>8} "
              f"{'p99 ms':>8} {'p99 vs nat':>10} {'bytes/op':>9} {'pause ms':>9}")
    emit(header)
    emit("-" * len(header))
    notes = []
    for target, results in rows:
        native = results["native"]
        for mode, r in results.items():
            goal = target.goal if mode in REWIND_FLAGS else ""
            if r.error:
                notes.append(f"{target.label} under {mode}: {r.error}")
                emit(f"{target.label:13} {mode:10} {'failed [' + str(len(notes)) + ']':>14} "
                     f"{'':>10} {goal:>8}")
                continue
            shown = f"{r.value:.3f} s" if target.timed else f"{r.value:.0f} {target.unit}"
            ok = not native.error
            ratio = r.value / native.value if ok else None
            p99_ratio = r.p99_ms / native.p99_ms if ok and r.p99_ms and native.p99_ms else None
            per_op = r.bytes / r.ops if r.bytes and r.ops else None
            mark = ""
            if r.warning:
                notes.append(f"{target.label} under {mode}: {r.warning}")
                mark = f" [{len(notes)}]"
            emit(f"{target.label:13} {mode:10} {shown:>14} {cell(ratio, '.3f', 9)}x "
                 f"{goal:>8} {cell(r.p99_ms, '.2f', 8)} {cell(p99_ratio, '.2f', 10)} "
                 f"{cell(per_op, '.0f', 9)} {cell(r.pause_ms, '.1f', 9)}{mark}")
    emit("vs native: throughput / native throughput (higher is better); for syscall-loop, "
         "time / native time (lower is better)")
    for target, results in rows:
        st = results["strace"]
        for mode in REWIND_FLAGS:
            rw = results[mode]
            if not (rw.error or st.error):
                speed = st.value / rw.value if target.timed else rw.value / st.value
                emit(f"{mode} vs strace, {target.label}: {speed:.2f}x the speed")
    for i, note in enumerate(notes, 1):
        emit(f"[{i}] {note}")


def main():
    ap = argparse.ArgumentParser(description="Recording overhead of rewind against native "
                                 "and strace on several targets (see the module docstring).")
    ap.add_argument("--build", default="build")
    ap.add_argument("--seconds", type=int, default=10,
                    help="load duration of each wrk run; redis's op count aims at it too")
    ap.add_argument("--connections", type=int, default=8)
    ap.add_argument("--iterations", type=int, default=20000,
                    help="syscall-loop iterations (strace's log takes 32 KiB each)")
    ap.add_argument("--rewind-flag", action="append", default=[],
                    help="one more flag for both rewind modes (e.g. --rewind-flag=--fast-clocks); "
                         "repeatable")
    ap.add_argument("--only", default=",".join(TARGET_NAMES),
                    help=f"comma-separated targets among {','.join(TARGET_NAMES)}")
    args = ap.parse_args()
    only = [t for t in args.only.split(",") if t]
    unknown = [t for t in only if t not in TARGET_NAMES]
    if unknown or not only:
        sys.exit(f"--only: unknown target {','.join(unknown) or '(none given)'}; "
                 f"choose among {','.join(TARGET_NAMES)}")
    build = pathlib.Path(args.build)
    args.rewind = str(build / "bin" / "rewind")
    args.app = str(build / "bin" / "broken-app")
    args.go_service = str(build / "examples" / "go-service" / "go-service")
    missing = missing_tools(only, args)
    if missing:
        sys.exit("\n".join(missing))

    with tempfile.TemporaryDirectory() as d:
        workdir = pathlib.Path(d)
        targets = []
        for name in TARGET_NAMES:
            if name not in only:
                continue
            if name == "demo":
                targets.append(HttpService("demo", lambda p: [args.app, "--port", str(p)],
                                           ">= 0.5x"))
            elif name == "go":
                targets.append(HttpService("go", lambda p: [args.go_service, "-port", str(p)],
                                           ">= 0.3x"))
            elif name == "redis":
                shared = {}
                targets += [RedisService("set", shared), RedisService("get", shared)]
            else:
                targets.append(SyscallLoop(workdir))
        rows = []
        for target in targets:
            results = {}
            for mode in MODES:
                print(f"measuring {target.label} under {mode}...", file=sys.stderr, flush=True)
                results[mode] = measure(target, mode, args, workdir)
            rows.append((target, results))
    print_table(rows, args)


if __name__ == "__main__":
    main()
