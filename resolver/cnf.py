"""The resolution problem as CNF, for pycosat.

Read aloud, the encoding is:

* Each candidate (one version of one project) is a boolean variable: true means "install it".
* At most one candidate of each name is true. For up to four candidates that is one
  clause per pair; beyond that it is Sinz's sequential counter, which adds one helper
  variable per candidate and about three clauses per candidate, so the encoding stays
  linear in the number of candidates instead of quadratic.
* Each requested extra ``name[extra]`` is a variable of its own; it implies that some
  candidate of ``name`` is installed.
* A requirement of the project is a clause "one of the candidates that match it":
  ``(foo-2.1 or foo-2.0 or foo-1.9)``. A dependency of a candidate is the same clause
  guarded by that candidate: ``not bar-1.0 or foo-2.1 or foo-2.0``; a dependency that
  only applies with an extra is also guarded by the extra's variable. A requirement with
  extras additionally implies the extra variables: ``not bar-1.0 or foo[cli]``.
* A constraint excludes the candidates it does not match: ``not foo-3.0``. So does a
  candidate's own Requires-Python when the target interpreter is outside it.

Every clause that comes from something a user can read about (a requirement of the
project, a dependency of a candidate, a constraint) carries a ``Reason``; the structural
clauses (at most one, extras imply their base) carry none. Conflict explanation deletes
reasons until the rest is still unsatisfiable, and tells the story of those that remain.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name

from satlock.resolver.candidates import Candidate


@dataclass(frozen=True)
class Reason:
    """Where a clause comes from, in words a user knows.

    ``kind`` is ``root`` (the project asks for ``requirement``; ``where`` says in which
    table), ``dependency`` (``parent`` depends on ``requirement``), ``constraint``
    (``[tool.satlock] constraints``) or ``python`` (``parent`` needs another Python).
    """

    kind: str
    requirement: Requirement | None = None
    parent: Candidate | None = None
    where: str = ""
    detail: str = ""


Clause = list[int]


class Encoding:
    """Variables and clauses of one resolution, grown as candidates are expanded."""

    def __init__(self) -> None:
        self.clauses: list[Clause] = []
        self.reasons: list[Reason | None] = []
        self.num_vars = 0
        self.var_of: dict[tuple[str, str], int] = {}
        self.candidate_of: dict[int, Candidate] = {}
        self.candidates_of: dict[NormalizedName, list[Candidate]] = {}
        self.extra_var: dict[tuple[NormalizedName, str], int] = {}
        self.new_extras: list[tuple[NormalizedName, str]] = []

    def _new_var(self) -> int:
        self.num_vars += 1
        return self.num_vars

    def _add(self, clause: Clause, reason: Reason | None = None) -> None:
        self.clauses.append(clause)
        self.reasons.append(reason)

    def add_name(self, name: NormalizedName, candidates: Sequence[Candidate]) -> None:
        """Introduce the candidates of ``name`` (in preference order) and say at most one is installed."""
        literals = []
        for c in candidates:
            v = self._new_var()
            self.var_of[c.key] = v
            self.candidate_of[v] = c
            literals.append(v)
        self.candidates_of[name] = list(candidates)
        self._at_most_one(literals)

    def _at_most_one(self, xs: list[int]) -> None:
        if len(xs) <= 4:
            for i in range(len(xs)):
                for j in range(i + 1, len(xs)):
                    self._add([-xs[i], -xs[j]])
            return
        # Sinz's sequential counter: s_i means "one of x_1..x_i is true".
        s = [self._new_var() for _ in xs[:-1]]
        self._add([-xs[0], s[0]])
        for i in range(1, len(xs) - 1):
            self._add([-xs[i], s[i]])
            self._add([-s[i - 1], s[i]])
            self._add([-xs[i], -s[i - 1]])
        self._add([-xs[-1], -s[-1]])

    def var(self, candidate: Candidate) -> int:
        return self.var_of[candidate.key]

    def extra(self, name: NormalizedName, extra: str) -> int:
        """The variable of ``name[extra]``; created with the clause that it needs ``name`` itself."""
        key = (name, extra)
        if key not in self.extra_var:
            v = self._new_var()
            self.extra_var[key] = v
            self.new_extras.append(key)
            self._add([-v] + [self.var(c) for c in self.candidates_of[name]])
        return self.extra_var[key]

    def require(self, reason: Reason, matching: Sequence[Candidate], *, guard: Sequence[int] = (), extras: Sequence[str] = ()) -> None:
        """``guard`` implies one of ``matching`` (and the requested ``extras`` of its name)."""
        negated_guard = [-g for g in guard]
        self._add(negated_guard + [self.var(c) for c in matching], reason)
        if extras and reason.requirement is not None:
            name = canonicalize_name(reason.requirement.name)
            for extra in extras:
                self._add(negated_guard + [self.extra(name, extra)], reason)

    def exclude(self, reason: Reason, candidate: Candidate) -> None:
        self._add([-self.var(candidate)], reason)
