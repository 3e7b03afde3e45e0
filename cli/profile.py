"""``satlock profile ...``: create, inspect and remove ``[tool.satlock.profiles.NAME]``.

The edits themselves are profiles/edit.py's (comment-preserving, re-parsed before they
are written); this module reads the command line and prints.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer
from packaging.utils import NormalizedName, canonicalize_name

from satlock.cli.common import ProjectOpt, QuietOpt, run
from satlock.cli.output import Output
from satlock.errors import BuildError, ConfigError, LockError, ProfileError, ProjectError, SatlockError
from satlock.pyproject import find_pyproject, read_pyproject

if TYPE_CHECKING:
    from satlock.profiles.schema import Profile
    from satlock.resolver.project import Project

profile_app = typer.Typer(no_args_is_help=True, help="Configure how awkward source packages are built.")


def _pyproject(project: Path) -> Path:
    from satlock.cli.commands import project_folder

    return find_pyproject(project_folder(project))


def _pyproject_text(path: Path) -> str:
    """The file's text, once it is known to be UTF-8 TOML: the same error as lock and sync otherwise."""
    return read_pyproject(path)[0]


@contextmanager
def _editing(path: Path) -> Iterator[None]:
    """Hold the edit lock of ``path`` while it is read, edited and written: two profile
    commands at once would each write back the file as they read it, and the profile the
    other had just written would be lost.

    The lock is the file's own, so commands with other cache folders, or other users, wait
    for each other too; the edit replaces the file (an atomic rename), so a command that
    waited checks that the path still names the file it locked, and locks the new one
    otherwise. Windows cannot rename over a file held open: there the lock is a file in the
    cache, shared by the commands that use one cache folder."""
    from satlock.mutex import FileLock

    if os.name == "nt":
        from satlock.cache import CACHE_ENV, Cache, default_cache_dir

        cache = Cache(default_cache_dir(), elsewhere=f"set {CACHE_ENV} to a folder you can write (profile edits take their lock there)")
        with cache.lock("pyproject-edits", str(path.resolve())):
            yield
        return
    target = path.resolve()
    while True:
        lock = FileLock(target, create=False, unusable=lambda exc: ConfigError(
            f"cannot open {target} to edit it: {exc.strerror or exc}", hint="check that the file is there and you may write it"))
        with lock:
            try:
                now = os.stat(target)
            except FileNotFoundError:
                now = None
            if now is not None and (now.st_dev, now.st_ino) == lock.identity:
                yield
                return


def _config_settings(items: list[str] | None) -> dict[str, str | list[str]]:
    """``--config-setting`` values; a key given more than once is a list of its values, in
    order, as pip passes ``--config-settings=--build-option=--cpp_ext
    --config-settings=--build-option=--cuda_ext`` (apex's own instructions)."""
    out: dict[str, str | list[str]] = {}
    for key, value in _pairs(items, "--config-setting"):
        earlier = out.get(key)
        out[key] = value if earlier is None else [*([earlier] if isinstance(earlier, str) else earlier), value]
    return out


def _key_values(items: list[str] | None, flag: str) -> dict[str, str]:
    return dict(_pairs(items, flag))


def _pairs(items: list[str] | None, flag: str) -> list[tuple[str, str]]:
    """Each ``KEY=VALUE`` of a repeated flag, in order."""
    out: list[tuple[str, str]] = []
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"{flag} {item!r}: expected KEY=VALUE")
        out.append((key, value))
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
    r"""Create or update \[tool.satlock.profiles.NAME], keeping the rest of pyproject.toml as it is."""
    out = Output(quiet)

    def work() -> None:
        from satlock.profiles.edit import add_profile, write_text_atomic

        path = _pyproject(project)
        with _editing(path):
            new = add_profile(_pyproject_text(path), name, build_requires=build_requires or [], env=_key_values(env, "--env"),
                              isolation=False if no_isolation else None, match_runtime=False if no_match_runtime else None,
                              config_settings=_config_settings(config_setting),
                              requires_dist=requires_dist or [], version=version, requires_python=requires_python,
                              source=str(path))
            write_text_atomic(path, new)
        _check_written(out, path, name)
        out.info(f"profile {canonicalize_name(name)} written to {path}")

    run(out, work)


def _check_written(out: Output, path: Path, name: str) -> None:
    """Warnings about the profile just written. It is written by now, so a problem elsewhere
    in pyproject.toml that keeps the project from being read is a warning too: an error
    would say the command failed."""
    from satlock.resolver.project import load_project

    try:
        proj = load_project(path.parent)
    except (ProjectError, ProfileError) as e:
        out.warn(f"profile written, but {e.message}")
        return
    _warn_unknown_name(out, proj, path, name)
    _warn_no_dependencies(out, proj, name)


