"""The project's ``.venv``: create it, then make it hold what the lock selects."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from packaging.pylock import Package, PackageDirectory, PackageVcs, Pylock
from packaging.utils import NormalizedName, canonicalize_name

from satlock.buildenv.installed import installed_distributions
from satlock.buildenv.buildinputs import folder_build_inputs, locked_build_inputs
from satlock.buildenv.syncplan import SyncReport, plan_sync
from satlock.buildenv.venv import Venv, create_venv, marker_environment
from satlock.cache import digest
from satlock.errors import BuildError, ConfigError, LockError, NotFoundError, ResolutionError, SatlockError
from satlock.resolver.project import Project

if TYPE_CHECKING:
    from satlock.buildenv.fetch import LockedFiles
    from satlock.buildenv.metadata import ProfileBuilder


@dataclass
class SyncRequest:
    venv_root: Path
    python: Path | None = None
    extras: list[str] | None = None
    groups: list[str] | None = None
    reinstall: bool = False
    no_build: bool = False
    allow_outside_project: bool = False
    # The project itself, editable, when it is a package (``Project.build_requires``).
    install_project: bool = True


def _listing(kind: str, names: list[str]) -> str:
    return f"it declares the {kind} {', '.join(sorted(names))}" if names else f"it declares no {kind}"


def _hint(name: str, declared: list[str], table: str, other: list[str], other_kind: str, other_flag: str) -> str:
    """What to do about an undeclared extra or group: extras and groups are easily taken
    for each other (click has a 'tests' group, pytest a 'dev' extra and a 'dev' group), so
    a name declared as the other kind says which flag asks for it."""
    if canonicalize_name(name) in other:
        return f"{name!r} is {other_kind} there: ask for it with {other_flag} {name}"
    return f"ask for one of those, or add it to {table}" if declared else f"add it to {table}"


def check_declared(project: Project, extras: list[str], groups: list[str]) -> None:
    """Refuse a sync asking for an extra or group pyproject.toml does not declare.

    That is a typo on the command line, not a stale lock, so the message lists what
    exists instead of suggesting a re-lock.
    """
    declared_extras = [canonicalize_name(e) for e in project.optional]
    declared_groups = [canonicalize_name(g) for g in project.groups]
    # Extras a build of the project tells (``optional-dependencies`` in ``dynamic``) are
    # known from the lock only: ``check_locked`` holds the request to them.
    built_extras = "optional-dependencies" in project.dynamic_requirements
    checked_extras = [] if built_extras else extras
    for extra in checked_extras:
        if canonicalize_name(extra) not in declared_extras:
            raise ConfigError(f"--extra {extra}: {project.pyproject} has no extra '{extra}'; "
                              + _listing("extras", declared_extras),
                              hint=_hint(extra, declared_extras, "[project.optional-dependencies]",
                                         declared_groups, "a dependency group", "--group"))
    for group in groups:
        if canonicalize_name(group) not in declared_groups:
            hint = _hint(group, declared_groups, "[dependency-groups]", declared_extras, "an extra", "--extra")
            if built_extras:
                # Which extras a build provides is not known before the lock: say the other flag.
                hint += f"; if '{group}' is an extra a build of the project provides, ask for it with --extra {group}"
            raise ConfigError(f"--group {group}: {project.pyproject} has no dependency group '{group}'; "
                              + _listing("groups", declared_groups), hint=hint)


def check_locked(lock: Pylock, lock_path: Path, extras: list[str], groups: list[str], *, built_extras: bool = False) -> None:
    """Refuse a sync whose extra or group pyproject.toml declares but the lock does not (a stale lock).

    With ``built_extras`` (``optional-dependencies`` in ``dynamic``) pyproject.toml declares
    no extras: the lock holds those a build of the project provided, and an extra missing
    from it is a typo to name, as ``check_declared`` names one, not a reason to re-lock."""
    locked_extras = [canonicalize_name(e) for e in lock.extras or []]
    locked_groups = [canonicalize_name(g) for g in lock.dependency_groups or []]
    for extra in extras if built_extras else []:
        if canonicalize_name(extra) not in locked_extras:
            provided = f"the extras {', '.join(sorted(locked_extras))}" if locked_extras else "none"
            raise ConfigError(f"--extra {extra}: a build of the project provides no extra '{extra}'; "
                              f"{lock_path} records {provided} as provided",
                              hint=_hint(extra, locked_extras, "the requirements its build reads (then run `satlock lock`)",
                                         locked_groups, "a dependency group", "--group"))
    for kind, names, locked in (("extra", extras, locked_extras), ("dependency group", groups, locked_groups)):
        for name in names:
            if canonicalize_name(name) not in locked:
                raise LockError(f"{lock_path} has no {kind} '{name}' although pyproject.toml declares it: the lock is out of date",
                                hint="run `satlock lock` (or sync without --frozen)")


def declared_folders(project: Project) -> dict[NormalizedName, Path]:
    """The local folders pyproject.toml itself names as sources: ``[tool.satlock.sources]``
    paths and ``file:`` direct references. Those are the user's choice wherever they are."""
    from satlock.resolver.directrefs import direct_reference, source_reference

    refs = []
    for name, spec in project.settings.sources.items():
        if spec.path:
            try:
                refs.append((name, source_reference(name, spec, project.root)))
            except SatlockError:
                continue
    for root in project.root_requirements():
        if root.requirement.url and root.requirement.url.startswith("file:"):
            try:
                refs.append((root.requirement.name, direct_reference(root.requirement.url, project.root)))
            except SatlockError:
                continue
    return {canonicalize_name(n): Path(r.path).resolve() for n, r in refs if r.kind == "directory" and r.path}


