"""The rewind binary starts, knows its version and rejects unknown commands."""
from conftest import rewind


def test_version():
    r = rewind("--version")
    assert r.returncode == 0
    assert r.stdout.strip().count(".") == 2


def test_unknown_subcommand_is_a_usage_error():
    r = rewind("frobnicate")
    assert r.returncode != 0
    assert "frobnicate" in (r.stdout + r.stderr)
