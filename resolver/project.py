"""The project model: what ``pyproject.toml`` asks for.

Reads PEP 621 ``[project]`` (dependencies, optional dependencies, requires-python), PEP 735
``[dependency-groups]`` and ``[tool.satlock]``, validates everything up front and turns it
into root requirements for the solver. Every problem is one line naming the file and key.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from packaging.dependency_groups import CyclicDependencyGroup, DependencyGroupResolver
from packaging.markers import UndefinedComparison, UndefinedEnvironmentName
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name

from satlock.errors import ProjectError
from satlock.pyproject import find_pyproject, read_pyproject
from satlock.resolver.origin import DEPENDENCIES, Origin, RootRequirement
from satlock.resolver.requirementfiles import requirement_files, requirement_tables

if TYPE_CHECKING:
    from satlock.profiles.schema import Profile


@dataclass(frozen=True)
class SourceSpec:
    """One ``[tool.satlock.sources]`` entry: exactly one of path, url or git (checked where it is used)."""

    path: str | None = None
    url: str | None = None
    git: str | None = None
    rev: str | None = None
    subdirectory: str | None = None
    editable: bool = False


@dataclass(frozen=True)
class Settings:
    """``[tool.satlock]``: index settings, sources, resolution policy (profiles are validated
    separately). The defaults are those of a project without the table; a table is checked
    by resolver/toolsettings.py."""

    index_url: str | None = None
    extra_index_urls: list[str] = field(default_factory=list)
    find_links: list[str] = field(default_factory=list)
    sources: dict[str, SourceSpec] = field(default_factory=dict)
    prerelease: Literal["if-necessary", "allow"] = "if-necessary"
    constraints: list[str] = field(default_factory=list)
    overrides: list[str] = field(default_factory=list)
    allow_insecure_hosts: list[str] = field(default_factory=list)
    profiles: dict[str, Any] = field(default_factory=dict)
    # ``package = true|false``: whether ``sync`` installs the project itself; None follows
    # [build-system] (resolver/project.py ``Project.build_requires``).
    package: bool | None = None
    # ``default-groups``: the groups a sync without --group installs (uv's key of the same
    # name); "all" is every group, as uv reads it; None is ["dev"] when the project declares a dev group.
    default_groups: list[str] | str | None = None

    def dump(self) -> dict[str, Any]:
        """Everything but the profiles, as JSON data (for the inputs hash). ``package`` is
        left out: it counts through ``Project.build_requires`` (and left out, the hash of
        every lock written before the key existed stays the same); so is ``default_groups``
        when unset, for the same reason, while set it counts, since the lock records it."""
        data = asdict(self)
        del data["profiles"], data["package"]
        if self.default_groups is None:
            del data["default_groups"]
        return data


@dataclass
class Project:
    root: Path
    pyproject: Path
    name: NormalizedName | None
    requires_python: SpecifierSet | None
    dependencies: list[Requirement]
    optional: dict[NormalizedName, list[Requirement]]
    groups: dict[str, list[Requirement]]
    settings: Settings
    profiles: dict[NormalizedName, Profile] = field(default_factory=dict)
    default_groups: list[str] = field(default_factory=list)
    # The project's own build requirements when ``sync`` installs it (editable, as uv,
    # Poetry and PDM do): when pyproject.toml has a [build-system] table, or sets
    # ``[tool.satlock] package = true``; None when it is not a package to install.
    build_requires: list[Requirement] | None = None
    # What of ``dependencies`` and ``optional-dependencies`` [project] leaves to a build
    # (``dynamic``: setuptools reading requirements.txt): the lock builds the project's
    # metadata for them (resolver/locking.py), and ``requirement_files`` are the files
    # such a build reads them from (setup.py, setup.cfg, requirements*.txt, and what
    # [tool.setuptools.dynamic] names), relative to ``root``.
    dynamic_requirements: frozenset[str] = frozenset()
    requirement_files: tuple[str, ...] = ()
    # The tables of pyproject.toml such a build reads them from (resolver/requirementfiles.py:
    # poetry-core's [tool.poetry.dependencies]), by dotted name, as they are there.
    requirement_tables: dict[str, Any] = field(default_factory=dict)
    # The keys of uv's [tool.uv] that would change what uv locks (``sources``, ``index``...),
    # which satlock does not read: the lock warns of them rather than differ from uv silently.
    uv_settings: tuple[str, ...] = ()
    # What reading the project let pass with a warning, as pip and uv do (a self-reference
    # naming an extra the project lacks).
    warnings: list[str] = field(default_factory=list)

    def root_requirements(self) -> list[RootRequirement]:
        """Every requirement of the project, its extras and its groups, locked at once."""
        roots = [RootRequirement(r, DEPENDENCIES) for r in self.dependencies]
        for extra, reqs in sorted(self.optional.items()):
            roots += [RootRequirement(r, Origin.extra(extra)) for r in reqs]
        for group, reqs in sorted(self.groups.items()):
            roots += [RootRequirement(r, Origin.group(group)) for r in reqs]
        return roots

    def constraints(self) -> list[Requirement]:
        return [_versions_only(c, self.pyproject, "tool.satlock.constraints") for c in self.settings.constraints]

    def overrides(self) -> list[Requirement]:
        return [_versions_only(c, self.pyproject, "tool.satlock.overrides") for c in self.settings.overrides]

    def profile_hashes(self) -> dict[str, str]:
        if not self.profiles:
            return {}
        from satlock.profiles.schema import profile_hash

        return {name: profile_hash(p) for name, p in sorted(self.profiles.items())}

    def inputs_hash(self, *, build_system: bool = True) -> str:
        """A hash of everything in pyproject.toml that changes the lock; ``lock --check`` compares it.
        ``build_system=False`` leaves the project's build requirements out: the hash of a
        lock written before the lock recorded them (or before the project was a package)."""
        data = {
            "requires-python": str(self.requires_python or ""),
            "dependencies": [str(r) for r in self.dependencies],
            "optional": {k: [str(r) for r in v] for k, v in sorted(self.optional.items())},
            "groups": {k: [str(r) for r in v] for k, v in sorted(self.groups.items())},
            "settings": self.settings.dump(),
            "profiles": self.profile_hashes(),
        }
        if self.build_requires is not None and build_system:
            # The lock records the project's build environment: its requirements make it stale.
            data["build-system"] = [str(r) for r in self.build_requires]
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


# PEP 508 names, which PEP 685 extras and PEP 735 dependency groups must also be: they end
# up inside lock markers such as ``'dev' in dependency_groups``, so nothing else may pass.
_NAME = re.compile(r"[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9._-]*[A-Za-z0-9]")


def _check_name(name: Any, path: Path, where: str, kind: str) -> None:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ProjectError(f"{path}: {where}: {name!r} is not a valid {kind} name",
                           hint=f"{kind} names are letters, digits and '-', '_', '.' inside (PEP 685 / PEP 735)")


def _requirement(text: Any, path: Path, where: str) -> Requirement:
    if not isinstance(text, str):
        raise ProjectError(f"{path}: {where}: {text!r} is not a string", hint="write each requirement as a PEP 508 string, e.g. \"requests>=2\"")
    try:
        req = Requirement(text)
    except InvalidRequirement as e:
        first = str(e).splitlines()[0]
        raise ProjectError(f"{path}: {where}: {text!r} is not a valid requirement ({first})",
                           hint="use PEP 508 syntax, e.g. \"requests>=2.31\"") from None
    if req.marker is not None:
        # packaging parses the PEP 751 names ``extras`` and ``dependency_groups`` but cannot
        # evaluate them outside a lock file: refused here, not a traceback mid-lock.
        try:
            req.marker.evaluate({"extra": ""})
        except UndefinedEnvironmentName as e:
            raise ProjectError(f"{path}: {where}: {text!r}: the marker names {e}, which only a lock file's markers may (PEP 751)",
                               hint="list the requirement under its extra or group instead of naming them in a marker") from None
        except UndefinedComparison:
            pass  # ``===`` between strings: evaluate_marker reads it when locking
    return req


def _versions_only(text: Any, path: Path, where: str) -> Requirement:
    """A constraint or override: it narrows which versions the indexes give, so a URL there
    would be a source satlock never reads from; the project's dependencies are where a
    package is taken from a URL."""
    req = _requirement(text, path, where)
    if req.url:
        raise ProjectError(f"{path}: {where}: {text!r} names a URL; constraints and overrides name versions only",
                           hint=f"put \"{req.name} @ {req.url}\" in [project.dependencies] to take {req.name} from that URL")
    return req


def load_project(root: Path) -> Project:
    """Read and validate the project in ``root``."""
    path = find_pyproject(root)
    data = read_pyproject(path)[1]
    project = data.get("project")
    if not isinstance(project, dict):
        raise ProjectError(f"{path}: no [project] table", hint="add a [project] table with name, version and dependencies (PEP 621)")
    name = project.get("name")
    rp = project.get("requires-python")
    requires_python = None
    if rp is not None:
        try:
            requires_python = SpecifierSet(rp)
        except (InvalidSpecifier, TypeError):
            raise ProjectError(f"{path}: project.requires-python: {rp!r} is not a valid version specifier", hint="e.g. requires-python = \">=3.10\"") from None
    dynamic = _dynamic_requirements(project.get("dynamic", []), path)
    deps_raw = project.get("dependencies", [])
    if not isinstance(deps_raw, list):
        raise ProjectError(f"{path}: project.dependencies must be a list of strings")
    dependencies = [_requirement(d, path, f"project.dependencies[{i}]") for i, d in enumerate(deps_raw)]
    optional: dict[NormalizedName, list[Requirement]] = {}
    opt_raw = _named_lists(project.get("optional-dependencies", {}), path, "project.optional-dependencies", "extra")
    for extra, reqs in opt_raw.items():
        optional[canonicalize_name(extra)] = [_requirement(d, path, f"project.optional-dependencies.{extra}[{i}]") for i, d in enumerate(reqs)]
    groups = _groups(data.get("dependency-groups", {}), path)
    tools = data.get("tool", {})
    if not isinstance(tools, dict):
        raise ProjectError(f"{path}: [tool] must be a table, not {type(tools).__name__}")
    tool = tools.get("satlock", {})
    settings = _settings(tool, path)
    profiles = _profiles(settings.profiles, path) if settings.profiles else {}
    proj = Project(root=root, pyproject=path, name=canonicalize_name(name) if isinstance(name, str) else None,
                   requires_python=requires_python, dependencies=dependencies, optional=optional, groups=groups,
                   settings=settings, profiles=profiles)
    if proj.name is not None:
        proj.build_requires = _build_requires(data.get("build-system"), settings.package, path)
    if dynamic:
        if proj.build_requires is None:
            raise ProjectError(f"{path}: project.dynamic lists {' and '.join(sorted(dynamic))}, which only a build of the "
                               "project can tell, but it is no package satlock builds (no [build-system] table, or "
                               "[tool.satlock] package = false)",
                               hint="add a [build-system] table, or write them in [project] and take them out of dynamic")
        proj.dynamic_requirements = dynamic
        proj.requirement_files = requirement_files(tools, root)
        proj.requirement_tables = requirement_tables(tools)
    proj.default_groups = _default_groups(settings.default_groups, list(groups), path)
    uv = tools.get("uv")
    proj.uv_settings = tuple(sorted(k for k in uv if k in _UV_RESOLUTION_KEYS)) if isinstance(uv, dict) else ()
    _expand_self_references(proj)
    proj.constraints()
    proj.overrides()
    return proj


def _dynamic_requirements(dynamic: Any, path: Path) -> frozenset[str]:
    """Which of the project's requirement fields ``project.dynamic`` leaves to a build."""
    if not isinstance(dynamic, list) or not all(isinstance(d, str) for d in dynamic):
        raise ProjectError(f"{path}: project.dynamic must be a list of field names")
    return frozenset(dynamic) & {"dependencies", "optional-dependencies"}


