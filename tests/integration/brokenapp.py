"""Starts the demo service (examples/broken-app) on a free port for a test."""
import subprocess
import urllib.request

from conftest import BROKEN_APP, free_port, wait_for


class BrokenApp:
    def __init__(self, procs, wrapper=(), start_timeout=10):
        """wrapper: a command to run the service under, e.g. [rewind, "record", "-o", F,
        "--"]; proc (and pid) are then the wrapper's."""
        self.port = free_port()
        self.proc = subprocess.Popen([*wrapper, BROKEN_APP, "--port", str(self.port)],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        procs.append(self.proc)
        wait_for(self.healthy, timeout=start_timeout, what="broken-app to answer /health")

    @property
    def pid(self):
        return self.proc.pid

    def get(self, path, timeout=5):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=timeout) as r:
            return r.read().decode()

    def healthy(self):
        try:
            return self.get("/health", timeout=1) == "ok\n"
        except OSError:
            return False

    def state(self):
        """Process state letter from /proc (R, S, t for traced-stopped, ...)."""
        with open(f"/proc/{self.pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]

    def tracer(self):
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith("TracerPid:"):
                    return int(line.split()[1])
        return 0
