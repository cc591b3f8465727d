"""Nothing is lost when the S3 server, rewind or the disk fail during an upload.

Real versitygw server, real SIGKILL, real full tmpfs; results checked with boto3.
"""
import json
import os
import signal
import subprocess
import time

import pytest

from conftest import REWIND, rewind, wait_for
from s3server import s3server, versitygw  # noqa: F401  (pytest fixtures)
from test_store_s3 import MiB, incomplete_uploads, make_file, objects, sha256_of

KEY = "p/h/app/20261127T120000Z-9-crash.rwd"
# Slow, many-part uploads so faults land in the middle: 6 parts of 5 MiB at 4 MiB/s.
SLOW = ["--part-size-mib", "5", "--multipart-threshold-mib", "5", "--concurrency", "2",
        "--limit-rate", str(4 * MiB)]


def spool_state(spool):
    states = list(spool.glob("*.json"))
    if len(states) != 1:
        return None
    try:
        return json.loads(states[0].read_text())
    except ValueError:
        return None  # being replaced right now


def parts_done(spool):
    state = spool_state(spool)
    return len(state.get("upload", {}).get("parts", [])) if state else 0


def start_push(f, spool, env):
    return subprocess.Popen([REWIND, "push", "--queue", spool, f, f"s3://rec/{KEY}", *SLOW],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def assert_exactly_one_good_object(s3, sha, size):
    assert objects(s3, "rec") == [KEY]
    head = s3.head_object(Bucket="rec", Key=KEY)
    assert head["ContentLength"] == size
    assert head["Metadata"]["sha256"] == sha
    assert sha256_of(s3.get_object(Bucket="rec", Key=KEY)["Body"].read()) == sha
    assert incomplete_uploads(s3, "rec") == []


def test_server_restart_during_multipart_upload(s3server, tmp_path, procs):
    s3server.create_bucket("rec")
    f = tmp_path / "a.rwd"
    size = 28 * MiB
    sha = make_file(f, size)
    spool = tmp_path / "spool"
    p = start_push(f, spool, s3server.env())
    procs.append(p)
    wait_for(lambda: parts_done(spool) >= 2, timeout=60, what="two parts uploaded")
    s3server.stop()
    time.sleep(2)  # rewind keeps retrying with backoff meanwhile
    s3server.start()
    out, err = p.communicate(timeout=120)
    assert p.returncode == 0, err
    assert_exactly_one_good_object(s3server.client(), sha, size)
    assert list(spool.iterdir()) == []
    assert f.exists()  # push --queue copies; the user's file is untouched


def test_rewind_killed_during_upload_resumes_after_restart(s3server, tmp_path, procs):
    s3server.create_bucket("rec")
    f = tmp_path / "a.rwd"
    size = 28 * MiB
    sha = make_file(f, size)
    spool = tmp_path / "spool"
    p = start_push(f, spool, s3server.env())
    procs.append(p)
    wait_for(lambda: parts_done(spool) >= 2, timeout=60, what="two parts uploaded")
    p.send_signal(signal.SIGKILL)
    p.wait(timeout=10)
    state = spool_state(spool)
    assert state["upload"]["upload_id"]
    assert objects(s3server.client(), "rec") == []  # not complete yet
    r = rewind("upload-queue", spool, "s3://rec", *SLOW, env=s3server.env())
    assert r.returncode == 0, r.stderr
    assert "resuming upload with" in r.stderr  # continued, not started again
    assert_exactly_one_good_object(s3server.client(), sha, size)
    assert list(spool.iterdir()) == []


def test_wrong_secret_key_is_one_clear_error_and_the_file_stays_queued(s3server, tmp_path):
    s3server.create_bucket("rec")
    f = tmp_path / "a.rwd"
    sha = make_file(f, 2 * MiB)
    spool = tmp_path / "spool"
    bad = s3server.env(AWS_SECRET_ACCESS_KEY="not-the-secret")
    r = rewind("push", "--queue", spool, f, f"s3://rec/{KEY}", env=bad)
    assert r.returncode == 1
    errors = [line for line in r.stderr.splitlines() if "cannot upload" in line]
    assert len(errors) == 1, r.stderr
    assert "credentials from environment (AWS_ACCESS_KEY_ID)" in errors[0]
    assert "not-the-secret" not in r.stderr
    assert "stay queued" in r.stderr
    assert [p.suffix for p in sorted(spool.iterdir())] == [".json", ".rwd"]
    assert objects(s3server.client(), "rec") == []
    # With the right key the queued recording goes up.
    r = rewind("upload-queue", spool, "s3://rec", env=s3server.env())
    assert r.returncode == 0, r.stderr
    assert s3server.client().head_object(Bucket="rec", Key=KEY)["Metadata"]["sha256"] == sha
    assert list(spool.iterdir()) == []


def _mount_tmpfs(path, size):
    path.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs (needs root): {r.stderr.strip()}")


def test_disk_full_while_spooling_queues_nothing(s3server, tmp_path):
    s3server.create_bucket("rec")
    f = tmp_path / "a.rwd"
    make_file(f, 3 * MiB)
    spool = tmp_path / "small"
    _mount_tmpfs(spool, "1m")
    try:
        r = rewind("push", "--queue", spool, f, f"s3://rec/{KEY}", env=s3server.env())
        assert r.returncode == 1
        assert "no space left on device" in r.stderr
        assert f"cannot queue {f}" in r.stderr
        assert list(spool.iterdir()) == []  # nothing half-queued
        assert objects(s3server.client(), "rec") == []
        assert f.stat().st_size == 3 * MiB
    finally:
        subprocess.run(["umount", str(spool)], check=False)
