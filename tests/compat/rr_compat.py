#!/usr/bin/env python3
"""Compatibility run: rr's test programs recorded and replayed by rewind.

rr (the record/replay debugger) ships several hundred small C programs, each exercising
one corner of the kernel ABI that a recorder has to get right. This script builds every
single-file program of rr's test suite, keeps those that print EXIT-SUCCESS when run
natively, records each with `rewind record`, checks that the program behaved as it did
natively, replays the recording with `rewind replay --verify`, and prints how many
verify, by category and by kind of failure.

The rr sources are an outside input (default: ../shared/compat/rr next to the repository,
or --rr DIR); they are never copied into the project. Built programs are cached under
~/.cache/rewind-testenv/rr-<commit>/bin and built only when missing.

    tests/compat/rr_compat.py --limit 40 --json /tmp/rr.json
    tests/compat/rr_compat.py --only '^(mmap|mremap)' --logs /tmp/rr-logs

Not part of the default ctest run: the full set takes hours on a small machine.
"""
import argparse
import collections
import concurrent.futures
import dataclasses
import datetime
import json
import os
import pathlib
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parents[2]
SUCCESS_MARK = "EXIT-SUCCESS"
VERIFIED = "verified: identical final state"

# Flags as rr's own build uses for its tests (-g, -O0, threads, librt and libdl); the
# generated syscall-number header that util_syscall.h includes is produced by rr's
# generate_syscalls.py into the cache.
CFLAGS = ["-g", "-O0", "-pthread", "-std=gnu11", "-w", "-fno-stack-protector"]
LIBS = ["-lrt", "-ldl", "-lutil", "-lm"]
GENERATED_HEADER = "SyscallEnumsForTestsX64.generated"

# Outcomes, in the order the table shows them.
VERIFIED_KIND = "verified"
FAILURE_KINDS = [
    "replay diverged",
    "replay error",
    "behaves differently under recording",
    "record failed",
    "hang",
]
SKIP_BUILD = "skipped: does not build standalone"
SKIP_NATIVE = "skipped: fails natively"

# Process groups of the commands running now, killed if the run is interrupted.
RUNNING = set()

# Category of a program, from its name: the first pattern that matches wins. Names in
# rr's suite say what they exercise (mmap_shared_grow, sigprocmask_race, ...).
CATEGORIES = [
    ("rr features", r"breakpoint|watchpoint|checkpoint|reverse|diversion|goto_event|"
                    r"call_function|function_calls|(^|_)rr(_|$)|syscallbuf|detach|chaos|"
                    r"seekticks|history|when_threads|^step_|exclusion_region|"
                    r"record_replay_subject|save_data_fd|protect_rr_fds|"
                    r"remove_latest_trace|^nested_|teleport|singlestep|desched|"
                    r"^hooks$|^blacklist$|explicit_checkpoints|patch_"),
    ("ptrace", r"ptrace|sysemu|^set_ptracer$|kill_ptracee"),
    ("seccomp/bpf", r"seccomp|landlock|(^|_)bpf(_|$)|syscall_user_dispatch"),
    ("exec/fork/clone", r"exec|fork|clone|^wait|exit|daemon|orphan|pid_ns|"
                        r"target_process|shebang|child|kill_newborn|deathsig|"
                        r"grandchild|64bit_child|^getsid$|^setsid$"),
    ("signals", r"sig|alarm|(^|_)kill|abort|segv|segfault|crash|int3|(^|_)intr|"
                r"interrupt|pause|usr1|trap|stop|(^|_)cont(_|$)|bad_ip|(^|_)term(_|$)|"
                r"stack_overflow|^ud2|tty_tostop"),
    ("threads/futex/sched", r"thread|futex|mutex|condvar|barrier|rwlock|join|spinlock|"
                            r"rseq|membarrier|(^|_)tls|gettid|priorit|sched|yield|"
                            r"tick|chew_cpu|getcpu|numa|cont_race|context_switch"),
    ("memory", r"mmap|mremap|munmap|madvise|mprotect|brk|(^|_)shm|shared|mlock|mincore|"
               r"msync|memfd|huge|hole|stack|map_|userfaultfd|proc_mem|vm_readv|"
               r"redzone|big_buffers|pkeys|ldt|thread_area|arch_prctl|prctl_anon"),
    ("time", r"time|clock|sleep|rdtsc|vdso|vsyscall|adjtimex|(^|_)times$|tpause|"
             r"umwait|hlt"),
    ("ioctl/devices", r"ioctl|tty|pty|(^|_)dev_|alsa|joystick|usb|video|v4l|(^|_)tun$|"
                      r"mtio|sioc|(^|_)fb(_|$)|hidraw|perf_event|ioperm|iopl|"
                      r"gcrypt_rdrand|cpuid"),
    ("network/IPC", r"sock|tcp|recv|send|accept|netlink|netfilter|packet|scm|(^|_)msg|"
                    r"(^|_)mq$|(^|_)sem$|keyctl|nscd"),
    ("files/fds/polling", r"read|write|open|fcntl|file|(^|_)fds?(_|$)|dup|stat|link|xattr|"
                          r"dir|cwd|chmod|chown|flock|inotify|fanotify|splice|sync|"
                          r"truncate|rename|mknod|utime|(^|_)io(_|$)|aio|poll|select|"
                          r"epoll|eventfd|pipe|prw|llseek|fadvise|mount|pivot|quota|"
                          r"acct|close_range|kcmp|fsmount|unicode|search|io_uring"),
    ("other syscalls", r"."),
]


