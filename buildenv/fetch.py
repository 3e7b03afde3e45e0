"""The files a lock names, from the cache or the index, every byte held to the lock's sha256.

Installing a lock's wheels needs nothing of the index client or the build layer: only the
cache, an HTTP client for what the cache lacks, and the hash the lock gives. So this is the
whole of what a sync of wheels loads to fetch them, and what the builders
(``wheels.LockedBuilder``) fetch their sources and build environments through, sharing
what one sync has verified already.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

from packaging.pylock import Package, PackageWheel

from satlock.cache import Cache, file_sha256
from satlock.errors import HashMismatchError, LockError
from satlock.http import HttpClient
from satlock.resolver.candidates import DistFile, is_sha256
from satlock.resolver.downloads import download


def dist_file(filename: str, url: str | None, path: str | None, hashes: Mapping[str, str], lock_dir: Path,
              size: int | None = None) -> DistFile:
    """A lock's file entry as something to fetch: its URL, or its ``path`` from the lock's folder."""
    if url is None:
        url = (lock_dir / (path or "")).resolve().as_uri()
    return DistFile(filename=filename, url=url, hashes=dict(hashes), size=size)


class LockedFiles:
    """Fetches a lock's files into the cache and verifies each once per sync."""

    def __init__(self, lock_dir: Path, cache: Cache, http: HttpClient) -> None:
        self.lock_dir = lock_dir
        self.cache = cache
        self.http = http
        # Files this sync has hashed already: ``LockedBuilder.prepare`` verifies every build
        # input before .venv changes, and the builds that follow use the same files (torch
        # is gigabytes).
        self._verified: dict[str, Path] = {}

    def download(self, f: DistFile, what: str) -> Path:
        """``f`` from the cache or the index, its whole content checked against the lock's sha256.

        The cache's own check is cheap (a marker and the size), so a cached file replaced by
        another of the same size would pass it; here every byte is hashed, once per sync. A
        cached file that fails is dropped and fetched once more, which ``download`` verifies
        as it writes.
        """
        expected = f.sha256
        if not is_sha256(expected):
            raise LockError(f"pylock.toml: {what} ({f.filename}) has no valid sha256 (64 lowercase hex digits)",
                            hint="run `satlock lock` to write the lock again")
        known = self._verified.get(expected)
        if known is not None:
            return known
        path = download(self.cache, self.http, f)
        got = file_sha256(path)
        if got != expected:
            path.unlink(missing_ok=True)
            path = download(self.cache, self.http, f)
            got = file_sha256(path)
            if got != expected:
                raise HashMismatchError(f"{f.filename} from {path} has sha256 {got}, but pylock.toml says {expected}",
                                        hint="the file was refused and the environment is unchanged")
        self._verified[expected] = path
        return path

    def fetch_wheel(self, package: Package, wheel: PackageWheel) -> Path:
        """The lock's wheel of ``package``, verified (``execute_sync``'s ``FetchWheel``)."""
        f = dist_file(wheel.filename, wheel.url, wheel.path, wheel.hashes, self.lock_dir, wheel.size)
        return self.download(f, f"package {package.name}")
