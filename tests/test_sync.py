"""``satlock sync`` end to end, through the CLI, against a local index served on 127.0.0.1."""

from __future__ import annotations

import shutil
import subprocess
import tomllib
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from indexbuilder import IndexServer, build_index, installed_wheel, make_sdist, make_wheel, project_toml
from installcheck import verify_records
from satlock.buildenv.installed import installed_distributions
from satlock.buildenv.venv import open_venv
from satlock.cli.main import app

runner = CliRunner()


@pytest.fixture()
def served(tmp_path: Path):
    dists = tmp_path / "dists"
    wheels = [
        make_wheel(dists, "app-core", "1.0", requires=["helper>=1"]),
        make_wheel(dists, "app-core", "2.0", requires=["helper>=2"]),
        make_wheel(dists, "helper", "1.0"),
        make_wheel(dists, "helper", "2.0"),
        make_wheel(dists, "fancy", "1.0"),
        make_wheel(dists, "devtool", "1.0"),
    ]
    build_index(tmp_path / "index", wheels)
    with IndexServer(tmp_path / "index") as server:
        yield server


def _project(root: Path, deps: list[str], **kwargs) -> Path:
    root.mkdir(exist_ok=True)
    (root / "pyproject.toml").write_text(project_toml(deps, **kwargs))
    return root


def _sync(project: Path, server: IndexServer, *args: str):
    return runner.invoke(app, ["sync", "--project", str(project), "--index-url", f"{server.url}/simple", *args])


def _installed(project: Path) -> dict[str, str]:
    return {name: d.version for name, d in installed_distributions(open_venv(project / ".venv")).items()}


