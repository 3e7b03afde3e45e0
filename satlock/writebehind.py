"""Cache entries written by one background thread, so that fetching never waits for the disk.

A cold lock writes a cache entry for every index page, candidate listing and metadata file
it fetches, about 150 files for fifty packages. Written in place, each one held up the
fetch that made it: the next request of that worker (the metadata of the version just
listed, the pages of what that version needs) waited for a file to be created, written
and renamed. Handed to this writer, the entry is written while the fetches go on, and
``close`` waits for every entry before the command ends. Until an entry is on disk it is
answered from memory (``pending``), so a reader in the same process never misses it.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence

__all__ = ["WriteBehind"]

Parts = Sequence[bytes]


class WriteBehind:
    """A queue of cache writes and the one thread that does them, in the order given.

    ``write(bucket, key, parts)`` is the cache's own atomic write. The first write that
    fails (an unwritable cache folder, or anything else) is raised by ``close``, and the
    writes queued after it are dropped: they would fail the same way. A failure kept in
    this thread instead would end it, and every later entry would be lost behind a
    command that reports success. ``put`` does not raise it: the fetch threads that call
    it treat an error as that version's problem, and an unwritable cache is the command's.
    """

    def __init__(self, write: Callable[[str, str, Parts], object]) -> None:
        self._write = write
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue[tuple[str, str, Parts] | None] = queue.SimpleQueue()
        self._pending: dict[tuple[str, str], Parts] = {}
        self._failure: BaseException | None = None
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="satlock-cache-writer", daemon=True)
        self._thread.start()

    def put(self, bucket: str, key: str, parts: Parts) -> None:
        """Write ``parts`` as the entry ``key`` soon; at once, on this thread, once closed."""
        with self._lock:
            if not self._closed:
                self._pending[(bucket, key)] = parts
                self._queue.put((bucket, key, parts))
                return
        self._write(bucket, key, parts)  # a straggler after ``close``: nobody would wait for the writer

    def pending(self, bucket: str, key: str) -> bytes | None:
        """The entry ``key`` while it is queued and not yet written (or not written for a
        failure, until ``close``), else ``None``."""
        with self._lock:
            parts = self._pending.get((bucket, key))
        return None if parts is None else b"".join(parts)

    def close(self, *, raise_failure: bool = True) -> None:
        """Wait until every queued entry is written; raise the first failure when ``raise_failure``."""
        with self._lock:
            self._closed = True
        self._queue.put(None)
        self._thread.join()
        if raise_failure and self._failure is not None:
            raise self._failure

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            bucket, key, parts = item
            if self._failure is None:
                try:
                    self._write(bucket, key, parts)
                except BaseException as exc:  # handed to ``close``, on the thread that waits for the writes
                    self._failure = exc
            if self._failure is not None:
                continue  # not on disk: still answered from memory, until the block ends with the failure
            with self._lock:
                if self._pending.get((bucket, key)) is parts:
                    del self._pending[(bucket, key)]
