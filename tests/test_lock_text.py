"""pylock.toml is written by satlock's own writer byte for byte as tomlkit writes the same
data (locks written before and after that change compare equal), and data that writer does
not reproduce exactly is still written, by tomlkit."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import pytest
import tomllib

from satlock.resolver import tomlwrite
from satlock.resolver.lockfile import _HEADER, dumps_with_tomlkit

KEYS = ["name", "version", "wheels", "sdist", "hashes", "tool", "satlock", "a-b", "x_1", "packages"]


def _scalar(rng: random.Random) -> object:
    return rng.choice([
        lambda: rng.randint(-5, 2**40), lambda: rng.random() < 0.5,
        lambda: rng.choice(["", "plain", 'say "hi"', "back\\slash", "é ü ✓", 'python_version == "3.11"']),
        lambda: datetime(2024, 1, 2, 3, 4, 5, rng.choice([0, 6, 123456]), tzinfo=rng.choice([None, timezone.utc])),
        lambda: [rng.choice(["a", "b c", 'q"']) for _ in range(rng.randint(0, 3))],
        lambda: [rng.randint(0, 9) for _ in range(rng.randint(0, 3))],
    ])()


def _table(rng: random.Random, depth: int) -> dict:
    out: dict = {}
    for _ in range(rng.randint(0, 5)):
        kind = rng.random()
        key = rng.choice(KEYS)
        if depth > 0 and kind < 0.2:
            out[key] = _table(rng, depth - 1)
        elif depth > 0 and kind < 0.35:
            out[key] = [_table(rng, depth - 1) for _ in range(rng.randint(1, 3))]
        else:
            out[key] = _scalar(rng)
    return out


@pytest.mark.parametrize("seed", range(300))
def test_random_lock_shaped_data_is_written_as_tomlkit_writes_it(seed):
    rng = random.Random(seed)
    data = {"lock-version": "1.0", **_table(rng, 4)}
    try:
        text = tomlwrite.document(_HEADER, data)
    except tomlwrite.Unsupported:
        return
    assert text == dumps_with_tomlkit(data)
    tomllib.loads(text)


@pytest.mark.parametrize("value", [1.5, "tab\there", "nul\x00", "del\x7f",
                                   datetime(2024, 1, 1, tzinfo=timezone(timedelta(hours=2))), [[1]], [{"a": 1}, 2]])
def test_data_the_writer_does_not_reproduce_is_left_to_tomlkit(value):
    with pytest.raises(tomlwrite.Unsupported):
        tomlwrite.document(_HEADER, {"lock-version": "1.0", "x": value})


def test_quoted_key_is_left_to_tomlkit():
    with pytest.raises(tomlwrite.Unsupported):
        tomlwrite.document(_HEADER, {"lock-version": "1.0", "a.b": 1})


def test_lock_with_every_kind_of_package_entry_is_written_as_tomlkit_writes_it():
    from packaging.pylock import Pylock

    from satlock.resolver.lockfile import dumps

    sha = {"sha256": "ab" * 32}
    when = datetime(2024, 7, 26, 18, 15, 2, 50654, tzinfo=timezone.utc)
    lock = Pylock.from_dict({
        "lock-version": "1.0", "created-by": "satlock", "requires-python": ">=3.11",
        "environments": ['python_version == "3.11" and sys_platform == "linux"'],
        "packages": [
            {"name": "a", "version": "1.0", "marker": 'extra == "x"', "index": "https://i/simple/",
             "dependencies": [{"name": "b", "version": "2.0"}],
             "sdist": {"name": "a-1.0.tar.gz", "url": "https://f/a-1.0.tar.gz", "size": 3, "hashes": sha,
                       "upload-time": when},
             "wheels": [{"name": "a-1.0-py3-none-any.whl", "url": "https://f/a-1.0-py3-none-any.whl", "hashes": sha,
                         "upload-time": when.replace(microsecond=0)}],
             "tool": {"satlock": {"profile": "p", "env": {"K": "V"}}}},
            {"name": "b", "version": "2.0", "vcs": {"type": "git", "url": "https://g/b.git", "commit-id": "c" * 40,
                                                    "subdirectory": "sub"}},
            {"name": "c", "directory": {"path": "../c", "editable": True}},
            {"name": "d", "archive": {"url": "https://f/d.zip", "hashes": sha, "size": 9}},
        ],
        "tool": {"satlock": {"lock-format": 2, "inputs-hash": "ab" * 32, "profiles": {},
                             "build-environments": {"a": [{"name": "setuptools", "version": "80.0"}]}}},
    })
    assert dumps(lock) == dumps_with_tomlkit(lock.to_dict())
    tomlwrite.document(_HEADER, lock.to_dict())  # written by satlock's writer, not left to tomlkit
