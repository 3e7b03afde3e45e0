"""Unpacking archives that came from the network without letting them escape.

An sdist or wheel is untrusted input: a member named ``../../.bashrc``, an absolute
path, a symlink pointing at ``/etc`` or a device node must not be written. Every member
is checked *before* anything is extracted, so a refused archive leaves nothing behind
but an empty destination, and the error names the archive and the offending member.
Tar files are then extracted with the standard library's ``data`` filter as a second
line of defence.
"""

from __future__ import annotations

import os
import posixpath
import stat
import tarfile
import zipfile
from pathlib import Path

from satlock.errors import BuildError, UnsafeArchiveError

_TAR_SUFFIXES = (".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz", ".tar")
_ZIP_SUFFIXES = (".zip",)


def _is_unsafe_name(name: str) -> bool:
    """True for a member name that is absolute or climbs out with ``..``, on any OS."""
    normalized = name.replace("\\", "/")
    if normalized.startswith("/") or (len(normalized) > 1 and normalized[1] == ":"):
        return True
    return ".." in normalized.split("/")


def _unsafe(archive: Path | str, member: str, why: str) -> UnsafeArchiveError:
    return UnsafeArchiveError(
        f"{archive} is unsafe: member {member!r} {why}",
        hint="the archive was refused and nothing was extracted; report it to the package's maintainers",
    )


def safe_zip_members(zf: zipfile.ZipFile, archive: Path | str | None = None) -> list[zipfile.ZipInfo]:
    """The members of ``zf``, after refusing any that would be written outside the target folder."""
    where = archive if archive is not None else (zf.filename or "zip archive")
    members = zf.infolist()
    for info in members:
        if _is_unsafe_name(info.filename):
            raise _unsafe(where, info.filename, "would be written outside the destination folder")
    return members


def _check_tar_member(archive: Path, member: tarfile.TarInfo) -> None:
    name = member.name
    if _is_unsafe_name(name):
        raise _unsafe(archive, name, "would be written outside the destination folder")
    if member.isdev() or not (member.isfile() or member.isdir() or member.issym() or member.islnk()):
        raise _unsafe(archive, name, "is a device or special file")
    if member.issym():
        target = member.linkname.replace("\\", "/")
        resolved = posixpath.normpath(posixpath.join(posixpath.dirname(name), target))
        if target.startswith("/") or resolved == ".." or resolved.startswith("../"):
            raise _unsafe(archive, name, f"is a symlink pointing outside the destination folder ({member.linkname})")
    if member.islnk():
        if _is_unsafe_name(member.linkname):
            raise _unsafe(archive, name, f"is a hard link pointing outside the destination folder ({member.linkname})")


def _extract_tar(archive: Path, dest: Path) -> None:
    try:
        with tarfile.open(archive, "r:*") as tf:
            members = tf.getmembers()
            for member in members:
                _check_tar_member(archive, member)
            try:
                tf.extractall(dest, members=members, filter="data")
            except tarfile.FilterError as e:
                member = getattr(e, "tarinfo", None)
                raise _unsafe(archive, member.name if member else "?", f"was refused: {e}") from None
    except (tarfile.TarError, EOFError, OSError) as e:
        raise BuildError(f"cannot unpack {archive}: {e}", hint="the file is corrupt or not a tar archive; delete it from the cache and retry") from None


def _extract_zip(archive: Path, dest: Path) -> None:
    try:
        with zipfile.ZipFile(archive) as zf:
            members = safe_zip_members(zf, archive)
            dest_abs = os.path.abspath(dest)
            for info in members:
                target = os.path.abspath(os.path.join(dest_abs, info.filename))
                if os.path.commonpath([dest_abs, target]) != dest_abs:
                    raise _unsafe(archive, info.filename, "would be written outside the destination folder")
            for info in members:
                extracted = zf.extract(info, dest)
                mode = info.external_attr >> 16
                if mode and stat.S_ISREG(mode) and mode & 0o111:
                    os.chmod(extracted, 0o755)
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise BuildError(f"cannot unpack {archive}: {e}", hint="the file is corrupt or not a zip archive; delete it from the cache and retry") from None


def extract_sdist(archive: Path, dest: Path) -> Path:
    """Unpack a source archive into ``dest`` and return its single top-level folder.

    Refuses (``UnsafeArchiveError``) any archive with a member that would land outside
    ``dest``, before extracting anything.
    """
    archive = Path(archive)
    dest = Path(dest)
    lower = archive.name.lower()
    dest.mkdir(parents=True, exist_ok=True)
    if lower.endswith(_TAR_SUFFIXES):
        _extract_tar(archive, dest)
    elif lower.endswith(_ZIP_SUFFIXES):
        _extract_zip(archive, dest)
    else:
        raise BuildError(f"cannot unpack {archive}: unknown archive format",
                         hint="source archives must be .tar.gz, .tgz, .tar.bz2, .tar or .zip")
    entries = [p for p in dest.iterdir()]
    if len(entries) == 1 and entries[0].is_dir():
        return entries[0]
    raise BuildError(f"{archive} is not a valid source distribution: it must contain exactly one top-level folder, "
                     f"found {sorted(p.name for p in entries)}")
