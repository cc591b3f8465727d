"""rewind info / debug / extract on real recordings of real crashes.

The recordings are made by tests/tools/make-test-recording (real ptrace, the real ELF
core writer, the real RecordingWriter) from a copy of a test program that is deleted
before inspection: symbols and source lines must come from the recording alone.
"""
import json
import os
import pathlib
import re
import shutil
import subprocess
import urllib.request

import pytest

from conftest import BROKEN_APP, PROGRAMS, SOURCE_DIR, rewind, wait_for

BUILD_DIR = pathlib.Path(os.environ.get("REWIND_BUILD_DIR", "build"))
MAKE_RECORDING = BUILD_DIR / "tests" / "tools" / "make-test-recording"
CRASH_SOURCE = SOURCE_DIR / "tests" / "programs" / "crash_threads.c"
HAVE_GDB = shutil.which("gdb") is not None


def source_line(path, text):
    """1-based number of the first line of `path` containing `text`."""
    for number, line in enumerate(pathlib.Path(path).read_text().splitlines(), 1):
        if text in line:
            return number
    raise AssertionError(f"{text!r} not in {path}")


def make_recording(tmp_path, name="crash.rwd", cut_short=False):
    """Records a crash of a private copy of crash_threads, then deletes the copy."""
    bindir = tmp_path / "bin"
    bindir.mkdir(exist_ok=True)
    exe = bindir / "crash_threads"
    shutil.copy(PROGRAMS / "crash_threads", exe)
    out = tmp_path / name
    args = [str(MAKE_RECORDING)] + (["--cut-short"] if cut_short else []) + [str(out), "--", str(exe)]
    r = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    exe.unlink()
    return out


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    return make_recording(tmp_path_factory.mktemp("rec"))


def test_info_shows_crash_and_symbolized_backtrace(recording):
    r = rewind("info", recording)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "status        complete" in out
    assert "SIGSEGV" in out and "at address 0x0" in out
    assert "mode          launch" in out
    line = source_line(CRASH_SOURCE, "*job->result = 42")
    # The crashing thread's frames, innermost first, with file:line from the DWARF.
    frames = re.findall(r"#(\d+)\s+0x[0-9a-f]+ in (\S+) \(\)(?: at (\S+):(\d+))?", out)
    names = [f[1] for f in frames]
    assert names[:4] == ["finish_job", "stage_two", "stage_one", "main"], out
    assert frames[0][2].endswith("crash_threads.c") and int(frames[0][3]) == line, out
    assert int(frames[1][3]) == source_line(CRASH_SOURCE, "finish_job(job);")


def test_info_json_has_the_same_facts(recording):
    r = rewind("info", "--json", recording)
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    assert s["complete"] is True and s["has_core"] is True
    assert s["crash"]["signal_name"] == "SIGSEGV"
    assert s["crash"]["fault_addr"] == "0x0"
    assert s["backtrace"]["tid"] == s["crash"]["tid"]
    assert len(s["threads"]) == 3
    top = s["backtrace"]["frames"][0]
    assert top["function"] == "finish_job"
    assert top["file"].endswith("crash_threads.c")
    assert top["line"] == source_line(CRASH_SOURCE, "*job->result = 42")
    assert top["module"].endswith("/bin/crash_threads")
    assert top["pc"].startswith("0x")
    assert s["target"]["exe"].endswith("/bin/crash_threads")
    assert s["bundled_files"]["exe"] == 1 and s["bundled_files"]["vdso"] == 1
    assert s["bundled_files"]["library"] >= 1


def test_info_says_what_the_size_is_made_of(recording):
    s = json.loads(rewind("info", "--json", recording, check=True).stdout)
    b = s["size_breakdown"]
    # The bundled executable and libraries, the start and end memory images, the events.
    assert b["files"] > 0 and b["memory"] > 0 and b["events"] > 0, b
    assert b["files"] + b["memory"] + b["events"] == s["size_bytes"]
    first = rewind("info", recording, check=True).stdout.splitlines()[0]
    assert re.search(r"\(\S+ \S+: bundled files \S+ \S+, memory images \S+ \S+, events \S+ \S+\)$",
                     first), first


def test_info_all_threads(recording):
    r = rewind("info", "--json", "--all-threads", recording)
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    bts = s["thread_backtraces"]
    assert len(bts) == 3
    assert bts[0]["tid"] == s["crash"]["tid"]
    waiters = [b for b in bts[1:] if any(f["function"] == "waiter" for f in b["frames"])]
    assert len(waiters) == 2, bts


@pytest.mark.skipif(not HAVE_GDB, reason="gdb is not installed")
def test_debug_runs_gdb_with_the_recordings_files(recording, tmp_path):
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    env = dict(os.environ, TMPDIR=str(tmpdir))
    r = rewind("debug", recording, "--", "-batch", "-ex", "bt", "-ex", "print/x global_marker",
               "-ex", "info threads", env=env)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    line = source_line(CRASH_SOURCE, "*job->result = 42")
    assert re.search(rf"#0 +(0x[0-9a-f]+ in )?finish_job \(job=0x[0-9a-f]+\) at \S*crash_threads\.c:{line}", out), out
    assert re.search(r"#1 .* stage_two \(job=", out), out
    assert re.search(r"#3 .* main \(\) at \S*crash_threads\.c:\d+", out), out
    assert "= 0x5eedf00d" in out
    assert len(re.findall(r"^[* ] +\d+ +Thread ", out, re.M)) == 3, out
    assert list(tmpdir.iterdir()) == [], "rewind debug left its temporary directory behind"


