"""What the search holds a model of the clauses as (kept apart from the trail, resolver/propagate.py)."""

from __future__ import annotations

from typing import Mapping, Sequence

# value[v]: what variable v is under a trail.
UNKNOWN, TRUE, FALSE = 0, 1, 2


class Model:
    """A satisfying assignment: the trail's values where it decided, the solver's elsewhere,
    and ``changes`` over both (a model moved without the solver, see resolver/repair.py)."""

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
