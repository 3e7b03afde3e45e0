"""The protocol between the solver and wherever candidates come from.

The solver sees only this: the candidates of a name, and the dependencies of a candidate.
The index client is one provider (``indexprovider``); an in-memory dict is another
(``memory``), which is how the solver is tested and benchmarked without a network.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterable, Protocol, Sequence

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName

from satlock.errors import MetadataError, SatlockError
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


def unavailable_reason(error: SatlockError) -> str:
    """One line for a candidate left out: what failed, its last words, the hint, and where the log is.

    A build error is several lines (the log's tail, then the log's path); a nested conflict
    story is a list of ``- `` items. Both fold into one line for a warning or a story.
    """
    lines = [line.strip() for line in error.message.splitlines() if line.strip()] or ["no reason given"]
    log = next((line for line in lines if line.startswith("full log: ")), None)
    items = [line[2:] for line in lines[1:] if line.startswith("- ")]
    # The last line that says something: a build's output often ends in a banner (a box of
    # asterisks around wheel-stub's message), which as the one-line reason says nothing.
    body = [line for line in lines[1:] if line != log and any(ch.isalnum() for ch in line)]
    detail = "; ".join(items) if items else (body[-1] if body else "")
    first = re.sub(r"^building \S+ failed: ", "", lines[0]).rstrip(":")
    text = first + (f" ({detail})" if detail else "")
    hint = f"hint: {' '.join(error.hint.split())}" if error.hint else None
    text += "".join(f"; {p}" for p in (hint, log) if p)
    verb = "cannot be used" if isinstance(error, MetadataError) else "could not be built"
    return f"{verb}: {text}"


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
