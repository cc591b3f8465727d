"""The local directory store: push, ls, pull and corruption detection on file:// URIs."""
import json

from conftest import rewind
from test_store_s3 import MiB, make_file, sha256_of


def test_push_ls_pull_round_trip(tmp_path):
    f = tmp_path / "app.rwd"
    sha = make_file(f, 2 * MiB)
    store = tmp_path / "store"
    r = rewind("push", f, f"file://{store}", "--reason", "crash")
    assert r.returncode == 0, r.stderr
    uri = r.stdout.split("\t")[0]
    assert uri.startswith(f"file://{store}/") and uri.endswith("-crash.rwd")
    stored = uri.removeprefix("file://")
    meta = json.loads(open(stored + ".meta.json").read())
    assert meta["sha256"] == sha and meta["size"] == str(2 * MiB)
    # No temporary files are left in the store.
    assert sorted(p.name for p in (store).rglob("*") if p.is_file()) == sorted(
        [stored.rsplit("/", 1)[1], stored.rsplit("/", 1)[1] + ".meta.json"])

    r = rewind("ls", store)
    assert r.returncode == 0, r.stderr
    key, size, _, reason = r.stdout.strip().split("\t")
    assert (store / key).as_posix() == stored and size == str(2 * MiB) and reason == "crash"

    out = tmp_path / "out.rwd"
    r = rewind("pull", uri, out)
    assert r.returncode == 0, r.stderr
    assert sha256_of(out.read_bytes()) == sha


def test_pull_of_a_corrupted_file_fails_and_writes_nothing(tmp_path):
    f = tmp_path / "app.rwd"
    make_file(f, 100000)
    store = tmp_path / "store"
    r = rewind("push", f, f"file://{store}/x/20261127T120000Z-1-manual.rwd")
    assert r.returncode == 0, r.stderr
    stored = store / "x/20261127T120000Z-1-manual.rwd"
    data = bytearray(stored.read_bytes())
    data[500] ^= 1
    stored.write_bytes(bytes(data))
    dest = tmp_path / "dest"
    dest.mkdir()
    r = rewind("pull", f"file://{stored}", dest / "out.rwd")
    assert r.returncode == 1
    assert "checksum mismatch" in r.stderr
    assert list(dest.iterdir()) == []


def test_ls_of_a_missing_directory_is_explained(tmp_path):
    r = rewind("ls", f"file://{tmp_path}/absent")
    assert r.returncode == 1
    assert "is not a directory" in r.stderr and "absent" in r.stderr
