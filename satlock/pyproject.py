"""Finding a project's ``pyproject.toml``: the one place that says where it is and what
the error is when it is missing, for the commands that read it and those that edit it."""

from __future__ import annotations

from pathlib import Path

from satlock.errors import ProjectError
from satlock.numbers import overlong_number_line, overlong_number_reason

# What a TOML file whose nesting overflows tomllib's recursion is told, by every reader of one.
TOO_DEEP = "arrays or inline tables nested too deeply to read"


def project_root(start: Path) -> Path:
    """The nearest folder, ``start`` or one above it, that holds a pyproject.toml, as uv
    finds the project from a subfolder (``tests/``, ``src/pkg/``); ``start`` itself when
    none does, so that the error names the folder the user is in."""
    for folder in (start, *start.parents):
        if (folder / "pyproject.toml").is_file():
            return folder
    return start


def find_pyproject(start: Path) -> Path:
    """``start/pyproject.toml``; a clear error when there is none."""
    path = start / "pyproject.toml"
    if not path.is_file():
        raise ProjectError(f"no pyproject.toml in {start}", hint="run satlock in a project folder or pass --project DIR")
    return path


def read_pyproject(path: Path) -> tuple[str, dict]:
    """The text of ``path`` and its TOML data, or the one error every command gives for a
    file that is not UTF-8 or not TOML (the profile commands edit the text, the others read the data)."""
    import tomllib

    try:
        # Decoded without newline translation: the profile commands write the text back,
        # and a file with CRLF line endings must keep them.
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise ProjectError(f"{path}: not UTF-8 text") from None
    except OSError as exc:
        raise ProjectError(f"{path}: cannot read it: {exc.strerror}") from None
    if text.startswith("\ufeff"):
        # tomllib refuses a BOM, saying only "invalid statement" at 1:1, where an editor shows nothing.
        raise ProjectError(f"{path}: starts with a byte order mark, which Python's TOML reader (and so pip's) rejects",
                           hint="save it as UTF-8 without a BOM")
    line = overlong_number_line(text)
    if line is not None:
        raise ProjectError(f"{path}: line {line} holds {overlong_number_reason()}", hint="shorten that number")
    try:
        return text, tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ProjectError(f"{path}: invalid TOML: {e}", hint="fix the syntax error at that line") from None
    except RecursionError:
        # tomllib parses arrays and inline tables recursively.
        raise ProjectError(f"{path}: invalid TOML: {TOO_DEEP}", hint="flatten those values") from None
