"""The project's ``.venv``: create it, then make it hold what the lock selects."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from packaging.pylock import Pylock
from packaging.utils import canonicalize_name

from satlock.buildenv.install import installed_distributions
from satlock.buildenv.buildinputs import locked_build_inputs
from satlock.buildenv.metadata import ProfileBuilder
from satlock.buildenv.sync import SyncReport, execute_sync, marker_environment, plan_sync
from satlock.buildenv.venv import create_venv
from satlock.buildenv.wheels import LockedBuilder
from satlock.errors import ConfigError, LockError
from satlock.resolver.project import Project


@dataclass
class SyncRequest:
    venv_root: Path
    python: Path | None = None
    extras: list[str] | None = None
    groups: list[str] | None = None
    reinstall: bool = False
    no_build: bool = False


def _listing(kind: str, names: list[str]) -> str:
    return f"it declares the {kind} {', '.join(sorted(names))}" if names else f"it declares no {kind}"


def check_declared(project: Project, extras: list[str], groups: list[str]) -> None:
    """Refuse a sync asking for an extra or group pyproject.toml does not declare.

    That is a typo on the command line, not a stale lock, so the message lists what
    exists instead of suggesting a re-lock.
    """
    declared_extras = [canonicalize_name(e) for e in project.optional]
    declared_groups = [canonicalize_name(g) for g in project.groups]
    for extra in extras:
        if canonicalize_name(extra) not in declared_extras:
            raise ConfigError(f"--extra {extra}: {project.pyproject} has no extra '{extra}'; "
                              + _listing("extras", declared_extras),
                              hint="ask for one of those, or add it to [project.optional-dependencies]")
    for group in groups:
        if canonicalize_name(group) not in declared_groups:
            raise ConfigError(f"--group {group}: {project.pyproject} has no dependency group '{group}'; "
                              + _listing("groups", declared_groups),
                              hint="ask for one of those, or add it to [dependency-groups]")


def check_locked(lock: Pylock, lock_path: Path, extras: list[str], groups: list[str]) -> None:
    """Refuse a sync whose extra or group pyproject.toml declares but the lock does not (a stale lock)."""
    locked_extras = [canonicalize_name(e) for e in lock.extras or []]
    locked_groups = [canonicalize_name(g) for g in lock.dependency_groups or []]
    for kind, names, locked in (("extra", extras, locked_extras), ("dependency group", groups, locked_groups)):
        for name in names:
            if canonicalize_name(name) not in locked:
                raise LockError(f"{lock_path} has no {kind} '{name}' although pyproject.toml declares it: the lock is out of date",
                                hint="run `satlock lock` (or sync without --frozen)")


def sync_project(project: Project, lock: Pylock, request: SyncRequest, builder: ProfileBuilder,
                 progress: Callable[[str, str], None] | None = None) -> SyncReport:
    """Install ``lock`` into the project's environment; nothing changes if a download or hash check fails."""
    venv = create_venv(request.venv_root, request.python)
    environment, tags = marker_environment(venv)
    installed = installed_distributions(venv)
    inputs = locked_build_inputs(lock)
    plan = plan_sync(lock, installed, environment, tags, request.extras or [], request.groups,
                     reinstall=request.reinstall, lock_dir=project.root, build_inputs=inputs)
    if plan.is_empty:
        return SyncReport()
    locked = LockedBuilder(lock, project.root, builder)
    selected = {i.name for i in plan.to_install + plan.to_replace} | set(plan.unchanged)
    direct = {canonicalize_name(r.requirement.name) for r in project.root_requirements()}
    return execute_sync(plan, venv, locked.fetch_wheel, None if request.no_build else locked.build_wheel,
                        locked.build_needs(selected), progress=progress, cache=builder.cache, requested=direct,
                        build_inputs=inputs, prepare_builds=locked.prepare)
