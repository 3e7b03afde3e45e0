"""The solver on an in-memory index: which versions it picks, and why.

An index here is ``{project: {version: [Requires-Dist, ...]}}`` served by
resolver/memory.py; each test states one preference or rule of the module docstring of
resolver/solve.py and checks it through ``Solver.solve`` alone.
"""

from __future__ import annotations

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from satlock.resolver.memory import MemoryProvider
from satlock.resolver.solve import Policy, Resolution, RootRequirement, Solver, Unsatisfiable

ENV = {**default_environment(), "python_version": "3.12", "python_full_version": "3.12.4"}


def _solve(index: dict[str, dict[str, list[str]]], *roots: str | RootRequirement, policy: Policy | None = None,
           provider: MemoryProvider | None = None) -> Resolution:
    reqs = [r if isinstance(r, RootRequirement) else RootRequirement(Requirement(r)) for r in roots]
    return Solver(provider or MemoryProvider(index), ENV, policy).solve(reqs)


def _picked(resolution: Resolution) -> dict[str, str]:
    return {name: str(c.version) for name, c in resolution.chosen.items()}


def test_newest_version_is_preferred() -> None:
    index = {"a": {"1.0": [], "3.0": [], "2.0": []}}
    assert _picked(_solve(index, "a")) == {"a": "3.0"}


def test_newest_version_the_requirements_allow_is_chosen() -> None:
    index = {"a": {"1.0": [], "2.0": [], "3.0": []}, "b": {"1.0": ["a<3"]}}
    assert _picked(_solve(index, "b", "a")) == {"b": "1.0", "a": "2.0"}


def test_a_newest_version_whose_dependencies_conflict_is_passed_over() -> None:
    index = {
        "app": {"1.0": ["lib", "util<2"]},
        "lib": {"1.0": ["util<2"], "2.0": ["util>=2"]},
        "util": {"1.0": [], "2.0": []},
    }
    assert _picked(_solve(index, "app")) == {"app": "1.0", "lib": "1.0", "util": "1.0"}


def test_an_earlier_direct_requirement_gets_its_newest_version_first() -> None:
    # x 2.0 and y 2.0 cannot go together: the one listed first in pyproject.toml wins.
    index = {"x": {"1.0": [], "2.0": ["y<2"]}, "y": {"1.0": [], "2.0": []}}
    assert _picked(_solve(index, "x", "y")) == {"x": "2.0", "y": "1.0"}
    assert _picked(_solve(index, "y", "x")) == {"y": "2.0", "x": "1.0"}


def test_direct_requirements_outrank_transitive_ones() -> None:
    # deep's newest pulls an old shared; the project asks for shared directly, so shared keeps its newest.
    index = {
        "top": {"1.0": ["deep"]},
        "deep": {"1.0": [], "2.0": ["shared<2"]},
        "shared": {"1.0": [], "2.0": []},
    }
    assert _picked(_solve(index, "top", "shared")) == {"top": "1.0", "shared": "2.0", "deep": "1.0"}


def test_chosen_packages_are_listed_breadth_first_from_the_project() -> None:
    index = {"a": {"1.0": ["c"]}, "b": {"1.0": ["d"]}, "c": {"1.0": ["e"]}, "d": {"1.0": []}, "e": {"1.0": []}}
    assert list(_solve(index, "b", "a").chosen) == ["b", "a", "d", "c", "e"]


def test_a_locked_version_is_kept_while_it_is_still_allowed() -> None:
    index = {"a": {"1.0": [], "2.0": [], "3.0": []}}
    locked = Policy(preferences={canonicalize_name("a"): Version("2.0")})
    assert _picked(_solve(index, "a", policy=locked)) == {"a": "2.0"}
    assert _picked(_solve(index, "a>2", policy=locked)) == {"a": "3.0"}


def test_a_locked_version_gone_from_the_index_falls_back_to_newest() -> None:
    index = {"a": {"1.0": [], "3.0": []}}
    locked = Policy(preferences={canonicalize_name("a"): Version("2.0")})
    assert _picked(_solve(index, "a", policy=locked)) == {"a": "3.0"}


def test_a_requested_extra_pulls_in_its_dependencies_and_is_recorded() -> None:
    index = {"a": {"1.0": ["b", "c; extra == 'cli'"]}, "b": {"1.0": []}, "c": {"1.0": []}}
    plain = _solve(index, "a")
    assert _picked(plain) == {"a": "1.0", "b": "1.0"}
    with_cli = _solve(index, "a[cli]")
    assert _picked(with_cli) == {"a": "1.0", "b": "1.0", "c": "1.0"}
    assert with_cli.extras["a"] == {"cli"}
    assert [str(r) for r in with_cli.extra_requirements["a"]["cli"]] == ['c; extra == "cli"']
    assert [str(r) for r in with_cli.requirements["a"]] == ["b"]