def _warn_no_dependencies(out: Output, proj: Project, name: str) -> None:
    """Metadata given in a profile is all a lock reads of the package: without
    ``requires-dist`` it is locked with no dependencies at all, which ``--version`` alone
    does without a word otherwise (uv's dependency-metadata does the same)."""
    profile = proj.profiles.get(canonicalize_name(name))
    if profile is not None and profile.metadata is not None and not profile.metadata.requires_dist:
        out.warn(f"the profile's metadata lists no dependencies, so {canonicalize_name(name)} is locked with none; "
                 "add each with --requires-dist")


def _warn_unknown_name(out: Output, proj: Project, path: Path, name: str) -> None:
    """A profile for a package the project does not mention may be a typo, or a transitive
    dependency; one for the project itself (when sync installs it) builds the project."""
    from satlock.resolver.lockfile import LOCK_NAME, read_lock

    wanted = canonicalize_name(name)
    direct = {canonicalize_name(r.requirement.name) for r in proj.root_requirements()}
    locked: set[str] = set()
    lock_path = path.parent / LOCK_NAME
    if lock_path.exists():
        try:
            locked = {p.name for p in read_lock(lock_path).packages}
        except LockError:
            pass
    # The project's own name is no typo when sync builds it: the profile builds the project.
    own = proj.name if proj.build_requires is not None else None
    if wanted not in direct and wanted not in locked and wanted != own:
        out.warn(f"{wanted} is neither a dependency of the project nor in the lock (fine if it is a transitive dependency not locked yet)")


@profile_app.command("remove")
def profile_remove(name: str, project: ProjectOpt = Path("."), quiet: QuietOpt = False) -> None:
    r"""Remove \[tool.satlock.profiles.NAME]."""
    out = Output(quiet)

    def work() -> None:
        from satlock.profiles.edit import remove_profile, write_text_atomic

        path = _pyproject(project)
        with _editing(path):
            write_text_atomic(path, remove_profile(_pyproject_text(path), name, source=str(path)))
        out.info(f"profile {canonicalize_name(name)} removed")

    run(out, work)


@profile_app.command("list")
def profile_list(project: ProjectOpt = Path(".")) -> None:
    """List the profiles of the project."""
    out = Output()

    def work() -> None:
        from satlock.profiles.edit import list_profiles

        path = _pyproject(project)
        for name, p in list_profiles(_pyproject_text(path), source=str(path)).items():
            flags = [] if p.isolation else ["no isolation"]
            if p.metadata:
                flags.append("static metadata")
            typer.echo(f"{name}: build-requires {', '.join(p.build_requires) or '-'}" + (f" ({', '.join(flags)})" if flags else ""))

    run(out, work)


@profile_app.command("show")
def profile_show(name: str, project: ProjectOpt = Path(".")) -> None:
    """Print the profile's table and its environment expanded against the current lock and .venv."""
    out = Output()

    def work() -> None:
        from satlock.profiles.edit import list_profiles, show_profile

        path = _pyproject(project)
        text = _pyproject_text(path)
        profiles = list_profiles(text, source=str(path))  # all checked before anything is printed
        typer.echo(show_profile(text, name, source=str(path)))
        wanted = canonicalize_name(name)
        expanded = _expanded_env(path.parent, wanted, profiles[wanted])
        if expanded is None:
            typer.echo("# the environment is expanded once `satlock sync` has created .venv")
            return
        typer.echo("# expanded for .venv:")
        for k, v in expanded.items():
            # A value holding a control character (TOML's escapes allow one) is shown escaped,
            # never sent to the terminal as it is.
            shown = (v if v.isprintable() else repr(v)) if isinstance(v, str) else None
            typer.echo(f"{k} = {shown}" if shown is not None else f"# not expanded: {v.message}")

    run(out, work)


def _expanded_env(project_root: Path, name: NormalizedName, profile: Profile) -> dict[str, str | SatlockError] | None:
    """The profile's env expanded against the project's ``.venv``, or ``None`` when there is no .venv yet.
    Only the profile is read: a problem elsewhere in pyproject.toml is lock's to report.

    A value that cannot be expanded against .venv is the error saying why, shown as a
    comment, not a failure of ``show``: a build may still expand it, in its build
    environment (``{cuda-home}`` from CUDA wheels that only the build installs)."""
    from satlock.buildenv.cuda import template_context
    from satlock.buildenv.venv import open_venv
    from satlock.profiles.templates import expand_env

    venv_root = project_root / ".venv"
    if not (venv_root / "pyvenv.cfg").exists():
        return None
    context = template_context(open_venv(venv_root))
    expanded: dict[str, str | SatlockError] = {}
    for key, value in profile.env.items():
        try:
            expanded[key] = expand_env({key: value}, context, profile=name)[key]
        except (ProfileError, BuildError) as e:
            expanded[key] = e
    return expanded
