"""The plain data the resolver passes around: files offered by an index, and candidates.

A *candidate* is one version of one project that the solver may pick. It knows the files
it could be installed from (or the direct reference it came from) but not its
dependencies: those are fetched lazily, only for candidates the solver considers.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Literal, Mapping

from packaging.specifiers import SpecifierSet
from packaging.tags import Tag
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    NormalizedName,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import Version


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
        """Plain data for the cache (``marshal``-able)."""
        return (self.filename, self.url, dict(self.hashes), self.requires_python, self.yanked, self.size,
                self.upload_time,
                dict(self.metadata) if self.metadata is not None else None, self.index)

    @classmethod
    def from_row(cls, row: tuple) -> DistFile:
        filename, url, hashes, requires_python, yanked, size, upload, metadata, index = row
        return cls(filename=filename, url=url, hashes=hashes, requires_python=requires_python, yanked=yanked,
                   size=size, upload_time=upload, metadata=metadata,
                   index=index)

    @property
    def is_wheel(self) -> bool:
        return self.filename.endswith(".whl")

    @property
    def sha256(self) -> str | None:
        return self.hashes.get("sha256")

    def parse(self) -> tuple[NormalizedName, Version, frozenset[Tag]] | None:
        """Name, version and tags (empty for an sdist); ``None`` when the name is not a distribution file."""
        try:
            if self.is_wheel:
                name, version, _build, tags = parse_wheel_filename(self.filename)
                return name, version, tags
            name, version = parse_sdist_filename(self.filename)
            return name, version, frozenset()
        except (InvalidWheelFilename, InvalidSdistFilename):
            return None

    def python_ok(self, python_version: Version) -> bool:
        if not self.requires_python:
            return True
        return _python_ok(self.requires_python, python_version)


@functools.lru_cache(maxsize=4096)
def _python_ok(requires_python: str, python_version: Version) -> bool:
    """Cached: an index page repeats the same few Requires-Python strings thousands of times."""
    try:
        return SpecifierSet(requires_python).contains(python_version, prereleases=True)
    except ValueError:
        # An unparseable Requires-Python is ignored, as pip does.
        return True


_SDIST_SUFFIXES = (".tar.gz", ".zip", ".tar.bz2", ".tgz")


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
    for suffix in _SDIST_SUFFIXES:
        if filename.endswith(suffix):
            name, sep, version = filename[: -len(suffix)].rpartition("-")
            return (name, version, None) if sep and name else None
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

    @property
    def wheels(self) -> tuple[DistFile, ...]:
        return tuple(f for f in self.files if f.is_wheel)

    @property
    def sdist(self) -> DistFile | None:
        return next((f for f in self.files if not f.is_wheel), None)

    def __str__(self) -> str:
        return f"{self.name} {self.version}"
