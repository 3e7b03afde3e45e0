"""Wheels unzipped once into the cache, so later installs link their files from there.

An entry is keyed by the wheel's sha256 and holds the wheel's members as files. It is
untrusted like the rest of the cache: installs take from it only the files the verified
wheel lists, and hold each one to the hash in that wheel's own RECORD.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import zipfile
from pathlib import Path
from typing import IO

from installer.exceptions import InstallerError
from installer.records import RecordEntry, parse_record_file
from installer.sources import WheelFile
from installer.utils import copyfileobj_with_hashing

from satlock.buildenv.archive import check_unpacked_size, safe_zip_members
from satlock.buildenv.wheelcheck import is_executable
from satlock.cache import Cache, file_sha256
from satlock.errors import ZIPFILE_REFUSALS, InstallError

UNPACKED_BUCKET = "unpacked-v1"
_CHUNK = 1 << 20


def unzip_wheel(wheel: Path, dest: Path) -> None:
    """Check the wheel's members and RECORD, then unzip it into ``dest``, holding each file
    to its RECORD hash and size as it is written (one decompression per member)."""
    try:
        with zipfile.ZipFile(wheel) as zf:
            members = safe_zip_members(zf, wheel)
            check_unpacked_size(wheel, wheel.stat().st_size, sum(i.file_size for i in members))
            source = WheelFile(zf)
            # Every member listed, with a hash and a size (RECORD and its signatures without):
            # the contents are checked below, as each member is written.
            source.validate_record(validate_contents=False)
            rows = {row[0]: row for row in parse_record_file(source.read_dist_info("RECORD").splitlines())}
            made = {str(dest)}
            for info in members:
                if info.is_dir():
                    continue
                target = os.path.join(dest, info.filename)
                folder = os.path.dirname(target)
                if folder not in made:
                    os.makedirs(folder, exist_ok=True)
                    made.add(folder)
                # A member's row passed validate_record's own parse (other rows are not read).
                row = rows.get(info.filename)
                entry = RecordEntry.from_elements(*row) if row is not None else None
                with zf.open(info) as src, open(target, "wb") as out:
                    if entry is None or entry.hash_ is None:
                        shutil.copyfileobj(src, out, _CHUNK)
                    else:
                        _copy_checked(src, out, entry, wheel, info.filename)
                    # Exactly the wheel's mode, whatever the umask: installs hold the cache's files to it.
                    os.fchmod(out.fileno(), 0o755 if is_executable(info) else 0o644)
    except (zipfile.BadZipFile, *ZIPFILE_REFUSALS) as e:
        raise InstallError(f"{wheel} is not a valid wheel: {e}", hint="delete it from the cache and run again") from None
    except InstallerError as e:
        raise InstallError(f"{wheel} is not a valid wheel: {e}", hint="report it to the package's maintainers") from None


def _copy_checked(src: IO[bytes], out: IO[bytes], entry: RecordEntry, wheel: Path, name: str) -> None:
    """Copy ``src`` to ``out`` and refuse it unless its hash and size are ``entry``'s."""
    assert entry.hash_ is not None
    try:
        checkable = hashlib.new(entry.hash_.name).digest_size > 0  # 0: a shake digest, no fixed length
    except ValueError:
        checkable = False
    if not checkable:
        raise InstallError(f"{wheel} is not a valid wheel: {name} has a {entry.hash_.name} hash in RECORD, "
                           "which cannot be checked", hint="report it to the package's maintainers")
    got, size = copyfileobj_with_hashing(src, out, entry.hash_.name)
    if got != entry.hash_.value or size != entry.size:
        raise InstallError(f"{wheel} is not a valid wheel: hash / size of {name} didn't match RECORD",
                           hint="report it to the package's maintainers")


def unpacked(wheel: Path, cache: Cache | None, scratch: Path, sha256: str | None) -> Path:
    """A folder holding the wheel's files: the cache's entry (keyed by the wheel's sha256,
    ``sha256`` when the caller has just verified it), made when missing; without a cache,
    a new folder under ``scratch``."""
    if cache is None:
        dest = scratch / "unpacked"
        dest.mkdir()
        unzip_wheel(wheel, dest)
        return dest
    return cached_unpacked(wheel, cache, sha256)


def cached_unpacked(wheel: Path, cache: Cache, sha256: str | None) -> Path:
    """The cache's entry for ``wheel``, unzipped (and each file held to RECORD) if missing."""
    key = sha256 or file_sha256(wheel)
    ready = cache.path(UNPACKED_BUCKET, key)
    if ready.is_dir():
        return ready
    with cache.lock(UNPACKED_BUCKET, key):
        if ready.is_dir():
            return ready
        return cache.build_dir(UNPACKED_BUCKET, key, lambda tmp: unzip_wheel(wheel, tmp))


def discard(cache: Cache, entry: Path) -> None:
    """Drop an entry found damaged, so the next install unzips the wheel again."""
    cache.discard(UNPACKED_BUCKET, entry.name)
