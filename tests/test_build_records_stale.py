"""A lock whose build-environment record no longer gives what the profile asks for is stale.

Before 3a376a9 the lock recorded, for a profiled source package it did not build (metadata
given in the profile, or static), build-system.requires alone, at their newest versions,
isolated. ``satlock lock`` kept such a lock as up to date and ``sync`` built with it. These
tests write a fresh lock, check that it is up to date, then put the record back the way the
old code wrote it (or break one part of it) and check that ``lock --check``, ``sync
--locked`` and ``lock`` see it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import tomlkit

from test_build_variants import (CUDA_DEPS, add_profile, build_log, built_against, cuda_index, dists, index, index_root,  # noqa: F401
                                 invoke, lock_data, make_project)

SETUPTOOLS_ONLY = ["setuptools>=40.8.0"]  # what setuptools' legacy backend asks for: the sdists' build-system.requires


def project_with_index(folder: Path, deps: list[str], index_url: str, **kw) -> Path:
    """A project naming its index in [tool.satlock], so a plain ``satlock lock`` may keep
    the lock (an --index-url flag always locks again)."""
    return make_project(folder, deps, tool=f'\n[tool.satlock]\nindex-url = "{index_url}"\n', **kw)


def edit_record(project: Path, name: str, *, requires: list[str] | None = None, keep: set[str] | None = None,
                isolation: bool | None = None, replace: dict[str, Path] | None = None) -> None:
    """Edit the lock's build-environment record of ``name``: its ``requires``, the packages
    it keeps (by name), its isolation, or a package's wheel replaced by another file."""
    path = project / "pylock.toml"
    doc = tomlkit.parse(path.read_text())
    record = doc["tool"]["satlock"]["build-environments"][name]
    if requires is not None:
        record["requires"] = requires
    if isolation is not None:
        record["isolation"] = isolation
    packages = record["packages"]
    if keep is not None:
        for i in reversed(range(len(packages))):
            if packages[i]["name"] not in keep:
                del packages[i]
    for package_name, wheel in (replace or {}).items():
        [entry] = [p for p in packages if p["name"] == package_name]
        entry["version"] = wheel.name.split("-")[1]
        entry["url"] = wheel.as_uri()
        entry["hashes"]["sha256"] = hashlib.sha256(wheel.read_bytes()).hexdigest()
    path.write_text(tomlkit.dumps(doc))


def as_the_old_code_wrote_it(project: Path, name: str) -> None:
    """build-system.requires alone (setuptools, at the newest version, as now), isolated."""
    edit_record(project, name, requires=SETUPTOOLS_ONLY, keep={"setuptools"}, isolation=True)


def assert_up_to_date(project: Path) -> None:
    result = invoke("lock", "--project", project)
    assert result.exit_code == 0 and "is up to date" in result.output, result.output
    result = invoke("lock", "--check", "--project", project)
    assert result.exit_code == 0, result.output


def assert_stale(project: Path, reason: str) -> None:
    before = (project / "pylock.toml").read_text()
    result = invoke("lock", "--check", "--project", project)
    assert result.exit_code == 1, result.output
    assert f"pylock.toml is out of date: {reason}" in result.output, result.output
    result = invoke("sync", "--locked", "--project", project)
    assert result.exit_code == 1, result.output
    assert f"pylock.toml is out of date: {reason}" in result.output, result.output
    assert (project / "pylock.toml").read_text() == before and not (project / ".venv").exists()


@pytest.mark.parametrize("flags, reason", [
    ((), "the build environment it records for seedext lacks buildhelper, which its profile's build-requires name"),
    (("--no-isolation",), "the build environment it records for seedext has isolation = true, but its profile has isolation = false"),
], ids=["isolated", "no-isolation"])
def test_an_old_record_of_a_profile_with_metadata_is_stale_and_locked_again(tmp_path, index, build_log, flags, reason):
    project = project_with_index(tmp_path / "proj", ["buildhelper==1.0", "seedext"], index)
    add_profile(project, "--version", "0.1", "--requires-dist", "buildhelper", *flags)
    result = invoke("lock", "--project", project)
    assert result.exit_code == 0, result.output
    assert_up_to_date(project)
    as_the_old_code_wrote_it(project, "seedext")
    assert_stale(project, reason)
    assert built_against(build_log) == []
    result = invoke("lock", "--project", project)
    assert result.exit_code == 0 and "is up to date" not in result.output, result.output
    env = lock_data(project)["tool"]["satlock"]["build-environments"]["seedext"]
    assert "buildhelper" in env["requires"] and env["isolation"] is ("--no-isolation" not in flags)
    assert {p["name"]: p["version"] for p in env["packages"]}["buildhelper"] == "1.0"
    assert_up_to_date(project)
    result = invoke("sync", "--locked", "--project", project)
    assert result.exit_code == 0, result.output
    assert built_against(build_log) == ["1.0"]


def test_a_record_of_another_isolation_is_stale_however_complete(tmp_path, index):
    project = project_with_index(tmp_path / "proj", ["buildhelper==1.0", "seedext"], index)
    add_profile(project, "--version", "0.1", "--requires-dist", "buildhelper")
    assert invoke("lock", "--project", project).exit_code == 0
    edit_record(project, "seedext", isolation=False)
    assert_stale(project, "the build environment it records for seedext has isolation = false, but its profile has isolation = true")


