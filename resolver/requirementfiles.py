"""Where a build of a project with dynamic requirements (``dependencies`` or
``optional-dependencies`` in ``project.dynamic``) reads them from: the files and the tables
of pyproject.toml whose change makes its lock stale (resolver/project.py keeps them on the
``Project``; resolver/directrefs.py digests them into the lock's ``local-sources``)."""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any


# The [tool] tables build backends read a project's dynamic requirements from: setuptools'
# [tool.setuptools.dynamic], poetry-core's [tool.poetry.dependencies] and extras, hatchling's
# metadata hooks (hatch-requirements-txt). Other tools' tables ([tool.ruff]) are no input of
# the build, and editing them leaves the lock current.
REQUIREMENT_TABLES = (("setuptools",), ("poetry",), ("hatch", "metadata"))


def requirement_tables(tools: dict[str, Any]) -> dict[str, Any]:
    """The ``REQUIREMENT_TABLES`` pyproject.toml has, by dotted name (``tool.poetry``)."""
    tables = {".".join(("tool", *path)): _table(tools, *path) for path in REQUIREMENT_TABLES}
    return {name: table for name, table in tables.items() if table}


# The folders, relative to the project's root, whose requirements files ``requirement_files``
# finds by listing them: a file appearing there changes the lock's digest of them, so the
# remembered "up to date" (cli/uptodate.py) watches these folders too.
REQUIREMENT_FOLDERS = (".", "requirements")


def requirement_files(tools: dict[str, Any], root: Path) -> tuple[str, ...]:
    """The files a build of the project may read its requirements from: setup.py, setup.cfg,
    ``requirements*.txt`` at the root and ``*.txt`` in ``requirements/`` (``REQUIREMENT_FOLDERS``),
    and the files ``[tool.setuptools.dynamic]`` and hatch-requirements-txt's
    ``[tool.hatch.metadata.hooks.requirements_txt]`` name. A change to one makes the lock stale."""
    named = {"setup.py", "setup.cfg"}
    named.update(p.name for p in root.glob("requirements*.txt"))
    named.update(f"requirements/{p.name}" for p in root.glob("requirements/*.txt"))
    listed: list[Any] = []
    table = _table(tools, "setuptools", "dynamic")
    optional = _table(table, "optional-dependencies")
    for spec in [table.get("dependencies"), *optional.values()]:
        files = spec.get("file") if isinstance(spec, dict) else None
        listed += [files] if isinstance(files, str) else files if isinstance(files, list) else []
    hook = _table(tools, "hatch", "metadata", "hooks", "requirements_txt")
    for files in [hook.get("files"), *_table(hook, "optional-dependencies").values()]:
        listed += files if isinstance(files, list) else []
    for name in listed:
        if isinstance(name, str) and name and not PurePosixPath(name).is_absolute() and ".." not in PurePosixPath(name).parts:
            named.add(PurePosixPath(name).as_posix())
    return tuple(sorted(named))


def _table(data: Any, *keys: str) -> dict[str, Any]:
    """``data[keys[0]][keys[1]]...`` where each is a table, else an empty one: a shape the
    backend would refuse is its error to give at the build, not this lookup's."""
    for key in keys:
        data = data.get(key) if isinstance(data, dict) else None
    return data if isinstance(data, dict) else {}
