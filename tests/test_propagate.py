"""The unit-propagation layer in front of pycosat answers exactly as the full problem would."""

import itertools
import random

import pycosat

from satlock.resolver.propagate import Trail


def _random_problem(seed: int, num_vars: int = 12, num_clauses: int = 40) -> list[list[int]]:
    rng = random.Random(seed)
    return [[rng.choice([-1, 1]) * rng.randint(1, num_vars) for _ in range(rng.randint(1, 3))] for _ in range(num_clauses)]


def _satisfies(model, clauses: list[list[int]]) -> bool:
    return all(any(model.holds(lit) for lit in clause) for clause in clauses)


def test_every_question_gets_the_full_problems_answer_and_a_real_model():
    for seed in range(60):
        clauses = _random_problem(seed)
        trail = Trail()
        trail.add(clauses, 12)
        decisions: list[int] = []
        rng = random.Random(seed)
        for lit in rng.sample([v * s for v in range(1, 13) for s in (1, -1)], 6):
            if pycosat.solve(clauses + [[d] for d in decisions + [lit]], vars=12) == "UNSAT":
                continue
            decisions.append(lit)
            trail.decide(lit)
            for window in itertools.combinations(range(1, 13), 2):
                expected = pycosat.solve(clauses + [[d] for d in decisions] + [list(window)], vars=12) != "UNSAT"
                model = trail.solve(clause=list(window))
                assert (model is not None) == expected
                if model is not None:
                    assert _satisfies(model, clauses + [[d] for d in decisions] + [list(window)])


def test_a_question_whose_literals_the_decisions_make_false_costs_no_solver_call():
    trail = Trail()
    trail.add([[-1, 2], [-2, -3]], 3)  # 1 -> 2 -> not 3
    trail.decide(1)
    assert trail.solve(units=[3]) is None
    assert trail.solve(clause=[3]) is None
    assert trail.solver_calls == 0


def test_backtracking_takes_back_the_decisions_and_what_was_learnt_under_them():
    trail = Trail()
    trail.add([[-1, 2], [-2, -3]], 3)
    mark = trail.mark()
    trail.decide(1)
    assert trail.solve(clause=[3]) is None
    trail.backtrack(mark)
    model = trail.solve(clause=[3])
    assert model is not None and 3 in model and 1 not in model


def test_contradictory_clauses_make_every_question_unsatisfiable():
    trail = Trail()
    trail.add([[1], [-1]], 2)
    assert trail.solve() is None
    assert trail.solve(units=[2]) is None


def test_clauses_added_after_a_question_are_part_of_every_later_answer():
    for seed in range(40):
        clauses = _random_problem(seed, num_clauses=30)
        more = _random_problem(seed + 1000, num_clauses=15)
        trail = Trail()
        trail.add(clauses, 12)
        trail.solve()  # computes and keeps a reduced problem
        trail.add(more, 12)
        for lit in (1, -1, 5, -5):
            expected = pycosat.solve(clauses + more + [[lit]], vars=12) != "UNSAT"
            model = trail.solve(units=[lit])
            assert (model is not None) == expected
            if model is not None:
                assert _satisfies(model, clauses + more + [[lit]])


def test_consistent_prefix_counts_the_literals_that_propagate_together():
    trail = Trail()
    trail.add([[-1, 2], [-2, -3]], 4)
    assert trail.consistent_prefix([1, 4, 3]) == 2  # 1 forces 2, which forbids 3
    assert trail.consistent_prefix([4, 3]) == 2
    assert trail.solve(units=[3]) is not None  # nothing stayed assigned


