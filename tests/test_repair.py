"""Moving a model to a preferred version without the solver: only real models come back."""

import random

import pycosat

from satlock.resolver.propagate import Trail
from satlock.resolver.repair import repair


def _groups(*groups: list[int]):
    """``move`` for packages whose candidates are ``groups`` (at most one of each true)."""
    owner = {var: i for i, group in enumerate(groups) for var in group}

    def only(var: int) -> dict[int, bool]:
        return {v: v == var for v in groups[owner[var]]}

    def move(var: int):
        return (owner[var], only(var)) if var in owner else None

    at_most_one = [[-a, -b] for group in groups for i, a in enumerate(group) for b in group[i + 1:]]
    return move, only, at_most_one


def test_moving_a_package_also_moves_the_dependency_its_new_version_needs():
    # Package A: 1 (new), 2 (old); package B: 3 (new), 4 (old). A 1 needs B 3; A 2 needs B 4.
    move, only, amo = _groups([1, 2], [3, 4])
    trail = Trail()
    trail.add(amo + [[1, 2], [-1, 3], [-2, 4]], 4)
    model = trail.solve(units=[2])
    assert model is not None and 4 in model
    moved = repair(trail, model, 0, only(1), move)
    assert moved is not None and 1 in moved and 3 in moved and 2 not in moved and 4 not in moved


def test_a_move_that_would_undo_a_decision_is_left_to_the_solver():
    move, only, amo = _groups([1, 2], [3, 4])
    trail = Trail()
    trail.add(amo + [[1, 2], [-1, 3], [-2, 4]], 4)
    trail.decide(4)  # B is decided at its old version
    model = trail.solve(units=[2])
    assert model is not None
    assert repair(trail, model, 0, only(1), move) is None


def test_a_clause_that_only_a_package_moving_back_could_mend_ends_the_search():
    # A 1 needs B 3, and B 3 needs A 2: no model has A 1.
    move, only, amo = _groups([1, 2], [3, 4])
    trail = Trail()
    trail.add(amo + [[1, 2], [-1, 3], [-3, 2]], 4)
    model = trail.solve(units=[2, 4])
    assert model is not None
    assert repair(trail, model, 0, only(1), move) is None


def test_every_repaired_model_satisfies_every_clause_and_the_decisions():
    for seed in range(80):
        rng = random.Random(seed)
        groups = [[3 * g + 1, 3 * g + 2, 3 * g + 3] for g in range(4)]
        move, only, amo = _groups(*groups)
        deps = []
        for _ in range(8):
            a = rng.randint(1, 12)
            b_group = rng.choice(groups)
            deps.append([-a] + rng.sample(b_group, rng.randint(1, 2)))
        clauses = amo + [[g[0], g[1], g[2]] for g in groups[:2]] + deps
        trail = Trail()
        trail.add(clauses, 12)
        model = trail.solve()
        if model is None:
            continue
        decided = next((v for v in groups[3] if v in model), -groups[3][0])
        trail.decide(decided)
        for group_index, group in enumerate(groups):
            for var in group:
                moved = repair(trail, model, group_index, only(var), move)
                if moved is None:
                    continue
                assert all(any(moved.holds(lit) for lit in clause) for clause in clauses)
                assert moved.holds(decided) and var in moved
                assert pycosat.solve(clauses + [[decided], [var]], vars=12) != "UNSAT"
