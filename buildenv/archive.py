"""Unpacking archives that came from the network without letting them escape.

An sdist or wheel is untrusted input: a member named ``../../.bashrc``, an absolute
path, a symlink pointing at ``/etc`` or a device node must not be written. Every member
is checked *before* anything is extracted, so a refused archive leaves nothing behind
but an empty destination, and the error names the archive and the offending member.
Tar files are then extracted with the standard library's ``data`` filter as a second
line of defence.

Symlinks are checked by resolving them, without touching the disk, through every link
the archive makes: a chain such as ``a -> .``, ``b -> a/a/a/../../..`` looks inside to a
lexical check but climbs out once ``a`` is followed, and the ``data`` filter of an
unpatched Python misses it when the names overflow ``PATH_MAX`` (CVE-2025-4517). No
member may be written through a link (inside a linked folder, or over a link), and
every link must stay inside both when it is made and once all links exist. The total
size the archive unpacks to is bounded too, so a small archive cannot fill the disk.
"""

from __future__ import annotations

import importlib
import os
import posixpath
import re
import stat
import tarfile
import tempfile
import zipfile
from pathlib import Path
from typing import BinaryIO

from satlock.errors import ZIPFILE_REFUSALS, BuildError, UnsafeArchiveError

# What an archive may unpack to: this many times its own size, but never less than the
# floor (small archives of text legitimately compress well) nor more than the cap. Real
# wheels and sdists stay far below: torch's 800 MB wheel unpacks to about 2.5 GB (3x).
MAX_RATIO = 100
RATIO_FLOOR = 64 * 1024 * 1024
MAX_UNPACKED = 32 * 1024 * 1024 * 1024
# Links followed while resolving one path before it counts as a loop (Linux's ELOOP limit).
_MAX_LINK_HOPS = 40
# The longest member name: one file or folder name (NAME_MAX on Linux and macOS), the
# whole path, and its depth. Longer names fail to be written on any file system, and
# deeper paths overflow the recursion of the folder checks and of os.makedirs; no real
# archive comes near. Tar sdists are held to the depth only: a tar member too long to be
# written is one error from its extraction, after its links are checked.
MAX_NAME_BYTES = 255
MAX_PATH_BYTES = 1024
MAX_DEPTH = 256

# Bytes decompressed at a time.
_CHUNK = 1024 * 1024
_TAR_SUFFIXES = (".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz", ".tar")
_ZIP_SUFFIXES = (".zip",)


def _is_unsafe_name(name: str) -> bool:
    """True for a member name that is absolute or climbs out with ``..``, on any OS."""
    normalized = name.replace("\\", "/")
    if normalized.startswith("/") or (len(normalized) > 1 and normalized[1] == ":"):
        return True
    return ".." in normalized.split("/")


def _name_problem(name: str, *, lengths: bool = True) -> str | None:
    """Why a member may not be written under the name ``name``; None when it may."""
    if not name:
        # Nothing to write it as (zipfile's own is_dir() fails on it).
        return "has an empty name"
    if _is_unsafe_name(name):
        return "would be written outside the destination folder"
    parts = _parts(name)
    if len(parts) > MAX_DEPTH:
        return f"is nested more than {MAX_DEPTH} folders deep"
    if lengths:
        size = _byte_length(name)
        if size > MAX_PATH_BYTES:
            return f"has a path longer than {MAX_PATH_BYTES} bytes"
        # No part is longer than the whole name: only a long name needs its parts measured.
        if size > MAX_NAME_BYTES and any(_byte_length(p) > MAX_NAME_BYTES for p in parts):
            return f"has a file or folder name longer than {MAX_NAME_BYTES} bytes"
    return None


def _byte_length(name: str) -> int:
    """The length of ``name`` as the file system gets it: its ``os.fsencode`` (worked out only
    for names that are not ASCII; a wheel checks thousands, nearly all ASCII)."""
    return len(name) if name.isascii() else len(os.fsencode(name))


def _unsafe(archive: Path | str, member: str, why: str) -> UnsafeArchiveError:
    return UnsafeArchiveError(
        f"{archive} is unsafe: member {member!r:.200} {why}",
        hint="the archive was refused and nothing was extracted; report it to the package's maintainers",
    )


def unpacked_limit(archive_size: int) -> int:
    """The most bytes an archive of ``archive_size`` bytes may unpack to."""
    return min(MAX_UNPACKED, max(RATIO_FLOOR, MAX_RATIO * archive_size))


def check_unpacked_size(archive: Path | str, archive_size: int, total: int) -> None:
    """Refuse an archive whose members add up to more than ``unpacked_limit`` (a decompression bomb)."""
    limit = unpacked_limit(archive_size)
    if total > limit:
        raise UnsafeArchiveError(
            f"{archive} is unsafe: it unpacks to {total:,} bytes from {archive_size:,}, more than the limit of {limit:,} "
            f"({MAX_RATIO} times its size, at least {RATIO_FLOOR // 2**20} MiB, at most {MAX_UNPACKED // 2**30} GiB)",
            hint="the archive was refused and nothing was unpacked; it is a decompression bomb or corrupt")