def category_of(name):
    base = name.rsplit("/", 1)[-1]
    for category, pattern in CATEGORIES:
        if re.search(pattern, base):
            return category
    return "other syscalls"


@dataclasses.dataclass
class Program:
    name: str  # "mmap_shared" or "x86/rdtsc"
    source: pathlib.Path
    binary: pathlib.Path
    notes: list = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class Result:
    name: str
    category: str
    outcome: str  # VERIFIED_KIND, one of FAILURE_KINDS, or a SKIP_* string
    reason: str = ""
    stage: str = ""  # where a hang or failure happened: build, native, record, replay
    native_status: object = None
    record_status: object = None
    replay_status: object = None
    seconds: dict = dataclasses.field(default_factory=dict)
    notes: list = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class Run:
    status: object  # exit status, or -N for signal N, or None on timeout
    stdout: str
    stderr: str
    seconds: float

    @property
    def timed_out(self):
        return self.status is None


def run(cmd, timeout, cwd, env, log):
    """Runs cmd in its own process group with stdin from /dev/null; on timeout the whole
    group is killed (rr's tests fork, and a hung recording leaves a tracee behind)."""
    start = time.monotonic()
    with open(os.devnull) as devnull:
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdin=devnull,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                start_new_session=True)
    RUNNING.add(proc.pid)
    try:
        out, err = proc.communicate(timeout=timeout)
        status = proc.returncode
    except subprocess.TimeoutExpired:
        kill_group(proc.pid)
        try:
            out, err = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            # A grandchild kept the pipes open outside the group; give up on its output.
            out, err = b"", b""
        status = None
    # Whatever the program left running in its group (a daemon test, a forked child)
    # must not outlive this step.
    kill_group(proc.pid)
    RUNNING.discard(proc.pid)
    result = Run(status, out.decode(errors="replace"), err.decode(errors="replace"),
                 time.monotonic() - start)
    with open(log, "w") as f:
        f.write(f"$ {' '.join(map(str, cmd))}\n")
        f.write(f"status: {'timeout after %ds' % timeout if result.timed_out else status}"
                f" ({result.seconds:.1f}s)\n")
        f.write("--- stdout\n" + result.stdout + "\n--- stderr\n" + result.stderr)
    return result


# The parent of a native run: some of rr's tests signal their parent (kill(getppid(),
# SIGINT)), which must not be this script. Handlers, unlike ignored signals, are reset
# by exec, so the program starts with default dispositions. The parent ends as its child
# did: same exit status, or killed by the same signal.
NATIVE_PARENT = """
import os, signal, sys
for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1,
          signal.SIGUSR2, signal.SIGALRM, signal.SIGPIPE, signal.SIGCHLD):
    signal.signal(s, lambda *_: None)
pid = os.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
while True:
    try:
        _, status = os.waitpid(pid, 0)
        break
    except InterruptedError:
        pass
if os.WIFSIGNALED(status):
    sig = os.WTERMSIG(status)
    signal.signal(sig, signal.SIG_DFL)
    os.kill(os.getpid(), sig)
sys.exit(os.waitstatus_to_exitcode(status))
"""


def kill_group(pgid):
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def describe_status(status):
    if status is None:
        return "timeout"
    if status < 0:
        try:
            return signal.Signals(-status).name
        except ValueError:  # a real-time signal has no name in the enum
            return f"signal {-status}"
    return f"status {status}"


