"""Whether an existing lock still answers the project, and the options a lock is asked with.

Asked on every ``satlock lock`` and ``satlock sync``, most often to find nothing to do, so
this reads the lock and pyproject.toml only and loads none of the solver, the index client
or the build layer (``locking.py``, which makes a lock, does).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from packaging.markers import Marker
from packaging.pylock import Pylock, PylockSelectError
from packaging.utils import InvalidWheelFilename, NormalizedName

from satlock.resolver.lockfile import TOOL_FORMAT, lock_format, satlock_table
from satlock.resolver.project import Project
from satlock.resolver.target import Target, make_target


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


def excludes_target_python(project: Project, target: Target) -> bool:
    """Whether ``project``'s requires-python leaves out the target's Python; ``lock`` and
    ``sync`` each say so with their own hint (one takes --python-version, the other --python)."""
    return project.requires_python is not None and not project.requires_python.contains(target.python_full_version,
                                                                                         prereleases=True)


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
    # Imported here: ``sync --frozen`` needs this module's options, not its checks.
    from satlock.resolver.buildrecords import build_records_reason
    from satlock.resolver.directrefs import local_source_digests

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
