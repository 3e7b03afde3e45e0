"""Cache entries written behind the fetches: never missed, never lost, failures still reported.

A lock hands its index pages, listings and metadata to the cache's writer thread so that no
fetch waits for the disk (``Cache.writes_behind``). What a user relies on must not change:
an entry is there for the next reader at once, it is on disk when the lock ends, and a
cache folder that cannot be written is still the one error the command ends with.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from satlock.cache import Cache
from satlock.errors import ConfigError, NetworkError


def test_an_entry_written_behind_is_read_back_at_once_and_is_on_disk_when_the_block_ends(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "cache")
    with cache.writes_behind():
        for n in range(50):
            cache.write_sealed_soon("metadata-v2", f"k{n}", b"Name: p\n" * n)
            cache.write_soon("simple-v1", f"k{n}", (b"head\n", b"body" * n))
            assert cache.read_sealed("metadata-v2", f"k{n}") == b"Name: p\n" * n
            assert cache.read("simple-v1", f"k{n}") == b"head\n" + b"body" * n
    assert all((tmp_path / "cache" / "metadata-v2" / f"k{n}").is_file() for n in range(50))
    assert Cache(tmp_path / "cache").read("simple-v1", "k49") == b"head\n" + b"body" * 49


def test_the_last_entry_written_behind_for_a_key_is_the_one_kept(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "cache")
    with cache.writes_behind():
        for n in range(20):
            cache.write_soon("simple-v1", "k", b"%d" % n)
        assert cache.read("simple-v1", "k") == b"19"
    assert cache.read("simple-v1", "k") == b"19"


def test_outside_the_block_an_entry_is_written_at_once(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "cache")
    cache.write_soon("simple-v1", "k", b"now")
    assert (tmp_path / "cache" / "simple-v1" / "k").read_bytes() == b"now"


@pytest.fixture
def unwritable(tmp_path: Path) -> Cache:
    """A cache whose root is a file: no entry can be written under it."""
    root = tmp_path / "a-file"
    root.write_text("")
    return Cache(root)


def test_a_cache_that_cannot_be_written_fails_the_block_with_the_cache_error(unwritable: Cache) -> None:
    with pytest.raises(ConfigError, match="cannot write to the cache folder"):
        with unwritable.writes_behind():
            unwritable.write_soon("simple-v1", "k", b"page")
            unwritable.write_sealed_soon("metadata-v2", "k", b"meta")


def test_a_blocks_own_error_is_not_replaced_by_a_failed_cache_write(unwritable: Cache) -> None:
    with pytest.raises(NetworkError, match="the index went away"):
        with unwritable.writes_behind():
            unwritable.write_soon("simple-v1", "k", b"page")
            raise NetworkError("the index went away")


class _Unexpected(Exception):
    """A write failing some way the cache does not turn into its own error."""


def test_a_write_failing_in_an_unexpected_way_is_raised_when_the_block_ends(tmp_path: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    # Lost in the writer thread, it would leave every later entry unwritten behind a lock
    # that reports success, and print a thread's traceback.
    def failing(*args: object, **kwargs: object) -> None:
        raise _Unexpected("disk said no")

    monkeypatch.setattr("satlock.cache.write_atomic", failing)
    cache = Cache(tmp_path / "cache")
    with pytest.raises(_Unexpected):
        with cache.writes_behind():
            cache.write_soon("simple-v1", "k", b"page")


def test_after_a_block_whose_write_failed_the_next_block_writes_behind_again(unwritable: Cache) -> None:
    for _ in range(2):
        went_on = False
        with pytest.raises(ConfigError, match="cannot write to the cache folder"):
            with unwritable.writes_behind():
                unwritable.write_soon("simple-v1", "k", b"page")
                went_on = True
        assert went_on, "the failure was raised into the writing thread, not when the block ended"


def test_entries_queued_after_a_failed_write_are_still_read_back_until_the_block_ends(unwritable: Cache) -> None:
    with pytest.raises(ConfigError):
        with unwritable.writes_behind():
            for n in range(20):
                unwritable.write_soon("simple-v1", f"k{n}", b"page %d" % n)
            time.sleep(0.2)  # the writer has failed on the first and gone through the rest
            assert [unwritable.read("simple-v1", f"k{n}") for n in range(20)] == [b"page %d" % n for n in range(20)]
