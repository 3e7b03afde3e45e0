"""A path source declared ``editable = true`` is installed as a PEP 660 editable wheel: the
environment imports the folder itself, so an edit shows without another sync."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from typer.testing import CliRunner

from indexbuilder import build_index, make_wheel, project_toml
from satlock.cli.main import app

runner = CliRunner()

# An in-tree backend: build_wheel copies the module, build_editable writes a .pth that puts
# the folder on sys.path (what setuptools and hatchling do for a flat layout).
BACKEND = '''
import base64, hashlib, os, zipfile

META = "Metadata-Version: 2.1\\nName: edpkg\\nVersion: 0.1\\n"
WHEEL = "Wheel-Version: 1.0\\nGenerator: test\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n"
NAME = "edpkg-0.1-py3-none-any.whl"

def _wheel(directory, members):
    info = "edpkg-0.1.dist-info"
    members = {**members, info + "/METADATA": META, info + "/WHEEL": WHEEL}
    with zipfile.ZipFile(os.path.join(directory, NAME), "w") as zf:
        for name, text in members.items():
            zf.writestr(name, text)
        rows = []
        for name, text in members.items():
            digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
            rows.append(f"{name},sha256={digest},{len(text.encode())}\\n")
        zf.writestr(info + "/RECORD", "".join(rows) + info + "/RECORD,,\\n")
    return NAME

def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    with open("edpkg.py") as f:
        return _wheel(wheel_directory, {"edpkg.py": f.read()})
{editable}
'''
EDITABLE_HOOK = '''
def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    return _wheel(wheel_directory, {"_edpkg_editable.pth": os.path.abspath(".") + "\\n"})
'''


def _project(tmp_path: Path, *, editable_hook: bool, editable: bool = True) -> Path:
    folder = tmp_path / "edpkg"
    (folder / "_build").mkdir(parents=True)
    (folder / "pyproject.toml").write_text('[project]\nname = "edpkg"\nversion = "0.1"\n\n[build-system]\nrequires = []\n'
                                           'build-backend = "backend"\nbackend-path = ["_build"]\n')
    (folder / "_build" / "backend.py").write_text(BACKEND.replace("{editable}", EDITABLE_HOOK if editable_hook else ""))
    (folder / "edpkg.py").write_text("VALUE = 1\n")
    project = tmp_path / "p"
    project.mkdir()
    (project / "pyproject.toml").write_text(project_toml(["edpkg"]) + '\n[tool.satlock.sources]\nedpkg = { path = "../edpkg"'
                                            + (', editable = true' if editable else '') + ' }\n')
    build_index(tmp_path / "index", [make_wheel(tmp_path / "d", "helper", "1.0")])
    return project


def _sync(project: Path, tmp_path: Path):
    return runner.invoke(app, ["sync", "--project", str(project), "--index-url", (tmp_path / "index" / "simple").as_uri(),
                               "--cache-dir", str(tmp_path / "cache")])


def _value(project: Path) -> str:
    return subprocess.run([str(project / ".venv" / "bin" / "python"), "-c", "import edpkg; print(edpkg.VALUE)"],
                          capture_output=True, text=True, check=True).stdout.strip()


def test_an_editable_path_source_imports_the_folder_so_edits_show_without_a_sync(tmp_path):
    project = _project(tmp_path, editable_hook=True)
    result = _sync(project, tmp_path)
    assert result.exit_code == 0, result.output
    assert _value(project) == "1"
    (tmp_path / "edpkg" / "edpkg.py").write_text("VALUE = 2\n")
    assert _value(project) == "2"
    [info] = (project / ".venv").glob("lib/python*/site-packages/edpkg-0.1.dist-info")
    direct = json.loads((info / "direct_url.json").read_text())
    assert direct == {"url": (tmp_path / "edpkg").resolve().as_uri(), "dir_info": {"editable": True}}
    again = _sync(project, tmp_path)
    assert again.exit_code == 0 and "up to date" in again.output


def test_an_editable_source_whose_backend_has_no_pep660_hook_is_one_line(tmp_path):
    project = _project(tmp_path, editable_hook=False)
    result = _sync(project, tmp_path)
    assert result.exit_code == 1
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "cannot make an editable install" in errors[0], result.output
    assert "Traceback" not in result.output


def test_an_editable_build_gets_what_get_requires_for_build_editable_asks_for(tmp_path):
    """hatchling asks for ``editables`` only for an editable build: the build environment
    gets it, from the project's index, although the lock recorded the wheel build's only."""
    project = _project(tmp_path, editable_hook=True)
    backend = tmp_path / "edpkg" / "_build" / "backend.py"
    backend.write_text(backend.read_text().replace(
        "def build_editable(", "def get_requires_for_build_editable(config_settings=None):\n    return ['edhelper']\n\n"
                               "def build_editable(").replace(
        'return _wheel(wheel_directory, {"_edpkg_editable.pth"', 'import edhelper\n    return _wheel(wheel_directory, {"_edpkg_editable.pth"'))
    build_index(tmp_path / "index", [make_wheel(tmp_path / "dists", "edhelper", "1.0")])
    result = _sync(project, tmp_path)
    assert result.exit_code == 0, result.output
    (tmp_path / "edpkg" / "edpkg.py").write_text("VALUE = 3\n")
    assert _value(project) == "3"


def test_a_plain_path_source_whose_pyproject_changed_is_built_and_installed_again(tmp_path):
    # Not editable: .venv holds a wheel built from the folder. Its pyproject.toml gaining a
    # dependency makes the lock stale; the sync that locks again must also replace the
    # package, whose installed metadata (and code) is from before the change, as uv does
    # for a path dependency whose pyproject.toml changed.
    project = _project(tmp_path, editable_hook=False, editable=False)
    assert _sync(project, tmp_path).exit_code == 0
    assert _value(project) == "1"
    folder = tmp_path / "edpkg"
    (folder / "edpkg.py").write_text("VALUE = 2\n")
    pyproject = folder / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('version = "0.1"', 'version = "0.1"\ndependencies = ["helper"]'))
    result = _sync(project, tmp_path)
    assert result.exit_code == 0, result.output
    assert _value(project) == "2"
    again = _sync(project, tmp_path)
    assert again.exit_code == 0 and "up to date" in again.output, again.output
