#!/usr/bin/env python3
"""Time-travel latency of `rewind debug` against replaying the recording from the start.

Two recordings:
  demo  the demo service as scripts/demo records it: start broken-app, attach
        `rewind record -p`, GET / and GET /crash (127.0.0.1 only), wait for the crash
        to be recorded (or pass one with --demo FILE);
  long  a test program recorded from launch (default replay_socketpair, which makes
        about 9000 syscalls per `repeat` round), its rounds chosen so the recording has
        about --events events (100k with --quick, 1M without).

For each recording, each operation is its own `rewind debug FILE -- -batch ...` run:
  baseline                  -ex 'info threads' -ex rewind-info (gdb start-up + connect)
  goto end                  -ex 'rewind-goto end'
  goto start (after end)    rewind-goto end, then 'rewind-goto start'
  reverse-stepi/-step/-next/-finish (from end)   rewind-goto end, then the command
  reverse-continue to a breakpoint (from end)    break FUNC (a function hit only early
                            in the recording), rewind-goto end, reverse-continue
  continue to end           from the start (where the replay begins), continue
Every run ends with rewind-info, whose position line checks the operation got where it
should. An operation's latency is the run's wall time minus the wall time of the run
with only its setup: minus the baseline for goto end and continue, minus the goto end
run for those that start from the end (so the rows are incremental costs; add the
goto end row to get the cost from a fresh session). Each time is the median of
--repeat runs. The peer is `rewind replay FILE` (the whole recording from the start) of
the same recording in the same invocation; ratio = latency / replay time.

An operation fails when rewind debug exits non-zero, when gdb prints a divergence,
"Remote failure" or an error such as "Cannot find bounds of current function", or when
rewind-info shows it did not reach its target; it is reported as FAILED with that line.

Peak RSS: the rewind process plus its replay children (its descendants except gdb and
what gdb starts), sampled from /proc every 20 ms over all of a recording's runs; gdb's
own is reported separately.

The rewind binary is copied into the temporary directory first, so a rebuild while the
benchmark runs does not mix binaries.

Usage: bench/time_travel.py [--build build] [--repeat 3] [--events 1000000]
                            [--demo FILE] [--program replay_socketpair] [--quick]
"""
import argparse
import json
import os
import pathlib
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

