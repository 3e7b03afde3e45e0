"""The lock records the build environment of the version (and source) it locked.

The builder keeps a record of every metadata build. Keyed by package name alone, the
record of the last build of a package stood for the locked one: ``moveext 0.2`` built
(against buildhelper 2.0) while the solver looked at it, then ``moveext 0.1`` locked, with
0.2's record; ``sync`` then built 0.1 against buildhelper 2.0 next to the lock's 1.0.

The index is test_build_variants.py's: ``moveext`` 0.1 and 0.2 are sdists whose setup.py
pins the buildhelper they were built against (and 0.2 always needs zlibx>=5); capper
needs buildhelper<2. Each build appends the buildhelper version it ran against to a log.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from indexbuilder import build_index, make_sdist
from test_build_records_stale import assert_up_to_date, edit_record, project_with_index
from test_build_variants import (SEEDEXT_SETUP, build_log, built_against, dists, index, index_root, invoke,  # noqa: F401
                                 lock_data, package)


def moveext_profile(project: Path, *flags: str) -> None:
    result = invoke("profile", "add", "moveext", "--build-requires", "buildhelper", *flags, "--project", project)
    assert result.exit_code == 0, result.output


def record(project: Path, name: str) -> dict:
    return lock_data(project)["tool"]["satlock"]["build-environments"][name]


def record_versions(project: Path, name: str) -> dict[str, str]:
    return {p["name"]: p["version"] for p in record(project, name)["packages"]}


def installed_summary(project: Path, name: str) -> str:
    out = subprocess.run([project / ".venv" / "bin" / "python", "-c",
                          f"from importlib.metadata import metadata; print(metadata({name!r})['Summary'])"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_the_record_of_a_version_built_then_left_is_not_the_locked_versions(tmp_path, index, build_log):
    # The reviewer's case: metadata given for 0.1 only, so 0.2 is built to learn its
    # dependencies (before the runtime is known: against buildhelper 2.0), which conflict
    # with capper's buildhelper<2; the lock takes 0.1, which it never built.
    project = project_with_index(tmp_path / "proj", ["capper", "moveext", "zlibx<5"], index)
    moveext_profile(project, "--version", "0.1", "--requires-dist", "buildhelper<2")
    result = invoke("lock", "--project", project)
    assert result.exit_code == 0, result.output
    data = lock_data(project)
    assert package(data, "moveext")["version"] == "0.1"
    assert package(data, "buildhelper")["version"] == "1.0"
    # What a build of 0.1 takes under match-runtime: the lock's buildhelper, not 0.2's 2.0.
    assert record_versions(project, "moveext")["buildhelper"] == "1.0"
    assert "buildhelper" in record(project, "moveext")["requires"]
    assert_up_to_date(project)
    build_log.unlink(missing_ok=True)
    result = invoke("sync", "--project", project)
    assert result.exit_code == 0, result.output
    assert built_against(build_log) == ["1.0"]
    assert installed_summary(project, "moveext") == "built against buildhelper 1.0"


@pytest.mark.parametrize("flags, against", [
    ((), "1.0"),
    (("--no-isolation",), "1.0"),
    # Nothing asks the build to take the lock's versions: 0.1's own build takes the newest.
    (("--no-match-runtime",), "2.0"),
], ids=["match-runtime", "no-isolation", "no-match-runtime"])
def test_a_locked_version_never_built_records_what_its_own_build_takes(tmp_path, index, build_log, flags, against):
    project = project_with_index(tmp_path / "proj", ["capper", "moveext", "zlibx<5"], index)
    moveext_profile(project, "--version", "0.1", "--requires-dist", "buildhelper<2", *flags)
    result = invoke("lock", "--project", project, "-v")
    assert result.exit_code == 0, result.output
    # 0.2, left: under match-runtime a variant built against the lock's buildhelper.
    assert f"building metadata of moveext in an environment with buildhelper=={against}" in result.output
    assert package(lock_data(project), "moveext")["version"] == "0.1"
    assert record_versions(project, "moveext")["buildhelper"] == against
    assert record(project, "moveext")["isolation"] is ("--no-isolation" not in flags)
    assert_up_to_date(project)
    build_log.unlink(missing_ok=True)
    result = invoke("sync", "--project", project)
    assert result.exit_code == 0, result.output
    assert built_against(build_log) == [against]
    assert installed_summary(project, "moveext") == f"built against buildhelper {against}"


def git_repo(folder: Path, setup_py: str) -> Path:
    (folder / "moveext").mkdir(parents=True)
    (folder / "setup.py").write_text(setup_py)
    (folder / "moveext" / "__init__.py").write_text("")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", "-c", "commit.gpgsign=false", "-C", str(folder)]
    subprocess.run(["git", "init", "-q", str(folder)], check=True)
    subprocess.run(git + ["add", "."], check=True)
    subprocess.run(git + ["commit", "-q", "-m", "moveext"], check=True)
    return folder


# moveext as a build tells it: setup_requires is what PEP 517's get_requires_for_build_wheel
# answers, so the build's environment holds zlibx, which build-system.requires and the
# profile do not name: a record made without that build lacks it.
MOVEEXT_SETUP = (SEEDEXT_SETUP.replace('name="seedext"', 'name="moveext"')
                 .replace('packages=["seedext"]', 'packages=["moveext"], setup_requires=["zlibx<5"]'))


@pytest.mark.parametrize("kind", ["index", "git", "url", "directory"])
def test_the_record_of_a_build_made_while_locking_is_found_for_each_kind_of_source(tmp_path, dists, build_log, kind):
    # Without match-runtime the build made while locking is the one whose record the lock
    # keeps (no variants): found under the version and source the lock names, whatever the source.
    made = tmp_path / "made"
    sdist = make_sdist(made, "moveext", "0.1", pyproject="", setup_py=MOVEEXT_SETUP, pkg_info=False)
    others = [d for d in dists if not d.name.startswith("moveext-")]
    index = build_index(tmp_path / "index", others + ([sdist] if kind == "index" else [])).as_uri()
    if kind == "index":
        moveext = "moveext"
    elif kind == "git":
        moveext = f"moveext @ git+{git_repo(tmp_path / 'repo', MOVEEXT_SETUP).as_uri()}"
    elif kind == "url":
        moveext = f"moveext @ {sdist.as_uri()}"
    else:
        moveext = f"moveext @ {git_repo(tmp_path / 'src', MOVEEXT_SETUP).as_uri()}"
    project = project_with_index(tmp_path / "proj", [moveext], index)
    moveext_profile(project, "--no-match-runtime")
    result = invoke("lock", "--project", project)
    assert result.exit_code == 0, result.output
    assert package(lock_data(project), "moveext")["version"] == "0.1"
    assert "zlibx<5" in record(project, "moveext")["requires"]
    assert record_versions(project, "moveext") == {"setuptools": record_versions(project, "moveext")["setuptools"],
                                                   "buildhelper": "2.0", "zlibx": "4.0"}
    assert_up_to_date(project)
    result = invoke("sync", "--project", project)
    assert result.exit_code == 0, result.output
    assert set(built_against(build_log)) == {"2.0"}  # the lock's build and sync's, in the recorded environment
    assert installed_summary(project, "moveext") == "built against buildhelper 2.0"


def test_the_record_of_a_version_built_without_match_runtime_is_not_the_one_of_the_locked_version(tmp_path, dists, build_log):
    # Without match-runtime a build made while locking is no variant: its record is the
    # builder's. moveext 0.2's build asks for zlibx (setup_requires), and it needs zlibx>=5,
    # which the project refuses: 0.1 is locked, from the profile's metadata, and a build of
    # it asks for no zlibx.
    made = tmp_path / "made"
    setup = MOVEEXT_SETUP.replace('version="0.1"', 'version="0.2"').replace(
        'list(getattr(buildhelper, "EXTRA", []))', '["zlibx>=5"]')
    sdist = make_sdist(made, "moveext", "0.2", pyproject="", setup_py=setup, pkg_info=False)
    index = build_index(tmp_path / "index", [d for d in dists if d.name != "moveext-0.2.tar.gz"] + [sdist]).as_uri()
    project = project_with_index(tmp_path / "proj", ["moveext", "zlibx<5"], index)
    moveext_profile(project, "--no-match-runtime", "--version", "0.1", "--requires-dist", "buildhelper")
    result = invoke("lock", "--project", project, "-v")
    assert result.exit_code == 0, result.output
    assert "building metadata of moveext in an environment with buildhelper==2.0, setuptools==" in result.output
    assert package(lock_data(project), "moveext")["version"] == "0.1"
    assert record(project, "moveext")["requires"] == ["setuptools>=40.8.0", "buildhelper"]
    assert set(record_versions(project, "moveext")) == {"setuptools", "buildhelper"}
    assert_up_to_date(project)


def test_a_lock_recording_the_build_of_a_version_it_left_is_stale_and_sync_rebuilds(tmp_path, index, index_root, build_log):
    # The lock the name-keyed records wrote for the reviewer's case: 0.1 with 0.2's buildhelper 2.0.
    project = project_with_index(tmp_path / "proj", ["capper", "moveext", "zlibx<5"], index)
    moveext_profile(project, "--version", "0.1", "--requires-dist", "buildhelper<2")
    assert invoke("lock", "--project", project).exit_code == 0
    [newest] = (index_root.parent / "files").glob("buildhelper-2.0-*.whl")
    edit_record(project, "moveext", replace={"buildhelper": newest})
    result = invoke("sync", "--frozen", "--project", project)  # as such a lock was synced
    assert result.exit_code == 0, result.output
    assert installed_summary(project, "moveext") == "built against buildhelper 2.0"
    reason = ("pylock.toml is out of date: the build environment it records for moveext has buildhelper 2.0, "
              "not the lock's 1.0, which its profile's match-runtime asks for")
    for command in (("lock", "--check"), ("sync", "--locked")):
        result = invoke(*command, "--project", project)
        assert result.exit_code == 1 and reason in result.output, result.output
    build_log.unlink(missing_ok=True)
    result = invoke("sync", "--project", project)
    assert result.exit_code == 0, result.output
    assert "Locked" in result.output and "replaced 1" in result.output, result.output
    assert record_versions(project, "moveext")["buildhelper"] == "1.0"
    assert built_against(build_log) == ["1.0"]
    assert installed_summary(project, "moveext") == "built against buildhelper 1.0"
    result = invoke("sync", "--project", project)
    assert result.exit_code == 0 and "is up to date" in result.output, result.output


# An extension that does not pin what it was built against: nothing in its dependencies
# keeps a build against buildhelper 2.0 out of a lock holding buildhelper 1.0.
LOOSE_SETUP = SEEDEXT_SETUP.replace('name="seedext"', 'name="looseext"').replace('packages=["seedext"]', 'packages=["looseext"]') \
    .replace('install_requires=["buildhelper==" + buildhelper.__version__] + list(getattr(buildhelper, "EXTRA", []))',
             'install_requires=["buildhelper"]')


def test_a_version_other_than_the_one_a_profiles_metadata_names_is_built_against_the_lock(tmp_path, dists, build_log):
    made = tmp_path / "made"
    loose = [make_sdist(made, "looseext", v, pyproject="", setup_py=LOOSE_SETUP.replace('version="0.1"', f'version="{v}"'),
                        pkg_info=False) for v in ("0.1", "0.2")]
    index = build_index(tmp_path / "index", [*dists, *loose]).as_uri()
    project = project_with_index(tmp_path / "proj", ["capper", "looseext"], index)
    result = invoke("profile", "add", "looseext", "--build-requires", "buildhelper", "--version", "0.1",
                    "--requires-dist", "buildhelper", "--project", project)
    assert result.exit_code == 0, result.output
    result = invoke("lock", "--project", project)
    assert result.exit_code == 0, result.output
    data = lock_data(project)
    assert package(data, "looseext")["version"] == "0.2" and package(data, "buildhelper")["version"] == "1.0"
    # Built before the runtime was known, 0.2 took buildhelper 2.0, and the lock recorded that.
    assert record_versions(project, "looseext")["buildhelper"] == "1.0"
    assert set(built_against(build_log)) == {"1.0"}
    assert_up_to_date(project)
    result = invoke("sync", "--project", project)
    assert result.exit_code == 0, result.output
    assert installed_summary(project, "looseext") == "built against buildhelper 1.0"
