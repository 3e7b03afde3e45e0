"""The project's ``.venv``: create it, then make it hold what the lock selects."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from packaging.pylock import Pylock
from packaging.utils import canonicalize_name

from satlock.buildenv.install import installed_distributions
from satlock.buildenv.metadata import ProfileBuilder
from satlock.buildenv.sync import SyncReport, execute_sync, marker_environment, plan_sync
from satlock.buildenv.venv import create_venv
from satlock.buildenv.wheels import LockedBuilder
from satlock.resolver.project import Project


@dataclass
class SyncRequest:
    venv_root: Path
    python: Path | None = None
    extras: list[str] | None = None
    groups: list[str] | None = None
    reinstall: bool = False
    no_build: bool = False


def sync_project(project: Project, lock: Pylock, request: SyncRequest, builder: ProfileBuilder,
                 progress: Callable[[str, str], None] | None = None) -> SyncReport:
    """Install ``lock`` into the project's environment; nothing changes if a download or hash check fails."""
    venv = create_venv(request.venv_root, request.python)
    environment, tags = marker_environment(venv)
    installed = installed_distributions(venv)
    plan = plan_sync(lock, installed, environment, tags, request.extras or [], request.groups,
                     reinstall=request.reinstall, lock_dir=project.root)
    if plan.is_empty:
        return SyncReport()
    locked = LockedBuilder(lock, project.root, builder)
    selected = {i.name for i in plan.to_install + plan.to_replace} | set(plan.unchanged)
    direct = {canonicalize_name(r.requirement.name) for r in project.root_requirements()}
    return execute_sync(plan, venv, locked.fetch_wheel, None if request.no_build else locked.build_wheel,
                        locked.build_needs(selected), progress=progress, cache=builder.cache, requested=direct)
