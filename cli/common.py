"""What the typer commands share: their options, made from the declarations in
cli/options.py, and the one place a command's exit code becomes typer's exit."""

from __future__ import annotations

import functools
import inspect
from typing import Annotated, Any, Callable, Optional

import typer

from satlock.cli.options import PROJECT, QUIET, Kind, Option
from satlock.cli.output import Output, exit_code


def annotation(option: Option) -> Any:
    """The typer annotation of ``option``: the same names, help and environment variable."""
    value_type: Any = option.value_type
    if option.kind is Kind.MULTI:
        value_type = list[value_type]
    if option.default is None:
        value_type = Optional[value_type]
    info = typer.Option(*option.names, help=option.help) if option.envvar is None else \
        typer.Option(*option.names, envvar=option.envvar, help=option.help)
    return Annotated[value_type, info]


ProjectOpt = annotation(PROJECT)
QuietOpt = annotation(QUIET)


def run(out: Output, fn: Callable[[], None], interrupted: str = "interrupted; nothing was written") -> None:
    """``fn()`` with its errors as one line and a non-zero exit (cli/output.py ``exit_code``)."""
    code = exit_code(out, fn, interrupted)
    if code:
        raise typer.Exit(code)


def typer_command(options: tuple[Option, ...], command: Callable[..., int]) -> Callable[..., None]:
    """``command`` (cli/commands.py) as a typer command whose parameters are ``options``,
    in their order; its docstring is the help. The values reach it through
    ``commands.call``, as they do from the console script's fast path."""
    from satlock.cli.commands import call

    parameters = [inspect.Parameter(o.dest, inspect.Parameter.KEYWORD_ONLY, default=o.default, annotation=annotation(o))
                  for o in options]

    @functools.wraps(command, assigned=("__module__", "__name__", "__qualname__", "__doc__"), updated=())
    def with_options(**values: Any) -> None:
        code = call(command, values)
        if code:
            raise typer.Exit(code)

    with_options.__signature__ = inspect.Signature(parameters, return_annotation=None)  # type: ignore[attr-defined]
    with_options.__annotations__ = {p.name: p.annotation for p in parameters}
    del with_options.__wrapped__
    return with_options
