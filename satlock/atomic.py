"""Replacing a file so that a reader, or an interrupted writer, never sees half of it.

The one way satlock writes pylock.toml, pyproject.toml and cache entries: write a
temporary file in the same folder, then rename it over the target (atomic on POSIX).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomic(path: Path, data: bytes, *, durable: bool = False, private: bool = False) -> None:
    """Replace ``path`` with ``data``, keeping the permissions of a file already there.

    ``durable`` also syncs the data to disk first, for files a person edits (pyproject.toml);
    cache entries and locks that can be made again skip that cost. ``private`` leaves the
    new file readable by its owner only and skips the permission calls (cache entries).
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        if not private:
            try:
                os.chmod(tmp, path.stat().st_mode & 0o7777)
            except FileNotFoundError:
                os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
