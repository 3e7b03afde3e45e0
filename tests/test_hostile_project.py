"""Hostile names and folders in pyproject.toml, profiles and locks: refused before they are used."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
import tomlkit

from hostilekit import assert_one_error_line, run_cli
from indexbuilder import build_index, installed_wheel, make_wheel, project_toml
from satlock.buildenv.installed import installed_distributions
from satlock.buildenv.venv import open_venv


def _index(tmp_path: Path, *names: str) -> str:
    return build_index(tmp_path / "index", [make_wheel(tmp_path / "d", n, "1.0") for n in names]).as_uri()


def _project(root: Path, text: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text(text)
    return root


# -- extras and dependency groups: valid PEP 685 / PEP 735 names only ---------------------------------

INJECTED = "g' not in dependency_groups or 'h"


def _toml(optional: dict | None = None, groups: dict | None = None) -> str:
    """pyproject.toml with quoted keys, so any name can be written."""
    data: dict = {"project": {"name": "demo", "version": "0.1.0", "dependencies": ["aaa"]}}
    if optional:
        data["project"]["optional-dependencies"] = optional
    if groups:
        data["dependency-groups"] = groups
    return tomlkit.dumps(data)


@pytest.mark.parametrize("text, needle", [
    (_toml(groups={INJECTED: ["payload"]}), "dependency-groups: \"g' not in dependency_groups or 'h\" is not a valid"),
    (_toml(optional={"x' in extras or 'y": ["payload"]}), "project.optional-dependencies"),
    (_toml(groups={"dev": [{"include-group": INJECTED}], INJECTED: ["payload"]}), "dependency-groups"),
    (_toml(groups={"dev": [{"include-group": "a b"}], "a b": ["payload"]}), "dependency-groups"),
    (_toml(groups={"-dev": ["payload"]}), "'-dev' is not a valid dependency group name"),
])
def test_injected_group_or_extra_name_is_refused_when_pyproject_is_read(tmp_path: Path, text: str, needle: str) -> None:
    url = _index(tmp_path, "aaa", "payload")
    project = _project(tmp_path / "p", text)
    for command in ("lock", "sync"):
        result = run_cli(command, "--project", project, "--index-url", url)
        assert_one_error_line(result, "pyproject.toml", needle)
    assert sorted(p.name for p in project.iterdir()) == ["pyproject.toml"]


def test_unusual_but_valid_group_and_extra_names_still_lock(tmp_path: Path) -> None:
    url = _index(tmp_path, "aaa", "payload")
    project = _project(tmp_path / "p", _toml(groups={"Dev.Tools_2": ["payload"]}, optional={"x-y.z": ["payload"]}))
    result = run_cli("lock", "--project", project, "--index-url", url)
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("requirement", ["aaa ; 'dev' in dependency_groups", "aaa ; 'x' in extras",
                                         "payload @ https://example.invalid/payload-1.0-py3-none-any.whl ; 'x' in extras"])
def test_a_lock_file_marker_in_a_project_requirement_is_one_error_line(tmp_path: Path, requirement: str) -> None:
    """``extras`` and ``dependency_groups`` are PEP 751 lock-file marker names; a project's
    requirement that names them cannot be evaluated (it was a packaging traceback)."""
    url = _index(tmp_path, "aaa", "payload")
    project = _project(tmp_path / "p", project_toml([requirement]))
    for command in ("lock", "sync"):
        result = run_cli(command, "--project", project, "--index-url", url)
        assert_one_error_line(result, "pyproject.toml", "project.dependencies[0]", "lock file")
    assert sorted(p.name for p in project.iterdir()) == ["pyproject.toml"]


# -- NUL in a profile's env ------------------------------------------------------------------------


@pytest.mark.parametrize("env", ['A = "b\\u0000c"', '"A\\u0000B" = "c"'])
def test_nul_in_a_profile_env_is_refused_when_the_profile_is_read(tmp_path: Path, env: str) -> None:
    url = _index(tmp_path, "aaa")
    project = _project(tmp_path / "p", project_toml(["aaa"]) + f"\n[tool.satlock.profiles.aaa]\nenv = {{ {env} }}\n")
    for command in (["lock"], ["sync"], ["profile", "show", "aaa"]):
        args = [*command, "--project", project] + (["--index-url", url] if command[0] != "profile" else [])
        result = run_cli(*args)
        assert_one_error_line(result, "pyproject.toml", "aaa", "NUL" if "b\\u0000c" in env else "environment variable name")
    assert sorted(p.name for p in project.iterdir()) == ["pyproject.toml"]


@pytest.mark.parametrize("flag", ["A=b\0c", "A\0B=c"])
def test_nul_in_a_profile_env_is_refused_by_profile_add(tmp_path: Path, flag: str) -> None:
    project = _project(tmp_path / "p", project_toml(["aaa"]))
    before = (project / "pyproject.toml").read_bytes()
    result = run_cli("profile", "add", "aaa", "--env", flag, "--project", project)
    assert_one_error_line(result, "aaa")
    assert (project / "pyproject.toml").read_bytes() == before


# -- a lock's local folder outside the project ---------------------------------------------------------


def _outside_project(tmp_path: Path) -> tuple[Path, str, Path]:
    """A locked project whose pylock.toml was edited to build ../evil, whose setup.py leaves a mark."""
    url = _index(tmp_path, "aaa")
    evil = tmp_path / "evil"
    evil.mkdir()
    mark = tmp_path / "setup-py-ran"
    (evil / "setup.py").write_text(f"open({str(mark)!r}, 'w').close()\nfrom setuptools import setup\nsetup(name='evil', version='1.0')\n")
    project = _project(tmp_path / "p", project_toml(["aaa"]))
    assert run_cli("lock", "--project", project, "--index-url", url).exit_code == 0
    lock_path = project / "pylock.toml"
    data = tomllib.loads(lock_path.read_text())
    data["packages"].append({"name": "evil", "version": "1.0", "directory": {"path": "../evil"}})
    lock_path.write_text(tomlkit.dumps(data))
    return project, url, mark


@pytest.mark.parametrize("frozen", [True, False])
def test_lock_directory_outside_the_project_is_not_built(tmp_path: Path, frozen: bool) -> None:
    project, url, mark = _outside_project(tmp_path)
    before = (project / "pylock.toml").read_bytes()
    result = run_cli("sync", "--project", project, "--index-url", url, *(["--frozen"] if frozen else []))
    assert_one_error_line(result, "pylock.toml", "evil is built from", "outside the project folder")
    assert "--allow-outside-project" in result.output
    assert not mark.exists()
    assert not (project / ".venv").exists()
    assert (project / "pylock.toml").read_bytes() == before


def test_allow_outside_project_lets_the_lock_directory_through(tmp_path: Path) -> None:
    project, url, mark = _outside_project(tmp_path)
    result = run_cli("sync", "--project", project, "--index-url", url, "--frozen", "--no-build", "--allow-outside-project")
    assert_one_error_line(result, "building from source is disabled", "evil")


def test_path_source_declared_in_pyproject_outside_the_project_still_builds(tmp_path: Path) -> None:
    tools = tmp_path / "tools"
    dists = [installed_wheel(n, tools) for n in ("setuptools", "wheel", "packaging")]
    url = build_index(tmp_path / "index", [*dists, make_wheel(tmp_path / "d", "b", "1.0")]).as_uri()
    src = tmp_path / "mylib"
    (src / "mylib").mkdir(parents=True)
    (src / "mylib" / "__init__.py").write_text("")
    (src / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=61", "wheel"]\nbuild-backend = "setuptools.build_meta"\n\n'
        '[project]\nname = "mylib"\nversion = "0.3"\ndependencies = ["b"]\n')
    project = _project(tmp_path / "p", project_toml(["mylib"]) + '\n[tool.satlock.sources]\nmylib = { path = "../mylib" }\n')
    assert run_cli("lock", "--project", project, "--index-url", url).exit_code == 0
    result = run_cli("sync", "--project", project, "--index-url", url, "--frozen")
    assert result.exit_code == 0, result.output
    assert {n: d.version for n, d in installed_distributions(open_venv(project / ".venv")).items()} == {"b": "1.0", "mylib": "0.3"}


def test_lock_directory_inside_the_project_by_name_but_linked_outside_is_not_built(tmp_path: Path) -> None:
    project, url, mark = _outside_project(tmp_path)
    (project / "vendored").symlink_to(tmp_path / "evil")
    lock_path = project / "pylock.toml"
    data = tomllib.loads(lock_path.read_text())
    data["packages"][-1]["directory"] = {"path": "vendored"}
    lock_path.write_text(tomlkit.dumps(data))
    result = run_cli("sync", "--project", project, "--index-url", url, "--frozen")
    assert_one_error_line(result, "evil is built from", str(tmp_path / "evil"))
    assert not mark.exists()


@pytest.mark.parametrize("command", [["lock"], ["sync"], ["profile", "list"], ["profile", "add", "x"], ["profile", "remove", "x"]])
def test_every_command_says_the_same_thing_when_there_is_no_pyproject(tmp_path, command):
    result = run_cli(*command, "--project", tmp_path)
    assert result.exit_code == 1, result.output
    assert result.output.splitlines() == [f"error: no pyproject.toml in {tmp_path}",
                                          "hint: run satlock in a project folder or pass --project DIR"]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("target", ["folder", "dangling"])
def test_venv_that_is_a_link_to_something_not_an_environment_is_one_error_line(tmp_path: Path, target: str) -> None:
    """A project can hold ``.venv`` as a link (git stores links); venv refuses to create an
    environment through one, which was a ValueError traceback."""
    url = _index(tmp_path, "aaa")
    project = _project(tmp_path / "p", project_toml(["aaa"]))
    elsewhere = tmp_path / "elsewhere"
    if target == "folder":
        elsewhere.mkdir()
        (elsewhere / "keep.txt").write_text("mine\n")
    (project / ".venv").symlink_to(elsewhere)
    result = run_cli("sync", "--project", project, "--index-url", url)
    assert_one_error_line(result, str(project / ".venv"))
    assert (project / ".venv").is_symlink()
    assert sorted(p.name for p in elsewhere.iterdir()) == ["keep.txt"] if target == "folder" else not elsewhere.exists()
