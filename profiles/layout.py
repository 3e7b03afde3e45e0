"""Where a profile's table lies in the text of pyproject.toml, for edits made as text.

profiles/edit.py splices tables in and out as lines, so every byte outside them stays as
it was; this module finds the lines: the ``[table]`` headers, a profile's span with the
comments right above it, and where a new table goes (after the last ``[tool.satlock...]``
table's content, before the comments that belong to whatever table follows).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import tomlkit
from tomlkit.exceptions import TOMLKitError
from tomlkit.items import InlineTable

PROFILES_PATH = ("tool", "satlock", "profiles")
# A ``[table]`` or ``[[array of tables]]`` header: either ends the table above it.
_HEADER = re.compile(r"^\s*\[\[?\s*[^\[\]\s#]")


def _header_path(line: str) -> tuple[str, ...] | None:
    """The key path of a ``[table]`` or ``[[array]]`` header line, or None for anything else."""
    if not _HEADER.match(line):
        return None
    try:
        node: Any = tomlkit.parse(line).unwrap()
    except TOMLKitError:
        return None
    path: list[str] = []
    while isinstance(node, dict) and len(node) == 1:
        key = next(iter(node))
        path.append(key)
        node = node[key]
    return tuple(path)


def _headers(lines: list[str]) -> list[tuple[int, tuple[str, ...]]]:
    return [(i, p) for i, line in enumerate(lines) if (p := _header_path(line)) is not None]


def _is_filler(line: str) -> bool:
    stripped = line.strip()
    return not stripped or stripped.startswith("#")


def _content_end(lines: list[str], start: int, stop: int) -> int:
    """One past the last line of the section ``[start, stop)`` that is not blank or a comment."""
    end = stop
    while end > start + 1 and _is_filler(lines[end - 1]):
        end -= 1
    return end


def render(name: str, table: Any) -> str:
    """Profile ``name`` as its own ``[tool.satlock.profiles.NAME]`` table, for a file that has
    none yet or to show one written otherwise (dotted keys, sub-tables apart): a sub-table
    that is not inline gets its full header, so the text reads back as the profile."""
    body = tomlkit.table()
    for key, value in table.items():
        body[key] = value.unwrap() if isinstance(value, Mapping) and not isinstance(value, InlineTable) else value
    return tomlkit.dumps({"tool": {"satlock": {"profiles": {name: body}}}})


def insert_as_text(text: str, name: str, table: Any) -> str:
    """``text`` with the new profile table spliced in after the last ``[tool.satlock...]``
    table's content (or at the end), leaving the comments that open the next table with it."""
    lines = text.splitlines(keepends=True)
    headers = _headers(lines)
    ours = [n for n, (_, path) in enumerate(headers) if path[:2] == PROFILES_PATH[:2]]
    block = render(name, table)
    if ours:
        n = ours[-1]
        stop = headers[n + 1][0] if n + 1 < len(headers) else len(lines)
        at = _content_end(lines, headers[n][0], stop)
    else:
        at = len(lines)
    before = "".join(lines[:at])
    if before and not before.endswith("\n"):
        before += "\n"
    separator = "\n" if before else ""
    return before + separator + block + "".join(lines[at:])


def profile_span(text: str, key: str) -> tuple[list[str], int, int] | None:
    """The lines of ``text`` and the span [start, end) holding profile ``key``: its
    comments right above the header, the header, its sub-tables, up to the last line
    that is not filler. None when the profile is not a plain contiguous table."""
    lines = text.splitlines(keepends=True)
    headers = _headers(lines)
    path = PROFILES_PATH + (key,)
    mine = [n for n, (_, p) in enumerate(headers) if p[:len(path)] == path]
    if not mine or mine != list(range(mine[0], mine[-1] + 1)):
        return None
    start = headers[mine[0]][0]
    stop = headers[mine[-1] + 1][0] if mine[-1] + 1 < len(headers) else len(lines)
    end = _content_end(lines, headers[mine[-1]][0], stop)
    while start > 0 and lines[start - 1].strip().startswith("#"):
        start -= 1
    return lines, start, end