def test_sync_locks_then_installs_what_the_venv_interpreter_can_import(tmp_path: Path, served: IndexServer) -> None:
    project = _project(tmp_path / "p", ["app-core"])
    result = _sync(project, served)
    assert result.exit_code == 0, result.output
    assert (project / "pylock.toml").exists()
    assert _installed(project) == {"app-core": "2.0", "helper": "2.0"}
    out = subprocess.run([str(project / ".venv" / "bin" / "python"), "-c", "import app_core, helper; print(helper.__version__)"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "2.0"
    assert verify_records(open_venv(project / ".venv")) == []


def test_sync_says_why_it_locks_again_for_a_lock_made_for_another_python(tmp_path: Path, served: IndexServer) -> None:
    project = _project(tmp_path / "p", ["app-core"])
    other = "3.9" if sys.version_info[:2] != (3, 9) else "3.10"
    locked = runner.invoke(app, ["lock", "--project", str(project), "--index-url", f"{served.url}/simple", "--python-version", other])
    assert locked.exit_code == 0, locked.output
    result = _sync(project, served)
    assert result.exit_code == 0, result.output
    (line,) = [line for line in result.output.splitlines() if line.startswith("Locked")]
    assert f'it was made for python_version == "{other}"' in line and f'not python_version == "{sys.version_info[0]}.{sys.version_info[1]}"' in line
    assert _installed(project) == {"app-core": "2.0", "helper": "2.0"}


def test_second_sync_is_a_no_op_that_makes_no_request(tmp_path: Path, served: IndexServer) -> None:
    project = _project(tmp_path / "p", ["app-core"])
    assert _sync(project, served).exit_code == 0
    before = len(served.requests)
    result = _sync(project, served)
    assert result.exit_code == 0, result.output
    assert "up to date" in result.output
    assert len(served.requests) == before


def test_extra_is_installed_on_request_and_removed_when_no_longer_asked_for(tmp_path: Path, served: IndexServer) -> None:
    project = _project(tmp_path / "p", ["app-core"], optional={"fancy": ["fancy"]})
    assert _sync(project, served, "--extra", "fancy").exit_code == 0
    assert "fancy" in _installed(project)
    assert _sync(project, served).exit_code == 0
    assert "fancy" not in _installed(project)
    assert _sync(project, served, "--all-extras").exit_code == 0
    assert "fancy" in _installed(project)


def test_setuptools_satlock_installed_for_an_extra_leaves_with_the_extra(tmp_path: Path) -> None:
    dists = tmp_path / "dists"
    build_index(tmp_path / "index", [make_wheel(dists, "helper", "1.0"), make_wheel(dists, "setuptools", "99.0"),
                                     make_wheel(dists, "wheel", "99.0")])
    project = _project(tmp_path / "p", ["helper"], optional={"compile": ["setuptools", "wheel"]})
    with IndexServer(tmp_path / "index") as server:
        assert _sync(project, server, "--extra", "compile").exit_code == 0
        assert _installed(project) == {"helper": "1.0", "setuptools": "99.0", "wheel": "99.0"}
        result = _sync(project, server)
    assert result.exit_code == 0, result.output
    assert _installed(project) == {"helper": "1.0"}


def test_a_source_build_that_fails_leaves_the_venv_as_it_was(tmp_path: Path) -> None:
    # badext's metadata is static (the lock reads it without a build); its build fails.
    dists = tmp_path / "dists"
    build_index(tmp_path / "index", [make_wheel(dists, "helper", "1.0"), make_wheel(dists, "helper", "2.0"),
                                     *(installed_wheel(name, dists) for name in ("setuptools", "wheel")),
                                     make_sdist(dists, "badext", "1.0", setup_py="raise SystemExit('no compiler here')\n")])
    project = _project(tmp_path / "p", ["helper==1.0"])
    with IndexServer(tmp_path / "index") as server:
        assert _sync(project, server).exit_code == 0
        _project(project, ["helper==2.0", "badext"])
        result = _sync(project, server)
        assert result.exit_code == 1
        assert "building badext failed" in result.output
        assert _installed(project) == {"helper": "1.0"}
        fresh = _project(tmp_path / "fresh", ["helper", "badext"])
        assert _sync(fresh, server).exit_code == 1
    assert not (fresh / ".venv").exists()


def test_a_built_wheel_that_would_overwrite_an_installed_file_is_refused_before_the_venv_changes(tmp_path: Path) -> None:
    # clash's wheel holds helper/__init__.py: refused as the downloads are, before other is upgraded.
    dists = tmp_path / "dists"
    setup = "from setuptools import setup\nsetup(name='clash', version='1.0', packages=['helper'])\n"
    build_index(tmp_path / "index", [make_wheel(dists, "helper", "1.0"), make_wheel(dists, "other", "1.0"),
                                     make_wheel(dists, "other", "2.0"),
                                     *(installed_wheel(name, dists) for name in ("setuptools", "wheel")),
                                     make_sdist(dists, "clash", "1.0", setup_py=setup, pyproject="",
                                                files={"helper/__init__.py": "x = 1\n"})])
    project = _project(tmp_path / "p", ["helper==1.0", "other==1.0"])
    with IndexServer(tmp_path / "index") as server:
        assert _sync(project, server).exit_code == 0
        _project(project, ["helper==1.0", "other==2.0", "clash"])
        result = _sync(project, server)
    assert result.exit_code == 1
    assert "would overwrite" in result.output and "(installed by helper)" in result.output
    assert _installed(project) == {"helper": "1.0", "other": "1.0"}
    assert not list((project / ".venv").glob(".satlock-*stag*"))


def test_default_dev_group_is_installed_unless_no_default_groups(tmp_path: Path, served: IndexServer) -> None:
    project = _project(tmp_path / "p", ["helper"], groups={"dev": ["devtool"]})
    assert _sync(project, served).exit_code == 0
    assert "devtool" in _installed(project)
    assert _sync(project, served, "--no-default-groups").exit_code == 0
    assert "devtool" not in _installed(project)


def test_changing_a_pin_downgrades_and_upgrades_the_venv(tmp_path: Path, served: IndexServer) -> None:
    project = _project(tmp_path / "p", ["app-core"])
    assert _sync(project, served).exit_code == 0
    (project / "pyproject.toml").write_text(project_toml(["app-core==1.0", "helper==1.0"]))
    assert _sync(project, served).exit_code == 0
    assert _installed(project) == {"app-core": "1.0", "helper": "1.0"}
    (project / "pyproject.toml").write_text(project_toml(["app-core"]))
    relock = runner.invoke(app, ["lock", "--project", str(project), "--index-url", f"{served.url}/simple", "--upgrade"])
    assert relock.exit_code == 0, relock.output
    assert _sync(project, served).exit_code == 0
    assert _installed(project) == {"app-core": "2.0", "helper": "2.0"}


def test_locked_refuses_a_stale_lock_and_changes_nothing(tmp_path: Path, served: IndexServer) -> None:
    project = _project(tmp_path / "p", ["helper"])
    assert _sync(project, served).exit_code == 0
    lock_before = (project / "pylock.toml").read_bytes()
    (project / "pyproject.toml").write_text(project_toml(["helper", "fancy"]))
    result = _sync(project, served, "--locked")
    assert result.exit_code == 1
    assert "out of date" in result.output and "Traceback" not in result.output
    assert (project / "pylock.toml").read_bytes() == lock_before
    assert "fancy" not in _installed(project)


def test_frozen_sync_into_a_fresh_venv_works_offline_from_the_cache(tmp_path: Path, served: IndexServer) -> None:
    project = _project(tmp_path / "p", ["app-core"])
    assert _sync(project, served).exit_code == 0
    subprocess.run(["rm", "-rf", str(project / ".venv")], check=True)
    before = len(served.requests)
    result = _sync(project, served, "--frozen", "--offline")
    assert result.exit_code == 0, result.output
    assert _installed(project) == {"app-core": "2.0", "helper": "2.0"}
    assert len(served.requests) == before


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("flag, name, declared", [("--extra", "nosuch", "fancy"), ("--group", "nosuch", "dev")])
def test_sync_asking_for_an_undeclared_extra_or_group_names_what_exists_and_changes_nothing(
        tmp_path: Path, served: IndexServer, flag: str, name: str, declared: str) -> None:
    project = _project(tmp_path / "p", ["app-core"], optional={"fancy": ["fancy"]}, groups={"dev": ["devtool"]})
    assert _sync(project, served).exit_code == 0
    before = _tree(project)
    result = _sync(project, served, flag, name)
    assert result.exit_code != 0
    lines = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, result.output
    assert name in lines[0] and declared in lines[0]
    assert "satlock lock" not in result.output and "Traceback" not in result.output
    assert _tree(project) == before


def test_sync_of_an_undeclared_extra_before_any_lock_writes_no_lock_and_no_venv(tmp_path: Path, served: IndexServer) -> None:
    project = _project(tmp_path / "p", ["app-core"])
    result = _sync(project, served, "--extra", "nosuch")
    assert result.exit_code != 0
    assert "no extra 'nosuch'" in result.output and "declares no extras" in result.output
    assert not (project / "pylock.toml").exists() and not (project / ".venv").exists()


@pytest.mark.parametrize("flag, name, said", [("--extra", "tests", "a dependency group there: ask for it with --group tests"),
                                              ("--group", "fancy", "an extra there: ask for it with --extra fancy")])
def test_sync_asking_for_a_group_as_an_extra_or_the_reverse_says_which_flag_names_it(
        tmp_path: Path, served: IndexServer, flag: str, name: str, said: str) -> None:
    project = _project(tmp_path / "p", ["app-core"], optional={"fancy": ["fancy"]}, groups={"tests": ["devtool"]})
    result = _sync(project, served, flag, name)
    assert result.exit_code != 0
    assert f"hint: {name!r} is {said}" in result.output, result.output
    assert not (project / ".venv").exists()


def test_sync_of_an_extra_when_the_project_declares_none_does_not_hint_at_a_list(tmp_path: Path, served: IndexServer) -> None:
    project = _project(tmp_path / "p", ["app-core"])
    result = _sync(project, served, "--extra", "nosuch")
    assert result.exit_code != 0
    assert "ask for one of those" not in result.output
    assert "hint: add it to [project.optional-dependencies]" in result.output, result.output


def test_frozen_sync_of_an_extra_the_stale_lock_lacks_says_to_relock(tmp_path: Path, served: IndexServer) -> None:
    project = _project(tmp_path / "p", ["app-core"])
    assert _sync(project, served).exit_code == 0
    (project / "pyproject.toml").write_text(project_toml(["app-core"], optional={"fancy": ["fancy"]}))
    before = _tree(project)
    result = _sync(project, served, "--frozen", "--extra", "fancy")
    assert result.exit_code != 0
    assert "out of date" in result.output and "satlock lock" in result.output
    assert _tree(project) == before


def test_a_sync_that_fails_before_installing_leaves_no_new_venv_behind(tmp_path: Path, served: IndexServer) -> None:
    project = _project(tmp_path / "p", ["app-core"])
    assert runner.invoke(app, ["lock", "--project", str(project), "--index-url", f"{served.url}/simple"]).exit_code == 0
    for wheel in (served.root / "files").glob("helper-2.0-*.whl"):
        wheel.unlink()  # the lock's wheel is gone from the index: the download fails
    result = _sync(project, served, "--frozen")
    assert result.exit_code != 0, result.output
    assert "Traceback" not in result.output
    assert not (project / ".venv").exists()


def test_a_sync_that_fails_keeps_the_venv_it_found(tmp_path: Path, served: IndexServer) -> None:
    project = _project(tmp_path / "p", ["app-core"])
    assert _sync(project, served).exit_code == 0
    _project(project, ["app-core", "fancy"])
    assert runner.invoke(app, ["lock", "--project", str(project), "--index-url", f"{served.url}/simple"]).exit_code == 0
    for wheel in (served.root / "files").glob("fancy-*.whl"):
        wheel.unlink()
    result = _sync(project, served, "--frozen")
    assert result.exit_code != 0, result.output
    assert _installed(project) == {"app-core": "2.0", "helper": "2.0"}


def test_a_sync_with_python_whose_lock_fails_leaves_no_new_venv_behind(tmp_path: Path, served: IndexServer) -> None:
    import sys

    project = _project(tmp_path / "p", ["no-such-package"])
    result = _sync(project, served, "--python", sys.executable)
    assert result.exit_code != 0, result.output
    assert "error:" in result.output and "Traceback" not in result.output
    assert not (project / ".venv").exists()


def _fail_after_someone_fills_the_venv(project: Path, served: IndexServer, monkeypatch, fill: Callable[[Path], None]) -> None:
    """Run a sync whose lock fails, while someone else makes ``.venv`` and puts ``fill``
    into its site-packages as the sync resolves; the sync must fail cleanly."""
    import venv

    from satlock.resolver import locking

    resolve = locking.lock_project

    def someone_fills_the_venv_while_this_sync_resolves(*args, **kwargs):
        venv.EnvBuilder(symlinks=True).create(str(project / ".venv"))
        fill(Path(open_venv(project / ".venv").purelib))
        return resolve(*args, **kwargs)

    monkeypatch.setattr(locking, "lock_project", someone_fills_the_venv_while_this_sync_resolves)
    result = _sync(project, served)
    assert result.exit_code != 0, result.output
    assert "error:" in result.output and "Traceback" not in result.output


def test_a_failed_sync_leaves_a_venv_another_sync_made_meanwhile(tmp_path: Path, served: IndexServer, monkeypatch) -> None:
    def another_sync_installs(site: Path) -> None:
        (site / "theirs-1.0.dist-info").mkdir()
        (site / "theirs-1.0.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: theirs\nVersion: 1.0\n")

    project = _project(tmp_path / "p", ["no-such-package"])
    _fail_after_someone_fills_the_venv(project, served, monkeypatch, another_sync_installs)
    assert _installed(project) == {"theirs": "1.0"}


def test_a_failed_sync_leaves_a_venv_made_meanwhile_holding_a_package_without_a_dist_info(tmp_path: Path, served: IndexServer,
                                                                                         monkeypatch) -> None:
    def the_user_installs_an_egg_info_package(site: Path) -> None:
        (site / "legacy-1.0-py3.11.egg-info").write_text("Metadata-Version: 1.0\nName: legacy\nVersion: 1.0\n")
        (site / "legacy.py").write_text("WHO = 'the user'\n")

    project = _project(tmp_path / "p", ["no-such-package"])
    _fail_after_someone_fills_the_venv(project, served, monkeypatch, the_user_installs_an_egg_info_package)
    assert (Path(open_venv(project / ".venv").purelib) / "legacy.py").read_text() == "WHO = 'the user'\n"


def test_a_venv_path_that_is_a_file_is_one_error_line_and_stays(tmp_path: Path, served: IndexServer) -> None:
    project = _project(tmp_path / "p", ["app-core"])
    (project / ".venv").write_text("not an environment")
    result = _sync(project, served)
    assert result.exit_code != 0
    assert result.output.count("error:") == 1 and ".venv" in result.output, result.output
    assert (project / ".venv").read_text() == "not an environment"


def test_sync_with_an_interpreter_requires_python_excludes_says_to_pass_python_not_to_lock_again(
        tmp_path: Path, served: IndexServer) -> None:
    # The shape of homeassistant (requires-python >=3.12) locked with --python-version 3.12
    # on a machine whose satlock runs on 3.11: locking again as the hint said changed nothing.
    import platform

    project = _project(tmp_path / "p", ["app-core"], requires_python=f">{platform.python_version()}")
    locked = runner.invoke(app, ["lock", "--project", str(project), "--index-url", f"{served.url}/simple",
                                 "--python-version", "3.99"])
    assert locked.exit_code == 0, locked.output
    before = (project / "pylock.toml").read_text()
    result = _sync(project, served)
    assert result.exit_code == 1, result.output
    error, hint = result.output.strip().splitlines()
    assert error.startswith("error: ") and f"excludes Python {platform.python_version()}" in error, result.output
    assert hint.startswith("hint: ") and "--python" in hint and "--python-version" not in hint, result.output
    assert (project / "pylock.toml").read_text() == before and not (project / ".venv").exists()


def _lock_for_another_platform(project: Path, served: IndexServer) -> None:
    other = "windows" if sys.platform != "win32" else "linux"
    locked = runner.invoke(app, ["lock", "--project", str(project), "--index-url", f"{served.url}/simple", "--platform", other])
    assert locked.exit_code == 0, locked.output


def test_frozen_sync_of_a_lock_made_for_another_platform_names_both_in_one_line_and_installs_nothing(
        tmp_path: Path, served: IndexServer) -> None:
    import platform

    project = _project(tmp_path / "p", ["app-core"])
    _lock_for_another_platform(project, served)
    before = _tree(project)
    result = _sync(project, served, "--frozen")
    assert result.exit_code == 1, result.output
    error, hint = result.output.strip().splitlines()
    assert error.startswith("error: pylock.toml was locked for ") and 'sys_platform == "' in error, result.output
    assert f"Python {platform.python_version()} on {sys.platform}" in error, result.output
    assert "Provided environment" not in error, result.output
    assert hint.startswith("hint: ") and "--frozen" in hint, result.output
    assert _tree(project) == before and not (project / ".venv").exists()


def test_frozen_sync_with_an_interpreter_the_lock_s_requires_python_excludes_names_both(
        tmp_path: Path, served: IndexServer) -> None:
    import platform

    import tomlkit

    project = _project(tmp_path / "p", ["app-core"])
    assert runner.invoke(app, ["lock", "--project", str(project), "--index-url", f"{served.url}/simple"]).exit_code == 0
    lock_path = project / "pylock.toml"
    lock = tomlkit.parse(lock_path.read_text())
    lock["requires-python"] = f">{platform.python_version()}"  # a lock another tool wrote, say
    lock_path.write_text(tomlkit.dumps(lock))
    result = _sync(project, served, "--frozen")
    assert result.exit_code == 1, result.output
    error = result.output.strip().splitlines()[0]
    assert error == (f"error: pylock.toml requires Python >{platform.python_version()}; this environment's "
                     f"interpreter is Python {platform.python_version()} on {sys.platform} ({platform.machine()})"), result.output
    assert not (project / ".venv").exists()


def test_frozen_sync_of_a_lock_for_another_platform_into_an_existing_venv_says_to_remove_it_before_python(
        tmp_path: Path, served: IndexServer) -> None:
    """--python only makes a new .venv: with one there, a hint to pass --python alone would get the same error again."""
    project = _project(tmp_path / "p", ["app-core"])
    assert _sync(project, served).exit_code == 0
    _lock_for_another_platform(project, served)
    before = _installed(project)
    result = _sync(project, served, "--frozen")
    assert result.exit_code == 1, result.output
    error, hint = result.output.strip().splitlines()
    assert error.startswith("error: pylock.toml was locked for "), result.output
    assert hint.startswith("hint: ") and "remove .venv and sync with --python" in hint, result.output
    assert _installed(project) == before


PLUS_PYTHON = '''#!/bin/bash
PYTHONPATH={site}${{PYTHONPATH:+:$PYTHONPATH}} exec -a {argv0} {real} "$@"
'''


@pytest.mark.skipif(sys.platform != "linux", reason="the .venv interpreter is faked with a shell script")
def test_sync_into_a_venv_whose_python_reports_a_version_ending_in_plus_locks_and_installs(
        tmp_path: Path, served: IndexServer) -> None:
    """A Python built from a source checkout says it is 3.x.y+ (not PEP 440); packaging's markers
    read it as 3.x.y+local, and so must sync: it had ended in a traceback (InvalidVersion)."""
    project = _project(tmp_path / "p", ["app-core"])
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(project / ".venv")], check=True)
    site = tmp_path / "plus"
    site.mkdir()
    (site / "sitecustomize.py").write_text("import platform\n_v = platform.python_version()\nplatform.python_version = lambda: _v + '+'\n")
    python = project / ".venv" / "bin" / "python"
    real = Path(sys.executable).resolve()
    python.unlink()
    python.write_text(PLUS_PYTHON.format(site=site, argv0=python, real=real))
    python.chmod(0o755)
    result = _sync(project, served)
    assert result.exit_code == 0, result.output
    assert _installed(project) == {"app-core": "2.0", "helper": "2.0"}
    assert _sync(project, served, "--frozen").exit_code == 0


