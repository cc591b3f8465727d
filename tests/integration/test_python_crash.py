"""A Python crash in gdb with Python frames: CPython crashed by ctypes three Python calls
deep, recorded from launch, then `py-bt` in `rewind debug` — which works because the
recording bundles the interpreter's gdb helper (python3.11-gdb.py) and its debug info, and
`rewind debug` has gdb load them."""
import os
import re
import signal

import pytest

from conftest import SOURCE_DIR, rewind

PYTHON = "/usr/bin/python3.11"  # Debian's: its debug info and gdb helper come in python3.11-dbg
HELPER = "/usr/share/gdb/auto-load/usr/bin/python3.11-gdb.py"
SCRIPT = SOURCE_DIR / "tests/programs/python/crash.py"

pytestmark = pytest.mark.skipif(
    not (os.path.exists(PYTHON) and os.path.exists(HELPER)),
    reason="Debian's python3.11-dbg is not installed (scripts/install-deps installs it)")


@pytest.fixture(scope="module")
def python_crash(tmp_path_factory):
    out = tmp_path_factory.mktemp("py") / "crash.rwd"
    r = rewind("record", "-o", out, "--", PYTHON, SCRIPT, timeout=300)
    assert r.returncode == 128 + signal.SIGSEGV, r.stdout + r.stderr
    return out


def line_of(text):
    """The line number in crash.py of the (first) line that is `text`."""
    lines = SCRIPT.read_text().splitlines()
    return next(i + 1 for i, line in enumerate(lines) if line.strip() == text)


def debug(*debug_args, status=0):
    """`rewind debug` with these arguments; gdb's output."""
    r = rewind("debug", *debug_args, timeout=300)
    out = r.stdout + r.stderr
    assert r.returncode == status, out
    return out


def assert_python_frames(out):
    # Innermost first, as py-bt prints them, each with the script's file and line.
    frames = re.findall(r'File "([^"]+)", line (\d+), in (\S+)', out)
    ours = [(fn, int(line)) for path, line, fn in frames if path.endswith("/crash.py")]
    assert ours == [("read_header", line_of("return ctypes.string_at(address)")),
                    ("parse_request", line_of("return read_header(address)")),
                    ("handle", line_of("return parse_request(0)")),
                    ("<module>", line_of("handle()"))], out
    assert any(fn == "string_at" for _, _, fn in frames), out  # ctypes' own frame


def test_py_bt_at_the_crash_in_the_replay(python_crash):
    assert_python_frames(debug(python_crash, "--", "-batch", "-ex", "py-bt"))


def test_py_bt_in_the_final_state(python_crash):
    assert_python_frames(debug("--core", python_crash, "--", "-batch", "-ex", "py-bt"))


def test_gdbs_auto_load_switch_turns_the_helper_off(python_crash):
    # gdb's own switch: without the bundled helper there is no py-bt (gdb's batch mode
    # then exits with 1).
    out = debug(python_crash, "--", "-batch", "-iex", "set auto-load python-scripts off",
                "-ex", "py-bt", status=1)
    assert 'Undefined command: "py-bt"' in out, out


def test_info_counts_the_bundled_helper(python_crash):
    r = rewind("info", python_crash)
    assert r.returncode == 0, r.stderr
    assert re.search(r"^files .*, 1 gdb helper$", r.stdout, re.M), r.stdout