class _Escape(Exception):
    """A path that, followed through the archive's links, leaves the destination."""


class _LinkTree:
    """The symlinks an archive makes, so paths can be resolved through them on paper.

    Resolution works on path components and never on the disk, so it has no ``PATH_MAX``
    to overflow and sees the links exactly as extraction will create them.
    """

    def __init__(self) -> None:
        self.links: dict[tuple[str, ...], str] = {}
        self.folded: set[tuple[str, ...]] = set()

    def add(self, parts: tuple[str, ...], target: str) -> None:
        self.links[parts] = target
        self.folded.add(tuple(p.casefold() for p in parts))

    def resolve(self, parts: tuple[str, ...]) -> tuple[str, ...]:
        """``parts`` with every link followed; raises ``_Escape`` when it leaves the root or loops."""
        out: list[str] = []
        pending = list(reversed(parts))
        hops = 0
        while pending:
            part = pending.pop()
            if part in ("", "."):
                continue
            if part == "..":
                if not out:
                    raise _Escape("climbs above the destination folder")
                out.pop()
                continue
            target = self.links.get((*out, part))
            if target is None:
                out.append(part)
                continue
            hops += 1
            if hops > _MAX_LINK_HOPS:
                raise _Escape("is a loop of symlinks")
            if target.startswith("/"):
                raise _Escape("reaches an absolute path")
            pending.extend(reversed(target.split("/")))
        return tuple(out)

    def through_link(self, parts: tuple[str, ...]) -> bool:
        """Whether writing ``parts`` would go through a link: one of its folders, or itself.

        Compared without case too, for file systems that ignore it (macOS, Windows).
        """
        folded = tuple(p.casefold() for p in parts)
        return any(folded[:i] in self.folded for i in range(1, len(folded) + 1))

    def check_link(self, parts: tuple[str, ...]) -> None:
        self.resolve(parts[:-1] + tuple(self.links[parts].split("/")))


def _parts(name: str) -> tuple[str, ...]:
    return tuple(p for p in name.replace("\\", "/").split("/") if p not in ("", "."))


# A name whose second character is ":" (a drive, ``C:``), among names joined by NUL (a NUL
# inside a name only adds places to look).
_DRIVE_IN_JOINED = re.compile(r"(?:^|\0).:", re.DOTALL)


def _plain_names(names: list[str]) -> bool:
    """Whether ``_name_problem`` finds nothing in any of ``names``, known from a few string
    operations over all of them instead of a dozen per name: none holds ``\\`` or ``..`` or
    starts with ``/`` or a drive, and all are ASCII, not empty and at most ``MAX_NAME_BYTES`` long (so no
    part is longer, and none is deeper than ``MAX_DEPTH``). Nearly every wheel's names are;
    False sends them through ``_name_problem`` one by one."""
    if not names:
        return True
    joined = "\0".join(names)
    return (joined.isascii() and 0 < min(map(len, names)) and max(map(len, names)) <= MAX_NAME_BYTES and "\\" not in joined and ".." not in joined
            and not joined.startswith("/") and "\0/" not in joined
            and (":" not in joined or _DRIVE_IN_JOINED.search(joined) is None))


def safe_zip_members(zf: zipfile.ZipFile, archive: Path | str | None = None) -> list[zipfile.ZipInfo]:
    """The members of ``zf``, after refusing any that would be written outside the target folder."""
    where = archive if archive is not None else (zf.filename or "zip archive")
    members = zf.infolist()
    if _plain_names([info.filename for info in members]):
        return members
    for info in members:
        problem = _name_problem(info.filename)
        if problem is not None:
            raise _unsafe(where, info.filename, problem)
    return members


def _check_tar_member(archive: Path, member: tarfile.TarInfo, tree: _LinkTree) -> None:
    name = member.name
    problem = _name_problem(name, lengths=False)
    if problem is not None:
        raise _unsafe(archive, name, problem)
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
    parts = _parts(name)
    if tree.through_link(parts):
        raise _unsafe(archive, name, "would be written through a symlink the archive made")
    if member.islnk() and tree.through_link(_parts(member.linkname)):
        raise _unsafe(archive, name, f"is a hard link through a symlink ({member.linkname})")
    if member.issym() and parts:
        tree.add(parts, member.linkname.replace("\\", "/"))
        try:
            tree.check_link(parts)
        except _Escape as e:
            raise _unsafe(archive, name, f"is a symlink that {e} once the archive's links are followed "
                                         f"({member.linkname})") from None