def _another_interpreter() -> str | None:
    """A Python on this machine other than the one running the tests (by base interpreter), or None."""
    import os

    ours = os.path.realpath(getattr(sys, "_base_executable", sys.executable))
    names = ["/usr/bin/python3", "/usr/local/bin/python3"] + [shutil.which(f"python3.{m}") or "" for m in range(8, 16)]
    for candidate in filter(None, names):
        try:
            base = subprocess.run([candidate, "-c", "import os, sys; print(os.path.realpath(sys._base_executable))"],
                                  capture_output=True, text=True, timeout=30).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            continue
        if base and base != ours:
            return candidate
    return None


def test_sync_with_python_naming_the_interpreter_of_the_existing_venv_goes_on(tmp_path: Path, served: IndexServer) -> None:
    project = _project(tmp_path / "p", ["app-core"])
    assert _sync(project, served).exit_code == 0
    for python in (sys.executable, str(project / ".venv" / "bin" / "python")):
        result = _sync(project, served, "--python", python)
        assert result.exit_code == 0, result.output


def test_sync_with_python_naming_another_interpreter_than_the_existing_venv_s_is_refused_and_keeps_it(
        tmp_path: Path, served: IndexServer) -> None:
    other = _another_interpreter()
    if other is None:
        pytest.skip("this machine has one Python")
    project = _project(tmp_path / "p", ["app-core"])
    assert _sync(project, served).exit_code == 0
    before = _tree(project / ".venv")
    result = _sync(project, served, "--python", other)
    assert result.exit_code == 1, result.output
    error, hint = result.output.strip().splitlines()
    assert error.startswith("error: ") and "was made with Python" in error and other in error, result.output
    assert hint.startswith("hint: remove ") and ".venv" in hint, result.output
    assert _tree(project / ".venv") == before


