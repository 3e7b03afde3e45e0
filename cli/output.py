"""Printing for people: one-line errors with hints, a spinner on terminals, quiet and verbose levels."""

from __future__ import annotations

import sys
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
