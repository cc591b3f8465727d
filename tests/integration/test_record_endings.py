"""rewind record -- PROGRAM for programs that end in ways that once kept the recorder
waiting or took it down: rewind must end with the program, pass its exit status on, and
leave a recording that replays to the recorded final state."""
import subprocess

import pytest

from conftest import PROGRAMS, REWIND
from test_replay import verify

# Each program ends natively in well under a second.
RECORD_TIMEOUT = 60

ENDINGS = [
    pytest.param("record_main_exits_first", "worker 2 done", 0, id="main-exits-first"),
    pytest.param("record_thread_burst", "created 400 threads", 0, id="thread-burst"),
    pytest.param("record_kill_child", "child killed by signal 9", 3, id="kill-child"),
]


def record(tmp_path, program):
    out = tmp_path / f"{program}.rwd"
    try:
        r = subprocess.run([REWIND, "record", "-o", str(out), "--", str(PROGRAMS / program)],
                           capture_output=True, text=True, timeout=RECORD_TIMEOUT)
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