def test_sync_with_python_naming_the_interpreter_of_a_copied_venv_without_executable_in_pyvenv_cfg_goes_on(
        tmp_path: Path, served: IndexServer) -> None:
    project = _project(tmp_path / "p", ["app-core"])
    subprocess.run([sys.executable, "-m", "venv", "--copies", "--without-pip", str(project / ".venv")], check=True)
    cfg = project / ".venv" / "pyvenv.cfg"
    cfg.write_text("".join(line for line in cfg.read_text().splitlines(keepends=True) if not line.startswith("executable")))
    for python in (sys.executable, str(project / ".venv" / "bin" / "python")):
        result = _sync(project, served, "--python", python)
        assert result.exit_code == 0, result.output


def _old_interpreter() -> str | None:
    """A Python older than the ``packaging`` satlock runs needs, if this machine has one."""
    from satlock.buildenv.venv import packaging_requires_python

    needs = packaging_requires_python()
    roots = sorted(Path.home().glob(".pyenv/versions/3.*/bin"))
    names = [shutil.which(f"python3.{m}") or "" for m in range(6, 10)] + [str(r / "python3") for r in roots]
    for candidate in filter(None, names):
        try:
            version = subprocess.run([candidate, "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"],
                                     capture_output=True, text=True, timeout=30).stdout.strip()
        except OSError:
            continue
        if needs is not None and version and not needs.contains(version):
            return candidate
    return None