# rewind's notes and summary on every recording, never the reason for a failure.
NOISE = re.compile(r"^(rewind (warning|info): |recorded \d+ events, |inspect it with: )")


def first_line(*texts, prefer=None):
    """The first non-empty line of the texts that is not one of rewind's routine notes;
    with prefer, the first line matching it."""
    lines = [l.strip() for t in texts for l in t.splitlines()
             if l.strip() and not NOISE.match(l.strip())]
    if prefer:
        for l in lines:
            if re.search(prefer, l):
                return l[:300]
    return lines[0][:300] if lines else ""


def rr_commit(rr_dir):
    f = rr_dir / "RR_COMMIT"
    return f.read_text().strip() if f.exists() else "unknown"


def find_programs(rr_dir, bin_dir):
    test_dir = rr_dir / "test"
    if not (test_dir / "util.h").exists():
        sys.exit(f"no rr test sources in {rr_dir}: test/util.h is missing "
                 f"(pass --rr DIR, the directory holding rr's test/ and include/)")
    sources = sorted(test_dir.glob("*.c"))
    if platform.machine() == "x86_64":
        sources += sorted((test_dir / "x86").glob("*.c"))
    programs = []
    for src in sources:
        name = str(src.relative_to(test_dir).with_suffix(""))
        p = Program(name, src, bin_dir / name.replace("/", "__"))
        text = src.read_text(errors="replace")
        if src.with_suffix(".run").exists():
            p.notes.append("rr runs it with its own driver (.run)")
        if re.search(r"running_under_rr|rrcall|RR_MAGIC|rr_detach|rr_freeze", text):
            p.notes.append("asks whether it runs under rr")
        if re.search(r"argv\[[1-9]\]", text):
            p.notes.append("reads its arguments")
        programs.append(p)
    return programs


def generate_headers(rr_dir, gen_dir):
    """util_syscall.h includes a syscall-number header that rr's build generates."""
    header = gen_dir / GENERATED_HEADER
    if header.exists():
        return
    gen_dir.mkdir(parents=True, exist_ok=True)
    # generate_syscalls.py picks what to write from its output file's name, so it writes
    # into a temporary directory under the final name, then the file is moved in place.
    with tempfile.TemporaryDirectory(dir=gen_dir) as tmp:
        out = pathlib.Path(tmp) / GENERATED_HEADER
        subprocess.run([sys.executable, str(rr_dir / "generate_syscalls.py"), str(out)],
                       cwd=rr_dir, check=True)
        os.rename(out, header)


def build(program, rr_dir, gen_dir, cc):
    """Builds the program unless it is cached; returns None or the compiler's first
    error line. A failed build is cached too (BINARY.build-error)."""
    error_file = program.binary.with_name(program.binary.name + ".build-error")
    if program.binary.exists():
        return None
    if error_file.exists():
        return error_file.read_text().strip() or "build failed"
    cmd = [cc, *CFLAGS, f"-I{rr_dir / 'test'}", f"-I{rr_dir / 'include'}",
           f"-I{rr_dir / 'preload'}", f"-I{gen_dir}", str(program.source),
           "-o", f"{program.binary}.tmp{os.getpid()}", *LIBS]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        reason = first_line(r.stderr, prefer=r"error|undefined reference") or "build failed"
        error_file.write_text(reason + "\n")
        return reason
    os.rename(f"{program.binary}.tmp{os.getpid()}", program.binary)
    return None


def program_env(workdir):
    env = dict(os.environ)
    # rr's harness gives each test a scratch directory outside /tmp as NONTMP_WORKDIR.
    env["NONTMP_WORKDIR"] = str(workdir)
    env.pop("LD_PRELOAD", None)
    return env


def status_under_rewind(native_status):
    """rewind record exits with the program's status, or 128 + N when signal N ended it."""
    return 128 - native_status if native_status < 0 else native_status


def check_one(program, args, log_dir, scratch):
    """Native run, recording and replay of one program; returns its Result, whose reason
    names rr's sources relative to its test directory."""
    res = check_one_unnamed(program, args, log_dir, scratch)
    res.reason = res.reason.replace(str(args.rr / "test") + "/", "")
    return res


