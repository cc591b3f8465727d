"""rewind replay against real recordings: every test program recorded in launch mode
and, where it can run long enough, in attach mode, then re-executed with --verify; the
demo service replayed to its crash; --until; damaged and tampered recordings; and the
verification result in `rewind info`."""
import dataclasses
import json
import os
import re
import shutil
import signal
import subprocess
import threading
import time

import pytest

import rwdfile
from brokenapp import BrokenApp
from conftest import PROGRAMS, REWIND, rewind
from test_record import start_recording

REPLAY_TIMEOUT = 120  # replay must never hang; a run past this fails the test
LOOP_SECONDS = 6  # attach-mode targets run this long: attach, 1 s of recording, detach
VERIFIED = "verified: identical final state"


@dataclasses.dataclass(frozen=True)
class Program:
    name: str
    output: str  # regex for the line the program prints, natively and under recording
    loops: bool = True  # takes "loop SECONDS" (tests/programs/replay_loop.h)
    check: object = None  # extra condition on the output's match
    waits_for_sigusr1: bool = False
    flags: tuple = ()  # for `rewind record`

    def __str__(self):
        return "".join([self.name, *(f"[{f.lstrip('-')}]" for f in self.flags)])


SUITE = [
    # The recorder tests' programs, which run once.
    Program("hello", r"hello from a recorded program", loops=False),
    Program("threads", r"total 11999994", loops=False),
    Program("file_io", r"read back 28 bytes", loops=False),
    Program("sockets", r"echoed: ping over loopback", loops=False),
    Program("signals", r"usr1=1 alrm=1", loops=False),
    # One behaviour each for replay; fixed results are what a native run prints.
    Program("replay_compute", r"primes below 2000000: 148933, hash 2c40430ef3ea50ea"),
    Program("replay_file_io", r"file io: 65536 bytes written and read back, fnv1a 1805815d"),
    Program("replay_socketpair", r"socketpair: 1000 round trips, checksum 9db8fd960d8a1834"),
    Program("replay_tcp_echo", r"tcp echo: 200 messages, 1629004 bytes echoed"),
    Program("replay_random",
            r"random: 16384 bytes from getrandom, 4096 from /dev/urandom, "
            r"fingerprint [0-9a-f]{16}"),
    Program("replay_clocks", r"clocks: 10000 samples, monotonic, checksum [0-9a-f]{16}"),
    # vDSO clock reads answered inside the process after the first (tracee/clock_stubs.h),
    # in three threads, with signals landing inside the answers.
    Program("replay_clocks", r"clocks: 10000 samples, monotonic, checksum [0-9a-f]{16}",
            flags=("--in-process-clocks",)),
    Program("replay_clock_stubs",
            r"clock stubs: \d+ rounds of 100000 reads in 3 threads, never back, every wait ended",
            flags=("--in-process-clocks",)),
    # The registers vDSO clock calls leave behind (kept in memory) must be the same in
    # replay: as syscalls, with --fast-clocks at their stub's trapped rdtsc (replay runs
    # the stub's syscall), and answered by the clock stubs.
    Program("replay_clock_regs",
            r"clock regs: \d+ rounds of 2000 calls in two threads, every answer in range"),
    Program("replay_clock_regs",
            r"clock regs: \d+ rounds of 2000 calls in two threads, every answer in range",
            flags=("--fast-clocks",)),
    Program("replay_clock_regs",
            r"clock regs: \d+ rounds of 2000 calls in two threads, every answer in range",
            flags=("--in-process-clocks",)),
    Program("replay_clocks", r"clocks: 10000 samples, monotonic, checksum [0-9a-f]{16}",
            flags=("--fast-clocks",)),
    # No syscall between clock reads: a stop must still end at a place replay finds.
    Program("replay_exceptions",
            r"exceptions: 10000 caught twice, 438890 characters, 0 strings leaked",
            flags=("--fast-clocks",)),
    Program("replay_itimer",
            r"itimer: \d+ rounds of 20 ticks during computation, hash [0-9a-f]{16}"),
    Program("replay_wait_sigusr1", r"got (\d+) SIGUSR1, hash [0-9a-f]{16}",
            waits_for_sigusr1=True),
    Program("replay_siglongjmp", r"siglongjmp: recovered from 100 faults and 5 alarms"),
    Program("replay_interrupted_poll",
            r"interrupted poll: \d+ rounds, every poll woken by its byte, sum \d+"),
    # A SIGALRM every 10 ms into 3 s of pure computation: each signal's point is found
    # among up to millions of loop passes (the in-process breakpoint).
    Program("replay_alarm_compute", r"alarm_compute: 1 rounds, \d+ ticks, checksum [0-9a-f]{16}",
            loops=False),
    Program("replay_mmap_file",
            r"mmap file: private sum c3902aa9aa300000, shared sum c3902aa9aa300000"),
    Program("replay_file_changes",
            r"file changes: \d+ rounds, every view matched the file, checksum [0-9a-f]{16}"),
    Program("replay_heap_growth", r"heap growth: mremap 8 -> 32 MiB sum 1044480, sbrk sum 10, "
            r"100000 blocks checksum db3516b9b35ecd60"),
    Program("replay_big_memory", r"big memory: 256 MiB touched, checksum 00caa463f9000000"),
    Program("replay_exceptions",
            r"exceptions: 10000 caught twice, 438890 characters, 0 strings leaked"),
    Program("replay_sqlite",
            r"sqlite: 5000 rows, sum 2497500, 19 customers above 490, longest note 25"),
    Program("replay_producer_consumer", r"producer/consumer: 20000 items, sum 200010000"),
    # Children by fork, vfork and posix_spawn, with and without exec, that execute rdtsc:
    # rewind takes its rdtsc trapping and its guard back from each.
    Program("replay_fork_children",
            r"fork children: \d+ rounds, statuses 77 78 79 80, own SIGSEGV action in the child"),
    # rdtsc in a thread that blocks SIGSEGV: rewind undoes what the forced fault changes.
    Program("replay_rdtsc_blocked",
            r"rdtsc blocked: \d+ rounds, mask kept, every fault recovered, checksum [0-9a-f]+"),
    # rdtsc and rdtscp answered inside the process after their first trap, in threads,
    # with signals landing inside the answers (tracee/rdtsc_patch.h).
    Program("replay_rdtsc_stubs",
            r"rdtsc stubs: \d+ rounds of 200000 reads in 3 threads, never back, every wait ended"),
    # Brief threads made and joined without a pause: an attach meets one on its way out,
    # which must neither keep rdtsc untrapped in the others nor leave its tid word unset.
    Program("replay_thread_churn",
            r"thread churn: \d+ rounds of 4 brief threads, the TSC never went back"),
    # cpuid recorded and replayed, and glibc's lazy binder first run in a signal handler
    # (its XSAVEC left bytes that depended on ptrace traffic, until rewind hid XSAVEC).
    Program("replay_cpuid", r"cpuid: \d+ rounds, 5 leaves steady, alarm in Alarm clock"),
    # A program that traps rdtsc itself (PR_SET_TSC) gets its own faults and settings.
    Program("replay_prctl_tsc",
            r"prctl tsc: \d+ rounds, 50 faults while trapped, 0 after, settings read back"),
    # Children that signal their parent at once (the handler reads the pid fork returned:
    # natively unset in well under 1 run in 100, so at most half is no timing bet), and
    # blocked signals that end sigsuspend/ppoll/pselect6/epoll_pwait under the wait's mask.
    Program("replay_masked_wait",
            r"masked wait: (\d+) rounds, sigsuspend ppoll pselect6 epoll_pwait each ended by a "
            r"blocked signal under its own mask, the mask put back; child pid unset in (\d+) "
            r"of (\d+)",
            check=lambda m: int(m[3]) == 10 * int(m[1]) and 2 * int(m[2]) <= int(m[3])),
    # Waits that a ptrace stop ends with EINTR (epoll_wait, sigtimedwait, semtimedop),
    # woken by attaching, detaching and a SIGCHLD that only a traced process gets: the
    # program fails at an EINTR that no handler explains. A real SIGUSR1 still ends its
    # epoll_pwait.
    Program("replay_quiet_waits",
            r"quiet waits: (\d+) rounds, epoll_wait sigtimedwait semtimedop ended by their "
            r"timeouts only \(all three waited\), SIGUSR1 ended epoll_pwait (\d+) times",
            check=lambda m: m[1] == m[2]),
    # Child processes write a shared anonymous page that the parent reads after a wait4
    # and after a read from a pipe: replay runs no child, the bytes come from the recording.
    Program("replay_child_shared",
            r"child shared: \d+ rounds, every child's bytes seen, checksum [0-9a-f]{16}"),
    # Threads exit holding a robust mutex: the kernel marks its word FUTEX_OWNER_DIED only
    # for the recorded thread's tid, which replay's thread does not have.
    Program("replay_robust_mutex", r"robust mutex: \d+ rounds, EOWNERDEAD after every owner's exit"),
    # Lowers RLIMIT_STACK and recurses until the kernel refuses to grow the stack: replay's
    # stack (a plain mapping with room below it) must end at the same depth.
    Program("replay_stack_limit",
            r"stack limit: overflowed at depth \d+ with a 512 KiB limit", loops=False),
    # Ends inside its SIGSEGV handler (no SA_SIGINFO): the live signal frame must be the
    # recording's, which rewind's orphan guard shapes.
    Program("replay_handler_exit",
            r"handler exit: faulted at depth 3, exiting from the handler", loops=False),
    # A signal delivered on top of another's fresh frame, at its handler's first
    # instruction: replay reaches that point without a trap of its own in between.
    Program("replay_nested_signals",
            r"nested signals: \d+ rounds, 5 pairs each, SIGUSR2's handler first every time"),
    # Not attached to: a thread that its parent is creating at the moment rewind attaches
    # can be missing from the initial snapshot (about 1 attach in 5 to this program, which
    # creates threads all the time), and replay then stops at that thread's first event.
    # A known recorder bug, named in the README's limits; launch mode is tested here.
    Program("replay_data_race", r"data race: count (\d+) of 8000000",
            check=lambda m: 0 < int(m[1]) <= 8000000, loops=False),
    Program("replay_spin_wait", r"spin wait: 10 handoffs per round, hash 29b006be97ca8081"),
    # Execs itself with a thread running: replay goes on in the new image's snapshot.
    Program("replay_exec", r"exec: stage1 104ef2d049a5f41e, stage2 2bd73a74363bcd97, "
            r"file 4096 bytes fnv1a dbb585113800e325", loops=False),
]