# [tool.uv] keys that change which packages uv locks, or from where (``workspace``: its
# members are locked together with the project).
_UV_RESOLUTION_KEYS = frozenset({"sources", "index", "index-url", "extra-index-url", "find-links", "no-index",
                                 "constraint-dependencies", "override-dependencies", "dev-dependencies", "workspace",
                                 "conflicts", "dependency-metadata", "exclude-dependencies", "environments",
                                 "required-environments", "prerelease", "resolution", "exclude-newer", "default-groups"})

# What pip and uv build a project with when pyproject.toml has no [build-system] table.
_LEGACY_BUILD_REQUIRES = ("setuptools>=40.8.0",)


def _default_groups(named: Any, declared: list[str], path: Path) -> list[str]:
    """The groups a plain sync installs, as pyproject.toml spells them: ``[tool.satlock]
    default-groups``, each naming a declared group (``"all"``: every one, as uv's key takes
    it), or else the dev group when there is one (PEP 735 names no default; uv and PDM install dev)."""
    if named is None:
        return ["dev"] if "dev" in declared else []
    if named == "all":
        return list(declared)
    if not isinstance(named, list) or not all(isinstance(name, str) for name in named):
        raise ProjectError(f"{path}: [tool.satlock] default-groups: {named!r} is neither a list of dependency group names nor \"all\"",
                           hint='e.g. default-groups = ["dev", "tests"], or "all" for every group')
    by_name = {canonicalize_name(g): g for g in declared}
    chosen: list[str] = []
    for name in named:
        group = by_name.get(canonicalize_name(name))
        if group is None:
            listing = f"it declares {', '.join(declared)}" if declared else "it declares no dependency groups"
            raise ProjectError(f"{path}: [tool.satlock] default-groups: {name!r} names no dependency group of this file; {listing}",
                               hint="name groups of [dependency-groups], or add it there")
        if group not in chosen:
            chosen.append(group)
    return chosen


