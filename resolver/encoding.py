"""The resolution problem as CNF: what the variables of resolver/cnf.py stand for.

Read aloud, the encoding is:

* Each candidate (one version of one project) that some requirement accepts is a boolean
  variable: true means "install it". A candidate no requirement accepts can never be
  needed, so it gets no variable until a requirement accepts it.
* Candidates of one name that no clause tells apart share one variable: those whose
  dependencies are not known yet (not expanded), with no clause of their own, accepted by
  exactly the same requirements. Any model that picks one of them can pick any other
  instead, so the shared variable stands for the most preferred of them (the search reads
  candidates in preference order, so it meets that one first). On a real project most
  candidates are such: prefect's 15,004 candidates with variables came to 1,423 variables,
  and pycosat's time grows with the variables it is sent. A candidate is given a variable
  of its own (``var``) before any clause names it alone (its dependencies, an exclusion, a
  build); a requirement that accepts only some of a shared variable's candidates splits
  it. A split widens every clause the old variable is in (a new variable for the other
  part, in each of them), so the clauses keep exactly the models they had.
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
    ``unbuildable`` (``parent``'s build environment cannot take the versions chosen;
    ``because``: its own conflict story, when that rests on no version chosen).
    """

    kind: ReasonKind
    requirement: Requirement | None = None
    parent: Candidate | None = None
    where: Origin | None = None
    detail: str = ""
    because: tuple[str, ...] = ()


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
        # Each candidate variable's candidates (one, or several that no clause tells apart),
        # and the clauses it is in, by sign (the at-most-one structure not counted).
        self._members: dict[int, list[tuple[str, str]]] = {}
        self._positive: dict[int, list[int]] = {}
        self._negative: dict[int, list[int]] = {}
        self._with_vars: dict[NormalizedName, list[Candidate]] = {}

    # -- the clause algebra, read-only ----------------------------------------------------

    @property
    def num_vars(self) -> int:
        return self._cnf.num_vars

    def widened_since(self, start: int) -> list[tuple[int, tuple[int, ...]]]:
        """The clauses widened in place since there were ``start`` widenings (index, new
        literals): a copy of the clauses widens its own the same way."""
        return self._cnf.widened_since(start)

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
        self._with_vars.pop(name, None)

    def var(self, candidate: Candidate) -> int:
        """The candidate's own variable, created (and added to its name's at-most-one) on
        first use, or split from the variable it shared: for a clause about this candidate alone."""
        v = self._var_of.get(candidate.key)
        if v is None:
            return self._new_var(candidate.name, [candidate.key])
        if len(self._members[v]) == 1:
            return v
        return self._split(v, [candidate.key])

    def var_of(self, candidate: Candidate) -> int:
        """The variable that stands for ``candidate`` now (it has one: ``has_var``), which
        it may share with candidates no clause tells apart from it; for reading a model."""
        return self._var_of[candidate.key]

    def vars_for(self, candidates: Sequence[Candidate]) -> list[int]:
        """Variables of which one is true exactly when one of ``candidates`` is chosen, for
        a clause over them all: a shared variable they cover only in part is split; those
        without a variable share a new one (but one with an exclusion or a pin waiting gets
        its own)."""
        covered: dict[int, list[tuple[str, str]]] = {}
        fresh: list[Candidate] = []
        for c in candidates:
            v = self._var_of.get(c.key)
            if v is None:
                fresh.append(c)
            else:
                covered.setdefault(v, []).append(c.key)
        result = []
        for v, keys in covered.items():
            result.append(v if len(keys) == len(self._members[v]) else self._split(v, keys))
        plain = []
        for c in fresh:
            if c.key in self._pending_exclusions or any(c.key == allowed for _, allowed, _ in self._only.get(c.name, ())):
                result.append(self._new_var(c.name, [c.key]))
            else:
                plain.append(c.key)
        if plain:
            result.append(self._new_var(fresh[0].name, plain))
        return result

    def _new_var(self, name: NormalizedName, keys: list[tuple[str, str]], *, rules: bool = True) -> int:
        """A new variable for the candidates ``keys`` of ``name``, in its at-most-one; with
        ``rules``, the exclusions and pins already stated about them apply to it."""
        v = self._cnf.new_var()
        self._with_vars.pop(name, None)
        self._members[v] = keys
        self._positive[v] = []
        self._negative[v] = []
        for key in keys:
            self._var_of[key] = v
        self._name_of_var[v] = name
        group = self._groups.get(name)
        if group is None:
            group = self._groups[name] = self._cnf.at_most_one()
        group.add(v)
        if rules:
            for key in keys:
                for reason in self._pending_exclusions.pop(key, []):
                    self._add([-v], reason)
            for guard, allowed, reason in self._only.get(name, ()):
                if allowed not in keys:
                    self._add([-guard, -v], reason)
        return v

    def _split(self, v: int, keys: list[tuple[str, str]]) -> int:
        """Give ``keys``, some of ``v``'s candidates, a variable of their own and return it:
        it goes into every clause ``v`` is in (widening those where ``v`` is a choice, a
        copy of those that rule ``v`` out), so the clauses keep their models."""
        moving = set(keys)
        self._members[v] = [k for k in self._members[v] if k not in moving]
        w = self._new_var(self._name_of_var[v], list(keys), rules=False)
        for index in self._positive[v]:
            self._cnf.extend(index, [w])
            self._positive[w].append(index)
        for index in list(self._negative[v]):
            self._add([-w if lit == -v else lit for lit in self._cnf.clause(index)], self._cnf.reason(index))
        return w

    def _add(self, clause: Clause, reason: Reason | None) -> int:
        """Add a clause, noting which candidate variables it is in (for ``_split``)."""
        index = self._cnf.add(clause, reason)
        for lit in clause:
            occurrences = (self._positive if lit > 0 else self._negative).get(abs(lit))
            if occurrences is not None:
                occurrences.append(index)
        return index

    def with_vars(self, name: NormalizedName) -> list[Candidate]:
        """The candidates of ``name`` that have a variable, in preference order (kept until
        one more gets a variable: the search asks for them hundreds of times; do not change
        the list)."""
        found = self._with_vars.get(name)
        if found is None:
            found = self._with_vars[name] = [c for c in self.candidates_of.get(name, []) if c.key in self._var_of]
        return found

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
        index = self._add(negated_guard + self.vars_for(matching), reason)
        if matching:
            self._requiring.setdefault(matching[0].name, []).append(index)
        if extras and reason.requirement is not None:
            name = canonicalize_name(reason.requirement.name)
            for extra in extras:
                self._add(negated_guard + [self.extra(name, extra)], reason)

    def requiring(self, name: NormalizedName) -> list[Clause]:
        """The clauses (as they are now) that ask for a candidate of ``name``, each under its
        guard: what resolver/domain.py reads to tell which versions a decision
        already rules out."""
        return [self._cnf.clause(i) for i in self._requiring.get(name, ())]

    def new_variable(self) -> int:
        """A variable that stands for no candidate (a build variant, say); the caller gives it clauses."""
        return self._cnf.new_var()

    def add_clause(self, clause: Clause, reason: Reason | None = None) -> int:
        """Add ``clause`` (a candidate in it by ``var``, or by ``vars_for`` with all those
        it stands for); returns its index, for ``extend_clause``."""
        return self._add(clause, reason)

    def extend_clause(self, index: int, literals: Sequence[int]) -> None:
        """Widen the clause at ``index`` (a disjunction that gains alternatives as they are found)."""
        self._cnf.extend(index, literals)

    def only_version(self, guard: int, candidate: Candidate, reason: Reason | None) -> None:
        """``guard`` implies that no other candidate of ``candidate``'s name is chosen (now or
        once it gets a variable); the name itself may still be absent."""
        own = self.var(candidate) if candidate.key in self._var_of else None
        self._only.setdefault(candidate.name, []).append((guard, candidate.key, reason))
        ruled_out = dict.fromkeys(v for other in self.candidates_of.get(candidate.name, [])
                                  if (v := self._var_of.get(other.key)) is not None and v != own)
        for v in ruled_out:
            self._add([-guard, -v], reason)

    def exclude(self, reason: Reason, candidate: Candidate) -> None:
        """``candidate`` is never chosen (now or once it gets a variable)."""
        if candidate.key in self._var_of:
            self._add([-self.var(candidate)], reason)
        else:
            self._pending_exclusions.setdefault(candidate.key, []).append(reason)
