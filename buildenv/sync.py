"""Making an environment hold exactly what a lock file selects for it.

``execute_sync`` carries out a plan (``syncplan.plan_sync``): every wheel is downloaded
before the environment is touched (a hash mismatch or a network failure changes nothing),
then the packages built from source that do not build in the environment (isolated), then
removals, wheels, and last the packages built in the environment, each after the packages
its build imports from it. Downloads and builds are callables, so this module knows nothing of
indexes or PEP 517.
"""

from __future__ import annotations

import graphlib
import os
from collections.abc import Callable, Collection, Mapping
from concurrent.futures import FIRST_EXCEPTION, Future, wait
from pathlib import Path
from typing import Any

from packaging.pylock import Package, PackageWheel
from packaging.utils import InvalidWheelFilename, NormalizedName, canonicalize_name, parse_wheel_filename
from packaging.version import InvalidVersion, Version

from satlock.buildenv.install import StagedInstall, discard_staged, finish_install, install_wheel, stage_install
from satlock.buildenv.installed import InstalledDist, installed_distributions
from satlock.buildenv.syncplan import SourceTree, SyncItem, SyncPlan, SyncReport
from satlock.buildenv.uninstall import recover_interrupted, uninstall
from satlock.buildenv.unpacked import cached_unpacked
from satlock.buildenv.venv import Venv
from satlock.buildenv.venvpaths import VenvSnapshot
from satlock.buildenv.wheelcheck import FileOwners, WheelPlan, check_conflicts, check_dependencies, check_identity, claim, file_owners, read_wheel
from satlock.errors import BuildError, InstallError, LockError
from satlock.mutex import FileLock
from satlock.parallel import WorkerPool
from satlock.cache import Cache

FetchWheel = Callable[[Package, PackageWheel], Path]
BuildWheel = Callable[[Package, SourceTree, Venv], Path]
Progress = Callable[[str, str], None]


def _build_order(plan: SyncPlan, installed: Mapping[NormalizedName, InstalledDist],
                 build_needs: Mapping[NormalizedName, Collection[NormalizedName]]) -> list[SyncItem]:
    """Source packages ordered so each no-isolation build finds its build needs installed."""
    items = [i for i in plan.to_install + plan.to_replace if not i.is_wheel]
    by_name = {i.name: i for i in items}
    removed = {d.name for d in plan.to_remove}
    present = (set(installed) - removed) | {i.name for i in plan.to_install + plan.to_replace} | set(plan.unchanged)
    sorter: graphlib.TopologicalSorter[NormalizedName] = graphlib.TopologicalSorter()
    for name in sorted(by_name):
        needs = sorted({canonicalize_name(n) for n in build_needs.get(name, ())})
        for need in needs:
            if need not in present:
                raise LockError(f"{name} is built in the project environment and needs {need} installed first, "
                                f"but the lock does not install {need}",
                                hint=f"add {need} to the build profile's requirements and run `satlock lock`")
        sorter.add(name, *[n for n in needs if n in by_name])
    try:
        order = list(sorter.static_order())
    except graphlib.CycleError as e:
        cycle = " -> ".join(e.args[1])
        raise LockError(f"the build needs of source packages form a cycle: {cycle}",
                        hint="one of them must be installed from a wheel or built in isolation") from None
    return [by_name[n] for n in order]


def _fetch_all(items: list[SyncItem], fetch_wheel: FetchWheel, jobs: int,
               progress: Progress | None) -> dict[NormalizedName, Path]:
    """Download every wheel in parallel; on the first failure cancel the rest and raise it."""
    if not items:
        return {}
    paths: dict[NormalizedName, Path] = {}
    # Daemon workers (satlock.parallel): on Ctrl-C a download stalled on its server is
    # abandoned, not joined, so the command ends at once (a ThreadPoolExecutor joins it).
    pool = WorkerPool(max_workers=max(1, jobs), name="satlock-download")
    interrupted = False
    try:
        futures: dict[Future[Path], SyncItem] = {}
        for item in items:
            if progress:
                progress("fetch", item.name)
            assert isinstance(item.source, PackageWheel)
            futures[pool.submit(fetch_wheel, item.package, item.source)] = item
        pending = set(futures)
        while pending:
            done, pending = wait(pending, return_when=FIRST_EXCEPTION)
            for future in done:
                error = future.exception()
                if error is not None:
                    raise error
                item = futures[future]
                paths[item.name] = future.result()
                if progress:
                    progress("fetched", item.name)
    except KeyboardInterrupt:
        interrupted = True
        raise
    finally:
        pool.shutdown(wait=not interrupted, cancel_futures=True)
    return paths


