"""``satlock lock`` end to end, through the CLI, against local indexes only."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import tomllib
from pathlib import Path

import pytest
from packaging.pylock import Pylock
from typer.testing import CliRunner

from indexbuilder import (IndexServer, build_index, installed_wheel, make_sdist, make_wheel, project_toml,
                          sha256_of)
from satlock.cli.main import app

runner = CliRunner()


def satlock(*args: str, env: dict[str, str] | None = None):
    return runner.invoke(app, list(args), env=env)


def lock(project: Path, *args: str, env: dict[str, str] | None = None):
    return satlock("lock", "--project", str(project), *args, env=env)


def write_project(root: Path, dependencies=(), **kwargs) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text(project_toml(dependencies, **kwargs))
    return root


def index_url(tmp_path: Path, dists, name: str = "index", **kwargs) -> str:
    return (build_index(tmp_path / name, dists, **kwargs)).as_uri()


def read(project: Path) -> dict:
    return tomllib.loads((project / "pylock.toml").read_text())


def versions(project: Path) -> dict[str, str]:
    return {p["name"]: p["version"] for p in read(project)["packages"]}


def package(project: Path, name: str) -> dict:
    return next(p for p in read(project)["packages"] if p["name"] == name)


def locked(project: Path, url: str, *args: str) -> dict[str, str]:
    result = lock(project, "--index-url", url, *args)
    assert result.exit_code == 0, result.output
    return versions(project)


# -- choosing versions -------------------------------------------------------------------


def test_newest_versions_are_preferred(tmp_path):
    d = tmp_path / "d"
    url = index_url(tmp_path, [make_wheel(d, "a", v, requires=["b"]) for v in ("1.0", "1.2", "1.10")]
                    + [make_wheel(d, "b", v) for v in ("0.9", "2.0", "10.0")])
    assert locked(write_project(tmp_path / "p", ["a"]), url) == {"a": "1.10", "b": "10.0"}


def test_newest_version_is_rejected_when_its_dependency_conflicts_with_the_project(tmp_path):
    d = tmp_path / "d"
    url = index_url(tmp_path, [make_wheel(d, "a", "1.0", requires=["c>=1"]), make_wheel(d, "a", "1.5", requires=["c"]),
                               make_wheel(d, "a", "2.0", requires=["c<1"]),
                               make_wheel(d, "c", "0.5"), make_wheel(d, "c", "1.5")])
    assert locked(write_project(tmp_path / "p", ["a", "c>=1"]), url) == {"a": "1.5", "c": "1.5"}


def test_extra_of_a_dependency_pulls_in_the_extras_requirements(tmp_path):
    d = tmp_path / "d"
    url = index_url(tmp_path, [make_wheel(d, "b", "1.0", extras={"x": ["c"], "y": ["unused"]}), make_wheel(d, "c", "1.0")])
    project = write_project(tmp_path / "p", ["b[x]"])
    assert locked(project, url) == {"b": "1.0", "c": "1.0"}
    assert "marker" not in package(project, "c")


def test_the_packages_of_many_extras_are_fetched_together_not_one_after_another(tmp_path, monkeypatch):
    """boto3-stubs has a hundred extras, each naming one more package: asked for all at once,
    their pages must be fetched in parallel (a cold lock of localstack waited for them one by one)."""
    from satlock.http import HttpClient

    names = [f"part-{i}" for i in range(8)]
    stubs = make_wheel(tmp_path / "d", "stubs", "1.0", extras={n: [n] for n in names})
    url = index_url(tmp_path, [stubs] + [make_wheel(tmp_path / "d", n, "1.0") for n in names])
    project = write_project(tmp_path / "p", [f"stubs[{','.join(names)}]"])
    in_flight, most = [0], [0]
    lock_ = threading.Lock()
    get = HttpClient.get

    def slow_get(self, url, *args, **kwargs):
        part = "/part-" in url and url.endswith("/")
        if part:
            with lock_:
                in_flight[0] += 1
                most[0] = max(most[0], in_flight[0])
            time.sleep(0.2)
        try:
            return get(self, url, *args, **kwargs)
        finally:
            if part:
                with lock_:
                    in_flight[0] -= 1

    monkeypatch.setattr(HttpClient, "get", slow_get)
    result = lock(project, "--index-url", url)
    assert result.exit_code == 0, result.output
    assert set(names) <= set(versions(project))
    assert most[0] >= 4, f"at most {most[0]} of the extras' pages were fetched at a time"


def test_optional_dependency_is_locked_with_an_extras_marker(tmp_path):
    d = tmp_path / "d"
    url = index_url(tmp_path, [make_wheel(d, "a", "1.0"), make_wheel(d, "click", "8.0")])
    project = write_project(tmp_path / "p", ["a"], optional={"cli": ["click"]})
    locked(project, url)
    lock_data = read(project)
    assert lock_data["extras"] == ["cli"]
    marker = package(project, "click")["marker"]
    assert "'cli' in extras" in marker.replace('"', "'")
    assert "marker" not in package(project, "a")


def test_dependency_groups_with_include_group_get_group_markers_and_dev_is_default(tmp_path):
    d = tmp_path / "d"
    url = index_url(tmp_path, [make_wheel(d, "pytest", "8.0"), make_wheel(d, "ruff", "0.5"), make_wheel(d, "sphinx", "7.0")])
    project = write_project(tmp_path / "p", [], groups={"dev": ["ruff"], "test": ["pytest", {"include-group": "dev"}],
                                                         "docs": ["sphinx"]})
    locked(project, url)
    data = read(project)
    assert data["default-groups"] == ["dev"]
    assert sorted(data["dependency-groups"]) == ["dev", "docs", "test"]
    markers = {name: package(project, name)["marker"].replace('"', "'") for name in ("pytest", "ruff", "sphinx")}
    assert "'test' in dependency_groups" in markers["pytest"] and "'dev'" not in markers["pytest"]
    assert "'dev' in dependency_groups" in markers["ruff"] and "'test' in dependency_groups" in markers["ruff"]
    assert "'docs' in dependency_groups" in markers["sphinx"]


# -- the target --------------------------------------------------------------------------


def test_requirement_whose_marker_is_false_for_the_target_is_not_locked(tmp_path):
    d = tmp_path / "d"
    url = index_url(tmp_path, [make_wheel(d, "a", "1.0", requires=['legacy ; python_version < "3"']),
                               make_wheel(d, "legacy", "1.0")])
    project = write_project(tmp_path / "p", ["a", 'other ; python_version < "3"'])
    assert locked(project, url) == {"a": "1.0"}


def test_python_version_and_platform_options_change_what_is_picked(tmp_path):
    d = tmp_path / "d"
    new = make_wheel(d, "n", "2.0")
    native = make_wheel(d, "p", "2.0", tag="py3-none-manylinux_2_17_x86_64")
    url = index_url(tmp_path, [make_wheel(d, "n", "1.0"), new, make_wheel(d, "p", "1.0"), native,
                               make_wheel(d, "w", "1.0")],
                    requires_python={new.name: ">=3.10"})
    project = write_project(tmp_path / "p", ["n", "p", 'w ; sys_platform == "win32"'])
    assert locked(project, url, "--python-version", "3.12", "--platform", "linux") == {"n": "2.0", "p": "2.0"}
    assert locked(project, url, "--upgrade", "--python-version", "3.9", "--platform", "linux") == {"n": "1.0", "p": "2.0"}
    assert "3.9" in read(project)["environments"][0]
    assert locked(project, url, "--upgrade", "--python-version", "3.12", "--platform", "windows") == {"n": "2.0", "p": "1.0", "w": "1.0"}


def test_platform_linux_takes_wheels_glibc_2_28_runs_and_not_newer_ones(tmp_path):
    d = tmp_path / "d"
    url = index_url(tmp_path, [make_wheel(d, "g", "1.0", tag="py3-none-manylinux_2_28_x86_64"),
                               make_wheel(d, "g", "2.0", tag="py3-none-manylinux_2_31_x86_64"),
                               make_wheel(d, "old", "1.0", tag="py3-none-manylinux2014_x86_64")])
    project = write_project(tmp_path / "p", ["g", "old"])
    assert locked(project, url, "--python-version", "3.12", "--platform", "linux") == {"g": "1.0", "old": "1.0"}
    assert locked(project, url, "--upgrade", "--python-version", "3.12", "--platform", "manylinux_2_31_x86_64") == {"g": "2.0", "old": "1.0"}


def test_a_lock_for_a_newer_glibc_is_not_up_to_date_for_an_older_one(tmp_path):
    # The shape of numpyro[tpu]: --platform manylinux_2_39_x86_64 picks libtpu, whose only
    # wheel needs glibc 2.31; the lock's environments marker is the same for manylinux_2_28,
    # and the lock must not pass as up to date there.
    d = tmp_path / "d"
    url = index_url(tmp_path, [make_wheel(d, "tpu", "1.0", tag="py3-none-manylinux_2_17_x86_64"),
                               make_wheel(d, "tpu", "2.0", tag="py3-none-manylinux_2_31_x86_64")])
    # The index is the project's own setting: an --index-url on the command line re-resolves anyway.
    project = write_project(tmp_path / "p", ["tpu"], tool=f'\n[tool.satlock]\nindex-url = "{url}/"\n')
    assert lock(project, "--python-version", "3.12", "--platform", "manylinux_2_39_x86_64").exit_code == 0
    assert versions(project) == {"tpu": "2.0"}
    check = lock(project, "--check", "--python-version", "3.12", "--platform", "manylinux_2_28_x86_64")
    assert check.exit_code == 1 and "out of date" in check.output and "tpu" in check.output, check.output
    result = lock(project, "--python-version", "3.12", "--platform", "manylinux_2_28_x86_64")
    assert result.exit_code == 0, result.output
    assert "up to date" not in result.output
    assert versions(project) == {"tpu": "1.0"}
    assert "up to date" in lock(project, "--python-version", "3.12", "--platform", "manylinux_2_28_x86_64").output


def test_file_requires_python_is_honoured(tmp_path):
    d = tmp_path / "d"
    future = make_wheel(d, "a", "2.0")
    url = index_url(tmp_path, [make_wheel(d, "a", "1.0"), future], requires_python={future.name: ">=4"})
    assert locked(write_project(tmp_path / "p", ["a"]), url) == {"a": "1.0"}


def test_target_outside_the_projects_requires_python_is_a_clear_error(tmp_path):
    url = index_url(tmp_path, [make_wheel(tmp_path / "d", "a", "1.0")])
    project = write_project(tmp_path / "p", ["a"], requires_python=">=3.10")
    result = lock(project, "--index-url", url, "--python-version", "3.9")
    assert result.exit_code == 1
    assert "requires-python" in result.output and "3.9" in result.output
    assert "Traceback" not in result.output
    assert not (project / "pylock.toml").exists()


def test_wheel_for_another_platform_is_not_used(tmp_path):
    d = tmp_path / "d"
    url = index_url(tmp_path, [make_wheel(d, "w", "1.0"), make_wheel(d, "w", "2.0", tag="cp311-cp311-win_amd64"),
                               make_wheel(d, "s", "2.0", tag="cp311-cp311-win_amd64"), make_sdist(d, "s", "2.0")])
    project = write_project(tmp_path / "p", ["w", "s"])
    assert locked(project, url, "--platform", "linux") == {"s": "2.0", "w": "1.0"}
    s = package(project, "s")
    assert "wheels" not in s and s["sdist"]["name"] == "s-2.0.tar.gz"


def test_sdist_with_static_pkg_info_is_locked_without_a_build(tmp_path):
    d = tmp_path / "d"
    sdist = make_sdist(d, "s", "1.0", requires=["dep>=1"])
    # No setuptools on this index: a build would fail.
    url = index_url(tmp_path, [sdist, make_wheel(d, "dep", "1.0")])
    project = write_project(tmp_path / "p", ["s"])
    assert locked(project, url) == {"dep": "1.0", "s": "1.0"}
    s = package(project, "s")
    assert s["sdist"]["hashes"] == {"sha256": sha256_of(sdist)}
    assert s["dependencies"] == [{"name": "dep", "version": "1.0"}]


def test_a_flat_sdist_with_static_pkg_info_is_locked_without_a_build(tmp_path):
    # A flat archive (pyproject.toml or setup.py at its top, as tensorrt-cu12-libs ships) is
    # built as pip and uv build it; its top-level PKG-INFO is read like a foldered sdist's,
    # not skipped for a build (which here cannot succeed) nor taken from a subfolder.
    import io
    import tarfile

    from indexbuilder import _metadata_text

    d = tmp_path / "d"
    d.mkdir()
    sdist = d / "flat-1.0.tar.gz"
    members = {"flat.egg-info/PKG-INFO": _metadata_text("flat", "1.0", ["other"], None, None, "2.2", ()),
               "PKG-INFO": _metadata_text("flat", "1.0", ["dep>=1"], None, None, "2.2", ()),
               "setup.py": "raise SystemExit('this build needs the vendor network')\n", "flat/__init__.py": ""}
    with tarfile.open(sdist, "w:gz") as tf:
        for name, text in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(text.encode())
            tf.addfile(info, io.BytesIO(text.encode()))
    url = index_url(tmp_path, [sdist, make_wheel(d, "dep", "1.0")])
    project = write_project(tmp_path / "p", ["flat"])
    assert locked(project, url) == {"dep": "1.0", "flat": "1.0"}


# -- index file selection ----------------------------------------------------------------


def test_yanked_file_is_skipped_unless_pinned(tmp_path):
    d = tmp_path / "d"
    bad = make_wheel(d, "a", "2.0")
    url = index_url(tmp_path, [make_wheel(d, "a", "1.0"), bad], yanked={bad.name: "broken"})
    assert locked(write_project(tmp_path / "p", ["a"]), url) == {"a": "1.0"}
    assert locked(write_project(tmp_path / "q", ["a==2.0"]), url) == {"a": "2.0"}


@pytest.mark.parametrize(("requirement", "tool", "expected"), [
    ("a", "", "1.0"),
    ("a>=2.0b1", "", "2.0b1"),
    ("only", "", "1.0a1"),
    ("a", '[tool.satlock]\nprerelease = "allow"\n', "2.0b1"),
], ids=["excluded-by-default", "named-in-specifier", "only-pre-releases-satisfy", "allowed-everywhere"])
def test_pre_releases_are_used_only_when_asked_for_or_necessary(tmp_path, requirement, tool, expected):
    d = tmp_path / "d"
    url = index_url(tmp_path, [make_wheel(d, "a", "1.0"), make_wheel(d, "a", "2.0b1"), make_wheel(d, "only", "1.0a1")])
    name = requirement[:1] if requirement.startswith("a") else "only"
    assert locked(write_project(tmp_path / "p", [requirement], tool=tool), url)[name] == expected


# -- failures ----------------------------------------------------------------------------


def test_unsatisfiable_input_names_the_minimal_conflict(tmp_path):
    d = tmp_path / "d"
    url = index_url(tmp_path, [make_wheel(d, "a", "2.0", requires=["c<1"]), make_wheel(d, "c", "0.5"),
                               make_wheel(d, "c", "1.5"), make_wheel(d, "unrelated", "1.0")])
    project = write_project(tmp_path / "p", ["a>=2", "c>=1", "unrelated"])
    result = lock(project, "--index-url", url)
    assert result.exit_code == 1, result.output
    out = result.output
    assert "error:" in out
    assert "a>=2" in out and "a 2.0 depends on c<1" in out and "c>=1" in out
    assert "unrelated" not in out
    assert "Traceback" not in out and "clause" not in out.lower()
    assert not (project / "pylock.toml").exists()


def test_unknown_package_is_named(tmp_path):
    url = index_url(tmp_path, [make_wheel(tmp_path / "d", "a", "1.0")])
    result = lock(write_project(tmp_path / "p", ["a", "nosuchthing"]), "--index-url", url)
    assert result.exit_code == 1
    assert "nosuchthing" in result.output and "Traceback" not in result.output


# -- stability ---------------------------------------------------------------------------


def test_two_locks_of_the_same_input_are_byte_identical(tmp_path, monkeypatch):
    d = tmp_path / "d"
    url = index_url(tmp_path, [make_wheel(d, "a", "1.0", requires=["b", "c[x]"]), make_wheel(d, "b", "1.0", requires=["c"]),
                               make_wheel(d, "c", "1.0", extras={"x": ["e"]}), make_wheel(d, "e", "1.0"),
                               make_sdist(d, "f", "1.0")])
    project = write_project(tmp_path / "p", ["a", "f"], optional={"cli": ["b"]}, groups={"dev": ["e"]})
    locked(project, url)
    first = (project / "pylock.toml").read_bytes()
    (project / "pylock.toml").unlink()
    monkeypatch.setenv("SATLOCK_CACHE_DIR", str(tmp_path / "other-cache"))
    locked(project, url)
    assert (project / "pylock.toml").read_bytes() == first


def test_check_passes_when_fresh_and_fails_with_a_reason_after_editing_dependencies(tmp_path):
    d = tmp_path / "d"
    url = index_url(tmp_path, [make_wheel(d, "a", "1.0"), make_wheel(d, "b", "1.0")])
    project = write_project(tmp_path / "p", ["a"])
    locked(project, url)
    before = (project / "pylock.toml").read_bytes()
    assert lock(project, "--check").exit_code == 0
    write_project(project, ["a", "b"])
    result = lock(project, "--check")
    assert result.exit_code == 1
    assert "out of date" in result.output and "pyproject.toml" in result.output
    assert (project / "pylock.toml").read_bytes() == before


def test_check_with_a_target_fails_for_a_lock_made_for_another_and_passes_for_its_own(tmp_path):
    d = tmp_path / "d"
    url = index_url(tmp_path, [make_wheel(d, "a", "1.0")])
    project = write_project(tmp_path / "p", ["a"])
    locked(project, url, "--python-version", "3.12", "--platform", "linux")
    before = (project / "pylock.toml").read_bytes()
    assert lock(project, "--check", "--python-version", "3.12", "--platform", "linux").exit_code == 0
    for other in (["--python-version", "3.11"], ["--python-version", "3.12", "--platform", "windows"]):
        result = lock(project, "--check", *other)
        assert result.exit_code == 1, (other, result.output)
        assert "out of date" in result.output and 'python_version == "3.12"' in result.output, result.output
        assert len(result.output.strip().splitlines()) == 2  # the error line and its hint
        assert f"run `satlock lock {' '.join(other)}`" in result.output
    assert (project / "pylock.toml").read_bytes() == before


@pytest.mark.parametrize("target", [["--platform", "bogus"], ["--python-version", "x.y"]])
def test_check_with_a_target_lock_refuses_names_that_target_and_not_a_command_to_run(tmp_path, target):
    # A stale lock must not send the user to `satlock lock --platform bogus`, which only refuses the flag.
    d = tmp_path / "d"
    url = index_url(tmp_path, [make_wheel(d, "a", "1.0"), make_wheel(d, "b", "1.0")])
    project = write_project(tmp_path / "p", ["a"])
    locked(project, url)
    (project / "pyproject.toml").write_text(project_toml(["a", "b"]))
    result = lock(project, "--check", *target)
    assert result.exit_code != 0
    assert result.output.startswith(f"error: {target[0]} '{target[1]}' is not"), result.output
    assert "run `satlock lock" not in result.output


def test_a_plain_lock_of_a_lock_made_for_another_target_says_it_changes_the_target(tmp_path):
    d = tmp_path / "d"
    url = index_url(tmp_path, [make_wheel(d, "a", "1.0")])
    project = write_project(tmp_path / "p", ["a"], tool=f'\n[tool.satlock]\nindex-url = "{url}/"\n')
    other = "3.9" if sys.version_info[:2] != (3, 9) else "3.10"
    assert lock(project, "--python-version", other).exit_code == 0
    result = lock(project)
    assert result.exit_code == 0, result.output
    (warning,) = [line for line in result.output.splitlines() if line.startswith("warning: ")]
    assert f'it was made for python_version == "{other}"' in warning and "--python-version and --platform" in warning
    again = lock(project, "--python-version", other)
    assert again.exit_code == 0 and "warning" not in again.output, again.output


def test_a_plain_lock_after_pyproject_changed_still_says_a_lock_made_for_another_target_changes_target(tmp_path):
    # Editing pyproject.toml is the usual reason to lock again: the target moving from the
    # lock's --python-version to this interpreter must not go unsaid then.
    d = tmp_path / "d"
    url = index_url(tmp_path, [make_wheel(d, "a", "1.0"), make_wheel(d, "b", "1.0")])
    project = write_project(tmp_path / "p", ["a"], tool=f'\n[tool.satlock]\nindex-url = "{url}/"\n')
    other = "3.9" if sys.version_info[:2] != (3, 9) else "3.10"
    assert lock(project, "--python-version", other).exit_code == 0
    write_project(project, ["a", "b"], tool=f'\n[tool.satlock]\nindex-url = "{url}/"\n')
    result = lock(project)
    assert result.exit_code == 0, result.output
    (warning,) = [line for line in result.output.splitlines() if line.startswith("warning: ")]
    assert f'it was made for python_version == "{other}"' in warning and "--python-version and --platform" in warning


def test_check_without_a_lock_fails_cleanly(tmp_path):
    result = lock(write_project(tmp_path / "p", ["a"]), "--check")
    assert result.exit_code != 0
    assert "pylock.toml" in result.output and "Traceback" not in result.output


def test_existing_lock_keeps_versions_unless_upgraded(tmp_path):
    d = tmp_path / "d"
    old = [make_wheel(d, "a", "1.0"), make_wheel(d, "b", "1.0")]
    url = index_url(tmp_path, old)
    project = write_project(tmp_path / "p", ["a", "b"])
    assert locked(project, url) == {"a": "1.0", "b": "1.0"}
    index_url(tmp_path, [*old, make_wheel(d, "a", "2.0"), make_wheel(d, "b", "2.0")])
    assert locked(project, url, "--refresh") == {"a": "1.0", "b": "1.0"}
    assert locked(project, url, "--refresh", "--upgrade-package", "a") == {"a": "2.0", "b": "1.0"}
    assert locked(project, url, "--refresh", "--upgrade") == {"a": "2.0", "b": "2.0"}


def test_upgrade_package_naming_no_locked_package_is_warned_about(tmp_path):
    # `--upgrade-package sqlprase` for sqlparse: "Lock unchanged" alone reads as "no newer
    # version"; the user must be told the name matched nothing.
    d = tmp_path / "d"
    url = index_url(tmp_path, [make_wheel(d, "a", "1.0"), make_wheel(d, "b_c", "1.0")])
    project = write_project(tmp_path / "p", ["a", "b_c"])
    assert locked(project, url) == {"a": "1.0", "b-c": "1.0"}
    result = lock(project, "--index-url", url, "--upgrade-package", "aa", "--upgrade-package", "B.C")
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.output.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "--upgrade-package aa" in warnings[0], result.output


def test_upgrade_package_naming_a_package_only_another_platform_locks_is_no_typo(tmp_path):
    # w (a project requirement) and winonly (a's) are for Windows only: on Linux the lock has
    # neither, and `--upgrade-package w` is spelled right; "check the spelling" would mislead.
    d = tmp_path / "d"
    url = index_url(tmp_path, [make_wheel(d, "a", "1.0", requires=['winonly ; sys_platform == "win32"']),
                               make_wheel(d, "winonly", "1.0"), make_wheel(d, "w", "1.0")])
    project = write_project(tmp_path / "p", ["a", 'w ; sys_platform == "win32"'])
    assert locked(project, url, "--platform", "linux") == {"a": "1.0"}
    result = lock(project, "--index-url", url, "--platform", "linux", "--upgrade-package", "W",
                  "--upgrade-package", "WinOnly", "--upgrade-package", "wnionly")
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.output.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "--upgrade-package wnionly" in warnings[0], result.output


# -- network use -------------------------------------------------------------------------


def _served_project(tmp_path: Path, metadata_files: bool = True) -> tuple[Path, Path]:
    d = tmp_path / "d"
    build_index(tmp_path / "srv", [make_wheel(d, "a", "1.0", requires=["b"], files={"a/data.txt": "x" * 20000}),
                                   make_wheel(d, "b", "1.0", files={"b/data.txt": "y" * 20000})],
                metadata_files=metadata_files)
    return write_project(tmp_path / "p", ["a"]), tmp_path / "srv"


def test_second_lock_with_a_warm_cache_makes_no_requests(tmp_path):
    project, root = _served_project(tmp_path)
    with IndexServer(root) as server:
        url = server.url + "/simple/"
        locked(project, url)
        assert server.requests
        (project / "pylock.toml").unlink()
        server.requests.clear()
        assert locked(project, url) == {"a": "1.0", "b": "1.0"}
        assert server.requests == []


def test_offline_lock_works_warm_and_fails_cleanly_cold(tmp_path, monkeypatch):
    project, root = _served_project(tmp_path)
    with IndexServer(root) as server:
        url = server.url + "/simple/"
        locked(project, url)
        (project / "pylock.toml").unlink()
        server.requests.clear()
        assert locked(project, url, "--offline") == {"a": "1.0", "b": "1.0"}
        assert server.requests == []
        monkeypatch.setenv("SATLOCK_CACHE_DIR", str(tmp_path / "cold"))
        (project / "pylock.toml").unlink()
        result = lock(project, "--index-url", url, "--offline")
        assert server.requests == []
    assert result.exit_code != 0
    assert "error: a is not in the cache" in result.output
    assert "--offline" in result.output
    assert "Traceback" not in result.output


def test_metadata_files_are_used_when_advertised(tmp_path):
    project, root = _served_project(tmp_path, metadata_files=True)
    with IndexServer(root) as server:
        locked(project, server.url + "/simple/")
    paths = [p for _, p, _ in server.requests]
    assert any(p.endswith(".whl.metadata") for p in paths)
    assert not any(p.endswith(".whl") for p in paths)


def test_without_metadata_files_only_ranges_of_wheels_are_read(tmp_path):
    project, root = _served_project(tmp_path, metadata_files=False)
    with IndexServer(root) as server:
        assert locked(project, server.url + "/simple/") == {"a": "1.0", "b": "1.0"}
    wheel_requests = [(method, rng) for method, p, rng in server.requests if p.endswith(".whl")]
    assert wheel_requests
    assert all(rng or method == "HEAD" for method, rng in wheel_requests), wheel_requests


def test_a_cold_lock_reads_no_metadata_of_newer_pre_releases_or_of_versions_a_requirement_excludes(tmp_path):
    # What the lock fetches ahead (the version it will most likely pick, and that version's
    # dependencies) is what it ends up picking: no wasted request, and no chain of
    # dependencies discovered only once the solver chose (a cold lock's longest wait).
    d = tmp_path / "d"
    build_index(tmp_path / "srv", [
        make_wheel(d, "a", "1.0", requires=["b<2"]), make_wheel(d, "a", "2.0.dev1", requires=["c"]),
        make_wheel(d, "b", "1.0", requires=["e"]), make_wheel(d, "b", "2.0", requires=["c"]),
        make_wheel(d, "c", "1.0"), make_wheel(d, "e", "1.0"),
    ], metadata_files=True)
    project = write_project(tmp_path / "p", ["a"])
    with IndexServer(tmp_path / "srv") as server:
        assert locked(project, server.url + "/simple/") == {"a": "1.0", "b": "1.0", "e": "1.0"}
    metadata = sorted(p.rsplit("/", 1)[-1] for _, p, _ in server.requests if p.endswith(".metadata"))
    assert metadata == ["a-1.0-py3-none-any.whl.metadata", "b-1.0-py3-none-any.whl.metadata",
                        "e-1.0-py3-none-any.whl.metadata"]



@pytest.mark.parametrize("dependencies, tool", [
    (["a>=2.0.dev1"], ""),  # the project's own requirement asks for the pre-release
    (["x"], ""),  # x needs a>=1.0.dev0, which admits pre-releases (PEP 440)
    (["a"], '[tool.satlock]\nprerelease = "allow"\n'),
    (["y"], '[tool.satlock]\noverrides = ["a>=2.0.dev1"]\n'),  # the override replaces y's a<2
], ids=["root-pre-release", "dependency-pre-release", "prerelease-allow", "override"])
def test_a_cold_lock_reads_metadata_of_the_pre_release_it_picks_and_of_nothing_else(tmp_path, dependencies, tool):
    # The prefetch guesses as the solver chooses: a requirement naming a pre-release, or
    # prerelease = "allow", makes the newest pre-release the pick, and the guess must not be
    # the final release (whose dependency chain would be fetched for nothing).
    d = tmp_path / "d"
    build_index(tmp_path / "srv", [
        make_wheel(d, "x", "1.0", requires=["a>=1.0.dev0"]), make_wheel(d, "y", "1.0", requires=["a<2"]),
        make_wheel(d, "a", "1.0", requires=["b"]), make_wheel(d, "a", "2.0.dev1", requires=["c"]),
        make_wheel(d, "b", "1.0", requires=["e"]), make_wheel(d, "c", "1.0"), make_wheel(d, "e", "1.0"),
    ], metadata_files=True)
    project = write_project(tmp_path / "p", dependencies, tool=tool)
    with IndexServer(tmp_path / "srv") as server:
        picked = locked(project, server.url + "/simple/")
    assert {n: v for n, v in picked.items() if n not in ("x", "y")} == {"a": "2.0.dev1", "c": "1.0"}
    metadata = sorted(p.rsplit("/", 1)[-1] for _, p, _ in server.requests if p.endswith(".metadata"))
    assert metadata == sorted(f"{n}-{v}-py3-none-any.whl.metadata" for n, v in picked.items())


def test_a_cold_lock_guesses_no_pre_release_for_a_requirement_no_version_satisfies(tmp_path):
    # x 2.0 needs a>=5, which no a satisfies: the guess for a is what a plain requirement
    # takes (a 1.0, the one x 1.0 ends up needing), not the newer pre-release and its chain.
    d = tmp_path / "d"
    build_index(tmp_path / "srv", [
        make_wheel(d, "x", "1.0", requires=["a<2"]), make_wheel(d, "x", "2.0", requires=["a>=5"]),
        make_wheel(d, "a", "1.0"), make_wheel(d, "a", "2.0.dev1", requires=["c"]), make_wheel(d, "c", "1.0"),
    ], metadata_files=True)
    project = write_project(tmp_path / "p", ["x"])
    with IndexServer(tmp_path / "srv") as server:
        assert locked(project, server.url + "/simple/") == {"a": "1.0", "x": "1.0"}
    assert not [p for _, p, _ in server.requests if "2.0.dev1" in p or "/c" in p]


# -- where packages come from --------------------------------------------------------------


def test_extra_index_is_asked_first_and_its_versions_win(tmp_path):
    main = index_url(tmp_path, [make_wheel(tmp_path / "m", "a", "2.0"), make_wheel(tmp_path / "m", "b", "1.0")], name="main")
    extra = index_url(tmp_path, [make_wheel(tmp_path / "x", "a", "1.0")], name="extra")
    project = write_project(tmp_path / "p", ["a", "b"])
    assert locked(project, main, "--extra-index-url", extra) == {"a": "1.0", "b": "1.0"}
    assert package(project, "a")["index"].startswith(extra)
    assert package(project, "b")["index"].startswith(main)


def test_find_links_folder_from_option_and_environment(tmp_path):
    links = tmp_path / "links"
    make_wheel(links, "a", "1.0")
    make_wheel(links, "a", "1.1")
    empty = index_url(tmp_path, [make_wheel(tmp_path / "d", "other", "1.0")])
    project = write_project(tmp_path / "p", ["a"])
    assert locked(project, empty, "--find-links", str(links)) == {"a": "1.1"}
    (project / "pylock.toml").unlink()
    result = lock(project, "--index-url", empty, env={"SATLOCK_FIND_LINKS": str(links)})
    assert result.exit_code == 0, result.output
    assert versions(project) == {"a": "1.1"}


def test_index_url_from_the_environment(tmp_path):
    url = index_url(tmp_path, [make_wheel(tmp_path / "d", "a", "1.0")])
    project = write_project(tmp_path / "p", ["a"])
    result = lock(project, env={"SATLOCK_INDEX_URL": url})
    assert result.exit_code == 0, result.output
    assert package(project, "a")["index"].startswith(url)


def test_project_option_works_from_another_directory_with_relative_settings(tmp_path, monkeypatch):
    make_wheel(tmp_path / "p" / "wheels", "a", "1.0")
    empty = index_url(tmp_path, [make_wheel(tmp_path / "d", "other", "1.0")])
    write_project(tmp_path / "p", ["a"], tool='[tool.satlock]\nfind-links = ["wheels"]\n')
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    result = satlock("lock", "--project", "../p", "--index-url", empty)
    assert result.exit_code == 0, result.output
    assert versions(tmp_path / "p") == {"a": "1.0"}
    assert not (elsewhere / "pylock.toml").exists()


def test_direct_file_reference_is_locked_as_an_archive_with_its_hash(tmp_path):
    wheel = make_wheel(tmp_path / "local", "pkg", "1.0", requires=["b"])
    url = index_url(tmp_path, [make_wheel(tmp_path / "d", "b", "1.0")])
    project = write_project(tmp_path / "p", [f"pkg @ {wheel.as_uri()}"])
    assert locked(project, url) == {"b": "1.0", "pkg": "1.0"}
    archive = package(project, "pkg")["archive"]
    assert archive["hashes"] == {"sha256": sha256_of(wheel)}


def test_local_directory_source_is_built_for_metadata_and_locked_as_a_directory(tmp_path):
    tools = tmp_path / "tools"
    dists = [installed_wheel(n, tools) for n in ("setuptools", "wheel", "packaging")]
    url = index_url(tmp_path, [*dists, make_wheel(tmp_path / "d", "b", "1.0")])
    src = tmp_path / "pkg"
    src.mkdir()
    (src / "pkg").mkdir()
    (src / "pkg" / "__init__.py").write_text("")
    (src / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=61", "wheel"]\nbuild-backend = "setuptools.build_meta"\n\n'
        '[project]\nname = "pkg"\nversion = "0.3"\ndependencies = ["b"]\n')
    project = write_project(tmp_path / "p", ["pkg"], tool='[tool.satlock.sources]\npkg = { path = "../pkg" }\n')
    result = lock(project, "--index-url", url)
    assert result.exit_code == 0, result.output
    assert versions(project) == {"b": "1.0", "pkg": "0.3"}
    assert "directory" in package(project, "pkg")


def _static_source(folder: Path, name: str, dependencies: list[str]) -> Path:
    """A local package whose pyproject.toml states its dependencies (read without a build)."""
    folder.mkdir(parents=True, exist_ok=True)
    deps = ", ".join(f'"{d}"' for d in dependencies)
    (folder / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n\n'
        f'[project]\nname = "{name}"\nversion = "0.3"\ndependencies = [{deps}]\n')
    return folder


@pytest.mark.parametrize("how", ["source", "editable", "url"])
def test_a_local_source_whose_dependencies_changed_makes_the_lock_stale(tmp_path, how):
    # The shape of a monorepo (dagster with its dagster-shared beside it): the lock records
    # what libs/shared declared; adding a dependency there must not pass as up to date, and
    # locking again adds it, keeping the other versions.
    d = tmp_path / "d"
    url = index_url(tmp_path, [make_wheel(d, "b", "1.0"), make_wheel(d, "b", "2.0"), make_wheel(d, "c", "1.0")])
    src = _static_source(tmp_path / "p" / "libs" / "shared", "shared", ["b"])
    if how == "url":
        project = write_project(tmp_path / "p", [f"shared @ {src.as_uri()}"], tool=f'[tool.satlock]\nindex-url = "{url}"\n')
    else:
        editable = ", editable = true" if how == "editable" else ""
        project = write_project(tmp_path / "p", ["shared"], tool=f'[tool.satlock]\nindex-url = "{url}"\n'
                                f'[tool.satlock.sources]\nshared = {{ path = "libs/shared"{editable} }}\n')
    assert lock(project).exit_code == 0
    assert versions(project) == {"b": "2.0", "shared": "0.3"}
    assert "up to date" in lock(project).output
    _static_source(src, "shared", ["b", "c"])
    check = lock(project, "--check")
    assert check.exit_code == 1
    assert "the local source shared" in check.output and "changed" in check.output, check.output
    result = lock(project)
    assert result.exit_code == 0, result.output
    assert "up to date" not in result.output
    assert versions(project) == {"b": "2.0", "c": "1.0", "shared": "0.3"}
    assert lock(project, "--check").exit_code == 0
    # The same file checked out with Windows line endings is the same source.
    (src / "pyproject.toml").write_bytes((src / "pyproject.toml").read_bytes().replace(b"\n", b"\r\n"))
    assert lock(project, "--check").exit_code == 0


def test_a_local_archive_source_rebuilt_with_other_dependencies_makes_the_lock_stale(tmp_path):
    # libs/shared-0.3.tar.gz made again with one more dependency: the lock's sha256 for it
    # is no longer the file's, so the lock is stale, not "up to date" until sync's hash check.
    d = tmp_path / "d"
    url = index_url(tmp_path, [make_wheel(d, "b", "1.0"), make_wheel(d, "c", "1.0")])
    libs = tmp_path / "p" / "libs"
    make_sdist(libs, "shared", "0.3", requires=["b"])
    project = write_project(tmp_path / "p", ["shared"], tool=f'[tool.satlock]\nindex-url = "{url}"\n'
                            '[tool.satlock.sources]\nshared = { path = "libs/shared-0.3.tar.gz" }\n')
    assert lock(project).exit_code == 0
    assert versions(project) == {"b": "1.0", "shared": "0.3"}
    make_sdist(libs, "shared", "0.3", requires=["b", "c"])
    check = lock(project, "--check")
    assert check.exit_code == 1 and "the local source shared changed" in check.output, check.output
    assert lock(project).exit_code == 0
    assert versions(project) == {"b": "1.0", "c": "1.0", "shared": "0.3"}


def test_a_local_url_for_another_platform_that_is_not_on_this_machine_still_locks(tmp_path):
    # `y @ file:///C:/wheels/y.whl ; sys_platform == "win32"` locked on Linux: the file is
    # not here, and need not be, for the lock or for --check.
    d = tmp_path / "d"
    url = index_url(tmp_path, [make_wheel(d, "y", "1.0")])
    missing = (tmp_path / "elsewhere" / "y-2.0-py3-none-any.whl").as_uri()
    project = write_project(tmp_path / "p", [f'y @ {missing} ; sys_platform == "win32"', 'y ; sys_platform != "win32"'],
                            tool=f'[tool.satlock]\nindex-url = "{url}"\n')
    result = lock(project, "--platform", "linux")
    assert result.exit_code == 0, result.output
    assert versions(project) == {"y": "1.0"}
    assert lock(project, "--check").exit_code == 0


def test_a_sources_entry_naming_no_package_of_the_lock_is_warned_about(tmp_path):
    # `dagster-shard = { path = ... }` for dagster-shared: the typo leaves dagster-shared to
    # the index; the user must be told. An entry for a package only a dependency requires
    # is used, and is not warned about.
    d = tmp_path / "d"
    url = index_url(tmp_path, [make_wheel(d, "shared", "0.1"), make_wheel(d, "a", "1.0", requires=["helper"])])
    _static_source(tmp_path / "libs" / "shared", "shared", [])
    _static_source(tmp_path / "libs" / "helper", "helper", [])
    project = write_project(tmp_path / "p", ["shared", "a"], tool=f'[tool.satlock]\nindex-url = "{url}"\n'
                            '[tool.satlock.sources]\nshard = { path = "../libs/shared" }\nhelper = { path = "../libs/helper" }\n')
    result = lock(project)
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.output.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "[tool.satlock.sources] shard" in warnings[0], result.output
    assert "directory" in package(project, "helper") and "directory" not in package(project, "shared")


@pytest.mark.parametrize("shape", ["subdirectory-a-file", "setup.cfg-a-folder"])
def test_a_local_folder_source_of_an_odd_shape_is_one_error_line_or_locks(tmp_path, shape):
    # subdirectory naming a file is the user's to fix (one error line, as before local-sources);
    # a folder that happens to be called setup.cfg is no setup.cfg, and the folder locks.
    d = tmp_path / "d"
    url = index_url(tmp_path, [make_wheel(d, "b", "1.0")])
    src = _static_source(tmp_path / "libs" / "shared", "shared", ["b"])
    if shape == "setup.cfg-a-folder":
        (src / "setup.cfg").mkdir()
        entry = 'shared = { path = "../libs/shared" }'
    else:
        entry = 'shared = { path = "../libs/shared", subdirectory = "pyproject.toml" }'
    project = write_project(tmp_path / "p", ["shared"], tool=f'[tool.satlock]\nindex-url = "{url}"\n'
                            f'[tool.satlock.sources]\n{entry}\n')
    result = lock(project)
    assert "Traceback" not in result.output, result.output
    if shape == "setup.cfg-a-folder":
        assert result.exit_code == 0, result.output
        assert lock(project, "--check").exit_code == 0
    else:
        assert result.exit_code == 1 and result.output.startswith("error:") and "not a folder" in result.output, result.output


def test_a_change_to_the_local_url_this_platform_uses_makes_the_lock_stale_when_another_platform_has_its_own(tmp_path):
    # `m @ file:../win/m ; sys_platform == "win32"` listed before `m @ file:../lin/m ; sys_platform
    # == "linux"`, both folders checked out: locked on Linux, lin/m gaining a dependency must
    # make the lock stale, though the first URL for m is the Windows one.
    d = tmp_path / "d"
    url = index_url(tmp_path, [make_wheel(d, "b", "1.0"), make_wheel(d, "c", "1.0")])
    _static_source(tmp_path / "win" / "m", "m", ["b"])
    lin = _static_source(tmp_path / "lin" / "m", "m", ["b"])
    project = write_project(tmp_path / "p", ['m @ file:../win/m ; sys_platform == "win32"',
                                             'm @ file:../lin/m ; sys_platform == "linux"'],
                            tool=f'[tool.satlock]\nindex-url = "{url}"\n')
    assert lock(project, "--platform", "linux").exit_code == 0
    assert versions(project) == {"b": "1.0", "m": "0.3"}
    _static_source(lin, "m", ["b", "c"])
    check = lock(project, "--check")
    assert check.exit_code == 1 and "the local source m changed" in check.output, check.output


def test_a_sources_entry_for_a_dependency_of_another_platform_is_not_called_a_typo(tmp_path):
    # keyring needs pywin32-ctypes only on Windows; its [tool.satlock.sources] entry is right,
    # and locking on Linux must not tell the user to check its spelling.
    d = tmp_path / "d"
    url = index_url(tmp_path, [make_wheel(d, "a", "1.0", requires=['winonly ; sys_platform == "win32"']),
                               make_wheel(d, "winonly", "1.0")])
    _static_source(tmp_path / "libs" / "winonly", "winonly", [])
    project = write_project(tmp_path / "p", ["a"], tool=f'[tool.satlock]\nindex-url = "{url}"\n'
                            '[tool.satlock.sources]\nwinonly = { path = "../libs/winonly" }\n')
    result = lock(project, "--platform", "linux")
    assert result.exit_code == 0, result.output
    assert versions(project) == {"a": "1.0"}
    assert "warning:" not in result.output, result.output


def test_a_lock_naming_many_changed_local_sources_says_so_in_a_short_line(tmp_path):
    # A hand-edited local-sources table of 5,000 names: --check says the lock is stale in
    # one line a terminal can show, not in one naming them all.
    d = tmp_path / "d"
    url = index_url(tmp_path, [make_wheel(d, "b", "1.0")])
    project = write_project(tmp_path / "p", ["b"], tool=f'[tool.satlock]\nindex-url = "{url}"\n')
    assert lock(project).exit_code == 0
    text = (project / "pylock.toml").read_text()
    table = "[tool.satlock.local-sources]\n" + "".join(f'n{i} = "x"\n' for i in range(5000)) + "\n"
    (project / "pylock.toml").write_text(text.replace("[tool.satlock.build-environments]", table + "[tool.satlock.build-environments]"))
    check = lock(project, "--check")
    assert check.exit_code == 1 and "n0" in check.output and "more" in check.output, check.output[:500]
    assert len(check.output) < 500, check.output[:500]


def test_a_lock_written_before_local_sources_were_recorded_is_not_said_to_have_seen_them_change(tmp_path):
    # A lock from a satlock that wrote no local-sources table: nothing in libs/shared changed,
    # and --check must not send the user looking for a change; it says what the lock lacks.
    d = tmp_path / "d"
    url = index_url(tmp_path, [make_wheel(d, "b", "1.0")])
    _static_source(tmp_path / "p" / "libs" / "shared", "shared", ["b"])
    project = write_project(tmp_path / "p", ["shared"], tool=f'[tool.satlock]\nindex-url = "{url}"\n'
                            '[tool.satlock.sources]\nshared = { path = "libs/shared" }\n')
    assert lock(project).exit_code == 0
    text = (project / "pylock.toml").read_text()
    start = text.index("[tool.satlock.local-sources]")
    (project / "pylock.toml").write_text(text[:start] + text[text.index("[tool.satlock.build-environments", start):])
    check = lock(project, "--check")
    assert check.exit_code == 1 and "no digest of the local source shared" in check.output, check.output
    assert "changed" not in check.output, check.output


def test_a_local_archive_named_by_a_file_url_in_sources_made_again_makes_the_lock_stale(tmp_path):
    # shared = { url = "file:///.../shared-0.3.tar.gz" }: as local as `path`; made again with
    # one more dependency, the lock must be stale, not "up to date" while sync installs the
    # old file from the download cache.
    d = tmp_path / "d"
    url = index_url(tmp_path, [make_wheel(d, "b", "1.0"), make_wheel(d, "c", "1.0")])
    sdist = make_sdist(tmp_path / "libs", "shared", "0.3", requires=["b"])
    project = write_project(tmp_path / "p", ["shared"], tool=f'[tool.satlock]\nindex-url = "{url}"\n'
                            f'[tool.satlock.sources]\nshared = {{ url = "{sdist.as_uri()}" }}\n')
    assert lock(project).exit_code == 0
    assert versions(project) == {"b": "1.0", "shared": "0.3"}
    make_sdist(tmp_path / "libs", "shared", "0.3", requires=["b", "c"])
    check = lock(project, "--check")
    assert check.exit_code == 1 and "the local source shared changed" in check.output, check.output
    assert lock(project).exit_code == 0
    assert versions(project) == {"b": "1.0", "c": "1.0", "shared": "0.3"}
    assert package(project, "shared")["archive"]["hashes"] == {"sha256": sha256_of(sdist)}
    assert lock(project, "--check").exit_code == 0


def test_constraints_limit_versions_and_overrides_replace_requirements(tmp_path):
    d = tmp_path / "d"
    url = index_url(tmp_path, [make_wheel(d, "a", "1.0", requires=["c"]), make_wheel(d, "a", "2.0", requires=["c<1"]),
                               make_wheel(d, "c", "0.5"), make_wheel(d, "c", "1.5"), make_wheel(d, "c", "2.0"),
                               make_wheel(d, "z", "1.0")])
    constrained = write_project(tmp_path / "p", ["a"], tool='[tool.satlock]\nconstraints = ["c>=1,<2", "z"]\n')
    assert locked(constrained, url) == {"a": "1.0", "c": "1.5"}
    overridden = write_project(tmp_path / "q", ["a", "c>=1"], tool='[tool.satlock]\noverrides = ["c>=1"]\n')
    assert locked(overridden, url) == {"a": "2.0", "c": "2.0"}


# -- the lock is a standard pylock.toml ----------------------------------------------------


def test_lock_validates_and_selects_the_same_wheels_for_this_interpreter(tmp_path):
    from packaging import tags

    native = next(iter(tags.sys_tags()))
    d = tmp_path / "d"
    url = index_url(tmp_path, [make_wheel(d, "a", "1.0", requires=["b"]), make_wheel(d, "a", "1.0", requires=["b"], tag=str(native)),
                               make_wheel(d, "b", "1.0"), make_wheel(d, "click", "8.0"), make_wheel(d, "ruff", "0.5"),
                               make_sdist(d, "s", "1.0")])
    project = write_project(tmp_path / "p", ["a", "s"], optional={"cli": ["click"]}, groups={"dev": ["ruff"]})
    locked(project, url)
    pylock = Pylock.from_dict(read(project))
    chosen = {p["name"]: p for p in read(project)["packages"]}
    selected = {str(p.name): dist for p, dist in pylock.select(extras=["cli"])}
    assert set(selected) == {"a", "b", "click", "ruff", "s"}
    for name, dist in selected.items():
        if "wheels" in chosen[name]:
            assert dist.name in {w["name"] for w in chosen[name]["wheels"]}
        else:
            assert chosen[name]["sdist"]["name"] == dist.name
    assert set(str(p.name) for p, _ in pylock.select(dependency_groups=[])) == {"a", "b", "s"}


def test_failed_lock_in_a_real_process_leaves_no_lock_and_no_traceback(tmp_path):
    url = index_url(tmp_path, [make_wheel(tmp_path / "d", "a", "1.0")])
    project = write_project(tmp_path / "p", ["a>=2"])
    proc = subprocess.run([sys.executable, "-m", "satlock", "lock", "--project", str(project), "--index-url", url],
                          capture_output=True, text=True, env={**os.environ}, timeout=60)
    assert proc.returncode == 1
    assert "a>=2" in proc.stderr and "Traceback" not in proc.stderr
    assert not (project / "pylock.toml").exists()


def test_lock_with_an_up_to_date_lock_resolves_nothing_and_asks_no_index(tmp_path: Path) -> None:
    dists = tmp_path / "dists"
    build_index(tmp_path / "index", [make_wheel(dists, "aaa", "1.0"), make_wheel(dists, "aaa", "2.0")])
    with IndexServer(tmp_path / "index") as server:
        project = write_project(tmp_path / "p", ["aaa"], tool=f'\n[tool.satlock]\nindex-url = "{server.url}/simple"\n')
        assert lock(project).exit_code == 0
        first = (project / "pylock.toml").read_bytes()
        asked = len(server.requests)
        result = lock(project)
        assert result.exit_code == 0, result.output
        assert "up to date" in result.output
        assert len(server.requests) == asked
        assert (project / "pylock.toml").read_bytes() == first
        assert lock(project, "--upgrade").exit_code == 0


def test_a_lock_whose_package_needs_a_newer_patch_python_says_so_not_another_platform():
    # A lock made on 3.11.7 whose soupsieve needs >=3.11.5, synced with a 3.11.2 interpreter:
    # the environments marker (python_version == "3.11") holds, but soupsieve cannot install.
    from packaging.markers import Marker
    from packaging.pylock import Package, PackageWheel
    from packaging.specifiers import SpecifierSet
    from packaging.version import Version

    from satlock.resolver.freshness import LockOptions, other_target_reason
    from satlock.resolver.target import make_target

    target = make_target(None, None)
    python = target.python_full_version
    newer = f"{python.major}.{python.minor}.{python.micro + 1}"
    wheel = PackageWheel(name="soupsieve-2.8-py3-none-any.whl", url="https://example.invalid/soupsieve-2.8-py3-none-any.whl",
                         hashes={"sha256": "0" * 64})
    lock = Pylock(lock_version=Version("1.0"), created_by="satlock", environments=[Marker(target.describe())],
                  packages=[Package(name="soupsieve", version=Version("2.8"), requires_python=SpecifierSet(f">={newer}"),
                                    wheels=[wheel])])
    reason = other_target_reason(lock, LockOptions())
    assert reason == f"soupsieve 2.8 in it requires Python >={newer}, not {target.python_full_version}", reason


def test_lock_and_sync_from_a_subfolder_find_the_project_above_it_as_uv_does(tmp_path):
    build_index(tmp_path / "index", [make_wheel(tmp_path / "d", "helper", "1.0")])
    project = tmp_path / "p"
    (project / "tests" / "unit").mkdir(parents=True)
    (project / "pyproject.toml").write_text(project_toml(["helper"]))
    index = ["--index-url", (tmp_path / "index" / "simple").as_uri(), "--cache-dir", str(tmp_path / "cache")]
    locked = runner.invoke(app, ["lock", "--project", str(project / "tests" / "unit"), *index])
    assert locked.exit_code == 0, locked.output
    assert (project / "pylock.toml").is_file() and not (project / "tests" / "unit" / "pylock.toml").exists()
    synced = runner.invoke(app, ["sync", "--project", str(project / "tests"), *index])
    assert synced.exit_code == 0, synced.output
    assert (project / ".venv" / "pyvenv.cfg").is_file() and not (project / "tests" / ".venv").exists()
    # The command line a user types in the subfolder (the fast path for an up-to-date lock too).
    env = {**os.environ, "SATLOCK_CACHE_DIR": str(tmp_path / "cache")}
    for _ in range(2):
        again = subprocess.run([sys.executable, "-m", "satlock", "lock"], cwd=project / "tests" / "unit", env=env,
                               capture_output=True, text=True)
        assert again.returncode == 0 and "up to date" in again.stdout + again.stderr, again.stdout + again.stderr


def test_a_folder_with_no_pyproject_above_it_is_one_error_naming_it(tmp_path):
    folder = tmp_path / "empty"
    folder.mkdir()
    result = runner.invoke(app, ["lock", "--project", str(folder)])
    assert result.exit_code != 0
    assert [line for line in result.output.splitlines() if line.startswith("error:")] == [f"error: no pyproject.toml in {folder}"]


@pytest.mark.parametrize("uv_table,named", [
    ('[tool.uv.sources]\ntorch = { index = "pytorch-cu124" }\n\n[[tool.uv.index]]\nname = "pytorch-cu124"\n'
     'url = "https://example.invalid/whl/cu124"\nexplicit = true\n', "index, sources"),
    ('[tool.uv]\nconstraint-dependencies = ["y<2"]\ndev-dependencies = ["y"]\n', "constraint-dependencies, dev-dependencies"),
    ('[tool.uv.workspace]\nmembers = ["packages/*"]\n', "workspace"),
])
def test_uvs_own_resolution_settings_are_named_in_one_warning_as_not_read(tmp_path, uv_table, named):
    # A project moving from uv: its [tool.uv] index pins and sources would change what uv
    # locks; satlock locks from [tool.satlock] and the index, and must say so, not differ silently.
    url = index_url(tmp_path, [make_wheel(tmp_path / "d", "y", "1.0")])
    project = write_project(tmp_path / "p", ["y"], tool=f'[tool.satlock]\nindex-url = "{url}"\n\n' + uv_table)
    result = lock(project)
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.output.splitlines() if line.startswith("warning:")]
    are = "are uv's settings" if "," in named else "is a uv setting"
    assert len(warnings) == 1 and f"[tool.uv] {named} {are}, which satlock does not read" in warnings[0]
    assert versions(project) == {"y": "1.0"}


def test_uv_settings_are_warned_about_when_the_lock_fails_too(tmp_path):
    # A package only a [tool.uv] source provides is not on the index: the warning is what
    # explains the error, so it comes first (rev39: dagster's own pyproject.toml).
    url = index_url(tmp_path, [make_wheel(tmp_path / "d", "y", "1.0")])
    project = write_project(tmp_path / "p", ["y", "only-a-uv-source"], tool=f'[tool.satlock]\nindex-url = "{url}"\n\n'
                            '[tool.uv.sources]\nonly-a-uv-source = { path = "../elsewhere", editable = true }\n')
    result = lock(project)
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("warning:") and "[tool.uv] sources is a uv setting, which satlock does not read" in lines[0]
    assert lines[1].startswith("error:") and "'only-a-uv-source' was not found" in lines[1], result.output
    assert not (project / "pylock.toml").exists()


def test_uvs_conflicts_are_named_as_not_read(tmp_path):
    url = index_url(tmp_path, [make_wheel(tmp_path / "d", "y", "1.0")])
    project = write_project(tmp_path / "p", ["y"], tool=f'[tool.satlock]\nindex-url = "{url}"\n\n'
                            '[tool.uv]\nconflicts = [[{ extra = "a" }, { extra = "b" }]]\n')
    result = lock(project)
    assert result.exit_code == 0, result.output
    assert "[tool.uv] conflicts is a uv setting, which satlock does not read" in result.output


def test_an_extra_the_project_names_of_itself_but_lacks_is_left_out_with_a_warning(tmp_path):
    # As pip and uv read it: kedro-datasets 9.6.0 asks for its own missing spark-core extra.
    url = index_url(tmp_path, [make_wheel(tmp_path / "d", "y", "1.0"), make_wheel(tmp_path / "d", "z", "1.0")])
    project = write_project(tmp_path / "p", ["y"], optional={"a": ["z"], "b": ["demo[a,nope]"]},
                            tool=f'[tool.satlock]\nindex-url = "{url}"\n')
    result = lock(project)
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.output.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "demo[a,nope] names the extra 'nope', which the project does not define" in warnings[0]
    assert versions(project) == {"y": "1.0", "z": "1.0"}


def test_uv_settings_that_do_not_change_the_lock_are_not_warned_about(tmp_path):
    url = index_url(tmp_path, [make_wheel(tmp_path / "d", "y", "1.0")])
    project = write_project(tmp_path / "p", ["y"], tool=f'[tool.satlock]\nindex-url = "{url}"\n\n'
                            '[tool.uv]\npackage = false\nmanaged = true\ncompile-bytecode = true\n')
    result = lock(project)
    assert result.exit_code == 0, result.output
    assert "warning:" not in result.output
