"""The clause algebra of resolver/cnf.py alone, with plain integers and no packages.

Each test asks pycosat which assignments the clauses admit, not how they are written:
a different encoding of the same meaning passes.
"""

from __future__ import annotations

import ast
from itertools import combinations
from pathlib import Path

import pycosat
import pytest

from satlock.resolver.cnf import Clauses


def _sat(cnf: Clauses, *units: int) -> bool:
    """Whether the clauses hold with every literal in ``units`` true."""
    return pycosat.solve(cnf.since(0) + [[u] for u in units], vars=cnf.num_vars) != "UNSAT"


def _models(cnf: Clauses, over: list[int]) -> set[frozenset[int]]:
    """Every distinct assignment of ``over`` (as the set of true variables) the clauses allow."""
    return {frozenset(v for v in over if model[v - 1] > 0) for model in pycosat.itersolve(cnf.since(0), vars=cnf.num_vars)}


def test_variables_are_numbered_from_one_in_order() -> None:
    cnf: Clauses[str] = Clauses()
    assert [cnf.new_var() for _ in range(3)] == [1, 2, 3]
    assert cnf.num_vars == 3 and cnf.count() == 0


@pytest.mark.parametrize("size", [1, 2, 3, 5, 40])
def test_at_most_one_admits_exactly_none_or_one_of_its_group(size: int) -> None:
    cnf: Clauses[str] = Clauses()
    group = cnf.at_most_one()
    xs = [cnf.new_var() for _ in range(size)]
    for x in xs:
        group.add(x)
    if size <= 5:
        assert _models(cnf, xs) == {frozenset()} | {frozenset([x]) for x in xs}
    for x, y in combinations(xs[:6], 2):
        assert not _sat(cnf, x, y)
    assert cnf.count() <= 3 * size, "linear in the size of the group, not pairwise"


def test_a_group_can_grow_after_its_variables_were_constrained_and_groups_are_independent() -> None:
    cnf: Clauses[str] = Clauses()
    first, second = cnf.at_most_one(), cnf.at_most_one()
    a, b = cnf.new_var(), cnf.new_var()
    first.add(a)
    cnf.add([a, b])
    first.add(b)
    c, d = cnf.new_var(), cnf.new_var()
    second.add(c)
    second.add(d)
    assert _models(cnf, [a, b]) == {frozenset([a]), frozenset([b])}
    assert _sat(cnf, a, c) and not _sat(cnf, c, d)


def test_moving_to_a_member_changes_exactly_what_makes_it_the_only_one_true() -> None:
    cnf: Clauses[str] = Clauses()
    group = cnf.at_most_one()
    xs = [cnf.new_var() for _ in range(6)]
    for x in xs:
        group.add(x)
    # Every model of the group (one member true, or none with any monotone helpers), moved to every member.
    for model in pycosat.itersolve(cnf.since(0), vars=cnf.num_vars):
        before = {abs(lit): lit > 0 for lit in model}
        for x in xs:
            after = {**before, **group.move(x, lambda v: before[v])}
            assert {v for v in xs if after[v]} == {x}
            assert _sat(cnf, *(v if true else -v for v, true in after.items()))


def test_clauses_keep_their_order_and_reasons_and_a_widening_is_logged_with_what_it_added() -> None:
    cnf: Clauses[str] = Clauses()
    x, y, z = cnf.new_var(), cnf.new_var(), cnf.new_var()
    assert cnf.add([x], "asked") == 0
    index = cnf.add([-x, y])
    cnf.add([-y], "forbidden")
    assert not _sat(cnf)
    assert cnf.with_reasons() == [([x], "asked"), ([-x, y], None), ([-y], "forbidden")]
    assert cnf.since(1) == [[-x, y], [-y]]
    cnf.extend(index, [z])
    assert cnf.widened_since(0) == [(index, (z,))] and cnf.since(1)[0] == [-x, y, z]
    assert _sat(cnf) and not _sat(cnf, -z)


def test_the_clause_algebra_imports_nothing_about_packages() -> None:
    source = Path(__file__).resolve().parents[1] / "resolver" / "cnf.py"
    imported = set()
    for node in ast.walk(ast.parse(source.read_text())):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module or "")
    assert imported <= {"__future__", "typing"}
