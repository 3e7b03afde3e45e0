"""Wheels unzipped once into the cache, so later installs link their files from there.

An entry is keyed by the wheel's sha256 and holds the wheel's members as files. It is
untrusted like the rest of the cache: installs take from it only the files the verified
wheel lists, and hold each one to the hash in that wheel's own RECORD.
"""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

from installer.exceptions import InstallerError
from installer.sources import WheelFile

from satlock.buildenv.archive import check_unpacked_size, safe_zip_members
from satlock.buildenv.wheelcheck import is_executable
from satlock.cache import Cache, file_sha256
from satlock.errors import ZIPFILE_REFUSALS, InstallError

UNPACKED_BUCKET = "unpacked-v1"


def unzip_wheel(wheel: Path, dest: Path) -> None:
    """Check the wheel's members and RECORD, then unzip it into ``dest``."""
    try:
        with zipfile.ZipFile(wheel) as zf:
            members = safe_zip_members(zf, wheel)
            check_unpacked_size(wheel, wheel.stat().st_size, sum(i.file_size for i in members))
            WheelFile(zf).validate_record()
            for info in members:
                if info.is_dir():
                    continue
                target = dest / info.filename
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, open(target, "wb") as out:
                    shutil.copyfileobj(src, out)
                # Exactly the wheel's mode, whatever the umask: installs hold the cache's files to it.
                target.chmod(0o755 if is_executable(info) else 0o644)
    except (zipfile.BadZipFile, *ZIPFILE_REFUSALS) as e:
        raise InstallError(f"{wheel} is not a valid wheel: {e}", hint="delete it from the cache and run again") from None
    except InstallerError as e:
        raise InstallError(f"{wheel} is not a valid wheel: {e}", hint="report it to the package's maintainers") from None


def unpacked(wheel: Path, cache: Cache | None, scratch: Path, sha256: str | None) -> Path:
    """A folder holding the wheel's files: the cache's entry (keyed by the wheel's sha256,
    ``sha256`` when the caller has just verified it), made when missing; without a cache,
    a new folder under ``scratch``."""
    if cache is None:
        dest = scratch / "unpacked"
        dest.mkdir()
        unzip_wheel(wheel, dest)
        return dest
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
