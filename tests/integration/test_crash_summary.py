"""`rewind info` leads with the fault that started a crash even when the program handled
it: the Go runtime turns a nil dereference into a panic and exit status 2 (or, with
GOTRACEBACK=crash, a SIGABRT it sends itself); redis-like programs log the fault and
re-raise it with kill(). The summary names the first fault, its thread and the program's
last words on stderr."""
import json
import re
import signal
import subprocess

import pytest

from conftest import PROGRAMS, REWIND, rewind
from test_go_service import GO_SERVICE, GoService


def info(recording):
    r = rewind("info", recording)
    assert r.returncode == 0, r.stderr
    j = json.loads(rewind("info", "--json", recording, check=True).stdout)
    return r.stdout, j


def record_go_crash(tmp_path, procs, status=2):
    """Records the Go service to its crash; rewind record exits with its status."""
    out = tmp_path / "go-crash.rwd"
    svc = GoService(procs, wrapper=[REWIND, "record", "-o", str(out), "--"])
    assert svc.get("/crash") == "This will crash!\n"
    assert svc.proc.wait(timeout=120) == status
    return out


def assert_leads_with_nil_dereference(text, j):
    fault = j["first_fault"]
    assert fault["signal_name"] == "SIGSEGV" and fault["code_name"] == "SEGV_MAPERR", fault
    assert int(fault["fault_addr"], 16) < 4096, "a nil dereference faults near address 0"
    first = text.splitlines()[0]
    assert first.startswith("fault ") and "SIGSEGV (SEGV_MAPERR) at address" in first, text
    assert f"in thread {fault['tid']}" in first, "the line names the faulting thread"
    assert j["backtrace"]["wanted_tid"] == fault["tid"]
    assert re.search(rf"backtrace of thread {fault['tid']}\b.*took the SIGSEGV", text), text


go_only = pytest.mark.skipif(not GO_SERVICE.exists(),
                             reason="examples/go-service was not built (no Go toolchain was "
                                    "found when the build was configured)")


@go_only
def test_go_panic_leads_with_the_handled_sigsegv_and_the_panic_message(tmp_path, procs):
    text, j = info(record_go_crash(tmp_path, procs))
    assert (j["stop_reason"], j["exit_status"]) == ("exit", 2), j
    assert_leads_with_nil_dereference(text, j)
    assert j["first_fault"]["fatal"] is False, "the Go runtime's handler took the fault"
    tail = j["stderr_tail"]["text"]
    assert "nil pointer dereference" in tail and "main.ownerLength" in tail, tail
    assert "last stderr output" in text and "main.ownerLength" in text


@go_only
def test_go_crash_traceback_leads_with_sigsegv_not_the_sigabrt(tmp_path, procs, monkeypatch):
    monkeypatch.setenv("GOTRACEBACK", "crash")
    # A thread woken to die by the SIGABRT once stopped at its exit for a recorder that
    # had let go of the others, and rewind record never ended: it must end, with 134.
    text, j = info(record_go_crash(tmp_path, procs, status=128 + signal.SIGABRT))
    assert j["complete"] is True
    assert j["crash"]["signal_name"] == "SIGABRT", "the runtime ends by raising SIGABRT"
    assert j["crash"]["code_name"] == "SI_TKILL"
    assert j["crash"]["sender_pid"] == j["target"]["pid"]
    assert_leads_with_nil_dereference(text, j)
    assert "SIGABRT (SI_TKILL) sent by pid" in text, text
    assert "at address 0x0 in thread" not in text.split("crash ", 1)[1].splitlines()[0]


def test_reraised_sigsegv_leads_with_the_fault_and_shows_the_sender(tmp_path):
    out = tmp_path / "reraise.rwd"
    r = subprocess.run([REWIND, "record", "-o", str(out), "--", str(PROGRAMS / "crash_reraise")],
                       capture_output=True, text=True, timeout=120)
    assert out.exists(), r.stderr
    text, j = info(out)
    pid = j["target"]["pid"]
    fault = j["first_fault"]
    assert (fault["signal_name"], fault["code_name"], fault["fault_addr"]) == \
        ("SIGSEGV", "SEGV_MAPERR", "0x10"), fault
    assert fault["tid"] == pid and fault["fatal"] is False
    assert text.splitlines()[0].startswith("fault         SIGSEGV (SEGV_MAPERR) at address 0x10")
    assert (j["crash"]["code_name"], j["crash"]["sender_pid"]) == ("SI_USER", pid), j["crash"]
    assert f"crash         SIGSEGV (SI_USER) sent by pid {pid} in thread {pid}" in text, text
    assert "caught signal 11 at address 0x10, re-raising" in j["stderr_tail"]["text"]
    assert j["stderr_tail"]["cut"] is False
    assert j["backtrace"]["frames"][0]["function"] == "store_through"
