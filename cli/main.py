"""The ``satlock`` typer app: the commands' help, and every command line the console
script's fast path (cli/entry.py) leaves to typer.

``lock`` and ``sync`` are cli/commands.py's, with the options cli/options.py declares;
every ``SatlockError`` becomes ``error: <one line>`` (plus ``hint:``) on stderr and a
non-zero exit, and Ctrl-C one line and exit 130 (cli/output.py ``exit_code``); nothing is
written when a command fails. The ``profile`` commands are in cli/profile.py.
"""

from __future__ import annotations

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


def main() -> None:
    app()
