"""Printing for people: one-line errors with hints, a spinner on terminals, quiet and verbose levels."""

from __future__ import annotations

import os
import sys
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Iterator

from satlock.errors import SatlockError, printable
from satlock.http import redact

if TYPE_CHECKING:
    from rich.console import Console

# The longest line of an error or hint that is printed whole.
MAX_ERROR_LINE = 1000


@dataclass
class Output:
    """Lines for people on stderr: styled by rich on a terminal (or with ``FORCE_COLOR``),
    written as they are otherwise, so a piped or scripted run never imports rich (a tenth
    of a warm lock's start-up) and never sees rich's emoji codes or wrapping applied."""

    quiet: bool = False
    verbose: bool = False
    _console: Console | None = field(default=None, init=False, repr=False)

    def _styled(self) -> Console | None:
        if self._console is None and (sys.stderr.isatty() or os.environ.get("FORCE_COLOR")):
            from rich.console import Console

            self._console = Console(stderr=True, highlight=False, soft_wrap=True)
        return self._console

    def line(self, text: str, style: str | None = None) -> None:
        """One line as it is but for control characters (escaped); every caller has redacted it already."""
        text = printable(text, newlines=True)
        console = self._styled()
        if console is None:
            sys.stderr.write(text + "\n")
        else:
            console.print(text, markup=False, style=style)

    def info(self, message: str) -> None:
        if not self.quiet:
            self.line(redact(message))

    def debug(self, message: str) -> None:
        if self.verbose:
            self.line(redact(message), style="dim")

    def warn(self, message: str) -> None:
        self.line(f"warning: {redact(message)}", style="yellow")

    def error(self, error: SatlockError) -> None:
        # Every message passes the one redaction: a URL with credentials may reach any of them.
        self.line(_bounded(f"error: {redact(error.message)}"), style="bold red")
        if error.hint:
            self.line(_bounded(f"hint: {redact(error.hint)}"))

    @contextmanager
    def status(self, message: str) -> Iterator[Callable[[str], None]]:
        """A spinner line on terminals; yields a function that changes its text."""
        console = None if self.quiet or not sys.stderr.isatty() else self._styled()
        if console is None:
            yield lambda _text: None
            return
        with console.status(message) as live:
            yield lambda text: live.update(text)


def _bounded(text: str) -> str:
    """``text`` with each line cut at ``MAX_ERROR_LINE`` characters: a message quotes what was
    wrong, and a name or requirement from a lock or an index can be megabytes long."""
    return "\n".join(line if len(line) <= MAX_ERROR_LINE else f"{line[:MAX_ERROR_LINE]}... ({len(line) - MAX_ERROR_LINE:,} more characters)"
                     for line in text.split("\n"))


class Terminated(KeyboardInterrupt):
    """SIGTERM (``kill``, a CI runner's timeout, ``docker stop``), raised where Ctrl-C's
    ``KeyboardInterrupt`` is, so that every clean-up Ctrl-C runs runs for it too: an sdist
    unpacked for a build, a build environment, a half-written entry. Exit status 143."""


def exit_code(out: Output, fn: Callable[[], None],
              interrupted: str | Callable[[], str] = "interrupted; nothing was written") -> int:
    """Run ``fn``: 0 when it succeeds; a ``SatlockError`` printed as one line and its exit
    code; Ctrl-C printed as the one line ``interrupted`` (a command that may have changed
    something says so there; a callable says it once it knows) and 130. The typer commands
    and the console script's fast path both end here, so their error lines are the same.
    SIGTERM (``Terminated``) is the same line and 143."""
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
    except KeyboardInterrupt as e:
        out.line(interrupted if isinstance(interrupted, str) else interrupted())
        return 143 if isinstance(e, Terminated) else 130
    except OSError as e:
        # Ctrl-C inside a clean-up can come out as the clean-up's OSError: shutil.rmtree
        # (3.11) interrupted between closing a folder and noting it closes it again in a
        # ``finally``, and EBADF replaces the KeyboardInterrupt. It is still the Ctrl-C.
        if not isinstance(e.__context__, KeyboardInterrupt):
            raise
        out.line(interrupted if isinstance(interrupted, str) else interrupted())
        return 143 if isinstance(e.__context__, Terminated) else 130
    return 0
