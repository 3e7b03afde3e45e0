"""Attacks on build-aware resolution from a user's side: shapes the first tests did not try."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from indexbuilder import build_index, installed_wheel, make_sdist, make_wheel
from test_build_variants import (CUDA_DEPS, cuda_index, SEEDEXT_SETUP, add_profile, build_env_versions, build_log, built_against,  # noqa: F401
                                 dependency_versions, dists, index, index_root, invoke, lock_data, make_project, package)

TWO_SETUP = '''\
import os
import buildhelper, zlibx
from setuptools import setup
log = os.environ.get("SEEDEXT_BUILD_LOG")
if log:
    with open(log, "a") as f:
        f.write("two:%s:%s\\n" % (buildhelper.__version__, zlibx.__version__))
setup(name="twoext", version="0.1", packages=["twoext"],
      install_requires=["buildhelper==" + buildhelper.__version__, "zlibx==" + zlibx.__version__])
'''


@pytest.fixture(scope="module")
def three_index(tmp_path_factory) -> str:
    dest = tmp_path_factory.mktemp("dists3")
    files = [installed_wheel(name, dest) for name in ("setuptools", "wheel", "packaging")]
    for v in ("1.0", "1.5", "2.0"):
        files.append(make_wheel(dest, "buildhelper", v, files={"buildhelper/__init__.py": f'__version__ = "{v}"\n'}))
    for v in ("4.0", "5.0"):
        files.append(make_wheel(dest, "zlibx", v, files={"zlibx/__init__.py": f'__version__ = "{v}"\n'}))
    files.append(make_wheel(dest, "capx", "1.0", extras={"b": ["buildhelper<2,>1"]}))
    files.append(make_sdist(dest, "seedext", "0.1", pyproject="", setup_py=SEEDEXT_SETUP, pkg_info=False))
    files.append(make_sdist(dest, "twoext", "0.1", pyproject="", setup_py=TWO_SETUP, pkg_info=False))
    return build_index(tmp_path_factory.mktemp("index3"), files).as_uri()


@pytest.mark.parametrize("spec", ["buildhelper~=1.0", "buildhelper<2", "buildhelper>1,<2"])
def test_range_pin_builds_only_against_the_newest_version_in_range(tmp_path, three_index, build_log, spec):
    project = make_project(tmp_path / "proj", [spec, "seedext"])
    add_profile(project)
    result = invoke("lock", "--project", project, "--index-url", three_index)
    assert result.exit_code == 0, result.output
    data = lock_data(project)
    assert package(data, "buildhelper")["version"] == "1.5"
    assert dependency_versions(data, "seedext")["buildhelper"] == "1.5"
    assert set(built_against(build_log)) == {"1.5"}


def test_middle_version_forced_through_an_extra_is_the_one_built_against(tmp_path, three_index, build_log):
    project = make_project(tmp_path / "proj", ["capx[b]", "seedext"])
    add_profile(project)
    result = invoke("lock", "--project", project, "--index-url", three_index)
    assert result.exit_code == 0, result.output
    data = lock_data(project)
    assert dependency_versions(data, "seedext")["buildhelper"] == "1.5"
    assert set(built_against(build_log)) == {"1.5"}


def test_two_build_requirements_both_match_the_runtime(tmp_path, three_index, build_log):
    project = make_project(tmp_path / "proj", ["buildhelper==1.0", "zlibx==4.0", "twoext"])
    result = invoke("profile", "add", "twoext", "--build-requires", "buildhelper", "--build-requires", "zlibx",
                    "--project", project)
    assert result.exit_code == 0, result.output
    result = invoke("lock", "--project", project, "--index-url", three_index)
    assert result.exit_code == 0, result.output
    data = lock_data(project)
    assert dependency_versions(data, "twoext") == {"buildhelper": "1.0", "zlibx": "4.0"}
    assert set(built_against(build_log)) == {"two:1.0:4.0"}


def test_second_lock_after_the_pin_moves_builds_against_the_new_version(tmp_path, three_index, build_log):
    project = make_project(tmp_path / "proj", ["buildhelper==1.0", "seedext"])
    add_profile(project)
    assert invoke("lock", "--project", project, "--index-url", three_index).exit_code == 0
    toml = project / "pyproject.toml"
    toml.write_text(toml.read_text().replace("buildhelper==1.0", "buildhelper==1.5"))
    result = invoke("lock", "--project", project, "--index-url", three_index)
    assert result.exit_code == 0, result.output
    data = lock_data(project)
    assert package(data, "buildhelper")["version"] == "1.5"
    assert dependency_versions(data, "seedext")["buildhelper"] == "1.5"
    env = data["tool"]["satlock"]["build-environments"]["seedext"]
    assert {p["name"]: p["version"] for p in env["packages"]}["buildhelper"] == "1.5"
    # setuptools runs setup.py twice per metadata build (requires, then metadata).
    assert list(dict.fromkeys(built_against(build_log))) == ["1.0", "1.5"]


def test_profile_for_a_package_with_wheels_does_not_build(tmp_path, three_index, build_log):
    project = make_project(tmp_path / "proj", ["zlibx"])
    result = invoke("profile", "add", "zlibx", "--build-requires", "buildhelper", "--project", project)
    assert result.exit_code == 0, result.output
    result = invoke("lock", "--project", project, "--index-url", three_index)
    assert result.exit_code == 0, result.output
    data = lock_data(project)
    assert package(data, "zlibx")["version"] == "5.0"
    assert "wheels" in package(data, "zlibx")
    assert "zlibx" not in data.get("tool", {}).get("satlock", {}).get("build-environments", {})
    assert build_env_versions() == []


def test_git_source_with_a_profile_is_built_against_the_pinned_version(tmp_path, three_index, build_log):
    repo = tmp_path / "seedrepo"
    (repo / "seedext").mkdir(parents=True)
    (repo / "seedext" / "__init__.py").write_text("")
    (repo / "setup.py").write_text(SEEDEXT_SETUP)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", "-c", "commit.gpgsign=false"]
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run(git + ["-C", str(repo), "add", "."], check=True)
    subprocess.run(git + ["-C", str(repo), "commit", "-q", "-m", "seed"], check=True)
    project = make_project(tmp_path / "proj", ["buildhelper==1.0", f"seedext @ git+{repo.as_uri()}"])
    add_profile(project)
    result = invoke("lock", "--project", project, "--index-url", three_index)
    assert result.exit_code == 0, result.output
    data = lock_data(project)
    assert dependency_versions(data, "seedext")["buildhelper"] == "1.0"
    assert set(built_against(build_log)) == {"1.0"}


def test_isolated_sync_reinstalls_when_the_pin_moves(tmp_path, three_index, build_log):
    project = make_project(tmp_path / "proj", ["buildhelper==1.0", "seedext"])
    add_profile(project)
    assert invoke("sync", "--project", project, "--index-url", three_index).exit_code == 0
    _moving_the_pin_rebuilds_then_syncs_nothing(project, three_index, "seedext", "buildhelper", "1.0", "1.5")


def test_build_requirement_pinned_only_in_a_project_extra(tmp_path, three_index, build_log):
    project = make_project(tmp_path / "proj", ["seedext"], optional={"compile": ["buildhelper==1.0"]})
    add_profile(project)
    result = invoke("lock", "--project", project, "--index-url", three_index)
    assert result.exit_code == 0, result.output
    result = invoke("sync", "--project", project, "--index-url", three_index, "--extra", "compile")
    assert result.exit_code == 0, result.output
    python = project / ".venv" / "bin" / "python"
    out = subprocess.run([python, "-c", "from importlib.metadata import version; print(version('buildhelper'))"],
                         capture_output=True, text=True)
    assert out.stdout.strip() == "1.0", (out.stdout, out.stderr)


def test_no_version_works_is_one_clean_message_naming_the_build(tmp_path, three_index, build_log):
    project = make_project(tmp_path / "proj", ["buildhelper==1.0", "zlibx==4.0", "twoext", "seedext"])
    toml = project / "pyproject.toml"
    # twoext built against anything pins both; force a conflict by requiring buildhelper!=1.0 through seedext? use pins:
    toml.write_text(toml.read_text())
    result = invoke("profile", "add", "twoext", "--build-requires", "buildhelper", "--build-requires", "zlibx",
                    "--project", project)
    assert result.exit_code == 0
    add_profile(project)
    result = invoke("lock", "--project", project, "--index-url", three_index)
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("flags", [("--no-isolation",), ()], ids=["no-isolation", "isolated"])
def test_cuda_home_with_the_cuda_wheels_only_in_the_extra(tmp_path, cuda_index, flags):
    project = make_project(tmp_path / "proj", [], optional={"compile": ["cudaprobe", *CUDA_DEPS]})
    result = invoke("profile", "add", "cudaprobe", "--build-requires", "setuptools", *flags, "--env", "CUDA_HOME={cuda-home}",
                    "--project", project)
    assert result.exit_code == 0, result.output
    result = invoke("lock", "--project", project, "--index-url", cuda_index)
    assert result.exit_code == 0, result.output
    env = lock_data(project)["tool"]["satlock"]["build-environments"]["cudaprobe"]
    versions = {p["name"]: p["version"] for p in env["packages"]}
    assert versions["nvidia-cuda-nvcc"] == "13.0.48"
    result = invoke("sync", "--project", project, "--index-url", cuda_index, "--extra", "compile")
    assert result.exit_code == 0, result.output
    python = project / ".venv" / "bin" / "python"
    out = subprocess.run([python, "-c", "from importlib.metadata import metadata; print(metadata('cudaprobe')['Summary'])"],
                         capture_output=True, text=True)
    assert "release 13.0.48" in out.stdout, (out.stdout, out.stderr)


FAILING_SETUP = SEEDEXT_SETUP.replace("import buildhelper\n", "import buildhelper\nif buildhelper.__version__ == '2.0':\n    raise SystemExit('no 2.0 here')\n")


def test_a_runtime_pin_conflict_beside_a_profiled_build_fails_with_one_error_line(tmp_path, three_index, build_log):
    # The project pins buildhelper==1.5 and also excludes 1.5, while seedext is built under
    # match-runtime: no version works, and the message must still be one error line.
    project = make_project(tmp_path / "proj", ["buildhelper==1.5", "seedext", "capx[b]", "buildhelper!=1.5"])
    add_profile(project)
    result = invoke("lock", "--project", project, "--index-url", three_index)
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    assert result.output.count("error:") == 1, result.output


SEEDZ_SETUP = '''\
import zlibx
from setuptools import setup
setup(name="seedz", version="0.1", packages=["seedz"], description="built against zlibx " + zlibx.__version__)
'''


@pytest.fixture(scope="module")
def z_index(tmp_path_factory) -> str:
    dest = tmp_path_factory.mktemp("distsz")
    files = [installed_wheel(name, dest) for name in ("setuptools", "wheel", "packaging")]
    for v in ("4.0", "5.0"):
        files.append(make_wheel(dest, "zlibx", v, files={"zlibx/__init__.py": f'__version__ = "{v}"\n'}))
    files.append(make_sdist(dest, "seedz", "0.1", pyproject="", setup_py=SEEDZ_SETUP, pkg_info=False))
    return build_index(tmp_path_factory.mktemp("indexz"), files).as_uri()


@pytest.mark.parametrize("flags", [("--no-isolation",), ()], ids=["no-isolation", "isolated"])
def test_sync_rebuilds_when_a_distribution_only_a_template_names_moves(tmp_path, z_index, flags):
    project = make_project(tmp_path / "proj", ["zlibx==4.0", "seedz"])
    result = invoke("profile", "add", "seedz", "--build-requires", "setuptools", "--build-requires", "wheel", *flags,
                    "--env", "ZLIBX_HOME={dist:zlibx}", "--project", project)
    assert result.exit_code == 0, result.output
    first = invoke("sync", "--project", project, "--index-url", z_index)
    assert first.exit_code == 0, first.output
    _moving_the_pin_rebuilds_then_syncs_nothing(project, z_index, "seedz", "zlibx", "4.0", "5.0")


def test_build_requirement_that_excludes_the_pinned_runtime_version_is_named_in_the_conflict(tmp_path, three_index, build_log):
    project = make_project(tmp_path / "proj", ["buildhelper==1.0", "seedext"])
    result = invoke("profile", "add", "seedext", "--build-requires", "buildhelper>=2", "--project", project)
    assert result.exit_code == 0, result.output
    result = invoke("lock", "--project", project, "--index-url", three_index)
    assert result.exit_code != 0
    assert result.output.count("error:") == 1 and "Traceback" not in result.output
    assert "seedext 0.1 cannot be built against" in result.output, result.output
    assert built_against(build_log) == []
    assert not (project / "pylock.toml").exists()


def _moving_the_pin_rebuilds_then_syncs_nothing(project, index: str, package: str, pinned: str, old: str, new: str) -> None:
    """``package`` in .venv was built against ``pinned`` ``old``; moving the pin to ``new``
    rebuilds it against ``new``, and the sync after that changes nothing."""
    python = project / ".venv" / "bin" / "python"
    summary = [python, "-c", f"from importlib.metadata import metadata; print(metadata('{package}')['Summary'])"]
    assert subprocess.run(summary, capture_output=True, text=True).stdout.strip() == f"built against {pinned} {old}"
    toml = project / "pyproject.toml"
    toml.write_text(toml.read_text().replace(f"{pinned}=={old}", f"{pinned}=={new}"))
    result = invoke("sync", "--project", project, "--index-url", index)
    assert result.exit_code == 0, result.output
    assert subprocess.run(summary, capture_output=True, text=True).stdout.strip() == f"built against {pinned} {new}"
    again = invoke("sync", "--project", project, "--index-url", index)
    assert again.exit_code == 0 and "up to date" in again.output, again.output


QUIET_SETUP = '''\
import buildhelper
from setuptools import setup
setup(name="quietext", version="0.1", packages=["quietext"], install_requires=[],
      description="built against buildhelper " + buildhelper.__version__)
'''


@pytest.mark.parametrize("source", ["sdist", "git"])
def test_no_isolation_build_requires_are_locked_as_requirements_whatever_the_source(tmp_path, three_index, source):
    """The torch-scatter shape: setup.py imports torch but install_requires does not name it. With
    isolation off, the profile's build-requires are requirements of the package, for a git
    source as for an sdist, so sync installs them in .venv before it builds there."""
    repo = tmp_path / "quietrepo"
    (repo / "quietext").mkdir(parents=True)
    (repo / "quietext" / "__init__.py").write_text("")
    (repo / "setup.py").write_text(QUIET_SETUP)
    links = tmp_path / "links"
    if source == "git":
        git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", "-c", "commit.gpgsign=false"]
        subprocess.run(["git", "init", "-q", str(repo)], check=True)
        subprocess.run(git + ["-C", str(repo), "add", "."], check=True)
        subprocess.run(git + ["-C", str(repo), "commit", "-q", "-m", "quiet"], check=True)
        requirement = f"quietext @ git+{repo.as_uri()}"
    else:
        make_sdist(links, "quietext", "0.1", pyproject="", setup_py=QUIET_SETUP, pkg_info=False)
        requirement = "quietext"
    project = make_project(tmp_path / "proj", [requirement])
    result = invoke("profile", "add", "quietext", "--build-requires", "buildhelper", "--build-requires", "setuptools",
                    "--no-isolation", "--project", project)
    assert result.exit_code == 0, result.output
    result = invoke("lock", "--project", project, "--index-url", three_index, *(["--find-links", links] if links.exists() else []))
    assert result.exit_code == 0, result.output
    data = lock_data(project)
    assert dependency_versions(data, "quietext") == {"buildhelper": "2.0", "setuptools": package(data, "setuptools")["version"]}
    assert package(data, "buildhelper")["version"] == "2.0"


def test_no_isolation_cuda_home_with_the_cuda_wheels_only_in_an_extra_not_synced(tmp_path, cuda_index):
    """The lock built cudaprobe against the toolkit of the `cuda` extra and recorded it in its build
    environment; a sync without that extra must build the same way (from the recorded wheels, as
    every build-only tool of a no-isolation build), not fail for want of nvcc in .venv, and must
    not put the extra's wheels in .venv."""
    project = make_project(tmp_path / "proj", ["cudaprobe"], optional={"cuda": CUDA_DEPS})
    summary, installed = _sync_no_isolation_cudaprobe(project, cuda_index)
    assert "release 13.0.48" in summary, (summary, installed)
    assert "nvidia" not in installed


