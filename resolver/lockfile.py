"""Writing and reading ``pylock.toml`` (PEP 751) through ``packaging.pylock``.

The standard part alone names every file to install, so pip or uv can install from it.
Packages that only some extras or dependency groups need carry a marker such as
``'cli' in extras or 'dev' in dependency_groups``. What only satlock needs lives under
``[tool.satlock]``: the hash of the project's inputs (so ``lock --check`` can tell a stale
lock), the profile hashes, and the locked build environments of profiled source packages.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from collections.abc import Set
from typing import TYPE_CHECKING, Any, Mapping

from packaging.markers import Marker, UndefinedComparison, UndefinedEnvironmentName
from packaging.pylock import (Package, PackageArchive, PackageDirectory, PackageSdist, PackageVcs, PackageWheel, Pylock,
                              PylockUnsupportedVersionError, PylockValidationError)
from packaging.requirements import Requirement
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    NormalizedName,
    canonicalize_name,
    is_normalized_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from satlock import __version__
from satlock.atomic import write_atomic
from satlock.errors import LockError
from satlock.resolver.buildenvs import BuildEnvironment, build_environments_table, parse_build_environments
from satlock.resolver.candidates import Candidate, DistFile, is_safe_name, is_sha256, url_filename
from satlock.http import strip_credentials
from satlock.numbers import overlong_number_line, overlong_number_reason
from satlock.pyproject import TOO_DEEP
from satlock.resolver.origin import Origin, Table
from satlock.resolver import tomlwrite

if TYPE_CHECKING:
    # For annotations only: the solver is not loaded to read a lock (sync, the up-to-date check).
    from satlock.resolver.solve import Resolution

LOCK_NAME = "pylock.toml"
# 2: build environments of match-runtime packages are those of the chosen build variant,
# and include what profile templates refer to; a lock of format 1 is stale.
TOOL_FORMAT = 2


def _scope(where: Origin) -> str | None:
    """The lock marker term for a root requirement's table; ``None`` for the base dependencies."""
    if where.table is Table.OPTIONAL:
        return f"'{where.name}' in extras"
    if where.table is Table.GROUP:
        return f"'{where.name}' in dependency_groups"
    return None


def package_scopes(resolution: Resolution) -> dict[NormalizedName, set[str | None]]:
    """For every chosen package, the scopes (base, an extra, a group) that reach it.

    A package's lock marker is the disjunction of these over every path from the project
    to it. Only requirements that apply to the target make a path: the project's roots as
    the solver kept them (a root whose marker is false there reaches nothing), and each
    package's requirements as the solver evaluated them for the target.
    """
    scopes: dict[NormalizedName, set[str | None]] = {n: set() for n in resolution.chosen}
    by_scope: dict[str | None, list[Requirement]] = {}
    for root in resolution.roots:
        by_scope.setdefault(_scope(root.where), []).append(root.requirement)
    for scope, reqs in by_scope.items():
        stack = list(reqs)
        seen: set[tuple[str, frozenset[str]]] = set()
        while stack:
            req = stack.pop()
            name = canonicalize_name(req.name)
            key = (name, frozenset(req.extras))
            if key in seen or name not in resolution.chosen:
                continue
            seen.add(key)
            scopes[name].add(scope)
            stack.extend(resolution.requirements.get(name, []))
            for extra in req.extras:
                stack.extend(resolution.extra_requirements.get(name, {}).get(extra, []))
    return scopes


def _marker(scopes: set[str | None]) -> Marker | None:
    if None in scopes or not scopes:
        return None
    return Marker(" or ".join(sorted(s for s in scopes if s)))


def _time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _wheel(f: DistFile) -> PackageWheel:
    return PackageWheel(name=f.filename, url=strip_credentials(f.url), size=f.size, upload_time=_time(f.upload_time),
                        hashes=dict(f.hashes))


def _sdist(f: DistFile) -> PackageSdist:
    return PackageSdist(name=f.filename, url=strip_credentials(f.url), size=f.size, upload_time=_time(f.upload_time),
                        hashes=dict(f.hashes))


def _relative(path: str, lock_dir: Path) -> str:
    p = Path(path)
    try:
        return os.path.relpath(p.resolve(), lock_dir.resolve())
    except ValueError:
        return str(p)