def check_local_folders(project: Project, lock: Pylock, allow_outside: bool) -> None:
    """Refuse to build a lock's local folder that lies outside the project, unless pyproject.toml
    declares it for that package or the user passed ``--allow-outside-project``.

    A folder source carries no hash: what is built (its setup.py run) is whatever is on
    disk at sync time. A lock from elsewhere (a pull request, a download) must not be
    able to make sync run code from an arbitrary folder of this machine.
    """
    if allow_outside:
        return
    root = project.root.resolve()
    declared: dict[NormalizedName, Path] | None = None  # read for the first folder outside the project
    for package in lock.packages:
        source: PackageDirectory | PackageVcs | None = package.directory or package.vcs
        if source is None or source.path is None or (isinstance(source, PackageVcs) and source.url is not None):
            continue
        base = (project.root / source.path).resolve()
        folder = (base / source.subdirectory).resolve() if source.subdirectory else base
        if folder.is_relative_to(root):
            continue
        declared = declared_folders(project) if declared is None else declared
        if declared.get(package.name) == base and folder.is_relative_to(base):
            continue
        raise ConfigError(f"pylock.toml: {package.name} is built from {folder}, outside the project folder {root}, "
                          f"and pyproject.toml does not declare that folder as its source",
                          hint="nothing was built or installed; declare it in [tool.satlock.sources] and run `satlock lock`, "
                               "or pass --allow-outside-project if you trust this lock")


def project_package(project: Project, lock: Pylock) -> Package | None:
    """The project itself as the package ``sync`` installs: an editable build of its folder,
    as ``uv sync``, ``poetry install`` and ``pdm install`` do, so ``import`` of the project
    and its entry points work in .venv. None when it is no package (no [build-system], or
    ``[tool.satlock] package = false``) or the lock has a package of that name.

    It is not in the lock's ``packages``: pip and uv install those as a requirements file,
    and an editable folder there would make pip refuse the whole lock (as Poetry and PDM
    keep the project out of their locks). Its build environment is locked, under its name
    in ``[tool.satlock.build-environments]``."""
    name = project.name
    if name is None or project.build_requires is None or any(p.name == name for p in lock.packages):
        return None
    return Package(name=name, directory=PackageDirectory(path=".", editable=True))


