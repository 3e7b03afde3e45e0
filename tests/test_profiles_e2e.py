"""Build-environment profiles end to end, through the CLI, on a local index.

The shape is the one that motivates profiles (diff-surfel-rasterization): a legacy
sdist without pyproject.toml whose setup.py imports torch at the top and needs
CUDA_HOME. Here ``torchlike`` stands in for torch and fake nvidia wheels for the CUDA
toolkit; setuptools is the one of the running interpreter, re-packed as a wheel.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from indexbuilder import build_index, installed_wheel, make_sdist, make_wheel, project_toml
from satlock.cli.main import app

SEED_SETUP = '''\
import os
import torchlike
from setuptools import setup

if not os.environ.get("CUDA_HOME"):
    raise RuntimeError("CUDA_HOME is not set; cannot find the CUDA toolkit")

setup(name="seedpkg", version="0.1.0", packages=["seedpkg"],
      install_requires=["torchlike"],
      description="built against torchlike " + torchlike.__version__)
'''

CUDA_SETUP = '''\
import os
import subprocess
from setuptools import setup

home = os.environ["CUDA_HOME"]
nvcc = os.path.join(home, "bin", "nvcc")
if not os.path.isfile(nvcc) or not os.path.isfile(os.path.join(home, "include", "cuda_runtime.h")):
    raise RuntimeError("CUDA_HOME=%s has no bin/nvcc or include/cuda_runtime.h" % home)
release = subprocess.run(["sh", nvcc, "--version"], capture_output=True, text=True, check=True).stdout.strip()
setup(name="cudaext", version="0.1.0", packages=["cudaext"], description=release)
'''

FAKE_NVCC = "#!/bin/sh\necho 'Cuda compilation tools, release 13.0'\n"

# What torch.utils.cpp_extension prints on a machine without a GPU, then a compiler error
# that has nothing to do with finding the toolkit.
CUDAFAIL_SETUP = '''\
import os
print("No CUDA runtime is found, using CUDA_HOME='%s'" % os.environ["CUDA_HOME"])
raise SystemExit("nvcc fatal   : Unsupported gpu architecture 'compute_100'")
'''


def invoke(*args: str):
    result = CliRunner().invoke(app, [str(a) for a in args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


@pytest.fixture(scope="module")
def build_tools(tmp_path_factory) -> list[Path]:
    """setuptools and wheel (setuptools before 70.1 needs wheel for bdist_wheel)."""
    dest = tmp_path_factory.mktemp("tools")
    return [installed_wheel(name, dest) for name in ("setuptools", "wheel", "packaging")]


@pytest.fixture(scope="module")
def index(tmp_path_factory, build_tools) -> str:
    """torchlike 1.0 and 2.0, setuptools, the seed sdist, a CUDA sdist and fake CUDA 13 wheels."""
    root = tmp_path_factory.mktemp("index")
    dists = tmp_path_factory.mktemp("dists")
    nvcc = make_wheel(dists, "nvidia-cuda-nvcc", "13.0.48", files={
        "nvidia/cu13/bin/nvcc": FAKE_NVCC, "nvidia/cu13/include/crt/host_config.h": "/* fake */\n"})
    runtime = make_wheel(dists, "nvidia-cuda-runtime", "13.0.48", files={
        "nvidia/cu13/include/cuda_runtime.h": "/* fake */\n", "nvidia/cu13/lib/libcudart.so.13": "fake"})
    files = [
        make_wheel(dists, "torchlike", "1.0"),
        make_wheel(dists, "torchlike", "2.0"),
        *build_tools,
        make_sdist(dists, "seedpkg", "0.1.0", pyproject="", setup_py=SEED_SETUP, pkg_info=False),
        make_sdist(dists, "cudaext", "0.1.0", pyproject="", setup_py=CUDA_SETUP, pkg_info=False),
        make_sdist(dists, "cudafail", "0.1.0", pyproject="", setup_py=CUDAFAIL_SETUP, pkg_info=False),
        nvcc,
        runtime,
    ]
    return build_index(root, files).as_uri()


def seed_project(folder: Path, seed: str = "seedpkg", extra_toml: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pyproject.toml").write_text(project_toml(["torchlike<2", seed], tool=extra_toml))
    return folder


def add_seed_profile(project: Path, name: str = "seedpkg") -> None:
    result = invoke("profile", "add", name, "--build-requires", "torchlike", "--build-requires", "setuptools",
                    "--build-requires", "wheel", "--no-isolation", "--env", "CUDA_HOME=/opt/fake-cuda", "--project", project)
    assert result.exit_code == 0, result.output


def lock(project: Path, index: str, *extra: str):
    return invoke("lock", "--project", project, "--index-url", index, *extra)


def read(project: Path) -> dict:
    return tomllib.loads((project / "pylock.toml").read_text())


def package(lock_data: dict, name: str) -> dict:
    return next(p for p in lock_data["packages"] if p["name"] == name)


def test_failed_build_suggests_the_profile_command_and_names_the_log(tmp_path, index):
    project = seed_project(tmp_path / "proj")
    result = lock(project, index)
    assert result.exit_code == 1
    assert "satlock profile add seedpkg --build-requires torchlike" in result.output
    log = Path(result.output.split("full log: ", 1)[1].split()[0])
    assert "No module named 'torchlike'" in log.read_text()
    assert not (project / "pylock.toml").exists()


def test_suggested_profile_locks_in_one_step_with_build_env_matching_runtime(tmp_path, index):
    project = seed_project(tmp_path / "proj")
    add_seed_profile(project)
    result = lock(project, index)
    assert result.exit_code == 0, result.output
    data = read(project)
    assert package(data, "torchlike")["version"] == "1.0"
    seed = package(data, "seedpkg")
    assert seed["version"] == "0.1.0"
    # It builds in .venv (no isolation), so what its build needs is locked with it, in the
    # same solve: torchlike once, at the runtime version, and setuptools beside it.
    assert {d["name"] for d in seed.get("dependencies", [])} == {"torchlike", "setuptools", "wheel"}
    assert package(data, "setuptools")["version"]
    env = data["tool"]["satlock"]["build-environments"]["seedpkg"]
    assert env["isolation"] is False
    versions = {p["name"]: p["version"] for p in env["packages"]}
    assert versions["torchlike"] == "1.0"
    assert versions["setuptools"] == package(data, "setuptools")["version"]


def test_git_dependency_with_profile_locks_the_commit(tmp_path, index):
    repo = tmp_path / "seedrepo"
    (repo / "seedpkg").mkdir(parents=True)
    (repo / "setup.py").write_text(SEED_SETUP)
    (repo / "seedpkg" / "__init__.py").write_text("")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", "-c", "commit.gpgsign=false"]
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run(git + ["-C", str(repo), "add", "."], check=True)
    subprocess.run(git + ["-C", str(repo), "commit", "-q", "-m", "seed"], check=True)
    commit = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], check=True, capture_output=True, text=True).stdout.strip()
    project = seed_project(tmp_path / "proj", seed=f"seedpkg @ git+{repo.as_uri()}")
    add_seed_profile(project)
    result = lock(project, index)
    assert result.exit_code == 0, result.output
    seed = package(read(project), "seedpkg")
    assert seed["vcs"]["commit-id"] == commit
    assert {d["name"] for d in seed["dependencies"]} == {"torchlike", "setuptools", "wheel"}
    assert read(project)["tool"]["satlock"]["build-environments"]["seedpkg"]["isolation"] is False


def test_lock_check_fails_after_the_profile_changes_and_names_it(tmp_path, index):
    project = seed_project(tmp_path / "proj")
    add_seed_profile(project)
    assert lock(project, index).exit_code == 0
    assert lock(project, index, "--check").exit_code == 0
    result = invoke("profile", "add", "seedpkg", "--env", "MAX_JOBS=2", "--project", project)
    assert result.exit_code == 0, result.output
    result = lock(project, index, "--check")
    assert result.exit_code == 1
    assert "profiles changed (seedpkg)" in result.output


def test_second_lock_and_sync_build_nothing_and_sync_installs_the_built_package(tmp_path, index):
    project = seed_project(tmp_path / "proj")
    add_seed_profile(project)
    first = lock(project, index, "-v")
    assert first.exit_code == 0, first.output
    assert "building metadata of seedpkg" in first.output
    logs = sorted((Path(os.environ["SATLOCK_CACHE_DIR"]) / "logs").iterdir())
    stamps = [p.stat().st_mtime_ns for p in logs]
    lock_text = (project / "pylock.toml").read_text()

    again = lock(project, index, "-v", "--refresh")
    assert again.exit_code == 0, again.output
    assert "building metadata" not in again.output
    assert [p.stat().st_mtime_ns for p in logs] == stamps
    assert (project / "pylock.toml").read_text() == lock_text

    synced = invoke("sync", "--project", project, "--index-url", index, "--locked")
    assert synced.exit_code == 0, synced.output
    python = project / ".venv" / "bin" / "python"
    check = subprocess.run([python, "-c", "import seedpkg, torchlike; print(torchlike.__version__)"],
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    assert check.stdout.strip() == "1.0"

    second = invoke("sync", "--project", project, "--index-url", index, "--locked")
    assert second.exit_code == 0, second.output
    assert "up to date" in second.output


def test_static_metadata_profile_locks_without_building(tmp_path, index):
    project = seed_project(tmp_path / "proj")
    result = invoke("profile", "add", "seedpkg", "--version", "0.1.0", "--requires-dist", "torchlike", "--project", project)
    assert result.exit_code == 0, result.output
    result = lock(project, index, "-v")
    assert result.exit_code == 0, result.output
    assert "building metadata" not in result.output
    assert not (Path(os.environ["SATLOCK_CACHE_DIR"]) / "logs").exists()
    seed = package(read(project), "seedpkg")
    assert [d["name"] for d in seed["dependencies"]] == ["torchlike"]
    assert package(read(project), "torchlike")["version"] == "1.0"


def test_a_static_metadata_profile_without_dependencies_warns_that_it_locks_none(tmp_path):
    project = seed_project(tmp_path / "proj")
    result = invoke("profile", "add", "seedpkg", "--version", "0.1.0", "--project", project)
    assert result.exit_code == 0, result.output
    assert "locked with none; add each with --requires-dist" in result.output
    result = invoke("profile", "add", "seedpkg", "--requires-dist", "torchlike", "--project", project)
    assert result.exit_code == 0, result.output
    assert "--requires-dist" not in result.output


def test_a_dist_template_naming_a_package_no_index_has_is_told_without_v(tmp_path, index):
    project = seed_project(tmp_path / "proj")
    assert invoke("profile", "add", "seedpkg", "--build-requires", "torchlike", "--build-requires", "setuptools",
                  "--env", "X={dist:nosuch}", "--project", project).exit_code == 0
    result = lock(project, index)
    assert result.exit_code == 1
    assert ("seedpkg 0.1.0 cannot be built whatever the rest needs: its build environment cannot be resolved "
            "(the build of seedpkg requires nosuch; nosuch has no installable version on the configured indexes)") in result.output
    assert [line for line in result.output.splitlines() if line.startswith("error:")] == [result.output.splitlines()[0]]


def test_cuda_home_template_points_the_build_at_nvcc_from_the_nvidia_wheels(tmp_path, index):
    project = tmp_path / "proj"
    project.mkdir()
    (project / "pyproject.toml").write_text(project_toml(["cudaext"]))
    result = invoke("profile", "add", "cudaext", "--build-requires", "nvidia-cuda-nvcc", "--build-requires", "nvidia-cuda-runtime",
                    "--build-requires", "setuptools", "--build-requires", "wheel", "--env", "CUDA_HOME={cuda-home}",
                    "--project", project)
    assert result.exit_code == 0, result.output
    result = lock(project, index)
    assert result.exit_code == 0, result.output
    env = read(project)["tool"]["satlock"]["build-environments"]["cudaext"]
    assert {"nvidia-cuda-nvcc", "nvidia-cuda-runtime"} <= {p["name"] for p in env["packages"]}


COMMENTED = '''\
# The demo project; keep this header.
[project]
name = "demo"   # trailing comment
version = "0.1.0"
dependencies = [
    "torchlike<2",  # the runtime
    "seedpkg",
]

# satlock settings below
[tool.satlock]
index-url = "file:///nowhere/simple"  # overridden in CI

# a comment that belongs to the next table
[tool.other]
key   =   "odd spacing stays"
'''


def test_profile_add_through_the_cli_changes_only_the_profile_and_remove_restores_the_file(tmp_path):
    (tmp_path / "pyproject.toml").write_text(COMMENTED)
    result = invoke("profile", "add", "seedpkg", "--build-requires", "torchlike", "--no-isolation",
                    "--env", "CUDA_HOME={cuda-home}", "--project", tmp_path)
    assert result.exit_code == 0, result.output
    assert "warning" not in result.output
    block = ('[tool.satlock.profiles.seedpkg]\nbuild-requires = ["torchlike"]\nisolation = false\n'
             'env = {CUDA_HOME = "{cuda-home}"}\n\n')
    text = (tmp_path / "pyproject.toml").read_text()
    assert text == COMMENTED.replace("# a comment that belongs", block + "# a comment that belongs")
    profile = tomllib.loads(text)["tool"]["satlock"]["profiles"]["seedpkg"]
    assert profile == {"build-requires": ["torchlike"], "isolation": False, "env": {"CUDA_HOME": "{cuda-home}"}}

    listed = invoke("profile", "list", "--project", tmp_path)
    assert listed.exit_code == 0
    assert "seedpkg: build-requires torchlike (no isolation)" in listed.output
    shown = invoke("profile", "show", "seedpkg", "--project", tmp_path)
    assert shown.exit_code == 0
    assert "[tool.satlock.profiles.seedpkg]" in shown.output and 'CUDA_HOME = "{cuda-home}"' in shown.output

    removed = invoke("profile", "remove", "seedpkg", "--project", tmp_path)
    assert removed.exit_code == 0, removed.output
    assert (tmp_path / "pyproject.toml").read_text() == COMMENTED


@pytest.mark.parametrize("args, message", [
    (["--env", "CUDA_HOME={cuda}"], "unknown template '{cuda}'"),
    (["--build-requires", "torchlike>>1"], "'torchlike>>1' is not a valid requirement"),
    (["--env", "{cuda-home}=/opt/cuda"], "env.{cuda-home}.[key]: '{cuda-home}' is not a valid environment variable name"),
])
def test_profile_add_refuses_bad_input_with_one_line_and_leaves_the_file(tmp_path, args, message):
    (tmp_path / "pyproject.toml").write_text(COMMENTED)
    result = invoke("profile", "add", "seedpkg", *args, "--project", tmp_path)
    assert result.exit_code != 0
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and message in errors[0]
    assert "Traceback" not in result.output
    assert (tmp_path / "pyproject.toml").read_text() == COMMENTED


def test_profile_for_a_package_the_project_does_not_use_is_written_with_a_warning(tmp_path):
    (tmp_path / "pyproject.toml").write_text(COMMENTED)
    result = invoke("profile", "add", "seedpgk", "--build-requires", "torchlike", "--project", tmp_path)
    assert result.exit_code == 0, result.output
    assert "warning: seedpgk is neither a dependency of the project nor in the lock" in result.output
    assert "seedpgk" in tomllib.loads((tmp_path / "pyproject.toml").read_text())["tool"]["satlock"]["profiles"]


def test_profile_for_the_project_itself_is_written_without_a_warning_as_it_builds_the_project(tmp_path):
    # A meson-python project built in .venv: `satlock profile add myproj --no-isolation`.
    (tmp_path / "pyproject.toml").write_text(project_toml([], name="my_proj")
                                             + '\n[build-system]\nrequires = ["meson-python"]\nbuild-backend = "mesonpy"\n')
    result = invoke("profile", "add", "My-Proj", "--no-isolation", "--project", tmp_path)
    assert result.exit_code == 0, result.output
    assert "warning" not in result.output, result.output


def test_profile_help_names_the_table_it_edits() -> None:
    """Rich markup must not swallow ``[tool.satlock.profiles.NAME]`` from the help."""
    for args in (["profile", "--help"], ["profile", "add", "--help"], ["profile", "remove", "--help"]):
        result = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
        assert result.exit_code == 0
        assert "[tool.satlock.profiles.NAME]" in result.output, result.output


def test_profile_add_and_remove_keep_the_crlf_line_endings_of_the_file(tmp_path):
    """Every byte outside the profile stays as it was, line endings included (a file written on Windows)."""
    crlf = COMMENTED.replace("\n", "\r\n").encode()
    path = tmp_path / "pyproject.toml"
    path.write_bytes(crlf)
    result = invoke("profile", "add", "seedpkg", "--build-requires", "torchlike", "--no-isolation", "--project", tmp_path)
    assert result.exit_code == 0, result.output
    added = path.read_bytes()
    assert added.count(b"\n") == added.count(b"\r\n")
    assert added.startswith(crlf.split(b"# a comment that belongs")[0])
    assert tomllib.loads(added.decode())["tool"]["satlock"]["profiles"]["seedpkg"]["isolation"] is False
    result = invoke("profile", "remove", "seedpkg", "--project", tmp_path)
    assert result.exit_code == 0, result.output
    assert path.read_bytes() == crlf


MALFORMED_PROFILES = [
    ("[tool.satlock.profiles]\nseedpkg = 3\n", "[tool.satlock.profiles.seedpkg] must be a table, not int"),
    ('[[tool.satlock.profiles.seedpkg]]\nbuild-requires = ["torchlike"]\n', "[tool.satlock.profiles.seedpkg] must be a table, not list"),
    ('[tool.satlock.profiles.seedpkg]\nbuild-requires = "torchlike"\n', "build-requires: input should be a valid list"),
    ('[tool.satlock.profiles.seedpkg]\nenv = "CUDA_HOME=x"\n', "env: input should be a valid dictionary"),
    ("[tool.satlock.profiles.seedpkg]\nmetadata = 1\n", "metadata: input should be a valid dictionary"),
    ('[tool.satlock.profiles.seedpkg.metadata]\nrequires-dist = "torchlike"\n', "metadata.requires-dist: input should be a valid list"),
    ("[tool.satlock]\nprofiles = 3\n", "[tool.satlock.profiles] must be a table of profiles, not int"),
    ('[tool]\nsatlock = "profiles"\n', "[tool.satlock] must be a table, not str"),
    ("[tool]\nsatlock = []\n", "[tool.satlock] must be a table, not list"),
]


@pytest.mark.parametrize("command", [
    ["add", "seedpkg", "--build-requires", "setuptools", "--env", "A=1", "--requires-dist", "torchlike"],
    ["add", "seedpkg", "--no-isolation", "--config-setting", "k=v"],
    ["show", "seedpkg"],
], ids=["add", "add-flags", "show"])
@pytest.mark.parametrize("table, message", MALFORMED_PROFILES, ids=[m for _, m in MALFORMED_PROFILES])
def test_profile_commands_on_a_malformed_profile_are_one_error_line_and_leave_the_file(tmp_path, command, table, message):
    text = project_toml(["seedpkg"], tool=table)
    (tmp_path / "pyproject.toml").write_text(text)
    result = invoke("profile", *command, "--project", tmp_path)
    assert result.exit_code != 0
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and message in errors[0], result.output
    assert (tmp_path / "pyproject.toml").read_text() == text


def test_profile_remove_when_profiles_is_not_a_table_is_one_error_line(tmp_path):
    text = project_toml(["seedpkg"], tool="[tool.satlock]\nprofiles = 3\n")
    (tmp_path / "pyproject.toml").write_text(text)
    result = invoke("profile", "remove", "seedpkg", "--project", tmp_path)
    assert result.exit_code != 0
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "[tool.satlock.profiles] must be a table of profiles, not int" in errors[0], result.output
    assert (tmp_path / "pyproject.toml").read_text() == text


def _lock_with_cuda_home_profile(tmp_path, index, deps: list[str]):
    """A project of ``deps`` whose cudaext profile sets CUDA_HOME={cuda-home}, locked: (project, result)."""
    project = tmp_path / "proj"
    project.mkdir()
    (project / "pyproject.toml").write_text(project_toml(deps))
    result = invoke("profile", "add", "cudaext", "--build-requires", "setuptools", "--build-requires", "wheel",
                    "--env", "CUDA_HOME={cuda-home}", "--project", project)
    assert result.exit_code == 0, result.output
    return project, lock(project, index)


def test_cuda_home_without_the_cuda_wheels_names_the_profile_and_variable_that_asked_for_it(tmp_path, index):
    """With several profiles using {cuda-home}, the error must say which one could not be expanded."""
    project, result = _lock_with_cuda_home_profile(tmp_path, index, ["cudaext"])
    assert result.exit_code == 1
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.output
    assert "[tool.satlock.profiles.cudaext] env.CUDA_HOME: " in errors[0] and "bin/nvcc" in errors[0]
    assert "Traceback" not in result.output and not (project / "pylock.toml").exists()
    # Not the folder of the build environment, which is gone once the lock ends: what it held.
    assert "which the CUDA 13 wheel nvidia-cuda-nvcc provides, and no package in the build environment of cudaext has it " \
           "(it holds no CUDA toolkit wheel)" in errors[0]
    assert os.environ["SATLOCK_CACHE_DIR"] not in result.output


def test_cuda_home_without_the_cuda_runtime_names_the_wheel_that_provides_it_not_a_folder(tmp_path, index):
    project, result = _lock_with_cuda_home_profile(tmp_path, index, ["nvidia-cuda-nvcc", "cudaext"])
    assert result.exit_code == 1
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert errors == ["error: [tool.satlock.profiles.cudaext] env.CUDA_HOME: {cuda-home} has no include/cuda_runtime.h, "
                      "which the wheel nvidia-cuda-runtime provides, and no package in the build environment of cudaext has it "
                      "(it holds nvidia-cuda-nvcc 13.0.48)"], result.output
    assert "hint: add nvidia-cuda-runtime to the project's dependencies or the profile's build-requires" in result.output
    assert os.environ["SATLOCK_CACHE_DIR"] not in result.output


@pytest.mark.parametrize("flags", [(), ("--no-isolation",)], ids=["isolated", "no-isolation"])
def test_cuda_home_without_nvcc_at_sync_names_the_environment_that_stays(tmp_path, index, flags):
    # The lock builds nothing (the profile gives the metadata): sync's build finds no nvcc.
    project = tmp_path / "proj"
    project.mkdir()
    (project / "pyproject.toml").write_text(project_toml(["cudaext"]))
    result = invoke("profile", "add", "cudaext", "--build-requires", "setuptools", "--build-requires", "wheel", *flags,
                    "--version", "0.1.0", "--env", "CUDA_HOME={cuda-home}", "--project", project)
    assert result.exit_code == 0, result.output
    assert lock(project, index).exit_code == 0
    result = invoke("sync", "--project", project, "--index-url", index)
    assert result.exit_code == 1
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    # A no-isolation build runs in .venv, which stays (its build-requires are all there: no build-only tools).
    where = "the build environment of cudaext" if not flags else str(project / ".venv")
    assert errors == ["error: [tool.satlock.profiles.cudaext] env.CUDA_HOME: {cuda-home} needs the CUDA compiler bin/nvcc, "
                      f"which the CUDA 13 wheel nvidia-cuda-nvcc provides, and no package in {where} has it "
                      "(it holds no CUDA toolkit wheel)"], result.output
    assert "hint: add nvidia-cuda-nvcc, nvidia-cuda-runtime, nvidia-cuda-crt and nvidia-nvvm (CUDA 13)" in result.output
    assert os.environ["SATLOCK_CACHE_DIR"] not in result.output


def test_failed_build_with_cuda_home_already_a_toolkit_does_not_suggest_the_env_it_has(tmp_path, index):
    """A log mentioning CUDA_HOME is not a missing toolkit when the profile's {cuda-home} gave one."""
    project = tmp_path / "proj"
    project.mkdir()
    (project / "pyproject.toml").write_text(project_toml(["cudafail"]))
    result = invoke("profile", "add", "cudafail", "--build-requires", "nvidia-cuda-nvcc", "--build-requires", "nvidia-cuda-runtime",
                    "--build-requires", "setuptools", "--build-requires", "wheel", "--env", "CUDA_HOME={cuda-home}",
                    "--project", project)
    assert result.exit_code == 0, result.output
    result = lock(project, index)
    assert result.exit_code == 1
    assert "Unsupported gpu architecture" in result.output
    assert "--env CUDA_HOME={cuda-home}" not in result.output


