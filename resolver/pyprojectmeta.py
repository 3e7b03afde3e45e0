"""Static metadata from a source tree's ``pyproject.toml`` (PEP 621), read without a build.

A ``[project]`` table that gives the name and the version, and does not list the version,
``dependencies``, ``optional-dependencies`` or ``requires-python`` in ``dynamic``, states
exactly what the built metadata will say about them: PEP 621 forbids a backend to change
a field that is not dynamic. So those fields are used as they are, as uv does, and no
build backend runs (an sdist whose backend fetches from the network, or no longer runs,
still locks). Anything else (no ``[project]``, a dynamic field, invalid TOML or an invalid
requirement) answers ``None``, and the caller builds as before.

The file comes from an archive or a checkout, so it is untrusted: it is size-limited,
parsed with ``tomllib``, and every value is checked by ``packaging`` before use.
"""

from __future__ import annotations

import tomllib
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import InvalidName, NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

from satlock.numbers import overlong_number_line
from satlock.resolver.provider import Dependencies

# A pyproject.toml is a few kilobytes; a bigger one is not worth parsing.
MAX_PYPROJECT_BYTES = 1 << 20
# The fields a lock needs; any of them declared dynamic means only a build can tell.
_NEEDED = {"version", "dependencies", "optional-dependencies", "requires-python"}


def static_metadata(data: bytes) -> tuple[NormalizedName, Version, Dependencies] | None:
    """Name, version and dependencies from ``pyproject.toml`` text, when PEP 621 makes them static."""
    if len(data) > MAX_PYPROJECT_BYTES:
        return None
    try:
        text = data.decode("utf-8")
        if overlong_number_line(text) is not None:
            return None  # the build reads it and says what is wrong
        document = tomllib.loads(text)
    except (UnicodeDecodeError, tomllib.TOMLDecodeError, RecursionError):
        # RecursionError: a hostile file nests arrays thousands deep.
        return None
    project = document.get("project")
    if not isinstance(project, dict):
        return None
    dynamic = project.get("dynamic", [])
    if not isinstance(dynamic, list) or not all(isinstance(d, str) for d in dynamic) or _NEEDED & set(dynamic):
        return None
    try:
        name = canonicalize_name(_string(project, "name"), validate=True)
        version = Version(_string(project, "version"))
        rp_text = project.get("requires-python")
        requires_python = SpecifierSet(rp_text) if isinstance(rp_text, str) else None
        if rp_text is not None and requires_python is None:
            return None
        requires = [Requirement(r) for r in _strings(project.get("dependencies", []))]
        optional = project.get("optional-dependencies", {})
        if not isinstance(optional, dict):
            return None
        extras: set[NormalizedName] = set()
        for extra, reqs in optional.items():
            extra_name = canonicalize_name(extra, validate=True)
            extras.add(extra_name)
            requires += [_with_extra(Requirement(r), extra_name) for r in _strings(reqs)]
    except (_NotStatic, InvalidName, InvalidVersion, InvalidSpecifier, InvalidRequirement):
        return None
    return name, version, Dependencies(tuple(requires), requires_python, frozenset(extras))


class _NotStatic(Exception):
    """A field has the wrong type: leave it to the build, which will say what is wrong."""


def _string(table: dict[str, Any], key: str) -> str:
    value = table.get(key)
    if not isinstance(value, str) or not value:
        raise _NotStatic(key)
    return value


def _strings(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _NotStatic("a list of strings")
    return value


def _with_extra(req: Requirement, extra: NormalizedName) -> Requirement:
    """``req`` as core metadata writes an optional dependency: guarded by ``extra == '...'``."""
    condition = f'extra == "{extra}"'
    marker = f"({req.marker}) and {condition}" if req.marker is not None else condition
    req.marker = Requirement(f"x; {marker}").marker
    return req
