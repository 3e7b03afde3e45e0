"""A wheel sync builds from source is held to the dependencies the lock recorded for its
package, as a downloaded wheel is: a build that needs what the lock does not install is
refused, instead of leaving an environment without it."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from hostilekit import assert_one_error_line, run_cli
from indexbuilder import IndexServer, build_index, installed_wheel, make_sdist, make_wheel, project_toml
from satlock.buildenv.installed import installed_distributions
from satlock.buildenv.venv import open_venv


def _setuptools(dists: Path) -> list[Path]:
    return [installed_wheel(name, dists) for name in ("setuptools", "wheel")]


def _installed(project: Path) -> dict[str, str]:
    if not (project / ".venv").exists():
        return {}
    return {name: d.version for name, d in installed_distributions(open_venv(project / ".venv")).items()}


def _locked_dependencies(project: Path, name: str) -> list[str]:
    lock = tomllib.loads((project / "pylock.toml").read_text())
    package = next(p for p in lock["packages"] if p["name"] == name)
    return sorted(d["name"] for d in package.get("dependencies", []))


def _lying_sdist(dists: Path) -> Path:
    """``liar`` 1.0, whose static PKG-INFO says it needs ``helper`` and whose build also needs ``extra``."""
    pyproject = ('[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n\n'
                 '[project]\nname = "liar"\nversion = "1.0"\ndependencies = ["helper", "extra"]\n')
    return make_sdist(dists, "liar", "1.0", requires=["helper"], pyproject=pyproject)


@pytest.fixture()
def index(tmp_path: Path):
    dists = tmp_path / "dists"
    build_index(tmp_path / "index", [*_setuptools(dists), _lying_sdist(dists), make_wheel(dists, "helper", "1.0"),
                                     make_wheel(dists, "extra", "1.0")])
    with IndexServer(tmp_path / "index") as server:
        yield f"{server.url}/simple"


def _project(tmp_path: Path, deps: list[str], tool: str = "") -> Path:
    project = tmp_path / "project"
    project.mkdir()
    (project / "pyproject.toml").write_text(project_toml(deps, tool=tool))
    return project


def test_an_sdist_whose_build_needs_what_its_locked_metadata_did_not_is_refused_before_the_environment_changes(
        tmp_path: Path, index: str) -> None:
    project = _project(tmp_path, ["liar"])
    assert run_cli("lock", "--project", project, "--index-url", index).exit_code == 0
    assert _locked_dependencies(project, "liar") == ["helper"]
    result = run_cli("sync", "--project", project, "--index-url", index)
    assert_one_error_line(result)
    error = result.output.splitlines()[0]
    assert "liar-1.0" in error and "built from source, it requires extra" in error
    assert "the lock does not install with liar 1.0 (its locked dependencies: helper)" in error
    assert "run `satlock lock` again" in result.output
    assert _installed(project) == {}, "nothing is installed: the build is checked before any install"


def test_a_profile_declaring_the_metadata_keeps_its_build_unchecked(tmp_path: Path, index: str) -> None:
    # The user said what liar needs; the lock takes that, as it does without building.
    tool = '[tool.satlock.profiles.liar]\nmetadata = { version = "1.0", requires-dist = ["helper"] }\n'
    project = _project(tmp_path, ["liar"], tool=tool)
    result = run_cli("sync", "--project", project, "--index-url", index)
    assert result.exit_code == 0, result.output
    assert _installed(project) == {"liar": "1.0", "helper": "1.0"}


def _folder_package(root: Path, deps: list[str]) -> Path:
    root.mkdir(exist_ok=True)
    listed = ", ".join(f'"{d}"' for d in deps)
    (root / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n\n'
        f'[project]\nname = "local-pkg"\nversion = "0.1"\ndependencies = [{listed}]\n')
    (root / "local_pkg").mkdir(exist_ok=True)
    (root / "local_pkg" / "__init__.py").write_text("")
    return root


def test_a_folder_source_given_a_dependency_after_locking_is_refused_frozen_and_locked_again_otherwise(
        tmp_path: Path, index: str) -> None:
    project = _project(tmp_path, ["local-pkg"], tool='[tool.satlock.sources]\nlocal-pkg = { path = "local" }\n')
    _folder_package(project / "local", ["helper"])
    assert run_cli("lock", "--project", project, "--index-url", index).exit_code == 0
    _folder_package(project / "local", ["helper", "extra"])
    frozen = run_cli("sync", "--project", project, "--index-url", index, "--frozen")
    assert_one_error_line(frozen)
    assert "built from source, it requires extra" in frozen.output and "local-pkg 0.1" in frozen.output
    assert "local_pkg" not in " ".join(_installed(project))
    again = run_cli("sync", "--project", project, "--index-url", index)
    assert again.exit_code == 0, again.output
    assert _installed(project) == {"local-pkg": "0.1", "helper": "1.0", "extra": "1.0"}


def test_a_folder_source_now_requiring_what_the_lock_installs_only_with_an_extra_is_refused_without_that_extra(
        tmp_path: Path, index: str) -> None:
    # Locked, local-pkg needed helper only for its extra x, which the project's extra "full" asks for:
    # the lock lists helper among local-pkg's dependencies, but a sync without "full" does not install it.
    extra = '[project.optional-dependencies]\nx = ["helper"]\n'
    project = tmp_path / "project"
    project.mkdir()
    (project / "pyproject.toml").write_text(project_toml(["local-pkg"], optional={"full": ["local-pkg[x]"]},
                                                         tool='[tool.satlock.sources]\nlocal-pkg = { path = "local" }\n'))
    _folder_package(project / "local", [])
    with (project / "local" / "pyproject.toml").open("a") as f:
        f.write(extra)
    assert run_cli("lock", "--project", project, "--index-url", index).exit_code == 0
    assert _locked_dependencies(project, "local-pkg") == ["helper"]
    _folder_package(project / "local", ["helper"])
    with (project / "local" / "pyproject.toml").open("a") as f:
        f.write(extra)
    frozen = run_cli("sync", "--project", project, "--index-url", index, "--frozen")
    assert_one_error_line(frozen, "local_pkg-0.1", "built from source, it requires helper",
                          "only for extras or groups this sync does not select")
    assert "local-pkg" not in _installed(project)
    full = run_cli("sync", "--project", project, "--index-url", index, "--frozen", "--extra", "full")
    assert full.exit_code == 0, full.output
    assert _installed(project) == {"local-pkg": "0.1", "helper": "1.0"}


@pytest.mark.parametrize("override, installed", [('helper>=2', {"helper": "2.0"}), ('helper; sys_platform == "none"', {})],
                         ids=["replaced", "dropped"])
@pytest.mark.parametrize("built", [True, False], ids=["sdist", "wheel"])
def test_a_package_whose_requirement_the_projects_overrides_replace_is_locked_and_synced(
        tmp_path: Path, built: bool, override: str, installed: dict[str, str]) -> None:
    # pinned needs helper<2; the project's override puts helper 2.0 in its place, or (its marker never
    # true) drops it, as uv's override-dependencies do.
    dists = tmp_path / "dists"
    pinned = make_sdist(dists, "pinned", "1.0", requires=["helper<2"]) if built else make_wheel(dists, "pinned", "1.0", requires=["helper<2"])
    build_index(tmp_path / "index", [*_setuptools(dists), pinned, make_wheel(dists, "helper", "1.0"), make_wheel(dists, "helper", "2.0")])
    project = _project(tmp_path, ["pinned"], tool=f"[tool.satlock]\noverrides = ['{override}']\n")
    with IndexServer(tmp_path / "index") as server:
        assert run_cli("lock", "--project", project, "--index-url", f"{server.url}/simple").exit_code == 0
        result = run_cli("sync", "--project", project, "--index-url", f"{server.url}/simple")
    assert result.exit_code == 0, result.output
    assert _installed(project) == {"pinned": "1.0", **installed}