@pytest.mark.parametrize("broken, problem", [
    ('[tool.satlock]\nindx-url = "file:///x"\n', "unknown key 'indx-url'"),
    ("", "'seedpkg>>1' is not a valid requirement"),
])
def test_profile_add_in_a_file_with_an_unrelated_error_writes_the_profile_and_exits_zero(tmp_path, broken, problem):
    """The exit code tells the truth about the file: the profile is written, so the command
    succeeded; the problem elsewhere in pyproject.toml, found by the check for an unknown
    package name, is a warning, not an error after the file has already changed."""
    deps = ["seedpkg>>1"] if not broken else ["seedpkg"]
    (tmp_path / "pyproject.toml").write_text(project_toml(deps, tool=broken))
    result = invoke("profile", "add", "seedpkg", "--env", "A=1", "--project", tmp_path)
    assert result.exit_code == 0, result.output
    assert not [line for line in result.output.splitlines() if line.startswith("error:")]
    assert any(line.startswith("warning:") and problem in line for line in result.output.splitlines()), result.output
    assert tomllib.loads((tmp_path / "pyproject.toml").read_text())["tool"]["satlock"]["profiles"]["seedpkg"] == {"env": {"A": "1"}}


NO_SATLOCK_TABLE = '''\
[project]
name = "demo"
version = "0.1.0"
dependencies = ["seedpkg"]

# a comment that belongs to the next table
[tool.other]
key   =   "odd spacing stays"
'''


