"""Core metadata files (METADATA, PKG-INFO) read into what the solver needs, and the few
files of an sdist that can say its dependencies without a build, read without extracting it."""

from __future__ import annotations

import functools
import os
import tarfile
import threading
import zipfile
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

from packaging.metadata import parse_email
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from satlock.errors import ZIPFILE_REFUSALS, MetadataError
from satlock.numbers import overlong_number_line, overlong_number_reason
from satlock.resolver.metadatafile import header_block
from satlock.resolver.provider import Dependencies

if TYPE_CHECKING:
    from satlock.cache import Cache

# The most read of one file inside an sdist (PKG-INFO embeds the README; pyproject.toml is small).
MAX_MEMBER_BYTES = 64 << 20


def parse_metadata(data: bytes, what: str) -> tuple[str, Version, Dependencies]:
    """Name, version and dependencies from a METADATA/PKG-INFO file; corrupt input is a MetadataError."""
    raw, _unparsed = parse_email(header_block(data))
    name, version = raw.get("name"), raw.get("version")
    if not name or not version:
        raise MetadataError(f"the metadata of {what} is corrupt: it has no Name or Version", hint="run again with --refresh; if it persists, the index serves a broken file")
    for field in (version, raw.get("requires_python") or "", *raw.get("requires_dist", [])):
        if overlong_number_line(field) is not None:
            raise MetadataError(f"the metadata of {what} is invalid: {field!r:.80} holds {overlong_number_reason()}")
    try:
        parsed_version = Version(version)
        reqs = tuple(Requirement(r) for r in raw.get("requires_dist", []))
        rp = SpecifierSet(raw["requires_python"]) if raw.get("requires_python") else None
    except (InvalidVersion, InvalidRequirement, InvalidSpecifier) as e:
        raise MetadataError(f"the metadata of {what} is invalid: {e}") from None
    extras = frozenset(canonicalize_name(e) for e in raw.get("provides_extra", []))
    # Metadata 2.1+ must list every extra in Provides-Extra, so none listed means none exist;
    # older metadata may declare extras only in Requires-Dist markers, so there we cannot tell.
    declared = "provides_extra" in raw or _metadata_version(raw) >= Version("2.1")
    return name, parsed_version, Dependencies(reqs, rp, extras if declared else None)


def _metadata_version(raw: Mapping[str, Any]) -> Version:
    try:
        return Version(str(raw.get("metadata_version", "1.0")))
    except InvalidVersion:
        return Version("1.0")


def static_sdist_metadata(data: bytes) -> bool:
    """PKG-INFO that may be trusted for dependencies: Metadata 2.2+ with Requires-Dist and
    Requires-Python not marked dynamic (PEP 643)."""
    raw, _ = parse_email(data)
    try:
        mv = Version(raw.get("metadata_version", "1.0"))
    except InvalidVersion:
        return False
    dynamic = {d.lower() for d in raw.get("dynamic", [])}
    return mv >= Version("2.2") and "requires-dist" not in dynamic and "requires-python" not in dynamic


def read_pkg_info(archive: str) -> bytes | None:
    """The top-level PKG-INFO of an sdist, read without extracting anything."""
    return read_sdist_files(archive, ["PKG-INFO"]).get("PKG-INFO")


def read_sdist_files(archive: str, wanted: Sequence[str], reads: SdistReads | None = None) -> dict[str, bytes]:
    """The files ``wanted`` (paths below the sdist's top folder) of an sdist, in one pass, without extracting;
    through ``reads`` (``run_reads``), a pass this run made already answers without reading the archive again.

    A flat archive, its project files at the top with no folder around them, is read from
    its top, as ``buildenv/archive.py`` builds it from there: its PKG-INFO is the one at the
    top, not one a subfolder (``flat.egg-info/PKG-INFO``) holds. Each is read only up to
    ``MAX_MEMBER_BYTES``, so a huge member in a hostile archive costs little; whoever
    parses it refuses what is too big for it.
    """
    if reads is not None:
        return reads.read(archive, wanted)
    return _read_sdist_files(archive, wanted)[0]


