"""The options of ``satlock lock`` and ``satlock sync``, declared once, and a parser for
the plain command lines among them that needs neither typer nor pydantic.

typer builds its commands from these tables (cli/common.py ``typer_command``), so its
``--help`` and its error lines come from the same declarations. Parsing a command line
through typer costs about 0.15 s of a warm lock (typer, and pydantic for its value
coercion), so the console script (cli/entry.py) parses the command lines this module is
sure of itself and calls the same command. ``parse`` answers ``None`` for anything else
(help, a positional argument, an unknown or repeated option, a value that looks like an
option, grouped short flags, a number it would have to interpret): typer reads those, and
says what is wrong exactly as before. tests/test_cli_options.py checks that every command
line ``parse`` accepts gets the very values typer gives.

Imports only the standard library.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, Mapping


class Kind(Enum):
    """How an option takes its value."""

    FLAG = "flag"      # present or not: True / False
    VALUE = "value"    # one value
    MULTI = "multi"    # repeatable; the values collected into a list


@dataclass(frozen=True)
class Option:
    """One command-line option: its parameter name, its spellings, and what it takes."""

    dest: str
    names: tuple[str, ...]
    kind: Kind
    value_type: type = str
    default: Any = None
    help: str | None = None
    envvar: str | None = None


PROJECT = Option("project", ("--project",), Kind.VALUE, Path, Path("."), "The project folder (default: the current one).")
QUIET = Option("quiet", ("-q", "--quiet"), Kind.FLAG, bool, False)
VERBOSE = Option("verbose", ("-v", "--verbose"), Kind.FLAG, bool, False)

# The index and cache flags lock and sync share; the commands get them as one IndexFlags.
INDEX_OPTIONS = (
    Option("index_url", ("--index-url",), Kind.VALUE, str, None, "The main package index (simple API).", "SATLOCK_INDEX_URL"),
    Option("extra_index_url", ("--extra-index-url",), Kind.MULTI, str, None, "More indexes, asked before the main one.",
           "SATLOCK_EXTRA_INDEX_URL"),
    Option("find_links", ("--find-links",), Kind.MULTI, str, None, "Local folders of wheels and sdists.", "SATLOCK_FIND_LINKS"),
    Option("offline", ("--offline",), Kind.FLAG, bool, False, "Use only the cache; never touch the network."),
    Option("refresh", ("--refresh",), Kind.FLAG, bool, False, "Ignore cached index pages."),
    Option("no_cache", ("--no-cache",), Kind.FLAG, bool, False, "Use a throw-away cache."),
    Option("cache_dir", ("--cache-dir",), Kind.VALUE, Path, None, "Cache folder (default: $SATLOCK_CACHE_DIR or the user cache)."),
    Option("allow_insecure_host", ("--allow-insecure-host",), Kind.MULTI, str, None, "Allow plain http to this host."),
    Option("timeout", ("--timeout",), Kind.VALUE, float, 30.0, "Seconds to wait for an answer, and for a download that stops coming.", "SATLOCK_HTTP_TIMEOUT"),
)
INDEX_DESTS = frozenset(o.dest for o in INDEX_OPTIONS)

# In the order ``satlock lock --help`` lists them.
LOCK_OPTIONS = (
    PROJECT,
    Option("check", ("--check",), Kind.FLAG, bool, False, "Exit 1 if pylock.toml is out of date; write nothing."),
    *INDEX_OPTIONS,
    Option("python_version", ("--python-version",), Kind.VALUE, str, None, "Lock for this Python version."),
    Option("platform", ("--platform",), Kind.VALUE, str, None,
           "Lock for this platform (linux [glibc 2.28], macos [13.0 arm64], windows, or a wheel platform tag)."),
    Option("upgrade", ("--upgrade", "-U"), Kind.FLAG, bool, False, "Ignore the versions in the existing lock."),
    Option("upgrade_package", ("--upgrade-package", "-P"), Kind.MULTI, str, None, "Upgrade just this package."),
    QUIET,
    VERBOSE,
)

SYNC_OPTIONS = (
    PROJECT,
    Option("extra", ("--extra",), Kind.MULTI, str, None, "Install this extra too."),
    Option("all_extras", ("--all-extras",), Kind.FLAG, bool, False, "Install every extra."),
    Option("group", ("--group",), Kind.MULTI, str, None, "Install this dependency group too."),
    Option("all_groups", ("--all-groups",), Kind.FLAG, bool, False, "Install every dependency group."),
    Option("no_default_groups", ("--no-default-groups",), Kind.FLAG, bool, False, "Leave out the default groups (dev, or [tool.satlock] default-groups)."),
    Option("frozen", ("--frozen",), Kind.FLAG, bool, False, "Install the lock as it is; never re-lock or read the index."),
    Option("locked", ("--locked",), Kind.FLAG, bool, False, "Fail instead of re-locking when the lock is stale."),
    Option("python", ("--python",), Kind.VALUE, Path, None, "Interpreter for a new .venv (an existing one must have been made with it)."),
    Option("reinstall", ("--reinstall",), Kind.FLAG, bool, False, "Reinstall every package."),
    Option("no_build", ("--no-build",), Kind.FLAG, bool, False, "Refuse to build source packages."),
    Option("no_install_project", ("--no-install-project",), Kind.FLAG, bool, False,
           "Install the dependencies only, not the project itself."),
    Option("allow_outside_project", ("--allow-outside-project",), Kind.FLAG, bool, False,
           "Build a lock's local folder outside the project even when pyproject.toml does not declare it."),
    *INDEX_OPTIONS,
    QUIET,
    VERBOSE,
)

# A number this parser reads the way typer (pydantic) does; any other spelling is left to typer.
_PLAIN_NUMBER = re.compile(r"[0-9]{1,9}(\.[0-9]{1,9})?")


def _convert(option: Option, text: str) -> Any:
    """``text`` as the option's type, or ``None`` when typer must judge it."""
    if not text or text.startswith("-") or text != text.strip() or "\x00" in text:
        return None
    if option.value_type is float:
        return float(text) if _PLAIN_NUMBER.fullmatch(text) else None
    if option.value_type is Path:
        return Path(text)
    return text


def parse(options: tuple[Option, ...], args: list[str], environ: Mapping[str, str]) -> dict[str, Any] | None:
    """The values of ``options`` (by ``dest``) in ``args`` and ``environ``, as typer would
    pass them to the command; ``None`` when this command line is one for typer to read."""
    by_name = {name: option for option in options for name in option.names}
    given: dict[str, Any] = {}
    i = 0
    while i < len(args):
        name, eq, text = args[i].partition("=")
        option = by_name.get(name)
        if option is None or (eq and (option.kind is Kind.FLAG or not name.startswith("--"))):
            return None
        if option.kind is not Kind.MULTI and option.dest in given:
            return None
        if option.kind is Kind.FLAG:
            given[option.dest] = True
            i += 1
            continue
        if not eq:
            if i + 1 >= len(args):
                return None
            i += 1
            text = args[i]
        value = _convert(option, text)
        if value is None:
            return None
        if option.kind is Kind.MULTI:
            given.setdefault(option.dest, []).append(value)
        else:
            given[option.dest] = value
        i += 1
    for option in options:
        if option.dest in given or option.envvar is None or not environ.get(option.envvar):
            continue
        raw = environ[option.envvar]
        if option.kind is Kind.MULTI:
            values = [_convert(option, part) for part in raw.split()]
            if not values or None in values:
                return None
            given[option.dest] = values
        else:
            value = _convert(option, raw)
            if value is None:
                return None
            given[option.dest] = value
    return {option.dest: given.get(option.dest, option.default) for option in options}