def check_one_unnamed(program, args, log_dir, scratch):
    res = Result(program.name, category_of(program.name), "", notes=program.notes)
    logs = log_dir / program.name.replace("/", "__")
    logs.mkdir(parents=True, exist_ok=True)

    error = build(program, args.rr, args.gen_dir, args.cc)
    if error:
        res.outcome, res.stage, res.reason = SKIP_BUILD, "build", error
        return res

    with tempfile.TemporaryDirectory(dir=scratch, prefix="native-") as wd:
        native = run([sys.executable, "-c", NATIVE_PARENT, str(program.binary)],
                     args.native_timeout, wd, program_env(wd),
                     logs / "native.log")
    res.native_status, res.seconds["native"] = native.status, round(native.seconds, 2)
    if native.timed_out or SUCCESS_MARK not in native.stdout:
        res.outcome, res.stage = SKIP_NATIVE, "native"
        if native.timed_out:
            printed = (f", after printing {SUCCESS_MARK}" if SUCCESS_MARK in native.stdout
                       else "")
            why = f"did not end within {args.native_timeout:g}s{printed}"
        else:
            why = f"{describe_status(native.status)} without {SUCCESS_MARK}"
        detail = first_line(native.stdout, native.stderr, prefer=r"FAILED|rror|sage")
        res.reason = f"{why}: {detail}" if detail else why
        return res

    recording = logs / "recording.rwd"
    for stale in (recording, logs / "recording.rwd.verify.json"):
        stale.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(dir=scratch, prefix="record-") as wd:
        rec = run([args.rewind, "record", "-o", str(recording), "--", str(program.binary)],
                  args.record_timeout, wd, program_env(wd), logs / "record.log")
    res.record_status, res.seconds["record"] = rec.status, round(rec.seconds, 2)
    expected = status_under_rewind(native.status)
    if rec.timed_out:
        res.outcome, res.stage = "hang", "record"
        res.reason = f"record did not end within {args.record_timeout}s"
        return res
    if rec.status < 0:
        res.outcome, res.stage = "record failed", "record"
        res.reason = ": ".join(filter(None, [
            f"rewind record died of {describe_status(rec.status)}", first_line(rec.stderr)]))
        return res
    if SUCCESS_MARK not in rec.stdout or rec.status != expected:
        rewind_error = first_line(rec.stderr, prefer=r"^(rewind|error|cannot)")
        if rec.status == 1 and expected != 1 and (rewind_error or not recording.exists()):
            res.outcome, res.stage = "record failed", "record"
            res.reason = rewind_error or "rewind record exited 1 without a recording"
        else:
            res.outcome, res.stage = "behaves differently under recording", "record"
            what = (f"{rec.status} instead of {expected}" if rec.status != expected
                    else f"{rec.status} as natively")
            mark = "" if SUCCESS_MARK in rec.stdout else f", no {SUCCESS_MARK}"
            detail = first_line(rec.stdout, rec.stderr, prefer=r"FAILED|rror|warning")
            res.reason = f"exit status {what}{mark}" + (f": {detail}" if detail else "")
        return res
    if not recording.exists():
        res.outcome, res.stage = "record failed", "record"
        res.reason = "rewind record left no recording"
        return res

    with tempfile.TemporaryDirectory(dir=scratch, prefix="replay-") as wd:
        rep = run([args.rewind, "replay", "--verify", str(recording)], args.replay_timeout,
                  wd, program_env(wd), logs / "replay.log")
    res.replay_status, res.seconds["replay"] = rep.status, round(rep.seconds, 2)
    if rep.timed_out:
        res.outcome, res.stage = "hang", "replay"
        res.reason = f"replay did not end within {args.replay_timeout}s"
    elif rep.status == 0 and VERIFIED in rep.stdout:
        res.outcome = VERIFIED_KIND
    elif rep.status == 3:
        res.outcome, res.stage = "replay diverged", "replay"
        res.reason = divergence_reason(rep.stdout + "\n" + rep.stderr)
    else:
        res.outcome, res.stage = "replay error", "replay"
        prefix = (f"rewind replay died of {describe_status(rep.status)}: "
                  if rep.status < 0 else "")
        line = first_line(rep.stderr, rep.stdout, prefer=r"^(rewind|error|cannot)")
        # "rewind replay: FILE: why": the file is always this program's recording.
        res.reason = prefix + line.replace(f"{recording}: ", "")
    if not args.keep_recordings and res.outcome == VERIFIED_KIND:
        recording.unlink(missing_ok=True)
    return res


