"""rewind push / ls / pull against a real S3 server (versitygw), read back with boto3."""
import base64
import hashlib
import os

import pytest

from conftest import rewind
from s3server import s3server, versitygw  # noqa: F401  (pytest fixtures)

MiB = 1024 * 1024


def make_file(path, size, seed=b"rewind"):
    """A file of `size` pseudo-random bytes; returns its sha256."""
    h = hashlib.sha256()
    block = hashlib.sha512(seed).digest() * (MiB // 64)
    with open(path, "wb") as f:
        left = size
        i = 0
        while left:
            chunk = (block[i % 64:] + block[:i % 64])[:min(left, MiB)]
            f.write(chunk)
            h.update(chunk)
            left -= len(chunk)
            i += 1
    return h.hexdigest()


def sha256_of(data):
    return hashlib.sha256(data).hexdigest()


def objects(s3, bucket, prefix=""):
    resp = s3.list_objects_v2(Bucket=bucket, Prefix=prefix)
    return [o["Key"] for o in resp.get("Contents", [])]


def incomplete_uploads(s3, bucket):
    return s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])


def test_push_small_file_then_boto3_reads_it_back(s3server, tmp_path):
    s3server.create_bucket("rec")
    f = tmp_path / "app.rwd"
    sha = make_file(f, 3 * MiB + 17)
    r = rewind("push", f, "s3://rec/prod", "--reason", "crash", env=s3server.env())
    assert r.returncode == 0, r.stderr
    uri, size, printed_sha = r.stdout.strip().split("\t")
    assert printed_sha == sha and int(size) == 3 * MiB + 17
    key = uri.removeprefix("s3://rec/")
    assert key.startswith("prod/") and key.endswith("-0-crash.rwd")
    assert f"/app/" in key  # <prefix>/<hostname>/<exe>/<time>-<pid>-<reason>.rwd
    s3 = s3server.client()
    head = s3.head_object(Bucket="rec", Key=key)
    assert head["ContentLength"] == 3 * MiB + 17
    meta = head["Metadata"]
    assert meta["sha256"] == sha
    assert meta["size"] == str(3 * MiB + 17)
    assert meta["reason"] == "crash"
    assert meta["node"] and meta["rewind-version"]
    body = s3.get_object(Bucket="rec", Key=key)["Body"].read()
    assert sha256_of(body) == sha


def test_multipart_upload_is_complete_and_leaves_no_incomplete_uploads(s3server, tmp_path):
    s3server.create_bucket("rec")
    f = tmp_path / "big.rwd"
    size = 23 * MiB + 5  # five 5 MiB parts, the last one short
    sha = make_file(f, size, b"big")
    target = "s3://rec/team/host/app/20261127T180000Z-42-crash.rwd"
    r = rewind("push", f, target, "--part-size-mib", "5", "--multipart-threshold-mib", "5",
               "--concurrency", "3", env=s3server.env())
    assert r.returncode == 0, r.stderr
    s3 = s3server.client()
    key = "team/host/app/20261127T180000Z-42-crash.rwd"
    assert objects(s3, "rec") == [key]
    head = s3.head_object(Bucket="rec", Key=key)
    assert head["ContentLength"] == size
    assert head["Metadata"]["sha256"] == sha
    # A multipart ETag ends in -<parts>: it really went up in parts.
    assert head["ETag"].strip('"').endswith("-5")
    # Every part went up with a SHA-256 checksum that the server verified and kept: the
    # composite checksum is the SHA-256 of the parts' SHA-256 digests.
    data = f.read_bytes()
    digests = b"".join(hashlib.sha256(data[i:i + 5 * MiB]).digest()
                       for i in range(0, size, 5 * MiB))
    composite = base64.b64encode(hashlib.sha256(digests).digest()).decode() + "-5"
    head = s3.head_object(Bucket="rec", Key=key, ChecksumMode="ENABLED")
    assert head["ChecksumSHA256"] == composite
    assert sha256_of(s3.get_object(Bucket="rec", Key=key)["Body"].read()) == sha
    assert incomplete_uploads(s3, "rec") == []


def test_ls_lists_newest_first_with_size_time_and_reason(s3server, tmp_path):
    s3server.create_bucket("rec")
    f = tmp_path / "a.rwd"
    make_file(f, 1000)
    names = ["20260101T000000Z-1-manual.rwd", "20261127T120000Z-7-crash.rwd",
             "20260615T080000Z-3-schedule.rwd"]
    for n in names:
        r = rewind("push", f, f"s3://rec/p/h/app/{n}", env=s3server.env())
        assert r.returncode == 0, r.stderr
    s3server.client().put_object(Bucket="rec", Key="elsewhere/x.rwd", Body=b"x")
    r = rewind("ls", "s3://rec/p", env=s3server.env())
    assert r.returncode == 0, r.stderr
    rows = [line.split("\t") for line in r.stdout.strip().splitlines()]
    assert [row[0] for row in rows] == [
        "p/h/app/20261127T120000Z-7-crash.rwd", "p/h/app/20260615T080000Z-3-schedule.rwd",
        "p/h/app/20260101T000000Z-1-manual.rwd"]
    assert rows[0][1:] == ["1000", "2026-11-27T12:00:00Z", "crash"]