def test_an_extra_asked_by_a_dependency_constrains_the_choice() -> None:
    # Only c 1.0 is allowed by a[cli]'s own dependency; plain a would take c 2.0.
    index = {
        "top": {"1.0": ["a[cli]"]},
        "a": {"1.0": ["c; extra == 'cli'", "d<2; extra == 'cli'"]},
        "c": {"1.0": ["d<2"], "2.0": ["d>=2"]},
        "d": {"1.0": [], "2.0": []},
    }
    assert _picked(_solve(index, "top", "c")) == {"top": "1.0", "c": "1.0", "a": "1.0", "d": "1.0"}


def test_a_dependency_whose_marker_is_false_for_the_target_is_left_out() -> None:
    index = {"a": {"1.0": ["b; python_version < '3'", "c; python_version >= '3'"]}, "b": {"1.0": []}, "c": {"1.0": []}}
    assert _picked(_solve(index, "a")) == {"a": "1.0", "c": "1.0"}


def test_a_project_requirement_whose_marker_is_false_is_ignored() -> None:
    index = {"a": {"1.0": []}}
    assert _picked(_solve(index, "a", "missing; sys_platform == 'nonexistent'")) == {"a": "1.0"}


def test_a_constraint_limits_versions_without_adding_packages() -> None:
    index = {"a": {"1.0": [], "2.0": []}, "unused": {"1.0": []}}
    policy = Policy(constraints=[Requirement("a<2"), Requirement("unused==1.0")])
    assert _picked(_solve(index, "a", policy=policy)) == {"a": "1.0"}


def test_a_constraint_applies_to_transitive_dependencies() -> None:
    index = {"a": {"1.0": ["b"]}, "b": {"1.0": [], "2.0": [], "3.0": []}}
    policy = Policy(constraints=[Requirement("b!=3.0")])
    assert _picked(_solve(index, "a", policy=policy)) == {"a": "1.0", "b": "2.0"}


def test_an_override_replaces_every_requirement_on_its_name() -> None:
    index = {"a": {"1.0": ["b>=2"]}, "b": {"1.0": [], "2.0": []}}
    policy = Policy(overrides=[Requirement("b==1.0")])
    assert _picked(_solve(index, "a", policy=policy)) == {"a": "1.0", "b": "1.0"}


def test_prereleases_only_when_named_allowed_or_nothing_else_fits() -> None:
    index = {"a": {"1.0": [], "2.0rc1": []}, "only": {"1.0b1": []}}
    assert _picked(_solve(index, "a")) == {"a": "1.0"}
    assert _picked(_solve(index, "a>=2.0rc1")) == {"a": "2.0rc1"}
    assert _picked(_solve(index, "a", policy=Policy(allow_prereleases=True))) == {"a": "2.0rc1"}
    assert _picked(_solve(index, "only")) == {"only": "1.0b1"}


def test_same_input_gives_the_same_choice_in_the_same_order() -> None:
    index = {
        "a": {f"{i}.0": [f"b<={i}", "c"] for i in range(1, 8)},
        "b": {f"{i}.0": [f"c>={i}"] for i in range(1, 8)},
        "c": {f"{i}.0": [] for i in range(1, 5)},
    }
    first = _solve(index, "a", "b")
    again = _solve(index, "a", "b")
    assert list(_picked(first).items()) == list(_picked(again).items())
    assert _picked(first) == {"a": "7.0", "b": "4.0", "c": "4.0"}


def test_metadata_is_fetched_only_for_candidates_the_solver_considers() -> None:
    index = {"a": {f"{i}.0": [] for i in range(1, 101)}}
    provider = MemoryProvider(index)
    assert _picked(_solve(index, "a", provider=provider)) == {"a": "100.0"}
    assert provider.dependency_calls <= 2


def test_no_solution_raises_unsatisfiable() -> None:
    index = {"a": {"1.0": ["b>=2"]}, "b": {"1.0": []}}
    with pytest.raises(Unsatisfiable):
        _solve(index, "a")


def test_a_requirement_on_an_unknown_project_is_unsatisfiable() -> None:
    with pytest.raises(Unsatisfiable):
        _solve({"a": {"1.0": []}}, "a", "ghost")


def test_versions_a_decided_requirement_rules_out_are_not_asked_about_one_by_one() -> None:
    # sdk==1.20 asks for core 1.23.*, seven hundred releases below the newest core (as
    # boto3 pins botocore). The newest core that sdk accepts must be found without walking
    # down the newer releases one solver call after another.
    core = {f"1.{minor}.{patch}": [] for minor in range(20, 31) for patch in range(100)}
    index = {"sdk": {"1.20": ["core>=1.23,<1.24"], "1.21": ["core>=1.24"]}, "core": core}
    resolution = _solve(index, "sdk==1.20", "core")
    assert _picked(resolution) == {"sdk": "1.20", "core": "1.23.99"}
    assert resolution.stats.solver_calls <= 8  # 35 when each newer release was asked about