def test_given_a_model_every_question_still_gets_the_full_problems_answer_and_a_real_model():
    # With a model at hand only the question's component is solved; the answer must not change.
    for seed in range(60):
        clauses = _random_problem(seed, num_vars=16, num_clauses=30)
        trail = Trail()
        trail.add(clauses, 16)
        model = trail.solve()
        if model is None:
            continue
        rng = random.Random(seed)
        decisions: list[int] = []
        for lit in rng.sample([v * s for v in range(1, 17) for s in (1, -1)], 5):
            if not model.holds(lit):
                continue
            decisions.append(lit)
            trail.decide(lit)
            for window in itertools.combinations(range(1, 17), 2):
                question = [list(window)]
                expected = pycosat.solve(clauses + [[d] for d in decisions] + question, vars=16) != "UNSAT"
                answer = trail.solve(clause=list(window), model=model)
                assert (answer is not None) == expected
                if answer is not None:
                    assert _satisfies(answer, clauses + [[d] for d in decisions] + question)
                    model = answer


def test_a_question_about_a_separate_part_of_the_problem_keeps_the_rest_of_the_model():
    trail = Trail()
    # Two independent parts: 1..3 and 4..6.
    trail.add([[-1, 2], [-2, -3], [4, 5], [-5, 6]], 6)
    model = trail.solve(units=[1, 4, -5, -6])
    assert model is not None
    answer = trail.solve(clause=[3], model=model)
    assert answer is not None and 3 in answer and 1 not in answer
    assert 4 in answer and 5 not in answer and 6 not in answer


def test_a_trail_widened_in_place_holds_what_one_built_from_the_widened_clauses_holds():
    # The solve loop widens clauses with new variables (a shared candidate variable split,
    # a build variant found) and keeps its trail when ``widen`` says it can: the trail must
    # then assign exactly what a fresh one assigns, and answer every question the same.
    kept = rebuilt = 0
    for seed in range(300):
        rng = random.Random(seed)
        num_vars = 10
        clauses = _random_problem(seed, num_vars, rng.randint(5, 25))
        trail = Trail()
        trail.add(clauses, num_vars)
        for _ in range(rng.randint(1, 4)):
            fresh = [num_vars + 1 + k for k in range(rng.randint(1, 2))]
            num_vars += len(fresh)
            widened = [(i, [rng.choice([-1, 1]) * rng.choice(fresh)]) for i in rng.sample(range(len(clauses)), rng.randint(1, 3))]
            ok = True
            for i, lits in widened:
                clauses[i] = clauses[i] + lits
                ok = ok and trail.widen(i, lits, num_vars)
            new = [[rng.choice([-1, 1]) * rng.randint(1, num_vars) for _ in range(rng.randint(1, 3))] for _ in range(rng.randint(0, 3))]
            clauses += new
            if not ok:
                rebuilt += 1
                trail = Trail()
                trail.add(clauses, num_vars)
                continue
            kept += 1
            trail.add(new, num_vars)
            fresh_trail = Trail()
            fresh_trail.add(clauses, num_vars)
            assert trail.conflict == fresh_trail.conflict
            if not trail.conflict:
                assert trail.value == fresh_trail.value
            for lit in range(1, num_vars + 1):
                for units in ([lit], [-lit]):
                    expected = pycosat.solve(clauses + [units], vars=num_vars) != "UNSAT"
                    model = trail.solve(units=units)
                    assert (model is not None) == expected
                    if model is not None:
                        assert _satisfies(model, clauses + [units])
    assert kept > 100 and rebuilt > 10  # both paths taken


def test_a_trail_refuses_to_widen_a_clause_it_propagated_from_or_with_a_variable_it_knows():
    trail = Trail()
    trail.add([[1], [-1, 2], [2, 3, -4]], 4)  # 1, then 2 from the second clause
    assert not trail.widen(1, [5], 5)  # the second clause forced 2
    assert not trail.widen(2, [4], 5)  # 4 is not new
    assert trail.widen(2, [5], 5)  # the third has two literals that are not false
    mark = trail.mark()
    trail.decide(3)
    assert not trail.widen(2, [6], 6)  # something decided since the clauses were added
    trail.backtrack(mark)