def _sync_no_isolation_cudaprobe(project: Path, index: str) -> tuple[str, str]:
    """Profile cudaprobe as a no-isolation build with CUDA_HOME={cuda-home}, lock and sync
    without extras: the built cudaprobe's Summary (which CUDA release it compiled with) and
    the names of what .venv holds."""
    result = invoke("profile", "add", "cudaprobe", "--build-requires", "setuptools", "--no-isolation",
                    "--env", "CUDA_HOME={cuda-home}", "--project", project)
    assert result.exit_code == 0, result.output
    result = invoke("lock", "--project", project, "--index-url", index)
    assert result.exit_code == 0, result.output
    result = invoke("sync", "--project", project, "--index-url", index)
    assert result.exit_code == 0, result.output
    python = project / ".venv" / "bin" / "python"
    out = subprocess.run([python, "-c", "from importlib.metadata import metadata, distributions\n"
                          "print(metadata('cudaprobe')['Summary'])\n"
                          "print(sorted(d.metadata['Name'] for d in distributions()))"], capture_output=True, text=True)
    summary, _, installed = out.stdout.partition("\n")
    return summary, installed or out.stderr


def test_a_no_isolation_profile_s_build_requirement_in_a_conflict_is_named_as_the_profile_s(tmp_path, three_index, build_log):
    # Without isolation the build runs in the project's environment, so the profile's
    # build-requires join seedext's requirements; the story must not say seedext's own
    # metadata asks for buildhelper>=2, which the user would look for in vain.
    project = make_project(tmp_path / "proj", ["buildhelper==1.0", "seedext"])
    result = invoke("profile", "add", "seedext", "--build-requires", "setuptools", "--build-requires", "buildhelper>=2",
                    "--no-isolation", "--project", project)
    assert result.exit_code == 0, result.output
    result = invoke("lock", "--project", project, "--index-url", three_index)
    assert result.exit_code != 0
    assert result.output.count("error:") == 1 and "Traceback" not in result.output
    (line,) = [line for line in result.output.splitlines() if "buildhelper>=2" in line]
    assert "[tool.satlock.profiles.seedext] build-requires" in line, result.output
    assert "depends on" not in line, result.output


def test_no_isolation_cuda_home_joins_the_runtime_in_venv_with_the_compiler_of_an_extra_not_synced(tmp_path, cuda_index):
    """As with torch, the CUDA runtime is a dependency (so in .venv) while the compiler is only in
    an extra: the build-only tools hold nvcc and .venv the runtime, and {cuda-home} must hold both,
    not fail saying the runtime is missing from the project."""
    runtime = [d for d in CUDA_DEPS if d.startswith("nvidia-cuda-runtime")]
    project = make_project(tmp_path / "proj", ["cudaprobe", *runtime], optional={"cuda": [d for d in CUDA_DEPS if d not in runtime]})
    summary, installed = _sync_no_isolation_cudaprobe(project, cuda_index)
    assert "release 13.0.48" in summary, (summary, installed)
    assert "nvidia-cuda-nvcc" not in installed
