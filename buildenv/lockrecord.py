"""What the lock records of each build: ``[tool.satlock.build-environments]``.

A metadata build keeps a ``BuildRecord`` of the environment it ran in; the chosen
solution's records become the lock's table, every package pinned with its URL (without
credentials) and hashes, so ``sync --frozen`` never needs an index to build.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Collection, Mapping

from packaging.utils import NormalizedName

from satlock.http import strip_credentials
from satlock.resolver.buildenvs import BuildEnvironment, BuildPackage
from satlock.resolver.candidates import Candidate, DirectReference, DistFile


@dataclass
class BuildRecord:
    """The environment one metadata build ran in: what was asked, and what was installed."""

    requires: list[str]
    packages: list[tuple[Candidate, DistFile]]
    isolation: bool


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
