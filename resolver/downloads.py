"""Whole files from an index, in the cache, verified against every hash the index gave.

A file is kept under its sha256 (or a digest of its URL when the index gave none) with a
marker beside it naming the hash and size it was verified with, so a later run checks the
marker and the size instead of hashing gigabytes of CUDA wheels again.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import threading
from pathlib import Path
from typing import Mapping

from satlock.atomic import write_atomic
from satlock.cache import Cache, digest, drop, read_plain
from satlock.errors import HashMismatchError
from satlock.http import HttpClient, redact
from satlock.resolver.candidates import VERIFIABLE_HASHES, DistFile, checked_filename, is_sha256

__all__ = ["FILES", "download", "file_key", "verify", "strip_fragment"]

FILES = "files-v1"


def download(cache: Cache, http: HttpClient, file: DistFile) -> Path:
    """The whole file in the cache, verified against every hash the index gave."""
    key = f"{file_key(file)}/{checked_filename(file.filename, redact(file.url), dist=False)}"
    dest = cache.path(FILES, key)
    if _verified(dest, file):
        return dest
    with cache.lock(FILES, key):
        if _verified(dest, file):
            return dest
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.parent / f".tmp-{os.getpid()}-{threading.get_ident()}-{file.filename}"
        algorithms = {"sha256"} | {a for a in file.hashes if a in VERIFIABLE_HASHES}
        try:
            got = http.fetch_to_file(file.url, tmp, algorithms, file.size)
            _verify_digests(got, file.hashes, file.filename, file.url)
            os.replace(tmp, dest)
        finally:
            tmp.unlink(missing_ok=True)
        # Replaced, never written through: a link planted in its place would have it written anywhere.
        write_atomic(_ok_marker(dest), json.dumps({"sha256": got["sha256"], "size": dest.stat().st_size}).encode(), private=True)
    return dest


def file_key(file: DistFile) -> str:
    """The cache key for a file's entries: its sha256 when it has a valid one, else a digest of its URL."""
    sha = file.sha256
    return sha if is_sha256(sha) else digest(file.url)


def strip_fragment(url: str) -> str:
    """``url`` without its ``#sha256=...`` fragment: what is fetched."""
    return url.split("#", 1)[0]


def verify(data: bytes, expected: Mapping[str, str], what: str, url: str) -> None:
    """Raise ``HashMismatchError`` unless ``data`` matches every verifiable hash in ``expected``."""
    got = {alg: hashlib.new(alg, data).hexdigest() for alg in expected if alg in VERIFIABLE_HASHES}
    _verify_digests(got, expected, what, url)


def _verify_digests(got: Mapping[str, str], expected: Mapping[str, str], what: str, url: str) -> None:
    for alg, want in expected.items():
        have = got.get(alg)
        if have is not None and have != want.lower():
            raise HashMismatchError(
                f"hash mismatch for {what} from {redact(url)}: expected {alg}:{want}, got {alg}:{have}",
                hint="the index, a mirror or a proxy served a different file; if the index is right, "
                     "run again with --refresh")


def _ok_marker(path: Path) -> Path:
    return path.with_name(path.name + ".ok")


def _verified(dest: Path, file: DistFile) -> bool:
    """A cheap check of a cached file: its marker names the expected hash and the size matches."""
    marker = _ok_marker(dest)
    try:
        info = json.loads(read_plain(marker))
        found = dest.stat()
        ok = (stat.S_ISREG(found.st_mode) and info["size"] == found.st_size
              and (file.sha256 is None or info["sha256"] == file.sha256.lower()))
    except FileNotFoundError:
        return False
    except (ValueError, KeyError, TypeError, OSError):
        ok = False
    if not ok:
        drop(marker)
        drop(dest)
    return ok
