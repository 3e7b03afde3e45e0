"""The longest prefix of hints that hold together, and a model of it.

Each round of the solve (resolver/solve.py) starts from hints: last round's decisions,
then the newest versions. It wants a model that keeps as many as hold together, earlier
hints first: the longest prefix that holds, then, past the hint that conflicts, the
longest prefix of the rest, and so on a few times. With consistent hints this is a single
solver call.

Each conflicting hint costs a binary search for the longest prefix that still holds. Unit
propagation of the hints in order bounds that prefix for free, and the search asks at the
bound first. Between questions, a model of a prefix is extended one hint at a time without
the solver where a nearby model keeps the hints so far and the next one (resolver/repair.py):
a model found that way proves the longer prefix holds as well as a solver call would, so
the prefix found, which is all the caller reads besides some model, is the same.
"""

from __future__ import annotations

from typing import Callable, Container, Sequence, TypeVar

from satlock.resolver.model import Model
from satlock.resolver.propagate import Trail

# How many conflicting hints one pass looks for (each costs a binary search) before it
# starts from the model it has; the greedy search then settles the rest.
MAX_HINT_CONFLICTS = 4

N = TypeVar("N")

# A model with the hints so far and one more (its name and variable), the hints so far
# kept as they are (the variables of the container never change); None if none was found.
Extend = Callable[[Model, N, int, Container[int]], "Model | None"]


def consistent_hints(hints: Sequence[tuple[N, int]], trail: Trail, sat: Callable[[list[int]], Model | None],
                     extend: Extend[N]) -> tuple[Model | None, list[N]]:
    """A model and the names of the hints it keeps (a hint: a name and a variable to make
    true); the model is None only when the clauses have no model at all."""
    pending = list(hints)
    kept: list[tuple[N, int]] = []
    model: Model | None = None

    def units(pairs: Sequence[tuple[N, int]]) -> list[int]:
        return [v for _, v in pairs]

    bound = trail.consistent_prefix(units(pending))
    trial = sat(units(pending)) if bound == len(pending) else None
    if trial is not None:
        return trial, [n for n, _ in pending]
    # (Were the clauses unsatisfiable on their own, no prefix would hold, and the last
    # step below says so.)
    conflicts = 0
    while pending and conflicts < MAX_HINT_CONFLICTS:
        conflicts += 1
        lo = 0
        if conflicts > 1:  # the first time, all of ``pending`` was just asked for
            # ``model`` keeps ``kept``: first see how far it goes without the solver.
            while model is not None and lo < len(pending):
                longer = extend(model, pending[lo][0], pending[lo][1], set(units(kept + pending[:lo])))
                if longer is None:
                    break
                model, lo = longer, _kept_from(longer, pending, lo + 1, len(pending))
            if lo == len(pending):
                return model, [n for n, _ in kept + pending]
            bound = trail.consistent_prefix(units(kept + pending)) - len(kept)
            trial = sat(units(kept + pending)) if bound == len(pending) else None
            if trial is not None:
                return trial, [n for n, _ in kept + pending]
        hi = min(len(pending) - 1, bound)
        if lo < hi:
            # Where propagation found the conflict is usually where it is: ask there first.
            trial = sat(units(kept + pending[:hi]))
            if trial is not None:
                model, lo = trial, hi
        while lo < hi:
            # ``model``, if any, keeps kept + pending[:lo]: try to keep one more without the solver.
            if model is not None:
                keep = set(units(kept + pending[:lo]))
                longer = extend(model, pending[lo][0], pending[lo][1], keep)
                if longer is not None:
                    model, lo = longer, _kept_from(longer, pending, lo + 1, hi)
                    continue
            mid = (lo + hi + 1) // 2
            trial = sat(units(kept + pending[:mid]))
            if trial is None:
                hi = mid - 1
            else:
                model, lo = trial, _kept_from(trial, pending, mid, hi)
        kept += pending[:lo]
        pending = pending[lo + 1:]
    if model is None:
        model = sat(units(kept))
    return model, [n for n, _ in kept]


def _kept_from(model: Model, pending: Sequence[tuple[N, int]], lo: int, hi: int) -> int:
    """``lo`` moved past the hints ``model`` keeps beyond it (the model may keep more than
    asked: the prefix it keeps holds), up to ``hi``."""
    while lo < hi and pending[lo][1] in model:
        lo += 1
    return lo
