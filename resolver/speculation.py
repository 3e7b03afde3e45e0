"""What the prefetch guesses the solver will pick, so that it fetches that and nothing else.

A cold lock fetches ahead of the solver: for each name, the version the solver most likely
picks and, transitively, what that version needs. The guess is the newest version the
requirements that reached the name accept, with the solve's own specifiers for the names
it starts from (a project's requirements, or a build environment's) and its overrides.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name

from satlock.resolver.candidates import Candidate
from satlock.resolver.matching import evaluate_marker
from satlock.resolver.target import Target

__all__ = ["Speculation", "likely"]


@dataclass(frozen=True)
class Speculation:
    """What the prefetch needs beyond the requirements it walks along, to fetch
    the version the solver will pick: the solve's own requirements, a project's or a build
    environment's (what a root name is guessed by), ``[tool.satlock] overrides`` (they
    replace the requirements on their name) and ``prerelease = "allow"``."""

    roots: Mapping[NormalizedName, SpecifierSet] = field(default_factory=dict)
    overrides: Mapping[NormalizedName, SpecifierSet] = field(default_factory=dict)
    allow_prereleases: bool = False

    @classmethod
    def of(cls, roots: Iterable[Requirement], target: Target, overrides: Iterable[Requirement] = (),
           allow_prereleases: bool = False) -> Speculation:
        """The guess for a solve of ``roots`` (a project's requirements, or a build
        environment's): each name's specifiers whose markers hold for ``target``, all together."""
        return cls(roots=_specifiers(roots, target), overrides=_specifiers(overrides, target),
                   allow_prereleases=allow_prereleases)


def _specifiers(requirements: Iterable[Requirement], target: Target) -> dict[NormalizedName, SpecifierSet]:
    environment = {**target.environment, "extra": ""}
    found: dict[NormalizedName, SpecifierSet] = {}
    for req in requirements:
        if req.marker is None or evaluate_marker(req.marker, environment):
            name = canonicalize_name(req.name)
            found[name] = found.get(name, SpecifierSet()) & req.specifier
    return found


def likely(candidates: Sequence[Candidate], specifier: SpecifierSet, allow_prereleases: bool = False) -> Candidate | None:
    """The candidate (newest first) a solver most likely picks for a requirement with
    ``specifier``: the newest it accepts, pre-releases taken as ``Matcher.matches`` takes
    them (PEP 440), else what a requirement without a specifier takes: not a newer
    pre-release that nothing asked for, whose dependencies would be fetched for nothing.
    Only a guess for prefetching (the first requirement that reached a name is the one used)."""
    prereleases = True if allow_prereleases else None
    for spec in (specifier, SpecifierSet()):
        pick = next(iter(spec.filter(candidates, prereleases=prereleases, key=lambda c: c.version)), None)
        if pick is not None:
            return pick
    return None
