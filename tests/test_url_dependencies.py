"""A package from an index whose metadata asks for another package by URL (``y @ https://...``).

satlock takes a package from a URL only when the project itself names it there: the URL
is never fetched on an index's say-so, and a same-named package from the index is never
put in its place (dependency confusion). uv refuses the same way; pip would fetch the URL.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from hostilekit import assert_one_error_line, run_cli
from indexbuilder import IndexServer, build_index, installed_wheel, make_sdist, make_wheel, project_toml


def _project(tmp_path: Path, dependencies: list[str], tool: str = "") -> Path:
    project = tmp_path / "project"
    project.mkdir()
    (project / "pyproject.toml").write_text(project_toml(dependencies, tool=tool))
    return project


def _locked(project: Path) -> dict[str, str]:
    lock = tomllib.loads((project / "pylock.toml").read_text())
    return {p["name"]: p["version"] for p in lock["packages"]}


def test_a_url_dependency_of_an_index_package_is_neither_fetched_nor_replaced_by_the_index_package(tmp_path):
    served = tmp_path / "served"
    served.mkdir()
    with IndexServer(served) as server:
        url = f"{server.url}/elsewhere/y-2.0-py3-none-any.whl"
        make_wheel(served / "elsewhere", "y", "2.0")
        build_index(served, [make_wheel(tmp_path / "d", "a", "1.0", requires=[f"y @ {url}"]), make_wheel(tmp_path / "d", "y", "1.0")])
        project = _project(tmp_path, ["a"])
        result = run_cli("lock", "--project", project, "--index-url", f"{server.url}/simple/")
        requested = [path for _method, path, _range in server.requests]
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert f"a 1.0 depends on y @ {url}" in result.output
    assert f"add `y @ {url}` to the project's dependencies" in result.output
    assert requested and not any(path.startswith("/elsewhere/") for path in requested)
    assert not (project / "pylock.toml").exists()


def test_a_url_dependency_is_taken_from_the_url_the_project_names_for_it(tmp_path):
    elsewhere = make_wheel(tmp_path / "elsewhere", "y", "2.0")
    index = build_index(tmp_path / "index", [make_wheel(tmp_path / "d", "a", "1.0", requires=[f"y @ {elsewhere.as_uri()}"]),
                                             make_wheel(tmp_path / "d", "y", "1.0")])
    project = _project(tmp_path, ["a", f"y @ {elsewhere.as_uri()}"])
    result = run_cli("lock", "--project", project, "--index-url", index.as_uri())
    assert result.exit_code == 0, result.output
    assert _locked(project) == {"a": "1.0", "y": "2.0"}


def test_a_wheel_url_with_its_sha256_fragment_locks_and_syncs_as_a_wheel(tmp_path):
    # `y @ https://host/y-2.0-py3-none-any.whl#sha256=...`, as pip-compile and the index's
    # pages write it: the fragment is the file's hash, and the file is a wheel, not an sdist.
    import hashlib

    served = tmp_path / "served"
    served.mkdir()
    wheel = make_wheel(served / "elsewhere", "y", "2.0", requires=["b"])
    sha = hashlib.sha256(wheel.read_bytes()).hexdigest()
    with IndexServer(served) as server:
        build_index(served, [make_wheel(tmp_path / "d", "b", "1.0")])
        url = f"{server.url}/elsewhere/{wheel.name}"
        project = _project(tmp_path, [f"y @ {url}#sha256={sha}"])
        index = ("--index-url", f"{server.url}/simple/", "--cache-dir", tmp_path / "c")
        result = run_cli("lock", "--project", project, *index)
        assert result.exit_code == 0, result.output
        assert _locked(project) == {"b": "1.0", "y": "2.0"}
        (y,) = [p for p in tomllib.loads((project / "pylock.toml").read_text())["packages"] if p["name"] == "y"]
        assert y["archive"]["hashes"] == {"sha256": sha}
        synced = run_cli("sync", "--project", project, *index)
    assert synced.exit_code == 0, synced.output
    assert list((project / ".venv").glob("lib/python*/site-packages/y-2.0.dist-info"))


def test_a_wheel_url_whose_sha256_fragment_is_not_the_files_is_refused_naming_both(tmp_path):
    served = tmp_path / "served"
    served.mkdir()
    wheel = make_wheel(served / "elsewhere", "y", "2.0")
    with IndexServer(served) as server:
        build_index(served, [])
        url = f"{server.url}/elsewhere/{wheel.name}"
        project = _project(tmp_path, [f"y @ {url}#sha256={'a' * 64}"])
        result = run_cli("lock", "--project", project, "--index-url", f"{server.url}/simple/", "--cache-dir", tmp_path / "c")
    assert_one_error_line(result, "hash mismatch", "a" * 64, wheel.name)
    assert "hint: check the #sha256= the project gives" in result.output
    assert not (project / "pylock.toml").exists()


def test_a_newer_version_needing_a_url_is_passed_over_with_a_warning_that_says_how_to_take_it(tmp_path):
    elsewhere = make_wheel(tmp_path / "elsewhere", "y", "2.0")
    index = build_index(tmp_path / "index", [
        make_wheel(tmp_path / "d", "a", "2.0", requires=[f"y @ {elsewhere.as_uri()}"]),
        make_wheel(tmp_path / "d", "a", "1.0", requires=["y"]),
        make_wheel(tmp_path / "d", "y", "1.0")])
    project = _project(tmp_path, ["a"])
    result = run_cli("lock", "--project", project, "--index-url", index.as_uri())
    assert result.exit_code == 0, result.output
    assert _locked(project) == {"a": "1.0", "y": "1.0"}
    warnings = [line for line in result.output.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1, result.output
    assert "a 1.0 is locked, not a 2.0" in warnings[0] and f"add `y @ {elsewhere.as_uri()}`" in warnings[0]


def test_a_url_dependency_behind_an_extra_matters_only_when_the_extra_is_asked_for(tmp_path):
    elsewhere = make_wheel(tmp_path / "elsewhere", "y", "2.0")
    index = build_index(tmp_path / "index", [
        make_wheel(tmp_path / "d", "a", "1.0", requires=[f"y @ {elsewhere.as_uri()} ; extra == 'x'"], extras={"x": []}),
        make_wheel(tmp_path / "d", "y", "1.0")])
    plain = _project(tmp_path, ["a"])
    assert run_cli("lock", "--project", plain, "--index-url", index.as_uri()).exit_code == 0
    assert _locked(plain) == {"a": "1.0"}
    (plain / "pyproject.toml").write_text(project_toml(["a[x]"]))
    result = run_cli("lock", "--project", plain, "--index-url", index.as_uri())
    assert result.exit_code == 1, result.output
    assert f"add `y @ {elsewhere.as_uri()}`" in result.output


def test_an_override_puts_the_index_package_in_place_of_a_url_dependency(tmp_path):
    elsewhere = make_wheel(tmp_path / "elsewhere", "y", "2.0")
    index = build_index(tmp_path / "index", [make_wheel(tmp_path / "d", "a", "1.0", requires=[f"y @ {elsewhere.as_uri()}"]),
                                             make_wheel(tmp_path / "d", "y", "1.0")])
    project = _project(tmp_path, ["a"], tool='[tool.satlock]\noverrides = ["y==1.0"]\n')
    result = run_cli("lock", "--project", project, "--index-url", index.as_uri())
    assert result.exit_code == 0, result.output
    assert _locked(project) == {"a": "1.0", "y": "1.0"}


@pytest.mark.parametrize("key", ["constraints", "overrides"])
def test_a_url_in_constraints_or_overrides_is_refused_with_where_to_put_it(tmp_path, key):
    project = _project(tmp_path, ["a"], tool=f'[tool.satlock]\n{key} = ["y @ https://example.com/y-1.0.tar.gz"]\n')
    result = run_cli("lock", "--project", project, "--index-url", (tmp_path / "none").as_uri())
    assert_one_error_line(result, f"tool.satlock.{key}", "names a URL")
    assert 'hint: put "y @ https://example.com/y-1.0.tar.gz" in [project.dependencies]' in result.output
    assert not (project / "pylock.toml").exists()


def _warnings(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("warning:")]


@pytest.mark.parametrize("also", [["zzz>=5"], ["z>=2"]], ids=["missing-dependency", "root-pins-it-out"])
def test_no_url_warning_for_a_newer_version_that_something_else_keeps_out_too(tmp_path, also):
    elsewhere = make_wheel(tmp_path / "elsewhere", "y", "2.0")
    index = build_index(tmp_path / "index", [
        make_wheel(tmp_path / "d", "a", "2.0", requires=[f"y @ {elsewhere.as_uri()}", *also]),
        make_wheel(tmp_path / "d", "a", "1.0", requires=["y"]),
        make_wheel(tmp_path / "d", "y", "1.0"), make_wheel(tmp_path / "d", "z", "1.0"), make_wheel(tmp_path / "d", "z", "2.0")])
    project = _project(tmp_path, ["a", "z<2"])
    result = run_cli("lock", "--project", project, "--index-url", index.as_uri())
    assert result.exit_code == 0, result.output
    assert _locked(project)["a"] == "1.0"
    assert _warnings(result.output) == [], result.output


def test_a_newer_version_passed_over_for_a_url_dependency_of_an_asked_extra_is_warned_about(tmp_path):
    elsewhere = make_wheel(tmp_path / "elsewhere", "y", "2.0")
    index = build_index(tmp_path / "index", [
        make_wheel(tmp_path / "d", "a", "2.0", extras={"x": [f"y @ {elsewhere.as_uri()}"]}),
        make_wheel(tmp_path / "d", "a", "1.0", extras={"x": ["y"]}),
        make_wheel(tmp_path / "d", "y", "1.0")])
    project = _project(tmp_path, ["a[x]"])
    result = run_cli("lock", "--project", project, "--index-url", index.as_uri())
    assert result.exit_code == 0, result.output
    assert _locked(project) == {"a": "1.0", "y": "1.0"}
    warnings = _warnings(result.output)
    assert len(warnings) == 1, result.output
    assert "a 1.0 is locked, not a 2.0" in warnings[0] and f"add `y @ {elsewhere.as_uri()}`" in warnings[0]


def test_the_url_warning_names_every_url_dependency_the_newer_version_needs(tmp_path):
    ey, ew = make_wheel(tmp_path / "elsewhere", "y", "2.0"), make_wheel(tmp_path / "elsewhere", "w", "2.0")
    index = build_index(tmp_path / "index", [
        make_wheel(tmp_path / "d", "a", "2.0", requires=[f"y @ {ey.as_uri()}", f"w @ {ew.as_uri()}"]),
        make_wheel(tmp_path / "d", "a", "1.0")])
    project = _project(tmp_path, ["a"])
    result = run_cli("lock", "--project", project, "--index-url", index.as_uri())
    assert result.exit_code == 0, result.output
    warnings = _warnings(result.output)
    assert len(warnings) == 1, result.output
    assert f"y @ {ey.as_uri()}" in warnings[0] and f"w @ {ew.as_uri()}" in warnings[0]


def test_a_url_in_a_profiles_build_requires_is_refused_with_where_to_put_it(tmp_path):
    tool = '[tool.satlock.profiles.s]\nbuild-requires = ["y @ https://u:secret@example.com/y-1.0-py3-none-any.whl"]\n'
    project = _project(tmp_path, ["s"], tool=tool)
    result = run_cli("lock", "--project", project, "--index-url", (tmp_path / "none").as_uri())
    assert_one_error_line(result, "build-requires", "names a URL")
    assert "secret" not in result.output
    assert not (project / "pylock.toml").exists()


def test_a_url_in_an_index_sdists_build_requirements_is_neither_fetched_nor_replaced_and_says_so(tmp_path):
    served = tmp_path / "served"
    tools = [installed_wheel(name, tmp_path / "d") for name in ("setuptools", "wheel", "packaging")]
    with IndexServer(served) as server:
        url = f"{server.url}/elsewhere/y-2.0-py3-none-any.whl"
        make_wheel(served / "elsewhere", "y", "2.0")
        pyproject = (f'[build-system]\nrequires = ["setuptools>=61", "y @ {url}"]\nbuild-backend = "setuptools.build_meta"\n\n'
                     '[project]\nname = "s"\nversion = "1.0"\ndynamic = ["dependencies"]\n')
        sdist = make_sdist(tmp_path / "d", "s", "1.0", pyproject=pyproject, pkg_info=False,
                           setup_py="from setuptools import setup\nsetup()\n")
        build_index(served, [*tools, sdist, make_wheel(tmp_path / "d", "y", "1.0")])
        project = _project(tmp_path, ["s"])
        result = run_cli("lock", "--project", project, "--index-url", f"{server.url}/simple/")
        requested = [path for _method, path, _range in server.requests]
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert f"y @ {url}" in result.output and "from the indexes only" in result.output, result.output
    assert not any(path.startswith("/elsewhere/") for path in requested)
    assert not (project / "pylock.toml").exists()


def test_a_url_dependency_of_a_profiled_build_says_how_to_take_it(tmp_path):
    elsewhere = make_wheel(tmp_path / "elsewhere", "y", "2.0")
    tools = [installed_wheel(name, tmp_path / "d") for name in ("setuptools", "wheel", "packaging")]
    setup = f"from setuptools import setup\nsetup(name='s', version='1.0', packages=['s'], install_requires=['y @ {elsewhere.as_uri()}'])\n"
    index = build_index(tmp_path / "index", [*tools, make_sdist(tmp_path / "d", "s", "1.0", pyproject="", pkg_info=False, setup_py=setup),
                                             make_wheel(tmp_path / "d", "y", "1.0")])
    project = _project(tmp_path, ["s"], tool='[tool.satlock.profiles.s]\nbuild-requires = ["wheel"]\n')
    result = run_cli("lock", "--project", project, "--index-url", index.as_uri())
    assert result.exit_code == 1, result.output
    assert f"add `y @ {elsewhere.as_uri()}` to the project's dependencies" in result.output
    (project / "pyproject.toml").write_text(project_toml(["s", f"y @ {elsewhere.as_uri()}"],
                                                         tool='[tool.satlock.profiles.s]\nbuild-requires = ["wheel"]\n'))
    result = run_cli("lock", "--project", project, "--index-url", index.as_uri())
    assert result.exit_code == 0, result.output
    assert _locked(project) == {"s": "1.0", "y": "2.0"}


def _warnings(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("warning:")]


def test_a_url_dependency_naming_another_source_than_the_projects_is_met_by_the_projects_and_says_so(tmp_path):
    ours = make_wheel(tmp_path / "ours", "y", "2.0")
    theirs = make_wheel(tmp_path / "theirs", "y", "2.0")
    index = build_index(tmp_path / "index", [make_wheel(tmp_path / "d", "a", "1.0", requires=[f"y @ {theirs.as_uri()}"])])
    project = _project(tmp_path, ["a", f"y @ {ours.as_uri()}"])
    result = run_cli("lock", "--project", project, "--index-url", index.as_uri())
    assert result.exit_code == 0, result.output
    lock = tomllib.loads((project / "pylock.toml").read_text())
    (y,) = [p for p in lock["packages"] if p["name"] == "y"]
    assert y["archive"]["path"] == "../ours/y-2.0-py3-none-any.whl"
    (warning,) = _warnings(result.output)
    assert f"a 1.0 asks for y @ {theirs.as_uri()}" in warning and str(ours) in warning


@pytest.mark.parametrize("fragment", ["", "#egg=y"])
def test_a_url_dependency_naming_the_projects_own_source_gives_no_warning(tmp_path, fragment):
    ours = make_wheel(tmp_path / "ours", "y", "2.0")
    index = build_index(tmp_path / "index", [make_wheel(tmp_path / "d", "a", "1.0", requires=[f"y @ {ours.as_uri()}{fragment}"])])
    project = _project(tmp_path, ["a", f"y @ {ours.as_uri()}"])
    result = run_cli("lock", "--project", project, "--index-url", index.as_uri())
    assert result.exit_code == 0, result.output
    assert _warnings(result.output) == []


def test_another_source_behind_an_extra_not_asked_for_gives_no_warning(tmp_path):
    ours = make_wheel(tmp_path / "ours", "y", "2.0")
    theirs = make_wheel(tmp_path / "theirs", "y", "2.0")
    index = build_index(tmp_path / "index", [
        make_wheel(tmp_path / "d", "a", "1.0", requires=[f"y @ {theirs.as_uri()} ; extra == 'x'"], extras={"x": []})])
    project = _project(tmp_path, ["a", f"y @ {ours.as_uri()}"])
    result = run_cli("lock", "--project", project, "--index-url", index.as_uri())
    assert result.exit_code == 0, result.output
    assert _warnings(result.output) == []
    (project / "pyproject.toml").write_text(project_toml(["a[x]", f"y @ {ours.as_uri()}"]))
    result = run_cli("lock", "--project", project, "--index-url", index.as_uri())
    assert result.exit_code == 0, result.output
    assert len(_warnings(result.output)) == 1


@pytest.mark.parametrize("url", ["file:../y", "file:y", "file:./y", "FILE:../y", "../y", "y-1.0.tar.gz", "file://../y", "file://./y",
                                 "file://otherhost/srv/y"])
def test_a_relative_file_url_dependency_is_not_offered_to_be_copied_as_it_is(tmp_path, url):
    index = build_index(tmp_path / "index", [make_wheel(tmp_path / "d", "a", "1.0", requires=[f"y @ {url}"])])
    project = _project(tmp_path, ["a"])
    result = run_cli("lock", "--project", project, "--index-url", index.as_uri())
    assert result.exit_code == 1, result.output
    assert f"add `y @ file:///...` (the absolute path on this machine of what {url} names" in result.output
    assert f"add `y @ {url}`" not in result.output


@pytest.mark.parametrize("url", ["file:///srv/y", "file://localhost/srv/y", "file:/srv/y"])
def test_an_absolute_file_url_dependency_is_offered_as_it_is(tmp_path, url):
    index = build_index(tmp_path / "index", [make_wheel(tmp_path / "d", "a", "1.0", requires=[f"y @ {url}"])])
    project = _project(tmp_path, ["a"])
    result = run_cli("lock", "--project", project, "--index-url", index.as_uri())
    assert result.exit_code == 1, result.output
    assert f"add `y @ {url}` to the project's dependencies" in result.output


@pytest.mark.parametrize("spelling", ["file://../ours/{name}", "file://otherhost{path}"])
def test_a_project_file_url_naming_a_host_is_refused_not_read_as_a_local_path(tmp_path, spelling):
    ours = make_wheel(tmp_path / "ours", "y", "2.0")
    index = build_index(tmp_path / "index", [make_wheel(tmp_path / "d", "y", "1.0")])
    url = spelling.format(name=ours.name, path=ours)
    project = _project(tmp_path, [f"y @ {url}"])
    result = run_cli("lock", "--project", project, "--index-url", index.as_uri())
    assert_one_error_line(result, url, "host")
    assert not (project / "pylock.toml").exists()


def test_a_project_url_whose_marker_is_false_for_the_target_leaves_the_package_to_the_index(tmp_path):
    windows_only = make_wheel(tmp_path / "ours", "y", "9.0")
    index = build_index(tmp_path / "index", [make_wheel(tmp_path / "d", "a", "1.0", requires=["y"]),
                                             make_wheel(tmp_path / "d", "y", "1.0")])
    project = _project(tmp_path, ["a", f"y @ {windows_only.as_uri()} ; sys_platform == 'win32'"])
    result = run_cli("lock", "--project", project, "--index-url", index.as_uri(), "--platform", "linux")
    assert result.exit_code == 0, result.output
    assert _locked(project) == {"a": "1.0", "y": "1.0"}
    result = run_cli("lock", "--project", project, "--index-url", index.as_uri(), "--platform", "windows")
    assert result.exit_code == 0, result.output
    assert _locked(project) == {"a": "1.0", "y": "9.0"}


def test_a_url_per_platform_gives_each_target_its_own(tmp_path):
    on_linux = make_wheel(tmp_path / "linux", "y", "2.0")
    on_windows = make_wheel(tmp_path / "windows", "y", "3.0")
    index = build_index(tmp_path / "index", [make_wheel(tmp_path / "d", "y", "1.0")])
    project = _project(tmp_path, [f"y @ {on_linux.as_uri()} ; sys_platform == 'linux'",
                                  f"y @ {on_windows.as_uri()} ; sys_platform == 'win32'"])
    for platform, version in (("linux", "2.0"), ("windows", "3.0")):
        result = run_cli("lock", "--project", project, "--index-url", index.as_uri(), "--platform", platform)
        assert result.exit_code == 0, result.output
        assert _locked(project) == {"y": version}


def test_two_urls_for_one_package_in_force_together_are_refused_naming_both(tmp_path):
    first = make_wheel(tmp_path / "first", "y", "2.0")
    second = make_wheel(tmp_path / "second", "y", "2.0")
    index = build_index(tmp_path / "index", [make_wheel(tmp_path / "d", "y", "1.0")])
    project = _project(tmp_path, [f"y @ {first.as_uri()}"], tool="")
    (project / "pyproject.toml").write_text(project_toml([f"y @ {first.as_uri()}"], optional={"x": [f"y @ {second.as_uri()}"]}))
    result = run_cli("lock", "--project", project, "--index-url", index.as_uri())
    assert_one_error_line(result, "y is named from two URLs", first.as_uri(), second.as_uri())
    assert not (project / "pylock.toml").exists()


@pytest.mark.parametrize("url", ["git+https://[abc/repo", "https://[zz]/y-2.0-py3-none-any.whl", "file://[zz]/y"])
def test_a_url_dependency_that_does_not_parse_is_another_source_than_the_projects_and_stops_nothing(tmp_path, url):
    ours = make_wheel(tmp_path / "ours", "y", "2.0")
    index = build_index(tmp_path / "index", [make_wheel(tmp_path / "d", "a", "1.0", requires=[f"y @ {url}"])])
    project = _project(tmp_path, ["a", f"y @ {ours.as_uri()}"])
    result = run_cli("lock", "--project", project, "--index-url", index.as_uri())
    assert result.exit_code == 0, result.output
    assert _locked(project) == {"a": "1.0", "y": "2.0"}
    (warning,) = _warnings(result.output)
    assert f"a 1.0 asks for y @ {url}" in warning


def test_one_file_named_by_an_absolute_and_a_relative_url_is_one_source(tmp_path):
    ours = make_wheel(tmp_path / "ours", "y", "2.0")
    index = build_index(tmp_path / "index", [make_wheel(tmp_path / "d", "y", "1.0")])
    project = _project(tmp_path, [f"y @ {ours.as_uri()}"], tool="")
    (project / "pyproject.toml").write_text(project_toml([f"y @ {ours.as_uri()}"], optional={"x": [f"y @ file:../ours/{ours.name}"]}))
    result = run_cli("lock", "--project", project, "--index-url", index.as_uri())
    assert result.exit_code == 0, result.output
    assert _locked(project) == {"y": "2.0"}


def _lock_with_source(tmp_path: Path, url: str, source: Path):
    """Lock a project taking ``y @ url`` whose ``[tool.satlock.sources]`` gives ``y`` the path ``source``
    (against an index holding y 1.0); the project and the CLI's result."""
    index = build_index(tmp_path / "index", [make_wheel(tmp_path / "d", "y", "1.0")])
    project = _project(tmp_path, [f"y @ {url}"], tool=f'[tool.satlock.sources]\ny = {{ path = "{source}" }}\n')
    return project, run_cli("lock", "--project", project, "--index-url", index.as_uri())


