"""The console script: answer the commands it fully understands without typer.

Importing typer (and pydantic, which typer uses to coerce option values) costs about
0.15 s, a quarter of a warm lock, and the full CLI with the resolver 0.3 s, more than
``satlock --help`` or an up-to-date ``satlock lock`` need in all. So this entry point
prints the top-level help itself (typer's own text, rendered into ``helptext.py``; a test
keeps its commands and summaries identical), answers an up-to-date lock from
``uptodate.py`` (the full check's remembered answer), and runs ``lock`` and ``sync``
(cli/commands.py) straight away when cli/options.py can read their command line. Every
other command line, and every one it is not sure of (help, errors, odd spellings), goes
to typer in ``satlock.cli.main``, which behaves exactly as before.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

# ``lock`` options the remembered answer covers: the project and target are part of its key,
# the rest cannot change whether a lock is kept. Any other option goes through the full check.
_MEMO_DESTS = frozenset({"project", "python_version", "platform", "cache_dir", "quiet", "verbose", "offline"})
# Environment settings the full CLI reads as index flags (which make it re-resolve).
_INDEX_ENV = ("SATLOCK_INDEX_URL", "SATLOCK_EXTRA_INDEX_URL", "SATLOCK_FIND_LINKS")


@dataclass(frozen=True)
class PlainLock:
    """A ``satlock lock`` command line whose answer may have been remembered."""

    project: Path
    python_version: str | None
    platform: str | None
    cache_dir: Path | None
    quiet: bool


def parse_plain_lock(args: list[str]) -> PlainLock | None:
    """The arguments after ``lock``, or ``None`` when the full check must read them."""
    from satlock.cli.options import LOCK_OPTIONS, parse

    values = parse(LOCK_OPTIONS, args, {})
    if values is None or any(values[o.dest] != o.default for o in LOCK_OPTIONS if o.dest not in _MEMO_DESTS):
        return None
    from satlock.pyproject import project_root

    try:
        project = project_root(values["project"].resolve())
    except (OSError, RuntimeError):  # a deleted current folder, a symlink loop: the full CLI says so
        return None
    return PlainLock(project=project, python_version=values["python_version"],
                     platform=values["platform"], cache_dir=values["cache_dir"], quiet=values["quiet"])


def _environment_is_plain() -> bool:
    """No index setting in the environment (the full CLI re-resolves then), and a timeout
    spelled as cli/options.py reads it the way typer does (``float()`` also takes spellings
    typer refuses, such as Arabic-Indic digits)."""
    from satlock.cli.options import LOCK_OPTIONS, parse

    if any(name in os.environ for name in _INDEX_ENV):
        return False
    values = parse(LOCK_OPTIONS, [], {"SATLOCK_HTTP_TIMEOUT": os.environ.get("SATLOCK_HTTP_TIMEOUT", "")})
    # A timeout no request could use (0, -1, nan, inf) is the full CLI's error line to give
    # (resolver/settings.py ``check_index_options``, the same rule; not imported here, since
    # the remembered answer must not load the index client).
    return values is not None and 0 < values["timeout"] < float("inf")


def lock_if_current(args: list[str]) -> bool:
    """Print what ``satlock lock`` prints for an up-to-date lock, if the cache says it is; else False."""
    request = parse_plain_lock(args)
    if request is None or not _environment_is_plain():
        return False
    from satlock.cli import uptodate

    key = uptodate.memo_key(request.project, request.python_version, request.platform)
    packages = uptodate.recorded(uptodate.cache_root(request.cache_dir), key) if key else None
    if packages is None:
        return False
    if not request.quiet:
        lock_path = request.project / uptodate.LOCK_NAME
        sys.stderr.write(uptodate.up_to_date_message(lock_path, packages) + "\n")
    return True


def _run_fast(name: str, values: dict[str, Any], end_process: bool) -> None:
    """Run ``lock`` or ``sync`` with parsed ``values``, ending as typer's standalone mode
    would: Ctrl-C outside the command's own handling exits 130, a closed pipe exits 1 quietly.

    With ``end_process`` (the console script), the process ends as soon as the command has
    finished. Everything it wrote is closed, its locks are released and its builds waited
    for; what is left is a heap of pages, listings and clauses whose teardown changes
    nothing and took 20 to 30 ms on the benchmark sets. Not with ``--no-cache``, whose
    temporary cache folder is removed when the interpreter exits.
    """
    from satlock.cli import commands

    try:
        code = commands.call(commands.lock if name == "lock" else commands.sync, values)
        for stream in (sys.stdout, sys.stderr):
            if stream is not None:  # None: the process was started without it (``>&-``)
                stream.flush()
    except KeyboardInterrupt:
        sys.exit(130)
    except BrokenPipeError:
        _end_on_closed_pipe()
    if end_process and not values.get("no_cache"):
        os._exit(code)
    if code:
        sys.exit(code)


def _end_on_closed_pipe() -> NoReturn:
    """Exit 1 without a word, as typer's standalone mode does when the reader of the output went away."""
    # Nothing more can be said; keep the interpreter's final flush from raising again.
    sys.stdout = sys.stderr = open(os.devnull, "w")  # noqa: SIM115
    sys.exit(1)


def _print(text: str) -> None:
    if sys.stdout is not None:  # None: started without one (``>&-``); typer then writes nothing either
        sys.stdout.write(text)
        sys.stdout.flush()


def console() -> None:
    """The ``satlock`` console script: ``main``, ending the process as soon as a command is done."""
    main(end_process=True)


def main(*, end_process: bool = False) -> None:
    from satlock.collector import pace_for_one_command

    pace_for_one_command()
    args = sys.argv[1:]
    if any(name.startswith("_") and name.endswith("_COMPLETE") for name in os.environ):
        # A shell-completion request (typer reads _<PROG>_COMPLETE): only typer answers it.
        args = []
    try:
        if args == ["--help"]:
            from satlock.cli.helptext import HELP

            _print(HELP)
            return
        if args == ["--version"]:
            from satlock import __version__

            _print(f"satlock {__version__}\n")
            return
        if args[:1] == ["lock"] and lock_if_current(args[1:]):
            return
    except BrokenPipeError:
        _end_on_closed_pipe()
    values = None
    if args[:1] == ["lock"] or args[:1] == ["sync"]:
        from satlock.cli.options import LOCK_OPTIONS, SYNC_OPTIONS, parse

        values = parse(LOCK_OPTIONS if args[0] == "lock" else SYNC_OPTIONS, args[1:], os.environ)
    if values is not None:
        _run_fast(args[0], values, end_process)
        return
    from satlock.cli.main import main as full_cli

    full_cli()