def _read_sdist_files(archive: str, wanted: Sequence[str]) -> tuple[dict[str, bytes], bool]:
    """``read_sdist_files`` without a memo, and whether the pass read the whole archive
    (it stops early once it has every file ``wanted``)."""
    nested: dict[str, bytes] = {}  # below the one top folder, as the sdist spec lays it out
    top: dict[str, bytes] = {}  # at the top, for a flat archive
    flat = False

    def take(name: str, is_file: bool, read: Callable[[], bytes | None]) -> None:
        nonlocal flat
        path = "/".join(p for p in name.split("/") if p not in ("", "."))
        flat = flat or (is_file and path in SDIST_PROJECT_FILES)
        rest = path.split("/", 1)[1] if "/" in path else ""
        for into, key in ((top, path), (nested, rest)):
            if is_file and key in wanted and key not in into:
                data = read()
                if data is not None:
                    into[key] = data

    def done() -> bool:
        return len(top if flat else nested) == len(wanted)

    try:
        if archive.endswith(".zip"):
            with zipfile.ZipFile(archive) as zf:
                for info in zf.infolist():
                    take(info.filename, not info.is_dir(), functools.partial(_read_zip_member, zf, info))
            return (top if flat else nested), True
        with tarfile.open(archive) as tf:
            for m in tf:
                take(m.name, m.isfile(), functools.partial(_read_tar_member, tf, m))
                if done():
                    return (top if flat else nested), False
    except (tarfile.TarError, zipfile.BadZipFile, OSError, EOFError, *ZIPFILE_REFUSALS):
        raise MetadataError(f"{archive} is not a readable sdist", hint="run again with --refresh") from None
    return (top if flat else nested), True


# What a run keeps of the files its passes found: passes whose files are larger are not
# kept (a PKG-INFO embeds a README; a hostile one is up to MAX_MEMBER_BYTES), nor more archives.
_MEMO_PASS_BYTES = 4 << 20
_MEMO_ARCHIVES = 4096


@dataclass(frozen=True)
class _Pass:
    """One pass over an sdist: the files it looked for, those it found, and whether it read to the end."""

    wanted: frozenset[str]
    found: dict[str, bytes]
    whole: bool

    def answer(self, wanted: frozenset[str]) -> dict[str, bytes] | None:
        """The files ``wanted`` as a new pass would find them, or None when this pass cannot tell.

        A pass that read the whole archive knows every file it looked for, and whether the
        archive is flat. One that stopped early answers only the same question: a question
        about fewer files would have stopped earlier, before a later member could show the
        archive to be flat."""
        if wanted == self.wanted or (self.whole and wanted <= self.wanted):
            return {k: v for k, v in self.found.items() if k in wanted}
        return None


class SdistReads:
    """The files this run's passes over sdists found (``run_reads``), so an sdist is read once.

    An sdist without pyproject.toml (pyspark's 455 MB) is read to its end to learn so: to
    look for static metadata, then for its ``[build-system]`` at each metadata build and at
    the lock's record of it, a gunzip of 2.3 s each time. Keyed by the archive's path and
    its identity on disk (device, inode, size, modification and change times): a file
    replaced since is read again, also one rewritten in place with its modification time
    put back (``cp -p`` onto it), which only the change time shows.
    """

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._passes: dict[tuple[str, int, int, int, int, int], list[_Pass]] = {}

    def read(self, archive: str, wanted: Sequence[str]) -> dict[str, bytes]:
        try:
            st = os.stat(archive)
        except OSError:
            return _read_sdist_files(archive, wanted)[0]  # which says why it cannot be read
        key = (os.path.abspath(archive), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
        asked = frozenset(wanted)
        with self._guard:
            for done in self._passes.get(key, ()):
                found = done.answer(asked)
                if found is not None:
                    return found
        files, whole = _read_sdist_files(archive, wanted)
        if sum(len(v) for v in files.values()) <= _MEMO_PASS_BYTES:
            with self._guard:
                if key in self._passes or len(self._passes) < _MEMO_ARCHIVES:
                    self._passes.setdefault(key, []).append(_Pass(asked, dict(files), whole))
        return files


def run_reads(cache: Cache) -> SdistReads:
    """This run's ``SdistReads``, kept by ``cache`` until the run ends."""
    return cache.run_memo("sdist-reads", SdistReads)


SDIST_PROJECT_FILES = ("pyproject.toml", "setup.py")
"""A file of these names at an archive's top makes it a flat sdist, here and where
buildenv/archive.py unpacks one to build it."""


def _read_zip_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    with zf.open(info) as f:
        return f.read(MAX_MEMBER_BYTES)


def _read_tar_member(tf: tarfile.TarFile, member: tarfile.TarInfo) -> bytes | None:
    f = tf.extractfile(member)
    return None if f is None else f.read(MAX_MEMBER_BYTES)