# Two: one thread stages while the other waits in the kernel. Each file costs a few short
# system calls, each releasing and retaking the interpreter lock, so more threads mostly wait
# on each other: a warm sync of the medium set on 2 cores, 6 rounds after deleting `.venv`,
# took 0.94 s on 1 thread, 0.65 s on 2, 0.90 s on 8 (0.52 / 0.49 / 0.56 s where nothing had
# just been deleted and so mkdir was cheap).
_STAGING_THREADS = 2
_STAGED_AHEAD = 4


def _install_wheels(items: list[SyncItem], stage: Callable[[SyncItem], StagedInstall],
                    finish: Callable[[SyncItem, StagedInstall], None], jobs: int, progress: Progress | None) -> None:
    """Stage the wheels on worker threads and move each into place, in ``items``' order, as
    soon as it is staged; on a failure the wheels staged but not installed are dropped.

    Staging is where the time goes (a ``mkdir`` per folder, a link and a hash per file, none
    of which holds the interpreter lock); moving into place is a few renames, done on the
    calling thread one wheel after another, so two wheels never write one folder at once.
    Staging runs at most ``_STAGED_AHEAD`` wheels ahead of the installs: where the cache's
    files must be copied rather than linked, a staged wheel takes its full size on disk,
    and an upgrade must not hold every new version beside every old one.
    """
    if not items:
        return
    threads = max(1, min(jobs, len(items), _STAGING_THREADS, os.cpu_count() or 1))
    pool = WorkerPool(max_workers=threads, name="satlock-stage")
    futures = [pool.submit(stage, item) for item in items[:_STAGED_AHEAD]]
    finished = 0
    interrupted = False
    try:
        for item in items:
            if progress:
                progress("install", item.name)
            staged = futures[finished].result()
            finished += 1
            finish(item, staged)
            if progress:
                progress("installed", item.name)
            if len(futures) < len(items):
                futures.append(pool.submit(stage, items[len(futures)]))
    except KeyboardInterrupt:
        # Left to the workers: a staging folder they finish is cleared by the next sync
        # (uninstall.recover_interrupted), and nothing is half-installed.
        interrupted = True
        raise
    finally:
        pool.shutdown(wait=not interrupted, cancel_futures=True)
        if not interrupted:
            for future in futures[finished:]:
                if future.done() and not future.cancelled() and future.exception() is None:
                    discard_staged(future.result())


def _locked_dependencies(package: Package) -> dict[NormalizedName, Version | None]:
    """The lock's ``dependencies`` of ``package``: name -> version (None when not given or not valid)."""
    out: dict[NormalizedName, Version | None] = {}
    for dep in package.dependencies or []:
        name = dep.get("name") if isinstance(dep, Mapping) else None
        if isinstance(name, str):
            version = dep.get("version")
            try:
                out[canonicalize_name(name)] = Version(str(version)) if version is not None else None
            except InvalidVersion:
                out[canonicalize_name(name)] = None
    return out


def _preflight(plan: SyncPlan, wheels: list[SyncItem], fetched: Mapping[NormalizedName, Path], venv: Venv,
               installed: Mapping[NormalizedName, InstalledDist],
               dependencies: _DependencyCheck) -> tuple[FileOwners, dict[NormalizedName, WheelPlan]]:
    """Refuse, before the environment changes, any fetched wheel that is not what the lock says
    (name, version, dependencies) or would overwrite the environment or another package.

    Returns who owns which file once the plan is carried out, for the installs to keep checking,
    and each wheel as read, so the installs do not read it again.
    """
    leaving = {d.name for d in plan.to_remove} | {i.name for i in plan.to_replace}
    owners = file_owners(d for d in installed.values() if d.name not in leaving)
    snapshot = VenvSnapshot(venv)  # .venv does not change until every wheel is checked
    plans = {item.name: _held(item, fetched[item.name], venv, owners, dependencies, snapshot) for item in wheels}
    return owners, plans


