"""``satlock lock`` from start to end: project in, ``Pylock`` out.

Builds the provider (from the client resolver/settings.py makes and the direct references
resolver/directrefs.py reads), runs the solver, and assembles the lock; and says whether
an existing lock still answers the project. Nothing here writes the lock file:
the caller does that atomically, and only after everything succeeded.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from collections.abc import Mapping, Set
from typing import Protocol

from packaging.markers import Marker
from packaging.pylock import Pylock, PylockSelectError
from packaging.requirements import Requirement
from packaging.utils import InvalidWheelFilename, NormalizedName, canonicalize_name
from packaging.version import Version

from satlock.errors import ConfigError, NotFoundError, ResolutionError
from satlock.http import redact
from satlock.parallel import fetch_many
from satlock.resolver.buildenvs import BuildEnvironment
from satlock.resolver.buildrecords import build_records_reason
from satlock.resolver.candidates import Candidate, DirectReference
from satlock.resolver.coremeta import parse_metadata
from satlock.resolver.directrefs import collect_direct, local_source_digests
from satlock.resolver.explain import explain
from satlock.resolver.index import IndexClient
from satlock.resolver.matching import evaluate_marker
from satlock.resolver.indexprovider import IndexProvider, MetadataBuilder
from satlock.resolver.origin import DEPENDENCIES
from satlock.resolver.lockfile import TOOL_FORMAT, LockInputs, build_lock, lock_format, locked_versions, satlock_table
from satlock.resolver.project import Project
from satlock.resolver.solve import Policy, Resolution, RootRequirement, Solver, Unsatisfiable
from satlock.resolver.speculation import Speculation
from satlock.resolver.target import Target, make_target


class LockBuilder(MetadataBuilder, Protocol):
    """Everything ``lock_project`` asks of the build layer (buildenv.metadata.ProfileBuilder):
    metadata builds and build variants (``MetadataBuilder``), and the record of the build
    environments the chosen solution needs, for ``[tool.satlock.build-environments]``."""

    def locked_build_environments(self, resolution: Resolution) -> dict[NormalizedName, BuildEnvironment]:
        """The build environment of every source package in ``resolution``, pinned with hashes."""


@dataclass
class LockOptions:
    python_version: str | None = None
    platform: str | None = None
    upgrade: bool = False
    upgrade_packages: set[NormalizedName] = field(default_factory=set)
    # An interpreter's own markers and tags (``sync`` locks for the one it installs into);
    # overrides python_version and platform.
    target: Target | None = None

    def make_target(self) -> Target:
        return self.target if self.target is not None else make_target(self.python_version, self.platform)


@dataclass
class LockResult:
    lock: Pylock
    resolution: Resolution
    warnings: list[str]
    target: Target


def _pins(roots: list[RootRequirement]) -> dict[NormalizedName, set[str]]:
    pins: dict[NormalizedName, set[str]] = {}
    for r in roots:
        for spec in r.requirement.specifier:
            if spec.operator in ("==", "===") and "*" not in spec.version:
                pins.setdefault(canonicalize_name(r.requirement.name), set()).add(str(Version(spec.version)) if spec.operator == "==" else spec.version)
    return pins


def _unconditional_pins(roots: list[RootRequirement], overridden: set[NormalizedName]) -> dict[NormalizedName, Version]:
    """``name==V`` in ``project.dependencies`` without a marker (and no override on the
    name): no other version of the name can be in any solution, so none is fetched."""
    found: dict[NormalizedName, set[Version]] = {}
    for r in roots:
        req = r.requirement
        exact = [s.version for s in req.specifier if s.operator == "==" and "*" not in s.version]
        name = canonicalize_name(req.name)
        if r.where == DEPENDENCIES and req.marker is None and req.url is None and len(exact) == 1 and name not in overridden:
            found.setdefault(name, set()).add(Version(exact[0]))
    # Two different pins conflict: leave the name alone so the conflict story can name both.
    return {name: next(iter(vs)) for name, vs in found.items() if len(vs) == 1}


def excludes_target_python(project: Project, target: Target) -> bool:
    """Whether ``project``'s requires-python leaves out the target's Python; ``lock`` and
    ``sync`` each say so with their own hint (one takes --python-version, the other --python)."""
    return project.requires_python is not None and not project.requires_python.contains(target.python_full_version,
                                                                                         prereleases=True)


def lock_project(project: Project, options: LockOptions, client: IndexClient, *, previous: Pylock | None = None,
                 builder: LockBuilder | None = None) -> LockResult:
    """Resolve every dependency, extra and group of ``project`` for the target into a ``Pylock``."""
    target = options.make_target()
    if excludes_target_python(project, target):
        raise ConfigError(f"{project.pyproject}: requires-python {project.requires_python} excludes the target Python {target.python_full_version}",
                          hint="lock with --python-version set to a version inside requires-python")
    # Before anything is read from them: a folder edited during the lock leaves it stale.
    local_sources = local_source_digests(project)
    inputs_hash = project.inputs_hash()
    direct = collect_direct(project, client, target.environment)
    own = project.name if project.build_requires is not None and project.name not in direct else None
    if own is not None:
        # The project is a package ``sync`` installs (editable): a dependency that requires
        # its name (pytest requiring pluggy, in pluggy's own test group) gets the project
        # itself, as uv resolves it, never the index's copy in its place.
        direct[own] = DirectReference("directory", path=str(project.root), editable=True)
    if project.dynamic_requirements:
        project = _with_built_requirements(project, direct, builder)
    roots = project.root_requirements()
    guess = Speculation.of([r.requirement for r in roots], target, project.overrides(),
                           allow_prereleases=project.settings.prerelease == "allow")
    provider = IndexProvider(client, target, builder=builder, direct=direct, profiles=project.profiles, pins=_pins(roots),
                             speculation=guess,
                             only=_unconditional_pins(roots, {canonicalize_name(o.name) for o in project.overrides()}))
    with provider:
        preferences: dict[NormalizedName, Version] = {}
        if previous is not None and not options.upgrade:
            preferences = {n: v for n, v in locked_versions(previous).items() if n not in options.upgrade_packages}
        policy = Policy(preferences=preferences, allow_prereleases=project.settings.prerelease == "allow",
                        constraints=project.constraints(), overrides=project.overrides())
        # A requirement whose marker is false for the target need not exist on any index.
        root_names = sorted({canonicalize_name(r.requirement.name) for r in roots
                             if r.requirement.marker is None or evaluate_marker(r.requirement.marker, {**target.environment, "extra": ""})})
        provider.prefetch(root_names, [])
        for name in root_names:
            listing = provider.candidates(name)
            if not listing.candidates and not listing.excluded:
                raise NotFoundError(f"{project.pyproject}: package {name!r} was not found on {redact(', '.join(client.indexes))}",
                                    hint="check the spelling, or add the index that has it with --extra-index-url")
        resolution = _solve(provider, target, policy, roots)
        resolution = replace(resolution, chosen=_with_file_hashes(resolution.chosen, client))
        requires_python = {}
        # Every name the project or a locked package requires, on any platform: a source
        # for, or an --upgrade-package of, one only Windows needs (pywin32-ctypes under
        # keyring) is no typo on Linux.
        required = set(resolution.chosen) | {canonicalize_name(r.requirement.name) for r in roots}
        for name, c in resolution.chosen.items():
            variant = resolution.variants.get(name)
            deps = variant.dependencies if variant is not None else provider.dependencies(c)
            requires_python[name] = deps.requires_python
            required.update(canonicalize_name(r.name) for r in deps.requires)
        inputs = LockInputs(requires_python=project.requires_python, extras=list(project.optional), groups=list(project.groups),
                            environment_marker=target.describe(), inputs_hash=inputs_hash,
                            profile_hashes=project.profile_hashes(), local_sources=local_sources,
                            default_groups=project.default_groups,
                            build_environments=builder.locked_build_environments(_without(resolution, own)) if builder else {})
        # The project stays out of the lock's packages (``sync`` installs it editable itself).
        lock = build_lock(resolution, inputs, requires_python=requires_python, lock_dir=project.root,
                          leave_out={own} if own is not None else set())
        unknown = [f"--upgrade-package {name}: no locked package is named {name}; check the spelling"
                   for name in sorted(options.upgrade_packages) if name not in required]
        return LockResult(lock, resolution, resolution.warnings + unknown
                          + _unused_sources(project, required) + _uv_settings(project), target)


def _with_built_requirements(project: Project, direct: Mapping[NormalizedName, DirectReference],
                             builder: LockBuilder | None) -> Project:
    """The project with the requirements [project] leaves to a build (``dynamic``) asked of
    the project itself: ``demo`` for its dependencies, ``demo[x]`` for each extra its built
    metadata provides, resolved to its own folder (``direct``), whose metadata the builder
    builds, as uv does. Its extras are known only from that build."""
    name = project.name
    if builder is None or name is None or name not in direct:
        raise ConfigError(f"{project.pyproject}: project.dynamic lists {' and '.join(sorted(project.dynamic_requirements))}, "
                          "which only a build of the project can tell",
                          hint="write them in [project] and take them out of dynamic")
    dependencies = project.dependencies
    if "dependencies" in project.dynamic_requirements:
        dependencies = [Requirement(name)]
    optional = project.optional
    if "optional-dependencies" in project.dynamic_requirements:
        _name, _version, built = parse_metadata(builder.metadata(name, direct[name]), f"the built metadata of the project {name}")
        optional = {extra: [Requirement(f"{name}[{extra}]")] for extra in sorted(built.provides_extras or ())}
    return replace(project, dependencies=dependencies, optional=optional)


def _without(resolution: Resolution, name: NormalizedName | None) -> Resolution:
    """``resolution`` less the package ``name`` (the project itself), if it holds it."""
    if name is None or name not in resolution.chosen:
        return resolution
    return replace(resolution, chosen={n: c for n, c in resolution.chosen.items() if n != name},
                   variants={n: v for n, v in resolution.variants.items() if n != name})


def _unused_sources(project: Project, named: Set[NormalizedName]) -> list[str]:
    """A warning for each ``[tool.satlock.sources]`` entry that names neither a requirement
    of the project nor a locked package or one it requires: a typo (``dagster-shard`` for
    ``dagster-shared``) otherwise leaves the package to the index without a word, as uv does."""
    return [f"[tool.satlock.sources] {name} names no requirement of the project and no locked package, "
            "so it is not used; check the spelling" for name in sorted(project.settings.sources)
            if canonicalize_name(name) not in named]


def _uv_settings(project: Project) -> list[str]:
    """A warning naming the [tool.uv] settings the lock did not follow: a project moving
    from uv (``torch = { index = "pytorch-cu124" }``) would otherwise get other packages,
    or the same ones from another index, without a word."""
    if not project.uv_settings:
        return []
    keys = ", ".join(project.uv_settings)
    are = "is a uv setting" if len(project.uv_settings) == 1 else "are uv's settings"
    return [f"{project.pyproject}: [tool.uv] {keys} {are}, which satlock does not read; write them in "
            "[tool.satlock] (index-url, extra-index-urls, find-links, sources, constraints, overrides) "
            "or [dependency-groups] to have them locked"]


def _with_file_hashes(chosen: dict[NormalizedName, Candidate], client: IndexClient) -> dict[NormalizedName, Candidate]:
    """Every chosen file with a sha256: an index need not give hashes, but a lock pins every file,
    so files listed without one are downloaded and hashed here."""
    missing = [f for c in chosen.values() for f in c.files if f.sha256 is None]
    if not missing:
        return chosen
    hashed = dict(zip(map(id, missing), fetch_many(client.with_sha256, missing)))
    return {n: replace(c, files=tuple(hashed.get(id(f), f) for f in c.files)) if any(id(f) in hashed for f in c.files) else c
            for n, c in chosen.items()}


def _solve(provider: IndexProvider, target: Target, policy: Policy, roots: list[RootRequirement]) -> Resolution:
    try:
        return Solver(provider, target.environment, policy).solve(roots)
    except Unsatisfiable as e:
        raise ResolutionError(explain(e.encoding, e.excluded, provider.profile_requirements(),
                                      built=provider.built_without_profile)) from None


def lock_is_current(project: Project, previous: Pylock, options: LockOptions) -> bool:
    """Whether ``previous`` already answers this lock request, so nothing need be resolved.

    As ``uv lock`` does: same inputs (pyproject.toml and profiles), same target, and no
    upgrade asked for. Versions would not move anyway, since the existing lock's versions
    are preferred while they stay valid.
    """
    if options.upgrade or options.upgrade_packages or stale_reason(project, previous) is not None:
        return False
    return other_target_reason(previous, options) is None


def other_target_reason(lock: Pylock, options: LockOptions) -> str | None:
    """Why ``lock`` was made for another target than ``options`` names, or ``None``.

    The environments marker says nothing of glibc or macOS versions: a lock made for
    ``--platform manylinux_2_39_x86_64`` that pins a package whose only wheel needs glibc
    2.31 must not pass as current for ``--platform linux`` (manylinux_2_28). So every
    package, of every extra and group, must also have a file the target can install.
    """
    target = options.make_target()
    wanted = str(Marker(target.describe()))
    made = [str(m) for m in lock.environments or []]
    if made != [wanted]:
        return f"it was made for {' or '.join(made) or 'no stated environment'}, not {wanted}"
    try:
        for _ in lock.select(environment=dict(target.environment), tags=list(target.tags), extras=lock.extras or [],
                             dependency_groups=lock.dependency_groups or []):
            pass
    except (PylockSelectError, InvalidWheelFilename) as e:
        return _needs_other_python(lock, target) or f"it was made for another platform version ({e})"
    return None


def _needs_other_python(lock: Pylock, target: Target) -> str | None:
    """Which package of ``lock`` the target's Python (another patch release: the
    environments marker names only ``python_version``) cannot install, or ``None``."""
    python = target.python_full_version
    environment = {**target.environment, "extras": frozenset(lock.extras or []),
                   "dependency_groups": frozenset(lock.dependency_groups or [])}
    for package in lock.packages:
        if package.requires_python is None or package.requires_python.contains(python, prereleases=True):
            continue
        if package.marker is None or package.marker.evaluate(environment, context="lock_file"):
            return f"{package.name} {package.version} in it requires Python {package.requires_python}, not {python}"
    return None


def stale_reason(project: Project, lock: Pylock) -> str | None:
    """Why ``lock`` no longer matches ``project``, or ``None`` when it is up to date."""
    table = satlock_table(lock)
    if lock_format(lock) != TOOL_FORMAT:
        return f"it was written in another satlock lock format ({lock_format(lock)}, now {TOOL_FORMAT})"
    if table.get("inputs-hash") != project.inputs_hash():
        recorded = table.get("profiles", {})
        current = project.profile_hashes()
        if recorded != current:
            changed = sorted(set(recorded) ^ set(current) | {k for k in current if recorded.get(k) != current[k]})
            return f"the build profiles changed ({', '.join(changed)})"
        if project.build_requires is not None and table.get("inputs-hash") == project.inputs_hash(build_system=False):
            # Nothing the user wrote changed: an older satlock's lock, or [build-system] added.
            return f"it does not record the build environment of the project {project.name}, which sync installs"
        return "pyproject.toml changed since the lock was written"
    recorded_sources = table.get("local-sources", {})
    current_sources = local_source_digests(project)
    if recorded_sources != current_sources:
        unrecorded = sorted(set(current_sources) - set(recorded_sources))
        if project.dynamic_requirements and project.name in unrecorded:
            # Written by a satlock that read [project] only, and locked none of them.
            fields = " and ".join(sorted(project.dynamic_requirements))
            return f"it was written without the requirements a build of the project gives ({fields} in project.dynamic)"
        if unrecorded and not recorded_sources:
            # Written by a satlock before local-sources, or before the folder was here:
            # nothing need have changed, the lock just cannot tell.
            sources = "source" if len(unrecorded) == 1 else "sources"
            return f"it holds no digest of the local {sources} {_some(unrecorded)}"
        changed = sorted(set(recorded_sources) ^ set(current_sources)
                         | {k for k in current_sources if recorded_sources.get(k) != current_sources[k]})
        if changed == [project.name] and project.dynamic_requirements:
            return (f"the files a build of the project reads its requirements from changed since the lock was written "
                    f"({', '.join([*(f'pyproject.toml [{t}]' for t in project.requirement_tables), *project.requirement_files])})")
        sources = "source" if len(changed) == 1 else "sources"
        return f"the local {sources} {_some(changed)} changed since the lock was written"
    # The profiles are as the lock says, but a record made by an older satlock need not
    # hold what they add (before 3a376a9, a package the lock did not build was recorded
    # with build-system.requires alone, newest, isolated).
    return build_records_reason(project.profiles, table, lock)


def _some(names: list[str], shown: int = 5) -> str:
    """The first few of ``names``: a hand-edited table of thousands must not make a line of
    thousands of names."""
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more
