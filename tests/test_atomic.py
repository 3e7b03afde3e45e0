"""Atomic writes: whole files only, with the permissions a user expects."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from satlock.atomic import write_atomic


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_file_gets_the_umasks_permissions_and_the_umask_is_left_alone(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        write_atomic(tmp_path / "pylock.toml", b"x")
        assert os.umask(0o027) == 0o027
    finally:
        os.umask(old)
    assert _mode(tmp_path / "pylock.toml") == 0o640
    assert (tmp_path / "pylock.toml").read_bytes() == b"x"


def test_a_replaced_file_keeps_its_permissions_and_a_private_one_is_owner_only(tmp_path: Path) -> None:
    target = tmp_path / "pyproject.toml"
    target.write_bytes(b"old")
    target.chmod(0o664)
    write_atomic(target, b"new", durable=True)
    assert _mode(target) == 0o664 and target.read_bytes() == b"new"
    write_atomic(tmp_path / "entry", b"cache", private=True)
    assert _mode(tmp_path / "entry") == 0o600


def test_a_failed_write_leaves_the_old_file_and_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "pylock.toml"
    target.write_bytes(b"old")
    try:
        write_atomic(target, "not bytes")  # type: ignore[arg-type]
    except TypeError:
        pass
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["pylock.toml"]


def test_data_given_in_parts_is_written_as_one_file(tmp_path: Path) -> None:
    write_atomic(tmp_path / "entry", (b"head\n", b"body" * 10_000), private=True)
    assert (tmp_path / "entry").read_bytes() == b"head\n" + b"body" * 10_000
