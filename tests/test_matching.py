"""What a requirement means for the target (resolver/matching.py) and where it was written
(resolver/origin.py): the solver's collaborators, tested on their own."""

from __future__ import annotations

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

from satlock.resolver.candidates import Candidate
from satlock.resolver.matching import Applies, Matcher
from satlock.resolver.memory import MemoryProvider
from satlock.resolver.origin import DEPENDENCIES, Origin, Table
from satlock.resolver.solve import RootRequirement, Solver

ENV = {**default_environment(), "python_version": "3.12", "python_full_version": "3.12.4", "sys_platform": "linux"}


def _cands(*versions: str) -> list[Candidate]:
    return [Candidate(canonicalize_name("a"), Version(v)) for v in versions]


def _versions(cands: list[Candidate]) -> list[str]:
    return [str(c.version) for c in cands]


def test_pre_releases_match_only_when_allowed_or_named_or_nothing_else_does():
    cands = _cands("2.0b1", "1.0")
    assert _versions(Matcher(ENV).matches(Requirement("a"), cands)) == ["1.0"]
    assert _versions(Matcher(ENV, allow_prereleases=True).matches(Requirement("a"), cands)) == ["2.0b1", "1.0"]
    assert _versions(Matcher(ENV).matches(Requirement("a>=2.0b1"), cands)) == ["2.0b1"]
    assert _versions(Matcher(ENV).matches(Requirement("a>1"), _cands("2.0b1"))) == ["2.0b1"]


def test_dependencies_say_which_apply_always_and_which_only_with_an_extra():
    listed = Matcher(ENV).dependencies([Requirement("b"), Requirement('c; extra == "cli"'),
                                        Requirement('d; sys_platform == "win32"'), Requirement('e; sys_platform == "linux"')])
    assert [(str(d.requirement.name), d.applies) for d in listed] == [
        ("b", Applies.ALWAYS), ("c", Applies.WITH_EXTRA), ("d", Applies.WITH_EXTRA), ("e", Applies.ALWAYS)]
    # Behind an extra: only what that extra's marker brings in, never another platform's.
    assert [r.name for r in Matcher(ENV).with_extra(listed, "cli")] == ["c"]
    assert Matcher(ENV).with_extra(listed, "other") == []


def test_an_override_replaces_every_requirement_on_its_name():
    matcher = Matcher(ENV, overrides=[Requirement("b>=2"), Requirement("b<4")])
    listed = matcher.dependencies([Requirement("b<2"), Requirement("c")])
    assert [str(d.requirement) for d in listed] == ["b>=2", "b<4", "c"]


def test_requires_python_is_checked_against_the_target_interpreter():
    matcher = Matcher(ENV)
    assert matcher.supports_python(None)
    assert matcher.supports_python(SpecifierSet(">=3.10"))
    assert not matcher.supports_python(SpecifierSet("<3.12"))


def test_an_origin_reads_as_its_table_in_pyproject_toml():
    assert str(DEPENDENCIES) == "project.dependencies"
    assert str(Origin.extra("cli")) == "project.optional-dependencies.cli"
    assert str(Origin.group("dev.tools")) == "dependency-groups.dev.tools"
    assert str(Origin.build("numpy")) == "build requirements of numpy"
    assert Origin.group("dev.tools").name == "dev.tools" and Origin.group("x").table is Table.GROUP


def test_the_solver_keeps_each_roots_origin_for_the_lock():
    index = {"a": {"1.0": []}, "b": {"1.0": []}}
    roots = [RootRequirement(Requirement("a")), RootRequirement(Requirement("b"), Origin.extra("cli"))]
    resolution = Solver(MemoryProvider(index), ENV).solve(roots)
    assert [(r.requirement.name, r.where) for r in resolution.roots] == [("a", DEPENDENCIES), ("b", Origin.extra("cli"))]


def test_an_extra_brings_in_the_same_requirements_whether_or_not_its_marker_is_skipped():
    # Markers of every shape: only ``extra == "x"`` ones may be skipped for other extras;
    # the answer must be what evaluating each marker with that extra gives.
    requires = [Requirement(t) for t in (
        "a; extra == 'cli'", "b; extra == 'Docs_Extra'", "c; extra == 'cli' and sys_platform == 'win32'",
        "d; extra != 'cli'", "e; extra == 'cli' or extra == 'test'", "f; python_version < '3'", "g",
        "h; 'test' == extra", "i; extra == 'cli' and extra == 'test'")]
    match = Matcher(ENV)
    listed = match.dependencies(requires)
    for extra in ("cli", "docs-extra", "Docs_Extra", "test", "other", ""):
        expected = [r for r in requires if r.marker is not None and not r.marker.evaluate({**ENV, "extra": ""})
                    and r.marker.evaluate({**ENV, "extra": extra})]
        assert match.with_extra(listed, extra) == expected, extra
