"""pylock.toml text written directly, byte for byte as ``tomlkit`` writes the same data.

A lock of two hundred packages took ``tomlkit`` about 0.15 s of CPU to write (it builds a
document of formatting-preserving items first), a few percent of a whole cold lock. Locks
are plain data, so they are written here by the same rules tomlkit applies to a document
built from dicts: a table's plain keys first, then its tables and arrays of tables, a
table holding only tables gets no header of its own, and every header follows a blank
line. Anything outside what a lock holds (a float, a key that needs quotes, a string with
a control character, a datetime with an offset other than UTC, a table before any plain
key of a table that has plain keys, an element of an array of tables without plain keys)
is ``Unsupported``, and the caller writes that lock with tomlkit instead.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any, Mapping

__all__ = ["Unsupported", "document"]

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_PLAIN_TEXT = re.compile(r"[^\x00-\x1f\x7f]*")


class Unsupported(Exception):
    """The data holds something this writer does not reproduce exactly."""


def document(comment: str, data: Mapping[str, Any]) -> str:
    """``# comment`` then ``data`` as TOML."""
    if "\n" in comment or "\r" in comment:
        raise Unsupported("multi-line comment")
    out = [f"# {comment}\n"]
    if not _body(out, (), data):
        raise Unsupported("a document without plain keys")
    return "".join(out)


def _is_table(value: Any) -> bool:
    return isinstance(value, Mapping)


def _is_array_of_tables(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, Mapping) for v in value)


def _body(out: list[str], path: tuple[str, ...], table: Mapping[str, Any], *, element: bool = False) -> bool:
    """The plain keys of ``table``, then its tables and arrays of tables in their order (in
    an element of an array of tables: its arrays first, then its tables, as tomlkit does);
    whether it had plain keys."""
    plain = False
    nesting = False
    for key, value in table.items():
        if _is_table(value) or _is_array_of_tables(value):
            nesting = True
        elif nesting and not plain:
            # tomlkit's blank lines then depend on the order: its first table is written
            # right under the header
            raise Unsupported("a plain key after a table, none before")
        else:
            out.append(f"{_key(key)} = {_value(value)}\n")
            plain = True
    if element and not plain:
        raise Unsupported("an element of an array of tables without plain keys")
    nested = list(table.items())
    if element:
        nested.sort(key=lambda kv: not _is_array_of_tables(kv[1]))  # stable: order kept within each kind
    for key, value in nested:
        if _is_table(value):
            _table(out, (*path, _key(key)), value)
        elif _is_array_of_tables(value):
            for item in value:
                out.append(f"\n[[{'.'.join((*path, _key(key)))}]]\n")
                _body(out, (*path, _key(key)), item, element=True)
    return plain


def _table(out: list[str], path: tuple[str, ...], table: Mapping[str, Any]) -> None:
    if table and all(_is_table(v) or _is_array_of_tables(v) for v in table.values()):
        _body(out, path, table)  # a table of tables only: tomlkit writes no header for it
        return
    out.append(f"\n[{'.'.join(path)}]\n")
    _body(out, path, table)


def _key(key: Any) -> str:
    if not isinstance(key, str) or not _BARE_KEY.fullmatch(key):
        raise Unsupported(f"key {key!r}")
    return key


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        if not _PLAIN_TEXT.fullmatch(value):
            raise Unsupported("a control character")
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, datetime):
        if value.tzinfo is None:
            return value.isoformat()
        if value.utcoffset() == timedelta(0):
            return value.replace(tzinfo=None).isoformat() + "Z"
        raise Unsupported("a datetime with an offset")
    if isinstance(value, list):
        if any(isinstance(v, (Mapping, list)) for v in value):
            raise Unsupported("a nested array")
        return "[" + ", ".join(_value(v) for v in value) + "]"
    raise Unsupported(f"a {type(value).__name__}")
