"""The resolution problem as CNF, for pycosat.

Read aloud, the encoding is:

* Each candidate (one version of one project) that some requirement accepts is a boolean
  variable: true means "install it". A candidate no requirement accepts can never be
  needed, so it gets no variable until a requirement accepts it.
* At most one candidate of each name is true, with Sinz's sequential counter: one helper
  variable and three clauses per candidate, added as candidates get their variables, so
  the encoding stays linear in the number of candidates instead of quadratic.
* Each requested extra ``name[extra]`` is a variable of its own.
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

import enum
from dataclasses import dataclass
from typing import Sequence

from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name

from satlock.resolver.candidates import Candidate
from satlock.resolver.origin import Origin


class ReasonKind(enum.StrEnum):
    """What made a clause; ``explain`` words each kind its own way."""

    ROOT = "root"
    DEPENDENCY = "dependency"
    CONSTRAINT = "constraint"
    PYTHON = "python"
    UNAVAILABLE = "unavailable"
    VARIANT = "variant"
    BUILT_AGAINST = "built-against"
    UNBUILDABLE = "unbuildable"


@dataclass(frozen=True)
class Reason:
    """Where a clause comes from, in words a user knows.

    ``kind`` is ``root`` (the project asks for ``requirement``; ``where`` says in which
    table), ``dependency`` (``parent`` depends on ``requirement``), ``constraint``
    (``[tool.satlock] constraints``), ``python`` (``parent`` needs another Python),
    ``unavailable`` (``parent``'s metadata cannot be had; ``detail`` says why), or, for
    one build of ``parent`` (``detail`` says against what), ``variant`` (that build declared
    ``requirement``) and ``built-against`` (it was built against ``requirement``), or
    ``unbuildable`` (``parent``'s build environment cannot take the versions chosen).
    """

    kind: ReasonKind
    requirement: Requirement | None = None
    parent: Candidate | None = None
    where: Origin | None = None
    detail: str = ""


Clause = list[int]


class Encoding:
    """Variables and clauses of one resolution, grown as candidates are expanded."""

    def __init__(self) -> None:
        self.clauses: list[Clause] = []
        self.reasons: list[Reason | None] = []
        self.num_vars = 0
        self.rewrites = 0
        self.var_of: dict[tuple[str, str], int] = {}
        self.candidate_of: dict[int, Candidate] = {}
        self.candidates_of: dict[NormalizedName, list[Candidate]] = {}
        self.extra_var: dict[tuple[NormalizedName, str], int] = {}
        self.new_extras: list[tuple[NormalizedName, str]] = []
        self._chain: dict[NormalizedName, tuple[int, int | None]] = {}
        self._members: dict[NormalizedName, list[tuple[int, int | None]]] = {}
        self._pending_exclusions: dict[tuple[str, str], list[Reason]] = {}
        self._only: dict[NormalizedName, list[tuple[int, tuple[str, str], Reason | None]]] = {}

    def _new_var(self) -> int:
        self.num_vars += 1
        return self.num_vars

    def _add(self, clause: Clause, reason: Reason | None = None) -> None:
        self.clauses.append(clause)
        self.reasons.append(reason)

    def add_name(self, name: NormalizedName, candidates: Sequence[Candidate]) -> None:
        """Introduce the candidates of ``name``, in preference order (no variables yet)."""
        self.candidates_of[name] = list(candidates)

    def var(self, candidate: Candidate) -> int:
        """The candidate's variable, created (and added to its name's at-most-one) on first use."""
        v = self.var_of.get(candidate.key)
        if v is not None:
            return v
        v = self._new_var()
        self.var_of[candidate.key] = v
        self.candidate_of[v] = candidate
        self._at_most_one_append(candidate.name, v)
        for reason in self._pending_exclusions.pop(candidate.key, []):
            self._add([-v], reason)
        for guard, allowed, reason in self._only.get(candidate.name, ()):
            if candidate.key != allowed:
                self._add([-guard, -v], reason)
        return v

    def _at_most_one_append(self, name: NormalizedName, x: int) -> None:
        # Sinz's sequential counter, grown one element at a time: s_i means "one of x_1..x_i
        # is true"; appending x_n adds s_{n-1} with its three clauses.
        last = self._chain.get(name)
        if last is None:
            self._chain[name] = (x, None)
            self._members[name] = [(x, None)]
            return
        previous, s_before = last
        s = self._new_var()
        self._add([-previous, s])
        if s_before is not None:
            self._add([-s_before, s])
        self._add([-x, -s])
        self._chain[name] = (x, s)
        self._members[name].append((x, s))

    def only(self, name: NormalizedName, x: int) -> dict[int, bool]:
        """The values of ``name``'s candidate variables and at-most-one helpers when the
        candidate variable ``x`` is the only one true (see ``_at_most_one_append``)."""
        values: dict[int, bool] = {}
        seen = False
        for var, helper in self._members.get(name, ()):
            if helper is not None:
                values[helper] = seen  # "one of the earlier candidates is true"
            values[var] = var == x
            seen = seen or var == x
        return values

    def has_var(self, candidate: Candidate) -> bool:
        return candidate.key in self.var_of

    def extra(self, name: NormalizedName, extra: str) -> int:
        """The variable of ``name[extra]``: it only matters together with a candidate of ``name``."""
        key = (name, extra)
        if key not in self.extra_var:
            self.extra_var[key] = self._new_var()
            self.new_extras.append(key)
        return self.extra_var[key]

    def require(self, reason: Reason, matching: Sequence[Candidate], *, guard: Sequence[int] = (), extras: Sequence[str] = ()) -> None:
        """``guard`` implies one of ``matching`` (and the requested ``extras`` of its name)."""
        negated_guard = [-g for g in guard]
        self._add(negated_guard + [self.var(c) for c in matching], reason)
        if extras and reason.requirement is not None:
            name = canonicalize_name(reason.requirement.name)
            for extra in extras:
                self._add(negated_guard + [self.extra(name, extra)], reason)

    def take_new_extra(self) -> tuple[NormalizedName, str] | None:
        """The newest extra ``name[extra]`` that got a variable and was not taken yet (the
        solver adds the clauses of what it brings in), or None."""
        return self.new_extras.pop() if self.new_extras else None

    def extras_of(self, name: NormalizedName) -> list[tuple[str, int]]:
        """Every extra of ``name`` asked for so far, with its variable."""
        return [(extra, v) for (n, extra), v in self.extra_var.items() if n == name]

    def clause_count(self) -> int:
        return len(self.clauses)

    def clauses_since(self, start: int) -> list[Clause]:
        """The clauses added since there were ``start`` of them."""
        return self.clauses[start:]

    def clauses_with_reasons(self) -> list[tuple[Clause, Reason | None]]:
        """Every clause with its reason (``None`` for the structural ones), for ``explain``."""
        return list(zip(self.clauses, self.reasons))

    def new_variable(self) -> int:
        """A variable that stands for no candidate (a build variant, say); the caller gives it clauses."""
        return self._new_var()

    def add_clause(self, clause: Clause, reason: Reason | None = None) -> int:
        """Add ``clause``; returns its index, for ``extend_clause``."""
        self._add(clause, reason)
        return len(self.clauses) - 1

    def extend_clause(self, index: int, literals: Sequence[int]) -> None:
        """Widen the clause at ``index`` (a disjunction that gains alternatives as they are found)."""
        self.clauses[index] = self.clauses[index] + list(literals)
        self.rewrites += 1

    def only_version(self, guard: int, candidate: Candidate, reason: Reason | None) -> None:
        """``guard`` implies that no other candidate of ``candidate``'s name is chosen (now or
        once it gets a variable); the name itself may still be absent."""
        self._only.setdefault(candidate.name, []).append((guard, candidate.key, reason))
        for other in self.candidates_of.get(candidate.name, []):
            v = self.var_of.get(other.key)
            if v is not None and other.key != candidate.key:
                self._add([-guard, -v], reason)

    def exclude(self, reason: Reason, candidate: Candidate) -> None:
        if candidate.key in self.var_of:
            self._add([-self.var_of[candidate.key]], reason)
        else:
            self._pending_exclusions.setdefault(candidate.key, []).append(reason)
