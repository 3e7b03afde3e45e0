"""``satlock lock`` and ``satlock sync`` themselves, without the command-line parser.

Both the typer app (cli/main.py) and the console script's fast path (cli/entry.py) call
these with the values cli/options.py declares, so the two run the very same code. Each
returns the exit code; a ``SatlockError`` has then been printed as one ``error:`` line
(cli/output.py ``exit_code``). Nothing here imports typer or pydantic; the resolver and
buildenv layers are imported inside the commands that use them.
"""

from __future__ import annotations

import functools
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from packaging.utils import canonicalize_name

from satlock.cli import uptodate
from satlock.cli.options import INDEX_DESTS
from satlock.cli.output import Output, Terminated, exit_code
from satlock.errors import ConfigError, LockError, ProjectError, SatlockError

if TYPE_CHECKING:
    from packaging.pylock import Pylock

    from satlock.buildenv.metadata import ProfileBuilder
    from satlock.cache import Cache
    from satlock.resolver.index import IndexClient
    from satlock.resolver.freshness import LockOptions
    from satlock.resolver.locking import LockResult
    from satlock.resolver.project import Project
    from satlock.resolver.settings import IndexOptions
    from satlock.resolver.target import Target


@dataclass(frozen=True)
class IndexFlags:
    """The index and cache flags ``lock`` and ``sync`` share (cli/options.py ``INDEX_OPTIONS``)."""

    options: IndexOptions
    # Whether an index was named (flag or environment): then a lock is resolved again.
    given: bool
    no_cache: bool
    cache_dir: Path | None
    made: list[Cache] = field(default_factory=list, compare=False)

    def cache(self) -> Cache:
        """The command's cache; ``close`` removes what it made for this run alone."""
        from satlock.cache import Cache, default_cache_dir

        cache = Cache.temporary() if self.no_cache else Cache(self.cache_dir or default_cache_dir())
        self.made.append(cache)
        return cache

    def close(self) -> None:
        """Remove the build environments and checkouts the command made for itself."""
        while self.made:
            self.made.pop().close()


def index_flags(index_url: str | None, extra_index_url: list[str] | None, find_links: list[str] | None, offline: bool,
                refresh: bool, no_cache: bool, cache_dir: Path | None, allow_insecure_host: list[str] | None,
                timeout: float) -> IndexFlags:
    from satlock.proxies import Proxies
    from satlock.resolver.settings import IndexOptions

    options = IndexOptions(index_url=index_url, extra_index_urls=_split(extra_index_url), find_links=_split(find_links),
                           offline=offline, refresh=refresh, timeout=timeout, allow_insecure_hosts=allow_insecure_host or [],
                           proxies=Proxies.from_environ(os.environ))
    return IndexFlags(options, bool(index_url or extra_index_url or find_links), no_cache, cache_dir)


def _split(values: list[str] | None) -> list[str] | None:
    """Environment variables give space-separated lists."""
    if values is None:
        return None
    return [part for v in values for part in v.split()]


def call(command: Callable[..., int], values: dict[str, Any]) -> int:
    """``command`` with the parsed option ``values``, the index ones folded into ``flags``;
    SIGTERM stops it as Ctrl-C does, and what it made for itself in the cache is removed."""
    flags = index_flags(**{k: v for k, v in values.items() if k in INDEX_DESTS})
    with _terminated_as_interrupted():
        try:
            return command(flags=flags, **{k: v for k, v in values.items() if k not in INDEX_DESTS})
        finally:
            # Build hooks still running in worker threads the command abandoned (SIGTERM
            # reached satlock alone); a command that built nothing never imported pep517.
            pep517 = sys.modules.get("satlock.buildenv.pep517")
            if pep517 is not None:
                pep517.stop_running_hooks()
            flags.close()


