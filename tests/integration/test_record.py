"""rewind record against real processes under real ptrace: attach, launch, crash,
stop, and the faults a user can cause."""
import json
import os
import pathlib
import re
import shutil
import signal
import stat
import subprocess
import tempfile
import time

import pytest

from brokenapp import BrokenApp
from conftest import PROGRAMS, REWIND, rewind, wait_for


def start_recording(pid, out, procs, *flags):
    rec = subprocess.Popen([REWIND, "record", *flags, "-p", str(pid), "-o", str(out)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    procs.append(rec)
    # The recorder owns the target once TracerPid names it.
    def traced():
        with open(f"/proc/{pid}/status") as f:
            return any(line.split()[1] == str(rec.pid)
                       for line in f if line.startswith("TracerPid:"))
    wait_for(traced, timeout=15, what="rewind to attach")
    return rec


def test_attach_and_crash_produces_a_complete_recording(tmp_path, procs):
    app = BrokenApp(procs)
    out = tmp_path / "crash.rwd"
    rec = start_recording(app.pid, out, procs)
    assert "Hello from broken-app" in app.get("/")
    assert app.get("/crash") == "This will crash!\n"
    stdout, stderr = rec.communicate(timeout=60)
    assert rec.returncode == 0, stderr
    assert "crash (SIGSEGV)" in stdout
    # The demo service really died of SIGSEGV after rewind let the signal through.
    assert app.proc.wait(timeout=10) == -signal.SIGSEGV
    assert stat.S_IMODE(out.stat().st_mode) == 0o600


def test_sigint_stops_recording_and_target_keeps_serving(tmp_path, procs):
    app = BrokenApp(procs)
    out = tmp_path / "stopped.rwd"
    rec = start_recording(app.pid, out, procs)
    for _ in range(5):
        assert app.get("/health") == "ok\n"
    rec.send_signal(signal.SIGINT)
    stdout, stderr = rec.communicate(timeout=60)
    assert rec.returncode == 0, stderr
    assert "interrupted" in stdout
    assert app.tracer() == 0, "rewind must detach"
    for _ in range(5):
        assert app.get("/health") == "ok\n"
    assert app.proc.poll() is None


def test_recorder_sigkilled_leaves_target_running(tmp_path, procs):
    app = BrokenApp(procs)
    out = tmp_path / "killed.rwd"
    rec = start_recording(app.pid, out, procs)
    for _ in range(20):
        app.get("/")
    time.sleep(0.5)  # let a periodic flush happen
    rec.kill()
    rec.wait(timeout=10)
    wait_for(lambda: app.tracer() == 0, timeout=10, what="the kernel to release the target")
    for _ in range(5):
        assert app.get("/health") == "ok\n"
    assert "Hello" in app.get("/")
    assert app.state() in ("R", "S"), "target must not be left stopped"
    assert out.stat().st_size > 0


def test_recording_of_a_sigkilled_recorder_keeps_its_events(tmp_path):
    out = tmp_path / "killed.rwd"
    rec = subprocess.Popen([REWIND, "record", "-o", str(out), "--", str(PROGRAMS / "sleeper")],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    target = None
    try:
        while not rec.stdout.readline().startswith("beat 20"):  # about a second of beats
            pass
        with open(f"/proc/{rec.pid}/task/{rec.pid}/children") as f:
            target = int(f.read().split()[0])
        time.sleep(1)  # periodic flushes happen meanwhile
        rec.kill()
        rec.wait(timeout=10)
    finally:
        if rec.poll() is None:
            rec.kill()
            rec.wait()
        if target is not None:
            os.kill(target, signal.SIGKILL)  # detached by the kernel, it runs on

    r = rewind("info", out)
    assert r.returncode == 0, r.stderr
    assert "cut short" in r.stdout
    threads = re.search(r"^threads +(\d+) .*counted from the event log", r.stdout, re.M)
    assert threads and int(threads[1]) == 1, r.stdout
    summary = json.loads(rewind("info", "--json", out, check=True).stdout)
    assert summary["counted_from_log"] is True
    assert summary["event_counts"]["syscall"] > 20, summary["event_counts"]
    assert summary["threads"] == [target]
    log = rewind("log", out)
    assert log.returncode == 0, log.stderr
    assert log.stdout.count('write(1, "beat ') > 20


def test_attach_to_missing_pid_is_a_clear_error(tmp_path):
    pid = 4194303  # above any pid this machine hands out by default
    r = rewind("record", "-p", pid, "-o", tmp_path / "x.rwd")
    assert r.returncode == 1
    assert f"cannot attach to pid {pid}: no such process" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "x.rwd").exists()


def test_attach_without_permission_names_cap_sys_ptrace(tmp_path, procs):
    app = BrokenApp(procs)  # owned by root
    # A directory the unprivileged user can reach and write: the output path is fine.
    with tempfile.TemporaryDirectory() as writable:
        os.chmod(writable, 0o777)
        r = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                            "--inh-caps=-all", REWIND, "record", "-p", str(app.pid), "-o",
                            os.path.join(writable, "x.rwd")],
                           capture_output=True, text=True, timeout=60)
    assert r.returncode == 1
    assert "operation not permitted" in r.stderr
    assert "CAP_SYS_PTRACE" in r.stderr
    assert app.get("/health") == "ok\n"