def test_a_url_for_a_name_the_sources_table_names_elsewhere_is_refused_naming_both(tmp_path):
    by_url = make_wheel(tmp_path / "by-url", "y", "2.0")
    by_source = make_wheel(tmp_path / "by-source", "y", "3.0")
    project, result = _lock_with_source(tmp_path, by_url.as_uri(), by_source)
    assert_one_error_line(result, "y is named both by the URL", by_url.as_uri(), "[tool.satlock.sources]", str(by_source))
    assert not (project / "pylock.toml").exists()


def test_a_url_naming_what_the_sources_table_names_is_one_source(tmp_path):
    wheel = make_wheel(tmp_path / "ours", "y", "2.0")
    project, result = _lock_with_source(tmp_path, wheel.as_uri(), wheel)
    assert result.exit_code == 0, result.output
    assert _locked(project) == {"y": "2.0"}


def test_a_url_naming_through_a_symlinked_folder_what_the_sources_table_names_is_one_source(tmp_path):
    wheel = make_wheel(tmp_path / "ours", "y", "2.0")
    (tmp_path / "vendor").symlink_to(tmp_path / "ours")
    project, result = _lock_with_source(tmp_path, f"file:../vendor/{wheel.name}", wheel)
    assert result.exit_code == 0, result.output
    assert _locked(project) == {"y": "2.0"}


