"""``satlock lock`` from start to end: project in, ``Pylock`` out.

Builds the provider (from the client resolver/settings.py makes and the direct references
resolver/directrefs.py reads), runs the solver, and assembles the lock; whether an
existing lock still answers the project is resolver/freshness.py's question. Nothing here
writes the lock file: the caller does that atomically, and only after everything succeeded.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from collections.abc import Mapping, Set
from typing import Protocol

from packaging.pylock import Pylock
from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from satlock.errors import ConfigError, NotFoundError, ResolutionError
from satlock.http import redact
from satlock.parallel import fetch_many
from satlock.resolver.buildenvs import BuildEnvironment
from satlock.resolver.candidates import Candidate, DirectReference
from satlock.resolver.coremeta import parse_metadata
from satlock.resolver.directrefs import collect_direct, local_source_digests
from satlock.resolver.explain import explain
from satlock.resolver.index import IndexClient
from satlock.resolver.matching import evaluate_marker
from satlock.resolver.indexprovider import IndexProvider, MetadataBuilder
from satlock.resolver.origin import DEPENDENCIES
from satlock.resolver.freshness import LockOptions, excludes_target_python
from satlock.resolver.lockfile import LockInputs, build_lock, locked_versions
from satlock.resolver.project import Project
from satlock.resolver.solve import Policy, Resolution, RootRequirement, Solver, Unsatisfiable
from satlock.resolver.speculation import Speculation
from satlock.resolver.target import Target


class LockBuilder(MetadataBuilder, Protocol):
    """Everything ``lock_project`` asks of the build layer (buildenv.metadata.ProfileBuilder):
    metadata builds and build variants (``MetadataBuilder``), and the record of the build
    environments the chosen solution needs, for ``[tool.satlock.build-environments]``."""

    def locked_build_environments(self, resolution: Resolution) -> dict[NormalizedName, BuildEnvironment]:
        """The build environment of every source package in ``resolution``, pinned with hashes."""


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
        return LockResult(lock, resolution, resolution.warnings + unknown + _unused_sources(project, required), target)


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


def project_warnings(project: Project) -> list[str]:
    """What to say of the project before it is locked, so it is said when the lock fails too
    (a package only a [tool.uv] source provides is "not found on the index"): what reading it
    let pass, and the [tool.uv] settings the lock will not follow."""
    return [*project.warnings, *_uv_settings(project)]


def _uv_settings(project: Project) -> list[str]:
    """A warning naming the [tool.uv] settings the lock does not follow: a project moving
    from uv (``torch = { index = "pytorch-cu124" }``) would otherwise get other packages,
    or the same ones from another index, without a word."""
    if not project.uv_settings:
        return []
    keys = ", ".join(project.uv_settings)
    are = "is a uv setting" if len(project.uv_settings) == 1 else "are uv's settings"
    return [f"{project.pyproject}: [tool.uv] {keys} {are}, which satlock does not read; write them in "
            "[tool.satlock] (index-url, extra-index-urls, find-links, sources, constraints, overrides, prerelease, "
            "default-groups) "
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
