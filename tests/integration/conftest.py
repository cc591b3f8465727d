"""Shared fixtures for rewind's integration tests: paths, processes, ports."""
import os
import pathlib
import socket
import subprocess
import time

import pytest

REWIND = os.environ.get("REWIND_BIN", "build/bin/rewind")
BROKEN_APP = os.environ.get("BROKEN_APP", "build/bin/broken-app")
PROGRAMS = pathlib.Path(os.environ.get("REWIND_TEST_PROGRAMS", "build/tests/programs"))
SOURCE_DIR = pathlib.Path(os.environ.get("REWIND_SOURCE_DIR", "."))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout=10.0, interval=0.05, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def rewind(*args, check=False, timeout=120, **kw):
    """Runs the rewind binary; returns CompletedProcess with text output."""
    return subprocess.run([REWIND, *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, check=check, **kw)


@pytest.fixture
def procs():
    """Processes started by a test; killed at the end whatever happens."""
    started = []
    yield started
    for p in started:
        if p.poll() is None:
            p.kill()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