def _check_old_python_refused(project: Path, result, python: str) -> None:
    assert result.exit_code == 1, result.output
    error, hint = result.output.strip().splitlines()
    assert error.startswith(f"error: interpreter {python} is Python ") and "installs only into environments of Python >=" in error
    assert hint == "hint: pass --python with the path of a newer interpreter"
    assert "Traceback" not in result.output
    assert not (project / ".venv").exists(), "no environment it could not use is made"


def test_sync_with_python_older_than_satlock_reads_tags_with_is_one_error_line_and_makes_no_venv(
        tmp_path: Path, served: IndexServer) -> None:
    old = _old_interpreter()
    if old is None:
        pytest.skip("this machine has no Python older than packaging's Requires-Python")
    project = _project(tmp_path / "p", ["app-core"])
    _check_old_python_refused(project, _sync(project, served, "--python", old), old)


def test_a_venv_an_old_python_made_is_one_error_line_and_kept(tmp_path: Path, served: IndexServer) -> None:
    old = _old_interpreter()
    if old is None:
        pytest.skip("this machine has no Python older than packaging's Requires-Python")
    project = _project(tmp_path / "p", ["app-core"])
    made = subprocess.run([old, "-m", "venv", "--without-pip", str(project / ".venv")], capture_output=True)
    if made.returncode != 0:
        pytest.skip(f"{old} cannot make a venv here")
    before = _tree(project / ".venv")
    for flags in ([], ["--frozen"]):
        result = _sync(project, served, *flags)
        assert result.exit_code == 1, result.output
        assert "Traceback" not in result.output and result.output.count("error:") == 1, result.output
        assert f"{project / '.venv'} runs Python " in result.output
        assert f"hint: remove {project / '.venv'} and sync with --python pointing at a newer interpreter" in result.output
        assert _tree(project / ".venv") == before


