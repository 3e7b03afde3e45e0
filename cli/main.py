"""The ``satlock`` command: parse arguments, call the project model and the layers below, print.

Every ``SatlockError`` becomes ``error: <one line>`` (plus ``hint:``) on stderr and a
non-zero exit; nothing is written when a command fails.
"""

from __future__ import annotations

import os
import sys
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Callable, Optional, TypeVar

import typer
from packaging.utils import canonicalize_name

from satlock.errors import ConfigError, LockError, SatlockError
from satlock.cli import uptodate
from satlock.cli.output import Output

if TYPE_CHECKING:
    from packaging.pylock import Pylock

    from satlock.cache import Cache
    from satlock.resolver.index import IndexClient
    from satlock.resolver.locking import IndexOptions, LockOptions, LockResult
    from satlock.resolver.project import Project
    from satlock.resolver.target import Target

# The resolver and buildenv layers are imported inside the commands that use them, so
# `satlock profile ...` and `--help` of a command do not load the index client.

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Lock and sync Python projects with a SAT solver and declarative build profiles.")
profile_app = typer.Typer(no_args_is_help=True, help="Configure how awkward source packages are built.")
app.add_typer(profile_app, name="profile")

T = TypeVar("T")

ProjectOpt = Annotated[Path, typer.Option("--project", help="The project folder (default: the current one).")]
IndexUrlOpt = Annotated[Optional[str], typer.Option("--index-url", envvar="SATLOCK_INDEX_URL", help="The main package index (simple API).")]
ExtraIndexOpt = Annotated[Optional[list[str]], typer.Option("--extra-index-url", envvar="SATLOCK_EXTRA_INDEX_URL", help="More indexes, asked before the main one.")]
FindLinksOpt = Annotated[Optional[list[str]], typer.Option("--find-links", envvar="SATLOCK_FIND_LINKS", help="Local folders of wheels and sdists.")]
OfflineOpt = Annotated[bool, typer.Option("--offline", help="Use only the cache; never touch the network.")]
RefreshOpt = Annotated[bool, typer.Option("--refresh", help="Ignore cached index pages.")]
NoCacheOpt = Annotated[bool, typer.Option("--no-cache", help="Use a throw-away cache.")]
CacheDirOpt = Annotated[Optional[Path], typer.Option("--cache-dir", help="Cache folder (default: $SATLOCK_CACHE_DIR or the user cache).")]
InsecureOpt = Annotated[Optional[list[str]], typer.Option("--allow-insecure-host", help="Allow plain http to this host.")]
TimeoutOpt = Annotated[float, typer.Option("--timeout", envvar="SATLOCK_HTTP_TIMEOUT", help="Seconds before a request times out.")]
QuietOpt = Annotated[bool, typer.Option("-q", "--quiet")]
VerboseOpt = Annotated[bool, typer.Option("-v", "--verbose")]


def _run(out: Output, fn: Callable[[], T]) -> T:
    from pyproject_hooks import BuildBackendWarning

    try:
        with warnings.catch_warnings():
            # pyproject_hooks re-raises a backend's own warnings here (numpy's setup.py: a
            # screenful about BLAS); they are the backend's chatter, not satlock's to print.
            warnings.simplefilter("ignore", BuildBackendWarning)
            return fn()
    except SatlockError as e:
        out.error(e)
        raise typer.Exit(e.exit_code) from None
    except KeyboardInterrupt:
        out.err.print("interrupted; nothing was written", markup=False)
        raise typer.Exit(130) from None


def _cache(no_cache: bool, cache_dir: Path | None) -> Cache:
    from satlock.cache import Cache, default_cache_dir

    if no_cache:
        return Cache.temporary()
    return Cache(cache_dir or default_cache_dir())


def _index_options(index_url: str | None, extra_index_url: list[str] | None, find_links: list[str] | None, offline: bool,
                   refresh: bool, timeout: float, allow_insecure_host: list[str] | None) -> IndexOptions:
    from satlock.resolver.locking import IndexOptions

    return IndexOptions(index_url=index_url, extra_index_urls=_split(extra_index_url), find_links=_split(find_links),
                        offline=offline, refresh=refresh, timeout=timeout, allow_insecure_hosts=allow_insecure_host or [])


