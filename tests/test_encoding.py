"""The package encoding of resolver/encoding.py, checked by asking pycosat what its clauses allow.

Each test builds a small encoding through the public calls (a variable per candidate,
``require`` with guards and extras, ``exclude``) and then checks which assignments the
clauses admit, not how they are written: a different encoding of the same meaning passes.
"""

from __future__ import annotations

from itertools import combinations

import pycosat
import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from satlock.resolver.candidates import Candidate
from satlock.resolver.encoding import Encoding, Reason, ReasonKind
from satlock.resolver.memory import MemoryProvider
from satlock.resolver.origin import CONSTRAINTS, DEPENDENCIES


def _cands(name: str, *versions: str) -> list[Candidate]:
    return [Candidate(canonicalize_name(name), Version(v)) for v in versions]


def _clauses(enc: Encoding) -> list[list[int]]:
    return enc.clauses_since(0)


def _sat(enc: Encoding, *units: int) -> bool:
    """Whether the encoding holds with every literal in ``units`` true."""
    return pycosat.solve(_clauses(enc) + [[u] for u in units], vars=enc.num_vars) != "UNSAT"


def _models(enc: Encoding, over: list[int]) -> set[frozenset[int]]:
    """Every distinct assignment of the variables ``over`` (as the set of true ones) the encoding allows."""
    seen: set[frozenset[int]] = set()
    for model in pycosat.itersolve(_clauses(enc), vars=enc.num_vars):
        seen.add(frozenset(v for v in over if model[v - 1] > 0))
    return seen


def _root(text: str) -> Reason:
    return Reason(ReasonKind.ROOT, Requirement(text), where=DEPENDENCIES)


@pytest.mark.parametrize("count", [1, 2, 3, 4, 5, 8, 40])
def test_at_most_one_candidate_of_a_name_is_true(count: int) -> None:
    enc = Encoding()
    cands = _cands("a", *(f"{i}.0" for i in range(count, 0, -1)))
    enc.add_name(cands[0].name, cands)
    vs = [enc.var(c) for c in cands]
    assert all(_sat(enc, v) for v in vs)
    assert _sat(enc, *(-v for v in vs)), "installing none of them is allowed"
    for x, y in combinations(vs, 2):
        assert not _sat(enc, x, y)


def test_at_most_one_admits_exactly_none_or_one_and_grows_linearly() -> None:
    enc = Encoding()
    cands = _cands("a", *(f"{i}.0" for i in range(6, 0, -1)))
    enc.add_name(cands[0].name, cands)
    vs = [enc.var(c) for c in cands]
    assert _models(enc, vs) == {frozenset()} | {frozenset([v]) for v in vs}
    big = Encoding()
    many = _cands("b", *(f"{i}.0" for i in range(400, 0, -1)))
    big.add_name(many[0].name, many)
    for c in many:
        big.var(c)
    assert big.clause_count() < 10 * len(many), "not pairwise: linear in the number of candidates"


def test_names_are_independent_and_a_candidate_keeps_its_variable() -> None:
    enc = Encoding()
    a, b = _cands("a", "2.0", "1.0"), _cands("b", "2.0", "1.0")
    enc.add_name(a[0].name, a)
    enc.add_name(b[0].name, b)
    assert enc.var(a[0]) == enc.var(_cands("a", "2.0")[0])
    assert _sat(enc, enc.var(a[0]), enc.var(b[1]))
    assert enc.has_var(a[0]) and not enc.has_var(a[1])


def test_a_project_requirement_needs_one_of_its_matching_candidates() -> None:
    enc = Encoding()
    a = _cands("a", "3.0", "2.0", "1.0")
    enc.add_name(a[0].name, a)
    enc.require(_root("a>=2"), a[:2])
    v3, v2 = enc.var(a[0]), enc.var(a[1])
    assert _models(enc, [v3, v2]) == {frozenset([v3]), frozenset([v2])}


def test_a_dependency_applies_only_when_its_parent_is_chosen() -> None:
    enc = Encoding()
    parent, child = _cands("p", "1.0")[0], _cands("c", "2.0", "1.0")
    enc.add_name(parent.name, [parent])
    enc.add_name(child[0].name, child)
    p = enc.var(parent)
    enc.require(Reason(ReasonKind.DEPENDENCY, Requirement("c>=2"), parent=parent), child[:1], guard=[p])
    c2, c1 = enc.var(child[0]), enc.var(child[1])
    assert not _sat(enc, p, -c2)
    assert _sat(enc, -p, -c2, -c1), "without the parent nothing is needed"
    assert not _sat(enc, p, c1)


def test_a_clause_guarded_by_an_extra_needs_both_the_parent_and_the_extra() -> None:
    enc = Encoding()
    parent, child = _cands("p", "1.0")[0], _cands("c", "1.0")[0]
    enc.add_name(parent.name, [parent])
    enc.add_name(child.name, [child])
    p, cli = enc.var(parent), enc.extra(parent.name, "cli")
    enc.require(Reason(ReasonKind.DEPENDENCY, Requirement("c"), parent=parent, detail="cli"), [child], guard=[p, cli])
    c = enc.var(child)
    assert _sat(enc, p, -cli, -c)
    assert _sat(enc, -p, cli, -c)
    assert not _sat(enc, p, cli, -c)
    assert enc.extra(parent.name, "cli") == cli, "one variable per name and extra"