def _held(item: SyncItem, path: Path, venv: Venv, owners: FileOwners, dependencies: _DependencyCheck | None,
          snapshot: VenvSnapshot | None = None) -> WheelPlan:
    """The wheel at ``path`` read, and refused unless it is the package and version the lock
    says, has the lock's dependencies (checked where ``dependencies`` is given), and
    overwrites nothing of the environment or of another package; its files are then
    ``owners``'. ``snapshot`` is ``venv`` as the checks before saw it, while it has not changed."""
    snapshot = snapshot if snapshot is not None else VenvSnapshot(venv)
    wheel = read_wheel(path, venv, snapshot)
    check_identity(wheel, item.name, item.package.version, "pylock.toml")
    if dependencies is not None:
        dependencies(item, wheel)
    check_conflicts(wheel, venv, owners, snapshot=snapshot)
    claim(owners, wheel)
    return wheel


class _DependencyCheck:
    """Holds a wheel to the lock's dependencies of its package that this sync installs (none
    the lock installs only with an extra or group not selected here), a requirement the
    project's ``overrides`` replaced held to the override's outcome; a no-op for a lock
    whose dependencies are not known to be complete (``plan.environment`` None)."""

    def __init__(self, plan: SyncPlan, overridden: Mapping[NormalizedName, bool]) -> None:
        self.plan, self.overridden = plan, overridden

    def __call__(self, item: SyncItem, wheel: WheelPlan) -> None:
        if self.plan.environment is None:
            return
        where = f"{item.name} {item.package.version}" if item.package.version is not None else item.name
        check_dependencies(wheel, _locked_dependencies(item.package), self.plan.environment, where, built=not item.is_wheel,
                           left_out=self.plan.left_out, overridden=self.overridden)


def _wheel_sha256(item: SyncItem) -> str | None:
    """The lock's sha256 of a wheel it names, which the download was just held to."""
    return item.source.hashes.get("sha256") if isinstance(item.source, PackageWheel) else None


def _check_built(item: SyncItem, wheel: Path) -> None:
    try:
        name, version, _build, _tags = parse_wheel_filename(Path(wheel).name)
    except InvalidWheelFilename as e:
        raise BuildError(f"building {item.name} gave {wheel}, which is not a wheel: {e}") from None
    if name != item.name:
        raise BuildError(f"building {item.name} gave a wheel for {name} ({Path(wheel).name})",
                         hint="the package's name in its metadata differs from the lock; run `satlock lock` again")
    if item.package.version is not None and version != item.package.version:
        raise BuildError(f"building {item.name} gave version {version}, but the lock says {item.package.version}",
                         hint="the source changed since it was locked; run `satlock lock` again")