def test_attach_to_already_traced_process_names_the_tracer(tmp_path, procs):
    app = BrokenApp(procs)
    first = start_recording(app.pid, tmp_path / "first.rwd", procs)
    r = rewind("record", "-p", app.pid, "-o", tmp_path / "second.rwd")
    assert r.returncode == 1
    assert f"already being traced by pid {first.pid}" in r.stderr
    assert "detach" in r.stderr
    first.send_signal(signal.SIGINT)
    first.communicate(timeout=60)
    assert app.get("/health") == "ok\n"


def test_existing_output_file_is_refused_before_the_program_runs(tmp_path):
    out = tmp_path / "exists.rwd"
    out.write_text("precious")
    r = rewind("record", "-o", out, "--", PROGRAMS / "hello")
    assert r.returncode == 1
    assert f"cannot create recording {out}: file exists" in r.stderr
    assert "hello from a recorded program" not in r.stdout
    assert out.read_text() == "precious"


def test_output_in_missing_directory_is_refused_before_the_program_runs(tmp_path):
    out = tmp_path / "missing" / "x.rwd"
    r = rewind("record", "-o", out, "--", PROGRAMS / "hello")
    assert r.returncode == 1
    assert f"directory {out.parent}: no such file or directory" in r.stderr
    assert "choose another -o path" in r.stderr
    assert "hello from a recorded program" not in r.stdout


def test_output_in_unwritable_directory_is_refused_before_the_program_runs(tmp_path):
    os.chmod(tmp_path, 0o755)  # root's: nobody may read it but not write
    r = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                        "--inh-caps=-all", REWIND, "record", "-o", str(tmp_path / "x.rwd"),
                        "--", str(PROGRAMS / "hello")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1
    assert "permission denied" in r.stderr
    assert "hello from a recorded program" not in r.stdout


def test_bad_output_path_is_refused_before_attaching(tmp_path, procs):
    target = subprocess.Popen([str(PROGRAMS / "sleeper")], stdout=subprocess.DEVNULL)
    procs.append(target)
    out = tmp_path / "exists.rwd"
    out.write_text("precious")
    r = rewind("record", "-p", target.pid, "-o", out)
    assert r.returncode == 1
    assert "file exists" in r.stderr
    assert out.read_text() == "precious"
    assert target.poll() is None


def test_launch_of_missing_program_is_a_clear_error(tmp_path):
    r = rewind("record", "-o", tmp_path / "x.rwd", "--", "/nonexistent/program")
    assert r.returncode == 1
    assert "cannot run /nonexistent/program: no such file or directory" in r.stderr