@pytest.mark.parametrize("text", [
    NO_SATLOCK_TABLE,
    NO_SATLOCK_TABLE.replace("\n# a comment", '\n[tool.satlock.profiles.seedpkg]\nisolation = false\n\n# a comment'),
], ids=["added-then-removed", "blank-line-before-next-comment"])
def test_profile_remove_when_it_is_all_of_tool_satlock_keeps_the_rest_byte_for_byte(tmp_path, text):
    """The profile is the only thing under [tool.satlock]: removing it must still leave every
    other byte, the next table's comment included."""
    path = tmp_path / "pyproject.toml"
    path.write_text(text)
    if "seedpkg]" not in text:
        result = invoke("profile", "add", "seedpkg", "--no-isolation", "--project", tmp_path)
        assert result.exit_code == 0, result.output
    result = invoke("profile", "remove", "seedpkg", "--project", tmp_path)
    assert result.exit_code == 0, result.output
    assert path.read_text() == NO_SATLOCK_TABLE


@pytest.mark.parametrize("pyproject", [
    '[tool.satlock]\nprofiles.seedpkg.build-requires = ["torchlike"]\nprofiles.seedpkg.env.A = "1"\n',
    '[tool.satlock.profiles.seedpkg]\nbuild-requires = ["torchlike"]\n\n[tool.other]\nx = 1\n\n'
    '[tool.satlock.profiles.seedpkg.env]\nA = "1"\n',
], ids=["dotted-keys", "sub-table-apart"])
def test_profile_show_of_a_profile_not_written_as_one_table_prints_toml_that_reads_back_as_the_profile(tmp_path, pyproject):
    """The shown text is the profile's table: pasted into a pyproject.toml it must not make a
    top-level [env] table."""
    (tmp_path / "pyproject.toml").write_text(project_toml(["seedpkg"]) + pyproject)
    shown = invoke("profile", "show", "seedpkg", "--project", tmp_path)
    assert shown.exit_code == 0, shown.output
    assert tomllib.loads(shown.output) == {
        "tool": {"satlock": {"profiles": {"seedpkg": {"build-requires": ["torchlike"], "env": {"A": "1"}}}}}}, shown.output


