"""Unit propagation in front of pycosat, which is not incremental.

The preference search asks hundreds of questions of one fixed set of clauses, each under
the decisions made so far plus a few more literals ("is foo 2.1 or 2.0 still possible?").
Sent as is, every question re-sends every clause. A ``Trail`` keeps the decisions and what
unit propagation derives from them, so that a question

* whose literals are all false under propagation (or whose extra units propagate to a
  conflict) is answered UNSAT without a solver call;
* that does need the solver sends only the reduced problem: the clauses not satisfied yet,
  without their false literals, computed once per new decision, not once per question.

The answers are the same as the full problem's (unit propagation is sound; the reduced
problem together with the trail has exactly the full problem's models), only the model may
differ where nothing decides it, and the search's result never depends on that.

Propagation counts, per clause, its true literals and its literals not yet false (no
watched literals: the trail only grows, except while a question's own literals are tried,
and those are undone right after).
"""

from __future__ import annotations

from typing import Mapping, Sequence

import pycosat

# value[v]: what variable v is under the trail.
UNKNOWN, TRUE, FALSE = 0, 1, 2
# The trail may grow by this many literals (or an eighth of the clauses) before the reduced
# problem is computed again.
REFRESH = 256


def _slot(lit: int) -> int:
    return 2 * lit if lit > 0 else -2 * lit + 1


class Model:
    """A satisfying assignment: the trail's values where it decided, the solver's elsewhere,
    and ``changes`` over both (a model repaired without the solver, see ``Trail.repair``)."""

    __slots__ = ("_values", "_solution", "_changes")

    def __init__(self, values: bytes, solution: Sequence[int], changes: Mapping[int, bool] | None = None) -> None:
        self._values = values
        self._solution = solution
        self._changes = changes

    def __contains__(self, var: int) -> bool:
        """Whether the (positive) variable ``var`` is true."""
        if self._changes:
            changed = self._changes.get(var)
            if changed is not None:
                return changed
        value = self._values[var] if var < len(self._values) else UNKNOWN
        if value:
            return value == TRUE
        return var <= len(self._solution) and self._solution[var - 1] > 0

    def holds(self, lit: int) -> bool:
        return (lit in self) if lit > 0 else (-lit not in self)

    def changed(self, changes: Mapping[int, bool]) -> "Model":
        return Model(self._values, self._solution, {**(self._changes or {}), **changes})


