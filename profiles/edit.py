"""Adding, changing and removing profiles in pyproject.toml without disturbing the rest.

People keep comments, blank lines and their own key order in pyproject.toml, so every
edit here leaves all bytes outside the profile's table as they were. A new table is
spliced in as text next to the other ``[tool.satlock...]`` tables (tomlkit alone would
put it after the next table's leading comment); each textual edit is checked by parsing
the result, and tomlkit's own edit is the fallback when a file is laid out unusually.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Callable, Concatenate, Iterable, Mapping, ParamSpec

import tomlkit
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import NormalizedName, canonicalize_name
from tomlkit.exceptions import TOMLKitError
from tomlkit.items import InlineTable, Table

from satlock.atomic import write_atomic
from satlock.errors import ProfileError, ProjectError
from satlock.profiles.layout import PROFILES_PATH, insert_as_text, profile_span, render
from satlock.profiles.schema import Profile, parse_profile, parse_profiles



def _parse(text: str, source: str) -> tomlkit.TOMLDocument:
    try:
        return tomlkit.parse(text)
    except TOMLKitError as e:
        raise ProjectError(f"{source} is not valid TOML: {e}") from None


def _normalize(name: str) -> NormalizedName:
    try:
        return canonicalize_name(name, validate=True)
    except ValueError:
        raise ProfileError(f"{name!r} is not a valid package name", hint="name the profile after the package it builds") from None


def _profiles_table(doc: Any) -> Any | None:
    node = doc
    for key in PROFILES_PATH:
        if not hasattr(node, "get"):
            return None
        node = node.get(key)
        if node is None:
            return None
    return node


def _checked_profiles(doc: Any, source: str) -> Any | None:
    """The profiles table, or None when the file has none; one that is not a table, or a
    ``tool`` or ``tool.satlock`` that is not, is one error line before anything walks it."""
    node = doc
    for depth, key in enumerate(PROFILES_PATH[:-1]):
        node = node.get(key)
        if node is None:
            return None
        if not isinstance(node, Mapping):
            raise ProfileError(f"{source}: [{'.'.join(PROFILES_PATH[:depth + 1])}] must be a table, "
                               f"not {type(node.unwrap()).__name__}")
    profiles = _profiles_table(doc)
    if profiles is not None and not isinstance(profiles, Mapping):
        parse_profiles(profiles, source=source)
    return profiles


def _find(doc: Any, name: NormalizedName, source: str) -> tuple[str | None, Any]:
    """The key as written and the table of profile ``name``, or (None, None)."""
    profiles = _checked_profiles(doc, source)
    if profiles is None:
        return None, None
    for key, value in profiles.items():
        if canonicalize_name(key) == name:
            return key, value
    return None, None


def _requirement_key(text: str) -> tuple[str, str]:
    try:
        req = Requirement(text)
    except InvalidRequirement:
        return (text, "")
    return (canonicalize_name(req.name), str(req.marker or ""))


def _merge_requirements(existing: Any, new: Iterable[str]) -> None:
    """Merge ``new`` into the array ``existing``: the requirements ``new`` gives for a package
    (and marker) replace every one ``existing`` has for it, where the first of those stood,
    and are appended where it has none. All of one call are kept: ``--build-requires
    'torch>=2' --build-requires 'torch<3'`` is both bounds, as pip reads two lines."""
    given: dict[tuple[str, str], list[str]] = {}
    for req in new:
        same = given.setdefault(_requirement_key(req), [])
        if req not in same:  # one given twice is written once
            same.append(req)
    for key, reqs in given.items():
        places = [i for i, old in enumerate(existing) if _requirement_key(str(old)) == key]
        if [str(existing[i]) for i in places] == reqs:
            continue  # already as given: the array's formatting stays
        for i, req in zip(places, reqs):
            if str(existing[i]) != req:
                existing[i] = req  # in place, so the array keeps its formatting
        for i in reversed(places[len(reqs):]):
            del existing[i]
        if len(reqs) > len(places):
            at = places[-1] + 1 if places else len(existing)
            for offset, req in enumerate(reqs[len(places):]):
                existing.insert(at + offset, req)


def _set_in_table(table: Any, values: Mapping[str, Any]) -> None:
    """Set keys of ``table``, adding new keys before the comments and blank lines that
    end it (those belong to whatever table follows)."""
    trailing: list[Any] = []
    body = table.value.body if isinstance(table, Table) else None
    if body is not None:
        while body and body[-1][0] is None:
            trailing.insert(0, body.pop())
    for key, value in values.items():
        table[key] = value
    if body is not None:
        body.extend(trailing)


def _inline(mapping: Mapping[str, Any]) -> Any:
    table = tomlkit.inline_table()
    for key, value in mapping.items():
        table[key] = list(value) if isinstance(value, (list, tuple)) else value
    return table


def _update_mapping(table: Any, key: str, values: Mapping[str, Any], pending: dict[str, Any]) -> None:
    if not values:
        return
    if key in table and isinstance(table[key], InlineTable):
        table[key] = _inline({**table[key].unwrap(), **values})
    elif key in table:
        _set_in_table(table[key], {k: list(v) if isinstance(v, (list, tuple)) else v for k, v in values.items()})
    else:
        pending[key] = _inline(values)


def _editable(key: str, table: Any, source: str) -> Any:
    """``table``, once the values an edit reads or merges into have the shapes it relies on
    (a table, arrays of requirements, tables of env and config-settings); any other shape is
    invalid, so the schema names it in one line."""
    def shaped(node: Any, arrays: tuple[str, ...], tables: tuple[str, ...]) -> bool:
        return (isinstance(node, Mapping)
                and all(isinstance(node[k], list) for k in arrays if k in node)
                and all(isinstance(node[k], Mapping) for k in tables if k in node))

    if not (shaped(table, ("build-requires",), ("env", "config-settings", "metadata"))
            and shaped(table.get("metadata", {}), ("requires-dist",), ())):
        parse_profile(key, table, source=source)
    return table


def _update(table: Any, *, build_requires: Iterable[str], env: Mapping[str, str], isolation: bool | None,
            match_runtime: bool | None, config_settings: Mapping[str, Any], requires_dist: Iterable[str],
            version: str | None, requires_python: str | None) -> None:
    pending: dict[str, Any] = {}
    build_requires = list(build_requires)
    if build_requires:
        if "build-requires" in table:
            _merge_requirements(table["build-requires"], build_requires)
        else:
            pending["build-requires"] = _merge_into_new(build_requires)
    if match_runtime is not None:
        pending["match-runtime"] = match_runtime
    if isolation is not None:
        pending["isolation"] = isolation
    _update_mapping(table, "env", env, pending)
    _update_mapping(table, "config-settings", config_settings, pending)
    meta: dict[str, Any] = {}
    if version is not None:
        meta["version"] = version
    if requires_python is not None:
        meta["requires-python"] = requires_python
    requires_dist = list(requires_dist)
    if "metadata" in table:
        if requires_dist:
            if "requires-dist" in table["metadata"]:
                _merge_requirements(table["metadata"]["requires-dist"], requires_dist)
            else:
                meta["requires-dist"] = _merge_into_new(requires_dist)
        if isinstance(table["metadata"], InlineTable):
            table["metadata"] = _inline({**table["metadata"].unwrap(), **meta})
        else:
            _set_in_table(table["metadata"], meta)
    elif meta or requires_dist:
        if requires_dist:
            meta["requires-dist"] = _merge_into_new(requires_dist)
        pending["metadata"] = _inline(meta)
    for key in ("match-runtime", "isolation"):
        if key in pending and key in table:
            table[key] = pending.pop(key)
    _set_in_table(table, pending)


def _merge_into_new(requirements: list[str]) -> Any:
    array = tomlkit.array()
    _merge_requirements(array, requirements)
    return array


def _same(text: str, expected: Any) -> bool:
    try:
        return tomlkit.parse(text).unwrap() == expected
    except TOMLKitError:
        return False


def _validated(text: str, source: str) -> str:
    doc = _parse(text, source)
    profiles = _profiles_table(doc)
    if profiles is not None:
        parse_profiles(profiles, source=source)
    return text


P = ParamSpec("P")


def _keeps_line_endings(edit: Callable[Concatenate[str, P], str]) -> Callable[Concatenate[str, P], str]:
    """``edit`` of a file whose lines all end in CRLF (written on Windows) made on its LF
    form and the result given CRLF again, so the lines the edit writes match the file's
    and every other byte stays as it was. A file mixing both is edited as it is."""
    @functools.wraps(edit)
    def wrapper(pyproject_text: str, /, *args: P.args, **kwargs: P.kwargs) -> str:
        crlf = pyproject_text.count("\r\n")
        if not crlf or crlf != pyproject_text.count("\n"):
            return edit(pyproject_text, *args, **kwargs)
        return edit(pyproject_text.replace("\r\n", "\n"), *args, **kwargs).replace("\n", "\r\n")

    return wrapper


@_keeps_line_endings
def add_profile(pyproject_text: str, name: str, *, build_requires: Iterable[str] = (),
                env: Mapping[str, str] = {}, isolation: bool | None = None,
                match_runtime: bool | None = None, config_settings: Mapping[str, str | list[str]] = {},
                requires_dist: Iterable[str] = (), version: str | None = None,
                requires_python: str | None = None, source: str = "pyproject.toml") -> str:
    """``pyproject_text`` with profile ``name`` created, or updated by merging: requirements
    appended (one for an already listed package replaces it), env and config-settings
    keys set, flags set. Raises ProfileError, and changes nothing, when the result is
    not a valid profile."""
    normalized = _normalize(name)
    doc = _parse(pyproject_text, source)
    changes = dict(build_requires=build_requires, env=env, isolation=isolation, match_runtime=match_runtime,
                   config_settings=config_settings, requires_dist=requires_dist, version=version,
                   requires_python=requires_python)
    key, table = _find(doc, normalized, source)
    if key is not None:
        _update(_editable(key, table, source), **changes)
        return _validated(doc.as_string(), source)
    new = tomlkit.table()
    _update(new, **changes)
    expected = doc.unwrap()
    node = expected
    for part in PROFILES_PATH:
        node = node.setdefault(part, {}) if isinstance(node, dict) else None
    if isinstance(node, dict):
        node[normalized] = new.unwrap()
        text = insert_as_text(pyproject_text, normalized, new)
        if _same(text, expected):
            return _validated(text, source)
    return _validated(_add_with_tomlkit(doc, normalized, new, source), source)


def _add_with_tomlkit(doc: Any, name: str, table: Any, source: str) -> str:
    node = doc
    try:
        for part in PROFILES_PATH:
            if part not in node:
                node.add(part, tomlkit.inline_table() if isinstance(node, InlineTable) else tomlkit.table(is_super_table=True))
            node = node[part]
        node.add(name, _inline(table.unwrap()) if isinstance(node, InlineTable) else table)
    except (TOMLKitError, ValueError, TypeError) as e:
        raise ProfileError(f"cannot add [tool.satlock.profiles.{name}] to {source}: {e}",
                           hint=f"add the table to {source} by hand") from None
    return doc.as_string()


def _existing(pyproject_text: str, name: str, source: str) -> tuple[tomlkit.TOMLDocument, str, Any]:
    """The parsed file, and the key and table of profile ``name`` in it; an error naming the
    profiles there are if it has none."""
    normalized = _normalize(name)
    doc = _parse(pyproject_text, source)
    key, table = _find(doc, normalized, source)
    if key is None:
        raise ProfileError(f"{source} has no profile {normalized!r}", hint=_known_hint(doc))
    return doc, key, table


@_keeps_line_endings
def remove_profile(pyproject_text: str, name: str, *, source: str = "pyproject.toml") -> str:
    """``pyproject_text`` without profile ``name`` (and the comments right above it)."""
    doc, key, _table = _existing(pyproject_text, name, source)
    expected = doc.unwrap()
    del _profiles_dict(expected)[key]
    span = profile_span(pyproject_text, key)
    if span is not None:
        lines, start, end = span
        if start > 0 and not lines[start - 1].strip():
            start -= 1
        elif end < len(lines) and not lines[end].strip():
            end += 1
        text = "".join(lines[:start] + lines[end:])
        if _same_but_empty_parents(text, expected):
            return text
    del _profiles_table(doc)[key]
    return doc.as_string()


def _without_empty_parents(plain: dict[str, Any]) -> dict[str, Any]:
    """``plain`` without ``tool.satlock.profiles``, then ``tool.satlock``, then ``tool``
    while each is empty: the last profile's header is all that made them when no other
    header names them, and removing its text removes them too."""
    for depth in range(len(PROFILES_PATH), 0, -1):
        parent: Any = plain
        for part in PROFILES_PATH[:depth - 1]:
            parent = parent.get(part) if isinstance(parent, dict) else None
        if isinstance(parent, dict) and parent.get(PROFILES_PATH[depth - 1]) == {}:
            del parent[PROFILES_PATH[depth - 1]]
    return plain


def _same_but_empty_parents(text: str, expected: dict[str, Any]) -> bool:
    try:
        got = tomlkit.parse(text).unwrap()
    except TOMLKitError:
        return False
    return _without_empty_parents(got) == _without_empty_parents(expected)


def _profiles_dict(plain: dict[str, Any]) -> dict[str, Any]:
    node: Any = plain
    for part in PROFILES_PATH:
        node = node[part]
    return node


def _known_hint(doc: Any) -> str:
    profiles = _profiles_table(doc)
    names = sorted(canonicalize_name(k) for k in profiles) if profiles else []
    if names:
        return "profiles in this file: " + ", ".join(names)
    return "add one with: satlock profile add NAME --build-requires ..."


def list_profiles(pyproject_text: str, *, source: str = "pyproject.toml") -> dict[NormalizedName, Profile]:
    """Every profile in the file, validated."""
    profiles = _profiles_table(_parse(pyproject_text, source))
    return parse_profiles(profiles, source=source) if profiles is not None else {}


def show_profile(pyproject_text: str, name: str, *, source: str = "pyproject.toml") -> str:
    """The TOML of profile ``name`` as written in the file, comments included."""
    _doc, key, table = _existing(pyproject_text, name, source)
    table = _editable(key, table, source)
    span = profile_span(pyproject_text, key)
    if span is not None:
        lines, start, end = span
        text = "".join(lines[start:end]).replace("\r\n", "\n")
        if _same(text, {"tool": {"satlock": {"profiles": {key: table.unwrap()}}}}):
            return text if text.endswith("\n") else text + "\n"
    return render(_normalize(name), table)


def write_text_atomic(path: Path, text: str) -> None:
    """Replace pyproject.toml with ``text``: a reader sees the old file or the new one, never half.
    A link is followed, so the file it names is replaced and the link stays."""
    write_atomic(path.resolve(), text.encode("utf-8"), durable=True)