def test_sync_with_python_that_packaging_does_not_run_on_is_one_error_line_and_makes_no_venv(
        tmp_path: Path, served: IndexServer, monkeypatch: pytest.MonkeyPatch) -> None:
    from packaging.specifiers import SpecifierSet

    from satlock.buildenv import venv as venv_module

    other = _another_interpreter()
    if other is None:
        pytest.skip("this machine has one Python")
    monkeypatch.setattr(venv_module, "packaging_requires_python", lambda: SpecifierSet(">=3.99"))
    project = _project(tmp_path / "p", ["app-core"])
    _check_old_python_refused(project, _sync(project, served, "--python", other), other)


def _fake_interpreter(path: Path, command: str) -> Path:
    """An executable shell script at ``path`` that runs ``command``, passed as ``--python``."""
    path.write_text(f"#!/bin/sh\n{command}\n")
    path.chmod(0o755)
    return path


@pytest.mark.parametrize("prints", ["", "garbage\nmore\n"])
def test_sync_with_python_naming_a_program_that_is_not_a_python_is_refused_as_such(
        tmp_path: Path, served: IndexServer, prints: str) -> None:
    project = _project(tmp_path / "p", ["app-core"])
    assert _sync(project, served).exit_code == 0
    before = _tree(project / ".venv")
    fake = _fake_interpreter(tmp_path / "fake-python", f"printf '{prints}'")
    result = _sync(project, served, "--python", str(fake))
    assert result.exit_code == 1, result.output
    assert result.output.startswith(f"error: interpreter {fake} is not a Python"), result.output
    assert _tree(project / ".venv") == before


