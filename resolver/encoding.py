"""The resolution problem as CNF: what the variables of resolver/cnf.py stand for.

Read aloud, the encoding is:

* Each candidate (one version of one project) that some requirement accepts is a boolean
  variable: true means "install it". A candidate no requirement accepts can never be
  needed, so it gets no variable until a requirement accepts it.
* At most one candidate of each name is true: each name is one at-most-one group of the
  clause algebra (linear in the number of candidates), grown as candidates get variables.
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
from typing import Callable, Sequence

from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name

from satlock.resolver.candidates import Candidate
from satlock.resolver.cnf import AtMostOne, Clause, Clauses
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


class Encoding:
    """Variables and clauses of one resolution, grown as candidates are expanded."""

    def __init__(self) -> None:
        self._cnf: Clauses[Reason] = Clauses()
        self._var_of: dict[tuple[str, str], int] = {}
        self.candidates_of: dict[NormalizedName, list[Candidate]] = {}
        self._extra_var: dict[tuple[NormalizedName, str], int] = {}
        self._extras_by_name: dict[NormalizedName, list[tuple[str, int]]] = {}
        self._new_extras: list[tuple[NormalizedName, str]] = []
        self._groups: dict[NormalizedName, AtMostOne] = {}
        self._pending_exclusions: dict[tuple[str, str], list[Reason]] = {}
        self._only: dict[NormalizedName, list[tuple[int, tuple[str, str], Reason | None]]] = {}
        self._name_of_var: dict[int, NormalizedName] = {}
        self._extra_vars: set[int] = set()
        self._requiring: dict[NormalizedName, list[int]] = {}

    # -- the clause algebra, read-only ----------------------------------------------------

    @property
    def num_vars(self) -> int:
        return self._cnf.num_vars

    @property
    def rewrites(self) -> int:
        """How many clauses were widened in place (a copy of the clauses must start over)."""
        return self._cnf.rewrites

    def clause_count(self) -> int:
        return self._cnf.count()

    def clauses_since(self, start: int) -> list[Clause]:
        """The clauses added since there were ``start`` of them."""
        return self._cnf.since(start)

    def clauses_with_reasons(self) -> list[tuple[Clause, Reason | None]]:
        """Every clause with its reason (``None`` for the structural ones), for ``explain``."""
        return self._cnf.with_reasons()

    # -- candidates -------------------------------------------------------------------------

    def add_name(self, name: NormalizedName, candidates: Sequence[Candidate]) -> None:
        """Introduce the candidates of ``name``, in preference order (no variables yet)."""
        self.candidates_of[name] = list(candidates)

    def var(self, candidate: Candidate) -> int:
        """The candidate's variable, created (and added to its name's at-most-one) on first use."""
        v = self._var_of.get(candidate.key)
        if v is not None:
            return v
        v = self._cnf.new_var()
        self._var_of[candidate.key] = v
        self._name_of_var[v] = candidate.name
        group = self._groups.get(candidate.name)
        if group is None:
            group = self._groups[candidate.name] = self._cnf.at_most_one()
        group.add(v)
        for reason in self._pending_exclusions.pop(candidate.key, []):
            self._cnf.add([-v], reason)
        for guard, allowed, reason in self._only.get(candidate.name, ()):
            if candidate.key != allowed:
                self._cnf.add([-guard, -v], reason)
        return v

    def has_var(self, candidate: Candidate) -> bool:
        return candidate.key in self._var_of

    def name_of(self, var: int) -> NormalizedName | None:
        """The name whose candidate ``var`` stands for; None for any other variable."""
        return self._name_of_var.get(var)

    def move(self, name: NormalizedName, x: int, holds: Callable[[int], bool]) -> dict[int, bool]:
        """What changes in a model (``holds``) when the candidate variable ``x`` of ``name``
        becomes its only one true (see ``AtMostOne.move``)."""
        return self._groups[name].move(x, holds)

    # -- extras -----------------------------------------------------------------------------

    def extra(self, name: NormalizedName, extra: str) -> int:
        """The variable of ``name[extra]``: it only matters together with a candidate of ``name``."""
        key = (name, extra)
        v = self._extra_var.get(key)
        if v is None:
            v = self._extra_var[key] = self._cnf.new_var()
            self._extra_vars.add(v)
            self._extras_by_name.setdefault(name, []).append((extra, v))
            self._new_extras.append(key)
        return v

    def is_extra(self, var: int) -> bool:
        """Whether ``var`` is the variable of some ``name[extra]``."""
        return var in self._extra_vars

    def take_new_extra(self) -> tuple[NormalizedName, str] | None:
        """The newest extra ``name[extra]`` that got a variable and was not taken yet (the
        solver adds the clauses of what it brings in), or None."""
        return self._new_extras.pop() if self._new_extras else None

    def extras_of(self, name: NormalizedName) -> list[tuple[str, int]]:
        """Every extra of ``name`` asked for so far, with its variable."""
        return list(self._extras_by_name.get(name, ()))

    # -- clauses ----------------------------------------------------------------------------

    def require(self, reason: Reason, matching: Sequence[Candidate], *, guard: Sequence[int] = (), extras: Sequence[str] = ()) -> None:
        """``guard`` implies one of ``matching`` (and the requested ``extras`` of its name)."""
        negated_guard = [-g for g in guard]
        index = self._cnf.add(negated_guard + [self.var(c) for c in matching], reason)
        if matching:
            self._requiring.setdefault(matching[0].name, []).append(index)
        if extras and reason.requirement is not None:
            name = canonicalize_name(reason.requirement.name)
            for extra in extras:
                self._cnf.add(negated_guard + [self.extra(name, extra)], reason)

    def requiring(self, name: NormalizedName) -> list[Clause]:
        """The clauses (as they are now) that ask for a candidate of ``name``, each under its
        guard: what ``domain`` in resolver/solve.py reads to tell which versions a decision
        already rules out."""
        return [self._cnf.clause(i) for i in self._requiring.get(name, ())]

    def new_variable(self) -> int:
        """A variable that stands for no candidate (a build variant, say); the caller gives it clauses."""
        return self._cnf.new_var()

    def add_clause(self, clause: Clause, reason: Reason | None = None) -> int:
        """Add ``clause``; returns its index, for ``extend_clause``."""
        return self._cnf.add(clause, reason)

    def extend_clause(self, index: int, literals: Sequence[int]) -> None:
        """Widen the clause at ``index`` (a disjunction that gains alternatives as they are found)."""
        self._cnf.extend(index, literals)

    def only_version(self, guard: int, candidate: Candidate, reason: Reason | None) -> None:
        """``guard`` implies that no other candidate of ``candidate``'s name is chosen (now or
        once it gets a variable); the name itself may still be absent."""
        self._only.setdefault(candidate.name, []).append((guard, candidate.key, reason))
        for other in self.candidates_of.get(candidate.name, []):
            v = self._var_of.get(other.key)
            if v is not None and other.key != candidate.key:
                self._cnf.add([-guard, -v], reason)

    def exclude(self, reason: Reason, candidate: Candidate) -> None:
        """``candidate`` is never chosen (now or once it gets a variable)."""
        if candidate.key in self._var_of:
            self._cnf.add([-self._var_of[candidate.key]], reason)
        else:
            self._pending_exclusions.setdefault(candidate.key, []).append(reason)
