"""Finding a project's ``pyproject.toml``: the one place that says where it is and what
the error is when it is missing, for the commands that read it and those that edit it."""

from __future__ import annotations

from pathlib import Path

from satlock.errors import ProjectError


def find_pyproject(start: Path) -> Path:
    """``start/pyproject.toml``; a clear error when there is none."""
    path = start / "pyproject.toml"
    if not path.is_file():
        raise ProjectError(f"no pyproject.toml in {start}", hint="run satlock in a project folder or pass --project DIR")
    return path
