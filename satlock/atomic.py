"""Replacing a file so that a reader, or an interrupted writer, never sees half of it.

The one way satlock writes pylock.toml, pyproject.toml and cache entries: write a
temporary file in the same folder, then rename it over the target (atomic on POSIX).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path


def write_atomic(path: Path, data: bytes | Sequence[bytes], *, durable: bool = False, private: bool = False) -> None:
    """Replace ``path`` with ``data``, keeping the permissions of a file already there.

    ``data`` may come in parts (a header line and a page of megabytes), written one after
    the other: joining them first would copy the large part, and fresh memory for that copy
    cost a cold lock more than writing it.

    ``durable`` also syncs the data to disk first, for files a person edits (pyproject.toml);
    cache entries and locks that can be made again skip that cost. ``private`` leaves the
    new file readable by its owner only and skips the permission calls (cache entries).
    """
    path = Path(path)
    # The kernel applies the umask to a new file's mode itself, so nothing here changes
    # the process umask (which other threads may be creating files under).
    tmp = path.parent / f".{path.name}.{os.urandom(8).hex()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o600 if private else 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            for part in (data,) if isinstance(data, bytes) else data:
                f.write(part)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        if not private:
            try:
                os.chmod(tmp, path.stat().st_mode & 0o7777)
            except FileNotFoundError:
                pass
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