def _build_requires(table: Any, package: bool | None, path: Path) -> list[Requirement] | None:
    """The project's build requirements when it is a package ``sync`` installs, else None:
    a project is one when it has a [build-system] table (as uv decides), unless
    ``[tool.satlock] package`` says otherwise."""
    if package is False or (package is None and table is None):
        return None
    if table is None:
        return [Requirement(r) for r in _LEGACY_BUILD_REQUIRES]
    if not isinstance(table, dict):
        raise ProjectError(f"{path}: [build-system] must be a table, not {type(table).__name__}")
    requires = table.get("requires", list(_LEGACY_BUILD_REQUIRES))
    if not isinstance(requires, list):
        raise ProjectError(f"{path}: build-system.requires must be a list of strings",
                           hint='e.g. requires = ["setuptools>=61"]')
    return [_requirement(r, path, f"build-system.requires[{i}]") for i, r in enumerate(requires)]


def _settings(tool: Any, path: Path) -> Settings:
    """The ``[tool.satlock]`` table: the defaults when there is none (pydantic is not even
    imported then), else the table checked by resolver/toolsettings.py."""
    if isinstance(tool, dict) and not tool:
        return Settings()
    from satlock.resolver.toolsettings import validate_settings

    return validate_settings(tool, path)


def _profiles(raw: dict[str, Any], path: Path) -> dict[NormalizedName, Profile]:
    from satlock.profiles.schema import parse_profiles

    return parse_profiles(raw, source=str(path))