def test_pull_by_uri_and_by_key_verifies_and_writes_the_file(s3server, tmp_path):
    s3server.create_bucket("rec")
    f = tmp_path / "a.rwd"
    sha = make_file(f, 6 * MiB)
    key = "p/h/app/20261127T120000Z-7-crash.rwd"
    assert rewind("push", f, f"s3://rec/{key}", env=s3server.env()).returncode == 0
    out = tmp_path / "out.rwd"
    r = rewind("pull", f"s3://rec/{key}", out, env=s3server.env())
    assert r.returncode == 0, r.stderr
    assert sha256_of(out.read_bytes()) == sha
    r = rewind("pull", key, "--store", "s3://rec", env=s3server.env(), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert sha256_of((tmp_path / "20261127T120000Z-7-crash.rwd").read_bytes()) == sha


def test_pull_of_a_corrupted_object_fails_and_leaves_no_file(s3server, tmp_path):
    s3server.create_bucket("rec")
    f = tmp_path / "a.rwd"
    make_file(f, 2 * MiB)
    key = "p/h/app/20261127T120000Z-7-crash.rwd"
    assert rewind("push", f, f"s3://rec/{key}", env=s3server.env()).returncode == 0
    s3 = s3server.client()
    head = s3.head_object(Bucket="rec", Key=key)
    # Same metadata (so the claimed sha256 stays), different bytes: silent corruption.
    data = bytearray(f.read_bytes())
    data[12345] ^= 0xFF
    s3.put_object(Bucket="rec", Key=key, Body=bytes(data), Metadata=head["Metadata"])
    dest = tmp_path / "pulled"
    dest.mkdir()
    r = rewind("pull", f"s3://rec/{key}", dest / "out.rwd", env=s3server.env())
    assert r.returncode == 1
    assert "checksum mismatch" in r.stderr
    assert key in r.stderr
    assert list(dest.iterdir()) == []


def test_missing_bucket_is_named(s3server, tmp_path):
    f = tmp_path / "a.rwd"
    make_file(f, 1000)
    r = rewind("push", f, "s3://nosuchbucket/p", env=s3server.env())
    assert r.returncode == 1
    assert 'bucket "nosuchbucket" does not exist (create it or check --s3-endpoint)' in r.stderr
    r = rewind("ls", "s3://nosuchbucket/p", env=s3server.env())
    assert r.returncode == 1 and "does not exist" in r.stderr


def test_unreachable_endpoint_is_named(tmp_path):
    f = tmp_path / "a.rwd"
    make_file(f, 1000)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ACCESS_KEY_ID="a", AWS_SECRET_ACCESS_KEY="b")
    # Port 1 on loopback: nothing listens, the connection is refused at once. Three
    # attempts keep the test short; the default is eight.
    r = rewind("push", f, "s3://rec/p", "--s3-endpoint", "http://127.0.0.1:1", "--retries", "3",
               env=env)
    assert r.returncode == 1
    assert "cannot upload" in r.stderr
    assert "gave up after 3 attempts" in r.stderr
    assert "127.0.0.1:1" in r.stderr and "--s3-endpoint" in r.stderr


@pytest.mark.parametrize("uri,expected", [
    ("s3://", "no bucket name"),
    ("s3://Not_A_Bucket/x", "not a valid bucket name"),
    ("gs://bucket/x", 'unknown scheme "gs"'),
    ("file://relative/dir", "absolute path"),
])
def test_bad_uri_is_a_usage_error(tmp_path, uri, expected):
    f = tmp_path / "a.rwd"
    make_file(f, 10)
    r = rewind("push", f, uri)
    assert r.returncode == 2
    assert expected in r.stderr


def test_missing_credentials_are_explained(tmp_path):
    f = tmp_path / "a.rwd"
    make_file(f, 10)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["HOME"] = str(tmp_path)
    r = rewind("push", f, "s3://rec/p", "--s3-endpoint", "http://127.0.0.1:1", env=env)
    assert r.returncode == 1
    assert "no AWS credentials found" in r.stderr
    assert "AWS_ACCESS_KEY_ID" in r.stderr


def test_shared_credentials_file_profile_is_used(s3server, tmp_path):
    s3server.create_bucket("rec")
    f = tmp_path / "a.rwd"
    make_file(f, 1000)
    creds = tmp_path / "credentials"
    creds.write_text(f"[default]\naws_access_key_id = nope\naws_secret_access_key = nope\n"
                     f"[test]\naws_access_key_id = {s3server.access_key}\n"
                     f"aws_secret_access_key = {s3server.secret_key}\n")
    env = s3server.env(AWS_SHARED_CREDENTIALS_FILE=creds, AWS_PROFILE="test")
    del env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]
    r = rewind("push", f, "s3://rec/x.rwd", env=env)
    assert r.returncode == 0, r.stderr
    env["AWS_PROFILE"] = "default"
    r = rewind("push", f, "s3://rec/y.rwd", env=env)
    assert r.returncode == 1
    assert f"shared credentials file {creds} [profile default]" in r.stderr
    assert "nope" not in r.stderr.replace("[profile default]", "")


def test_server_side_encryption_options_are_accepted_by_the_server(s3server, tmp_path):
    s3server.create_bucket("rec")
    f = tmp_path / "a.rwd"
    sha = make_file(f, 1000)
    for sse in ("AES256", "aws:kms"):
        r = rewind("push", f, f"s3://rec/{sse.replace(':', '-')}.rwd", "--sse", sse,
                   env=s3server.env())
        assert r.returncode == 0, r.stderr
    r = rewind("push", f, "s3://rec/x.rwd", "--sse", "AES256", "--sse-kms-key-id", "k",
               env=s3server.env())
    assert r.returncode == 1 and "needs server-side encryption aws:kms" in r.stderr
    assert s3server.client().head_object(Bucket="rec", Key="AES256.rwd")["Metadata"]["sha256"] == sha