def test_debug_without_gdb_says_how_to_install_it(recording, tmp_path):
    r = rewind("debug", recording, "--", "-batch", env=dict(os.environ, PATH=str(tmp_path)))
    assert r.returncode == 1
    assert "apt-get install gdb" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


@pytest.mark.skipif(not HAVE_GDB, reason="gdb is not installed")
def test_extract_lays_out_a_sysroot_for_plain_gdb(recording, tmp_path):
    out = tmp_path / "x"
    r = rewind("extract", recording, out)
    assert r.returncode == 0, r.stderr
    assert f"gdb -x {out}/gdbinit" in r.stdout
    manifest = json.loads((out / "manifest.json").read_text())
    exe = manifest["target"]["exe"]
    assert (out / "root" / exe.lstrip("/")).is_file()
    assert (out / "core").read_bytes()[:4] == b"\x7fELF"
    assert (out / "vdso.so").read_bytes()[:4] == b"\x7fELF"
    gdbinit = (out / "gdbinit").read_text()
    assert f"set sysroot {out}/root" in gdbinit
    assert f"set debug-file-directory {out}/root/usr/lib/debug" in gdbinit
    g = subprocess.run(["gdb", "-nx", "-batch", "-iex", "set debuginfod enabled off",
                        "-x", str(out / "gdbinit"), "-ex", "bt"],
                       capture_output=True, text=True, timeout=120)
    assert re.search(r"finish_job \(job=0x[0-9a-f]+\) at \S*crash_threads\.c:\d+", g.stdout), g.stdout + g.stderr


def test_extract_refuses_a_non_empty_directory(recording, tmp_path):
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "file").write_text("x")
    r = rewind("extract", recording, tmp_path / "busy")
    assert r.returncode == 1
    assert "not empty" in r.stderr


def test_cut_short_recording_still_gets_info(tmp_path):
    rec = make_recording(tmp_path, cut_short=True)
    r = rewind("info", rec)
    assert r.returncode == 0, r.stderr
    assert "no final state: the recording was cut short" in r.stdout
    assert "cut short" in r.stdout.split("status", 1)[1].splitlines()[0]


def test_truncated_recording_reports_where_it_stops(recording, tmp_path):
    data = recording.read_bytes()
    cut = tmp_path / "cut.rwd"
    cut.write_bytes(data[: len(data) * 2 // 3])
    r = rewind("info", "--json", cut)
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    assert s["complete"] is False
    assert "cut short at byte" in s["truncation"]
    assert s["has_core"] is False
    assert s["final_state"].startswith("no final state")


@pytest.mark.parametrize("command", ["info", "debug", "extract"])
@pytest.mark.parametrize("damage", ["missing", "empty", "garbage", "version"])
def test_bad_files_get_one_clear_line(recording, tmp_path, command, damage):
    bad = tmp_path / "bad.rwd"
    if damage == "empty":
        bad.write_bytes(b"")
    elif damage == "garbage":
        bad.write_bytes(b"this is not a recording at all" * 10)
    elif damage == "version":
        data = bytearray(recording.read_bytes()[:4096])
        data[8] = 99
        bad.write_bytes(bytes(data))
    args = [command, bad] + ([tmp_path / "out"] if command == "extract" else [])
    r = rewind(*args)
    assert r.returncode == 1, (r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert str(bad) in lines[0]
    expect = {"missing": "no such file", "empty": "too short", "garbage": "not a rewind recording",
              "version": "version 99"}[damage]
    assert expect in lines[0].lower(), lines[0]


def test_broken_app_crash_shows_the_demo_bug(tmp_path):
    """The demo: broken-app's /crash ends in finish_job(Job*) with its source line."""
    app = tmp_path / "broken-app"
    shutil.copy(BROKEN_APP, app)
    rec = tmp_path / "demo.rwd"
    p = subprocess.Popen([str(MAKE_RECORDING), str(rec), "--", str(app), "--port", "0"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = p.stdout.readline()
        port = int(re.search(r"port (\d+)", first).group(1))
        urllib.request.urlopen(f"http://127.0.0.1:{port}/crash", timeout=10).read()
        assert p.wait(timeout=60) == 0, p.stderr.read()
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    app.unlink()
    r = rewind("info", rec)
    assert r.returncode == 0, r.stderr
    line = source_line(SOURCE_DIR / "examples" / "broken-app" / "main.cc", "*job->result = 42")
    assert re.search(rf"#0 +0x[0-9a-f]+ in \(anonymous namespace\)::finish_job\(\(anonymous namespace\)::Job\*\) at \S*examples/broken-app/main\.cc:{line}", r.stdout), r.stdout
    assert "crash_later" in r.stdout
    if HAVE_GDB:
        # Every library is found in the recording, also those the loader names by soname.
        g = rewind("debug", rec, "--", "-batch", "-ex", "info sharedlibrary")
        assert g.returncode == 0, g.stderr
        assert "libsqlite3" in g.stdout
        assert not re.search(r"^\s+No\s+/", g.stdout, re.M), g.stdout
