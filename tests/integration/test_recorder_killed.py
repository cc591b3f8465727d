"""A recorder killed with SIGKILL at any moment must leave its target running and
correct (issue 10's "never harm the target"): rdtsc stays trapped in the target when
rewind dies, and only rewind's SIGSEGV guard keeps the target alive then.

Each test attaches, kills `rewind record` with SIGKILL at a random moment (during the
attach snapshot too), checks the target, and repeats on the same target process."""
import os
import pathlib
import random
import re
import shutil
import subprocess
import time

import pytest

from conftest import PROGRAMS, REWIND, free_port, rewind, wait_for

TRIALS = 50
BUILD_DIR = pathlib.Path(os.environ.get("REWIND_BUILD_DIR", "build"))
GO_SERVICE = BUILD_DIR / "examples/go-service/go-service"


def tracer_of(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("TracerPid:"):
                return int(line.split()[1])
    return -1


def record_and_kill(pid, out, seed, flags=()):
    """Starts `rewind record -p PID`, SIGKILLs it after a random 0-1.5 s, and waits until
    the kernel has released the target."""
    rec = subprocess.Popen([REWIND, "record", *flags, "-p", str(pid), "-o", str(out)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(random.Random(seed).uniform(0.0, 1.5))
    rec.kill()
    rec.wait(timeout=10)
    wait_for(lambda: tracer_of(pid) != rec.pid, timeout=10,
             what="the kernel to release the target")
    out.unlink(missing_ok=True)


# With --fast-clocks the vDSO clock functions start with a trapped rdtsc too, which
# the guard must untrap as well (rdtsc_loop reads CLOCK_MONOTONIC through the vDSO).
@pytest.mark.parametrize("flags", [(), ("--fast-clocks",)], ids=["default", "fast-clocks"])
def test_rdtsc_loop_survives_recorder_sigkill(tmp_path, procs, flags):
    log = tmp_path / "loop.out"
    with open(log, "w") as f:
        target = subprocess.Popen([PROGRAMS / "rdtsc_loop"], stdout=f,
                                  stderr=subprocess.STDOUT)
    procs.append(target)

    def blocks():
        return len(re.findall(r"^block \d+ ok$", log.read_text(), re.M))

    wait_for(lambda: blocks() > 0, what="rdtsc_loop to start")
    for trial in range(TRIALS):
        record_and_kill(target.pid, tmp_path / "killed.rwd", seed=trial, flags=flags)
        assert target.poll() is None, (
            f"trial {trial}: rdtsc_loop died ({target.returncode}) after rewind was killed")
        before = blocks()
        wait_for(lambda: blocks() > before, timeout=10,
                 what=f"rdtsc_loop to go on after trial {trial}")
    assert "WRONG" not in log.read_text()
    # A later recording ends cleanly and verifies, with the guard of the killed ones
    # still in the target.
    out = tmp_path / "after.rwd"
    rec = subprocess.Popen([REWIND, "record", *flags, "-p", str(target.pid), "-o", str(out)],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    time.sleep(1)
    rec.send_signal(2)
    assert rec.wait(timeout=30) == 0, rec.stdout.read()
    r = rewind("replay", "--verify", out, timeout=300)
    assert r.returncode == 0 and "verified: identical final state" in r.stdout, (
        r.stdout + r.stderr)
    assert target.poll() is None


@pytest.mark.skipif(not GO_SERVICE.exists(), reason="examples/go-service was not built (no Go "
                    "toolchain when cmake ran)")
@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed")
def test_go_service_under_load_survives_recorder_sigkill(tmp_path, procs):
    port = free_port()
    service = subprocess.Popen([GO_SERVICE, "-port", str(port)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    procs.append(service)
    url = f"http://127.0.0.1:{port}/"

    def get(path):
        r = subprocess.run(["curl", "-sf", "--max-time", "5", url + path], capture_output=True,
                           text=True)
        return r.stdout if r.returncode == 0 else None

    wait_for(lambda: get("health") == "ok\n", what="go-service to answer /health")
    for trial in range(TRIALS):
        load = subprocess.Popen(["wrk", "-t2", "-c8", "-d2s", url], stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        time.sleep(0.2)
        record_and_kill(service.pid, tmp_path / "killed.rwd", seed=1000 + trial)
        report = load.communicate(timeout=30)[0]
        assert service.poll() is None, (
            f"trial {trial}: go-service died after rewind was killed: {service.stderr.read()}")
        assert "Non-2xx" not in report, f"trial {trial}: {report}"
        answer = get("")
        assert answer is not None and answer.startswith("hello from go-service: request "), (
            f"trial {trial}: go-service answered {answer!r} after rewind was killed")
