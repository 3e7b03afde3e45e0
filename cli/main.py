"""The ``satlock`` typer app: the commands' help, and every command line the console
script's fast path (cli/entry.py) leaves to typer.

``lock`` and ``sync`` are cli/commands.py's, with the options cli/options.py declares;
every ``SatlockError`` becomes ``error: <one line>`` (plus ``hint:``) on stderr and a
non-zero exit, and Ctrl-C one line and exit 130 (cli/output.py ``exit_code``); nothing is
written when a command fails. The ``profile`` commands are in cli/profile.py.
"""

from __future__ import annotations

import sys
from typing import Any

import typer

from satlock import __version__
from satlock.cli import commands
from satlock.cli.common import typer_command
from satlock.cli.options import LOCK_OPTIONS, SYNC_OPTIONS
from satlock.cli.profile import profile_app

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Lock and sync Python projects with a SAT solver and declarative build profiles.")
app.add_typer(profile_app, name="profile")


def _print_version(asked: bool) -> None:
    if asked:
        typer.echo(f"satlock {__version__}")
        raise typer.Exit()


@app.callback()
def _top_level(
    version: bool = typer.Option(False, "--version", is_eager=True, callback=_print_version,
                                 help="Show satlock's version and exit."),
) -> None:
    """Options that come before the command; ``--version`` answers and exits on its own."""


app.command(name="lock")(typer_command(LOCK_OPTIONS, commands.lock))
app.command(name="sync")(typer_command(SYNC_OPTIONS, commands.sync))


def _command_line_errors() -> tuple[type[Exception], tuple[type[Exception], ...]]:
    """The exception typer raises for a command line it cannot take, and those of them that
    stand for "show the help" (a group named without a command): click's, which typer
    vendors since 0.2x and imported before."""
    try:
        from typer._click import exceptions
    except ImportError:  # typer before it vendored click
        from click import exceptions  # type: ignore[no-redef]
    help_instead = getattr(exceptions, "NoArgsIsHelpError", None)
    return exceptions.ClickException, (help_instead,) if help_instead is not None else ()


def _command_path(args: list[str]) -> str:
    """``satlock`` and the (sub)commands ``args`` name, for an error raised before click made
    the command's context (an option without its value: ``satlock sync --python``)."""
    from typer.main import get_command

    command: Any = get_command(app)
    path = ["satlock"]
    for arg in args:
        sub = getattr(command, "commands", {}).get(arg)
        if sub is None:
            break
        command, path = sub, [*path, arg]
    return " ".join(path)


def _say(text: str) -> None:
    if sys.stderr is not None:  # None: started without one (``2>&-``)
        sys.stderr.write(text)
        sys.stderr.flush()


def main() -> None:
    """Run the typer app; a command line it cannot take (an unknown option, a missing value,
    a value of the wrong type) is one ``error:`` line naming the command, and a hint to ask
    for its help, as every other bad input is, rather than typer's usage box."""
    command_line_error, help_instead = _command_line_errors()
    try:
        code = app(standalone_mode=False, prog_name="satlock")
    except help_instead as e:
        # The help is printed already where rich renders it; click's plain one is the message.
        if e.format_message():
            _say(e.format_message() + "\n")
        sys.exit(e.exit_code)
    except command_line_error as e:
        context = getattr(e, "ctx", None)
        where = context.command_path if context is not None else _command_path(sys.argv[1:])
        message = " ".join(e.format_message().split())
        _say(f"error: {where}: {message[:1].lower()}{message[1:]}\nhint: run `{where} --help` for what it takes\n")
        sys.exit(e.exit_code)
    except typer.Abort:
        _say("aborted: the input ended\n")  # click's EOFError in a prompt; Ctrl-C is Exit(130)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)
