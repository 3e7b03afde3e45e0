"""Conflict stories from resolver/explain.py: the minimal set of reasons, told in words.

Each index here has no solution and also holds requirements that play no part in the
conflict; the story must name exactly the requirements that do, so a user knows which
one to change.
"""

from __future__ import annotations

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement

from satlock.resolver.explain import explain
from satlock.resolver.memory import MemoryProvider
from satlock.resolver.origin import Origin
from satlock.resolver.solve import Policy, RootRequirement, Solver, Unsatisfiable

ENV = {**default_environment(), "python_version": "3.12", "python_full_version": "3.12.4"}


def _story(index: dict[str, dict[str, list[str]]], *roots: str | RootRequirement, policy: Policy | None = None) -> list[str]:
    """The explanation's bullet lines (without the leading '  - ')."""
    reqs = [r if isinstance(r, RootRequirement) else RootRequirement(Requirement(r)) for r in roots]
    with pytest.raises(Unsatisfiable) as info:
        Solver(MemoryProvider(index), ENV, policy).solve(reqs)
    text = explain(info.value.encoding, info.value.excluded)
    head, *body, tail = text.splitlines()
    assert head == "no set of versions satisfies all of these together:"
    assert tail == "change or loosen one of them."
    assert all(line.startswith("  - ") for line in body)
    return [line[4:] for line in body]


def test_story_names_the_minimal_conflict_and_nothing_else() -> None:
    index = {
        "b": {"3.0": ["c<1"], "2.0": []},
        "c": {"0.5": [], "1.0": [], "2.0": []},
        "bystander": {"1.0": ["helper"]},
        "helper": {"1.0": []},
    }
    lines = _story(index, "bystander", "c>=1", "b>=3")
    assert sorted(lines) == sorted([
        "the project requires c>=1 (in project.dependencies)",
        "the project requires b>=3 (in project.dependencies)",
        "b 3.0 depends on c<1",
    ])


def test_every_line_of_the_story_is_needed_for_the_conflict() -> None:
    # A chain: the project -> a -> b -> c<1, while another root needs c>=2 through d.
    index = {
        "a": {"1.0": ["b"]},
        "b": {"1.0": ["c<1"]},
        "c": {"0.1": [], "2.0": []},
        "d": {"1.0": ["c>=2"]},
        "e": {"1.0": ["c"]},
    }
    lines = _story(index, "e", "a", "d")
    assert sorted(lines) == sorted([
        "the project requires a (in project.dependencies)",
        "the project requires d (in project.dependencies)",
        "a 1.0 depends on b",
        "b 1.0 depends on c<1",
        "d 1.0 depends on c>=2",
    ])


def test_versions_that_say_the_same_are_told_as_one_range() -> None:
    index = {"b": {f"3.{i}": ["c<1"] for i in range(5)}, "c": {"0.5": [], "1.0": []}}
    lines = _story(index, "b>=3", "c>=1")
    assert "b 3.0 to 3.4 (5 versions) depend on c<1" in lines
    assert len(lines) == 3


def test_where_the_project_asks_is_named() -> None:
    index = {"a": {"1.0": []}}
    lines = _story(index, RootRequirement(Requirement("a>=2"), where=Origin.group("dev")))
    assert lines[0] == "the project requires a>=2 (in dependency-groups.dev)"


def test_a_project_with_no_version_is_said_to_have_none() -> None:
    lines = _story({"a": {"1.0": ["ghost>=1"]}}, "a")
    assert "ghost has no installable version on the configured indexes" in lines
    assert "a 1.0 depends on ghost>=1" in lines


def test_a_requirement_no_version_meets_says_so_and_names_the_newest() -> None:
    # The shape of polars[polars-cloud] asking polars_cloud>=0.13.0 when 0.12.0 is the newest:
    # the story must say no version matches, not leave one requirement "in conflict" with nothing.
    index = {"a": {"1.0": [], "1.5": []}, "b": {"1.0": ["a>=2"]}}
    assert "a has no installable version matching >=2 (the newest is 1.5)" in _story(index, "a>=2")
    lines = _story(index, "b")
    assert sorted(lines) == sorted([
        "the project requires b (in project.dependencies)",
        "b 1.0 depends on a>=2",
        "a has no installable version matching >=2 (the newest is 1.5)",
    ])


def test_many_pins_no_version_meets_are_one_line_of_the_story() -> None:
    # The shape of jax[tpu] on manylinux_2_28: every jax pins its own libtpu, none installable.
    index = {"jax": {f"0.{i}": [f"libtpu==0.0.{i}.*"] for i in range(1, 7)}, "libtpu": {"0.0.0": []}}
    lines = _story(index, "jax")
    told = [line for line in lines if line.startswith("libtpu ")]
    assert told == ["libtpu has no installable version matching ==0.0.1.*, ==0.0.2.*, ==0.0.3.*, ==0.0.4.* and 2 more "
                    "(the newest is 0.0.0)"], lines


def test_two_requirements_each_met_by_some_version_are_not_said_to_match_none() -> None:
    lines = _story({"a": {"1.0": [], "2.0": []}, "b": {"1.0": ["a<2"]}}, "a>=2", "b")
    assert not [line for line in lines if "no installable version" in line]


def test_a_constraint_in_the_conflict_is_named() -> None:
    index = {"a": {"1.0": [], "2.0": []}, "other": {"1.0": []}}
    policy = Policy(constraints=[Requirement("a<2"), Requirement("other<2")])
    lines = _story(index, "a>=2", "other", policy=policy)
    assert sorted(lines) == sorted([
        "the project requires a>=2 (in project.dependencies)",
        "the constraint a<2 (in tool.satlock.constraints) applies",
    ])


def test_a_dependency_of_an_extra_says_which_extra() -> None:
    index = {"a": {"1.0": ["c<1; extra == 'cli'"]}, "c": {"0.5": [], "1.0": []}}
    lines = _story(index, "a[cli]", "c>=1")
    assert "the project requires c>=1 (in project.dependencies)" in lines
    assert any(line.startswith("a 1.0 depends on c<1") and line.endswith("(with the extra 'cli')") for line in lines)
    assert len(lines) == 3


def test_a_dependency_taken_from_the_projects_git_source_names_it_as_a_git_url_with_its_subdirectory():
    from packaging.utils import canonicalize_name
    from packaging.version import Version

    from satlock.resolver.candidates import Candidate, DirectReference
    from satlock.resolver.explain import taken_from_the_project

    asking = Candidate(canonicalize_name("a"), Version("1.0"))
    ours = Candidate(canonicalize_name("y"), Version("2.0"),
                     direct=DirectReference("vcs", url="https://user:pw@example.com/repo", requested_revision="v1", subdirectory="sub"))
    (warning,) = taken_from_the_project([(asking, "", Requirement("y @ file:///example.com/repo"))],
                                        {asking.name: asking, ours.name: ours}, {})
    assert warning.startswith("a 1.0 asks for y @ file:///example.com/repo, but y is locked from the project's source "
                              "git+https://****@example.com/repo@v1#subdirectory=sub,")
