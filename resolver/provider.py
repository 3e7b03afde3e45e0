"""The protocol between the solver and wherever candidates come from.

The solver sees only this: the candidates of a name, and the dependencies of a candidate.
The index client is one provider (``indexprovider``); an in-memory dict is another
(``memory``), which is how the solver is tested and benchmarked without a network.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Protocol, Sequence

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName

from satlock.resolver.candidates import Candidate


@dataclass(frozen=True)
class Dependencies:
    """What a candidate's metadata says: its Requires-Dist, Requires-Python and extras."""

    requires: tuple[Requirement, ...] = ()
    requires_python: SpecifierSet | None = None
    provides_extras: frozenset[str] | None = None


@dataclass(frozen=True)
class Exclusion:
    """A version the provider dropped, and why, so a conflict story can mention it."""

    version: str
    reason: str


class CandidateUnavailable(Exception):
    """The metadata of one candidate cannot be had: its build failed, or its files are unreadable.

    A fact about that candidate, not about the lock: the solver leaves the candidate out,
    and ``reason`` (one line, such as ``could not be built: ...``) goes into the conflict
    story if the candidate mattered, and into ``-v`` warnings.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class CandidateList:
    """The candidates of one name, newest first, plus what was filtered out and why."""

    candidates: list[Candidate] = field(default_factory=list)
    excluded: list[Exclusion] = field(default_factory=list)


class Provider(Protocol):
    def candidates(self, name: NormalizedName) -> CandidateList:
        """Every installable candidate of ``name`` for the target, newest first."""

    def dependencies(self, candidate: Candidate) -> Dependencies:
        """The metadata of ``candidate``; may be slow (network, builds).

        Raises ``CandidateUnavailable`` when this one candidate cannot be used."""

    def ready(self, candidate: Candidate) -> bool:
        """Whether ``dependencies(candidate)`` would answer at once (no network, no build)."""

    def prefetch(self, names: Iterable[NormalizedName], candidates: Sequence[Candidate]) -> None:
        """Warm ``candidates(name)`` and ``dependencies(c)`` in parallel; a no-op is valid."""
