"""``satlock sync`` installs the project itself, editable, when it is a package (it has a
[build-system] table), as ``uv sync``, ``poetry install`` and ``pdm install`` do: after a
sync, ``import`` of the project works in .venv and edits show without another sync. Its
build environment is locked; the project stays out of the lock's ``packages`` so pip and
uv can still install the lock as it is."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tomllib
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from indexbuilder import build_index, make_wheel, project_toml
from satlock.buildenv.wheels import _refuse_dangling
from satlock.cli.main import app
from satlock.errors import BuildError

runner = CliRunner()

# An in-tree backend: build_editable writes a .pth that puts the folder on sys.path, after
# importing each of the project's build requirements (so a build without them fails).
BACKEND = '''
import base64, hashlib, os, zipfile

NAME = "demo-0.1.0-py3-none-any.whl"

def _wheel(directory, members):
    info = "demo-0.1.0.dist-info"
    meta = "Metadata-Version: 2.1\\nName: demo\\nVersion: 0.1.0\\n" + "".join(
        "Requires-Dist: " + r + "\\n" for r in REQUIRES)
    members = {**members, info + "/METADATA": meta,
               info + "/WHEEL": "Wheel-Version: 1.0\\nGenerator: test\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n"}
    with zipfile.ZipFile(os.path.join(directory, NAME), "w") as zf:
        rows = []
        for name, text in members.items():
            zf.writestr(name, text)
            digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
            rows.append(f"{name},sha256={digest},{len(text.encode())}\\n")
        zf.writestr(info + "/RECORD", "".join(rows) + info + "/RECORD,,\\n")
    return NAME

def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    for module in IMPORTS:
        __import__(module)
    with open("demo.py") as f:
        return _wheel(wheel_directory, {"demo.py": f.read()})

def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    for module in IMPORTS:
        __import__(module)
    return _wheel(wheel_directory, {"_demo_editable.pth": os.path.abspath(".") + "\\n"})
'''


def _project(tmp_path: Path, *, build_requires: tuple[str, ...] = ("buildhelper",), dependencies: tuple[str, ...] = ("helper",),
             tool: str = "") -> Path:
    project = tmp_path / "p"
    (project / "_build").mkdir(parents=True)
    requires = ", ".join(json.dumps(r) for r in build_requires)
    (project / "pyproject.toml").write_text(
        project_toml(list(dependencies), tool=tool)
        + f'\n[build-system]\nrequires = [{requires}]\nbuild-backend = "backend"\nbackend-path = ["_build"]\n')
    imports = [r.split(">")[0].split("=")[0] for r in build_requires]
    (project / "_build" / "backend.py").write_text(f"IMPORTS = {imports!r}\nREQUIRES = {list(dependencies)!r}\n" + BACKEND)
    (project / "demo.py").write_text("VALUE = 1\n")
    build_index(tmp_path / "index", [make_wheel(tmp_path / "d", "helper", "1.0"),
                                     make_wheel(tmp_path / "d", "buildhelper", "2.0"),
                                     make_wheel(tmp_path / "d", "buildhelper", "1.0")])
    return project


def _run(project: Path, tmp_path: Path, *args: str):
    return runner.invoke(app, [*args, "--project", str(project), "--index-url", (tmp_path / "index" / "simple").as_uri(),
                               "--cache-dir", str(tmp_path / "cache")])


def _python(project: Path, code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(project / ".venv" / "bin" / "python"), "-c", code], capture_output=True, text=True)


def _dist_info(project: Path, name: str) -> list[Path]:
    return list((project / ".venv").glob(f"lib/python*/site-packages/{name}-*.dist-info"))


def test_sync_installs_a_project_with_a_build_system_editable_so_its_edits_show_without_a_sync(tmp_path):
    project = _project(tmp_path)
    result = _run(project, tmp_path, "sync")
    assert result.exit_code == 0, result.output
    assert _python(project, "import demo, helper; print(demo.VALUE)").stdout.strip() == "1"
    (project / "demo.py").write_text("VALUE = 2\n")
    assert _python(project, "import demo; print(demo.VALUE)").stdout.strip() == "2"
    [info] = _dist_info(project, "demo")
    assert json.loads((info / "direct_url.json").read_text()) == {"url": project.resolve().as_uri(), "dir_info": {"editable": True}}
    assert (info / "INSTALLER").read_text().strip() == "satlock" and (info / "REQUESTED").exists()
    again = _run(project, tmp_path, "sync")
    assert again.exit_code == 0 and "up to date" in again.output, again.output


def test_the_lock_pins_the_projects_build_environment_but_leaves_the_project_out_of_its_packages(tmp_path):
    project = _project(tmp_path, build_requires=("buildhelper<2",))
    assert _run(project, tmp_path, "lock").exit_code == 0
    lock = tomllib.loads((project / "pylock.toml").read_text())
    assert [p["name"] for p in lock["packages"]] == ["helper"]
    environment = lock["tool"]["satlock"]["build-environments"]["demo"]
    assert environment["requires"] == ["buildhelper<2"]
    assert [(p["name"], p["version"]) for p in environment["packages"]] == [("buildhelper", "1.0")]
    assert environment["packages"][0]["hashes"]["sha256"]


def test_a_frozen_sync_builds_the_project_with_the_locked_build_environment_and_no_index(tmp_path):
    project = _project(tmp_path)
    assert _run(project, tmp_path, "sync").exit_code == 0
    shutil.rmtree(project / ".venv")
    # Every file the lock names is in the cache now: the index may go.
    shutil.rmtree(tmp_path / "index")
    result = _run(project, tmp_path, "sync", "--frozen")
    assert result.exit_code == 0, result.output
    assert _python(project, "import demo; print(demo.VALUE)").stdout.strip() == "1"


def test_changing_the_projects_build_requirements_makes_the_lock_stale(tmp_path):
    project = _project(tmp_path)
    assert _run(project, tmp_path, "lock").exit_code == 0
    assert _run(project, tmp_path, "lock", "--check").exit_code == 0
    pyproject = project / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('requires = ["buildhelper"]', 'requires = ["buildhelper<2"]'))
    assert _run(project, tmp_path, "lock", "--check").exit_code == 1


def test_a_project_without_a_build_system_is_not_installed_and_package_false_keeps_its_lock_current(tmp_path):
    project = tmp_path / "plain"
    project.mkdir()
    (project / "pyproject.toml").write_text(project_toml(["helper"]))
    build_index(tmp_path / "index", [make_wheel(tmp_path / "d", "helper", "1.0")])
    assert _run(project, tmp_path, "sync").exit_code == 0
    assert _dist_info(project, "demo") == [] and _dist_info(project, "helper")
    # Saying it is no package changes nothing a lock holds: the lock written before stays current.
    (project / "pyproject.toml").write_text(project_toml(["helper"], tool="\n[tool.satlock]\npackage = false\n"))
    assert _run(project, tmp_path, "lock", "--check").exit_code == 0


def test_package_false_keeps_a_project_with_a_build_system_out_of_the_environment(tmp_path):
    project = _project(tmp_path, tool="\n[tool.satlock]\npackage = false\n")
    result = _run(project, tmp_path, "sync")
    assert result.exit_code == 0, result.output
    assert _dist_info(project, "demo") == [] and _dist_info(project, "helper")
    assert "demo" not in tomllib.loads((project / "pylock.toml").read_text())["tool"]["satlock"]["build-environments"]


def test_package_must_be_true_or_false(tmp_path):
    project = _project(tmp_path, tool='\n[tool.satlock]\npackage = "yes"\n')
    result = _run(project, tmp_path, "lock")
    assert result.exit_code != 0
    assert [line for line in result.output.splitlines() if line.startswith("error:")] == [
        f"error: {project / 'pyproject.toml'}: [tool.satlock] package: Input should be a valid boolean"], result.output


def test_no_install_project_installs_the_dependencies_only_and_removes_an_earlier_install_as_uv_does(tmp_path):
    project = _project(tmp_path)
    result = _run(project, tmp_path, "sync", "--no-install-project")
    assert result.exit_code == 0, result.output
    assert _dist_info(project, "demo") == [] and _dist_info(project, "helper")
    assert _run(project, tmp_path, "sync").exit_code == 0
    assert _dist_info(project, "demo")
    again = _run(project, tmp_path, "sync", "--no-install-project")
    assert again.exit_code == 0 and "removed 1" in again.output, again.output
    assert _dist_info(project, "demo") == [] and _dist_info(project, "helper")


def test_a_changed_pyproject_reinstalls_the_project_and_an_unchanged_one_does_not(tmp_path):
    project = _project(tmp_path)
    assert _run(project, tmp_path, "sync").exit_code == 0
    [before] = _dist_info(project, "demo")
    stamp = (before / "RECORD").stat().st_mtime_ns
    pyproject = project / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + "\n[project.scripts]\n")
    result = _run(project, tmp_path, "sync")
    assert result.exit_code == 0, result.output
    assert "replaced 1" in result.output, result.output
    [after] = _dist_info(project, "demo")
    assert (after / "RECORD").stat().st_mtime_ns != stamp


def test_a_project_that_fails_to_build_is_one_error_line_with_a_way_out(tmp_path):
    project = _project(tmp_path)
    (project / "_build" / "backend.py").write_text((project / "_build" / "backend.py").read_text().replace(
        "def build_editable(wheel_directory, config_settings=None, metadata_directory=None):\n",
        "def build_editable(wheel_directory, config_settings=None, metadata_directory=None):\n"
        "    raise RuntimeError('Multiple top-level packages discovered in a flat-layout')\n"))
    result = _run(project, tmp_path, "sync")
    assert result.exit_code == 1
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "installing the project itself" in errors[0], result.output
    # Below it, the backend's own last lines (its traceback) and the full log's path, as for any build.
    assert "package = false" in result.output and "--no-install-project" in result.output


def test_no_build_with_a_project_to_install_says_to_leave_the_project_out(tmp_path):
    project = _project(tmp_path)
    assert _run(project, tmp_path, "lock").exit_code == 0
    result = _run(project, tmp_path, "sync", "--no-build")
    assert result.exit_code != 0
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "demo" in errors[0] and "--no-install-project" in result.output, result.output
    assert _run(project, tmp_path, "sync", "--no-build", "--no-install-project").exit_code == 0


def test_an_invalid_build_requirement_of_the_project_is_one_line_naming_it(tmp_path):
    project = _project(tmp_path, build_requires=("not a requirement!",))
    result = _run(project, tmp_path, "lock")
    assert result.exit_code != 0
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "build-system.requires[0]" in errors[0], result.output


def test_a_project_whose_build_backend_is_on_no_index_is_one_error_line_with_a_way_out(tmp_path):
    project = _project(tmp_path, build_requires=("nosuchbackend",))
    result = _run(project, tmp_path, "sync")
    assert result.exit_code == 1
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "installing the project itself" in errors[0], result.output
    assert "nosuchbackend has no installable version" in result.output
    assert "package = false" in result.output and "Traceback" not in result.output
    # Its build environment is settled before .venv changes, as uv builds before it installs:
    # the dependencies are not installed either.
    assert not _dist_info(project, "helper")


def test_the_projects_own_profile_adds_its_build_requires_to_the_locked_build_environment(tmp_path):
    project = _project(tmp_path, build_requires=("buildhelper",),
                       tool='\n[tool.satlock.profiles.demo]\nbuild-requires = ["helper"]\n')
    backend = project / "_build" / "backend.py"
    # The build imports helper, which only the profile names, as a setup.py imports torch.
    backend.write_text(backend.read_text().replace("IMPORTS = ['buildhelper']", "IMPORTS = ['buildhelper', 'helper']"))
    result = _run(project, tmp_path, "sync")
    assert result.exit_code == 0, result.output
    environment = tomllib.loads((project / "pylock.toml").read_text())["tool"]["satlock"]["build-environments"]["demo"]
    assert environment["requires"] == ["buildhelper", "helper"]
    assert sorted(p["name"] for p in environment["packages"]) == ["buildhelper", "helper"]
    assert _python(project, "import demo; print(demo.VALUE)").stdout.strip() == "1"


def test_a_no_isolation_profile_of_the_project_is_recorded_and_builds_it_in_the_venv(tmp_path):
    project = _project(tmp_path, build_requires=("buildhelper",),
                       tool='\n[tool.satlock.profiles.demo]\nisolation = false\n')
    result = _run(project, tmp_path, "sync")
    assert result.exit_code == 0, result.output
    environment = tomllib.loads((project / "pylock.toml").read_text())["tool"]["satlock"]["build-environments"]["demo"]
    assert environment["isolation"] is False
    assert _python(project, "import demo; print(demo.VALUE)").stdout.strip() == "1"


def test_package_false_after_an_install_removes_the_project_from_the_environment_as_uv_does(tmp_path):
    project = _project(tmp_path)
    assert _run(project, tmp_path, "sync").exit_code == 0
    assert _dist_info(project, "demo")
    pyproject = project / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace("[build-system]", "[tool.satlock]\npackage = false\n\n[build-system]"))
    result = _run(project, tmp_path, "sync")
    assert result.exit_code == 0, result.output
    assert _dist_info(project, "demo") == [] and _dist_info(project, "helper")
    assert "removed 1" in result.output, result.output


def _counting_walks(monkeypatch, project: Path) -> list[str]:
    """The folders of ``project`` that satlock walks from the top (each walk of a big data
    folder costs seconds)."""
    from satlock.buildenv import sources

    walks: list[str] = []
    real = os.walk

    def walk(top, *args, **kwargs):
        if Path(top).resolve() == project.resolve():
            walks.append(str(top))
        return real(top, *args, **kwargs)

    monkeypatch.setattr(sources.os, "walk", walk)
    return walks


def test_a_sync_that_installs_the_project_walks_its_folder_once(tmp_path, monkeypatch):
    project = _project(tmp_path)
    walks = _counting_walks(monkeypatch, project)
    result = _run(project, tmp_path, "sync")
    assert result.exit_code == 0, result.output
    assert len(walks) == 1, walks


def test_a_virtual_environment_folder_in_the_project_is_not_part_of_its_build_key(tmp_path):
    project = _project(tmp_path)
    backend = project / "_build" / "backend.py"
    # Each build leaves a mark outside the project, so the test sees whether one ran.
    marks = tmp_path / "builds"
    backend.write_text(backend.read_text().replace(
        "def build_editable(wheel_directory, config_settings=None, metadata_directory=None):\n",
        "def build_editable(wheel_directory, config_settings=None, metadata_directory=None):\n"
        f"    open({str(marks)!r}, 'a').write('built\\n')\n"))
    venv = project / "venv"
    (venv / "lib").mkdir(parents=True)
    (venv / "pyvenv.cfg").write_text("home = /usr/bin\n")
    assert _run(project, tmp_path, "sync").exit_code == 0
    # Something installed into that environment: the project's sources did not change.
    (venv / "lib" / "installed.py").write_text("X = 1\n")
    result = _run(project, tmp_path, "sync", "--reinstall")
    assert result.exit_code == 0, result.output
    assert marks.read_text().splitlines() == ["built"]


def _plugin_index(tmp_path: Path) -> None:
    """An index where ``plugin`` requires ``demo`` (as pytest requires pluggy, in pluggy's
    own test group) and that also serves a ``demo`` of its own."""
    build_index(tmp_path / "index", [make_wheel(tmp_path / "d", "helper", "1.0"),
                                     make_wheel(tmp_path / "d", "buildhelper", "2.0"),
                                     make_wheel(tmp_path / "d", "plugin", "1.0", requires=["demo>=0.1"]),
                                     make_wheel(tmp_path / "d", "demo", "9.0")])


def test_a_dependency_that_requires_the_projects_name_gets_the_project_itself_not_the_index_copy(tmp_path):
    project = _project(tmp_path, dependencies=("helper", "plugin"))
    _plugin_index(tmp_path)
    result = _run(project, tmp_path, "sync")
    assert result.exit_code == 0, result.output
    lock = tomllib.loads((project / "pylock.toml").read_text())
    assert sorted(p["name"] for p in lock["packages"]) == ["helper", "plugin"]
    assert "demo" in lock["tool"]["satlock"]["build-environments"]
    [info] = _dist_info(project, "demo")
    assert json.loads((info / "direct_url.json").read_text())["dir_info"] == {"editable": True}
    (project / "demo.py").write_text("VALUE = 2\n")
    assert _python(project, "import demo, plugin; print(demo.VALUE)").stdout.strip() == "2"


def test_a_dependency_that_requires_another_version_of_the_project_is_a_conflict_naming_it(tmp_path):
    project = _project(tmp_path, dependencies=("plugin",))
    build_index(tmp_path / "index", [make_wheel(tmp_path / "d", "plugin", "1.0", requires=["demo>=5"]),
                                     make_wheel(tmp_path / "d", "demo", "9.0"),
                                     make_wheel(tmp_path / "d", "buildhelper", "2.0")])
    result = _run(project, tmp_path, "lock")
    assert result.exit_code == 1
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "demo>=5" in result.output and "Traceback" not in result.output, result.output
    # Where demo comes from is said: the project's folder, not the index (which has a 9.0).
    assert f"  - demo is taken from {project}, at version 0.1.0, which is not >=5" in result.output.splitlines(), result.output


def test_a_lock_without_the_projects_build_environment_is_stale_for_that_reason_not_a_changed_pyproject(tmp_path):
    # As a lock written before sync installed the project, or before [build-system] was added.
    project = _project(tmp_path, tool="\n[tool.satlock]\npackage = false\n")
    assert _run(project, tmp_path, "lock").exit_code == 0
    pyproject = project / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace("package = false", ""))
    result = _run(project, tmp_path, "lock", "--check")
    assert result.exit_code == 1
    assert [line for line in result.output.splitlines() if line.startswith("error:")] == [
        f"error: {project / 'pylock.toml'} is out of date: it does not record the build environment of the project "
        "demo, which sync installs"], result.output


def test_no_build_is_refused_only_when_the_project_must_be_built(tmp_path):
    project = _project(tmp_path)
    assert _run(project, tmp_path, "sync").exit_code == 0
    # Installed and unchanged: nothing is built, as `uv sync --no-build` accepts it.
    again = _run(project, tmp_path, "sync", "--no-build")
    assert again.exit_code == 0 and "up to date" in again.output, again.output
    pyproject = project / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + "\n[project.scripts]\n")
    changed = _run(project, tmp_path, "sync", "--no-build")
    assert changed.exit_code == 1
    errors = [line for line in changed.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "--no-build: the project demo" in errors[0], changed.output


def _refers_to_buildhelper(project: Path) -> None:
    """The editable wheel names where the build found buildhelper, as meson-python's loader
    names the ninja it rebuilds with at each import."""
    backend = project / "_build" / "backend.py"
    backend.write_text(backend.read_text().replace(
        '{"_demo_editable.pth": os.path.abspath(".") + "\\n"}',
        '{"_demo_editable.pth": os.path.abspath(".") + "\\n",'
        ' "_demo_loader.py": "TOOL = " + repr(__import__("buildhelper").__file__) + "\\n"}'))


def test_an_editable_build_that_refers_to_its_isolated_build_environment_is_refused_as_that_goes_when_the_sync_ends(tmp_path):
    project = _project(tmp_path)
    _refers_to_buildhelper(project)
    result = _run(project, tmp_path, "sync")
    assert result.exit_code != 0
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "_demo_loader.py" in errors[0] and "build environment" in errors[0], result.output
    assert "--no-isolation" in result.output and "Traceback" not in result.output
    assert _dist_info(project, "demo") == []


def test_a_no_isolation_editable_build_may_refer_to_build_tools_in_the_venv_but_not_to_ones_from_outside_it(tmp_path):
    project = _project(tmp_path, tool='\n[tool.satlock.profiles.demo]\nisolation = false\n')
    _refers_to_buildhelper(project)
    result = _run(project, tmp_path, "sync")
    assert result.exit_code != 0
    assert "_demo_loader.py" in result.output and "dependency group" in result.output, result.output
    # With buildhelper in a dependency group, .venv holds it and the build uses that copy.
    pyproject = project / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + '\n[dependency-groups]\ndev = ["buildhelper"]\n')
    result = _run(project, tmp_path, "sync")
    assert result.exit_code == 0, result.output
    assert _python(project, "import _demo_loader, demo; print(demo.VALUE)").stdout.strip() == "1"


# A backend that reads the project's requirements from requirements.txt at build time, as
# setuptools does for ``dynamic = ["dependencies"]`` with [tool.setuptools.dynamic].
DYNAMIC_BACKEND = BACKEND.replace("def _wheel(", """def _requires():
    lines = [line.strip() for line in open("requirements.txt") if line.strip()]
    extra = [line.strip() for line in open("requirements-cli.txt") if line.strip()] if os.path.exists("requirements-cli.txt") else []
    return lines + [r + ' ; extra == "cli"' for r in extra], ["cli"] if extra else []

