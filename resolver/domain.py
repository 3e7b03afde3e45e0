"""Which versions of a package the decisions leave possible, beyond unit propagation.

The preference search (resolver/solve.py) asks, version after version, whether a package
can still have a more preferred version. Many of those questions have an answer that a
look at the clauses gives without the solver: once boto3 1.20.0 is decided, its
requirement ``botocore>=1.23.0,<1.24.0`` is a clause over botocore's candidates alone, so
every other botocore is ruled out by the name's at-most-one. Unit propagation sees that
only through the at-most-one's chain of helper variables (a thousand of them for
botocore), so the search used to ask the solver about the newer versions one window after
another: 25 calls a round on the backtracking set of benchmarks/.
"""

from __future__ import annotations

from packaging.utils import NormalizedName

from satlock.resolver.candidates import Candidate
from satlock.resolver.encoding import Encoding
from satlock.resolver.propagate import Trail


def open_candidates(enc: Encoding, trail: Trail, name: NormalizedName, cands: list[Candidate], lo: int, hi: int) -> list[int]:
    """The indices from ``lo`` up to ``hi`` (a feasible one, always kept) of the candidates
    of ``name`` (``cands``, in preference order) that ``trail``'s decisions leave possible
    as far as at-most-one tells.

    A requirement on ``name`` whose every other literal is false under the trail must have
    one of its candidates of ``name`` chosen; a candidate outside it cannot be, nor one
    false under the trail. Of candidates sharing a variable only the first is kept (the
    variable stands for it, see resolver/encoding.py).
    """
    accepted: list[set[int]] = []
    for clause in enc.requiring(name):
        allowed = set()
        for lit in clause:
            if trail.is_false(lit):
                continue
            if lit < 0 or enc.name_of(lit) != name:
                break
            allowed.add(lit)
        else:
            accepted.append(allowed)
    open_ = []
    seen: set[int] = set()
    for i in range(lo, hi):
        v = enc.var_of(cands[i])
        if v not in seen and not trail.is_false(v) and all(v in allowed for allowed in accepted):
            open_.append(i)
        seen.add(v)
    open_.append(hi)
    return open_
