"""A small clause algebra for pycosat: variables, clauses with reasons, at-most-one.

It knows nothing of packages. The package encoding (resolver/encoding.py) says what the
variables stand for; this module only numbers them, keeps the clauses in the order they
were added, each with an optional reason (an opaque object: the encoding's ``Reason``),
and grows at-most-one constraints one variable at a time.

At most one of a group is true with Sinz's sequential counter: one helper variable and
three clauses per variable after the first, added as variables join the group, so the
encoding stays linear in the group's size instead of quadratic.

Clauses that come from something a user can read about carry a reason; structural ones
(at most one, say) carry none. Conflict explanation (resolver/explain.py) deletes reasons
until the rest is still unsatisfiable. The search (resolver/propagate.py) reads the clauses
added since it last looked, and the clauses widened with ``extend`` since (always with
variables newer than the clause), to widen its own copies the same way.
"""

from __future__ import annotations

from typing import Callable, Generic, Sequence, TypeVar

Clause = list[int]
R = TypeVar("R")


class Clauses(Generic[R]):
    """Numbered variables and a growing list of clauses, each with a reason or ``None``."""

    def __init__(self) -> None:
        self._clauses: list[Clause] = []
        self._reasons: list[R | None] = []
        self.num_vars = 0
        self._widened: list[tuple[int, tuple[int, ...]]] = []

    def new_var(self) -> int:
        """A fresh variable (its number; the first is 1)."""
        self.num_vars += 1
        return self.num_vars

    def add(self, clause: Clause, reason: R | None = None) -> int:
        """Add ``clause`` (a disjunction of literals) with its reason; returns its index, for ``extend``."""
        self._clauses.append(clause)
        self._reasons.append(reason)
        return len(self._clauses) - 1

    def extend(self, index: int, literals: Sequence[int]) -> None:
        """Widen the clause at ``index`` (a disjunction that gains alternatives as they are found)."""
        self._clauses[index] = self._clauses[index] + list(literals)
        self._widened.append((index, tuple(literals)))

    def widened_since(self, start: int) -> list[tuple[int, tuple[int, ...]]]:
        """The widenings since there were ``start`` of them: each clause's index and the
        literals it gained."""
        return self._widened[start:]

    def clause(self, index: int) -> Clause:
        """The clause at ``index``, as it is now (do not change it)."""
        return self._clauses[index]

    def reason(self, index: int) -> R | None:
        """The reason of the clause at ``index``."""
        return self._reasons[index]

    def count(self) -> int:
        return len(self._clauses)

    def since(self, start: int) -> list[Clause]:
        """The clauses added since there were ``start`` of them."""
        return self._clauses[start:]

    def with_reasons(self) -> list[tuple[Clause, R | None]]:
        """Every clause with its reason (``None`` for the structural ones)."""
        return list(zip(self._clauses, self._reasons))

    def at_most_one(self) -> "AtMostOne":
        """A new, empty at-most-one group over variables of these clauses."""
        return AtMostOne(self)


class AtMostOne:
    """At most one of a group of variables is true; the group grows one variable at a time."""

    def __init__(self, clauses: Clauses) -> None:  # type: ignore[type-arg]
        self._clauses = clauses
        # (variable, helper): the helper s_i means "one of x_1..x_i is true" (None for x_1).
        self._members: list[tuple[int, int | None]] = []
        self._position: dict[int, int] = {}

    def add(self, x: int) -> None:
        """Add ``x`` to the group: appending x_n adds s_{n-1} with its three clauses."""
        self._position[x] = len(self._members)
        if not self._members:
            self._members.append((x, None))
            return
        previous, s_before = self._members[-1]
        s = self._clauses.new_var()
        self._clauses.add([-previous, s])
        if s_before is not None:
            self._clauses.add([-s_before, s])
        self._clauses.add([-x, -s])
        self._members.append((x, s))

    def move(self, x: int, holds: Callable[[int], bool]) -> dict[int, bool]:
        """What changes in an assignment (``holds`` says which variables are true) that
        satisfies the group when member ``x`` becomes the only one true: ``x``, the member
        true before (if any) and the helpers in between; a few lookups, not one per member.

        A helper h_i says "one of the members before i is true", so it is false up to the
        true member and true after it; where no member is true the helpers are still
        monotone. The first true helper, found by bisection, tells which member is true.
        """
        members = self._members
        lo, hi = 1, len(members)
        while lo < hi:
            mid = (lo + hi) // 2
            if holds(members[mid][1]):  # type: ignore[arg-type]
                hi = mid
            else:
                lo = mid + 1
        first_true = lo
        target = self._position[x]
        changes = {members[i][1]: i > target for i in range(min(target + 1, first_true), max(target + 1, first_true))}
        changes[x] = True  # type: ignore[index]
        before = members[first_true - 1][0] if first_true >= 1 else None
        if before is not None and before != x and holds(before):
            changes[before] = False
        return changes  # type: ignore[return-value]
