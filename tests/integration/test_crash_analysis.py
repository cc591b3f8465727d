"""The product's promise end to end: record the demo service through its crash, then
find the crash — function, file and line — with `rewind info` and with real gdb through
`rewind debug`, on a machine where the binary no longer exists."""
import json
import shutil
import subprocess

from brokenapp import BrokenApp
from conftest import BROKEN_APP, REWIND, rewind
from test_record import start_recording


def record_crash(tmp_path, procs):
    # Run a private copy of the service so the test can delete it afterwards.
    bindir = tmp_path / "app-bin"
    bindir.mkdir()
    app_copy = bindir / "broken-app"
    shutil.copy2(BROKEN_APP, app_copy)
    import brokenapp
    original = brokenapp.BROKEN_APP
    brokenapp.BROKEN_APP = str(app_copy)
    try:
        app = BrokenApp(procs)
    finally:
        brokenapp.BROKEN_APP = original
    out = tmp_path / "crash.rwd"
    rec = start_recording(app.pid, out, procs)
    app.get("/")
    app.get("/crash")
    stdout, stderr = rec.communicate(timeout=60)
    assert rec.returncode == 0, stderr
    app.proc.wait(timeout=10)
    shutil.rmtree(bindir)  # the binary is gone: only the recording is left
    return out


def test_info_names_signal_function_and_line(tmp_path, procs):
    out = record_crash(tmp_path, procs)
    r = rewind("info", out)
    assert r.returncode == 0, r.stderr
    assert "SIGSEGV" in r.stdout
    assert "finish_job" in r.stdout
    assert "main.cc:" in r.stdout
    j = json.loads(rewind("info", "--json", out, check=True).stdout)
    assert j["stop_reason"] == "crash"
    assert j["crash"]["signal_name"] == "SIGSEGV"
    frames = j["backtrace"]["frames"]
    assert "finish_job(" in frames[0]["function"]
    assert frames[0]["file"].endswith("examples/broken-app/main.cc")
    source = (open(f"{__import__('conftest').SOURCE_DIR}/examples/broken-app/main.cc")
              .read().splitlines())
    assert "*job->result = 42" in source[frames[0]["line"] - 1]


def test_debug_shows_symbolized_crash_frame_without_the_binary(tmp_path, procs):
    out = record_crash(tmp_path, procs)
    r = subprocess.run([REWIND, "debug", str(out), "--", "-batch", "-ex", "bt"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "finish_job" in r.stdout, r.stdout + r.stderr
    assert "crash_later" in r.stdout
    assert "main.cc:" in r.stdout
    assert "SIGSEGV" in r.stdout + r.stderr


def test_log_shows_the_requests_that_led_to_the_crash(tmp_path, procs):
    out = record_crash(tmp_path, procs)
    r = rewind("log", out)
    assert r.returncode == 0, r.stderr
    assert "GET /crash" in r.stdout, "the request bytes read from the socket are decoded"
    assert "This will crash!" in r.stdout
    assert "SIGSEGV" in r.stdout


def test_damaged_recordings_get_clear_errors(tmp_path, procs):
    out = record_crash(tmp_path, procs)
    data = out.read_bytes()
    cases = {
        "truncated.rwd": data[: len(data) // 3],
        "wrong-version.rwd": data[:8] + b"\x63\x00\x00\x00" + data[12:],
        "not-a-recording.rwd": b"GIF89a" + data[6:100],
        "empty.rwd": b"",
    }
    for name, content in cases.items():
        p = tmp_path / name
        p.write_bytes(content)
        for cmd in (["info"], ["log"], ["info", "--json"]):
            r = rewind(*cmd, p)
            assert "Traceback" not in r.stderr and r.returncode in (0, 1), (name, cmd, r.stderr)
            if name != "truncated.rwd":
                assert r.returncode == 1, (name, cmd)
                assert str(p) in r.stderr, "the error names the file"
                assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    r = rewind("info", tmp_path / "truncated.rwd")
    assert r.returncode == 0, r.stderr
    assert "cut short" in r.stdout
    r = rewind("info", tmp_path / "wrong-version.rwd")
    assert "version 99 is not supported" in r.stderr
    r = rewind("info", tmp_path / "missing.rwd")
    assert r.returncode == 1 and "no such file" in r.stderr