@pytest.mark.parametrize("program,expected_output", [
    ("hello", "hello from a recorded program"),
    ("threads", "total 11999994"),
    ("file_io", "read back 28 bytes"),
    ("sockets", "echoed: ping over loopback"),
    ("signals", "usr1=1 alrm=1"),
])
def test_launch_mode_records_program_to_its_normal_exit(tmp_path, program, expected_output):
    out = tmp_path / f"{program}.rwd"
    r = subprocess.run([REWIND, "record", "-o", str(out), "--", str(PROGRAMS / program)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert expected_output in r.stdout, "the program must behave as without rewind"
    assert "exit (status 0)" in r.stdout


def test_launch_mode_exits_with_the_programs_status(tmp_path):
    out = tmp_path / "kill_child.rwd"
    r = rewind("record", "-o", out, "--", PROGRAMS / "record_kill_child")
    assert r.returncode == 3, r.stderr
    assert "exit (status 3)" in r.stdout


def test_launch_mode_crash(tmp_path):
    out = tmp_path / "crash.rwd"
    r = subprocess.run([REWIND, "record", "-o", str(out), "--", str(PROGRAMS / "crash_null")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 128 + signal.SIGSEGV, r.stderr  # the program's status, as a shell has it
    assert "crash (SIGSEGV)" in r.stdout


def test_job_control_stop_and_continue_while_recording(tmp_path, procs):
    target = subprocess.Popen([str(PROGRAMS / "sleeper")], stdout=subprocess.PIPE, text=True)
    procs.append(target)
    target.stdout.readline()
    out = tmp_path / "sleeper.rwd"
    rec = start_recording(target.pid, out, procs)

    def state():
        with open(f"/proc/{target.pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    os.kill(target.pid, signal.SIGSTOP)
    wait_for(lambda: state() in ("T", "t"), timeout=10, what="the target to stop")
    time.sleep(0.3)
    os.kill(target.pid, signal.SIGCONT)
    # It must run again: new heartbeats arrive.
    before = target.stdout.readline()
    after = target.stdout.readline()
    assert int(after.split()[1]) == int(before.split()[1]) + 1
    rec.send_signal(signal.SIGINT)
    stdout, stderr = rec.communicate(timeout=60)
    assert rec.returncode == 0, stderr
    line = target.stdout.readline()
    assert line.startswith("beat "), "the target keeps running after rewind detaches"


def thread_cpus(pid):
    """{tid: the CPUs it may run on} for every thread of `pid`."""
    return {int(tid): os.sched_getaffinity(int(tid)) for tid in os.listdir(f"/proc/{pid}/task")}


needs_two_cpus = pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2,
                                    reason="pinning to one CPU needs at least two")


@needs_two_cpus
@pytest.mark.parametrize("flags, pinned", [([], True), (["--no-pin-cpu"], False)])
def test_launched_program_runs_on_one_cpu_unless_asked(tmp_path, flags, pinned):
    r = rewind("record", *flags, "-o", tmp_path / "cpus.rwd", "--",
               "grep", "Cpus_allowed_list", "/proc/self/status", check=True)
    cpus = r.stdout.split("Cpus_allowed_list:")[1].split()[0]
    mine = ",".join(str(c) for c in sorted(os.sched_getaffinity(0)))
    if pinned:
        assert re.fullmatch(r"\d+", cpus), f"one CPU while recorded, not {cpus}"
    else:
        assert cpus != "" and not re.fullmatch(r"\d+", cpus), (cpus, mine)


@needs_two_cpus
def test_attach_pins_only_when_asked_and_puts_the_cpus_back(tmp_path, procs):
    target = subprocess.Popen([str(PROGRAMS / "replay_interrupted_poll"), "loop", "30"],
                              stdout=subprocess.DEVNULL)
    procs.append(target)
    time.sleep(0.3)
    before = os.sched_getaffinity(target.pid)
    # Without --pin-cpu, a running service keeps its CPUs.
    rec = start_recording(target.pid, tmp_path / "unpinned.rwd", procs)
    time.sleep(0.5)
    assert set(map(frozenset, thread_cpus(target.pid).values())) == {frozenset(before)}
    rec.send_signal(signal.SIGINT)
    assert rec.wait(timeout=60) == 0
    # With it, every thread, the ones born while recording too, runs on one CPU, and
    # gets its CPUs back when rewind detaches.
    rec = start_recording(target.pid, tmp_path / "pinned.rwd", procs, "--pin-cpu")
    time.sleep(0.5)  # the program starts a new thread every 150 ms
    during = thread_cpus(target.pid)
    assert len(during) >= 2 and all(len(c) == 1 for c in during.values()), during
    assert len(set(map(frozenset, during.values()))) == 1, during
    rec.send_signal(signal.SIGINT)
    assert rec.wait(timeout=60) == 0
    after = thread_cpus(target.pid)
    assert all(c == before for c in after.values()), after
    r = rewind("replay", "--verify", tmp_path / "pinned.rwd")
    assert r.returncode == 0, r.stdout + r.stderr


SETPRIV = shutil.which("setpriv")
WITHOUT_DAC = ["--inh-caps=-dac_override,-dac_read_search",
               "--bounding-set=-dac_override,-dac_read_search", "--"]


@pytest.mark.skipif(os.geteuid() != 0 or SETPRIV is None,
                    reason="needs root and setpriv to run the target as another user")
def test_recorder_with_only_ptrace_rights_records_another_users_crash(tmp_path, procs):
    # The sidecar's case: root with CAP_SYS_PTRACE but not CAP_DAC_OVERRIDE, next to an
    # app running as another uid, whose /proc/PID/mem, auxv and pagemap it cannot open.
    app = BrokenApp(procs, wrapper=[SETPRIV, "--reuid", "65532", "--regid", "65532",
                                    "--clear-groups"])
    out = tmp_path / "other-user.rwd"
    rec = subprocess.Popen([SETPRIV, *WITHOUT_DAC, REWIND, "record", "-p", str(app.pid), "-o",
                            str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    procs.append(rec)
    wait_for(lambda: app.tracer() == rec.pid, timeout=15, what="rewind to attach")
    time.sleep(0.5)
    assert app.get("/crash") == "This will crash!\n"
    stdout, stderr = rec.communicate(timeout=60)
    assert rec.returncode == 0, stderr
    assert "crash (SIGSEGV)" in stdout
    info = json.loads(rewind("info", "--json", out, check=True).stdout)
    assert info["has_core"], info["final_state"]
    # CPUID's answers are recorded wherever the CPU can fault on cpuid.
    cpu_faults_on_cpuid = "cpuid_fault" in pathlib.Path("/proc/cpuinfo").read_text()
    assert [w for w in info["warnings"] if "CPUID" not in w or cpu_faults_on_cpuid] == [], \
        info["warnings"]
    assert "finish_job" in info["backtrace"]["frames"][0]["function"], info["backtrace"]
    r = rewind("replay", "--verify", out)
    assert r.returncode == 0, r.stdout + r.stderr
