"""An exclusive lock on a file, between processes: who may fill a cache entry, install into a
``.venv``, or sweep a run's leftovers.

The lock is the kernel's (``flock`` on POSIX, ``msvcrt.locking`` on Windows), so it ends
with the process that holds it, however that process ends; the file stays and is only its
name. This is all satlock used of the ``filelock`` package, whose import (15 to 25 ms, a
tenth of a warm sync's imports) every sync that installs anything paid.

A lock file lies in the cache or in ``.venv``, both untrusted: it is opened without
following a link and without waiting on a FIFO planted in its place.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from types import TracebackType

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]
    import msvcrt

_OPEN = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
# How often a lock held elsewhere is tried again, by a caller with a time limit (or on Windows).
_POLL_S = 0.05


# The lock files this process holds, by (device, inode), with the thread holding each: a
# thread asking without a time limit for one it holds through another FileLock would wait on
# itself for ever (a git submodule nesting its own repository did), so it is refused instead.
_OWNERS: dict[tuple[int, int], int] = {}
_OWNERS_GUARD = threading.Lock()


class WouldDeadlock(RuntimeError):
    """This thread already holds the lock it asked for without a time limit (a bug to report)."""


class Held(TimeoutError):
    """The lock is held elsewhere, and the caller would not wait (``timeout=0``) or waited its limit."""


def _try_lock(fd: int, wait: bool) -> bool:
    """Take the lock on ``fd``: blocking in the kernel when ``wait``; else whether it was free."""
    if fcntl is not None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True
    while True:
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            if not wait:
                return False
            time.sleep(_POLL_S)
        else:
            return True


def _unlock(fd: int) -> None:
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_UN)
    else:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)


class FileLock:
    """An exclusive lock on the file ``path`` (made if missing, unless not ``create``), as a
    context manager.

    ``timeout`` is how long ``acquire`` waits for a lock held elsewhere: ``None`` for as long
    as it takes, ``0`` not at all; past it ``Held`` is raised. Two ``FileLock`` objects on one
    path exclude each other, in one process as in two; one object taken again while held
    only counts, and is released when released as often. ``unusable`` makes the error raised
    in place of the ``OSError`` of a lock file that cannot be opened (a link or a folder
    planted in its place, a file the user may not write): the caller's one line saying where."""

    def __init__(self, path: str | os.PathLike[str], timeout: float | None = None,
                 unusable: Callable[[OSError], Exception] | None = None, *, create: bool = True) -> None:
        self.path = os.fspath(path)
        self.timeout = timeout
        self._unusable = unusable
        self._flags = _OPEN if create else _OPEN & ~os.O_CREAT
        self._fd: int | None = None
        self._key: tuple[int, int] | None = None
        self._depth = 0

    @property
    def is_locked(self) -> bool:
        return self._fd is not None

    @property
    def identity(self) -> tuple[int, int] | None:
        """(device, inode) of the file locked, while held: whether the path still names it."""
        return self._key

    def acquire(self, timeout: float | None = None) -> None:
        """Take the lock; ``OSError`` if its file cannot be opened, ``Held`` past the time limit."""
        if self._fd is not None:
            self._depth += 1
            return
        limit = self.timeout if timeout is None else timeout
        try:
            fd = os.open(self.path, self._flags, 0o644)
        except OSError as exc:
            if self._unusable is None:
                raise
            raise self._unusable(exc) from None
        try:
            st = os.fstat(fd)
            key = (st.st_dev, st.st_ino)
            if limit is None:
                with _OWNERS_GUARD:
                    if _OWNERS.get(key) == threading.get_ident():
                        raise WouldDeadlock(f"{self.path} is locked already by this thread, which would wait on itself")
            deadline = None if limit is None else time.monotonic() + max(0.0, limit)
            while not _try_lock(fd, wait=deadline is None):
                assert deadline is not None
                left = deadline - time.monotonic()
                if left <= 0:
                    raise Held(f"{self.path} is locked by another process")
                time.sleep(min(_POLL_S, left))
        except BaseException:
            os.close(fd)
            raise
        with _OWNERS_GUARD:
            _OWNERS[key] = threading.get_ident()
        self._fd = fd
        self._key = key
        self._depth = 1

    def release(self) -> None:
        """Give the lock up (once it has been released as often as it was taken)."""
        if self._fd is None:
            return
        self._depth -= 1
        if self._depth > 0:
            return
        fd, self._fd = self._fd, None
        with _OWNERS_GUARD:
            if self._key is not None:
                _OWNERS.pop(self._key, None)
        try:
            _unlock(fd)
        finally:
            os.close(fd)

    def __enter__(self) -> FileLock:
        self.acquire()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.release()