@contextmanager
def _terminated_as_interrupted() -> Iterator[None]:
    """Inside the block, SIGTERM raises ``Terminated`` (a ``KeyboardInterrupt``) in the main
    thread, so that the clean-up Ctrl-C runs runs too; Python's default was to die on the
    spot, leaving the sdist unpacked for a build and the build environment in the cache. A
    second SIGTERM while that clean-up runs ends the process at once, as before."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread
        return

    def terminate(signum: int, frame: object) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)


def project_folder(project: Path) -> Path:
    """The project ``--project`` (the current folder by default) is in: made absolute with
    its links followed, then the nearest folder at or above it with a pyproject.toml
    (``project_root``). A current folder deleted meanwhile (another shell removed the
    project) or a symlink loop is one error line."""
    from satlock.pyproject import project_root

    try:
        return project_root(project.resolve())
    except (OSError, RuntimeError) as exc:  # RuntimeError: a symlink loop, before Python 3.13
        raise ProjectError(f"cannot find the project folder {project}: {getattr(exc, 'strerror', None) or exc}",
                           hint="run satlock in an existing project folder or pass --project DIR") from None


def lock(project: Path, check: bool, flags: IndexFlags, python_version: str | None, platform: str | None, upgrade: bool,
         upgrade_package: list[str] | None, quiet: bool, verbose: bool) -> int:
    """Resolve the project's dependencies, extras and groups into pylock.toml."""
    out = Output(quiet, verbose)

    def work() -> None:
        from satlock.resolver.lockfile import LOCK_NAME, TOOL_FORMAT, lock_format, read_lock
        from satlock.resolver.freshness import LockOptions, lock_is_current, other_target_reason, stale_reason
        from satlock.resolver.settings import check_index_options, make_client
        from satlock.resolver.project import load_project

        start = time.perf_counter()
        check_index_options(flags.options)
        proj = load_project(project_folder(project))
        lock_path = proj.root / LOCK_NAME
        if check:
            named_target = LockOptions(python_version=python_version, platform=platform)
            if python_version or platform:
                named_target.make_target()  # a target no lock can be made for is refused, not put in the hint
            current = read_lock(lock_path)
            reason = stale_reason(proj, current)
            if reason is None and (python_version or platform):
                # A target named with --check is compared too, as `satlock lock` with it would:
                # a lock made for another interpreter or platform is not this one's lock.
                reason = other_target_reason(current, named_target)
            if reason:
                named = "".join(f" {flag} {value}" for flag, value in (("--python-version", python_version), ("--platform", platform))
                                if value)
                raise LockError(f"{lock_path} is out of date: {reason}", hint=f"run `satlock lock{named}`")
            out.info(f"{lock_path} is up to date")
            return
        previous = None
        if lock_path.exists():
            try:
                previous = read_lock(lock_path)
            except LockError as e:
                out.warn(f"ignoring the existing lock: {e.message}")
        lock_options = LockOptions(python_version=python_version, platform=platform, upgrade=upgrade,
                                   upgrade_packages={canonicalize_name(n) for n in upgrade_package or []})
        if previous is not None and not (flags.options.refresh or flags.given) and lock_is_current(proj, previous, lock_options):
            _remember_if_current(proj.root, lock_options, flags)
            out.info(uptodate.up_to_date_message(lock_path, len(previous.packages)))
            return
        if previous is not None and not (python_version or platform) and lock_format(previous) == TOOL_FORMAT:
            # A lock made with --python-version/--platform, locked again by a plain `satlock
            # lock` for this interpreter: the committed lock changes target, so say so, also
            # when pyproject.toml changed too (the usual reason to lock again). A lock in an
            # older format is left out: its environments need not read as today's do.
            moved = other_target_reason(previous, lock_options)
            if moved is not None:
                out.warn(f"{lock_path} is locked again for this interpreter: {moved}; "
                         "pass --python-version and --platform to lock for the lock's own target")
        cache = flags.cache()
        client = make_client(proj, flags.options, cache)
        result, changed, text = _lock_and_write(proj, lock_options, client, cache, previous, out, verbose)
        _remember_if_current(proj.root, lock_options, flags, (result.lock, text))
        s = result.resolution.stats
        out.debug(f"solver: {s.variables} variables, {s.clauses} clauses, {s.solver_calls} calls, "
                  f"{s.solve_seconds:.3f}s in SAT, {s.rounds} rounds, {s.expanded} candidates expanded")
        verb = "Locked" if changed else "Lock unchanged:"
        out.info(f"{verb} {uptodate.packages_phrase(len(result.lock.packages))} in {time.perf_counter() - start:.2f}s -> {lock_path}")

    return exit_code(out, work)


def _remember_if_current(root: Path, options: LockOptions, flags: IndexFlags,
                         written: tuple[Pylock, str] | None = None) -> None:
    """Record that a plain ``satlock lock`` would keep the lock in ``root`` as it is, so
    that the next one is answered by cli/entry.py without importing all of satlock.

    The check runs again on the files as they are now, between two digests of them, so a
    file edited meanwhile is never recorded as current. ``written`` is the lock just
    written and its text: while the file still holds that text, the lock is not read
    back (27 ms on the large set).
    """
    from satlock.cache import default_cache_dir
    from satlock.resolver.directrefs import local_source_files, names_local_sources
    from satlock.resolver.lockfile import LOCK_NAME, read_lock
    from satlock.resolver.freshness import LockOptions, lock_is_current
    from satlock.resolver.project import load_project

    if flags.no_cache:
        return
    key = uptodate.memo_key(root, options.python_version, options.platform)
    plain = LockOptions(python_version=options.python_version, platform=options.platform)
    try:
        if written is not None and (root / LOCK_NAME).read_bytes() == written[1].encode("utf-8"):
            lock = written[0]
        else:
            lock = read_lock(root / LOCK_NAME)
        project = load_project(root)
        # The key covers pyproject.toml and the lock, not the local folders and archives
        # the project names: their files are recorded with it, fingerprinted on both sides
        # of the check. One not on this machine (for another platform, maybe checked out
        # later) leaves such a lock to be proved current every time.
        watched = local_source_files(project) if names_local_sources(project) else []
        if watched is None:
            return
        before = uptodate.fingerprints(watched)
        current = lock_is_current(project, lock, plain)
    except (SatlockError, OSError):
        return
    if (current and key == uptodate.memo_key(root, options.python_version, options.platform)
            and uptodate.fingerprints(watched) == before):
        uptodate.record(flags.cache_dir or default_cache_dir(), key, len(lock.packages), dict(zip(watched, before)))


