"""A cache folder that cannot be written is one error a person can act on, not a traceback.

``--cache-dir`` and ``$SATLOCK_CACHE_DIR`` name any path: a file, a folder under /proc,
a read-only disk. Every way satlock writes into the cache (an entry, a lock file, a
folder entry built aside) then says which folder it could not write and how to choose
another, as a ``ConfigError`` the CLI prints as one ``error:`` line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest

from satlock.cache import Cache
from satlock.errors import ConfigError


@pytest.fixture
def unwritable(tmp_path: Path) -> Path:
    """A cache root no folder can be made in: it is a file."""
    root = tmp_path / "not-a-folder"
    root.write_text("")
    return root


@pytest.mark.parametrize("use", [
    lambda cache: cache.write("files-v1", "k", b"data"),
    lambda cache: cache.write_sealed("candidates-v1", "k", b"data"),
    lambda cache: cache.lock("files-v1", "k"),
    lambda cache: cache.new_tempdir("wheels-v1"),
    lambda cache: cache.build_dir("wheels-v1", "k", lambda tmp: None),
], ids=["write", "write_sealed", "lock", "new_tempdir", "build_dir"])
def test_writing_into_a_cache_root_that_is_not_a_folder_names_it_and_the_way_out(unwritable: Path,
                                                                                  use: Callable[[Cache], object]) -> None:
    with pytest.raises(ConfigError) as caught:
        use(Cache(unwritable))
    assert str(unwritable) in caught.value.message
    assert "--cache-dir" in (caught.value.hint or "") and "--no-cache" in (caught.value.hint or "")


def test_reading_a_cache_root_that_is_not_a_folder_is_a_miss(unwritable: Path) -> None:
    assert Cache(unwritable).read("files-v1", "k") is None


def test_an_entry_whose_folder_was_removed_meanwhile_is_still_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The retry for a bucket folder another reader discarded is not mistaken for an unwritable cache."""
    cache = Cache(tmp_path / "c")
    cache.write("files-v1", "a", b"1")
    (tmp_path / "c" / "files-v1" / "a").unlink()
    (tmp_path / "c" / "files-v1").rmdir()
    assert cache.write("files-v1", "b", b"2").read_bytes() == b"2"
