"""A real S3-compatible server for tests: versitygw over a temporary directory.

The binary is built once by tests/testenv/versitygw into ~/.cache/rewind-testenv.
The server listens on 127.0.0.1 on a free port with root access keys, so every
request's SigV4 signature is really checked. Reusable by other test modules (the
Kubernetes sidecar tests): import the fixtures or the S3Server class.

    from s3server import s3server  # noqa: F401  (pytest fixture)

    def test_x(s3server):
        s3server.create_bucket("recordings")
        env = s3server.env()          # AWS_* variables for rewind
        s3 = s3server.client()        # boto3 client, an independent reader
"""
import os
import pathlib
import shutil
import socket
import subprocess
import tempfile
import time

import pytest

SOURCE_DIR = pathlib.Path(os.environ.get("REWIND_SOURCE_DIR",
                                         pathlib.Path(__file__).resolve().parents[2]))

ACCESS_KEY = "rewindtestaccess"
SECRET_KEY = "rewindtestsecret0123456789abcdef"
REGION = "us-east-1"


def versitygw_binary():
    """Path of the versitygw binary, built on first use."""
    out = subprocess.run([str(SOURCE_DIR / "tests/testenv/versitygw")], check=True,
                         stdout=subprocess.PIPE, text=True, timeout=1800)
    return out.stdout.strip().splitlines()[-1]


def _free_port(host="127.0.0.1"):
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class S3Server:
    """One versitygw process; stop() and start() keep the data and the port. `host` is
    the address it listens on: 127.0.0.1, or one that pods on the test node reach."""

    def __init__(self, root, binary=None, port=None, host="127.0.0.1"):
        self.root = pathlib.Path(root)
        self.data = self.root / "data"
        self.data.mkdir(parents=True, exist_ok=True)
        self.binary = binary or versitygw_binary()
        self.host = host
        self.port = port or _free_port(host)
        self.endpoint = f"http://{host}:{self.port}"
        self.access_key = ACCESS_KEY
        self.secret_key = SECRET_KEY
        self.proc = None
        self.log = open(self.root / "versitygw.log", "ab")

    def start(self, timeout=30):
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.proc = subprocess.Popen(
            [self.binary, "--access", self.access_key, "--secret", self.secret_key,
             "--region", REGION, "--port", f"{self.host}:{self.port}", "--quiet",
             "posix", str(self.data)],
            stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"versitygw exited with {self.proc.returncode}; see "
                                   f"{self.root / 'versitygw.log'}")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"versitygw did not listen on port {self.port} within {timeout}s")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def env(self, **extra):
        """Environment for a rewind process: these credentials, this endpoint, nothing
        inherited from the developer's own AWS setup."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(AWS_ACCESS_KEY_ID=self.access_key, AWS_SECRET_ACCESS_KEY=self.secret_key,
                   AWS_REGION=REGION, AWS_ENDPOINT_URL=self.endpoint)
        env.update({k: str(v) for k, v in extra.items()})
        return env

    def client(self):
        import boto3
        from botocore.config import Config
        return boto3.client("s3", endpoint_url=self.endpoint, region_name=REGION,
                            aws_access_key_id=self.access_key,
                            aws_secret_access_key=self.secret_key,
                            config=Config(s3={"addressing_style": "path"},
                                          retries={"max_attempts": 3}))

    def create_bucket(self, name):
        self.client().create_bucket(Bucket=name)
        return name


@pytest.fixture(scope="session")
def versitygw():
    return versitygw_binary()


@pytest.fixture
def s3server(versitygw):
    root = tempfile.mkdtemp(prefix="rewind-s3-")
    server = S3Server(root, binary=versitygw).start()
    try:
        yield server
    finally:
        server.stop()
        server.log.close()
        shutil.rmtree(root, ignore_errors=True)