def _split(values: list[str] | None) -> list[str] | None:
    """Environment variables give space-separated lists."""
    if values is None:
        return None
    return [part for v in values for part in v.split()]


@app.command()
def lock(
    project: ProjectOpt = Path("."),
    check: Annotated[bool, typer.Option("--check", help="Exit 1 if pylock.toml is out of date; write nothing.")] = False,
    index_url: IndexUrlOpt = None,
    extra_index_url: ExtraIndexOpt = None,
    find_links: FindLinksOpt = None,
    offline: OfflineOpt = False,
    refresh: RefreshOpt = False,
    no_cache: NoCacheOpt = False,
    cache_dir: CacheDirOpt = None,
    allow_insecure_host: InsecureOpt = None,
    timeout: TimeoutOpt = 30.0,
    python_version: Annotated[Optional[str], typer.Option("--python-version", help="Lock for this Python version.")] = None,
    platform: Annotated[Optional[str], typer.Option("--platform", help="Lock for this platform (linux, macos, windows or a wheel platform tag).")] = None,
    upgrade: Annotated[bool, typer.Option("--upgrade", "-U", help="Ignore the versions in the existing lock.")] = False,
    upgrade_package: Annotated[Optional[list[str]], typer.Option("--upgrade-package", "-P", help="Upgrade just this package.")] = None,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Resolve the project's dependencies, extras and groups into pylock.toml."""
    out = Output(quiet, verbose)

    def work() -> None:
        from satlock.resolver.lockfile import LOCK_NAME, read_lock
        from satlock.resolver.locking import LockOptions, lock_is_current, make_client, stale_reason
        from satlock.resolver.project import load_project

        start = time.perf_counter()
        proj = load_project(project.resolve())
        lock_path = proj.root / LOCK_NAME
        if check:
            reason = stale_reason(proj, read_lock(lock_path))
            if reason:
                raise LockError(f"{lock_path} is out of date: {reason}", hint="run `satlock lock`")
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
        index_flags = index_url or extra_index_url or find_links
        if previous is not None and not (refresh or index_flags) and lock_is_current(proj, previous, lock_options):
            _remember_if_current(proj.root, lock_options, no_cache, cache_dir)
            out.info(f"{lock_path} is up to date ({len(previous.packages)} packages); use --upgrade to look for newer versions")
            return
        cache = _cache(no_cache, cache_dir)
        client = make_client(proj, _index_options(index_url, extra_index_url, find_links, offline, refresh, timeout,
                                                  allow_insecure_host), cache)
        result, changed = _lock_and_write(proj, lock_options, client, cache, previous, out, verbose)
        _remember_if_current(proj.root, lock_options, no_cache, cache_dir)
        s = result.resolution.stats
        out.debug(f"solver: {s.variables} variables, {s.clauses} clauses, {s.solver_calls} calls, "
                  f"{s.solve_seconds:.3f}s in SAT, {s.rounds} rounds, {s.expanded} candidates expanded")
        verb = "Locked" if changed else "Lock unchanged:"
        out.info(f"{verb} {len(result.lock.packages)} packages in {time.perf_counter() - start:.2f}s -> {lock_path}")

    _run(out, work)


def _remember_if_current(root: Path, options: LockOptions, no_cache: bool, cache_dir: Path | None) -> None:
    """Record that a plain ``satlock lock`` would keep the lock in ``root`` as it is, so
    that the next one is answered by cli/entry.py without importing all of satlock.

    The check runs again on the files as they are now, between two digests of them, so a
    file edited meanwhile is never recorded as current.
    """
    from satlock.cache import default_cache_dir
    from satlock.resolver.lockfile import LOCK_NAME, read_lock
    from satlock.resolver.locking import LockOptions, lock_is_current
    from satlock.resolver.project import load_project

    if no_cache:
        return
    key = uptodate.memo_key(root, options.python_version, options.platform)
    plain = LockOptions(python_version=options.python_version, platform=options.platform)
    try:
        lock = read_lock(root / LOCK_NAME)
        current = lock_is_current(load_project(root), lock, plain)
    except SatlockError:
        return
    if current and key == uptodate.memo_key(root, options.python_version, options.platform):
        uptodate.record(cache_dir or default_cache_dir(), key, len(lock.packages))


@app.command()
def sync(
    project: ProjectOpt = Path("."),
    extra: Annotated[Optional[list[str]], typer.Option("--extra", help="Install this extra too.")] = None,
    all_extras: Annotated[bool, typer.Option("--all-extras", help="Install every extra.")] = False,
    group: Annotated[Optional[list[str]], typer.Option("--group", help="Install this dependency group too.")] = None,
    no_default_groups: Annotated[bool, typer.Option("--no-default-groups", help="Leave out the default groups (dev).")] = False,
    frozen: Annotated[bool, typer.Option("--frozen", help="Install the lock as it is; never re-lock or read the index.")] = False,
    locked: Annotated[bool, typer.Option("--locked", help="Fail instead of re-locking when the lock is stale.")] = False,
    python: Annotated[Optional[Path], typer.Option("--python", help="Interpreter for a new .venv.")] = None,
    reinstall: Annotated[bool, typer.Option("--reinstall", help="Reinstall every package.")] = False,
    no_build: Annotated[bool, typer.Option("--no-build", help="Refuse to build source packages.")] = False,
    allow_outside_project: Annotated[bool, typer.Option(
        "--allow-outside-project",
        help="Build a lock's local folder outside the project even when pyproject.toml does not declare it.")] = False,
    index_url: IndexUrlOpt = None,
    extra_index_url: ExtraIndexOpt = None,
    find_links: FindLinksOpt = None,
    offline: OfflineOpt = False,
    refresh: RefreshOpt = False,
    no_cache: NoCacheOpt = False,
    cache_dir: CacheDirOpt = None,
    allow_insecure_host: InsecureOpt = None,
    timeout: TimeoutOpt = 30.0,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Make .venv hold exactly what the lock selects for the chosen extras and groups."""
    out = Output(quiet, verbose)

    def work() -> None:
        from satlock.buildenv.metadata import ProfileBuilder
        from satlock.buildenv.projectenv import SyncRequest, check_declared, check_locked, sync_project
        from satlock.resolver.lockfile import LOCK_NAME, read_lock
        from satlock.resolver.locking import LockOptions, lock_is_current, make_client, stale_reason
        from satlock.resolver.project import load_project

        if frozen and locked:
            raise ConfigError("--frozen and --locked cannot be used together", hint="--frozen installs the lock as it is; --locked checks it first")
        start = time.perf_counter()
        proj = load_project(project.resolve())
        check_declared(proj, [] if all_extras else list(extra or []), list(group or []))
        lock_path = proj.root / LOCK_NAME
        cache = _cache(no_cache, cache_dir)
        client = make_client(proj, _index_options(index_url, extra_index_url, find_links, offline, refresh, timeout,
                                                  allow_insecure_host), cache)
        target, interpreter = _interpreter_target(proj.root / ".venv", python)
        builder = ProfileBuilder(proj, client, cache, log=out.debug, echo=verbose, python=interpreter, target=target)
        if frozen:
            current = read_lock(lock_path)
        else:
            current = read_lock(lock_path) if lock_path.exists() else None
            reason = "there is no pylock.toml" if current is None else stale_reason(proj, current)
            if reason is None and not lock_is_current(proj, current, LockOptions(target=target)):
                reason = "it was made for another interpreter"
            if reason is not None:
                if locked:
                    raise LockError(f"{lock_path} is out of date: {reason}", hint="run `satlock lock`, or drop --locked")
                result, _changed = _lock_and_write(proj, LockOptions(target=target), client, cache, current, out, verbose,
                                                   interpreter)
                current = result.lock
                out.info(f"Locked {len(current.packages)} packages -> {lock_path}")
        extras = sorted(current.extras or []) if all_extras else [canonicalize_name(e) for e in extra or []]
        requested_groups = [canonicalize_name(g) for g in group or []]
        check_locked(current, lock_path, extras, requested_groups)
        groups = None
        if no_default_groups or group:
            groups = ([] if no_default_groups else list(current.default_groups or [])) + requested_groups
        request = SyncRequest(venv_root=proj.root / ".venv", python=python, extras=extras, groups=groups,
                              reinstall=reinstall, no_build=no_build, allow_outside_project=allow_outside_project)
        counts = {"fetched": 0, "installed": 0}

        with out.status("Installing") as show:
            def progress(event: str, name: str) -> None:
                out.debug(f"{event} {name}")
                if event in counts:
                    counts[event] += 1
                doing = {"fetch": "downloading", "build": "building", "install": "installing", "remove": "removing"}.get(event)
                show(f"{counts['fetched']} downloaded, {counts['installed']} installed" + (f"; {doing} {name}" if doing else ""))

            report = sync_project(proj, current, request, builder, progress=progress)
        if report.changed:
            out.info(f"Installed {len(report.installed)}, replaced {len(report.replaced)}, removed {len(report.removed)} packages "
                     f"in {time.perf_counter() - start:.2f}s -> {request.venv_root}")
        else:
            out.info(f"{request.venv_root} is up to date ({time.perf_counter() - start:.2f}s)")

    _run(out, work)


def _lock_and_write(proj: Project, options: LockOptions, client: IndexClient, cache: Cache, previous: Pylock | None,
                    out: Output, verbose: bool, python: Path | None = None) -> tuple[LockResult, bool]:
    """Lock (building metadata with the project's profiles, build environments made from
    ``python``) and write the lock atomically; the one path both ``lock`` and ``sync`` take.
    Returns the result and whether the file changed."""
    from satlock.buildenv.metadata import ProfileBuilder
    from satlock.resolver.lockfile import LOCK_NAME, write_lock
    from satlock.resolver.locking import lock_project

    builder = ProfileBuilder(proj, client, cache, log=out.debug, echo=verbose, python=python, target=options.target)
    with out.status("Resolving dependencies"):
        result = lock_project(proj, options, client, previous=previous, builder=builder)
    for w in result.warnings:
        out.warn(w)
    if verbose:
        for w in result.resolution.left_out:
            out.warn(w)
    return result, write_lock(proj.root / LOCK_NAME, result.lock)


def _interpreter_target(venv_root: Path, python: Path | None) -> tuple[Target | None, Path | None]:
    """The target and interpreter of the environment ``sync`` installs into (the .venv there,
    or a new one made from ``--python``); ``(None, None)`` when that is the running interpreter."""
    from satlock.buildenv.sync import marker_environment
    from satlock.buildenv.venv import create_venv, open_venv
    from satlock.resolver.target import Target

    if (venv_root / "pyvenv.cfg").exists():
        venv = open_venv(venv_root)
    elif python is not None:
        venv = create_venv(venv_root, python)
    else:
        return None, None
    if venv.same_interpreter:
        return None, None
    environment, tags = marker_environment(venv)
    return Target(environment, tuple(tags)), venv.python


def _pyproject(project: Path) -> Path:
    path = project.resolve() / "pyproject.toml"
    if not path.is_file():
        raise ConfigError(f"no pyproject.toml in {project.resolve()}", hint="run in a project folder or pass --project DIR")
    return path


def _key_values(items: list[str] | None, flag: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"{flag} {item!r}: expected KEY=VALUE")
        out[key] = value
    return out


@profile_app.command("add")
def profile_add(
    name: str,
    build_requires: Annotated[Optional[list[str]], typer.Option("--build-requires", help="A requirement for the build environment.")] = None,
    env: Annotated[Optional[list[str]], typer.Option("--env", help="KEY=VALUE for the build; templates like {cuda-home} allowed.")] = None,
    no_isolation: Annotated[bool, typer.Option("--no-isolation", help="Build in the project environment.")] = False,
    no_match_runtime: Annotated[bool, typer.Option("--no-match-runtime", help="Do not pin build requirements to the lock.")] = False,
    config_setting: Annotated[Optional[list[str]], typer.Option("--config-setting", help="K=V passed to the build backend.")] = None,
    requires_dist: Annotated[Optional[list[str]], typer.Option("--requires-dist", help="Static dependency, so lock need not build.")] = None,
    version: Annotated[Optional[str], typer.Option("--version", help="Static version for the metadata override.")] = None,
    requires_python: Annotated[Optional[str], typer.Option("--requires-python")] = None,
    project: ProjectOpt = Path("."),
    quiet: QuietOpt = False,
) -> None:
    """Create or update [tool.satlock.profiles.NAME], keeping the rest of pyproject.toml as it is."""
    out = Output(quiet)

    def work() -> None:
        from satlock.profiles.edit import add_profile, write_text_atomic

        path = _pyproject(project)
        text = path.read_text(encoding="utf-8")
        new = add_profile(text, name, build_requires=build_requires or [], env=_key_values(env, "--env"),
                          isolation=False if no_isolation else None, match_runtime=False if no_match_runtime else None,
                          config_settings=_key_values(config_setting, "--config-setting"), requires_dist=requires_dist or [],
                          version=version, requires_python=requires_python, source=str(path))
        write_text_atomic(path, new)
        _warn_unknown_name(out, path, name)
        out.info(f"profile {canonicalize_name(name)} written to {path}")

    _run(out, work)


def _warn_unknown_name(out: Output, path: Path, name: str) -> None:
    """A profile for a package the project does not mention may be a typo, or a transitive dependency."""
    from satlock.resolver.lockfile import LOCK_NAME, read_lock
    from satlock.resolver.project import load_project

    proj = load_project(path.parent)
    wanted = canonicalize_name(name)
    direct = {canonicalize_name(r.requirement.name) for r in proj.root_requirements()}
    locked: set[str] = set()
    lock_path = path.parent / LOCK_NAME
    if lock_path.exists():
        try:
            locked = {p.name for p in read_lock(lock_path).packages}
        except LockError:
            pass
    if wanted not in direct and wanted not in locked:
        out.warn(f"{wanted} is neither a dependency of the project nor in the lock (fine if it is a transitive dependency not locked yet)")


@profile_app.command("remove")
def profile_remove(name: str, project: ProjectOpt = Path(".")) -> None:
    """Remove [tool.satlock.profiles.NAME]."""
    out = Output()

    def work() -> None:
        from satlock.profiles.edit import remove_profile, write_text_atomic

        path = _pyproject(project)
        write_text_atomic(path, remove_profile(path.read_text(encoding="utf-8"), name, source=str(path)))
        out.info(f"profile {canonicalize_name(name)} removed")

    _run(out, work)


@profile_app.command("list")
def profile_list(project: ProjectOpt = Path(".")) -> None:
    """List the profiles of the project."""
    out = Output()

    def work() -> None:
        from satlock.profiles.edit import list_profiles

        path = _pyproject(project)
        for name, p in list_profiles(path.read_text(encoding="utf-8"), source=str(path)).items():
            flags = [] if p.isolation else ["no isolation"]
            if p.metadata:
                flags.append("static metadata")
            typer.echo(f"{name}: build-requires {', '.join(p.build_requires) or '-'}" + (f" ({', '.join(flags)})" if flags else ""))

    _run(out, work)


@profile_app.command("show")
def profile_show(name: str, project: ProjectOpt = Path(".")) -> None:
    """Print the profile's table and its environment expanded against the current lock and .venv."""
    out = Output()

    def work() -> None:
        from satlock.profiles.edit import show_profile

        path = _pyproject(project)
        typer.echo(show_profile(path.read_text(encoding="utf-8"), name, source=str(path)))
        from satlock.buildenv.metadata import expanded_profile_env

        expanded = expanded_profile_env(path.parent, name)
        if expanded is None:
            typer.echo("# the environment is expanded once `satlock sync` has created .venv")
            return
        typer.echo("# expanded for .venv:")
        for k, v in expanded.items():
            typer.echo(f"{k} = {v}")

    _run(out, work)


def main() -> None:
    try:
        app()
    except SystemExit as e:
        if e.code == 130:
            # Ctrl-C: the interpreter would otherwise join the fetch threads, which may sit
            # in a stalled request for the whole timeout; nothing is left half-written.
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(130)
        raise
