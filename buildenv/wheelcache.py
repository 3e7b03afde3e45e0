"""Metadata and wheels built from source, keyed by everything that can change the result.

A build's output depends on the source (its key), the profile (flags, environment,
config settings) and the build environment (its wheels and interpreter), so all three
hashes make the key: change any and the next run builds again; change none and it
never builds twice.
"""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

from satlock.cache import Cache, digest, file_sha256, read_plain

METADATA_BUCKET = "built-metadata-v2"
WHEELS_BUCKET = "built-wheels-v1"
# Beside each built wheel: its sha256, written before the entry is renamed into place.
DIGEST_FILE = "sha256"



def _key(source_key: str, profile_hash: str, build_env_hash: str) -> str:
    return digest(source_key, profile_hash, build_env_hash)


def cached_metadata(cache: Cache, source_key: str, profile_hash: str, build_env_hash: str) -> bytes | None:
    """The ``METADATA`` file contents of an earlier build, if any."""
    return cache.read_sealed(METADATA_BUCKET, _key(source_key, profile_hash, build_env_hash))


def store_metadata(cache: Cache, source_key: str, profile_hash: str, build_env_hash: str, metadata: bytes) -> None:
    cache.write_sealed(METADATA_BUCKET, _key(source_key, profile_hash, build_env_hash), metadata)


def cached_wheel(cache: Cache, source_key: str, profile_hash: str, build_env_hash: str) -> Path | None:
    """The wheel of an earlier build; one found damaged (not the wheel whose digest was
    recorded when it was built) is dropped so it gets built again."""
    key = _key(source_key, profile_hash, build_env_hash)
    entry = cache.path(WHEELS_BUCKET, key)
    wheels = sorted(entry.glob("*.whl")) if entry.is_dir() else []
    try:
        # The digest first: file_sha256 refuses a FIFO, which zipfile would wait on forever.
        ok = (len(wheels) == 1 and read_plain(entry / DIGEST_FILE).decode("ascii").strip() == file_sha256(wheels[0])
              and zipfile.is_zipfile(wheels[0]))
    except (OSError, UnicodeDecodeError):
        ok = False
    if not ok:
        if entry.exists():
            cache.discard(WHEELS_BUCKET, key)
        return None
    return wheels[0]


def store_wheel(cache: Cache, source_key: str, profile_hash: str, build_env_hash: str, wheel: Path) -> Path:
    """Copy ``wheel`` into the cache (keeping its file name, which carries its tags) and return the copy."""
    key = _key(source_key, profile_hash, build_env_hash)

    def fill(tmp: Path) -> None:
        shutil.copyfile(wheel, tmp / Path(wheel).name)
        (tmp / DIGEST_FILE).write_text(file_sha256(tmp / Path(wheel).name), encoding="ascii")

    entry = cache.build_dir(WHEELS_BUCKET, key, fill)
    stored = cached_wheel(cache, source_key, profile_hash, build_env_hash)
    if stored is None:
        raise OSError(f"the wheel just stored in {entry} is missing")
    return stored
