"""The console script: answer ``satlock --help`` and an up-to-date ``satlock lock`` at once.

Importing the full CLI (typer, rich, pydantic, urllib3 through the resolver) takes about
0.3 s, more than either of these commands needs in all. So this entry point handles the
two of them itself (standard library, platformdirs and packaging's version string only)
and hands every other command line, and every case it is not sure of, to
``satlock.cli.main``, which behaves exactly as before. The help text is typer's own, rendered into ``helptext.py`` (a test keeps its commands and summaries
identical); the up-to-date answer is the full check's, remembered by ``uptodate.py``.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

# ``lock`` flags the remembered answer covers: the project and target are part of its key,
# the rest cannot change whether a lock is kept. Anything else goes through the full CLI.
# Values: whether the flag takes an argument.
_LOCK_FLAGS = {"--project": True, "--python-version": True, "--platform": True, "--cache-dir": True,
               "-q": False, "--quiet": False, "-v": False, "--verbose": False, "--offline": False}
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
    """The arguments after ``lock``, or ``None`` when the full CLI must read them."""
    given: dict[str, str] = {}
    i = 0
    while i < len(args):
        flag, eq, value = args[i].partition("=")
        takes_value = _LOCK_FLAGS.get(flag)
        if takes_value is None or flag in given or (eq and not takes_value):
            return None
        if takes_value and not eq:
            if i + 1 >= len(args) or args[i + 1].startswith("-"):
                return None
            i += 1
            value = args[i]
        if takes_value and not value:
            return None
        given[flag] = value
        i += 1
    return PlainLock(project=Path(given.get("--project", ".")).resolve(), python_version=given.get("--python-version"),
                     platform=given.get("--platform"),
                     cache_dir=Path(given["--cache-dir"]) if "--cache-dir" in given else None,
                     quiet="-q" in given or "--quiet" in given)


def _environment_is_plain() -> bool:
    """No index setting in the environment (the full CLI re-resolves then), and a timeout it accepts."""
    if any(name in os.environ for name in _INDEX_ENV):
        return False
    timeout = os.environ.get("SATLOCK_HTTP_TIMEOUT")
    try:
        float(timeout or 0)
    except ValueError:
        return False
    return True


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
        sys.stderr.write(f"{lock_path} is up to date ({packages} packages); use --upgrade to look for newer versions\n")
    return True


def main() -> None:
    from satlock.collector import pace_for_one_command

    pace_for_one_command()
    args = sys.argv[1:]
    if args == ["--help"]:
        from satlock.cli.helptext import HELP

        sys.stdout.write(HELP)
        return
    if args[:1] == ["lock"] and lock_if_current(args[1:]):
        return
    from satlock.cli.main import main as full_cli

    full_cli()