def package_entry(c: Candidate, *, marker: Marker | None, requires_python: Any, dependencies: list[dict[str, str]],
                  lock_dir: Path) -> Package:
    """One ``[[packages]]`` entry with the files (or direct source) of a chosen candidate."""
    common: dict[str, Any] = {"name": c.name, "version": c.version, "marker": marker,
                              "requires_python": requires_python, "dependencies": dependencies or None}
    ref = c.direct
    if ref is None:
        index = next((f.index for f in c.files if f.index), None)
        sdist = c.sdist
        return Package(**common, index=strip_credentials(index) if index else None,
                       wheels=[_wheel(f) for f in c.wheels] or None, sdist=_sdist(sdist) if sdist else None)
    if ref.kind == "vcs":
        return Package(**common, vcs=PackageVcs(type="git", url=strip_credentials(ref.url) if ref.url else None,
                                                path=_relative(ref.path, lock_dir) if ref.path else None,
                                                requested_revision=ref.requested_revision,
                                                commit_id=ref.commit_id or "", subdirectory=ref.subdirectory))
    if ref.kind == "directory":
        return Package(**common, directory=PackageDirectory(path=_relative(ref.path or ".", lock_dir), editable=ref.editable or None,
                                                            subdirectory=ref.subdirectory))
    return Package(**common, archive=PackageArchive(url=strip_credentials(ref.url) if ref.url else None,
                                                    path=_relative(ref.path, lock_dir) if ref.path else None,
                                                    hashes=dict(ref.hashes), subdirectory=ref.subdirectory))


@dataclass
class LockInputs:
    """What the lock records about where it came from, besides the packages."""

    requires_python: Any
    extras: list[str]
    groups: list[str]
    environment_marker: str
    inputs_hash: str
    profile_hashes: dict[str, str] = field(default_factory=dict)
    local_sources: dict[str, str] = field(default_factory=dict)
    build_environments: dict[NormalizedName, BuildEnvironment] = field(default_factory=dict)
    # What a sync without --group installs (``Project.default_groups``).
    default_groups: list[str] = field(default_factory=list)


def build_lock(resolution: Resolution, inputs: LockInputs, *,
               requires_python: Mapping[NormalizedName, Any], lock_dir: Path,
               leave_out: Set[NormalizedName] = frozenset()) -> Pylock:
    """The lock of ``resolution``; the packages in ``leave_out`` (the project itself, which
    ``sync`` installs on its own) are not listed, while what is selected through them keeps
    its markers, and a package that requires one still names it among its dependencies
    (sync holds each wheel's METADATA to them)."""
    scopes = package_scopes(resolution)
    packages = []
    listed = set(resolution.chosen) - set(leave_out)
    for name in sorted(listed):
        c = resolution.chosen[name]
        reqs = list(resolution.requirements.get(name, [])) + [r for rs in resolution.extra_requirements.get(name, {}).values() for r in rs]
        dep_names = sorted({canonicalize_name(r.name) for r in reqs} & set(resolution.chosen))
        deps = [{"name": d, "version": str(resolution.chosen[d].version)} for d in dep_names]
        packages.append(package_entry(c, marker=_marker(scopes[name]), requires_python=requires_python.get(name),
                                      dependencies=deps, lock_dir=lock_dir))
    table: dict[str, Any] = {"lock-format": TOOL_FORMAT, "inputs-hash": inputs.inputs_hash,
                             "profiles": dict(sorted(inputs.profile_hashes.items()))}
    if inputs.local_sources:
        table["local-sources"] = dict(sorted(inputs.local_sources.items()))
    table["build-environments"] = build_environments_table(inputs.build_environments)
    tool = {"satlock": table}
    lock = Pylock(lock_version=Version("1.0"), environments=[Marker(inputs.environment_marker)],
                  requires_python=inputs.requires_python, extras=sorted(canonicalize_name(e) for e in inputs.extras) or None,
                  dependency_groups=sorted(inputs.groups) or None,
                  default_groups=list(inputs.default_groups) or None,
                  created_by=f"satlock {__version__}", packages=packages, tool=tool)
    try:
        lock.validate()
    except PylockValidationError as e:
        # Every field comes from the index or from satlock's cache, which anyone who can
        # write there may change: a listing row naming another project's file ends here.
        raise LockError(f"the lock made from the index and satlock's cache is not valid ({e}); "
                        "a cached listing may have been changed",
                        hint="run again with --no-cache; if that locks, delete satlock's cache folder, "
                             "else report it as a satlock bug") from None
    return lock


_HEADER = "This file is generated by satlock; edit pyproject.toml and run `satlock lock` instead."


def dumps(lock: Pylock) -> str:
    """The lock as TOML: written directly (``tomlwrite``), or by tomlkit for data that writer
    does not reproduce byte for byte."""
    data = lock.to_dict()
    try:
        return tomlwrite.document(_HEADER, data)
    except tomlwrite.Unsupported:
        return dumps_with_tomlkit(data)


def dumps_with_tomlkit(data: Mapping[str, Any]) -> str:
    import tomlkit  # only some locks need it; reading uses tomllib

    doc = tomlkit.document()
    doc.add(tomlkit.comment(_HEADER))
    for key, value in data.items():
        doc[key] = value
    return tomlkit.dumps(doc)


