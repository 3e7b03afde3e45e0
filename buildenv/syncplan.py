"""What a sync must change: the lock's selection for an interpreter, compared with what is installed.

``plan_sync`` needs no environment, only the marker environment and tags of the one to
sync, so it can be tested, and shown to the user, on its own; ``sync.execute_sync``
carries the plan out and says what it changed (``SyncReport``).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

from packaging.direct_url import ArchiveInfo, DirectUrl, DirInfo, VcsInfo
from packaging.pylock import (
    Package,
    PackageArchive,
    PackageDirectory,
    PackageSdist,
    PackageVcs,
    PackageWheel,
    Pylock,
    PylockSelectError,
)
from packaging.tags import Tag
from packaging.utils import InvalidWheelFilename, NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

from satlock.buildenv.installed import InstalledDist
from satlock.errors import LockError

SourceTree = Union[PackageSdist, PackageVcs, PackageDirectory, PackageArchive]

# Never removed, even when satlock installed it and the lock no longer selects it: the tool
# itself, which may be the one running the sync. pip, setuptools and wheel go like any other
# package satlock installed (a setuptools an extra's no-isolation build brought in leaves with
# the extra, as ``uv sync`` removes it); ones another installer put there always stay.
DEFAULT_KEEP = frozenset({"satlock"})

@dataclass(frozen=True)
class SyncItem:
    """One package the lock selects, with the file or source tree it installs from."""

    package: Package
    source: PackageWheel | SourceTree
    direct_url: Mapping[str, Any] | None = None

    @property
    def name(self) -> NormalizedName:
        return self.package.name

    @property
    def is_wheel(self) -> bool:
        return isinstance(self.source, PackageWheel)


@dataclass
class SyncPlan:
    """What ``execute_sync`` will do; empty when the environment already matches the lock."""

    to_install: list[SyncItem] = field(default_factory=list)
    to_replace: list[SyncItem] = field(default_factory=list)
    to_remove: list[InstalledDist] = field(default_factory=list)
    unchanged: list[NormalizedName] = field(default_factory=list)
    # The marker environment the lock was selected for, to read each wheel's METADATA in;
    # None where the lock's ``dependencies`` are not known to be complete (another tool's lock).
    environment: Mapping[str, str] | None = None
    # The lock's packages this sync does not install (behind an extra, a group or a marker
    # not selected): a wheel requiring one would be installed without it.
    left_out: frozenset[NormalizedName] = frozenset()

    @property
    def is_empty(self) -> bool:
        return not (self.to_install or self.to_replace or self.to_remove)


def _file_url(path: Path) -> str:
    return path.resolve().as_uri()


def direct_url_for(source: PackageWheel | SourceTree, lock_dir: Path) -> Mapping[str, Any] | None:
    """The PEP 610 ``direct_url.json`` a package installed from ``source`` gets (None from an index),
    made by ``packaging.direct_url`` (which also strips credentials from the URL)."""
    if isinstance(source, (PackageWheel, PackageSdist)):
        return None
    subdirectory = source.subdirectory or None
    if isinstance(source, PackageVcs):
        vcs = VcsInfo(vcs=source.type, commit_id=source.commit_id or "", requested_revision=source.requested_revision or None)
        url = source.url or _file_url(lock_dir / str(source.path))
        return DirectUrl(url=url, vcs_info=vcs, subdirectory=subdirectory).to_dict()
    if isinstance(source, PackageDirectory):
        return DirectUrl(url=_file_url(lock_dir / source.path), dir_info=DirInfo(editable=True if source.editable else None),
                         subdirectory=subdirectory).to_dict()
    url = source.url or _file_url(lock_dir / str(source.path))
    return DirectUrl(url=url, archive_info=ArchiveInfo(hashes=dict(source.hashes)), subdirectory=subdirectory).to_dict()


def _source_identity(direct_url: Mapping[str, Any] | None) -> tuple[Any, ...]:
    """What must match between the installed and the locked source for no reinstall."""
    if direct_url is None:
        return ("index",)
    url, sub = direct_url.get("url"), direct_url.get("subdirectory")
    if isinstance(direct_url.get("vcs_info"), Mapping):
        return ("vcs", url, direct_url["vcs_info"].get("commit_id"), sub)
    if isinstance(direct_url.get("dir_info"), Mapping):
        return ("dir", url, bool(direct_url["dir_info"].get("editable")), sub)
    if isinstance(direct_url.get("archive_info"), Mapping):
        info = direct_url["archive_info"]
        hashes = dict(info.get("hashes") or {})
        if not hashes and isinstance(info.get("hash"), str) and "=" in info["hash"]:
            algorithm, _, value = info["hash"].partition("=")
            hashes[algorithm] = value
        return ("archive", url, hashes.get("sha256"), sub)
    return ("unknown", url)


def _same_version(installed: str, locked: Version | None) -> bool:
    if locked is None:
        return True
    try:
        return Version(installed) == locked
    except InvalidVersion:
        return False


def plan_sync(lock: Pylock, installed: Mapping[NormalizedName, InstalledDist], environment: Mapping[str, str],
              tags: list[Tag], extras: Collection[str] = (), groups: Collection[str] | None = None,
              reinstall: bool = False, keep: Collection[str] = DEFAULT_KEEP, *,
              lock_dir: Path = Path("."), build_inputs: Mapping[NormalizedName, Mapping[str, Any]] | None = None) -> SyncPlan:
    """Compare what ``lock`` selects for this environment with what is ``installed``.

    ``groups`` None means the lock's default groups. Only packages satlock installed are
    ever removed, and never those in ``keep``. ``lock_dir`` is the folder relative
    ``path`` entries of the lock are relative to. A source package whose ``build_inputs``
    (buildenv/buildinputs.py) differ from the ones it was installed with is built again.
    """
    build_inputs = build_inputs or {}
    refusal = interpreter_refusal(lock, environment)
    if refusal is not None:
        raise LockError(refusal, hint=interpreter_hint(venv_exists=False))
    try:
        selected = list(lock.select(environment=dict(environment), tags=tags, extras=[canonicalize_name(e) for e in extras],
                                    dependency_groups=groups))
    except PylockSelectError as e:
        raise LockError(f"pylock.toml cannot be installed in this environment: {e}",
                        hint="run `satlock lock` again, or sync with another interpreter") from None
    except InvalidWheelFilename as e:
        raise LockError(f"pylock.toml lists a wheel with an invalid file name: {e}", hint="run `satlock lock` again") from None
    plan = SyncPlan(environment=dict(environment) if (lock.tool or {}).get("satlock") else None)
    names: set[NormalizedName] = set()
    for package, source in selected:
        names.add(package.name)
        item = SyncItem(package, source, direct_url_for(source, lock_dir))
        current = installed.get(package.name)
        if current is None:
            plan.to_install.append(item)
        elif (reinstall or not _same_version(current.version, package.version)
              or _source_identity(current.direct_url) != _source_identity(item.direct_url)
              or (not item.is_wheel and package.name in build_inputs
                  and current.build_identity != build_inputs[package.name]["identity"])):
            plan.to_replace.append(item)
        else:
            plan.unchanged.append(package.name)
    plan.left_out = frozenset(canonicalize_name(p.name) for p in lock.packages) - {canonicalize_name(n) for n in names}
    kept = {canonicalize_name(k) for k in keep}
    for name, dist in sorted(installed.items()):
        if name not in names and name not in kept and dist.installer == "satlock":
            plan.to_remove.append(dist)
    return plan


def interpreter_hint(*, venv_exists: bool) -> str:
    """What to do about an ``interpreter_refusal``: --python only makes a new .venv, so an
    existing one must go first, or the same refusal comes back."""
    python = "remove .venv and sync with --python set to" if venv_exists else "pass --python with"
    return f"sync without --frozen to lock again for this interpreter, or {python} one the lock was made for"


def interpreter_refusal(lock: Pylock, environment: Mapping[str, str]) -> str | None:
    """Why the environment's interpreter is not one ``lock`` was made for, or ``None``:
    the lock-wide checks ``Pylock.select`` makes first, said with what the lock names and
    what the interpreter is, instead of select's "provided environment" wording."""
    here = (f"this environment's interpreter is Python {environment.get('python_full_version', '?')} "
            f"on {environment.get('sys_platform', '?')} ({environment.get('platform_machine', '?')})")
    try:
        python = Version(environment.get("python_full_version", "").rstrip("+"))
    except InvalidVersion:
        return None  # select says what it makes of it
    if lock.requires_python is not None and not lock.requires_python.contains(python, prereleases=True):
        return f"pylock.toml requires Python {lock.requires_python}; {here}"
    if lock.environments == []:
        return f"pylock.toml lists no environments (environments = []); {here}"
    if lock.environments and not any(m.evaluate(dict(environment), context="requirement") for m in lock.environments):
        return f"pylock.toml was locked for {' or '.join(str(m) for m in lock.environments)}; {here}"
    return None


@dataclass
class SyncReport:
    """What ``execute_sync`` changed, for the CLI's summary."""

    installed: list[NormalizedName] = field(default_factory=list)
    replaced: list[NormalizedName] = field(default_factory=list)
    removed: list[NormalizedName] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.installed or self.replaced or self.removed)