def divergence_reason(text):
    """The divergence line with what was recorded and what replay did instead, on one
    line: "divergence at event 48 (thread 6027): recorded clone(...) = 6029; replayed
    syscall write(...) = ?"."""
    head = first_line(text, prefer=r"^divergence|^not verified|differ|mismatch")
    sides = [m[1] + " " + m[2].strip()
             for m in re.finditer(r"^\s*(recorded|replayed):\s*(.*)$", text, re.M)]
    return (head + " " + "; ".join(sides[:2]) if sides else head)[:400]


def spread(items, n):
    """n items evenly spread over the (sorted) list, so a sample covers all categories."""
    if n >= len(items):
        return items
    step = len(items) / n
    return [items[int(i * step)] for i in range(n)]


def reason_shape(reason):
    """A failure reason with its numbers, addresses and paths blurred, for grouping."""
    r = re.sub(r"\([^()]*\)", "(…)", reason)
    r = re.sub(r"0x[0-9a-fA-F]+", "0x…", r)
    r = re.sub(r"/[^\s:'\"]+", "PATH", r)
    return re.sub(r"\d+", "N", r)


def print_table(results, out):
    ran = [r for r in results if not r.outcome.startswith("skipped")]
    by_cat = collections.defaultdict(list)
    for r in results:
        by_cat[r.category].append(r)
    order = [c for c, _ in CATEGORIES if c in by_cat]
    short = {"replay diverged": "diverged", "replay error": "rep.err",
             "behaves differently under recording": "differs", "record failed": "rec.fail",
             "hang": "hang"}
    header = (f"{'category':<22}{'progs':>6}{'skip':>6}{'ran':>6}{'verif':>7}{'%':>6}" +
              "".join(f"{short[k]:>10}" for k in FAILURE_KINDS))
    print(header, file=out)
    print("-" * len(header), file=out)

    def row(label, rs):
        run_rs = [r for r in rs if not r.outcome.startswith("skipped")]
        v = sum(r.outcome == VERIFIED_KIND for r in run_rs)
        pct = f"{100 * v / len(run_rs):.0f}" if run_rs else "-"
        counts = collections.Counter(r.outcome for r in run_rs)
        print(f"{label:<22}{len(rs):>6}{len(rs) - len(run_rs):>6}{len(run_rs):>6}{v:>7}"
              f"{pct:>6}" + "".join(f"{counts[k]:>10}" for k in FAILURE_KINDS), file=out)

    for c in order:
        row(c, by_cat[c])
    print("-" * len(header), file=out)
    row("total", results)
    skipped = collections.Counter(r.outcome for r in results if r.outcome.startswith("skipped"))
    for kind, n in skipped.items():
        print(f"{kind}: {n}", file=out)
    print(f"verified: {sum(r.outcome == VERIFIED_KIND for r in ran)} of {len(ran)} "
          f"programs that pass natively", file=out)


def print_top_reasons(results, out, top=10):
    failed = [r for r in results if r.outcome in FAILURE_KINDS]
    groups = collections.defaultdict(list)
    for r in failed:
        groups[(r.outcome, reason_shape(r.reason))].append(r)
    if not groups:
        return
    print(f"\nmost common failure reasons (of {len(failed)} failures):", file=out)
    ranked = sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    for (kind, _), rs in ranked[:top]:
        examples = ", ".join(r.name for r in rs[:5])
        print(f"{len(rs):>4}  [{kind}] {rs[0].reason}\n      e.g. {examples}", file=out)


def parse_args():
    default_cache = pathlib.Path.home() / ".cache" / "rewind-testenv"
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rr", type=pathlib.Path, default=REPO.parent / "shared" / "compat" / "rr",
                   help="rr's test sources (holding test/, include/, RR_COMMIT)")
    p.add_argument("--rewind", default=os.environ.get("REWIND_BIN",
                                                      str(REPO / "build" / "bin" / "rewind")))
    p.add_argument("--cache", type=pathlib.Path, default=default_cache,
                   help="built programs go to CACHE/rr-<commit>/bin")
    p.add_argument("--json", type=pathlib.Path, help="write the results here")
    p.add_argument("--logs", type=pathlib.Path,
                   help="per-program logs (default CACHE/rr-<commit>/runs/<time>)")
    p.add_argument("--only", help="run the programs whose name matches this regex")
    p.add_argument("--limit", type=int, help="run N programs spread over the (sorted) set")
    p.add_argument("--jobs", type=int, default=1, help="programs checked at once")
    p.add_argument("--native-timeout", type=float, default=10)
    p.add_argument("--record-timeout", type=float, default=60)
    p.add_argument("--replay-timeout", type=float, default=120)
    p.add_argument("--resume", action="store_true",
                   help="keep the results already in LOGS/results.jsonl, run the rest")
    p.add_argument("--keep-recordings", action="store_true",
                   help="keep the recordings of programs that verified")
    p.add_argument("--cc", default=os.environ.get("CC", "cc"))
    return p.parse_args()