@pytest.mark.parametrize("caches", [1, 2], ids=["one-cache", "two-caches"])
def test_profile_adds_run_at_once_each_keep_their_profile(tmp_path, caches):
    """Each `profile add` reads pyproject.toml, edits and writes it: run at once, one must not
    write over the file another has just written (every command said its profile was written),
    whichever cache folder each uses (an editor and a shell with other SATLOCK_CACHE_DIRs: rev40)."""
    (tmp_path / "pyproject.toml").write_text(COMMENTED)
    names = [f"p{i}" for i in range(8)]
    envs = [{**os.environ, "SATLOCK_CACHE_DIR": str(tmp_path / f"cache{i % caches}")} for i in range(len(names))]
    procs = [subprocess.Popen([sys.executable, "-m", "satlock", "profile", "add", name, "--build-requires", "torchlike",
                               "-q", "--project", str(tmp_path)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
             for name, env in zip(names, envs)]
    for proc in procs:
        out, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0, out
    profiles = tomllib.loads((tmp_path / "pyproject.toml").read_text())["tool"]["satlock"]["profiles"]
    assert sorted(profiles) == names


def test_profile_add_needs_no_cache_folder_it_can_write(tmp_path, monkeypatch):
    """The edit lock is pyproject.toml's own (on POSIX): a profile edit touches no cache."""
    (tmp_path / "pyproject.toml").write_text(COMMENTED)
    (tmp_path / "afile").write_text("")
    monkeypatch.setenv("SATLOCK_CACHE_DIR", str(tmp_path / "afile"))
    result = invoke("profile", "add", "seedpkg", "--build-requires", "torchlike", "--project", tmp_path)
    assert result.exit_code == 0, result.output
    assert "seedpkg" in tomllib.loads((tmp_path / "pyproject.toml").read_text())["tool"]["satlock"]["profiles"]


@pytest.mark.skipif(os.name != "nt", reason="on POSIX the edit lock is pyproject.toml's own, not a file in the cache")
def test_profile_add_with_a_cache_folder_it_cannot_write_names_the_variable_to_set_and_leaves_the_file(tmp_path, monkeypatch):
    """The edit lock lies in the cache; profile commands have no --cache-dir or --no-cache to suggest."""
    (tmp_path / "pyproject.toml").write_text(COMMENTED)
    (tmp_path / "afile").write_text("")
    monkeypatch.setenv("SATLOCK_CACHE_DIR", str(tmp_path / "afile"))
    result = invoke("profile", "add", "seedpkg", "--build-requires", "torchlike", "--project", tmp_path)
    assert result.exit_code == 1, result.output
    error, hint = result.output.strip().splitlines()
    assert error.startswith("error: cannot write to the cache folder"), result.output
    assert hint.startswith("hint: set SATLOCK_CACHE_DIR") and "--no-cache" not in hint, result.output
    assert (tmp_path / "pyproject.toml").read_text() == COMMENTED


@pytest.mark.skipif(os.name != "nt", reason="on POSIX the edit lock is pyproject.toml's own, not a file in the cache")
def test_profile_add_with_an_unusable_edit_lock_file_names_it_and_no_flag_profile_commands_lack(tmp_path, monkeypatch):
    (tmp_path / "pyproject.toml").write_text(COMMENTED)
    cache = tmp_path / "cache"
    monkeypatch.setenv("SATLOCK_CACHE_DIR", str(cache))
    assert invoke("profile", "add", "first", "--build-requires", "torchlike", "--project", tmp_path).exit_code == 0
    written = (tmp_path / "pyproject.toml").read_text()
    [lock_file] = (cache / ".locks" / "pyproject-edits").iterdir()
    lock_file.unlink()
    lock_file.mkdir()  # a folder where the lock file should be
    result = invoke("profile", "add", "seedpkg", "--build-requires", "torchlike", "--project", tmp_path)
    assert result.exit_code == 1, result.output
    error, hint = result.output.strip().splitlines()
    assert error.startswith(f"error: cannot use the lock file {lock_file}"), result.output
    assert hint.startswith(f"hint: remove {lock_file}") and "SATLOCK_CACHE_DIR" in hint, result.output
    assert "--cache-dir" not in hint and "--no-cache" not in hint, result.output
    assert (tmp_path / "pyproject.toml").read_text() == written


ARRAY_OF_TABLES_AFTER = '''\
[project]
name = "demo"
version = "0.1"
dependencies = ["seedpkg"]

# about seed
[tool.satlock.profiles.seedpkg]
build-requires = ["torchlike"]

# the foos
[[tool.foo]]
x = 1
'''


def test_profile_remove_and_add_next_to_an_array_of_tables_keep_each_comment_with_its_table(tmp_path):
    """[[tool.foo]] ends the profile's table as [tool.foo] would: removing the profile takes its
    own comment, not the next table's, and a new profile goes after the last satlock table."""
    path = tmp_path / "pyproject.toml"
    path.write_text(ARRAY_OF_TABLES_AFTER)
    result = invoke("profile", "add", "other", "--build-requires", "torchlike", "--project", tmp_path)
    assert result.exit_code == 0, result.output
    assert path.read_text() == ARRAY_OF_TABLES_AFTER.replace(
        "# the foos", '[tool.satlock.profiles.other]\nbuild-requires = ["torchlike"]\n\n# the foos')
    assert invoke("profile", "remove", "other", "--project", tmp_path).exit_code == 0
    result = invoke("profile", "remove", "seedpkg", "--project", tmp_path)
    assert result.exit_code == 0, result.output
    assert path.read_text() == ARRAY_OF_TABLES_AFTER.replace(
        '# about seed\n[tool.satlock.profiles.seedpkg]\nbuild-requires = ["torchlike"]\n\n', "")


def test_profile_show_prints_the_profile_whatever_is_wrong_elsewhere_in_pyproject(tmp_path):
    """As `profile list` and `profile add` do: a bad dependency or an unknown setting is lock's
    to refuse; show reads the profile only (and .venv, when there is one, to expand it)."""
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "demo"\nversion = "0.1"\ndependencies = ["seedpkg>>1"]\n\n'
        '[tool.satlock]\nbogus = 1\n\n[tool.satlock.profiles.seedpkg]\nbuild-requires = ["torchlike"]\n')
    shown = invoke("profile", "show", "seedpkg", "--project", tmp_path)
    assert shown.exit_code == 0, shown.output
    assert "error" not in shown.output and 'build-requires = ["torchlike"]' in shown.output


@pytest.mark.parametrize("command", [["profile", "add", "seedpkg", "--build-requires", "torchlike"], ["profile", "show", "seedpkg"],
                                     ["profile", "remove", "seedpkg"], ["lock", "--offline"]], ids=["add", "show", "remove", "lock"])
@pytest.mark.parametrize("table, message", [("tool = 3\n", "[tool] must be a table, not int"),
                                            ('tool.satlock = "x"\n', "[tool.satlock] must be a table, not str")])
def test_a_tool_key_that_is_not_a_table_is_one_error_line_and_leaves_the_file(tmp_path, command, table, message):
    text = table + project_toml(["seedpkg"])
    (tmp_path / "pyproject.toml").write_text(text)
    result = invoke(*command, "--project", tmp_path)
    assert result.exit_code != 0
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and message in errors[0], result.output
    assert (tmp_path / "pyproject.toml").read_text() == text


@pytest.mark.skipif(sys.platform == "win32", reason="symlinks need privileges on Windows")
def test_profile_add_and_remove_edit_a_symlinked_pyproject_through_the_link(tmp_path):
    """A pyproject.toml linked from elsewhere (a shared checkout) stays a link: the file it names is edited."""
    real = tmp_path / "real" / "pyproject.toml"
    real.parent.mkdir()
    real.write_text(COMMENTED)
    project = tmp_path / "proj"
    project.mkdir()
    (project / "pyproject.toml").symlink_to(real)
    result = invoke("profile", "add", "seedpkg", "--build-requires", "torchlike", "--project", project)
    assert result.exit_code == 0, result.output
    assert (project / "pyproject.toml").is_symlink()
    assert "seedpkg" in tomllib.loads(real.read_text())["tool"]["satlock"]["profiles"]
    assert invoke("profile", "remove", "seedpkg", "--project", project).exit_code == 0
    assert (project / "pyproject.toml").is_symlink() and real.read_text() == COMMENTED


def test_profile_show_of_a_crlf_file_prints_lines_as_every_other_line_of_its_output(tmp_path):
    """typer writes its own line ends (CRLF on Windows, where "\\r\\n" would become "\\r\\r\\n"): the table's lines must not bring theirs."""
    (tmp_path / "pyproject.toml").write_bytes(
        (project_toml(["seedpkg"]) + '\n# ours\n[tool.satlock.profiles.seedpkg]\nbuild-requires = ["torchlike"]\n').replace("\n", "\r\n").encode())
    shown = subprocess.run([sys.executable, "-m", "satlock", "profile", "show", "seedpkg", "--project", str(tmp_path)],
                           capture_output=True)
    assert shown.returncode == 0, shown.stderr
    assert b"\r" not in shown.stdout and b'# ours\n[tool.satlock.profiles.seedpkg]\nbuild-requires = ["torchlike"]\n' in shown.stdout


def test_profile_show_with_two_tables_for_one_package_prints_only_the_error(tmp_path):
    """Nothing of a table is printed before the error line: the output is the error alone."""
    text = project_toml(["seedpkg"], tool='[tool.satlock.profiles.seed-pkg]\nbuild-requires = ["a"]\n\n'
                                          '[tool.satlock.profiles.Seed_Pkg]\nbuild-requires = ["b"]\n')
    (tmp_path / "pyproject.toml").write_text(text)
    shown = invoke("profile", "show", "seed-pkg", "--project", tmp_path)
    assert shown.exit_code == 1
    assert shown.output.startswith("error: ") and "are the same package" in shown.output, shown.output


def test_profile_show_says_which_value_cannot_be_expanded_for_venv_and_still_succeeds(tmp_path):
    """``{cuda-home}`` with no CUDA compiler in .venv: a no-isolation build finds it among its
    build-only tools, so ``show`` notes it beside the values it could expand, not an error."""
    (tmp_path / "pyproject.toml").write_text(
        project_toml(["seedpkg"]) + '\n[tool.satlock.profiles.seedpkg]\nbuild-requires = ["torchlike"]\n'
        'env = { CUDA_HOME = "{cuda-home}", WHERE = "{venv}" }\n')
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(tmp_path / ".venv")], check=True)
    shown = invoke("profile", "show", "seedpkg", "--project", tmp_path)
    assert shown.exit_code == 0, shown.output
    lines = shown.output.splitlines()
    assert f"WHERE = {tmp_path / '.venv'}" in lines
    [note] = [line for line in lines if "CUDA_HOME" in line and line.startswith("# not expanded:")]
    assert "nvcc" in note and not any(line.startswith("error:") for line in lines)


