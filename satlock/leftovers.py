"""Sweeping the temporary folders that runs which ended left beside the cache's buckets.

A run names its temporary folders ``.tmp-<run id>-<random>`` and holds the lock
``.locks/runs/<run id>.lock`` while it lives (``Cache.new_tempdir``). The system releases
that lock when the process ends, however it ends (SIGKILL, a power cut), so a folder whose
run's lock is free is a leftover, and one whose run's lock is held is never touched,
however old: a build may run for hours.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

from satlock.cache import drop
from satlock.mutex import FileLock

_RUN_TEMP = re.compile(r"\.tmp-([0-9a-f]{16})-[A-Za-z0-9_]+")
# A temporary folder named before runs had ids (``.tmp-<random>``) is a leftover once this old.
UNOWNED_TEMP_AGE_S = 7 * 24 * 3600.0
# An ended run's lock file is removed once this old, never one a starting run may have just made.
RUN_LOCK_AGE_S = 3600.0


def sweep_leftovers(parent: Path, own: str, locks: Path) -> None:
    """Remove the temporary folders in ``parent`` that ended runs left: those of a run whose
    lock in ``locks`` nobody holds, and those named before runs had ids once a week old.
    ``own`` is the sweeping run's id."""
    try:
        with os.scandir(parent) as found:
            temps = [(entry.name, Path(entry.path)) for entry in found if entry.name.startswith(".tmp-")]
    except OSError:
        return
    ended: dict[str, bool] = {}
    for name, path in temps:
        owner = _RUN_TEMP.fullmatch(name)
        if owner is None:
            try:
                stale = time.time() - path.lstat().st_mtime > UNOWNED_TEMP_AGE_S
            except OSError:
                continue
            if stale:
                drop(path)
            continue
        run_id = owner.group(1)
        if run_id == own:
            continue
        if run_id not in ended:
            ended[run_id] = _run_ended(locks / f"{run_id}.lock")
        if ended[run_id]:
            drop(path)


def _run_ended(path: Path) -> bool:
    """Whether the run of the lock file ``path`` has ended: nobody holds the lock, or the file
    is gone (a run makes it before any folder, and only a sweep holding it removes it)."""
    if not os.path.lexists(path):
        return True
    lock = FileLock(path, timeout=0)
    try:
        lock.acquire()
    except OSError:  # Held (a TimeoutError) included
        return False
    try:
        if time.time() - path.lstat().st_mtime > RUN_LOCK_AGE_S:
            path.unlink(missing_ok=True)
    except OSError:
        pass
    finally:
        lock.release()
    return True