def test_sync_with_python_naming_a_program_that_never_answers_is_refused_in_time(
        tmp_path: Path, served: IndexServer, monkeypatch: pytest.MonkeyPatch) -> None:
    from satlock.buildenv import venv as venv_module

    monkeypatch.setattr(venv_module, "PROBE_TIMEOUT_S", 1.0)
    project = _project(tmp_path / "p", ["app-core"])
    assert _sync(project, served).exit_code == 0
    fake = _fake_interpreter(tmp_path / "hanging-python", "exec sleep 60")
    result = _sync(project, served, "--python", str(fake))
    assert result.exit_code == 1, result.output
    assert result.output.startswith(f"error: interpreter {fake} did not answer"), result.output


def test_first_sync_with_python_naming_a_program_that_never_answers_is_refused_in_time_and_leaves_no_venv(
        tmp_path: Path, served: IndexServer, monkeypatch: pytest.MonkeyPatch) -> None:
    from satlock.buildenv import venv as venv_module

    monkeypatch.setattr(venv_module, "PROBE_TIMEOUT_S", 1.0)
    monkeypatch.setattr(venv_module, "CREATE_TIMEOUT_S", 1.0)
    project = _project(tmp_path / "p", ["app-core"])
    fake = _fake_interpreter(tmp_path / "hanging-python", "exec sleep 60")
    result = _sync(project, served, "--python", str(fake))
    assert result.exit_code == 1, result.output
    assert result.output.startswith(f"error: interpreter {fake} did not "), result.output
    assert result.output.count("error:") == 1 and "Traceback" not in result.output
    assert not (project / ".venv").exists()


