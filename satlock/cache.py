"""The on-disk cache shared by every satlock process on the machine.

Entries are files under ``<root>/<bucket>/``. Writers write a temporary file in the same
folder and rename it into place, so a reader sees either the whole old entry or the whole
new one, never a torn write, even when two satlock processes share the cache or one is
killed mid-write. ``lock()`` serialises the *work* of filling one entry (one download of a
wheel, one build) between processes.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import stat
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, TypeVar

import platformdirs

from satlock.atomic import write_atomic
from satlock.errors import ConfigError, IndexFormatError
from satlock.mutex import FileLock

if TYPE_CHECKING:
    from satlock.writebehind import WriteBehind

CACHE_ENV = "SATLOCK_CACHE_DIR"
_Memo = TypeVar("_Memo")
# One safe file name: a digest, a sha256, ``git-<commit>`` or a distribution file name.
_KEY_PART = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+!~-]{0,254}")
_BUCKET = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")


def checked_key(bucket: str, key: str) -> None:
    """Refuse a bucket or key that is not a plain name (at most ``<name>/<name>``).

    Keys are built from validated digests and file names; this is the last line of
    defence should anything from an index page, a lock or a cache entry reach here
    unchecked: no key may name a path outside its bucket.
    """
    parts = key.split("/")
    if (not _BUCKET.fullmatch(bucket) or len(parts) > 2
            or not all(_KEY_PART.fullmatch(p) and ".." not in p for p in parts)):
        raise IndexFormatError(f"refusing unsafe cache entry name {bucket!r}/{key!r:.120}",
                               hint="a file name or hash from an index or lock is not what it claims to be")


def default_cache_dir() -> Path:
    """``$SATLOCK_CACHE_DIR``, else the platform's user cache folder (``~/.cache/satlock`` on Linux)."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_cache_dir("satlock", appauthor=False))


def digest(*parts: str) -> str:
    """A short stable file name for an arbitrary key (a URL, a tuple of hashes)."""
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:40]


class NotPlainFileError(OSError):
    """A FIFO, folder or device where the cache keeps a file: planted there, never written by satlock."""


def open_plain(path: Path) -> BinaryIO:
    """``path`` opened for reading if it is a plain file, else ``NotPlainFileError``.

    Opened without blocking: a plain ``open`` of a FIFO planted in the cache waits forever
    for a writer, and so would the lock or sync reading it.
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise NotPlainFileError(f"{path} is not a plain file")
    return open(fd, "rb")


def read_plain(path: Path) -> bytes:
    """The bytes of ``path``, which must be a plain file (``open_plain``)."""
    with open_plain(path) as f:
        return f.read()


def drop(path: Path) -> None:
    """Remove whatever is at ``path``, a file, link, FIFO or folder: an entry found corrupt."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def file_sha256(path: Path) -> str:
    """The sha256 of a file's bytes, read in blocks into one buffer (wheels can be gigabytes;
    a new block object per read cost a page fault per 4 KiB); ``NotPlainFileError`` for
    anything but a plain file."""
    with open_plain(path) as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


# The folder in ``.locks`` of the locks each run holds while it lives (satlock/leftovers.py).
RUN_LOCKS = "runs"

_SEAL = b"satlock-entry-v1 "


def _unseal(raw: bytes) -> bytes | None:
    if not raw.startswith(_SEAL):
        return None
    head, sep, data = raw[len(_SEAL):].partition(b"\n")
    size, _, sha = head.decode("ascii", errors="replace").partition(" ")
    if not sep or size != str(len(data)) or sha != hashlib.sha256(data).hexdigest():
        return None
    return data


def _sealed(data: bytes) -> tuple[bytes, bytes]:
    """``data`` behind the header line ``_unseal`` checks, as two parts (the data is not copied)."""
    return _SEAL + f"{len(data)} {hashlib.sha256(data).hexdigest()}\n".encode(), data


