"""Time travel in gdb: `rewind debug` serves a recording's replay over the GDB remote
protocol and the real gdb drives it forwards and backwards — the demo service's crash
back to the line that set the null pointer (recorded by attaching), watchpoints and
breakpoints run in reverse in a multithreaded program (recorded from launch), going to
events and coming back to identical registers, and --serve for IDEs."""
import os
import re
import subprocess

import pytest

from brokenapp import BrokenApp
from conftest import PROGRAMS, REWIND, free_port, rewind, wait_for
from test_record import start_recording

GDB_TIMEOUT = 180


def gdb(recording, *commands):
    """Runs `rewind debug` with gdb in batch mode; returns gdb's output."""
    args = ["debug", recording, "--", "-batch"]
    for c in commands:
        args += ["-ex", c]
    r = rewind(*args, timeout=GDB_TIMEOUT)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    assert "divergence" not in out and "Remote failure" not in out, out
    return out


@pytest.fixture(scope="module")
def demo_crash(tmp_path_factory):
    """The demo service recorded by attaching, up to its crash."""
    procs = []
    try:
        app = BrokenApp(procs)
        out = tmp_path_factory.mktemp("demo") / "crash.rwd"
        rec = start_recording(app.pid, out, procs)
        app.get("/")
        app.get("/crash")
        rec.communicate(timeout=60)
        assert rec.returncode == 0
        return out
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(timeout=10)


@pytest.fixture(scope="module")
def threads_recording(tmp_path_factory):
    """tests/programs/time_travel recorded from launch."""
    out = tmp_path_factory.mktemp("tt") / "time_travel.rwd"
    r = rewind("record", "-o", out, "--", PROGRAMS / "time_travel")
    assert r.returncode == 0, r.stderr
    assert "time travel: 60 bumps" in r.stdout
    return out


def test_demo_crash_back_to_the_line_that_set_the_null_pointer(demo_crash):
    # The session opens at the crash.
    out = gdb(demo_crash, "bt 1", "reverse-finish", "reverse-step", "reverse-step",
              "info locals")
    assert "finish_job" in out and "main.cc:71" in out
    # reverse-finish lands at the call in crash_later, reverse-step on the line before:
    # the job built with a null result pointer.
    assert re.search(r"^77\s+finish_job\(&job\);", out, re.M), out
    assert re.search(r'^76\s+Job job\{"report", nullptr\};', out, re.M), out
    assert "result = 0x0" in out


def test_demo_goto_end_is_the_crash_and_goto_start_is_the_attach(demo_crash):
    out = gdb(demo_crash, "rewind-goto start", "rewind-info", "continue", "bt 1",
              "rewind-goto end", "bt 1")
    assert "received signal SIGSEGV" in out
    assert re.search(r"^#0 .*finish_job", out, re.M), out
    assert re.search(r"position\s+event 0 of \d+ events", out), out


def test_watchpoint_backwards_finds_the_last_write(threads_recording):
    out = gdb(threads_recording, "rewind-goto end", "print balance", "watch -l balance",
              "reverse-continue", "print $pc == &bump || 1", "bt 2")
    final = re.search(r"^\$1 = (-?\d+)", out, re.M)
    assert final, out
    change = re.search(r"Old value = (-?\d+)\s+New value = (-?\d+)", out)
    assert change, out
    # Backwards, the old value is the final one and the new one what it was before the
    # write, by one bump of 1, 2 or 3.
    old, new = int(change.group(1)), int(change.group(2))
    assert old == int(final.group(1))
    assert old - new in (1, 2, 3)
    assert re.search(r"balance \+= amount", out), out


def test_reverse_continue_to_the_corrupting_write(threads_recording):
    out = gdb(threads_recording, "rewind-goto end", "break corrupt", "reverse-continue",
              "print bumps", "next", "print balance")
    assert re.search(r"Breakpoint 1, corrupt \(\)", out), out
    assert re.search(r"^\$2 = -1$", out, re.M), out


def test_breakpoint_hits_counted_backwards_then_forwards(threads_recording):
    out = gdb(threads_recording, "rewind-goto end", "break bump", "reverse-continue",
              "print bumps", "reverse-continue", "print bumps", "reverse-continue",
              "print bumps", "continue", "print bumps")
    values = [int(v) for v in re.findall(r"^\$\d+ = (\d+)$", out, re.M)]
    assert values == [59, 58, 57, 58], out


def test_goto_and_back_gives_identical_registers(threads_recording):
    out = gdb(threads_recording, "rewind-goto 60", "info registers", "rewind-goto 120",
              "rewind-goto 60", "info registers")
    dumps = re.findall(r"^rax .*?^gs\s+\S+", out, re.M | re.S)
    assert len(dumps) == 2, out
    assert dumps[0] == dumps[1]


def test_stepi_then_reverse_stepi_returns_to_the_same_instruction(threads_recording):
    out = gdb(threads_recording, "rewind-goto start", "break bump", "continue", "print $pc",
              "stepi", "stepi",
              "stepi", "print $pc", "reverse-stepi", "reverse-stepi", "reverse-stepi",
              "print $pc")
    pcs = re.findall(r"^\$\d+ = \(void \(\*\)\(\)\) (0x[0-9a-f]+)", out, re.M)
    assert len(pcs) == 3, out
    assert pcs[0] == pcs[2] and pcs[1] != pcs[0]