# gdb output that means the operation did not happen as asked.
ERROR_RE = re.compile(r"divergen|Remote failure|Remote connection closed|Cannot |"
                      r"^Error|error:|Couldn't|not running|rewind error", re.I | re.M)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(port, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as r:
                if r.read() == b"ok\n":
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise SystemExit("broken-app did not start")


def wait_traced(pid, tracer, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/status") as f:
                if any(l.split() == ["TracerPid:", str(tracer)] for l in f):
                    return
        except FileNotFoundError:
            break
        time.sleep(0.05)
    raise SystemExit("rewind record did not attach")


def get(port, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
        return r.read()


def record_demo(args, workdir):
    """The demo recording, as scripts/demo makes it."""
    out = workdir / "demo.rwd"
    port = free_port()
    app = subprocess.Popen([args.app, "--port", str(port)], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    rec = None
    try:
        wait_healthy(port)
        with open(workdir / "record-demo.err", "w") as err:
            rec = subprocess.Popen([args.rewind, "record", "-p", str(app.pid), "-o", str(out)],
                                   stdout=subprocess.DEVNULL, stderr=err)
        wait_traced(app.pid, rec.pid)
        get(port, "/")
        get(port, "/crash")
        rec.wait(timeout=60)  # the crash comes 2 s after /crash and ends the recording
        if rec.returncode != 0:
            raise SystemExit(f"rewind record of broken-app: exit {rec.returncode}: "
                             f"{(workdir / 'record-demo.err').read_text().strip()}")
    finally:
        for p in (rec, app):
            if p and p.poll() is None:
                p.kill()
                p.wait()
    return out


def event_count(args, recording):
    r = subprocess.run([args.rewind, "info", "--json", str(recording)], capture_output=True,
                       text=True, timeout=300, check=True)
    return sum(json.loads(r.stdout)["event_counts"].values())


def record_long(args, workdir):
    """The program recorded from launch, its rounds sized for about args.events events."""
    program = str(args.programs_dir / args.program)
    out = workdir / "long.rwd"

    def record(rounds):
        out.unlink(missing_ok=True)  # rewind record does not overwrite
        r = subprocess.run([args.rewind, "record", "-o", str(out), "--", program, "repeat",
                            str(rounds)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                           text=True, timeout=args.timeout)
        if r.returncode != 0:
            raise SystemExit(f"rewind record of {args.program}: exit {r.returncode}: "
                             f"{r.stderr.strip()}")
        return event_count(args, out)

    one = record(1)
    two = record(2)
    per_round = max(1, two - one)
    rounds = max(1, min(100000, round((args.events - (one - per_round)) / per_round)))
    return out, rounds, record(rounds)


def descendants(root):
    """{pid: (ppid, comm, rss_kib)} of root and everything under it."""
    procs = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                stat = f.read()
            rss = 0
            with open(f"/proc/{d}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        rss = int(line.split()[1])
                        break
        except OSError:
            continue
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        procs[int(d)] = (ppid, comm, rss)
    keep, changed = {root} if root in procs else set(), True
    while changed:
        changed = False
        for pid, (ppid, _, _) in procs.items():
            if ppid in keep and pid not in keep:
                keep.add(pid)
                changed = True
    return {pid: procs[pid] for pid in keep}


class RssPoller:
    """Peak RSS of rewind plus its replay children (gdb's subtree apart)."""

    def __init__(self, pid):
        self.pid, self.peak, self.gdb_peak = pid, 0, 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stop.is_set():
            tree = descendants(self.pid)
            gdb = {p for p, (_, comm, _) in tree.items() if comm == "gdb"}
            changed = True
            while changed:
                changed = False
                for p, (pp, _, _) in tree.items():
                    if pp in gdb and p not in gdb:
                        gdb.add(p)
                        changed = True
            self.peak = max(self.peak, sum(r for p, (_, _, r) in tree.items() if p not in gdb))
            self.gdb_peak = max(self.gdb_peak, sum(tree[p][2] for p in gdb))
            self.stop.wait(0.02)

    def finish(self):
        self.stop.set()
        self.thread.join()


def run_debug(args, recording, commands, rss):
    """(seconds, output, error line or None) of one rewind debug batch run."""
    cmd = [args.rewind, "debug", str(recording), "--", "-batch", "-nx"]
    for c in commands:
        cmd += ["-ex", c]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    poller = RssPoller(proc.pid)
    try:
        output, _ = proc.communicate(timeout=args.timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return None, "", f"timed out after {args.timeout} s"
    finally:
        poller.finish()
        # gdb and the replay children are in the session: leave none behind.
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    elapsed = time.perf_counter() - start
    rss["rewind"] = max(rss.get("rewind", 0), poller.peak)
    rss["gdb"] = max(rss.get("gdb", 0), poller.gdb_peak)
    if proc.returncode != 0:
        last = (output.strip().splitlines() or [""])[-1]
        return None, output, f"exit {proc.returncode}: {last}"
    for line in output.splitlines():
        if ERROR_RE.search(line) and not line.lstrip().startswith("warning:"):
            return None, output, line.strip()
    return elapsed, output, None


def position(output):
    """rewind-info's position and next lines."""
    pos = re.findall(r"^position\s+(.*)$", output, re.M)
    nxt = re.findall(r"^next\s+(.*)$", output, re.M)
    return (pos[-1] if pos else ""), (nxt[-1] if nxt else "")


AT_END = lambda out: "end of the recording" in position(out)[1]
AT_START = lambda out: position(out)[0].startswith("event 0 of")
MOVED_BACK = lambda out: bool(position(out)[0]) and not AT_END(out)
AT_BREAK = lambda out: bool(re.search(r"\bhit Breakpoint 1,|^Breakpoint 1,", out, re.M)) and MOVED_BACK(out)

END = "rewind-goto end"


def operations(breakpoint):
    """(label, setup commands, operation commands, reached target?, setup row)."""
    return [
        ("baseline: gdb start + connect", [], ["info threads"], lambda out: True, None),
        ("goto end", [], [END], AT_END, "baseline"),
        ("goto start (after end)", [END], ["rewind-goto start"], AT_START, "goto end"),
        ("reverse-stepi (from end)", [END], ["reverse-stepi"], MOVED_BACK, "goto end"),
        ("reverse-step (from end)", [END], ["reverse-step"], MOVED_BACK, "goto end"),
        ("reverse-next (from end)", [END], ["reverse-next"], MOVED_BACK, "goto end"),
        ("reverse-finish (from end)", [END], ["reverse-finish"], MOVED_BACK, "goto end"),
        ("reverse-continue to breakpoint (from end)", [f"break {breakpoint}", END],
         ["reverse-continue"], AT_BREAK, "goto end"),
        ("continue to end (from start)", [], ["continue"], AT_END, "baseline"),
    ]


def measure(args, recording, breakpoint):
    """{label: seconds or 'FAILED: ...'}, peak RSS, replay seconds."""
    rss, raw, results = {}, {}, {}
    ops = operations(breakpoint)
    for label, setup, op, reached, base in ops:
        times, error = [], None
        for _ in range(args.repeat):
            took, output, error = run_debug(args, recording, setup + op + ["rewind-info"], rss)
            if error is None and not reached(output):
                pos, nxt = position(output)
                error = f"did not get there: position {pos or '?'}; next {nxt or '?'}"
            if error:
                break
            times.append(took)
        raw[label] = f"FAILED: {error}" if error else statistics.median(times)
        print(f"  {recording.name}: {label}: {raw[label]}", file=sys.stderr)
    base_of = {"baseline": ops[0][0], "goto end": ops[1][0]}
    results[ops[0][0]] = raw[ops[0][0]]
    for label, _, _, _, base in ops[1:]:
        value, ref = raw[label], raw[base_of[base]]
        if isinstance(value, str):
            results[label] = value
        elif isinstance(ref, str):
            results[label] = f"FAILED: its setup ({base}) failed"
        else:
            results[label] = value - ref
    replays = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        r = subprocess.run([args.rewind, "replay", str(recording)], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=args.timeout)
        if r.returncode != 0:
            lines = r.stdout.strip().splitlines() or [""]
            why = next((l for l in lines if ERROR_RE.search(l)), lines[-1])
            replays = f"FAILED: exit {r.returncode}: {why.strip()}"
            break
        replays.append(time.perf_counter() - start)
    replay = replays if isinstance(replays, str) else statistics.median(replays)
    print(f"  {recording.name}: rewind replay: {replay}", file=sys.stderr)
    return results, rss, replay


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--repeat", type=int, default=3, help="runs per measurement (median)")
    ap.add_argument("--events", type=int, default=1_000_000,
                    help="about how many events the long recording has")
    ap.add_argument("--program", default="replay_socketpair",
                    help="test program (tests/programs) of the long recording")
    ap.add_argument("--long-break", default="main",
                    help="breakpoint for reverse-continue in the long recording")
    ap.add_argument("--demo", help="use this demo recording instead of making one")
    ap.add_argument("--demo-break", default="MessageDb::latest",
                    help="breakpoint for reverse-continue in the demo (hit by GET / only)")
    ap.add_argument("--timeout", type=int, default=1800, help="seconds per subprocess")
    ap.add_argument("--quick", action="store_true",
                    help="one run each, a long recording of about 100k events")
    args = ap.parse_args()
    if args.quick:
        args.repeat, args.events, args.timeout = 1, 100_000, 600
    build = pathlib.Path(args.build)
    rewind = build / "bin" / "rewind"
    args.app = str(build / "bin" / "broken-app")
    args.programs_dir = build / "tests" / "programs"
    for need in (rewind, pathlib.Path(args.app), args.programs_dir / args.program):
        if not need.exists():
            sys.exit(f"{need} is missing: build first (scripts/build)")
    if not shutil.which("gdb"):
        sys.exit("gdb is missing: run scripts/install-deps")

    with tempfile.TemporaryDirectory(prefix="rewind-time-travel-") as d:
        workdir = pathlib.Path(d)
        args.rewind = str(workdir / "rewind")
        shutil.copy2(rewind, args.rewind)
        demo = pathlib.Path(args.demo).resolve() if args.demo else record_demo(args, workdir)
        demo_events = event_count(args, demo)
        print(f"  demo recording: {demo_events} events", file=sys.stderr)
        long_rec, rounds, long_events = record_long(args, workdir)
        print(f"  long recording: {args.program} repeat {rounds}: {long_events} events",
              file=sys.stderr)
        demo_res, demo_rss, demo_replay = measure(args, demo, args.demo_break)
        long_res, long_rss, long_replay = measure(args, long_rec, args.long_break)

    def cell(v):
        return v if isinstance(v, str) else f"{v:.3f}"

    def ratio(v, peer):
        return f"{v / peer:.2f}" if isinstance(v, float) and isinstance(peer, float) and peer \
            else "-"

    print(f"rewind debug time travel, median of {args.repeat} run(s), {os.cpu_count()} cores; "
          f"demo: {demo_events} events; long: {args.program} repeat {rounds}, "
          f"{long_events} events; reverse-continue breakpoints: demo `break {args.demo_break}`, "
          f"long `break {args.long_break}`")
    print("latency = run with the operation minus run with its setup only (baseline, or "
          "goto end for the rows 'from end'); ratio = long recording latency / its replay "
          "from start")
    print()
    print("| operation | demo (s) | long recording (s) | replay from start (s) | ratio |")
    print("|---|---|---|---|---|")
    print(f"| `rewind replay` (peer, whole recording) | {cell(demo_replay)} | "
          f"{cell(long_replay)} | {cell(long_replay)} | 1.00 |")
    for label in demo_res:
        d, l = demo_res[label], long_res[label]
        print(f"| {label} | {cell(d)} | {cell(l)} | {cell(long_replay)} | "
              f"{ratio(l, long_replay)} |")
    print(f"| peak RSS, rewind + replay children (MiB) | {demo_rss.get('rewind', 0) / 1024:.0f} | "
          f"{long_rss.get('rewind', 0) / 1024:.0f} | - | - |")
    print(f"| peak RSS, gdb (MiB) | {demo_rss.get('gdb', 0) / 1024:.0f} | "
          f"{long_rss.get('gdb', 0) / 1024:.0f} | - | - |")
    print()
    print(f"demo ratios (latency / demo replay {cell(demo_replay)} s): " + ", ".join(
        f"{label.split(' (')[0]} {ratio(demo_res[label], demo_replay)}"
        for label in list(demo_res)[1:]))


if __name__ == "__main__":
    main()
