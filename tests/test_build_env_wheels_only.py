"""A build environment installs wheels and never builds one: how a build requirement that is
only a source package (or only one at its newest version) is locked and told.

Before, an sdist-only build requirement was chosen anyway, then refused with a hint to add
a profile for it, which a build environment ignores: a user who followed it got the same
error again, and the story said the build's requirements "exclude" the runtime's version.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from indexbuilder import build_index, make_sdist, make_wheel
from test_build_variants import dists, invoke, lock_data, make_project  # noqa: F401


@pytest.fixture(scope="module")
def wheels_index(tmp_path_factory, dists) -> str:  # noqa: F811
    dest = tmp_path_factory.mktemp("wheelsonly")
    files = [
        *dists,
        # Static metadata, so the runtime can lock it, but no wheel: a build cannot take it.
        make_sdist(dest, "srconly", "0.1"),
        # An older version with a wheel, a newer one without.
        make_wheel(dest, "oldwheel", "1.0"),
        make_sdist(dest, "oldwheel", "2.0"),
    ]
    return build_index(tmp_path_factory.mktemp("wheelsonly-index"), files).as_uri()


def add_seedext_profile(project: Path, *requires: str) -> None:
    flags = [x for r in ("buildhelper", "setuptools", *requires) for x in ("--build-requires", r)]
    result = invoke("profile", "add", "seedext", *flags, "--project", project)
    assert result.exit_code == 0, result.output


def test_a_build_requirement_newest_only_as_an_sdist_takes_the_newest_version_with_a_wheel(tmp_path, wheels_index):
    project = make_project(tmp_path / "proj", ["buildhelper==1.0", "seedext"])
    add_seedext_profile(project, "oldwheel")
    result = invoke("lock", "--project", project, "--index-url", wheels_index)
    assert result.exit_code == 0, result.output
    env = lock_data(project)["tool"]["satlock"]["build-environments"]["seedext"]
    assert {p["name"]: p["version"] for p in env["packages"]}["oldwheel"] == "1.0"


@pytest.mark.parametrize("source", ["srconly", "seedb"], ids=["static-sdist", "sdist-with-its-own-profile"])
def test_a_build_requirement_with_no_wheel_says_build_environments_take_wheels_only(tmp_path, wheels_index, source):
    project = make_project(tmp_path / "proj", ["buildhelper==1.0", "seedext", source])
    add_seedext_profile(project, source)
    if source == "seedb":  # the very profile the old hint asked for
        result = invoke("profile", "add", "seedb", "--version", "0.1", "--requires-dist", "buildhelper", "--project", project)
        assert result.exit_code == 0, result.output
    before = (project / "pyproject.toml").read_text()
    result = invoke("lock", "--project", project, "--index-url", wheels_index, "-v")
    assert result.exit_code == 1
    assert result.output.count("error:") == 1 and "Traceback" not in result.output
    assert f"{source} has no installable version" in result.output
    assert "satlock installs build requirements from wheels only" in result.output
    # Not the hint that sends the user in a circle, nor a claim that a specifier excludes 0.1.
    assert "add a profile" not in result.output
    assert f"seedext 0.1 cannot be built against {source} 0.1 (its build environment cannot take these versions" in result.output
    assert not (project / "pylock.toml").exists() and (project / "pyproject.toml").read_text() == before