_DEFAULT_TESTS = '\n[tool.satlock]\ndefault-groups = ["tests"]\n'


def test_default_groups_in_tool_satlock_are_what_a_plain_sync_installs(tmp_path: Path, served: IndexServer) -> None:
    # As click, markupsafe and pluggy declare theirs for uv (`[tool.uv] default-groups`).
    project = _project(tmp_path / "p", ["app-core"], groups={"dev": ["fancy"], "tests": ["devtool"]}, tool=_DEFAULT_TESTS)
    result = _sync(project, served)
    assert result.exit_code == 0, result.output
    assert _installed(project) == {"app-core": "2.0", "helper": "2.0", "devtool": "1.0"}
    lock = tomllib.loads((project / "pylock.toml").read_text())
    assert lock["default-groups"] == ["tests"] and lock["dependency-groups"] == ["dev", "tests"]
    result = _sync(project, served, "--no-default-groups")
    assert result.exit_code == 0, result.output
    assert _installed(project) == {"app-core": "2.0", "helper": "2.0"}


def test_changing_default_groups_makes_the_lock_out_of_date(tmp_path: Path, served: IndexServer) -> None:
    project = _project(tmp_path / "p", ["app-core"], groups={"dev": ["fancy"], "tests": ["devtool"]})
    assert _sync(project, served).exit_code == 0
    assert _installed(project) == {"app-core": "2.0", "helper": "2.0", "fancy": "1.0"}
    _project(project, ["app-core"], groups={"dev": ["fancy"], "tests": ["devtool"]}, tool=_DEFAULT_TESTS)
    check = runner.invoke(app, ["lock", "--check", "--project", str(project), "--index-url", f"{served.url}/simple"])
    assert check.exit_code == 1, check.output
    assert _sync(project, served).exit_code == 0
    assert _installed(project) == {"app-core": "2.0", "helper": "2.0", "devtool": "1.0"}


def test_default_groups_naming_an_undeclared_group_is_one_error_naming_the_key(tmp_path: Path, served: IndexServer) -> None:
    project = _project(tmp_path / "p", ["app-core"], groups={"dev": ["fancy"]}, tool=_DEFAULT_TESTS)
    result = _sync(project, served)
    assert result.exit_code != 0
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "default-groups" in errors[0] and "'tests'" in errors[0], result.output
    assert "Traceback" not in result.output and not (project / ".venv").exists()


def test_all_groups_installs_every_dependency_group(tmp_path: Path, served: IndexServer) -> None:
    project = _project(tmp_path / "p", ["app-core"], groups={"dev": ["fancy"], "tests": ["devtool"]})
    result = _sync(project, served, "--all-groups")
    assert result.exit_code == 0, result.output
    assert {"fancy", "devtool"} <= set(_installed(project))
    assert _sync(project, served).exit_code == 0
    assert "devtool" not in _installed(project) and "fancy" in _installed(project)


def test_default_groups_all_installs_every_group_as_uv_reads_the_key(tmp_path: Path, served: IndexServer) -> None:
    # uv's default-groups also takes "all"; copied from [tool.uv], it was refused as not a list.
    project = _project(tmp_path / "p", ["app-core"], groups={"dev": ["fancy"], "tests": ["devtool"]},
                       tool='\n[tool.satlock]\ndefault-groups = "all"\n')
    result = _sync(project, served)
    assert result.exit_code == 0, result.output
    assert _installed(project) == {"app-core": "2.0", "helper": "2.0", "fancy": "1.0", "devtool": "1.0"}
    assert tomllib.loads((project / "pylock.toml").read_text())["default-groups"] == ["dev", "tests"]