class Trail:
    """The decisions of one search over a fixed list of clauses, propagated."""

    def __init__(self) -> None:
        self.num_vars = 0
        self.value = bytearray(1)
        self._clauses: list[list[int]] = []
        self._occ: list[list[int]] = [[], []]
        self._true: list[int] = []
        self._free: list[int] = []
        self._trail: list[int] = []
        self._reduced: list[list[int]] | None = None
        self._reduced_at = 0
        self.conflict = False
        self._contradicted: int | None = None
        self.solver_calls = 0

    def add(self, clauses: Sequence[Sequence[int]], num_vars: int) -> None:
        """Add clauses (and variables up to ``num_vars``); only while nothing is decided
        (what the trail holds then follows from the clauses, so it stays true)."""
        if num_vars > self.num_vars:
            self.value.extend(bytes(num_vars - self.num_vars))
            self._occ.extend([] for _ in range(2 * (num_vars - self.num_vars)))
            self.num_vars = num_vars
        value, occ = self.value, self._occ
        units: list[int] = []
        for clause in clauses:
            lits = list(dict.fromkeys(clause))
            if len(lits) > 1 and len(set(map(abs, lits))) < len(lits):
                continue  # a tautology (both a literal and its negation): always satisfied
            index = len(self._clauses)
            self._clauses.append(lits)
            true = free = 0
            for lit in lits:
                occ[_slot(lit)].append(index)
                current = value[lit if lit > 0 else -lit]
                if not current:
                    free += 1
                elif (current == TRUE) == (lit > 0):
                    true += 1
                    free += 1
            self._true.append(true)
            self._free.append(free)
            if not true:
                if free == 0:
                    self.conflict = True
                elif free == 1:
                    units.extend(lit for lit in lits if not value[lit if lit > 0 else -lit])
        if units and not self._assign(units):
            self.conflict = True
        self._reduced = None

    # -- propagation ---------------------------------------------------------------------

    def _assign(self, lits: Sequence[int]) -> bool:
        """Make ``lits`` true and propagate; False on a conflict (the trail then holds what
        was assigned so far, consistently, for ``undo``)."""
        value, occ, true, free, clauses, trail = self.value, self._occ, self._true, self._free, self._clauses, self._trail
        queue = list(lits)
        ok = True
        while queue and ok:
            lit = queue.pop()
            var = lit if lit > 0 else -lit
            want = TRUE if lit > 0 else FALSE
            current = value[var]
            if current:
                if current != want:
                    ok = False
                continue
            value[var] = want
            trail.append(lit)
            for index in occ[_slot(lit)]:
                true[index] += 1
            for index in occ[_slot(-lit)]:
                free[index] -= 1
                if true[index]:
                    continue
                left = free[index]
                if left == 0:
                    ok = False
                elif left == 1:
                    for other in clauses[index]:
                        v = other if other > 0 else -other
                        if not value[v]:
                            queue.append(other)
                            break
        return ok

    def mark(self) -> int:
        return len(self._trail)

    def undo(self, mark: int) -> None:
        """Take back every assignment made since ``mark``."""
        value, occ, true, free, trail = self.value, self._occ, self._true, self._free, self._trail
        while len(trail) > mark:
            lit = trail.pop()
            value[lit if lit > 0 else -lit] = UNKNOWN
            for index in occ[_slot(lit)]:
                true[index] -= 1
            for index in occ[_slot(-lit)]:
                free[index] += 1

    def backtrack(self, mark: int) -> None:
        """Take back the decisions made since ``mark`` (and what they propagated)."""
        if self._contradicted is not None and self._contradicted >= mark:
            self._contradicted = None
        self.undo(mark)
        if self._reduced_at > mark:
            self._reduced = None

    def decide(self, lit: int) -> None:
        """Add ``lit`` to the decisions. Decisions are made from models, so they hold
        together; one that does not leaves every later question unsatisfiable, as it would
        be with the decisions sent as unit clauses."""
        if self._contradicted is not None:
            return
        before = self.mark()
        if not self._assign([lit]):
            self.undo(before)
            self._contradicted = before

    def is_false(self, lit: int) -> bool:
        value = self.value[lit if lit > 0 else -lit]
        return value == (FALSE if lit > 0 else TRUE)

    # -- questions -----------------------------------------------------------------------

    def _problem(self) -> list[list[int]]:
        """The clauses not satisfied by the trail, without their false literals, plus the
        trail's literals as units.

        Reducing costs a pass over every clause, so it is done again only once the trail has
        grown a good deal since; until then the literals assigned since are sent as units.
        """
        trail = self._trail
        if self._reduced is None or len(trail) - self._reduced_at > max(REFRESH, len(self._clauses) // 8):
            value, true = self.value, self._true
            self._reduced = [[lit for lit in clause if not value[lit if lit > 0 else -lit]]
                             for clause, t in zip(self._clauses, true) if not t]
            self._reduced_at = len(trail)
        return self._reduced + [[lit] for lit in trail[self._reduced_at:]]

    def refuted(self, units: Sequence[int] = (), clause: Sequence[int] | None = None) -> bool:
        """Whether the trail alone shows ``units`` plus ``clause`` unsatisfiable (a literal
        they need is already false).

        Propagating the question's own literals would find more, but in Python it costs
        more than the solver call it saves.
        """
        if self.conflict or self._contradicted is not None:
            return True
        value = self.value
        for lit in units:
            if value[lit if lit > 0 else -lit] == (FALSE if lit > 0 else TRUE):
                return True
        if clause is not None:
            return all(value[lit if lit > 0 else -lit] == (FALSE if lit > 0 else TRUE) for lit in clause)
        return False

    def _learn(self, lits: Sequence[int]) -> None:
        """Add ``lits``, which follow from the trail, to it (until a backtrack)."""
        before = self.mark()
        if not self._assign(lits):
            self.undo(before)
            self._contradicted = before

    def repair(self, model: Model, changes: Mapping[int, bool]) -> Model | None:
        """``model`` with ``changes``, if that is still a model of the clauses (only the
        clauses over a changed variable can break); None when one does.

        A model satisfies the clauses and the decisions, so it agrees with everything the
        trail derived; the repaired one does too, and so it answers a question that it
        satisfies as well as a solver call would.
        """
        if not changes or self.conflict or self._contradicted is not None:
            return None
        repaired = model.changed(changes)
        occ, clauses = self._occ, self._clauses
        seen: set[int] = set()
        for var in changes:
            if var > self.num_vars:
                return None
            for index in occ[2 * var] + occ[2 * var + 1]:
                if index in seen:
                    continue
                seen.add(index)
                if not any(repaired.holds(lit) for lit in clauses[index]):
                    return None
        return repaired

    def solve(self, units: Sequence[int] = (), clause: Sequence[int] | None = None) -> Model | None:
        """A model of the clauses, the trail, ``units`` and ``clause``; None when there is none."""
        if self.refuted(units, clause):
            return None
        extra = [[u] for u in units]
        if clause is not None:
            extra.append([lit for lit in clause if not self.is_false(lit)])
        self.solver_calls += 1
        result = pycosat.solve(self._problem() + extra, vars=self.num_vars)
        if result == "UNSAT":
            if clause is not None and not units:
                # No literal of ``clause`` can be true with the trail: say so once for all.
                self._learn([-lit for lit in clause if not self.is_false(lit)])
            return None
        if result == "UNKNOWN":
            raise RuntimeError("pycosat gave up")
        return Model(bytes(self.value), result)
