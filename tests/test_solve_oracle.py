"""The solver's answer is the lexicographic preference optimum of resolver/solve.py's
docstring, whatever the SAT core does to find it (propagation, learnt windows, repaired
models, reduced problems kept between rounds).

An independent oracle checks that on many small random indexes: it enumerates every
installation (each package absent or at one version), keeps those that satisfy the
requirements, and walks the packages breadth-first from the roots (by name within a
level), giving each the most preferred (newest) version some remaining installation has.
"""

from __future__ import annotations

import itertools
import random

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from satlock.resolver.memory import MemoryProvider
from satlock.resolver.solve import RootRequirement, Solver, Unsatisfiable

ENV = {**default_environment(), "python_version": "3.12", "python_full_version": "3.12.4"}

Index = dict[str, dict[str, list[str]]]


def _random_problem(seed: int) -> tuple[Index, list[str]]:
    rng = random.Random(seed)
    names = [f"p{i}" for i in range(rng.randint(2, 5))]
    cyclic = rng.random() < 0.5
    index: Index = {}
    for i, name in enumerate(names):
        versions: dict[str, list[str]] = {}
        for v in range(1, rng.randint(1, 4) + 1):
            targets = [n for n in (names if cyclic else names[i + 1:]) if n != name]
            deps = []
            for target in rng.sample(targets, min(len(targets), rng.randint(0, 3))):
                kind = rng.random()
                bound = rng.randint(1, 4)
                deps.append(f"{target}<{bound}.0" if kind < 0.35 else f"{target}!={bound}.0" if kind < 0.6
                            else f"{target}>={bound}.0" if kind < 0.85 else target)
            versions[f"{v}.0"] = deps
        index[name] = versions
    roots = [f"{name}>={rng.randint(1, 2)}.0" if rng.random() < 0.2 else name
             for name in rng.sample(names, rng.randint(1, min(3, len(names))))]
    return index, roots


def _oracle(index: Index, roots: list[str]) -> dict[str, str] | None:
    """The preferred installation by brute force, or None when there is none."""
    names = sorted(index)
    deps = {(n, v): [Requirement(d) for d in ds] for n, vs in index.items() for v, ds in vs.items()}
    root_reqs = [Requirement(r) for r in roots]

    def ok(req: Requirement, chosen: dict[str, str | None]) -> bool:
        version = chosen.get(canonicalize_name(req.name))
        return version is not None and req.specifier.contains(version)

    installs = []
    for combo in itertools.product(*[[None, *index[n]] for n in names]):
        chosen = dict(zip(names, combo))
        if all(ok(r, chosen) for r in root_reqs) and all(
                ok(r, chosen) for n, v in chosen.items() if v is not None for r in deps[(n, v)]):
            installs.append(chosen)
    if not installs:
        return None
    picked: dict[str, str] = {}
    queue = [canonicalize_name(r.name) for r in root_reqs]
    while queue:
        name = queue.pop(0)
        if name in picked:
            continue
        version = max((i[name] for i in installs), key=Version)  # required, so never None here
        installs = [i for i in installs if i[name] == version]
        picked[name] = version
        queue += sorted((canonicalize_name(r.name) for r in deps[(name, version)]))
    return picked


@pytest.mark.parametrize("block", range(4))
def test_the_solver_picks_the_lexicographic_preference_optimum_on_random_indexes(block: int) -> None:
    for seed in range(block * 100, block * 100 + 100):
        index, roots = _random_problem(seed)
        expected = _oracle(index, roots)
        solver = Solver(MemoryProvider(index), ENV)
        try:
            got = {n: str(c.version) for n, c in solver.solve([RootRequirement(Requirement(r)) for r in roots]).chosen.items()}
        except Unsatisfiable:
            got = None
        assert got == expected, (seed, index, roots)