@pytest.mark.parametrize("match_runtime", [True, False], ids=["match-runtime", "no-match-runtime"])
def test_a_record_at_another_version_than_the_lock_is_stale_under_match_runtime(tmp_path, index, index_root, match_runtime):
    # The old record took the newest: buildhelper 2.0 where the project pins 1.0.
    project = project_with_index(tmp_path / "proj", ["buildhelper==1.0", "seedext"], index)
    add_profile(project, "--requires-dist", "buildhelper", *(() if match_runtime else ("--no-match-runtime",)))
    assert invoke("lock", "--project", project).exit_code == 0
    assert_up_to_date(project)
    [newest] = (index_root.parent / "files").glob("buildhelper-2.0-*.whl")
    edit_record(project, "seedext", replace={"buildhelper": newest})
    if match_runtime:
        assert_stale(project, "the build environment it records for seedext has buildhelper 2.0, not the lock's 1.0, "
                              "which its profile's match-runtime asks for")
    else:
        assert_up_to_date(project)  # nothing asked the build to take the lock's versions


def test_an_old_record_lacking_a_dist_template_is_stale(tmp_path, index, build_log):
    project = project_with_index(tmp_path / "proj", ["buildhelper==1.0", "seedext"], index)
    result = invoke("profile", "add", "seedext", "--version", "0.1", "--requires-dist", "buildhelper",
                    "--env", "HELPER={dist:buildhelper}", "--project", project)
    assert result.exit_code == 0, result.output
    assert invoke("lock", "--project", project).exit_code == 0
    assert_up_to_date(project)
    as_the_old_code_wrote_it(project, "seedext")
    assert_stale(project, "the build environment it records for seedext lacks buildhelper, which its profile's env names as {dist:buildhelper}")
    assert invoke("lock", "--project", project).exit_code == 0
    assert_up_to_date(project)
    result = invoke("sync", "--locked", "--project", project)
    assert result.exit_code == 0, result.output
    assert built_against(build_log) == ["1.0"]


@pytest.mark.parametrize("flags", [(), ("--no-isolation",)], ids=["isolated", "no-isolation"])
def test_a_fresh_lock_of_built_variants_with_templates_is_up_to_date(tmp_path, index, build_log, flags):
    project = project_with_index(tmp_path / "proj", ["buildhelper==1.0", "seedext"], index)
    add_profile(project, "--env", "HELPER={dist:buildhelper}", "--env", "PY={python}", *flags)
    result = invoke("lock", "--project", project)
    assert result.exit_code == 0, result.output
    assert set(built_against(build_log)) == {"1.0"}
    assert_up_to_date(project)


@pytest.mark.parametrize("flags", [(), ("--no-isolation",), ("--version", "0.1"), ("--version", "0.1", "--no-isolation")],
                         ids=["variant", "variant-no-isolation", "metadata", "metadata-no-isolation"])
def test_a_fresh_lock_with_cuda_home_is_up_to_date(tmp_path, cuda_index, flags):
    project = project_with_index(tmp_path / "proj", CUDA_DEPS, cuda_index, optional={"compile": ["cudaprobe"]})
    result = invoke("profile", "add", "cudaprobe", "--build-requires", "setuptools", *flags, "--env", "CUDA_HOME={cuda-home}",
                    "--project", project)
    assert result.exit_code == 0, result.output
    result = invoke("lock", "--project", project)
    assert result.exit_code == 0, result.output
    assert_up_to_date(project)


@pytest.mark.parametrize("flags", [("--no-match-runtime",), ("--no-match-runtime", "--no-isolation")],
                         ids=["isolated", "no-isolation"])
def test_cuda_home_of_a_build_before_the_runtime_takes_the_toolkit_the_project_requires(tmp_path, cuda_index, flags):
    # A no-match-runtime package is built before the runtime is known; its {cuda-home} took the
    # toolkit wheels from the project's == pins alone, so with nvidia-cuda-nvcc>=13 the lock
    # failed: '{cuda-home} needs the CUDA compiler bin/nvcc ... (it holds no CUDA toolkit
    # wheel)', with the hint to add the wheels to the project's dependencies, where they were.
    unpinned = [r.replace("==13.0.48", ">=13") for r in CUDA_DEPS]
    project = project_with_index(tmp_path / "proj", unpinned, cuda_index, optional={"compile": ["cudaprobe"]})
    result = invoke("profile", "add", "cudaprobe", "--build-requires", "setuptools", *flags, "--env", "CUDA_HOME={cuda-home}",
                    "--project", project)
    assert result.exit_code == 0, result.output
    result = invoke("lock", "--project", project)
    assert result.exit_code == 0, result.output
    env = lock_data(project)["tool"]["satlock"]["build-environments"]["cudaprobe"]
    assert "nvidia-cuda-nvcc" in env["requires"]
    assert "nvidia-cuda-nvcc" in {p["name"] for p in env["packages"]}
    assert_up_to_date(project)


def test_an_old_record_without_the_cuda_wheels_of_cuda_home_is_stale(tmp_path, cuda_index):
    project = project_with_index(tmp_path / "proj", CUDA_DEPS, cuda_index, optional={"compile": ["cudaprobe"]})
    result = invoke("profile", "add", "cudaprobe", "--version", "0.1", "--env", "CUDA_HOME={cuda-home}", "--project", project)
    assert result.exit_code == 0, result.output
    assert invoke("lock", "--project", project).exit_code == 0
    assert_up_to_date(project)
    as_the_old_code_wrote_it(project, "cudaprobe")
    assert_stale(project, "the build environment it records for cudaprobe holds none of the lock's CUDA toolkit wheels "
                          "(nvidia-cuda-crt, nvidia-cuda-nvcc, nvidia-cuda-runtime, nvidia-nvvm), which its profile's {cuda-home} takes")
    result = invoke("sync", "--project", project, "--extra", "compile")
    assert result.exit_code == 0, result.output
    assert "Locked" in result.output and "holds none of the lock's CUDA toolkit wheels" in result.output
