"""The plain data the resolver passes around: files offered by an index, and candidates.

A *candidate* is one version of one project that the solver may pick. It knows the files
it could be installed from (or the direct reference it came from) but not its
dependencies: those are fetched lazily, only for candidates the solver considers.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Mapping

from packaging.specifiers import SpecifierSet
from packaging.tags import Tag
from packaging.utils import (
    NormalizedName,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import Version
from urllib.parse import unquote, urlsplit

from satlock.errors import IndexFormatError
from satlock.numbers import overlong_number_line
from satlock.urls import redact


_SHA256 = re.compile(r"[0-9a-f]{64}")
_HEX = re.compile(r"[0-9a-f]+")
_HASH_NAME = re.compile(r"[a-z0-9_]{1,32}")
# The digest length of each algorithm we may be given; an unknown algorithm is kept (as
# plain hex) but never used, since only hashlib's algorithms are ever verified.
_HEX_LENGTHS = {"md5": 32, "sha1": 40, "sha224": 56, "sha256": 64, "sha384": 96, "sha512": 128,
                "blake2b": 128, "blake2s": 64, "sha3_256": 64, "sha3_512": 128}
# What satlock verifies downloads against (fixed-length digests hashlib always has).
VERIFIABLE_HASHES = frozenset(_HEX_LENGTHS)


def checked_hash(algorithm: str, value: object, where: str) -> tuple[str, str]:
    """``(algorithm, hex digest)`` lower-cased, or an error naming ``where`` the value came from.

    Hashes from index pages and locks become cache file names and are compared with what
    was downloaded, so anything but the algorithm's hex digest (a path, a URL, padding) is
    refused here, before it reaches either.
    """
    alg = str(algorithm).lower()
    hexdigest = value.lower() if isinstance(value, str) else None
    if not _HASH_NAME.fullmatch(alg):
        raise IndexFormatError(f"{where}: invalid hash algorithm name {str(algorithm)!r:.80}")
    want = _HEX_LENGTHS.get(alg)
    if hexdigest is None or not _HEX.fullmatch(hexdigest) or (want is not None and len(hexdigest) != want):
        shape = f"{want} hex digits" if want else "hex digits"
        raise IndexFormatError(f"{where}: {alg} is not {shape}: {value!r:.80}",
                               hint="the index serves a corrupt page; report it to the index")
    return alg, hexdigest


def is_sha256(value: object) -> bool:
    """Exactly 64 lowercase hex digits: the only hash text allowed into a cache path."""
    return isinstance(value, str) and _SHA256.fullmatch(value) is not None


def checked_filename(name: str, where: str, *, dist: bool = True) -> str:
    """``name`` if it is safe to use as a file name in a path (and, with ``dist``, a wheel or sdist name).

    A file name from an index page, a lock or a URL is untrusted: no ``/``, ``\\``, NUL or
    ``..`` may survive unquoting. Direct archive URLs (``.../archive/main.zip``) need not
    be distribution names, so ``dist=False`` only asks for safety.
    """
    if not is_safe_name(name) or (dist and _parse_name(name) is None and split_filename(name) is None):
        raise IndexFormatError(f"{where}: {name!r:.120} is not a {'wheel or sdist ' if dist else 'safe '}file name",
                               hint="the index or lock names a file that satlock will not write to disk")
    return name


def is_safe_name(name: str) -> bool:
    """No path separator, NUL or ``..``, and not empty or hidden."""
    return (bool(name) and not name.startswith(".") and ".." not in name
            and "/" not in name and "\\" not in name and "\0" not in name)


def all_safe_names(names: list[str]) -> bool:
    """``is_safe_name`` of every name, by a few scans of them all joined with NUL (which no
    safe name holds): no separator, no ``..``, none empty or starting with a dot. Pages and
    cached listings hold thousands of names."""
    joined = "\0".join(names)
    padded = f"\0{joined}\0"
    return (padded.count("\0") == len(names) + 1 and "\0\0" not in padded and "\0." not in padded
            and ".." not in joined and "/" not in joined and "\\" not in joined)


def check_rows(rows: list[tuple]) -> None:
    """``ValueError`` (or ``TypeError``) for cached listing rows that no page parse could
    have made: each field of the type and grammar the page parsers give it (links are
    the caller's to check: which may be linked depends on the index and the settings).

    A listing holds thousands of rows: the fields are checked column by column, each by a
    few scans of them all (a join raises ``TypeError`` for a value that is not a string).
    """
    if not rows:
        return
    if {type(row) for row in rows} != {tuple} or {len(row) for row in rows} != {9}:
        raise ValueError("cached rows of the wrong shape")
    names, urls, hashes, pythons, yanks, sizes, uploads, metadata, indexes = zip(*rows)
    if not all_safe_names(list(names)):
        raise ValueError("invalid file name in cached rows")
    if ({type(url) for url in urls} != {str}
            or not {type(value) for column in (pythons, yanks, uploads, indexes) for value in column} <= _TEXT):
        raise ValueError("invalid text field in cached rows")
    counts = [size for size in sizes if size is not None]
    if not {type(size) for size in counts} <= {int} or counts and not (min(counts) >= 0 and max(counts) < TOML_INT_LIMIT):
        raise ValueError("invalid size in cached rows")
    if not all_timestamps([upload for upload in uploads if upload is not None]):
        raise ValueError("invalid upload time in cached rows")
    tables = [*hashes, *[table for table in metadata if table is not None]]
    if {type(table) for table in tables} != {dict}:
        raise ValueError("invalid hashes in cached rows")
    if not all_sha256([table["sha256"] for table in tables if "sha256" in table]):
        raise ValueError("invalid sha256 in cached rows")
    if set().union(*tables) - {"sha256"}:  # rare: other algorithms, each checked as a page's are
        for alg, value in (item for table in tables for item in table.items() if item[0] != "sha256"):
            try:
                if checked_hash(alg, value, "cached rows") != (alg, value):
                    raise ValueError("hash in cached rows not as a page parse writes it")
            except IndexFormatError:
                raise ValueError("invalid hash in cached rows") from None


_TEXT = {str, type(None)}
# TOML integers are signed 64-bit: no larger size comes from a page.
TOML_INT_LIMIT = 2**63


def all_sha256(digests: list[str]) -> bool:
    """``is_sha256`` of every digest, by a few C-speed scans of them all joined with
    newlines (pages and cached listings hold thousands; a regex match over them cost ten
    times more): the total length, the count of newlines and a newline at every 65th
    place say each line is one whole digest of 64 characters, and deleting the 16 hex
    digits and the newlines from the ASCII bytes leaves nothing only when every
    character is one of them."""
    if not digests:
        return True
    lines = "\n".join(digests)
    count = len(digests)
    return (len(lines) == 65 * count - 1 and lines.isascii() and lines.count("\n") == count - 1
            and lines[64::65] == "\n" * (count - 1) and not lines.encode("ascii").translate(None, _SHA256_BYTES))


_SHA256_BYTES = b"0123456789abcdef\n"


def is_timestamp(value: object) -> bool:
    """An ISO 8601 time as the lock writer will parse it (``datetime.fromisoformat``)."""
    if not isinstance(value, str):
        return False
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


def all_timestamps(texts: list[str]) -> bool:
    """``is_timestamp`` of every text: one match over them all for the form indexes give
    (one a line; the count of lines says no text holds a line break, which would make it
    two), and one at a time for any other."""
    lines = "\n".join(texts) + "\n"
    if lines.count("\n") == len(texts) and _COMMON_TIMES.fullmatch(lines) is not None:
        return True
    return all(map(is_timestamp, texts))


# Upload times in the form indexes give them, each one ``datetime.fromisoformat`` takes (a
# day that only some months or years have, such as 02-29, is left to it).
_COMMON_TIMES = re.compile(
    r"(?:(?!0000)[0-9]{4}-(?:(?:0[1-9]|1[0-2])-(?:0[1-9]|1[0-9]|2[0-8])|(?:0[13-9]|1[0-2])-(?:29|30)|(?:0[13578]|1[02])-31)"
    r"T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]{1,6})?Z\n)*")


def filename_from_url(url: str, where: str | None = None, *, dist: bool = True) -> str:
    """The file name at the end of ``url``, unquoted and checked (``checked_filename``).

    Every place that takes a file name from a URL goes through here, so a ``%2F..%2F``
    in a build tag or a ``%2e%2e`` cannot become part of a cache path.
    """
    return checked_filename(url_filename(url), where if where is not None else redact(url), dist=dist)


def url_filename(url: str) -> str:
    """The last segment of ``url``'s path, unquoted and NOT checked: callers check it
    (``filename_from_url`` here, or the lock reader, whose errors name the lock key)."""
    return unquote(urlsplit(url).path.rsplit("/", 1)[-1])


def _parse_name(filename: str) -> tuple[NormalizedName, Version, frozenset[Tag]] | None:
    try:
        if filename.endswith(".whl"):
            name, version, _build, tags = parse_wheel_filename(filename)
            return name, version, tags
        name, version = parse_sdist_filename(filename)
        return name, version, frozenset()
    except ValueError:
        # InvalidWheelFilename and InvalidSdistFilename, or a number too long for int().
        return None


@dataclass(frozen=True, eq=False)
class DistFile:
    """One wheel or sdist offered by an index page or a find-links folder.

    ``url`` is absolute (``https://``, ``http://`` or ``file://``). ``metadata`` follows
    PEP 658/714: ``None`` when the index offers no separate metadata file, otherwise the
    hashes of that file (possibly empty). ``yanked`` is ``None`` unless the file is yanked,
    then the reason (possibly empty). ``index`` is the index the file was listed by, or
    ``None`` for find-links folders.
    """

    filename: str
    url: str
    hashes: Mapping[str, str] = field(default_factory=dict)
    requires_python: str | None = None
    yanked: str | None = None
    size: int | None = None
    upload_time: str | None = None
    metadata: Mapping[str, str] | None = None
    index: str | None = None

    def to_row(self) -> tuple:
        """Plain data for the cache (``marshal``-able); a listing stores thousands, so the
        dicts a page parse made are stored as they are, not copied."""
        hashes, metadata = self.hashes, self.metadata
        return (self.filename, self.url, hashes if type(hashes) is dict else dict(hashes), self.requires_python,
                self.yanked, self.size, self.upload_time,
                metadata if metadata is None or type(metadata) is dict else dict(metadata), self.index)

    @classmethod
    def from_row(cls, row: tuple) -> DistFile:
        """The inverse of ``to_row``; ``ValueError`` for a row no page parse could have made."""
        filename, url, hashes, requires_python, yanked, size, upload, metadata, index = row
        if not is_safe_name(filename) or ("sha256" in hashes and not is_sha256(hashes["sha256"])):
            raise ValueError(f"invalid cached file row for {filename!r:.120}")
        return cls.of_fields(filename, url, hashes, requires_python, yanked, size, upload, metadata, index)

    @classmethod
    def of_fields(cls, filename: str, url: str, hashes: Mapping[str, str], requires_python: str | None,
                  yanked: str | None, size: int | None, upload_time: str | None,
                  metadata: Mapping[str, str] | None, index: str | None) -> DistFile:
        """``DistFile(...)`` with every field given in order, for callers that make thousands
        (a page's files, a cached listing): the frozen dataclass ``__init__`` sets each field
        through ``object.__setattr__``, which cost more than the rest of reading a file's row."""
        made = object.__new__(cls)
        object.__setattr__(made, "__dict__", {
            "filename": filename, "url": url, "hashes": hashes, "requires_python": requires_python, "yanked": yanked,
            "size": size, "upload_time": upload_time, "metadata": metadata, "index": index})
        return made

    @property
    def is_wheel(self) -> bool:
        return self.filename.endswith(".whl")

    @property
    def sha256(self) -> str | None:
        return self.hashes.get("sha256")

    def parse(self) -> tuple[NormalizedName, Version, frozenset[Tag]] | None:
        """Name, version and tags (empty for an sdist); ``None`` when the name is not a distribution file."""
        return _parse_name(self.filename)

    def python_ok(self, python_version: Version) -> bool:
        if not self.requires_python:
            return True
        return requires_python_ok(self.requires_python, python_version)


@functools.lru_cache(maxsize=4096)
def requires_python_ok(requires_python: str, python_version: Version) -> bool:
    """Whether ``python_version`` is in a file's Requires-Python (an unparseable one is
    ignored). Cached: an index page repeats the same few strings thousands of times."""
    try:
        return SpecifierSet(requires_python).contains(python_version, prereleases=True)
    except ValueError:
        # An unparseable Requires-Python is ignored, as pip does.
        return True


_SDIST_SUFFIXES = (".tar.gz", ".zip", ".tar.bz2", ".tgz")


def is_dist_filename(filename: str) -> bool:
    """Whether ``split_filename`` would split ``filename``, without expanding wheel tags."""
    if filename.endswith(".whl"):
        dashes = filename.count("-")
        return dashes == 4 or (dashes == 5 and _build_tag_ok(filename.split("-", 3)[2]))
    return _split_sdist(filename) is not None


def _build_tag_ok(tag: str) -> bool:
    """A build tag packaging can read: it starts with a digit (PEP 427), and its number is not
    too long for ``int``; a wheel whose tag it cannot read would fail each later parse of its name."""
    return tag[:1].isdigit() and tag[:1].isascii() and overlong_number_line(tag) is None


def split_filename(filename: str) -> tuple[str, str, list[str] | None] | None:
    """(name as written, version as written, expanded wheel tags or None for an sdist).

    A cheap split for index pages with thousands of files; ``None`` for anything that is
    not a wheel or sdist name. Wheel tags come out as ``interpreter-abi-platform`` strings.
    """
    if filename.endswith(".whl"):
        parts = filename[:-4].split("-")
        if len(parts) not in (5, 6):
            return None
        pys, abis, plats = parts[-3], parts[-2], parts[-1]
        tags = [f"{i}-{a}-{p}" for i in pys.split(".") for a in abis.split(".") for p in plats.split(".")]
        return parts[0], parts[1], tags
    sdist = _split_sdist(filename)
    return (*sdist, None) if sdist is not None else None


def _split_sdist(filename: str) -> tuple[str, str] | None:
    for suffix in _SDIST_SUFFIXES:
        if filename.endswith(suffix):
            name, sep, version = filename[: -len(suffix)].rpartition("-")
            return (name, version) if sep and name else None
    return None


@dataclass(frozen=True)
class DirectReference:
    """A PEP 508 direct reference or a ``[tool.satlock.sources]`` entry.

    ``kind`` matches the pylock.toml source tables: ``vcs`` (git), ``directory`` (a local
    source tree), or ``archive`` (a wheel or sdist by URL or path).
    """

    kind: Literal["vcs", "directory", "archive"]
    url: str | None = None
    path: str | None = None
    requested_revision: str | None = None
    commit_id: str | None = None
    subdirectory: str | None = None
    editable: bool = False
    hashes: tuple[tuple[str, str], ...] = ()

    @property
    def is_wheel(self) -> bool:
        """An archive that is a wheel, by its file name: a URL's ``#sha256=`` fragment is no
        part of the name (``y-2.0-py3-none-any.whl#sha256=...`` is a wheel, not an sdist)."""
        name = url_filename(self.url) if self.url else (self.path or "").replace("\\", "/").rsplit("/", 1)[-1]
        return self.kind == "archive" and name.endswith(".whl")

    def display(self) -> str:
        where = self.url or self.path or "?"
        if self.requested_revision:
            where += f"@{self.requested_revision}"
        return where


@dataclass(frozen=True, eq=False)
class Candidate:
    """One (name, version) the solver may choose, with where it comes from."""

    name: NormalizedName
    version: Version
    files: tuple[DistFile, ...] = ()
    direct: DirectReference | None = None
    key: tuple[str, str] = field(init=False, compare=False)

    def __post_init__(self) -> None:
        # The solver looks keys up hundreds of thousands of times; str(Version) is not free.
        object.__setattr__(self, "key", (self.name, str(self.version)))

    @classmethod
    def listed(cls, name: NormalizedName, version: Version, version_text: str, files: tuple[DistFile, ...]) -> Candidate:
        """A candidate from an index listing, whose caller already has ``str(version)`` as
        ``version_text``: a listing makes thousands, and ``str(Version)`` cost more than the rest."""
        made = object.__new__(cls)
        object.__setattr__(made, "__dict__", {"name": name, "version": version, "files": files, "direct": None,
                                              "key": (name, version_text)})
        return made

    @property
    def wheels(self) -> tuple[DistFile, ...]:
        return tuple(f for f in self.files if f.is_wheel)

    @property
    def sdist(self) -> DistFile | None:
        return next((f for f in self.files if not f.is_wheel), None)

    def __str__(self) -> str:
        return f"{self.name} {self.version}"