def execute_sync(plan: SyncPlan, venv: Venv, fetch_wheel: FetchWheel, build_wheel: BuildWheel | None,
                 build_needs: Mapping[NormalizedName, Collection[NormalizedName]], *, jobs: int = 8,
                 progress: Progress | None = None, cache: Cache | None = None,
                 requested: Collection[str] = (), build_inputs: Mapping[NormalizedName, Mapping[str, Any]] | None = None,
                 prepare_builds: Callable[[list[SyncItem]], None] | None = None,
                 builds_own_dependencies: Collection[NormalizedName] = (),
                 overridden: Mapping[NormalizedName, bool] | None = None) -> SyncReport:
    """Carry out ``plan`` in ``venv``.

    ``build_wheel`` None refuses source packages (``--no-build``). ``progress`` gets
    (event, name) with event one of fetch, fetched, remove, build, install, installed,
    always from the calling thread. ``requested`` names the packages to mark REQUESTED
    (the project's direct dependencies). A wheel built from source is held to the lock's
    dependencies of its package, as a download is, except for ``builds_own_dependencies``
    (the project itself, and packages whose profile declares their metadata: the lock took
    their dependencies from there, not from a build); what a wheel requires of a package
    in ``overridden`` (name -> whether one of the project's ``overrides`` applies here) the
    override replaced when locking (``check_dependencies``). On a failure,
    what is already installed stays installed and the error propagates.
    """
    sources = [i for i in plan.to_install + plan.to_replace if not i.is_wheel]
    if sources and build_wheel is None:
        names = ", ".join(sorted(i.name for i in sources))
        raise BuildError(f"building from source is disabled, but the lock has no usable wheel for: {names}",
                         hint="allow builds (drop --no-build), or lock with wheels for this platform")
    installed = installed_distributions(venv)
    build_order = _build_order(plan, installed, build_needs)
    wheels = [i for i in plan.to_install + plan.to_replace if i.is_wheel]
    wanted = {canonicalize_name(r) for r in requested}
    replacing = {i.name for i in plan.to_replace}
    report = SyncReport()
    dependencies = _DependencyCheck(plan, overridden or {})

    def install(item: SyncItem, wheel: Path) -> None:
        if progress:
            progress("install", item.name)
        sha256 = _wheel_sha256(item)
        inputs = None if item.is_wheel else (build_inputs or {}).get(item.name)
        held = plans.get(item.name)
        if held is None and item.name not in builds_own_dependencies and plan.environment is not None:
            # Built in .venv just now, after the installs its build needed.
            held = read_wheel(wheel, venv)
            dependencies(item, held)
        install_wheel(wheel, venv, direct_url=item.direct_url, requested=item.name in wanted, cache=cache,
                      sha256=sha256, expect=(item.name, item.package.version), owners=owners, build_inputs=inputs,
                      plan=held)
        (report.replaced if item.name in replacing else report.installed).append(item.name)
        if progress:
            progress("installed", item.name)

    def finish(item: SyncItem, staged: StagedInstall) -> None:
        finish_install(staged, venv, owners)
        (report.replaced if item.name in replacing else report.installed).append(item.name)

    lock_file = venv.root / ".satlock-sync.lock"
    with FileLock(lock_file, unusable=lambda exc: InstallError(
            f"cannot take the lock of {venv.root} at {lock_file}: {exc.strerror or exc}",
            hint=f"remove {lock_file} (a file satlock makes to install into {venv.root} one sync at a time)")):
        fetched = _fetch_all(wheels, fetch_wheel, jobs, progress)
        if prepare_builds is not None and build_order:
            # Sources and build environments are fetched and verified too before .venv changes.
            prepare_builds(build_order)
        owners, plans = _preflight(plan, wheels, fetched, venv, installed, dependencies)
        # Builds that do not use .venv (isolated ones, the project's own editable build) run
        # before it changes, so a build that fails leaves it as it was (as uv builds first);
        # those building in .venv wait for their build needs to be installed there.
        built = {item.name: _build(item, build_wheel, venv, progress) for item in build_order if item.name not in build_needs}
        for item in build_order:
            if item.name in built:
                # Held to the lock and to the files of .venv now too, as the downloads were: a
                # built wheel that would overwrite another package's file, or needs what the
                # lock does not install, is refused before the removals and wheel installs.
                checked = None if item.name in builds_own_dependencies else dependencies
                plans[item.name] = _held(item, built[item.name], venv, owners, checked)
        if cache is not None:
            # Every wheel is unzipped into the cache now, each file held to its RECORD as it
            # is written, so one whose files do not match its RECORD (or that unpacks to a
            # bomb) is refused before anything changes; the installs link from there. One
            # after another: unzipping them on 8 threads made a cold sync of the medium set
            # slower (1.55 s against 1.32 s), the writes and the GIL contending.
            for item in wheels:
                cached_unpacked(fetched[item.name], cache, _wheel_sha256(item))
        recover_interrupted(venv)
        for dist in plan.to_remove:
            if progress:
                progress("remove", dist.name)
            uninstall(venv, dist.name, owners)
            report.removed.append(dist.name)
        _install_wheels(wheels, lambda item: stage_install(
            fetched[item.name], venv, plans[item.name], direct_url=item.direct_url, requested=item.name in wanted,
            cache=cache, sha256=_wheel_sha256(item)), finish, jobs, progress)
        for item in build_order:
            install(item, built[item.name] if item.name in built else _build(item, build_wheel, venv, progress))
    return report


def _build(item: SyncItem, build_wheel: BuildWheel | None, venv: Venv, progress: Progress | None) -> Path:
    """The wheel built from ``item``'s source, checked to be the package and version the lock says."""
    assert build_wheel is not None and not isinstance(item.source, PackageWheel)
    if progress:
        progress("build", item.name)
    wheel = build_wheel(item.package, item.source, venv)
    _check_built(item, wheel)
    return wheel