def _check_tar_members(archive: Path, members: list[tarfile.TarInfo]) -> None:
    """Every member on its own, in order; then every link again, once all of them exist."""
    tree = _LinkTree()
    for member in members:
        _check_tar_member(archive, member, tree)
    for parts in tree.links:
        try:
            tree.check_link(parts)
        except _Escape as e:
            raise _unsafe(archive, "/".join(parts), f"is a symlink that {e} once the archive's links are followed "
                                                    f"({tree.links[parts]})") from None
    check_unpacked_size(archive, archive.stat().st_size, sum(m.size for m in members if m.isfile()))


# Compressions a tar sdist comes in, by their first bytes: (magic, module that opens it).
_COMPRESSIONS = ((b"\x1f\x8b", "gzip"), (b"BZh", "bz2"), (b"\xfd7zXZ\x00", "lzma"))
# Room for what a tar stream holds besides its members' data: a 512-byte header per member,
# the padding of its data to 512 bytes, long-name headers, the end-of-archive blocks.
_TAR_OVERHEAD = 64 * 1024 * 1024


def _decompressed(archive: Path, into: BinaryIO) -> bool:
    """Write ``archive``, a compressed tar, into ``into`` as the plain tar inside: read once.

    ``tarfile`` lists a compressed archive, then seeks back to extract it, and a compressed
    stream that seeks back starts over from its first byte: pyspark's 455 MB sdist was
    gunzipped twice per unpacking. A plain tar seeks for free. False, with ``into`` to be
    dropped, when the archive is not compressed as known here, is corrupt, or holds more
    than any archive of its size may unpack to (a bomb stops there): the caller then
    reads the archive as before, and it is refused or fails with the same message.
    """
    import zlib

    with open(archive, "rb") as raw:
        head = raw.read(6)
    kind = next((module for magic, module in _COMPRESSIONS if head.startswith(magic)), None)
    if kind is None:
        return False
    opener = importlib.import_module(kind)
    errors: tuple[type[BaseException], ...] = (OSError, EOFError, zlib.error)
    if kind == "lzma":
        errors += (opener.LZMAError,)
    left = unpacked_limit(archive.stat().st_size) + _TAR_OVERHEAD
    try:
        with opener.open(archive, "rb") as stream:
            while chunk := stream.read(min(_CHUNK, left + 1)):
                left -= len(chunk)
                if left < 0:
                    break
                into.write(chunk)
    except errors:
        left = -1
    into.seek(0)
    if left < 0:
        into.truncate()  # its disk space is the caller's again (a full disk is one of the errors)
    return left >= 0


def _extract_tar(archive: Path, dest: Path) -> None:
    try:
        # Beside ``dest``, unnamed: nothing but the archive's members ever appears in it.
        with tempfile.TemporaryFile(dir=dest.parent) as plain:
            fast = _decompressed(archive, plain)
            with tarfile.open(archive, "r:" if fast else "r:*", fileobj=plain if fast else None) as tf:
                _extract_tar_members(archive, tf, dest)
    except (tarfile.TarError, EOFError, OSError) as e:
        raise BuildError(f"cannot unpack {archive}: {e}", hint="the file is corrupt or not a tar archive; delete it from the cache and retry") from None


def _extract_tar_members(archive: Path, tf: tarfile.TarFile, dest: Path) -> None:
    """Every member of ``tf`` checked (``_check_tar_members``), then extracted with the ``data`` filter."""
    members = tf.getmembers()
    _check_tar_members(archive, members)
    try:
        tf.extractall(dest, members=members, filter="data")
    except tarfile.FilterError as e:
        member = getattr(e, "tarinfo", None)
        raise _unsafe(archive, member.name if member else "?", f"was refused: {e}") from None


def _extract_zip(archive: Path, dest: Path) -> None:
    try:
        with zipfile.ZipFile(archive) as zf:
            members = safe_zip_members(zf, archive)
            check_unpacked_size(archive, archive.stat().st_size, sum(i.file_size for i in members))
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
    except (zipfile.BadZipFile, OSError, EOFError, *ZIPFILE_REFUSALS) as e:
        raise BuildError(f"cannot unpack {archive}: {e}", hint="the file is corrupt or not a zip archive; delete it from the cache and retry") from None


def extract_sdist(archive: Path, dest: Path) -> Path:
    """Unpack a source archive into ``dest`` and return its single top-level folder (or
    ``dest`` itself for a flat archive with its project files at the top).

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
    from satlock.resolver.coremeta import SDIST_PROJECT_FILES

    if len(entries) == 1 and entries[0].is_dir():
        return entries[0]
    if any(p.name in SDIST_PROJECT_FILES and p.is_file() for p in entries):
        # A flat archive, its project at the top (tensorrt-cu12-libs 10.3.0): not what the
        # sdist spec asks, but pip and uv build it, and so does satlock.
        return dest
    raise BuildError(f"{archive} is not a valid source distribution: it must contain exactly one top-level folder "
                     f"(or pyproject.toml or setup.py at its top), found {sorted(p.name for p in entries)}")