def main():
    args = parse_args()
    args.rr = args.rr.resolve()
    # Programs run in scratch directories of their own: relative paths would point there.
    args.logs = args.logs.resolve() if args.logs else None
    args.json = args.json.resolve() if args.json else None
    if os.sep in args.rewind:
        args.rewind = os.path.abspath(args.rewind)
    if not os.access(args.rewind, os.X_OK):
        sys.exit(f"rewind binary {args.rewind} not found or not executable "
                 f"(build it with scripts/build, or pass --rewind)")
    commit = rr_commit(args.rr)
    base = args.cache / f"rr-{commit[:12]}"
    bin_dir = base / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    args.gen_dir = base / "include"
    generate_headers(args.rr, args.gen_dir)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    log_dir = args.logs or base / "runs" / stamp
    log_dir.mkdir(parents=True, exist_ok=True)

    programs = find_programs(args.rr, bin_dir)
    if args.only:
        programs = [p for p in programs if re.search(args.only, p.name)]
    if args.limit:
        programs = spread(programs, args.limit)
    results = []
    if args.resume:
        done = log_dir / "results.jsonl"
        if done.exists():
            results = [Result(**json.loads(l)) for l in done.read_text().splitlines() if l]
        names = {r.name for r in results}
        programs = [p for p in programs if p.name not in names]
        print(f"resuming: {len(results)} results kept from {done}", flush=True)
    selected = len(results) + len(programs)
    print(f"rr test programs at commit {commit}: {len(programs)} selected; "
          f"logs in {log_dir}", flush=True)

    scratch = pathlib.Path(tempfile.mkdtemp(prefix="rr-compat-"))
    started = time.monotonic()
    interrupted = False
    # SIGTERM ends the run like Ctrl-C: what has finished is still reported.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    # A run started in the background of a script has SIGINT and SIGQUIT ignored, which
    # rewind (like any launcher) passes on to the program: the native runs reset them
    # (NATIVE_PARENT), so the recorded ones must start from the defaults too.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGQUIT, signal.SIG_DFL)
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs))
    try:
        with open(log_dir / "results.jsonl", "a" if args.resume else "w") as progress:
            futures = [pool.submit(check_one, p, args, log_dir, scratch) for p in programs]
            for i, f in enumerate(concurrent.futures.as_completed(futures), 1):
                r = f.result()
                results.append(r)
                progress.write(json.dumps(dataclasses.asdict(r)) + "\n")
                progress.flush()
                tail = f" — {r.reason}" if r.reason else ""
                print(f"[{i}/{len(programs)}] {r.name}: {r.outcome}{tail}", flush=True)
    except KeyboardInterrupt:
        interrupted = True
        print(f"\ninterrupted: reporting the {len(results)} programs that finished",
              flush=True)
        pool.shutdown(wait=False, cancel_futures=True)
        for pgid in list(RUNNING):
            kill_group(pgid)
    pool.shutdown(wait=True)
    shutil.rmtree(scratch, ignore_errors=True)
    results.sort(key=lambda r: r.name)

    print()
    print_table(results, sys.stdout)
    print_top_reasons(results, sys.stdout)
    elapsed = time.monotonic() - started
    print(f"\n{len(results)} programs in {elapsed / 60:.1f} min", flush=True)
    if args.json:
        args.json.write_text(json.dumps({
            "rr_commit": commit,
            "rewind": str(args.rewind),
            "started": stamp,
            "seconds": round(elapsed, 1),
            "interrupted": interrupted,
            "selected": selected,
            "timeouts": {"native": args.native_timeout, "record": args.record_timeout,
                         "replay": args.replay_timeout},
            "results": [dataclasses.asdict(r) for r in results],
        }, indent=1) + "\n")
    return 130 if interrupted else 0


if __name__ == "__main__":
    sys.exit(main())
