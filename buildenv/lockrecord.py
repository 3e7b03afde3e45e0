"""What the lock records of each build: ``[tool.satlock.build-environments]``.

A metadata build keeps a ``BuildRecord`` of the environment it ran in, under what it built
(``build_key``: the package, its version and its source file or reference); the records
of the chosen solution's candidates become the lock's table, every package pinned with
its URL (without credentials) and hashes, so ``sync --frozen`` never needs an index to
build. A lock builds several versions of a package when the solver moves away from one
(``moveext 0.2`` built, then ``moveext 0.1`` locked): the record of one is never the
record of another.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Collection, Mapping

from packaging.utils import NormalizedName
from packaging.version import Version

from satlock.http import strip_credentials
from satlock.resolver.buildenvs import BuildEnvironment, BuildPackage
from satlock.resolver.candidates import Candidate, DirectReference, DistFile


@dataclass
class BuildRecord:
    """The environment one metadata build ran in: what was asked, and what was installed."""

    requires: list[str]
    packages: list[tuple[Candidate, DistFile]]
    isolation: bool


# (name, version, source): see ``build_key``.
BuildKey = tuple[NormalizedName, Version, tuple[str, ...]]


def build_key(name: NormalizedName, version: Version, source: DistFile | DirectReference) -> BuildKey:
    """What one build was made from, as the lock's candidate names it: an sdist by its URL, a
    direct reference by its kind, location, commit (or revision) and subdirectory."""
    if isinstance(source, DistFile):
        where: tuple[str, ...] = ("file", source.url)
    else:
        where = (source.kind, source.url or "", source.path or "", source.commit_id or source.requested_revision or "",
                 source.subdirectory or "")
    return name, version, where


def build_source(c: Candidate) -> DistFile | DirectReference | None:
    """What ``sync`` will build ``c`` from, or ``None`` when it installs a wheel."""
    if c.direct is not None:
        return None if c.direct.is_wheel else c.direct
    return None if c.wheels else c.sdist


def lock_table(records: Mapping[NormalizedName, BuildRecord],
               chosen: Collection[NormalizedName]) -> dict[NormalizedName, BuildEnvironment]:
    """The records of the packages named in ``chosen``, sorted by name, as the lock's table."""
    return {
        name: BuildEnvironment(
            isolation=records[name].isolation, requires=tuple(records[name].requires),
            packages=tuple(BuildPackage(c.name, str(c.version), strip_credentials(w.url), tuple(sorted(w.hashes.items())))
                           for c, w in records[name].packages))
        for name in sorted(records) if name in chosen
    }
