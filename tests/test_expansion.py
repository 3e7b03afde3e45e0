"""The package side of the solve (resolver/expansion.py) on its own, over an in-memory index.

An ``Expansion`` grows the encoding from the provider's answers; these tests drive it
without the search and check what the encoding then allows and what a walk reaches.
"""

from __future__ import annotations

import pycosat
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from satlock.resolver.expansion import Expansion
from satlock.resolver.matching import Matcher
from satlock.resolver.memory import MemoryProvider
from satlock.resolver.resolution import Policy, RootRequirement, SolveStats

ENV = {**default_environment(), "python_version": "3.12", "python_full_version": "3.12.4"}
INDEX = {
    "app": {"2.0": ["lib>=2", "cli; extra == 'cli'"], "1.0": []},
    "lib": {"3.0": [], "2.0": [], "1.0": []},
    "cli": {"1.0": []},
    "win": {"1.0": []},
}


def _expansion(policy: Policy | None = None) -> tuple[Expansion, MemoryProvider]:
    provider = MemoryProvider(INDEX)
    policy = policy or Policy()
    return Expansion(provider, Matcher(ENV), policy, SolveStats()), provider


def _sat(x: Expansion, *units: int) -> bool:
    return pycosat.solve(x.enc.clauses_since(0) + [[u] for u in units], vars=x.enc.num_vars) != "UNSAT"


def test_roots_whose_marker_is_false_for_the_target_are_dropped() -> None:
    x, _ = _expansion()
    x.add_roots([RootRequirement(Requirement("app")), RootRequirement(Requirement("win; sys_platform == 'nonexistent'"))])
    assert [str(r.requirement) for r in x.roots] == ["app"]
    assert canonicalize_name("win") not in x.enc.candidates_of


def test_a_constraint_keeps_every_version_it_rejects_out_of_any_choice() -> None:
    x, _ = _expansion(Policy(constraints=[Requirement("lib<3")]))
    x.add_roots([RootRequirement(Requirement("lib"))])
    lib3, lib2, _ = x.eligible(canonicalize_name("lib"))
    assert not _sat(x, x.enc.var(lib3)) and _sat(x, x.enc.var(lib2))


def test_an_expanded_candidate_needs_its_dependencies_and_its_extra_only_when_asked_for() -> None:
    x, _ = _expansion()
    x.add_roots([RootRequirement(Requirement("app"))])
    app2 = x.eligible(canonicalize_name("app"))[0]
    x.expand_or_leave_out(app2)
    lib = canonicalize_name("lib")
    assert [str(c.version) for c in x.eligible(lib)] == ["3.0", "2.0"], "only the versions lib>=2 accepts get variables"
    lib_vars = [x.enc.var(c) for c in x.eligible(lib)]
    assert not _sat(x, x.enc.var(app2), *(-v for v in lib_vars))
    assert canonicalize_name("cli") not in x.enc.candidates_of, "nobody asked for app[cli]"
    cli = x.enc.extra(app2.name, "cli")
    x.add_roots([RootRequirement(Requirement("app[cli]"))])
    (cli1,) = x.eligible(canonicalize_name("cli"))
    assert not _sat(x, x.enc.var(app2), cli, -x.enc.var(cli1))
    assert x.extra_requirements(app2, "cli") == [Requirement("cli; extra == 'cli'")]


def test_the_walk_reaches_what_the_picks_require_with_the_extras_asked_for() -> None:
    x, _ = _expansion()
    x.add_roots([RootRequirement(Requirement("app[cli]"))])
    app2 = x.eligible(canonicalize_name("app"))[0]
    x.expand_or_leave_out(app2)
    picks = {n: x.eligible(n)[0] for n in x.enc.candidates_of}
    order, extras = x.walk(lambda n: picks.get(n))
    assert order == ["app", "cli", "lib"]
    assert extras[canonicalize_name("app")] == {"cli"}
