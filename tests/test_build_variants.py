"""Build-aware resolution: a package whose metadata comes from a build is one variant per build.

``seedext`` is an sdist whose setup.py imports ``buildhelper`` and declares
``install_requires=["buildhelper==" + buildhelper.__version__]`` (the shape of every
extension that pins the torch it was compiled with). The index has buildhelper 1.0 and
2.0. Every build appends the buildhelper version it ran against to a log file, so the
tests can say which builds ever ran.
"""

from __future__ import annotations

import json
import os
import subprocess
import tomllib
from pathlib import Path

import pytest
import tomlkit
from typer.testing import CliRunner

from indexbuilder import IndexServer, build_index, installed_wheel, make_sdist, make_wheel, project_toml
from satlock.cli.main import app

SEEDEXT_SETUP = '''\
import os
import buildhelper
from setuptools import setup

log = os.environ.get("SEEDEXT_BUILD_LOG")
if log:
    with open(log, "a") as f:
        f.write(buildhelper.__version__ + "\\n")
setup(name="seedext", version="0.1", packages=["seedext"],
      install_requires=["buildhelper==" + buildhelper.__version__] + list(getattr(buildhelper, "EXTRA", [])),
      description="built against buildhelper " + buildhelper.__version__)
'''


def invoke(*args: object):
    result = CliRunner().invoke(app, [str(a) for a in args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


@pytest.fixture(scope="module")
def dists(tmp_path_factory) -> list[Path]:
    dest = tmp_path_factory.mktemp("dists")
    tools = [installed_wheel(name, dest) for name in ("setuptools", "wheel", "packaging")]
    return [
        *tools,
        make_wheel(dest, "setuptools", "0.1"),  # an older setuptools: never picked while the newest works
        make_wheel(dest, "buildhelper", "1.0"),
        # buildhelper 2.0 makes what is built against it need zlibx>=5.
        make_wheel(dest, "buildhelper", "2.0", files={"buildhelper/__init__.py": '__version__ = "2.0"\nEXTRA = ["zlibx>=5"]\n'}),
        make_wheel(dest, "zlibx", "4.0"),
        make_wheel(dest, "zlibx", "5.0"),
        make_wheel(dest, "capper", "1.0", requires=["buildhelper<2"]),
        make_sdist(dest, "seedext", "0.1", pyproject="", setup_py=SEEDEXT_SETUP, pkg_info=False),
        *[make_sdist(dest, name, "0.1", pyproject="", setup_py=SEEDEXT_SETUP.replace('name="seedext"', f'name="{name}"')
                     .replace('packages=["seedext"]', f'packages=["{name}"]'), pkg_info=False) for name in ("seedb", "seedc")],
        # pinext declares its build requirement in pyproject.toml, so it builds without a profile (as pip would).
        make_sdist(dest, "pinext", "0.1", setup_py=SEEDEXT_SETUP.replace('name="seedext"', 'name="pinext"')
                   .replace('packages=["seedext"]', 'packages=["pinext"]'), pkg_info=False,
                   pyproject='[build-system]\nrequires = ["setuptools", "buildhelper"]\nbuild-backend = "setuptools.build_meta"\n'),
        # moveext 0.2, built against anything, needs zlibx>=5; 0.1 is built like seedext.
        make_sdist(dest, "moveext", "0.1", pyproject="", setup_py=SEEDEXT_SETUP.replace('name="seedext"', 'name="moveext"')
                   .replace('packages=["seedext"]', 'packages=["moveext"]'), pkg_info=False),
        make_sdist(dest, "moveext", "0.2", pyproject="", setup_py=SEEDEXT_SETUP.replace('name="seedext"', 'name="moveext"')
                   .replace('packages=["seedext"]', 'packages=["moveext"]').replace('list(getattr(buildhelper, "EXTRA", []))', '["zlibx>=5"]')
                   .replace('version="0.1"', 'version="0.2"'), pkg_info=False),
    ]


@pytest.fixture(scope="module")
def index_root(tmp_path_factory, dists) -> Path:
    return build_index(tmp_path_factory.mktemp("index"), dists)


@pytest.fixture
def index(index_root) -> str:
    return index_root.as_uri()


@pytest.fixture
def build_log(tmp_path, monkeypatch) -> Path:
    log = tmp_path / "builds.log"
    monkeypatch.setenv("SEEDEXT_BUILD_LOG", str(log))
    return log


def built_against(log: Path) -> list[str]:
    return log.read_text().split() if log.exists() else []


def build_env_versions() -> list[dict[str, str]]:
    """The packages of every build environment the cache holds (each ``.complete`` lists them)."""
    root = Path(os.environ["SATLOCK_CACHE_DIR"])
    envs = []
    for marker in root.rglob(".complete"):
        envs.append({name: version for name, version, _ in json.loads(marker.read_text())["wheels"]})
    return envs


def make_project(folder: Path, deps: list[str], **kw) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pyproject.toml").write_text(project_toml(deps, **kw))
    return folder


def add_profile(project: Path, *flags: str) -> None:
    result = invoke("profile", "add", "seedext", "--build-requires", "buildhelper", *flags, "--project", project)
    assert result.exit_code == 0, result.output


def lock_data(project: Path) -> dict:
    return tomllib.loads((project / "pylock.toml").read_text())


def package(data: dict, name: str) -> dict:
    return next(p for p in data["packages"] if p["name"] == name)


def dependency_versions(data: dict, name: str) -> dict[str, str]:
    return {d["name"]: d.get("version") for d in package(data, name).get("dependencies", [])}


@pytest.mark.parametrize("flags", [(), ("--no-isolation",)], ids=["isolated", "no-isolation"])
def test_pinned_build_requirement_locks_in_one_step_and_never_builds_against_the_newest(tmp_path, index, build_log, flags):
    project = make_project(tmp_path / "proj", ["buildhelper==1.0", "seedext"])
    add_profile(project, *flags)
    result = invoke("lock", "--project", project, "--index-url", index, "-v")
    assert result.exit_code == 0, result.output
    data = lock_data(project)
    assert package(data, "buildhelper")["version"] == "1.0"
    assert dependency_versions(data, "seedext")["buildhelper"] == "1.0"
    env = data["tool"]["satlock"]["build-environments"]["seedext"]
    assert {p["name"]: p["version"] for p in env["packages"]}["buildhelper"] == "1.0"
    assert set(built_against(build_log)) == {"1.0"}
    assert all(env.get("buildhelper") != "2.0" for env in build_env_versions())
    assert "buildhelper==2.0" not in result.output


def test_runtime_version_forced_indirectly_is_the_one_built_against(tmp_path, index, build_log):
    project = make_project(tmp_path / "proj", ["capper", "seedext"])
    add_profile(project)
    result = invoke("lock", "--project", project, "--index-url", index)
    assert result.exit_code == 0, result.output
    data = lock_data(project)
    assert package(data, "buildhelper")["version"] == "1.0"
    assert dependency_versions(data, "seedext")["buildhelper"] == "1.0"
    assert set(built_against(build_log)) == {"1.0"}
    assert all(env.get("buildhelper") != "2.0" for env in build_env_versions())


def test_several_packages_built_against_one_forced_version_are_each_built_once_against_it(tmp_path, index, build_log):
    project = make_project(tmp_path / "proj", ["capper", "seedext", "seedb", "seedc"])
    for name in ("seedext", "seedb", "seedc"):
        result = invoke("profile", "add", name, "--build-requires", "buildhelper", "--project", project)
        assert result.exit_code == 0, result.output
    result = invoke("lock", "--project", project, "--index-url", index)
    assert result.exit_code == 0, result.output
    data = lock_data(project)
    assert {name: dependency_versions(data, name)["buildhelper"] for name in ("seedext", "seedb", "seedc")} == {
        "seedext": "1.0", "seedb": "1.0", "seedc": "1.0"}
    assert set(built_against(build_log)) == {"1.0"}


def test_build_requirement_the_runtime_does_not_use_is_resolved_newest_and_recorded(tmp_path, index, build_log):
    from importlib.metadata import version

    project = make_project(tmp_path / "proj", ["buildhelper==1.0", "seedext"])
    add_profile(project, "--build-requires", "setuptools")
    result = invoke("lock", "--project", project, "--index-url", index)
    assert result.exit_code == 0, result.output
    data = lock_data(project)
    env = {p["name"]: p["version"] for p in data["tool"]["satlock"]["build-environments"]["seedext"]["packages"]}
    assert env["setuptools"] == version("setuptools")
    assert "setuptools" not in {p["name"] for p in data["packages"]}


def test_no_isolation_lock_then_sync_builds_in_venv_against_the_pinned_version(tmp_path, index, build_log):
    project = make_project(tmp_path / "proj", ["buildhelper==1.0"], optional={"compile": ["seedext"]})
    add_profile(project, "--build-requires", "setuptools", "--build-requires", "wheel", "--no-isolation")
    assert invoke("lock", "--project", project, "--index-url", index).exit_code == 0
    result = invoke("sync", "--project", project, "--index-url", index, "--extra", "compile")
    assert result.exit_code == 0, result.output
    python = project / ".venv" / "bin" / "python"
    out = subprocess.run([python, "-c", "from importlib.metadata import metadata, requires; import seedext;"
                          "print(metadata('seedext')['Summary']); print(requires('seedext'))"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "built against buildhelper 1.0" in out.stdout and "buildhelper==1.0" in out.stdout
    assert "2.0" not in built_against(build_log)


@pytest.mark.parametrize("flags", [(), ("--no-isolation",)], ids=["isolated", "no-isolation"])
def test_a_build_needing_what_the_lock_does_not_list_for_its_package_is_refused(tmp_path, index, build_log, flags):
    # The lock says seedext does not need buildhelper (as an edited lock, or a build that moved, would):
    # its wheel, built in .venv (no isolation) or before it changes, needs buildhelper==1.0.
    project = make_project(tmp_path / "proj", ["buildhelper==1.0"], optional={"compile": ["seedext"]})
    add_profile(project, "--build-requires", "setuptools", "--build-requires", "wheel", *flags)
    assert invoke("lock", "--project", project, "--index-url", index).exit_code == 0
    lock = project / "pylock.toml"
    doc = tomlkit.parse(lock.read_text())
    seedext = next(p for p in doc["packages"] if p["name"] == "seedext")
    kept = [d for d in seedext["dependencies"] if d["name"] != "buildhelper"]
    assert len(kept) == len(seedext["dependencies"]) - 1
    seedext["dependencies"] = kept
    lock.write_text(tomlkit.dumps(doc))
    result = invoke("sync", "--project", project, "--index-url", index, "--extra", "compile", "--frozen")
    assert result.exit_code == 1, result.output
    error = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(error) == 1 and "Traceback" not in result.output, result.output
    assert "built from source, it requires buildhelper==1.0" in error[0] and "seedext 0.1" in error[0], result.output
    assert "seedext" not in {p.name.split("-")[0] for p in (project / ".venv").glob("lib/python*/site-packages/*")}


@pytest.mark.parametrize("flags", [(), ("--no-isolation",)], ids=["isolated", "no-isolation"])
def test_build_conflicting_with_the_rest_moves_the_build_requirement(tmp_path, index, build_log, flags):
    # Built against buildhelper 2.0, seedext needs zlibx>=5, which the project refuses:
    # the solver goes back to buildhelper 1.0 and builds against that.
    project = make_project(tmp_path / "proj", ["seedext", "zlibx<5"])
    add_profile(project, *flags)
    result = invoke("lock", "--project", project, "--index-url", index)
    assert result.exit_code == 0, result.output
    data = lock_data(project)
    assert package(data, "buildhelper")["version"] == "1.0"
    assert dependency_versions(data, "seedext")["buildhelper"] == "1.0"
    assert package(data, "zlibx")["version"] == "4.0"
    assert set(built_against(build_log)) == {"1.0", "2.0"}
    # Two variants built: the lock records the chosen one's environment, not the last built.
    env = data["tool"]["satlock"]["build-environments"]["seedext"]
    assert {p["name"]: p["version"] for p in env["packages"]}["buildhelper"] == "1.0"


def test_build_conflicting_whatever_it_is_built_against_moves_the_package(tmp_path, index, build_log):
    project = make_project(tmp_path / "proj", ["buildhelper==1.0", "moveext", "zlibx<5"])
    result = invoke("profile", "add", "moveext", "--build-requires", "buildhelper", "--project", project)
    assert result.exit_code == 0, result.output
    result = invoke("lock", "--project", project, "--index-url", index)
    assert result.exit_code == 0, result.output
    data = lock_data(project)
    assert package(data, "moveext")["version"] == "0.1"
    assert dependency_versions(data, "moveext") == {"buildhelper": "1.0"}
    env = data["tool"]["satlock"]["build-environments"]["moveext"]
    assert {p["name"]: p["version"] for p in env["packages"]}["buildhelper"] == "1.0"


def test_build_conflict_with_no_way_out_names_the_build(tmp_path, index, build_log):
    project = make_project(tmp_path / "proj", ["seedext", "zlibx<5", "buildhelper>=2"])
    add_profile(project)
    result = invoke("lock", "--project", project, "--index-url", index)
    assert result.exit_code == 1
    assert "seedext 0.1 built against buildhelper 2.0" in result.output
    assert "zlibx>=5" in result.output
    assert "Traceback" not in result.output
    assert not (project / "pylock.toml").exists()


def test_pinned_build_requirement_is_never_fetched_at_another_version(tmp_path, index_root, build_log):
    with IndexServer(index_root.parent) as server:
        project = make_project(tmp_path / "proj", ["buildhelper==1.0", "seedext"])
        add_profile(project)
        result = invoke("lock", "--project", project, "--index-url", server.url + "/simple")
        assert result.exit_code == 0, result.output
        requests = [path for _method, path, _range in server.requests]
    assert any("buildhelper-1.0" in r for r in requests)
    assert not [r for r in requests if "buildhelper-2.0" in r]


CUDAPROBE_SETUP = '''\
import os
import subprocess
from setuptools import setup

home = os.environ["CUDA_HOME"]
nvcc = os.path.join(home, "bin", "nvcc")
if not os.path.isfile(nvcc):
    raise RuntimeError("CUDA_HOME=%s has no bin/nvcc" % home)
with open("k.cu", "w") as f:
    f.write("__global__ void k() {}\\n")
subprocess.run(["sh", nvcc, "-c", "k.cu"], check=True)
release = subprocess.run(["sh", nvcc, "--version"], capture_output=True, text=True, check=True).stdout.strip()
setup(name="cudaprobe", version="0.1", packages=["cudaprobe"], description=release)
'''

FAKE_NVCC = '''#!/bin/sh
if [ "$1" = "--version" ]; then echo "Cuda compilation tools, release 13.0, fake"; exit 0; fi
if [ "$1" = "-c" ]; then test -f "$2" || exit 1; exit 0; fi
exit 2
'''


@pytest.fixture(scope="module")
def cuda_index(tmp_path_factory) -> str:
    """Fake CUDA 13 wheels laid out as the real ones (one shared nvidia/cu13 prefix), two
    versions of the compiler, and an sdist whose setup.py runs $CUDA_HOME/bin/nvcc."""
    dest = tmp_path_factory.mktemp("cudadists")
    tools = [installed_wheel(name, dest) for name in ("setuptools", "wheel", "packaging")]
    files = [*tools, make_sdist(dest, "cudaprobe", "0.1", pyproject="", setup_py=CUDAPROBE_SETUP, pkg_info=False)]
    for version in ("13.0.48", "13.1.0"):
        files += [
            make_wheel(dest, "nvidia-cuda-nvcc", version, files={
                "nvidia/cu13/bin/nvcc": FAKE_NVCC.replace("13.0", version), "nvidia/cu13/include/fatbinary_section.h": ""}),
            make_wheel(dest, "nvidia-cuda-runtime", version, files={
                "nvidia/cu13/include/cuda_runtime.h": "", "nvidia/cu13/lib/libcudart.so.13": ""}),
            make_wheel(dest, "nvidia-cuda-crt", version, files={"nvidia/cu13/include/crt/host_config.h": ""}),
            make_wheel(dest, "nvidia-nvvm", version, files={"nvidia/cu13/nvvm/bin/cicc": ""}),
        ]
    return build_index(tmp_path_factory.mktemp("cudaindex"), files).as_uri()


CUDA_DEPS = ["nvidia-cuda-nvcc==13.0.48", "nvidia-cuda-runtime==13.0.48", "nvidia-cuda-crt==13.0.48", "nvidia-nvvm==13.0.48"]


@pytest.mark.parametrize("flags", [("--no-isolation",), ()], ids=["no-isolation", "isolated"])
def test_cuda_home_brings_the_runtime_cuda_wheels_into_the_lock_time_build(tmp_path, cuda_index, flags):
    project = make_project(tmp_path / "proj", CUDA_DEPS, optional={"compile": ["cudaprobe"]})
    result = invoke("profile", "add", "cudaprobe", "--build-requires", "setuptools", *flags, "--env", "CUDA_HOME={cuda-home}",
                    "--project", project)
    assert result.exit_code == 0, result.output
    result = invoke("lock", "--project", project, "--index-url", cuda_index)
    assert result.exit_code == 0, result.output
    env = lock_data(project)["tool"]["satlock"]["build-environments"]["cudaprobe"]
    versions = {p["name"]: p["version"] for p in env["packages"]}
    assert {versions[n] for n in ("nvidia-cuda-nvcc", "nvidia-cuda-runtime", "nvidia-cuda-crt", "nvidia-nvvm")} == {"13.0.48"}
    result = invoke("sync", "--project", project, "--index-url", cuda_index, "--extra", "compile")
    assert result.exit_code == 0, result.output
    python = project / ".venv" / "bin" / "python"
    out = subprocess.run([python, "-c", "from importlib.metadata import metadata; import cudaprobe; print(metadata('cudaprobe')['Summary'])"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "release 13.0.48" in out.stdout


def test_dist_template_brings_its_distribution_into_the_metadata_build_at_the_runtime_version(tmp_path, index, build_log):
    project = make_project(tmp_path / "proj", ["buildhelper==1.0", "zlibx<5", "seedext"])
    add_profile(project, "--env", "ZLIBX_HOME={dist:zlibx}")
    result = invoke("lock", "--project", project, "--index-url", index)
    assert result.exit_code == 0, result.output
    env = lock_data(project)["tool"]["satlock"]["build-environments"]["seedext"]
    assert {p["name"]: p["version"] for p in env["packages"]}["zlibx"] == "4.0"


def test_sync_rebuilds_a_no_isolation_extension_when_its_build_requirement_moves(tmp_path, index, build_log):
    project = make_project(tmp_path / "proj", ["buildhelper==1.0", "seedext"])
    add_profile(project, "--build-requires", "setuptools", "--build-requires", "wheel", "--no-isolation")
    first = invoke("sync", "--project", project, "--index-url", index)
    assert first.exit_code == 0, first.output
    python = project / ".venv" / "bin" / "python"
    summary = [python, "-c", "from importlib.metadata import metadata; print(metadata('seedext')['Summary'])"]
    assert subprocess.run(summary, capture_output=True, text=True).stdout.strip() == "built against buildhelper 1.0"

    (project / "pyproject.toml").write_text((project / "pyproject.toml").read_text().replace("buildhelper==1.0", "buildhelper==2.0"))
    second = invoke("sync", "--project", project, "--index-url", index)
    assert second.exit_code == 0, second.output
    assert subprocess.run(summary, capture_output=True, text=True).stdout.strip() == "built against buildhelper 2.0"
    info = next((project / ".venv").rglob("seedext-0.1.dist-info"))
    recorded = json.loads((info / "satlock_build_inputs.json").read_text())
    assert ["buildhelper", "2.0"] in [p[:2] for p in recorded["packages"]]

    third = invoke("sync", "--project", project, "--index-url", index)
    assert third.exit_code == 0, third.output
    assert "up to date" in third.output


def test_a_no_isolation_profile_setting_pythonpath_keeps_the_build_only_tools_it_needs(tmp_path, index, build_log):
    """setuptools is a build requirement .venv does not hold: it comes from the build-only
    tools' environment through PYTHONPATH, after the profile's own."""
    project = make_project(tmp_path / "proj", ["buildhelper==1.0", "seedext"])
    add_profile(project, "--no-isolation", "--env", f"PYTHONPATH={tmp_path / 'mine'}")
    result = invoke("sync", "--project", project, "--index-url", index)
    assert result.exit_code == 0, result.output
    assert built_against(build_log)[-1] == "1.0"


def test_a_no_isolation_wheel_whose_env_names_its_venv_is_built_again_for_another_project(tmp_path, index):
    """Its templates expand to this project's .venv, which the build may bake into the wheel:
    another project sharing the cache builds its own. Without templates the wheel is shared."""
    def sync_with(folder: Path, *flags: str) -> None:
        project = make_project(folder, ["buildhelper==1.0", "seedext"])
        add_profile(project, "--build-requires", "setuptools", "--build-requires", "wheel", "--no-isolation", *flags)
        assert invoke("lock", "--project", project, "--index-url", index).exit_code == 0
        (folder / "locked").write_text(plain_log.read_text() if plain_log.exists() else "")  # the lock's metadata builds
        result = invoke("sync", "--project", project, "--index-url", index)
        assert result.exit_code == 0, result.output

    plain_log = tmp_path / "plain.log"
    for name in ("one", "two"):
        sync_with(tmp_path / name, "--env", "SEEDEXT_BUILD_LOG={venv}/../built.log")
        assert (tmp_path / name / "built.log").read_text().split() == ["1.0"], name
    sync_with(tmp_path / "three", "--env", f"SEEDEXT_BUILD_LOG={plain_log}")
    assert plain_log.read_text() != (tmp_path / "three" / "locked").read_text(), "the first sync builds"
    sync_with(tmp_path / "four", "--env", f"SEEDEXT_BUILD_LOG={plain_log}")
    assert plain_log.read_text() == (tmp_path / "four" / "locked").read_text(), \
        "a wheel whose env has no templates is shared: the second project's sync builds nothing"


def test_a_no_isolation_profile_with_static_metadata_builds_after_its_build_requires_are_installed(tmp_path, index, build_log):
    # The lock builds nothing (static metadata), so it records no .venv build environment:
    # the profile still says the build runs in .venv, after buildhelper is installed there.
    profile = ('\n[tool.satlock.profiles.seedext]\nbuild-requires = ["buildhelper", "setuptools", "wheel"]\n'
               'isolation = false\nmetadata = { version = "0.1", requires-dist = ["buildhelper"] }\n')
    project = make_project(tmp_path / "proj", ["buildhelper==1.0", "seedext"], tool=profile)
    result = invoke("sync", "--project", project, "--index-url", index)
    assert result.exit_code == 0, result.output
    assert built_against(build_log) == ["1.0"]


def locked_project(tmp_path: Path, index: str) -> Path:
    project = make_project(tmp_path / "proj", ["buildhelper==1.0", "seedext"])
    add_profile(project)
    result = invoke("lock", "--project", project, "--index-url", index)
    assert result.exit_code == 0, result.output
    return project


@pytest.mark.parametrize("edit, message", [
    (lambda t: t.replace('lock-format = 2', 'lock-format = 9'), "lock-format 9 was written by a newer satlock"),
    (lambda t: t.replace('lock-format = 2', 'lock-format = "two"'), "lock-format: must be an integer"),
    (lambda t: t.replace('isolation = true', 'isolation = "yes"'), "build-environments.seedext"),
    (lambda t: t[:t.index("build-environments")] + t[t.index("build-environments"):].replace(
        "buildhelper-1.0-py3-none-any.whl", "buildhelper-9.0-py3-none-any.whl"), "the url names buildhelper 9.0"),
], ids=["newer-format", "bad-format", "bad-isolation", "url-mismatch"])
def test_a_hand_edited_build_environment_is_one_error_line_and_changes_nothing(tmp_path, index, build_log, edit, message):
    project = locked_project(tmp_path, index)
    path = project / "pylock.toml"
    path.write_text(edit(path.read_text()))
    result = invoke("sync", "--project", project, "--index-url", index, "--frozen")
    assert result.exit_code == 1
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and message in errors[0], result.output
    assert "Traceback" not in result.output
    assert not (project / ".venv").exists()


def test_a_lock_of_the_older_format_is_stale(tmp_path, index, build_log):
    project = locked_project(tmp_path, index)
    path = project / "pylock.toml"
    path.write_text(path.read_text().replace("lock-format = 2", "lock-format = 1"))
    result = invoke("lock", "--project", project, "--index-url", index, "--check")
    assert result.exit_code == 1
    assert "lock format" in result.output


def test_build_environment_wheel_names_are_percent_decoded():
    from satlock.resolver.buildenvs import parse_build_environments

    envs = parse_build_environments({"ext": {"isolation": True, "requires": ["torch"], "packages": [
        {"name": "torch", "version": "2.4.0+cu121", "url": "https://example.invalid/torch-2.4.0%2Bcu121-cp311-cp311-linux_x86_64.whl",
         "hashes": {"sha256": "0" * 64}}]}})
    assert envs["ext"].packages[0].filename == "torch-2.4.0+cu121-cp311-cp311-linux_x86_64.whl"


def test_frozen_sync_builds_from_the_lock_without_reading_an_index(tmp_path, index_root, build_log):
    with IndexServer(index_root.parent) as server:
        project = make_project(tmp_path / "proj", ["buildhelper==1.0", "seedext"])
        add_profile(project, "--build-requires", "setuptools", "--build-requires", "wheel")
        result = invoke("lock", "--project", project, "--index-url", server.url + "/simple")
        assert result.exit_code == 0, result.output
        server.requests.clear()
        result = invoke("sync", "--project", project, "--frozen", "--cache-dir", tmp_path / "fresh-cache")
        assert result.exit_code == 0, result.output
        paths = [path for _method, path, _range in server.requests]
    assert not [p for p in paths if p.startswith("/simple")]
    assert any(p.endswith(".tar.gz") for p in paths)
    python = project / ".venv" / "bin" / "python"
    check = subprocess.run([python, "-c", "import seedext, buildhelper; print(buildhelper.__version__)"], capture_output=True, text=True)
    assert check.stdout.strip() == "1.0", check.stderr


def test_sync_verifies_build_environment_wheels_before_it_installs_anything(tmp_path, index, build_log):
    import re

    project = locked_project(tmp_path, index)
    path = project / "pylock.toml"
    text = path.read_text()
    head, _, envs = text.partition("build-environments")
    # Break the sha256 of the first wheel of seedext's build environment.
    envs = re.sub(r'sha256 = "[0-9a-f]{64}"', 'sha256 = "' + "0" * 64 + '"', envs, count=1)
    path.write_text(head + "build-environments" + envs)
    result = invoke("sync", "--project", project, "--frozen", "--cache-dir", tmp_path / "fresh-cache")
    assert result.exit_code == 1
    assert "0" * 64 in result.output
    assert not (project / ".venv").exists()  # made by this sync, and removed with nothing installed


def test_sync_relocks_a_lock_made_for_another_interpreter_for_the_one_it_installs_into(tmp_path, index, build_log):
    import sys

    project = make_project(tmp_path / "proj", ["zlibx"])
    other = "3.12" if sys.version_info[:2] != (3, 12) else "3.11"
    assert invoke("lock", "--project", project, "--index-url", index, "--python-version", other).exit_code == 0
    assert other in lock_data(project)["environments"][0]
    result = invoke("sync", "--project", project, "--index-url", index)
    assert result.exit_code == 0, result.output
    assert f'python_version == "{sys.version_info[0]}.{sys.version_info[1]}"' in lock_data(project)["environments"][0]
    python = project / ".venv" / "bin" / "python"
    assert subprocess.run([python, "-c", "import zlibx"]).returncode == 0


def test_a_failing_build_says_which_versions_it_was_built_against(tmp_path, dists):
    fail_setup = ("import buildhelper\n"
                  "raise SystemExit('failext does not build with buildhelper ' + buildhelper.__version__)\n")
    sdist = make_sdist(tmp_path / "d", "failext", "0.1", pyproject="", setup_py=fail_setup, pkg_info=False)
    url = build_index(tmp_path / "index", [*dists, sdist]).as_uri()
    project = make_project(tmp_path / "proj", ["failext"])
    added = invoke("profile", "add", "failext", "--build-requires", "buildhelper", "--project", project)
    assert added.exit_code == 0, added.output
    result = invoke("lock", "--project", project, "--index-url", url)
    assert result.exit_code != 0
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.output
    assert "failext" in errors[0] and "built against" in errors[0] and "buildhelper 2.0" in errors[0], result.output
    assert not (project / "pylock.toml").exists()


def test_a_built_variant_asking_for_another_source_than_the_projects_is_warned_about(tmp_path, dists):
    ours = make_wheel(tmp_path / "ours", "zdep", "1.0")
    theirs = make_wheel(tmp_path / "theirs", "zdep", "1.0")
    setup_py = SEEDEXT_SETUP.replace('name="seedext"', 'name="urlext"').replace('packages=["seedext"]', 'packages=["urlext"]') \
        .replace('list(getattr(buildhelper, "EXTRA", []))', f'["zdep @ {theirs.as_uri()}"]')
    urlext = make_sdist(tmp_path / "d", "urlext", "0.1", pyproject="", setup_py=setup_py, pkg_info=False)
    index = build_index(tmp_path / "index", [*dists, urlext]).as_uri()
    project = make_project(tmp_path / "proj", ["buildhelper==1.0", "urlext", f"zdep @ {ours.as_uri()}"])
    result = invoke("profile", "add", "urlext", "--build-requires", "buildhelper", "--project", project)
    assert result.exit_code == 0, result.output
    result = invoke("lock", "--project", project, "--index-url", index)
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.output.splitlines() if line.startswith("warning:")]
    assert any(f"urlext 0.1 asks for zdep @ {theirs.as_uri()}" in w for w in warnings), result.output


def test_a_build_environment_refusing_the_runtimes_newest_is_not_asked_again_for_each_unrelated_choice(
        tmp_path, dists, build_log):
    # seedext's profile needs buildhelper<2, the project takes the newest buildhelper and
    # two unrelated packages of four versions each. The build environment read buildhelper
    # (and setuptools, wheel): its refusal of buildhelper 2.0 rests on those alone, so the
    # search moves buildhelper instead of asking for the same refused environment under
    # each of the 16 pairs of the others' versions.
    d = tmp_path / "more"
    more = [make_wheel(d, name, f"{v}.0") for name in ("alpha", "beta") for v in range(1, 5)]
    root = build_index(tmp_path / "index", [*dists, *more])
    project = make_project(tmp_path / "proj", ["seedext", "buildhelper", "alpha", "beta"])
    result = invoke("profile", "add", "seedext", "--build-requires", "buildhelper<2", "--project", project)
    assert result.exit_code == 0, result.output
    result = invoke("lock", "-v", "--project", project, "--index-url", root.as_uri())
    assert result.exit_code == 0, result.output
    data = lock_data(project)
    assert package(data, "buildhelper")["version"] == "1.0"
    assert (package(data, "alpha")["version"], package(data, "beta")["version"]) == ("4.0", "4.0")
    assert result.output.count("seedext cannot be built against the runtime versions") == 1
    assert set(built_against(build_log)) == {"1.0"}


def test_a_build_without_profile_pinning_the_newest_says_a_profile_builds_it_against_the_lock(tmp_path, index, build_log):
    # As pip builds it: against buildhelper 2.0, so it pins buildhelper==2.0 against the project's 1.0.
    project = make_project(tmp_path / "proj", ["buildhelper==1.0", "pinext"])
    result = invoke("lock", "--project", project, "--index-url", index)
    assert result.exit_code == 1
    assert "pinext 0.1 depends on buildhelper==2.0" in result.output
    assert "add one: satlock profile add pinext" in result.output
    assert "Traceback" not in result.output
    assert invoke("profile", "add", "pinext", "--project", project).exit_code == 0
    result = invoke("lock", "--project", project, "--index-url", index)
    assert result.exit_code == 0, result.output
    assert dependency_versions(lock_data(project), "pinext")["buildhelper"] == "1.0"


@pytest.mark.parametrize("flags", [(), ("--no-isolation",)], ids=["isolated", "no-isolation"])
def test_a_profile_with_static_metadata_records_a_build_environment_at_the_runtime_versions(tmp_path, index, build_log, flags):
    # The lock builds nothing (the profile gives the metadata), so sync builds from what the
    # lock records: that must be buildhelper 1.0, the runtime's, with the profile's isolation.
    project = make_project(tmp_path / "proj", ["buildhelper==1.0", "seedext"])
    add_profile(project, "--version", "0.1", "--requires-dist", "buildhelper", *flags)
    result = invoke("lock", "--project", project, "--index-url", index)
    assert result.exit_code == 0, result.output
    assert built_against(build_log) == []
    env = lock_data(project)["tool"]["satlock"]["build-environments"]["seedext"]
    assert {p["name"]: p["version"] for p in env["packages"]}["buildhelper"] == "1.0"
    assert env["isolation"] is ("--no-isolation" not in flags)
    result = invoke("sync", "--project", project, "--index-url", index)
    assert result.exit_code == 0, result.output
    assert set(built_against(build_log)) == {"1.0"}


def test_a_static_metadata_profile_whose_build_environment_excludes_the_runtime_version_is_refused_by_sync_with_the_conflict(
        tmp_path, index, build_log):
    # The lock builds nothing and cannot record seedext's build environment (buildhelper>=2
    # against the runtime's 1.0, match-runtime): sync solves it as the lock would and names
    # the conflict, instead of building without buildhelper ('No module named buildhelper',
    # with a hint to add the build requirement the profile already has).
    project = make_project(tmp_path / "proj", ["buildhelper==1.0", "seedext"])
    add_profile(project, "--version", "0.1", "--requires-dist", "buildhelper", "--build-requires", "buildhelper>=2")
    result = invoke("lock", "--project", project, "--index-url", index, "-v")
    assert result.exit_code == 0, result.output
    assert "the build environment of seedext is not recorded" in result.output
    result = invoke("sync", "--project", project, "--index-url", index)
    assert result.exit_code != 0
    assert "buildhelper>=2" in result.output and "pins buildhelper==1.0" in result.output, result.output
    assert "No module named" not in result.output
    assert built_against(build_log) == []
