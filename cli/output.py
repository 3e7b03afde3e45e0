"""Printing for people: one-line errors with hints, a spinner on terminals, quiet and verbose levels."""

from __future__ import annotations

import sys
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator

from rich.console import Console

from satlock.errors import SatlockError
from satlock.http import redact


@dataclass
class Output:
    quiet: bool = False
    verbose: bool = False

    def __post_init__(self) -> None:
        self.err = Console(stderr=True, highlight=False, soft_wrap=True)

    def info(self, message: str) -> None:
        if not self.quiet:
            self.err.print(redact(message), markup=False)

    def debug(self, message: str) -> None:
        if self.verbose:
            self.err.print(redact(message), markup=False, style="dim")

    def warn(self, message: str) -> None:
        self.err.print(f"warning: {redact(message)}", markup=False, style="yellow")

    def error(self, error: SatlockError) -> None:
        # Every message passes the one redaction: a URL with credentials may reach any of them.
        self.err.print(f"error: {redact(error.message)}", markup=False, style="bold red")
        if error.hint:
            self.err.print(f"hint: {redact(error.hint)}", markup=False)

    @contextmanager
    def status(self, message: str) -> Iterator[Callable[[str], None]]:
        """A spinner line on terminals; yields a function that changes its text."""
        if self.quiet or not sys.stderr.isatty():
            yield lambda _text: None
            return
        with self.err.status(message) as live:
            yield lambda text: live.update(text)


def exit_code(out: Output, fn: Callable[[], None], interrupted: str = "interrupted; nothing was written") -> int:
    """Run ``fn``: 0 when it succeeds; a ``SatlockError`` printed as one line and its exit
    code; Ctrl-C printed as the one line ``interrupted`` (a command that may have changed
    something says so there) and 130. The typer commands and the console script's fast
    path both end here, so their error lines are the same."""
    from pyproject_hooks import BuildBackendWarning

    try:
        with warnings.catch_warnings():
            # pyproject_hooks re-raises a backend's own warnings here (numpy's setup.py: a
            # screenful about BLAS); they are the backend's chatter, not satlock's to print.
            warnings.simplefilter("ignore", BuildBackendWarning)
            fn()
    except SatlockError as e:
        out.error(e)
        return e.exit_code
    except KeyboardInterrupt:
        out.err.print(interrupted, markup=False)
        return 130
    return 0
