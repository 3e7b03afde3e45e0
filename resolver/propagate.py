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

Clauses are only added, or widened with new variables (``widen``: a shared candidate
variable split, a build variant found), so one trail serves the whole solve loop; it is
built again only when a widened clause may have forced what it holds.

Propagation watches two literals per clause. A question asked with a model at hand (the
preference search always has one) is sent as its connected component only, numbered
densely, when that is small (see resolver/component.py).
"""

from __future__ import annotations

from typing import Container, Iterable, Sequence

import pycosat

from satlock.resolver.component import open_component
from satlock.resolver.model import FALSE, TRUE, UNKNOWN, Model

# The trail may grow by this many literals (or an eighth of the clauses) before the reduced
# problem is computed again.
REFRESH = 256
# A failed-literal probe gives up after assigning this many literals: most conflicts show
# early, and a long propagation (a package with a thousand versions) costs more in Python
# than the solver call it might save.
PROBE_LIMIT = 100
# The most clauses a question's component may have to be solved on its own (see
# resolver/component.py); past it the whole reduced problem is sent.
COMPONENT_LIMIT = 3000
# After a component was too big, the trail grows this much before the walk is tried again.
COMPONENT_RETRY = 64


def _slot(lit: int) -> int:
    return 2 * lit if lit > 0 else -2 * lit + 1


def _rank(value: bytearray, lit: int) -> int:
    """0 when ``lit`` is true, 1 when unassigned, 2 when false (for choosing watches)."""
    current = value[lit if lit > 0 else -lit]
    if not current:
        return 1
    return 0 if (current == TRUE) == (lit > 0) else 2


class Trail:
    """The decisions of one search over a fixed list of clauses, propagated."""

    def __init__(self) -> None:
        self.num_vars = 0
        self.value = bytearray(1)
        self._clauses: list[list[int]] = []
        self._occ: list[list[int]] = [[], []]
        self._watches: list[list[int]] = [[], []]
        self._trail: list[int] = []
        # Reduced problems, each with the trail length it was computed at (increasing).
        self._caches: list[tuple[int, list[list[int]]]] = []
        self.conflict = False
        self._contradicted: int | None = None
        self.solver_calls = 0
        # The last components found too big (see solve): the trail length then, what the walk saw.
        self._too_big: list[tuple[int, Container[int]]] = []
        # Where each clause given to ``add`` is kept, in the order given (None: a tautology,
        # not kept); and the trail's length when the last ``add`` had propagated.
        self._kept_at: list[int | None] = []
        self._settled = 0
        self._known_vars = 0  # the variables the clauses given so far may have

    def _grow(self, num_vars: int) -> None:
        if num_vars > self.num_vars:
            grow = num_vars - self.num_vars
            self.value.extend(bytes(grow))
            self._occ.extend([] for _ in range(2 * grow))
            self._watches.extend([] for _ in range(2 * grow))
            self.num_vars = num_vars

    def add(self, clauses: Sequence[Sequence[int]], num_vars: int) -> None:
        """Add clauses (and variables up to ``num_vars``); only while nothing is decided
        (what the trail holds then follows from the clauses, so it stays true)."""
        self._grow(num_vars)
        value, occ, watches = self.value, self._occ, self._watches
        units: list[int] = []
        first_new = len(self._clauses)
        for clause in clauses:
            lits = list(dict.fromkeys(clause))
            if len(lits) > 1 and len(set(map(abs, lits))) < len(lits):
                self._kept_at.append(None)
                continue  # a tautology (both a literal and its negation): always satisfied
            index = len(self._clauses)
            self._kept_at.append(index)
            for lit in lits:
                occ[_slot(lit)].append(index)
            # Watch two literals that are not false (true ones first), if there are two.
            lits.sort(key=lambda lit: _rank(value, lit))
            self._clauses.append(lits)
            if not lits:
                self.conflict = True
                continue
            if len(lits) >= 2:
                watches[_slot(lits[0])].append(index)
                watches[_slot(lits[1])].append(index)
            first = _rank(value, lits[0])
            if first == 2:
                self.conflict = True
            elif first == 1 and (len(lits) == 1 or _rank(value, lits[1]) == 2):
                units.append(lits[0])
        if units and not self._assign(units):
            self.conflict = True
        self._settled, self._known_vars = len(self._trail), num_vars
        # A reduced problem stays valid with the new clauses reduced the same way (the trail's
        # literals since it was computed are sent as units anyway).
        for _, reduced in self._caches:
            reduced.extend(self._reduce(self._clauses[first_new:]))

    def widen(self, given: int, lits: Sequence[int], num_vars: int) -> bool:
        """Add ``lits`` (new variables) to the ``given``-th clause added; False, changing nothing,
        when the trail must be built anew: only a clause with all but one literal false forced
        anything (which may no longer follow), and only while nothing was decided or learned."""
        if self.conflict or self._contradicted is not None or len(self._trail) != self._settled:
            return False
        index = self._kept_at[given]
        if index is None:
            return True  # a tautology stays one
        clause = self._clauses[index]
        if sum(1 for lit in clause if not self.is_false(lit)) < 2:
            return False
        if any(abs(lit) <= self._known_vars for lit in lits):
            return False  # not a new variable: the rule above does not cover it
        self._grow(num_vars)
        for lit in dict.fromkeys(lits):
            clause.append(lit)
            self._occ[_slot(lit)].append(index)
        self._caches.clear()
        self._too_big.clear()
        return True

    # -- propagation ---------------------------------------------------------------------

    def _assign(self, lits: Sequence[int], limit: int | None = None) -> bool:
        """Make ``lits`` true and propagate (two watched literals per clause); False on a
        conflict (the trail then holds what was assigned so far, for ``undo``). With
        ``limit``, stop (True: no conflict found) once that many literals are assigned."""
        value, watches, clauses, trail = self.value, self._watches, self._clauses, self._trail
        queue = list(lits)
        stop = len(trail) + limit if limit is not None else None
        while queue:
            if stop is not None and len(trail) >= stop:
                return True
            lit = queue.pop()
            var = lit if lit > 0 else -lit
            want = TRUE if lit > 0 else FALSE
            current = value[var]
            if current:
                if current != want:
                    return False
                continue
            value[var] = want
            trail.append(lit)
            false = -lit
            slot = _slot(false)
            watching = watches[slot]
            keep: list[int] = []
            for position, index in enumerate(watching):
                clause = clauses[index]
                if clause[0] == false:
                    clause[0], clause[1] = clause[1], false
                other = clause[0]
                v = other if other > 0 else -other
                if value[v] == (TRUE if other > 0 else FALSE):
                    keep.append(index)
                    continue
                for k in range(2, len(clause)):
                    candidate = clause[k]
                    w = candidate if candidate > 0 else -candidate
                    if value[w] != (FALSE if candidate > 0 else TRUE):
                        clause[1], clause[k] = candidate, false
                        watches[_slot(candidate)].append(index)
                        break
                else:
                    keep.append(index)
                    if value[v]:  # the other watch is false too: a conflict
                        keep.extend(watching[position + 1:])
                        watches[slot] = keep
                        return False
                    queue.append(other)
            watches[slot] = keep
        return True

    def mark(self) -> int:
        return len(self._trail)

    def undo(self, mark: int) -> None:
        """Take back every assignment made since ``mark`` (watches stay valid as they are)."""
        value, trail = self.value, self._trail
        while len(trail) > mark:
            lit = trail.pop()
            value[lit if lit > 0 else -lit] = UNKNOWN

    def backtrack(self, mark: int) -> None:
        """Take back the decisions made since ``mark`` (and what they propagated)."""
        if self._contradicted is not None and self._contradicted >= mark:
            self._contradicted = None
        self.undo(mark)
        self._too_big = [(at, walked) for at, walked in self._too_big if at <= mark]
        while self._caches and self._caches[-1][0] > mark:
            self._caches.pop()

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

    @property
    def contradicted(self) -> bool:
        """Whether a decision contradicted the earlier ones (every question is then unsatisfiable)."""
        return self._contradicted is not None

    def occurrences(self, var: int) -> list[int]:
        """The indices of the clauses over ``var`` (either sign), for ``clause``."""
        return self._occ[2 * var] + self._occ[2 * var + 1]

    def clause(self, index: int) -> list[int]:
        """The clause at ``index`` (its literals in some order; do not change it)."""
        return self._clauses[index]

    def is_false(self, lit: int) -> bool:
        value = self.value[lit if lit > 0 else -lit]
        return value == (FALSE if lit > 0 else TRUE)

    # -- questions -----------------------------------------------------------------------

    def _problem(self) -> list[list[int]]:
        """The clauses not satisfied by the trail, without their false literals, plus the
        trail's literals as units.

        Reducing costs a pass over the last reduced problem (the trail only grew since, so
        what it left out stays satisfied), so it is done again only once the trail has grown
        a good deal since; until then the literals assigned since are sent as units.
        """
        trail = self._trail
        if not self._caches or len(trail) - self._caches[-1][0] > max(REFRESH, len(self._clauses) // 8):
            last = self._caches[-1][1] if self._caches else self._clauses
            self._caches.append((len(trail), self._reduce(last)))
        at, reduced = self._caches[-1]
        return reduced + [[lit] for lit in trail[at:]]

    def _reduce(self, clauses: Iterable[list[int]]) -> list[list[int]]:
        """The ``clauses`` that the trail does not satisfy, without their false literals."""
        value = self.value
        reduced = []
        for clause in clauses:
            open_lits = []
            for lit in clause:
                current = value[lit if lit > 0 else -lit]
                if not current:
                    open_lits.append(lit)
                elif (current == TRUE) == (lit > 0):
                    break
            else:
                reduced.append(open_lits)
        return reduced

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
        if clause is None:
            return False
        if not units:
            # Failed literals: one whose propagation ends in a conflict is false under the
            # trail, for good (until a backtrack). The question is refuted only if every
            # literal fails, so the probing stops at the first that does not.
            for lit in clause:
                if value[lit if lit > 0 else -lit]:
                    continue
                mark = self.mark()
                failed = not self._assign([lit], PROBE_LIMIT)
                self.undo(mark)
                if not failed:
                    break
                self._learn([-lit])
        return all(value[lit if lit > 0 else -lit] == (FALSE if lit > 0 else TRUE) for lit in clause)

    def consistent_prefix(self, lits: Sequence[int]) -> int:
        """How many of ``lits``, added in order, propagate without a conflict (so the trail
        with one more of them is unsatisfiable); nothing changes."""
        if self.conflict or self._contradicted is not None:
            return 0
        mark = self.mark()
        count = 0
        for lit in lits:
            if not self._assign([lit]):
                break
            count += 1
        self.undo(mark)
        return count

    def _learn(self, lits: Sequence[int]) -> None:
        """Add ``lits``, which follow from the trail, to it (until a backtrack)."""
        before = self.mark()
        if not self._assign(lits):
            self.undo(before)
            self._contradicted = before

    def solve(self, units: Sequence[int] = (), clause: Sequence[int] | None = None,
              model: Model | None = None) -> Model | None:
        """A model of the clauses, the trail, ``units`` and ``clause``; None when there is none.

        With ``model`` (a model of the clauses that agrees with the trail), only the
        question's component is solved when it is small (see resolver/component.py), the rest
        of the answer taken from ``model``.
        """
        if self.refuted(units, clause):
            return None
        extra = [[u] for u in units]
        if clause is not None:
            extra.append([lit for lit in clause if not self.is_false(lit)])
        self.solver_calls += 1
        group: list[list[int]] | None = None
        number: dict[int, int] = {}
        start = [abs(lit) for c in extra for lit in c if not self.value[abs(lit)]]
        if model is not None and start and not any(self._satisfied(c) for c in extra):
            # A component found too big a moment ago is most likely still too big.
            length = len(self._trail)
            if not any(start[0] in walked and length < at + COMPONENT_RETRY for at, walked in self._too_big):
                group, number = open_component(self.value, self._occ, self._clauses, start, COMPONENT_LIMIT)
                if group is None:
                    self._too_big = [*self._too_big[-3:], (length, number.keys())]
        if group is not None:
            result = pycosat.solve(group + [[number[lit] if lit > 0 else -number[-lit] for lit in c] for c in extra],
                                   vars=len(number))
        else:
            result = pycosat.solve(self._problem() + extra, vars=self.num_vars)
        if result == "UNSAT":
            if clause is not None and not units:
                # No literal of ``clause`` can be true with the trail: say so once for all.
                self._learn([-lit for lit in clause if not self.is_false(lit)])
            return None
        if result == "UNKNOWN":
            raise RuntimeError("pycosat gave up")
        if group is not None and model is not None:
            return model.changed({var: lit > 0 for var, lit in zip(number, result)})
        return Model(bytes(self.value), result)

    def _satisfied(self, clause: Sequence[int]) -> bool:
        value = self.value
        return any(value[lit if lit > 0 else -lit] == (TRUE if lit > 0 else FALSE) for lit in clause)
