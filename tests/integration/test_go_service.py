"""A Go program under rewind: the example net/http service (examples/go-service) recorded
by attaching and by launching, through its crash (a nil dereference: the Go runtime's
SIGSEGV handler, which runs on each thread's alternate signal stack, turns it into a
panic and exit status 2) and under load (the runtime preempts goroutines with SIGURG),
then replayed with --verify."""
import json
import os
import pathlib
import shutil
import signal
import subprocess
import urllib.request

import pytest

from conftest import REWIND, rewind, wait_for
from test_record import start_recording
from test_replay import OutputLines, info_json, verify

GO_SERVICE = (pathlib.Path(os.environ.get("REWIND_BUILD_DIR", "build")) /
              "examples/go-service/go-service")

pytestmark = pytest.mark.skipif(not GO_SERVICE.exists(),
                                reason="examples/go-service was not built (no Go toolchain "
                                       "was found when the build was configured)")

LOAD_ROUNDS = 3  # recordings under load made at most, until one holds a SIGURG


class GoService:
    """go-service on a port it picks; wrapper as for BrokenApp (proc is then the wrapper's,
    and the service's output comes through it)."""

    def __init__(self, procs, wrapper=()):
        self.proc = subprocess.Popen([*wrapper, str(GO_SERVICE), "-port", "0"],
                                     stdout=subprocess.PIPE, text=True)
        procs.append(self.proc)
        self.output = OutputLines(self.proc.stdout)
        self.port = int(self.output.wait_for(r"go-service listening on port (\d+)")[1])
        wait_for(self.healthy, timeout=30, what="go-service to answer /health")

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def get(self, path, timeout=30):
        with urllib.request.urlopen(self.url + path, timeout=timeout) as r:
            return r.read().decode()

    def healthy(self):
        try:
            return self.get("/health", timeout=2) == "ok\n"
        except OSError:
            return False

    def serve_then_crash(self):
        for _ in range(3):
            assert "hello from go-service" in self.get("/")
        assert self.get("/crash") == "This will crash!\n"


def delivered_signals(recording):
    """The names of the signals delivered during the recording, in order."""
    r = rewind("log", "--json", recording, check=True)
    events = (json.loads(line) for line in r.stdout.splitlines() if line.strip())
    return [e["signal"] for e in events if e["type"] == "signal"]


def assert_go_panic(recording):
    j = info_json(recording)
    assert (j["stop_reason"], j["exit_status"]) == ("exit", 2), j
    assert "SIGSEGV" in delivered_signals(recording), \
        "the nil dereference is a SIGSEGV handled by the Go runtime"
    # Go's DWARF 5 line tables (which libdw cannot read) still give the frames lines.
    frames = j["backtrace"]["frames"]
    assert any(f["file"].endswith("/runtime/panic.go") and f["line"] > 0 for f in frames), frames


def test_attach_recording_of_a_go_panic_replays(tmp_path, procs):
    svc = GoService(procs)
    out = tmp_path / "attach.rwd"
    rec = start_recording(svc.proc.pid, out, procs)
    svc.serve_then_crash()
    stdout, stderr = rec.communicate(timeout=120)
    assert rec.returncode == 0, stderr
    assert "exit (status 2)" in stdout
    assert svc.proc.wait(timeout=10) == 2
    assert_go_panic(out)
    verify(out)


def test_launch_recording_of_a_go_panic_replays(tmp_path, procs):
    out = tmp_path / "launch.rwd"
    svc = GoService(procs, wrapper=[REWIND, "record", "-o", str(out), "--"])
    svc.serve_then_crash()
    assert svc.proc.wait(timeout=120) == 2, "rewind record exits with the panicking program's status"
    assert "exit (status 2)" in svc.output.text()
    assert_go_panic(out)
    verify(out)


def record_under_load(svc, out, procs):
    rec = start_recording(svc.proc.pid, out, procs)
    load = subprocess.Popen(["wrk", "-t2", "-c8", "-d3s", "--timeout", "10s", svc.url + "/"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # Handlers that compute for a while get preempted by the runtime (SIGURG): sysmon
    # sends it to a goroutine running for more than 10 ms, but under recording sysmon
    # only runs when the spinning thread gives up the CPU, after rewind's 100 ms
    # timeslice. So each spin outlasts the timeslice.
    for _ in range(3):
        assert svc.get("/spin?ms=300").startswith("spun ")
    _, err = load.communicate(timeout=60)
    assert load.returncode == 0, err
    rec.send_signal(signal.SIGINT)
    stdout, stderr = rec.communicate(timeout=120)
    assert rec.returncode == 0, stderr
    assert "interrupted" in stdout, "the recording must stop at SIGINT, while the target runs"


def test_attach_recording_under_load_replays(tmp_path, procs):
    assert shutil.which("wrk"), "wrk is needed to load the service"
    svc = GoService(procs)
    # How many preemptions a few seconds hold depends on the machine: record again
    # (the service keeps running after each detach) until a recording has one.
    for n in range(LOAD_ROUNDS):
        out = tmp_path / f"load-{n}.rwd"
        record_under_load(svc, out, procs)
        assert svc.healthy(), "detached, the service goes on serving"
        verify(out)
        if "SIGURG" in delivered_signals(out):
            break
    else:
        pytest.fail(f"none of {LOAD_ROUNDS} recordings under load held a SIGURG preemption")