class OutputLines:
    """A process's stdout, collected line by line on a thread, so a test can wait for a
    line with a timeout instead of blocking on readline()."""

    def __init__(self, stream):
        self._lines = []
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream):
        for line in stream:
            with self._cond:
                self._lines.append(line)
                self._cond.notify_all()

    def wait_for(self, pattern, timeout=30):
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for line in self._lines:
                    if m := re.search(pattern, line):
                        return m
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no line matching {pattern!r} within {timeout}s; "
                                         f"got {''.join(self._lines)!r}")
                self._cond.wait(left)

    def text(self, timeout=30):
        """Everything, once the stream has ended."""
        self._thread.join(timeout)
        with self._cond:
            return "".join(self._lines)


def replay(*args):
    try:
        r = rewind("replay", *args, timeout=REPLAY_TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.fail(f"rewind replay {' '.join(map(str, args))} did not finish in "
                    f"{REPLAY_TIMEOUT}s")
    assert r.returncode >= 0, f"rewind replay died of signal {-r.returncode}: {r.stderr}"
    return r


def verify(recording):
    r = replay(recording, "--verify")
    assert r.returncode == 0, f"replay --verify failed ({r.returncode}):\n{r.stdout}{r.stderr}"
    assert VERIFIED in r.stdout
    return r


def info_json(recording):
    return json.loads(rewind("info", "--json", recording, check=True).stdout)


def check_output(program, text):
    m = re.search(program.output, text)
    assert m, f"{program} did not print its result line: {text!r}"
    if program.check:
        assert program.check(m), f"{program} printed an implausible result: {m[0]!r}"
    return m


def record_launch(tmp_path, name, send_sigusr1=False, status=0, flags=()):
    """Records tests/programs/`name` in launch mode until it ends; returns the recording
    and rewind's stdout (which the program's output goes to). With send_sigusr1, sends
    the program a SIGUSR1 once it says it waits for one. rewind must exit with `status`,
    the program's own."""
    out = tmp_path / f"{name}.rwd"
    errors = tmp_path / f"{name}.stderr"
    with open(errors, "w") as stderr:
        rec = subprocess.Popen([REWIND, "record", *flags, "-o", str(out), "--",
                                str(PROGRAMS / name)],
                               stdout=subprocess.PIPE, stderr=stderr, text=True)
    try:
        lines = OutputLines(rec.stdout)
        if send_sigusr1:
            pid = int(lines.wait_for(r"waiting for SIGUSR1 in pid (\d+)")[1])
            os.kill(pid, signal.SIGUSR1)
        rec.wait(timeout=120)
    except subprocess.TimeoutExpired:
        pytest.fail(f"rewind record of {name} did not end within 120 s")
    finally:
        if rec.poll() is None:
            rec.kill()
            rec.wait()
    stdout = lines.text()
    assert rec.returncode == status, errors.read_text()
    return out, stdout


def crash_line(text):
    m = re.search(r"replay ended in (\S+) at (0x[0-9a-f]+)", text)
    assert m, f"no 'replay ended in SIGNAL at ADDRESS' line in {text!r}"
    return m[1], m[2]


@pytest.mark.parametrize("program", SUITE, ids=str)
def test_launch_recording_replays_to_identical_state(tmp_path, program):
    out, stdout = record_launch(tmp_path, program.name, program.waits_for_sigusr1,
                                flags=program.flags)
    assert "exit (status 0)" in stdout
    m = check_output(program, stdout)
    if program.waits_for_sigusr1:
        assert m[1] == "1"
    verify(out)


@pytest.mark.parametrize("program", [p for p in SUITE if p.loops], ids=str)
def test_attach_recording_replays_to_identical_state(tmp_path, procs, program):
    target = subprocess.Popen([str(PROGRAMS / program.name), "loop", str(LOOP_SECONDS)],
                              stdout=subprocess.PIPE, text=True)
    procs.append(target)
    lines = OutputLines(target.stdout)
    time.sleep(0.3)
    out = tmp_path / f"{program.name}.rwd"
    rec = start_recording(target.pid, out, procs, *program.flags)
    sent = 0
    stop_at = time.monotonic() + 1.0
    while time.monotonic() < stop_at:
        if program.waits_for_sigusr1:
            os.kill(target.pid, signal.SIGUSR1)
            sent += 1
        time.sleep(0.2)
    rec.send_signal(signal.SIGINT)
    stdout, stderr = rec.communicate(timeout=60)
    assert rec.returncode == 0, stderr
    assert "interrupted" in stdout, "the recording must stop at SIGINT, while the target runs"
    # Detached, the target finishes its work as if it had never been recorded.
    assert target.wait(timeout=LOOP_SECONDS + 60) == 0
    m = check_output(program, lines.text())
    if program.waits_for_sigusr1:
        # Signals sent while the target is stopped for the attach can merge into one.
        assert 1 <= int(m[1]) <= sent
    verify(out)


def test_attach_while_threads_come_and_go_replays_to_identical_state(tmp_path, procs):
    """Twenty short attaches to replay_thread_churn, whose main thread is nearly always
    in a clone. The end of a recording often met one under way: its return was not in
    the log, but the new thread's id was already in the parent's memory, and the final
    state differed. Now and then (about one attach in twenty here) the attach meets a
    thread on its way out, which once kept rdtsc untrapped in the whole process and, left
    out of the initial snapshot before its exit had cleared its tid word, sent replay's
    pthread_join into a futex wait that the recording did not have."""
    program = next(p for p in SUITE if p.name == "replay_thread_churn")
    met = 0
    for attempt in range(20):
        target = subprocess.Popen([str(PROGRAMS / program.name), "loop", "1"],
                                  stdout=subprocess.PIPE, text=True)
        procs.append(target)
        time.sleep(0.2)
        out = tmp_path / f"churn-{attempt}.rwd"
        r = rewind("record", "-p", target.pid, "-o", out, "--duration", "0.2")
        assert r.returncode == 0, r.stderr
        assert "warning" not in r.stderr, r.stderr
        stdout, _ = target.communicate(timeout=60)
        assert target.returncode == 0
        check_output(program, stdout)
        verify(out)
        first = rewind("log", "--json", out, check=True).stdout.splitlines()[0]
        met += json.loads(first)["type"] == "thread-exit"
    print(f"{met} of 20 attaches met a thread on its way out")


@pytest.mark.parametrize("name", ["crash_null", "crash_threads"])
def test_crash_replays_to_the_recorded_signal_and_address(tmp_path, name):
    out, stdout = record_launch(tmp_path, name, status=128 + signal.SIGSEGV)
    assert "crash (SIGSEGV)" in stdout
    crash = info_json(out)["crash"]
    v = verify(out)
    assert crash_line(v.stdout + v.stderr) == (crash["signal_name"], crash["fault_addr"])


def test_demo_service_crash_replays_to_the_recorded_fault(tmp_path, procs):
    out = tmp_path / "broken-app.rwd"
    app = BrokenApp(procs, wrapper=[REWIND, "record", "-o", str(out), "--"], start_timeout=30)
    for _ in range(3):
        assert "Hello from broken-app" in app.get("/")
    assert "hello requested" in app.get("/db")
    assert app.get("/health") == "ok\n"
    assert app.get("/crash") == "This will crash!\n"
    output, _ = app.proc.communicate(timeout=60)  # the recording ends with the crash
    output = output.decode(errors="replace")
    assert app.proc.returncode == 128 + signal.SIGSEGV, output
    assert "crash (SIGSEGV)" in output
    crash = info_json(out)["crash"]
    assert crash["signal_name"] == "SIGSEGV"
    v = verify(out)
    assert crash_line(v.stdout + v.stderr) == ("SIGSEGV", crash["fault_addr"])


def test_replay_without_verify_replays_every_recorded_event(tmp_path):
    out, _ = record_launch(tmp_path, "replay_file_io")
    total = sum(info_json(out)["event_counts"].values())
    r = replay(out)
    assert r.returncode == 0, r.stderr
    assert f"replayed {total} events" in r.stdout


def test_log_by_time_orders_events_by_when_they_began(tmp_path):
    # The main thread's poll blocks until the waker thread writes: the log has the poll
    # after the write (when it returned), --by-time before it (when it began).
    out, _ = record_launch(tmp_path, "replay_interrupted_poll")

    def lines(*flags):
        r = rewind("log", *flags, out, check=True)
        return [line for line in r.stdout.splitlines() if line.strip()]

    def seconds(line):
        return float(line.split()[0])

    logged, by_time = lines(), lines("--by-time")
    assert sorted(logged) == sorted(by_time), "the same events, in another order"
    assert [seconds(x) for x in by_time] == sorted(seconds(x) for x in by_time)
    assert [seconds(x) for x in logged] != sorted(seconds(x) for x in logged), \
        "the poll that waited for the write is logged after it"
    poll = next(i for i, x in enumerate(by_time) if " poll([" in x)
    write = next(i for i, x in enumerate(by_time) if re.search(r" write\(\d+, \"\\x00\"", x))
    assert poll < write, by_time[min(poll, write):max(poll, write) + 1]


def test_until_stops_after_event_n(tmp_path):
    out, _ = record_launch(tmp_path, "replay_file_io")
    total = sum(info_json(out)["event_counts"].values())
    n = total // 2
    r = replay(out, "--until", n)
    assert r.returncode == 0, r.stderr
    assert f"replayed {n} events" in r.stdout
    assert f"replayed {total} events" not in r.stdout


def assert_clean_failure(r, path):
    """A damaged recording ends replay with a divergence or a one-line error, not a
    crash, a hang or a success."""
    assert r.returncode in (1, 3), f"exit {r.returncode}:\n{r.stdout}{r.stderr}"
    assert "Traceback" not in r.stderr and "terminate called" not in r.stderr
    assert VERIFIED not in r.stdout
    if r.returncode == 3:
        assert "divergence" in r.stdout + r.stderr
    else:
        errors = [l for l in r.stderr.splitlines() if l.startswith("rewind replay:")]
        assert len(errors) == 1, r.stderr
        assert str(path) in errors[0], "the error names the file"


def test_damaged_event_log_fails_cleanly(tmp_path):
    out, _ = record_launch(tmp_path, "replay_socketpair")
    data = out.read_bytes()
    events = [c for c in rwdfile.chunks(data) if c.type == rwdfile.EVENTS]
    assert events, "a recording of 1000 round trips has an event log"
    chunk = max(events, key=lambda c: c.stored_size)
    middle = chunk.payload_offset + chunk.stored_size // 2
    flipped = bytearray(data)
    for i in range(middle, min(middle + 16, chunk.end)):
        flipped[i] ^= 0xFF
    cases = {
        "flipped.rwd": bytes(flipped),
        "truncated.rwd": data[:middle],
    }
    for name, content in cases.items():
        path = tmp_path / name
        path.write_bytes(content)
        assert_clean_failure(replay(path, "--verify"), path)
    # Without --verify the damage is still found: the events cannot be replayed.
    assert_clean_failure(replay(tmp_path / "flipped.rwd"), tmp_path / "flipped.rwd")


@pytest.mark.skipif(shutil.which("zstd") is None,
                    reason="needs the zstd tool: run scripts/install-deps")
def test_tampered_syscall_result_is_a_divergence(tmp_path):
    """A recording whose checksums are valid but whose read() result was changed must
    not verify: replay hands the program other bytes, and its path changes."""
    out, _ = record_launch(tmp_path, "replay_file_io")
    data = out.read_bytes()
    for chunk in (c for c in rwdfile.chunks(data) if c.type == rwdfile.EVENTS):
        payload = bytearray(rwdfile.events_payload(data, chunk))
        reads = [e for e in rwdfile.decode_events(payload)
                 if e.type == rwdfile.SYSCALL and e.sysno == 0 and e.result == 65536]
        if reads:
            _, offset, length = reads[0].outputs[0]
            payload[offset + length // 2] ^= 0x01
            break
    else:
        pytest.fail("no read() of the 64 KiB file in the event log")
    tampered = tmp_path / "tampered.rwd"
    tampered.write_bytes(rwdfile.replace_payload(data, chunk, bytes(payload)))
    r = replay(tampered, "--verify")
    assert r.returncode == 3, f"exit {r.returncode}:\n{r.stdout}{r.stderr}"
    assert "divergence" in r.stdout + r.stderr
    assert VERIFIED not in r.stdout


def test_info_shows_verification_after_verify(tmp_path):
    out, _ = record_launch(tmp_path, "replay_compute")
    before = info_json(out).get("verification") or {}
    assert before.get("verified", False) is False
    verify(out)
    after = info_json(out).get("verification")
    assert after and after.get("verified") is True, after


def test_exec_of_another_program_replays_and_verifies_its_final_state(tmp_path):
    """replay_exec hello execs tests/programs/hello: the final state is hello's."""
    out = tmp_path / "exec_hello.rwd"
    r = subprocess.run([REWIND, "record", "-o", str(out), "--", str(PROGRAMS / "replay_exec"),
                        "hello"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "hello from a recorded program" in r.stdout
    v = verify(out)
    assert "replay ended at: exit_group" in v.stdout
    info = info_json(out)
    assert info["event_counts"]["exec"] == 1
    assert [x["snapshot"] for x in info["execs"]] == ["exec-1"]
    assert info["execs"][0]["exe"].endswith("/hello")
    assert re.search(r"^exec +\S+/hello at [\d.]+ s \(snapshot exec-1\)$",
                     rewind("info", out, check=True).stdout, re.M)
    log = rewind("log", out, check=True).stdout
    assert re.search(r'\+\+\+ exec ".*/hello" \+\+\+', log), log
