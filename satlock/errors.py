"""The errors satlock reports to people.

Every layer raises one of these for a problem a user can act on; ``cli`` turns it into
one line (plus an optional hint) and an exit code. Anything else escaping to the top is
a bug in satlock and keeps its traceback.
"""

from __future__ import annotations

import re

# Control characters (C0 but the tab, DEL, C1): on a terminal they move the cursor, clear
# the screen or start a line, so text from an index, archive or lock may not print them.
_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f]")
_CONTROL_BUT_NEWLINE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: str, *, newlines: bool = False) -> str:
    """``text`` with its control characters written as escapes (``\\x1b``, ``\\n``), to be shown
    to a person: untrusted text put into a message, with ``newlines`` False so that it cannot
    start a line of its own (a fake ``error:``); a whole message, whose own lines are kept."""
    return (_CONTROL_BUT_NEWLINE if newlines else _CONTROL).sub(_escape, text)


def _escape(found: re.Match[str]) -> str:
    return repr(found.group())[1:-1]


class SatlockError(Exception):
    """A problem the user can fix: ``message`` says what and where, ``hint`` how."""

    exit_code: int = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class ProjectError(SatlockError):
    """pyproject.toml (or a requirement in it) is missing or invalid."""


class ConfigError(ProjectError):
    """A ``[tool.satlock]`` setting, flag or environment variable is invalid."""


class NetworkError(SatlockError):
    """An index or file could not be reached after retries, or is missing from the offline cache."""


class FileMissingError(NetworkError):
    """A server answered 404 for a file: who named the URL (an index, the project) says what to fix."""


class IndexFormatError(SatlockError):
    """An index answered with something that is not a simple repository page."""


class MetadataError(SatlockError):
    """A distribution's metadata is missing or corrupt."""


class NotFoundError(SatlockError):
    """A package, or a version of it, does not exist on any configured index."""


class ResolutionError(SatlockError):
    """The requirements cannot all be satisfied together."""


class LockError(SatlockError):
    """pylock.toml is missing, invalid, from a newer lock-version, or out of date."""


class HashMismatchError(SatlockError):
    """A downloaded file does not match the hash recorded for it."""


class UnsafeArchiveError(SatlockError):
    """An archive tries to write outside the folder it is extracted into."""


class BuildError(SatlockError):
    """A PEP 517 build (metadata or wheel) failed."""


class ProfileError(SatlockError):
    """A build profile is invalid: unknown key, bad template or bad requirement."""


class InstallError(SatlockError):
    """Installing into the virtual environment failed."""


# What zipfile raises for a zip it will not read besides ``zipfile.BadZipFile``: a
# ``RuntimeError`` for an encrypted member, a ``NotImplementedError`` (a ``RuntimeError``
# too) for a compression method or zip version it lacks, a ``UnicodeDecodeError`` for a
# member name flagged UTF-8 that is not. A hostile zip is one error, not a traceback.
ZIPFILE_REFUSALS: tuple[type[Exception], ...] = (RuntimeError, UnicodeDecodeError)