def sync_project(project: Project, lock: Pylock, request: SyncRequest, fetcher: LockedFiles,
                 make_builder: Callable[[], ProfileBuilder], progress: Callable[[str, str], None] | None = None) -> SyncReport:
    """Install ``lock`` (and the project itself, see ``project_package``) into the project's
    environment, fetching through ``fetcher``; nothing changes if a download or hash check fails.

    ``make_builder`` gives what builds (the index client and the project's profiles),
    called only when a package must be built from source: a sync that finds the
    environment as the lock wants it loads neither that nor the installer, and one of
    wheels only not the build layer (most of satlock's code).
    """
    check_local_folders(project, lock, request.allow_outside_project)
    own = project_package(project, lock) if request.install_project else None
    venv = create_venv(request.venv_root, request.python)
    environment, tags = marker_environment(venv)
    installed = installed_distributions(venv)
    inputs = locked_build_inputs(lock)
    if own is not None:
        lock = replace(lock, packages=[*lock.packages, own])
        from satlock.resolver.directrefs import folder_digest, requirement_files_digest

        # Its pyproject.toml, setup.py and setup.cfg as they are now: a new entry point or
        # dependency there is built into the editable wheel again, as uv does.
        files = folder_digest(project.root)
        if project.dynamic_requirements:
            # And the files its build reads its requirements from (requirements.txt).
            files = digest(files, requirement_files_digest(project))
        inputs[own.name] = folder_build_inputs(inputs.get(own.name), files)
    # Otherwise (--no-install-project, ``package = false``) an earlier install of the project
    # by satlock is not what the lock selects, and goes like any other, as ``uv sync`` removes it.
    plan = plan_sync(lock, installed, environment, tags, request.extras or [], request.groups,
                     reinstall=request.reinstall, lock_dir=project.root, build_inputs=inputs)
    if plan.is_empty:
        return SyncReport()
    if own is not None and request.no_build and own.name in {i.name for i in plan.to_install + plan.to_replace}:
        # Refused only when it must be built: an editable install that is current stays.
        raise ConfigError(f"--no-build: the project {own.name} itself is installed from a build of its folder (editable)",
                          hint="add --no-install-project to install its dependencies only")
    from satlock.buildenv.sync import execute_sync
    from satlock.resolver.matching import evaluate_marker

    direct = {canonicalize_name(r.requirement.name) for r in project.root_requirements()} | ({own.name} if own else set())
    # What a package requires of these the lock did not take from it, but from the overrides
    # (name -> whether one applies here; where none does, the override dropped the package).
    overridden: dict[NormalizedName, bool] = {}
    for r in project.overrides():
        applies = r.marker is None or evaluate_marker(r.marker, {**environment, "extra": ""})
        overridden[canonicalize_name(r.name)] = overridden.get(canonicalize_name(r.name), False) or applies
    if all(i.is_wheel for i in plan.to_install + plan.to_replace):
        return execute_sync(plan, venv, fetcher.fetch_wheel, None, {}, progress=progress, cache=fetcher.cache,
                            requested=direct, build_inputs=inputs, overridden=overridden)
    from satlock.buildenv.wheels import LockedBuilder

    locked = LockedBuilder(lock, project.root, make_builder(), fetcher, inputs=inputs)
    selected = {i.name for i in plan.to_install + plan.to_replace} | set(plan.unchanged)

    def build_wheel(package: Package, source: Any, venv: Venv) -> Path:
        try:
            return locked.build_wheel(package, source, venv)
        except (BuildError, ResolutionError, NotFoundError) as e:
            # Its build environment too, when the lock has none recorded (no backend on the index).
            if own is None or package.name != own.name:
                raise
            also = "if the project is not meant to be installed, set `package = false` in [tool.satlock] " \
                   "(or sync with --no-install-project)"
            raise BuildError(f"installing the project itself: {e.message}",
                             hint=f"{e.hint}; or, {also}" if e.hint else also) from None

    # Their lock's dependencies are not a build's: the project's own are its requirements, and
    # a profile's metadata declares those of its package.
    declared = {name for name, profile in project.profiles.items() if profile.metadata is not None}
    return execute_sync(plan, venv, fetcher.fetch_wheel, None if request.no_build else build_wheel,
                        locked.build_needs(selected), progress=progress, cache=fetcher.cache, requested=direct,
                        build_inputs=inputs, prepare_builds=locked.prepare,
                        builds_own_dependencies=declared | ({own.name} if own is not None else set()),
                        overridden=overridden)