def _wheel(""").replace('"".join(\n        "Requires-Dist: " + r + "\\n" for r in REQUIRES)',
                        '"".join("Requires-Dist: " + r + "\\n" for r in _requires()[0]) + "".join("Provides-Extra: " + e + "\\n" for e in _requires()[1])')


def _dynamic_project(tmp_path: Path, dynamic: str = '["dependencies"]') -> Path:
    project = _project(tmp_path)
    pyproject = project / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('version = "0.1.0"', f'version = "0.1.0"\ndynamic = {dynamic}')
                         .replace('dependencies = ["helper"]\n', ''))
    backend = project / "_build" / "backend.py"
    backend.write_text(backend.read_text().split("\nimport base64", 1)[0] + "\n" + DYNAMIC_BACKEND)
    (project / "requirements.txt").write_text("helper\n")
    return project


def test_dynamic_dependencies_are_learned_from_a_build_of_the_project_as_uv_does(tmp_path):
    # setuptools reading them from requirements.txt: the lock held none of them before, and
    # the project's imports failed in .venv after a sync that said it installed it.
    assert 'Requires-Dist: " + r' in DYNAMIC_BACKEND  # the backend above really reads requirements.txt
    project = _dynamic_project(tmp_path)
    result = _run(project, tmp_path, "sync")
    assert result.exit_code == 0, result.output
    lock = tomllib.loads((project / "pylock.toml").read_text())
    assert [p["name"] for p in lock["packages"]] == ["helper"]
    assert _python(project, "import demo, helper").returncode == 0
    assert _run(project, tmp_path, "lock", "--check").exit_code == 0
    # requirements.txt gaining a requirement makes the lock stale, and says which files count.
    (project / "requirements.txt").write_text("helper\nbuildhelper\n")
    stale = _run(project, tmp_path, "lock", "--check")
    assert stale.exit_code == 1 and "requirements.txt" in stale.output, stale.output
    again = _run(project, tmp_path, "sync")
    assert again.exit_code == 0, again.output
    assert sorted(p["name"] for p in tomllib.loads((project / "pylock.toml").read_text())["packages"]) == ["buildhelper", "helper"]
    assert _python(project, "import buildhelper").returncode == 0


def test_dynamic_optional_dependencies_give_the_extras_a_build_of_the_project_provides(tmp_path):
    project = _dynamic_project(tmp_path, '["dependencies", "optional-dependencies"]')
    (project / "requirements-cli.txt").write_text("buildhelper<2\n")
    assert _run(project, tmp_path, "lock").exit_code == 0
    lock = tomllib.loads((project / "pylock.toml").read_text())
    assert lock["extras"] == ["cli"]
    markers = {p["name"]: p.get("marker") for p in lock["packages"]}
    assert markers == {"helper": None, "buildhelper": '"cli" in extras'}, markers
    result = _run(project, tmp_path, "sync", "--extra", "cli")
    assert result.exit_code == 0, result.output
    assert _python(project, "import buildhelper; print(buildhelper.__version__)").stdout.strip() == "1.0"


def test_dynamic_dependencies_of_a_project_that_is_no_package_are_one_error_line(tmp_path):
    project = _dynamic_project(tmp_path)
    pyproject = project / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + "\n[tool.satlock]\npackage = false\n")
    result = _run(project, tmp_path, "lock")
    assert result.exit_code != 0
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "dynamic" in errors[0] and "no package" in errors[0], result.output
    assert "Traceback" not in result.output and not (project / "pylock.toml").exists()


def test_a_dependency_group_naming_a_dynamic_extra_of_the_project_gets_that_extra(tmp_path):
    # dev = ["demo[cli]"] where the cli extra comes from a build of demo (uv resolves it so):
    # it was refused as naming an extra the project does not define.
    project = _dynamic_project(tmp_path, '["dependencies", "optional-dependencies"]')
    (project / "requirements-cli.txt").write_text("buildhelper<2\n")
    pyproject = project / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + '\n[dependency-groups]\ndev = ["demo[cli]"]\n')
    result = _run(project, tmp_path, "sync")
    assert result.exit_code == 0, result.output
    lock = tomllib.loads((project / "pylock.toml").read_text())
    markers = {p["name"]: p.get("marker") for p in lock["packages"]}
    assert markers == {"helper": None, "buildhelper": '"cli" in extras or "dev" in dependency_groups'}, markers
    assert _python(project, "import buildhelper; print(buildhelper.__version__)").stdout.strip() == "1.0"
    assert _run(project, tmp_path, "sync", "--no-default-groups").exit_code == 0
    assert _dist_info(project, "buildhelper") == []


@pytest.mark.parametrize("frozen", [False, True])
def test_an_extra_a_build_of_the_project_does_not_provide_is_a_typo_not_a_stale_lock(tmp_path, frozen):
    # sync --extra clii: the lock is current, and pyproject.toml declares no extras at all;
    # "although pyproject.toml declares it: the lock is out of date" sent the user to re-lock.
    project = _dynamic_project(tmp_path, '["dependencies", "optional-dependencies"]')
    (project / "requirements-cli.txt").write_text("buildhelper<2\n")
    assert _run(project, tmp_path, "lock").exit_code == 0
    result = _run(project, tmp_path, "sync", "--extra", "clii", *(["--frozen"] if frozen else []))
    assert result.exit_code != 0
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "'clii'" in errors[0] and "cli" in errors[0].replace("'clii'", ""), result.output
    assert "out of date" not in result.output and "declares it" not in result.output, result.output
    assert "Traceback" not in result.output


def test_a_dynamic_projects_backend_table_in_pyproject_makes_the_lock_stale_when_it_changes(tmp_path):
    # poetry-core 2 reads dynamic dependencies from [tool.poetry.dependencies]: a dependency
    # added there left `lock --check` saying current and sync installing without it, where
    # uv builds the project again when pyproject.toml changes and re-locks.
    project = _dynamic_project(tmp_path)
    (project / "requirements.txt").unlink()
    backend = project / "_build" / "backend.py"
    backend.write_text(backend.read_text().replace(
        'lines = [line.strip() for line in open("requirements.txt") if line.strip()]',
        'import tomllib; lines = list(tomllib.load(open("pyproject.toml", "rb"))["tool"]["poetry"]["dependencies"])'))
    pyproject = project / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + '\n[tool.poetry.dependencies]\nhelper = "*"\n')
    assert _run(project, tmp_path, "lock").exit_code == 0
    assert [p["name"] for p in tomllib.loads((project / "pylock.toml").read_text())["packages"]] == ["helper"]
    assert _run(project, tmp_path, "lock", "--check").exit_code == 0
    pyproject.write_text(pyproject.read_text() + 'buildhelper = "*"\n')
    stale = _run(project, tmp_path, "lock", "--check")
    assert stale.exit_code == 1 and "[tool.poetry]" in stale.output, stale.output
    assert _run(project, tmp_path, "sync").exit_code == 0
    assert _python(project, "import buildhelper").returncode == 0
    # Another tool's table is no input of the build: the lock stays current.
    pyproject.write_text(pyproject.read_text().replace("[tool.poetry.dependencies]", "[tool.ruff]\nline-length = 100\n\n[tool.poetry.dependencies]"))
    assert _run(project, tmp_path, "lock", "--check").exit_code == 0


def test_the_files_hatch_requirements_txt_reads_make_the_lock_stale_when_they_change(tmp_path):
    # [tool.hatch.metadata.hooks.requirements_txt] files = ["deps/base.in"]: an edit there was
    # not seen, where a file [tool.setuptools.dynamic] names is.
    project = _dynamic_project(tmp_path)
    (project / "deps").mkdir()
    (project / "requirements.txt").rename(project / "deps" / "base.in")
    backend = project / "_build" / "backend.py"
    backend.write_text(backend.read_text().replace('open("requirements.txt")', 'open("deps/base.in")'))
    pyproject = project / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + '\n[tool.hatch.metadata.hooks.requirements_txt]\nfiles = ["deps/base.in"]\n')
    assert _run(project, tmp_path, "lock").exit_code == 0
    assert _run(project, tmp_path, "lock", "--check").exit_code == 0
    (project / "deps" / "base.in").write_text("helper\nbuildhelper\n")
    stale = _run(project, tmp_path, "lock", "--check")
    assert stale.exit_code == 1 and "deps/base.in" in stale.output, stale.output


def test_an_editable_wheel_naming_a_sibling_of_the_build_environment_that_shares_its_prefix_is_not_refused(tmp_path):
    # The environment the sync removes is env; env-data (another folder, which stays) only
    # starts with the same characters: naming it is no reference to env.
    env = tmp_path / "env"
    env.mkdir()
    wheel = tmp_path / "demo-0.1.0-py3-none-any.whl"
    for named, refused in ((f"{env}-data", False), (f"{env}2/bin/ninja", False), (f"{env}/bin/ninja", True), (str(env), True)):
        with zipfile.ZipFile(wheel, "w") as zf:
            zf.writestr("_demo_loader.py", f"TOOL = {named!r}\n")
        if refused:
            with pytest.raises(BuildError):
                _refuse_dangling(wheel, "demo", [env], True)
        else:
            _refuse_dangling(wheel, "demo", [env], True)


def test_a_group_flag_naming_what_may_be_an_extra_a_build_provides_hints_the_extra_flag(tmp_path):
    # --group cli where cli is an extra from a build of the project: pyproject.toml declares
    # no extras for the mix-up hint to find, and "add it to [dependency-groups]" misled.
    project = _dynamic_project(tmp_path, '["dependencies", "optional-dependencies"]')
    (project / "requirements-cli.txt").write_text("buildhelper<2\n")
    result = _run(project, tmp_path, "sync", "--group", "cli")
    assert result.exit_code != 0
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "--group cli" in errors[0], result.output
    assert "--extra cli" in result.output, result.output


def test_a_lock_written_without_a_dynamic_projects_built_requirements_says_so_when_stale(tmp_path):
    # A lock from before satlock built the project for them (it read [project] only, and
    # locked none): "no digest of the local source demo" named no local source the user has.
    project = _dynamic_project(tmp_path)
    assert _run(project, tmp_path, "lock").exit_code == 0
    lock = project / "pylock.toml"
    text = lock.read_text()
    start = text.index("[tool.satlock.local-sources]")
    lock.write_text(text[:start] + text[text.index("\n\n", start) + 2:])
    stale = _run(project, tmp_path, "lock", "--check")
    assert stale.exit_code == 1 and "local source" not in stale.output, stale.output
    assert "requirements a build of the project" in stale.output, stale.output
