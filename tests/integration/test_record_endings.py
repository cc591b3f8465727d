"""rewind record -- PROGRAM for programs that end in ways that once kept the recorder
waiting or took it down: rewind must end with the program, pass its exit status on, and
leave a recording that replays to the recorded final state."""
import os
import re
import subprocess

import pytest

from conftest import PROGRAMS, REWIND, wait_for
from test_replay import replay, verify

# Each program ends natively in well under a second.
RECORD_TIMEOUT = 60

ENDINGS = [
    pytest.param("record_main_exits_first", "worker 2 done", 0, id="main-exits-first"),
    pytest.param("record_thread_burst", "created 400 threads", 0, id="thread-burst"),
    pytest.param("record_kill_child", "child killed by signal 9", 3, id="kill-child"),
]


def record(tmp_path, program, **kw):
    out = tmp_path / f"{program}.rwd"
    try:
        r = subprocess.run([REWIND, "record", "-o", str(out), "--", str(PROGRAMS / program)],
                           capture_output=True, text=True, timeout=RECORD_TIMEOUT, **kw)
    except subprocess.TimeoutExpired:
        pytest.fail(f"rewind record of {program} did not end within {RECORD_TIMEOUT} s of "
                    "starting a program that ends in under one")
    return out, r


@pytest.mark.parametrize("program,output,status", ENDINGS)
def test_recording_ends_with_the_program_and_replays(tmp_path, program, output, status):
    out, r = record(tmp_path, program)
    assert r.returncode == status, f"rewind must exit with the program's status: {r.stderr}"
    assert output in r.stdout, "the program must behave as without rewind"
    assert f"exit (status {status})" in r.stdout
    verify(out)


def test_a_program_that_kills_its_process_group_leaves_rewind_and_the_recording(tmp_path):
    """kill(0, SIGKILL) from a program rewind launched reaches every process in the group,
    rewind too: rewind sends it to the others itself, so the program and its child die of
    it as they would, and rewind writes the recording and exits as the program did."""
    # Its own session and group, so that the signal cannot reach pytest.
    out, r = record(tmp_path, "record_kill_own_group", start_new_session=True)
    m = re.search(r"child (\d+); killing the process group", r.stdout)
    assert m, f"the program must run up to its kill: {r.stdout}{r.stderr}"
    assert "survived" not in r.stdout
    assert r.returncode == 128 + 9, f"rewind must exit as the program did: {r.stderr}"
    assert "exit (status 137)" in r.stdout, r.stdout
    wait_for(lambda: not os.path.exists(f"/proc/{m[1]}"), timeout=10,
             what="the program's child to die of the signal too (and be reaped)")
    played = replay(out)
    assert played.returncode == 0, f"{played.stdout}{played.stderr}"
    assert "replay ended at: exit" in played.stdout, played.stdout


def test_output_to_a_pipe_that_closes_keeps_the_recording(tmp_path):
    """`rewind record -- PROGRAM | head -1`: the reader goes away after a line. The program
    dies of SIGPIPE at its next write, as it would without rewind; rewind's own lines to
    the closed pipe fail, and rewind still finishes the recording instead of dying of
    SIGPIPE with half a file."""
    out = tmp_path / "pipe.rwd"
    program = [str(PROGRAMS / "replay_robust_mutex"), "repeat", "2000"]
    r = subprocess.Popen([REWIND, "record", "-o", str(out), "--", *program],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    r.stdout.readline()
    r.stdout.close()
    assert r.wait(timeout=RECORD_TIMEOUT) in (0, 128 + 13)
    verify(out)