class Cache:
    """A folder of cache buckets; ``Cache.temporary()`` serves ``--no-cache``."""

    def __init__(self, root: Path, elsewhere: str = f"pass --cache-dir DIR or set {CACHE_ENV} to a folder you can write, "
                                                    "or use --no-cache") -> None:
        self.root = Path(root)
        # How the user's command chooses another cache folder, for the hints of errors here.
        self.elsewhere = elsewhere
        self._folders: set[Path] = set()
        self._tempdir: tempfile.TemporaryDirectory[str] | None = None
        self._behind: WriteBehind | None = None
        self._run_entries: dict[tuple[str, str], Path] = {}
        self._run_locks: dict[tuple[str, str], threading.Lock] = {}
        self._run_guard = threading.Lock()
        self._run: tuple[str, FileLock] | None = None
        self._temps: list[Path] = []
        self._swept: set[str] = set()
        self._run_memos: dict[str, object] = {}

    @classmethod
    def temporary(cls) -> Cache:
        tmp = tempfile.TemporaryDirectory(prefix="satlock-nocache-")
        cache = cls(Path(tmp.name))
        cache._tempdir = tmp
        return cache

    def path(self, bucket: str, key: str) -> Path:
        checked_key(bucket, key)
        return self.root / bucket / key

    def read(self, bucket: str, key: str) -> bytes | None:
        path = self.path(bucket, key)
        behind = self._behind
        if behind is not None and (queued := behind.pending(bucket, key)) is not None:
            return queued
        try:
            return read_plain(path)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except NotPlainFileError:
            self.discard(bucket, key)
            return None

    def read_sealed(self, bucket: str, key: str) -> bytes | None:
        """An entry written by ``write_sealed``; a truncated or altered one is dropped and is a miss.

        For entries whose every line matters (core metadata): one cut at a line boundary
        still parses, and would silently lose a dependency.
        """
        raw = self.read(bucket, key)
        if raw is None:
            return None
        data = _unseal(raw)
        if data is None:
            self.discard(bucket, key)
        return data

    def write_sealed(self, bucket: str, key: str, data: bytes) -> Path:
        """``write``, with the entry's length and sha256 in a header line that ``read_sealed`` checks."""
        return self.write(bucket, key, _sealed(data))

    def write_soon(self, bucket: str, key: str, data: bytes | Sequence[bytes]) -> None:
        """``write``, done by the cache's writer thread while the caller goes on, inside
        ``writes_behind``; outside it, at once. For entries whose path nobody needs."""
        checked_key(bucket, key)
        behind = self._behind
        if behind is None:
            self.write(bucket, key, data)
        else:
            behind.put(bucket, key, (data,) if isinstance(data, bytes) else data)

    def write_sealed_soon(self, bucket: str, key: str, data: bytes) -> None:
        """``write_sealed`` as ``write_soon`` does it."""
        self.write_soon(bucket, key, _sealed(data))

    @contextmanager
    def writes_behind(self) -> Iterator[None]:
        """Inside the block, ``write_soon`` hands its entries to one writer thread; on the way
        out, wait for all of them. A write that failed is raised then, unless the block is
        already raising (the block's error is the one to report)."""
        if self._behind is not None:
            yield  # the outer block waits
            return
        from satlock.writebehind import WriteBehind  # an up-to-date lock, which writes nothing, does not import it

        behind = self._behind = WriteBehind(self.write)
        done = False
        try:
            yield
            done = True
        finally:
            try:
                behind.close(raise_failure=done)
            finally:
                # Also when ``close`` raises (the failed write, a second Ctrl-C): a closed
                # writer left here would make the next block a nested one nobody waits for.
                self._behind = None

    def write(self, bucket: str, key: str, data: bytes | Sequence[bytes]) -> Path:
        """Store ``data`` (given whole, or in parts written one after the other) under ``key``."""
        dest = self.path(bucket, key)
        if dest.parent not in self._folders:
            self._make_folder(dest.parent)
            self._folders.add(dest.parent)
        try:
            try:
                write_atomic(dest, data, private=True)
            except FileNotFoundError:
                # The folder was discarded since (a corrupt entry dropped by another reader).
                self._make_folder(dest.parent)
                write_atomic(dest, data, private=True)
        except OSError as exc:
            raise self._unwritable(exc) from None
        return dest

    def _make_folder(self, folder: Path) -> None:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise self._unwritable(exc) from None

    def _unwritable(self, exc: OSError) -> ConfigError:
        """The error for a cache root that cannot be written (``--cache-dir`` naming a file, a
        folder under /proc, a read-only disk): which folder, and how to choose another,
        rather than a traceback from deep inside a lock or a sync."""
        return ConfigError(f"cannot write to the cache folder {self.root}: {exc.strerror or exc}",
                           hint=self.elsewhere)

    def discard(self, bucket: str, key: str) -> None:
        """Drop an entry found corrupt, so the next reader fetches it again."""
        drop(self.path(bucket, key))

    def lock(self, bucket: str, key: str) -> FileLock:
        checked_key(bucket, "lock")
        lock_dir = self.root / ".locks" / bucket
        self._make_folder(lock_dir)
        path = lock_dir / f"{digest(key)}.lock"
        return FileLock(path, unusable=lambda exc: ConfigError(
            f"cannot use the lock file {path} in the cache folder {self.root}: {exc.strerror or exc}",
            hint=f"remove {path} (the cache holds only lock files there), or {self.elsewhere}"))

    def new_tempdir(self, bucket: str) -> Path:
        """A private folder beside a bucket, to build an entry in and then rename into place.

        Named after this run, whose lock says it is alive; ``close`` removes what is still
        there (a build's unpacked sdist abandoned in a worker thread by Ctrl-C). The first
        one in a bucket sweeps the leftovers of runs that ended without removing theirs."""
        checked_key(bucket, "tmp")
        parent = self.root / bucket
        self._make_folder(parent)
        run_id = self._run_id()
        with self._run_guard:
            sweep = bucket not in self._swept
            self._swept.add(bucket)
        if sweep:
            from satlock.leftovers import sweep_leftovers

            sweep_leftovers(parent, run_id, self.root / ".locks" / RUN_LOCKS)
        try:
            tmp = Path(tempfile.mkdtemp(dir=parent, prefix=f".tmp-{run_id}-"))
        except OSError as exc:
            raise self._unwritable(exc) from None
        with self._run_guard:
            self._temps.append(tmp)
        return tmp

    def _run_id(self) -> str:
        """This run's id, its lock taken before its first temporary folder is made."""
        with self._run_guard:
            if self._run is None:
                run_id = os.urandom(8).hex()
                folder = self.root / ".locks" / RUN_LOCKS
                self._make_folder(folder)
                # Worker threads make folders too, and ``close`` releases it.
                lock = FileLock(folder / f"{run_id}.lock")
                try:
                    lock.acquire()
                except OSError as exc:
                    raise self._unwritable(exc) from None
                self._run = (run_id, lock)
            return self._run[0]

    def build_dir(self, bucket: str, key: str, fill: Callable[[Path], None]) -> Path:
        """Make the folder entry ``key`` with ``fill`` in a private folder and rename it into
        place; a ``fill`` that fails leaves nothing behind, so no reader sees half an entry."""
        return self.install_dir(bucket, key, self._filled_tempdir(bucket, fill))

    def _filled_tempdir(self, bucket: str, fill: Callable[[Path], None]) -> Path:
        """A new private folder beside ``bucket`` that ``fill`` filled; removed if it fails."""
        tmp = self.new_tempdir(bucket)
        try:
            fill(tmp)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return tmp

    def run_entry(self, bucket: str, key: str, fill: Callable[[Path], None]) -> Path:
        """The folder ``fill`` made for ``key`` in this run: made on first use in a private
        folder beside the bucket, reused for the rest of the run, removed by ``close``.

        For what one run may use but no later run may trust: a build environment or a git
        checkout runs its code at every build, and nothing left in the cache can tell one
        satlock made from one edited since. Threads asking for one key wait for one ``fill``.
        """
        checked_key(bucket, key)
        with self._run_guard:
            lock = self._run_locks.setdefault((bucket, key), threading.Lock())
        with lock:
            made = self._run_entries.get((bucket, key))
            if made is not None:
                return made
            tmp = self._run_entries[(bucket, key)] = self._filled_tempdir(bucket, fill)
            return tmp

    def run_memo(self, name: str, make: Callable[[], _Memo]) -> _Memo:
        """The object ``make`` made for ``name`` in this run, shared by its threads and dropped
        by ``close``: what a run learned by reading files (a memo) holds for that run only."""
        with self._run_guard:
            found = self._run_memos.get(name)
            if found is None:
                found = self._run_memos[name] = make()
            return found  # type: ignore[return-value]  # one ``make`` per name

    def made_in_run(self, bucket: str, key: str) -> Path | None:
        """The folder ``run_entry`` made for ``key`` in this run, if it made one."""
        with self._run_guard:
            return self._run_entries.get((bucket, key))

    def close(self) -> None:
        """Remove the folders ``run_entry`` made and the temporary folders still there, and end
        the run (its lock is released); the cache stays usable, as a new run. The command
        that made the cache calls it when it ends, also on Ctrl-C and SIGTERM."""
        with self._run_guard:
            made, self._run_entries = list(self._run_entries.values()), {}
            temps, self._temps = self._temps, []
            run, self._run = self._run, None
            self._run_memos = {}
        for folder in [*made, *temps]:
            shutil.rmtree(folder, ignore_errors=True)
        if run is not None:
            run[1].release()

    def install_dir(self, bucket: str, key: str, built: Path) -> Path:
        """Rename a folder made by ``new_tempdir`` into place; the first writer wins."""
        dest = self.path(bucket, key)
        try:
            os.replace(built, dest)
        except OSError:
            if not dest.exists():
                raise
            shutil.rmtree(built, ignore_errors=True)
        return dest
