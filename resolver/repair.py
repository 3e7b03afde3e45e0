"""Moving a model to a more preferred version without the solver, dependencies included.

The preference search (resolver/solve.py) asks, package by package, whether a more
preferred version is still possible. Often it is, and a model showing so is near the one
at hand: the package at the new version, and a few of its dependencies moved to versions
that the new version accepts. Asked of pycosat, each such question re-sends the whole
problem; this module looks for that nearby model first, by a bounded greedy local search:

* apply the move; every clause over a changed variable is checked again;
* a clause that no longer holds is mended by moving the package of one of its positive
  literals to that literal (the first one that can move, that is the most preferred
  version the clause accepts: a dependency's new requirement, say), which changes more
  variables and so checks more clauses;
* a package moves at most once, a variable the trail has assigned never changes against
  it (nor one the caller keeps), and a clause that cannot be mended that way (one that
  needs a package to move back, or away from a decided version) ends the search: the
  solver answers instead.

A model found is a model of the clauses that agrees with the trail's assignments (so with
its decisions and everything they imply), so it answers the question as a solver call
would; only which model comes back may differ, and the search's result never depends on
that. A search that gives up costs only Python time; the solver is then asked as before.
"""

from __future__ import annotations

from collections import deque
from typing import Callable, Container, Hashable, Mapping

from satlock.resolver.model import TRUE, Model
from satlock.resolver.propagate import Trail

# The most packages one search moves (the first included) before it leaves the question
# to the solver; and the most clauses it checks.
MAX_MOVES = 24
MAX_CHECKS = 3_000

# What making a positive literal true takes: the group it moves (a package, one move each)
# and the values of that group's variables afterwards; None when the literal cannot be
# moved to (it stands for nothing the search knows how to move).
Move = Callable[[int], "tuple[Hashable, Mapping[int, bool]] | None"]


def repair(trail: Trail, model: Model, group: Hashable, values: Mapping[int, bool], move: Move,
           keep: Container[int] = ()) -> Model | None:
    """``model`` with ``group`` moved to ``values`` and as few other moves as the greedy
    search needs to keep every clause true, no variable of ``keep`` changed; None when it
    finds none within its bounds."""
    if trail.conflict or trail.contradicted:
        return None
    assigned = trail.value
    current: dict[int, bool] = {}

    def holds(lit: int) -> bool:
        var = lit if lit > 0 else -lit
        now = current.get(var)
        if now is None:
            now = var in model
        return now == (lit > 0)

    def delta(values: Mapping[int, bool]) -> dict[int, bool] | None:
        """The changes ``values`` make, or None when one goes against the trail."""
        out = {}
        for var, want in values.items():
            if holds(var) == want:
                continue
            if var >= len(assigned) or var in keep:
                return None
            fixed = assigned[var]
            if fixed and (fixed == TRUE) != want:
                return None
            out[var] = want
        return out

    first = delta(values)
    if not first:
        return None
    current.update(first)
    moved = {group}
    queue = deque(first)
    checks = 0
    while queue:
        var = queue.popleft()
        if var > trail.num_vars:
            return None
        for index in trail.occurrences(var):
            checks += 1
            if checks > MAX_CHECKS:
                return None
            clause = trail.clause(index)
            if any(holds(lit) for lit in clause):
                continue
            mend = _mend(clause, moved, move, delta)
            if mend is None or len(moved) >= MAX_MOVES:
                return None
            moved.add(mend[0])
            current.update(mend[1])
            queue.extend(mend[1])
    return model.changed(current)


def _mend(clause: list[int], moved: set[Hashable], move: Move,
          delta: Callable[[Mapping[int, bool]], dict[int, bool] | None]) -> tuple[Hashable, dict[int, bool]] | None:
    """The first move that makes a positive literal of ``clause`` true: its group and changes."""
    for lit in clause:
        if lit < 0:
            continue
        target = move(lit)
        if target is None or target[0] in moved:
            continue
        changes = delta(target[1])
        if changes:
            return target[0], changes
    return None