def test_profile_add_keeps_every_value_a_flag_repeats_for_one_key_or_package(tmp_path):
    """apex's build is `--config-settings=--build-option=--cpp_ext --config-settings=--build-option=--cuda_ext`
    (pip passes a list); two bounds for one build requirement are both kept. A later add for the
    same package or key replaces what was there."""
    (tmp_path / "pyproject.toml").write_text(COMMENTED)
    result = invoke("profile", "add", "seedpkg", "--config-setting", "--build-option=--cpp_ext",
                    "--config-setting", "--build-option=--cuda_ext", "--config-setting", "jobs=4",
                    "--build-requires", "torchlike>=1", "--build-requires", "torchlike<2", "--build-requires", "setuptools",
                    "--project", tmp_path)
    assert result.exit_code == 0, result.output
    profile = tomllib.loads((tmp_path / "pyproject.toml").read_text())["tool"]["satlock"]["profiles"]["seedpkg"]
    assert profile["config-settings"] == {"--build-option": ["--cpp_ext", "--cuda_ext"], "jobs": "4"}
    assert profile["build-requires"] == ["torchlike>=1", "torchlike<2", "setuptools"]
    result = invoke("profile", "add", "seedpkg", "--config-setting", "--build-option=--cpp_ext",
                    "--build-requires", "torchlike==1.5", "--project", tmp_path)
    assert result.exit_code == 0, result.output
    profile = tomllib.loads((tmp_path / "pyproject.toml").read_text())["tool"]["satlock"]["profiles"]["seedpkg"]
    assert profile["config-settings"] == {"--build-option": "--cpp_ext", "jobs": "4"}
    assert profile["build-requires"] == ["torchlike==1.5", "setuptools"]
    result = invoke("profile", "add", "seedpkg", "--build-requires", "ninja", "--build-requires", "ninja", "--project", tmp_path)
    assert result.exit_code == 0, result.output
    profile = tomllib.loads((tmp_path / "pyproject.toml").read_text())["tool"]["satlock"]["profiles"]["seedpkg"]
    assert profile["build-requires"] == ["torchlike==1.5", "setuptools", "ninja"], "one given twice is written once"


def test_profile_remove_takes_quiet_as_add_does(tmp_path):
    (tmp_path / "pyproject.toml").write_text(COMMENTED)
    assert invoke("profile", "add", "seedpkg", "--build-requires", "torchlike", "--project", tmp_path, "-q").exit_code == 0
    result = invoke("profile", "remove", "seedpkg", "--project", tmp_path, "-q")
    assert result.exit_code == 0 and result.output == "", result.output
    assert (tmp_path / "pyproject.toml").read_text() == COMMENTED


def test_profile_show_prints_a_value_holding_a_control_character_escaped(tmp_path):
    """TOML's escapes let a value hold ESC: shown raw, it would drive the terminal."""
    (tmp_path / "pyproject.toml").write_text(
        project_toml(["seedpkg"]) + '\n[tool.satlock.profiles.seedpkg]\nenv = { A = "red\\u001b[31mX", B = "plain" }\n')
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(tmp_path / ".venv")], check=True)
    shown = invoke("profile", "show", "seedpkg", "--project", tmp_path)
    assert shown.exit_code == 0, shown.output
    assert "\x1b" not in shown.output
    lines = shown.output.splitlines()
    assert "A = 'red\\x1b[31mX'" in lines and "B = plain" in lines