def sync(project: Path, extra: list[str] | None, all_extras: bool, group: list[str] | None, all_groups: bool,
         no_default_groups: bool,
         frozen: bool, locked: bool, python: Path | None, reinstall: bool, no_build: bool, no_install_project: bool,
         allow_outside_project: bool,
         flags: IndexFlags, quiet: bool, verbose: bool) -> int:
    """Make .venv hold exactly what the lock selects for the chosen extras and groups."""
    out = Output(quiet, verbose)
    venv_root: Path | None = None  # known once the project is found
    changing = False  # whether the sync began removing or installing packages

    def work() -> None:
        nonlocal venv_root
        from satlock.buildenv.fetch import LockedFiles
        from satlock.buildenv.projectenv import SyncRequest, check_declared, check_locked, sync_project
        from satlock.buildenv.syncplan import interpreter_hint, interpreter_refusal
        from satlock.buildenv.venv import removed_if_failed
        from satlock.resolver.lockfile import LOCK_NAME, read_lock
        from satlock.resolver.freshness import LockOptions, excludes_target_python, other_target_reason, stale_reason
        from satlock.resolver.settings import index_settings, make_client, make_http
        from satlock.resolver.project import load_project

        if frozen and locked:
            raise ConfigError("--frozen and --locked cannot be used together", hint="--frozen installs the lock as it is; --locked checks it first")
        start = time.perf_counter()
        proj = load_project(project_folder(project))
        check_declared(proj, [] if all_extras else list(extra or []), list(group or []))
        lock_path = proj.root / LOCK_NAME
        dot_venv = venv_root = proj.root / ".venv"
        # A .venv this sync creates (for --python, before locking) is removed again if the
        # sync fails with nothing installed in it, so a failed first sync leaves the project
        # as it found it.
        with removed_if_failed(dot_venv):
            cache = flags.cache()
            # Refused whether or not this sync fetches anything (a bad --index-url or
            # find-links folder, in flags, environment or pyproject.toml); the index client
            # (and its code) is made only for a re-lock or a build, on one HTTP client with
            # the downloads, so they reuse its connections.
            http = make_http(flags.options, index_settings(proj, flags.options))
            client = functools.cache(lambda: make_client(proj, flags.options, cache, http))
            had_venv = (dot_venv / "pyvenv.cfg").exists()
            target, interpreter = _interpreter_target(dot_venv, python)
            running = LockOptions(target=target).make_target()
            if excludes_target_python(proj, running):
                # sync locks for the interpreter it installs into, so `lock --python-version`
                # (lock's hint) would change nothing here: name the interpreter to change.
                raise ConfigError(
                    f"{proj.pyproject}: requires-python {proj.requires_python} excludes Python {running.python_full_version}, "
                    f"the interpreter {'of .venv' if had_venv else 'sync would make .venv with'}",
                    hint=("remove .venv and " if had_venv else "") + "sync with --python set to an interpreter inside requires-python")

            def make_builder() -> ProfileBuilder:
                from satlock.buildenv.metadata import ProfileBuilder

                return ProfileBuilder(proj, client(), cache, log=out.debug, echo=verbose, python=interpreter, target=target)

            if frozen:
                current = read_lock(lock_path)
                refusal = interpreter_refusal(current, running.environment)
                if refusal is not None:
                    raise LockError(refusal, hint=interpreter_hint(venv_exists=had_venv))
            else:
                current = read_lock(lock_path) if lock_path.exists() else None
                reason = "there is no pylock.toml" if current is None else stale_reason(proj, current)
                if reason is None:
                    # sync locks for the interpreter it installs into: a lock made for another
                    # one is locked again, and the line below says so, not silently.
                    reason = other_target_reason(current, LockOptions(target=running))
                if reason is not None:
                    if locked:
                        raise LockError(f"{lock_path} is out of date: {reason}", hint="run `satlock lock`, or drop --locked")
                    result, _changed, _text = _lock_and_write(proj, LockOptions(target=target), client(),
                                                              cache, current, out, verbose, interpreter)
                    why = "there was none" if current is None else reason
                    current = result.lock
                    out.info(f"Locked {uptodate.packages_phrase(len(current.packages))} -> {lock_path} ({why})")
            extras = sorted(current.extras or []) if all_extras else [canonicalize_name(e) for e in extra or []]
            requested_groups = [canonicalize_name(g) for g in group or []]
            check_locked(current, lock_path, extras, requested_groups,
                         built_extras="optional-dependencies" in proj.dynamic_requirements)
            groups = None
            if all_groups:
                groups = list(current.dependency_groups or [])
            elif no_default_groups or group:
                groups = ([] if no_default_groups else list(current.default_groups or [])) + requested_groups
            request = SyncRequest(venv_root=dot_venv, python=python, extras=extras, groups=groups,
                                  reinstall=reinstall, no_build=no_build, allow_outside_project=allow_outside_project,
                                  install_project=not no_install_project)
            counts = {"fetched": 0, "installed": 0}

            with out.status("Installing") as show:
                def progress(event: str, name: str) -> None:
                    nonlocal changing
                    changing = changing or event in ("remove", "install")
                    out.debug(f"{event} {name}")
                    if event in counts:
                        counts[event] += 1
                    doing = {"fetch": "downloading", "build": "building", "install": "installing", "remove": "removing"}.get(event)
                    show(f"{counts['fetched']} downloaded, {counts['installed']} installed" + (f"; {doing} {name}" if doing else ""))

                report = sync_project(proj, current, request, LockedFiles(proj.root, cache, http), make_builder, progress=progress)
            if report.changed:
                out.info(f"Installed {len(report.installed)}, replaced {len(report.replaced)}, removed {len(report.removed)} packages "
                         f"in {time.perf_counter() - start:.2f}s -> {request.venv_root}")
            else:
                out.info(f"{request.venv_root} is up to date ({time.perf_counter() - start:.2f}s)")

    def interrupted() -> str:
        # Each package is installed whole, but those done before Ctrl-C stay: the next sync
        # finishes. A .venv this sync made and had installed nothing in is removed again
        # (removed_if_failed), and then there is nothing partly synced to speak of.
        if venv_root is None or not os.path.lexists(venv_root):
            return "interrupted; nothing was installed"
        if not changing:
            return f"interrupted; {venv_root} was not changed"
        return "interrupted; the environment may be partly synced: run `satlock sync` again"

    return exit_code(out, work, interrupted=interrupted)