def test_writes_are_refused_with_a_reason(threads_recording):
    r = rewind("debug", "--at", "start", threads_recording, "--", "-batch", "-ex", "break bump",
               "-ex", "continue", "-ex", "set var balance = 5", "-ex", "print balance",
               timeout=GDB_TIMEOUT)
    out = r.stdout + r.stderr
    assert "cannot be changed" in out or "Cannot access memory" in out, out
    assert not re.search(r"^\$1 = 5$", out, re.M)


def test_serve_for_an_ide(threads_recording, procs):
    port = free_port()
    server = subprocess.Popen([REWIND, "debug", "--serve", f"127.0.0.1:{port}",
                               str(threads_recording)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    procs.append(server)
    first = server.stdout.readline()
    assert "serving the replay" in first, first
    r = subprocess.run(["gdb", "-nx", "-batch", "-ex", f"target remote 127.0.0.1:{port}",
                        "-ex", "info threads", "-ex", "kill"],
                       capture_output=True, text=True, timeout=GDB_TIMEOUT)
    assert "Thread" in r.stdout, r.stdout + r.stderr
    server.wait(timeout=30)


def test_signals_the_program_handles_stop_gdb_and_go_on(tmp_path):
    rec = tmp_path / "signals.rwd"
    r = rewind("record", "-o", rec, "--", PROGRAMS / "signals")
    assert r.returncode == 0, r.stderr
    out = gdb(rec, "rewind-goto start", "handle SIGALRM stop print", "continue", "print usr1",
              "continue",
              "print alrm", "continue")
    # gdb stops for each recorded signal before its handler runs, then goes on to the end.
    assert re.search(r"received signal SIGUSR1", out), out
    assert re.search(r"^\$1 = 0$", out, re.M), out
    assert re.search(r"received signal SIGALRM", out), out
    assert re.search(r"^\$2 = 0$", out, re.M), out
    assert "No more reverse-execution history" in out or "exited" in out, out


def run_clone_test(recording):
    """ReplaySession::clone() every few events of the recording (a gtest that needs one)."""
    build = os.environ.get("REWIND_BUILD_DIR", "build")
    binary = os.path.join(build, "bin", "rewind_replay_test")
    r = subprocess.run([binary, "--gtest_also_run_disabled_tests",
                        "--gtest_filter=CloneTest.*"],
                       env={**os.environ, "RWD_CLONE_TEST_RECORDING": str(recording)},
                       capture_output=True, text=True, timeout=GDB_TIMEOUT)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "[  PASSED  ] 1 test" in r.stdout, r.stdout


def test_checkpoint_clones_replay_to_the_same_end(demo_crash):
    """ReplaySession::clone() on a real recording: clones taken every few events, with
    threads inside syscalls, and clones of clones, all replay to the recorded crash."""
    run_clone_test(demo_crash)


def test_main_thread_leaving_first_back_and_forth(tmp_path):
    """main calls pthread_exit while its workers run on: back from the end to main before
    it leaves, with the threads it had, and forward again past its exit to the end; and
    checkpoints taken after it left (the fork's leader then stands for a worker) replay
    to the recorded end too."""
    rec = tmp_path / "main_exits_first.rwd"
    r = rewind("record", "-o", rec, "--", PROGRAMS / "record_main_exits_first")
    assert r.returncode == 0, r.stderr
    out = gdb(rec, "break record_main_exits_first.c:12", "break pthread_exit",
              *["reverse-continue"] * 4, "info threads", *["continue"] * 4, "info threads")
    hits = re.findall(r"Breakpoint \d+, (?:0x\w+ in )?(\w+) \((?:arg=(0x\d))?", out)
    hits = ["main leaves" if "pthread_exit" in name else arg for name, arg in hits]
    assert hits == ["0x2", "0x1", "0x0", "main leaves", "0x0", "0x1", "0x2"], out
    threads = re.findall(r"^\*?\s+\d+\s+Thread (\d+)", out, re.M)
    assert len(threads) == 4 + 1, out  # all four while main is there, one at the end
    assert "No more reverse-execution history" in out, out
    run_clone_test(rec)


def test_going_back_across_checkpoints_gives_identical_registers(tmp_path):
    """A recording long enough for checkpoints taken mid-run (every 2000 events)."""
    rec = tmp_path / "socketpair.rwd"
    r = rewind("record", "-o", rec, "--", PROGRAMS / "replay_socketpair")
    assert r.returncode == 0, r.stderr
    out = gdb(rec, "rewind-goto 5000", "info registers", "rewind-goto 7000",
              "rewind-goto 5000", "info registers", "rewind-goto 3001", "rewind-info")
    dumps = re.findall(r"^rax .*?^gs\s+\S+", out, re.M | re.S)
    assert len(dumps) == 2, out
    assert dumps[0] == dumps[1]
    checkpoints = re.findall(r"^checkpoints (\d+)", out, re.M)
    assert checkpoints and int(checkpoints[-1]) >= 3, out
