"""The few tests that talk to the real default index (marked ``network``; CI runs them too)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from packaging.pylock import Pylock
from typer.testing import CliRunner

from satlock.cli.main import app
from satlock.resolver.lockfile import read_lock

pytestmark = pytest.mark.network


def _project(tmp_path: Path, deps: list[str]) -> Path:
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "real"\nversion = "0.1"\nrequires-python = ">=3.10"\ndependencies = [%s]\n'
        % ", ".join(f'"{d}"' for d in deps))
    return tmp_path


@pytest.mark.parametrize("deps", [["requests"], ["black"], ["rich[jupyter]"]], ids=["requests", "black", "rich-jupyter"])
def test_locks_real_projects_from_the_default_index(tmp_path: Path, deps: list[str]) -> None:
    project = _project(tmp_path, deps)
    result = CliRunner().invoke(app, ["lock", "--project", str(project)])
    assert result.exit_code == 0, result.output
    lock = read_lock(project / "pylock.toml")
    names = {p.name for p in lock.packages}
    assert deps[0].split("[")[0] in names
    if deps == ["rich[jupyter]"]:
        assert "ipywidgets" in names
    selected = list(lock.select())
    assert all(p.wheels or p.sdist for p, _ in selected)


def test_second_lock_is_served_from_the_cache_offline(tmp_path: Path) -> None:
    project = _project(tmp_path, ["requests"])
    runner = CliRunner()
    assert runner.invoke(app, ["lock", "--project", str(project)]).exit_code == 0
    first = (project / "pylock.toml").read_bytes()
    (project / "pylock.toml").unlink()
    result = runner.invoke(app, ["lock", "--project", str(project), "--offline"])
    assert result.exit_code == 0, result.output
    assert (project / "pylock.toml").read_bytes() == first


def test_sync_installs_a_real_project_that_its_venv_can_import(tmp_path: Path) -> None:
    project = _project(tmp_path, ["requests", "rich"])
    result = CliRunner().invoke(app, ["sync", "--project", str(project)])
    assert result.exit_code == 0, result.output
    python = project / ".venv" / "bin" / "python"
    out = subprocess.run([str(python), "-c", "import requests, rich; print(requests.__version__)"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip()
    listed = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "list"], capture_output=True, text=True)
    assert "requests" in listed.stdout
    assert isinstance(read_lock(project / "pylock.toml"), Pylock)