def _named_lists(raw: Any, path: Path, where: str, kind: str) -> dict[str, list[Any]]:
    """``raw`` checked as a table of lists under valid names (extras, dependency groups)."""
    if not isinstance(raw, dict):
        raise ProjectError(f"{path}: {where} must be a table of lists")
    for name, items in raw.items():
        _check_name(name, path, where, kind)
        if not isinstance(items, list):
            raise ProjectError(f"{path}: {where}.{name} must be a list")
    return raw


def _groups(raw: Any, path: Path) -> dict[str, list[Requirement]]:
    for group, items in _named_lists(raw, path, "dependency-groups", "dependency group").items():
        for i, item in enumerate(items):
            if isinstance(item, str):
                _requirement(item, path, f"dependency-groups.{group}[{i}]")
            elif not (isinstance(item, dict) and set(item) == {"include-group"}):
                raise ProjectError(f"{path}: dependency-groups.{group}[{i}]: {item!r} is neither a requirement nor {{include-group = \"...\"}}")
            else:
                _check_name(item["include-group"], path, f"dependency-groups.{group}[{i}].include-group", "dependency group")
                if canonicalize_name(item["include-group"]) not in {canonicalize_name(g) for g in raw}:
                    raise ProjectError(f"{path}: dependency-groups.{group}[{i}]: include-group {item['include-group']!r} "
                                       "names no group of this file",
                                       hint=f"name one of the groups it declares: {', '.join(raw)}")
    resolver = DependencyGroupResolver(raw)
    out: dict[str, list[Requirement]] = {}
    for group in raw:
        try:
            try:
                out[group] = list(resolver.resolve(group))
            except ExceptionGroup as eg:  # newer packaging collects its errors into a group
                raise eg.exceptions[0] from None
        except CyclicDependencyGroup as e:
            raise ProjectError(f"{path}: dependency-groups: {e}", hint="remove the include-group that closes the cycle") from None
        except (LookupError, ValueError) as e:
            raise ProjectError(f"{path}: dependency-groups.{group}: {e}") from None
    return out


def _expand_self_references(proj: Project) -> None:
    """``demo[cli]`` inside demo's own extras or groups means demo's ``cli`` extra, as pip and uv read it.

    When its extras are left to a build (``optional-dependencies`` in ``dynamic``), only that
    build knows them: ``demo[cli]`` is kept, and the lock resolves it to the project's folder."""
    if proj.name is None:
        return
    built_extras = "optional-dependencies" in proj.dynamic_requirements

    def expand(reqs: list[Requirement], seen: frozenset[str] = frozenset()) -> list[Requirement]:
        out: list[Requirement] = []
        for r in reqs:
            if canonicalize_name(r.name) != proj.name or (built_extras and r.extras):
                out.append(r)
                continue
            for extra in sorted(r.extras):
                key = canonicalize_name(extra)
                if key in seen:
                    continue
                if key not in proj.optional:
                    # As pip and uv treat an extra a package does not provide (kedro-datasets
                    # 9.6.0 names its own missing spark-core extra): left out, with a warning.
                    warning = (f"{proj.pyproject}: {r} names the extra '{extra}', which the project does not define; "
                               "it adds nothing")
                    if warning not in proj.warnings:
                        proj.warnings.append(warning)
                    continue
                out += expand(proj.optional[key], seen | {key})
        return out

    proj.dependencies = expand(proj.dependencies)
    proj.optional = {k: expand(v, frozenset({k})) for k, v in proj.optional.items()}
    proj.groups = {k: expand(v) for k, v in proj.groups.items()}