def test_a_url_naming_the_folder_an_editable_source_names_keeps_it_editable(tmp_path):
    from satlock.resolver.directrefs import collect_direct
    from satlock.resolver.project import load_project

    (tmp_path / "y").mkdir()
    (tmp_path / "y" / "pyproject.toml").write_text('[project]\nname = "y"\nversion = "1.0"\n')
    project = _project(tmp_path, ["y @ file:../y"], tool='[tool.satlock.sources]\ny = { path = "../y", editable = true }\n')
    direct = collect_direct(load_project(project), None, {"python_version": "3.11", "sys_platform": "linux"})
    assert direct["y"].kind == "directory" and direct["y"].editable


def _git_repo(root: Path) -> tuple[Path, str]:
    """A git repository holding package y 2.0 on branch main, and its commit."""
    import subprocess

    root.mkdir(parents=True)
    (root / "setup.py").write_text("from setuptools import setup\nsetup(name='y', version='2.0', py_modules=['y'])\n")
    (root / "y.py").write_text("")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", "-c", "commit.gpgsign=false", "-C", str(root)]
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "y"], check=True)
    commit = subprocess.run([*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True).stdout.strip()
    return root, commit


@pytest.mark.parametrize("theirs", ["{commit}", "{short}", "main"])
def test_a_git_url_dependency_at_the_commit_the_projects_branch_resolved_to_gives_no_warning(tmp_path, theirs):
    repo, commit = _git_repo(tmp_path / "repo")
    rev = theirs.format(commit=commit, short=commit[:10])
    tools = [installed_wheel(name, tmp_path / "d") for name in ("setuptools", "wheel")]
    index = build_index(tmp_path / "index", [*tools, make_wheel(tmp_path / "d", "a", "1.0", requires=[f"y @ git+{repo.as_uri()}@{rev}"])])
    project = _project(tmp_path, ["a", f"y @ git+{repo.as_uri()}@main"])
    result = run_cli("lock", "--project", project, "--index-url", index.as_uri())
    assert result.exit_code == 0, result.output
    assert _warnings(result.output) == [], result.output
    lock = tomllib.loads((project / "pylock.toml").read_text())
    (y,) = [p for p in lock["packages"] if p["name"] == "y"]
    assert y["vcs"]["commit-id"] == commit


def test_a_git_url_to_no_repository_says_what_git_said_first_not_its_closing_advice(tmp_path):
    # git ends this failure with "Please make sure you have the correct access rights / and
    # the repository exists.": its last line alone says nothing; the fatal line says why.
    repo, _ = _git_repo(tmp_path / "repo")
    build_index(tmp_path / "index", [])
    typo = repo.parent / "rpeo"
    project = _project(tmp_path, [f"y @ git+{typo.as_uri()}@main"])
    result = run_cli("lock", "--project", project, "--index-url", (tmp_path / "index").as_uri(), "--cache-dir", tmp_path / "c")
    assert_one_error_line(result, f"git clone failed for {typo.as_uri()}", "does not appear to be a git repository")
    assert "and the repository exists" not in result.output
    assert not (project / "pylock.toml").exists()


@pytest.mark.parametrize("fragment", ["", f"#sha256={'0' * 64}"])
def test_a_project_url_the_server_does_not_have_says_to_check_the_url_not_the_index(tmp_path, fragment):
    # `y @ https://.../gone.whl` answered 404 is the project's URL to fix, not a file an index
    # lists; the error names the file without its #sha256= fragment (the hash, not the file).
    served = tmp_path / "served"
    served.mkdir()
    with IndexServer(served) as server:
        build_index(served, [make_wheel(tmp_path / "d", "a", "1.0")])
        url = f"{server.url}/elsewhere/y-2.0-py3-none-any.whl"
        project = _project(tmp_path, ["a", f"y @ {url}{fragment}"])
        result = run_cli("lock", "--project", project, "--index-url", f"{server.url}/simple/")
    assert_one_error_line(result, f"{url} not found (HTTP 404)")
    assert "#sha256" not in result.output
    assert "index lists" not in result.output
    assert "hint: check the URL" in result.output
    assert not (project / "pylock.toml").exists()


def test_sync_of_a_project_url_the_server_no_longer_has_says_to_check_the_url_not_the_index(tmp_path):
    served = tmp_path / "served"
    served.mkdir()
    with IndexServer(served) as server:
        build_index(served, [make_wheel(tmp_path / "d", "a", "1.0")])
        wheel = make_wheel(served / "elsewhere", "y", "2.0")
        url = f"{server.url}/elsewhere/{wheel.name}"
        project = _project(tmp_path, ["a", f"y @ {url}"])
        index = ("--index-url", f"{server.url}/simple/")
        assert run_cli("lock", "--project", project, *index, "--cache-dir", tmp_path / "c1").exit_code == 0
        wheel.unlink()
        result = run_cli("sync", "--project", project, *index, "--cache-dir", tmp_path / "c2")
    assert_one_error_line(result, url, "404")
    assert "index lists" not in result.output
    assert "hint: check the URL" in result.output


def test_a_sync_takes_a_git_sources_wheel_built_before_without_a_checkout_or_build_environment(tmp_path, monkeypatch):
    from satlock.buildenv import gitsources, wheels

    repo, commit = _git_repo(tmp_path / "repo")
    tools = [installed_wheel(name, tmp_path / "d") for name in ("setuptools", "wheel")]
    index = build_index(tmp_path / "index", tools).as_uri()
    project = _project(tmp_path, [f"y @ git+{repo.as_uri()}@{commit}"])
    cache = tmp_path / "cache"
    result = run_cli("sync", "--project", project, "--index-url", index, "--cache-dir", cache)
    assert result.exit_code == 0, result.output

    # The checkout's cost grows with the repository's history (verified through git's
    # transport), and the built wheel's key is the commit: a new .venv needs neither.
    def refused(*args: object, **kwargs: object) -> None:
        raise AssertionError("made for a wheel the cache holds")

    monkeypatch.setattr(gitsources, "_clone_verified", refused)
    monkeypatch.setattr(wheels, "ensure_build_env", refused)
    import shutil

    shutil.rmtree(project / ".venv")
    result = run_cli("sync", "--project", project, "--index-url", index, "--cache-dir", cache)
    assert result.exit_code == 0, result.output
    assert (project / ".venv" / "lib").exists()
    assert list((project / ".venv").glob("lib/python*/site-packages/y.py"))