def test_a_requirement_with_extras_turns_the_extras_on() -> None:
    enc = Encoding()
    a = _cands("a", "1.0")
    enc.add_name(a[0].name, a)
    enc.require(_root("a[cli,docs]"), a, extras=["cli", "docs"])
    cli, docs = enc.extra(a[0].name, "cli"), enc.extra(a[0].name, "docs")
    assert not _sat(enc, -cli) and not _sat(enc, -docs)
    assert _sat(enc, enc.var(a[0]), cli, docs)


def test_a_requirement_nothing_matches_is_a_conflict_only_when_it_applies() -> None:
    enc = Encoding()
    parent = _cands("p", "1.0")[0]
    enc.add_name(parent.name, [parent])
    p = enc.var(parent)
    enc.require(Reason(ReasonKind.DEPENDENCY, Requirement("missing"), parent=parent), [], guard=[p])
    assert not _sat(enc, p)
    assert _sat(enc, -p)
    enc.require(_root("missing"), [])
    assert not _sat(enc)


@pytest.mark.parametrize("before", [True, False], ids=["excluded-first", "variable-first"])
def test_an_excluded_candidate_is_never_chosen_whenever_its_variable_appears(before: bool) -> None:
    enc = Encoding()
    a = _cands("a", "2.0", "1.0")
    enc.add_name(a[0].name, a)
    reason = Reason(ReasonKind.CONSTRAINT, Requirement("a<2"), where=CONSTRAINTS)
    if before:
        enc.exclude(reason, a[0])
    v2, v1 = enc.var(a[0]), enc.var(a[1])
    if not before:
        enc.exclude(reason, a[0])
    assert not _sat(enc, v2)
    assert _sat(enc, v1)


def test_clauses_from_requirements_carry_their_reason_and_structure_carries_none() -> None:
    enc = Encoding()
    a = _cands("a", "3.0", "2.0", "1.0")
    enc.add_name(a[0].name, a)
    root = _root("a[cli]")
    enc.require(root, a, extras=["cli"])
    constraint = Reason(ReasonKind.CONSTRAINT, Requirement("a<3"), where=CONSTRAINTS)
    enc.exclude(constraint, a[0])
    pairs = enc.clauses_with_reasons()
    assert len(pairs) == enc.clause_count()
    assert {id(r) for _, r in pairs if r is not None} == {id(root), id(constraint)}
    structural = [c for c, r in pairs if r is None]
    assert pycosat.solve(structural, vars=enc.num_vars) != "UNSAT", "structure alone never conflicts"


@pytest.mark.parametrize("before", [True, False], ids=["pinned-first", "variable-first"])
def test_only_version_forbids_every_other_version_under_its_guard_but_not_absence(before: bool) -> None:
    enc = Encoding()
    a = _cands("a", "3.0", "2.0", "1.0")
    enc.add_name(a[0].name, a)
    guard = enc.new_variable()
    reason = Reason(ReasonKind.BUILT_AGAINST, Requirement("a==2.0"), parent=a[1])
    if not before:
        vs = [enc.var(c) for c in a]
    enc.only_version(guard, a[1], reason)
    if before:
        vs = [enc.var(c) for c in a]
    assert not _sat(enc, guard, vs[0]) and not _sat(enc, guard, vs[2])
    assert _sat(enc, guard, vs[1]) and _sat(enc, guard, *(-v for v in vs))
    assert _sat(enc, -guard, vs[0])


def test_extras_are_handed_out_once_each_newest_first_and_listed_per_name() -> None:
    enc = Encoding()
    a = _cands("a", "1.0")
    enc.add_name(a[0].name, a)
    cli, docs = enc.extra(a[0].name, "cli"), enc.extra(a[0].name, "docs")
    other = enc.extra(canonicalize_name("b"), "cli")
    assert enc.extras_of(a[0].name) == [("cli", cli), ("docs", docs)]
    assert enc.extras_of(canonicalize_name("b")) == [("cli", other)]
    taken = []
    while (new := enc.take_new_extra()) is not None:
        taken.append(new)
    assert taken == [("b", "cli"), ("a", "docs"), ("a", "cli")]
    enc.extra(a[0].name, "cli")
    assert enc.take_new_extra() is None, "an extra asked for again is not new"


def test_the_encoding_of_an_in_memory_index_admits_exactly_the_consistent_choices() -> None:
    provider = MemoryProvider({"app": {"1.0": ["lib>=2"], "0.9": ["lib<2"]}, "lib": {"2.0": [], "1.0": []}})
    enc = Encoding()
    app, lib = canonicalize_name("app"), canonicalize_name("lib")
    for name in (app, lib):
        enc.add_name(name, provider.candidates(name).candidates)
    enc.require(_root("app"), enc.candidates_of[app])
    for parent in enc.candidates_of[app]:
        for req in provider.dependencies(parent).requires:
            matching = [c for c in enc.candidates_of[lib] if req.specifier.contains(c.version)]
            enc.require(Reason(ReasonKind.DEPENDENCY, req, parent=parent), matching, guard=[enc.var(parent)])
    a10, a09 = (enc.var(c) for c in enc.candidates_of[app])
    l20, l10 = (enc.var(c) for c in enc.candidates_of[lib])
    assert _models(enc, [a10, a09, l20, l10]) == {frozenset([a10, l20]), frozenset([a09, l10])}
