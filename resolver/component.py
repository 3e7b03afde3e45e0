"""The part of a problem that a question touches, under a trail's assignments.

Under the trail the open clauses fall apart into groups that share no open variable (a
decided package's other versions satisfy their clauses, which drop out). A question touches
only its own group; given a model of everything that agrees with the trail, the other groups
are satisfied by it as they are, so solving the group alone gives the same answer: a group
that is unsatisfiable makes the whole so, and a model of the group with the old model
elsewhere satisfies every clause, since none crosses groups. pycosat's time grows with the
variables it is given (it decides every one), so a small group numbered densely is answered
far faster than the whole; finding it costs Python time in proportion to its size, hence
the bound.
"""

from __future__ import annotations

from typing import Sequence

from satlock.resolver.model import TRUE


def open_component(value: bytearray, occ: Sequence[Sequence[int]], clauses: Sequence[Sequence[int]],
                   start: Sequence[int], limit: int) -> tuple[list[list[int]] | None, dict[int, int]]:
    """The open clauses (without their false literals) connected to the variables ``start``
    through open variables, numbered densely as they are found, and the numbering (in
    order); the clauses are None past ``limit`` of them (the numbering then says what was
    walked). ``value`` and ``occ`` are a trail's: each variable's value, each literal's
    clauses (at ``2 * var`` and ``2 * var + 1``)."""
    number: dict[int, int] = {}
    for var in start:
        if not value[var] and var not in number:
            number[var] = len(number) + 1
    stack = list(number)
    seen_clauses: set[int] = set()
    group: list[list[int]] = []
    while stack:
        var = stack.pop()
        for index in occ[2 * var] + occ[2 * var + 1]:
            if index in seen_clauses:
                continue
            seen_clauses.add(index)
            open_lits = []
            for lit in clauses[index]:
                current = value[lit if lit > 0 else -lit]
                if not current:
                    open_lits.append(lit)
                elif (current == TRUE) == (lit > 0):
                    break
            else:
                if len(group) >= limit:
                    return None, number
                dense = []
                for lit in open_lits:
                    w = lit if lit > 0 else -lit
                    n = number.get(w)
                    if n is None:
                        n = number[w] = len(number) + 1
                        stack.append(w)
                    dense.append(n if lit > 0 else -n)
                group.append(dense)
    return group, number
