"""What a solve takes and gives: the project's requirements, the policy, the resolution."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

from packaging.requirements import Requirement
from packaging.utils import NormalizedName
from packaging.version import Version

from satlock.resolver.candidates import Candidate
from satlock.resolver.encoding import Encoding
from satlock.resolver.origin import RootRequirement
from satlock.resolver.provider import Exclusion
from satlock.resolver.variants import Variant


@dataclass
class SolveStats:
    """How hard the SAT core worked; printed by ``-v`` and by the SAT-core benchmark.

    ``solve_seconds`` counts every question's time (pycosat and the trail's work around it:
    probing, reducing, the component walk), building the trail, and the model repairs
    that answer questions without pycosat; not the propagation of each decision.
    """

    variables: int = 0
    clauses: int = 0
    candidates: int = 0
    expanded: int = 0
    solver_calls: int = 0
    solve_seconds: float = 0.0
    rounds: int = 0


@dataclass
class Resolution:
    """The chosen candidates and, for each, the requirements that are active for the target.

    ``requirements`` are the ones that always apply; ``extra_requirements[name][extra]``
    the ones that apply when some package asks for ``name[extra]``; ``roots`` the project's
    requirements that apply to the target (markers true there, overrides applied);
    ``left_out`` one line per candidate the solve had to skip (its build failed), for ``-v``.
    """

    chosen: dict[NormalizedName, Candidate]
    requirements: dict[NormalizedName, list[Requirement]]
    extra_requirements: dict[NormalizedName, dict[str, list[Requirement]]]
    extras: dict[NormalizedName, set[str]]
    warnings: list[str] = field(default_factory=list)
    stats: SolveStats = field(default_factory=SolveStats)
    roots: list[RootRequirement] = field(default_factory=list)
    left_out: list[str] = field(default_factory=list)
    variants: dict[NormalizedName, Variant] = field(default_factory=dict)


@dataclass
class Policy:
    """Knobs from ``[tool.satlock]`` and the command line."""

    preferences: Mapping[NormalizedName, Version] = field(default_factory=dict)
    allow_prereleases: bool = False
    constraints: Sequence[Requirement] = ()
    overrides: Sequence[Requirement] = ()


class Unsatisfiable(Exception):
    """Raised with the encoding so ``explain`` can find a minimal conflict."""

    def __init__(self, encoding: Encoding, excluded: Mapping[NormalizedName, list[Exclusion]]) -> None:
        super().__init__("unsatisfiable")
        self.encoding = encoding
        self.excluded = excluded