def write_lock(path: Path, lock: Pylock) -> bool:
    """Write atomically (temp file, then rename), so an interrupted lock leaves the old file whole.

    Returns whether the content changed.
    """
    return write_lock_text(path, dumps(lock))


def write_lock_text(path: Path, text: str) -> bool:
    """``write_lock`` of a lock already made into text (``dumps``)."""
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return False
    write_atomic(path, text.encode("utf-8"))
    return True


def read_lock(path: Path) -> Pylock:
    """Read and validate a lock; every problem is one line naming the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise LockError(f"{path} does not exist", hint="run `satlock lock` first") from None
    line = overlong_number_line(text)
    if line is not None:
        raise LockError(f"{path}: line {line} holds {overlong_number_reason()}",
                        hint="do not edit pylock.toml by hand; run `satlock lock` to write it again")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise LockError(f"{path}: invalid TOML: {e}", hint="run `satlock lock` to write it again") from None
    except RecursionError:
        raise LockError(f"{path}: invalid TOML: {TOO_DEEP}", hint="run `satlock lock` to write it again") from None
    newer = LockError(f"{path}: lock-version {data.get('lock-version')!r} is not supported; it was written by a newer tool",
                      hint="upgrade satlock, or run `satlock lock` to write a lock-version 1.0 file")
    try:
        # PEP 751: check the major version before anything else, which a newer format may change.
        if Version(str(data.get("lock-version"))).major > 1:
            raise newer
    except InvalidVersion:
        pass  # from_dict names the bad value
    try:
        lock = Pylock.from_dict(data)
    except PylockUnsupportedVersionError:
        raise newer from None
    except PylockValidationError as e:
        raise LockError(f"{path}: invalid lock: {e}{_package_named(data, str(e))}",
                        hint="do not edit pylock.toml by hand; run `satlock lock` to write it again") from None
    check_untrusted(data, path)
    _check_markers(lock, path)
    fmt = satlock_table(lock).get("lock-format")  # its type is checked by check_untrusted
    if isinstance(fmt, int) and fmt > TOOL_FORMAT:
        raise LockError(f"{path}: [tool.satlock] lock-format {fmt} was written by a newer satlock (this one reads {TOOL_FORMAT})",
                        hint="upgrade satlock, or run `satlock lock` to write it again")
    return lock


def _check_markers(lock: Pylock, path: Path) -> None:
    """Refuse a marker that no environment can evaluate (``extra == "x"`` on a package: a lock
    names ``extras``), which ``Pylock.select`` would otherwise raise as a traceback from any
    command that asks what the lock installs."""
    markers = [(f"environments[{i}]", m, "requirement") for i, m in enumerate(lock.environments or [])]
    markers += [(f"packages[{i}] ({p.name!r}).marker", p.marker, "lock_file") for i, p in enumerate(lock.packages) if p.marker]
    for key, marker, context in markers:
        try:
            marker.evaluate(context=context)
        except (UndefinedEnvironmentName, UndefinedComparison) as e:
            raise _bad(path, key, f"{str(marker)!r} cannot be evaluated ({e})") from None


def _bad(path: Path, key: str, why: str) -> LockError:
    return LockError(f"{path}: {key}: {why}",
                     hint="do not edit pylock.toml by hand; run `satlock lock` to write it again")


def _check_hashes(hashes: Any, path: Path, key: str) -> None:
    if not isinstance(hashes, Mapping):
        raise _bad(path, key, "must be a table of hashes")
    sha = hashes.get("sha256")
    if sha is not None and not is_sha256(sha):
        raise _bad(path, f"{key}.sha256", f"{sha!r} is not 64 lowercase hex digits")


def _check_filename(name: Any, path: Path, key: str, kind: str) -> None:
    """A file name that becomes part of a cache path: a plain, parseable distribution file name."""
    if not isinstance(name, str) or not is_safe_name(name):
        raise _bad(path, key, f"{name!r} is not a plain file name")
    try:
        parse_wheel_filename(name) if kind == "wheel" else parse_sdist_filename(name)
    except (InvalidWheelFilename, InvalidSdistFilename) as e:
        raise _bad(path, key, f"{name!r} is not a valid {kind} file name ({e})") from None


def _check_subdirectory(sub: Any, path: Path, key: str) -> None:
    """A subdirectory stays inside its source: relative, without ``..``."""
    parts = sub.replace("\\", "/").split("/") if isinstance(sub, str) else []
    if not isinstance(sub, str) or "\0" in sub or sub.startswith(("/", "\\")) or (len(sub) > 1 and sub[1] == ":") or ".." in parts:
        raise _bad(path, key, f"{sub!r} is not a relative path inside the source")


def _url_filename(url: Any) -> str:
    return url_filename(url) if isinstance(url, str) else ""


def check_untrusted(data: Mapping[str, Any], path: Path) -> None:
    """Check what ``packaging.pylock`` leaves unchecked and satlock turns into paths and hashes.

    A lock is untrusted input (a pull request can edit it): every file name must be a
    plain distribution file name, every sha256 64 lowercase hex digits, and the
    ``[tool.satlock]`` table must have its documented shape. Each problem is one line
    naming the key.
    """
    for i, package in enumerate(data.get("packages") or []):
        if not isinstance(package, Mapping):
            continue
        where = f"packages[{i}] ({package.get('name')!r})"
        for j, wheel in enumerate(package.get("wheels") or []):
            if isinstance(wheel, Mapping):
                name = wheel.get("name", _url_filename(wheel.get("url")) or Path(str(wheel.get("path", ""))).name)
                _check_filename(name, path, f"{where}.wheels[{j}].name", "wheel")
                _check_hashes(wheel.get("hashes", {}), path, f"{where}.wheels[{j}].hashes")
        sdist = package.get("sdist")
        if isinstance(sdist, Mapping):
            name = sdist.get("name", _url_filename(sdist.get("url")) or Path(str(sdist.get("path", ""))).name)
            _check_filename(name, path, f"{where}.sdist.name", "sdist")
            _check_hashes(sdist.get("hashes", {}), path, f"{where}.sdist.hashes")
        for kind in ("directory", "vcs", "archive"):
            source = package.get(kind)
            if isinstance(source, Mapping) and "subdirectory" in source:
                _check_subdirectory(source["subdirectory"], path, f"{where}.{kind}.subdirectory")
        archive = package.get("archive")
        if isinstance(archive, Mapping):
            name = _url_filename(archive.get("url")) or Path(str(archive.get("path", ""))).name
            _check_filename(name, path, f"{where}.archive", "wheel" if name.endswith(".whl") else "sdist")
            _check_hashes(archive.get("hashes", {}), path, f"{where}.archive.hashes")
    _check_tool_table(data.get("tool"), path)


def _check_tool_table(tool: Any, path: Path) -> None:
    if tool is None:
        return
    if not isinstance(tool, Mapping):
        raise _bad(path, "tool", "must be a table")
    table = tool.get("satlock")
    if table is None:
        return
    if not isinstance(table, Mapping):
        raise _bad(path, "tool.satlock", "must be a table")
    for key, kind, label in (("lock-format", int, "an integer"), ("inputs-hash", str, "a string")):
        if key in table and (not isinstance(table[key], kind) or isinstance(table[key], bool)):
            raise _bad(path, f"tool.satlock.{key}", f"must be {label}")
    for key in ("profiles", "local-sources"):
        value = table.get(key, {})
        if not isinstance(value, Mapping) or not all(isinstance(v, str) for v in value.values()):
            raise _bad(path, f"tool.satlock.{key}", "must be a table of strings")
    # Its keys are printed when the lock is stale: a hand-made one must not write a line of its own.
    odd = next((k for k in table.get("local-sources", {}) if not is_normalized_name(k)), None)
    if odd is not None:
        raise _bad(path, "tool.satlock.local-sources", f"{odd[:60]!r} is not a normalized package name")
    parse_build_environments(table.get("build-environments"), lambda key, why: _bad(path, key, why))


def _package_named(data: Mapping[str, Any], message: str) -> str:
    """`` (package 'torch')`` for an error in ``packages[N]``, so a hand edit is easy to find."""
    match = re.search(r"'packages\[(\d+)\]", message)
    packages = data.get("packages")
    if match and isinstance(packages, list) and int(match.group(1)) < len(packages):
        entry = packages[int(match.group(1))]
        if isinstance(entry, dict) and isinstance(entry.get("name"), str):
            return f" (package {entry['name']!r})"
    return ""


def satlock_table(lock: Pylock) -> Mapping[str, Any]:
    return (lock.tool or {}).get("satlock", {}) or {}


def lock_format(lock: Pylock) -> int | None:
    fmt = satlock_table(lock).get("lock-format")
    return fmt if isinstance(fmt, int) else None


def locked_build_environments(lock: Pylock) -> dict[NormalizedName, BuildEnvironment]:
    """``[tool.satlock.build-environments]``, validated (buildenvs.py)."""
    return parse_build_environments(satlock_table(lock).get("build-environments"))


def locked_versions(lock: Pylock) -> dict[NormalizedName, Version]:
    return {p.name: p.version for p in lock.packages if p.version is not None}