def _lock_and_write(proj: Project, options: LockOptions, client: IndexClient, cache: Cache, previous: Pylock | None,
                    out: Output, verbose: bool, python: Path | None = None) -> tuple[LockResult, bool, str]:
    """Lock (building metadata with the project's profiles, build environments made from
    ``python``) and write the lock atomically; the one path both ``lock`` and ``sync`` take.
    Returns the result, whether the file changed, and its text."""
    from satlock.buildenv.metadata import ProfileBuilder
    from satlock.resolver.lockfile import LOCK_NAME, dumps, write_lock_text
    from satlock.resolver.locking import lock_project, project_warnings

    for w in project_warnings(proj):
        out.warn(w)
    builder = ProfileBuilder(proj, client, cache, log=out.debug, echo=verbose, python=python, target=options.target)
    # The index pages, listings and metadata the lock fetches are written to the cache
    # while it goes on, and all of them before the lock file is.
    with out.status("Resolving dependencies"), cache.writes_behind():
        result = lock_project(proj, options, client, previous=previous, builder=builder)
    for w in result.warnings:
        out.warn(w)
    if verbose:
        for w in result.resolution.left_out:
            out.warn(w)
    text = dumps(result.lock)
    return result, write_lock_text(proj.root / LOCK_NAME, text), text


def _interpreter_target(venv_root: Path, python: Path | None) -> tuple[Target | None, Path | None]:
    """The target and interpreter of the environment ``sync`` installs into (the .venv there,
    or a new one made from ``--python``); ``(None, None)`` when that is the running interpreter."""
    from satlock.buildenv.venv import check_made_with, create_venv, marker_environment, open_venv
    from satlock.resolver.target import Target

    if (venv_root / "pyvenv.cfg").exists():
        venv = open_venv(venv_root)
        if python is not None:
            check_made_with(venv, python)
    elif python is not None:
        venv = create_venv(venv_root, python)
    else:
        return None, None
    if venv.same_interpreter:
        return None, None
    environment, tags = marker_environment(venv)
    return Target(environment, tuple(tags)), venv.python
