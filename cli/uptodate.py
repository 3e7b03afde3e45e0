"""Remembering that a lock is up to date, so a no-op ``satlock lock`` need not prove it again.

Proving it (``lock_is_current``) means validating pyproject.toml and its profiles with
pydantic, reading the lock through ``packaging.pylock`` and working out the target: about
0.3 s of imports for a command that then does nothing. The answer depends only on the
bytes of pyproject.toml and pylock.toml, the target interpreter and the glibc or macOS
release whose wheels it loads, the ``--python-version`` and ``--platform`` asked for, and
satlock's own code, so once the full check has said "current" it is recorded in the
cache under a digest of exactly those, and the next run with the same digest trusts it.
A project's local folder and archive sources are files the digest does not cover: they
are recorded with it by size, times and inode, and any change sends the next run to the
full check too; the project's folder, which relative source paths start from, is in the digest.
Any change to any of them is a different digest: the full check runs again. Only the
full check records, so the shortcut never answers anything the full check would not.

This module imports nothing beyond the standard library and ``platformdirs``; the console
script (``cli/entry.py``) uses it before typer, rich or pydantic are loaded.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
import stat
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from satlock.atomic import write_atomic

BUCKET = "uptodate-v1"
LOCK_NAME = "pylock.toml"
# The installed packages whose code decides whether a lock is current.
_PACKAGES = ("satlock", "satlock.profiles", "satlock.resolver", "satlock.buildenv", "satlock.cli")
# The most bytes of a record read: the three watched build files of each of thousands of local
# folders. A longer one was not written by ``record``, and would cost seconds to check.
MAX_RECORD = 4 << 20


def packages_phrase(count: int) -> str:
    """``1 package``, ``2 packages``: the count as the lock messages say it."""
    return f"{count} package" if count == 1 else f"{count} packages"


def up_to_date_message(lock_path: Path, packages: int) -> str:
    """The one line both the full check and the remembered answer print, so the two cannot drift."""
    return f"{lock_path} is up to date ({packages_phrase(packages)}); use --upgrade to look for newer versions"


def cache_root(cache_dir: Path | None) -> Path:
    """The cache folder as ``satlock.cache.default_cache_dir`` finds it, without importing
    that module (and the standard modules it needs to write entries) on the fast path; a
    test keeps the two in agreement."""
    if cache_dir is not None:
        return cache_dir
    env = os.environ.get("SATLOCK_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("satlock", appauthor=False))


@functools.cache
def _code_fingerprint() -> bytes:
    """Size and modification time of every source file of satlock, the packaging version and
    pydantic's version file (pydantic validates the profiles the full check reads; an upgrade
    may judge them otherwise): the code this process loaded, so it is walked once however
    many keys the process makes. pydantic is found, not imported: that is what this saves."""
    import packaging

    parts = [packaging.__version__]
    pydantic = importlib.util.find_spec("pydantic")
    if pydantic is not None and pydantic.origin is not None:
        try:
            st = os.stat(Path(pydantic.origin).parent / "version.py")
            parts.append(f"pydantic:{st.st_size}:{st.st_mtime_ns}")
        except OSError:
            parts.append("pydantic:?")
    for package in _PACKAGES:
        spec = importlib.util.find_spec(package)
        for folder in (spec.submodule_search_locations or []) if spec else []:
            for root, dirs, files in os.walk(folder):
                dirs[:] = sorted(d for d in dirs if d != "__pycache__")
                for name in sorted(files):
                    if name.endswith(".py"):
                        st = os.stat(os.path.join(root, name))
                        parts.append(f"{root}/{name}:{st.st_size}:{st.st_mtime_ns}")
    return "\n".join(parts).encode()


def _system_release() -> bytes:
    """The glibc version (or macOS release) the running interpreter's wheel tags come from:
    the full check asks that every locked package have a file those tags install, and one
    relocatable interpreter (the same ``sys.version``) runs on machines with another glibc."""
    try:
        glibc = os.confstr("CS_GNU_LIBC_VERSION")
    except (AttributeError, ValueError, OSError):
        glibc = None
    if glibc:
        return glibc.encode()
    if sys.platform == "darwin":
        import platform

        return platform.mac_ver()[0].encode()
    return b""


def memo_key(project_root: Path, python_version: str | None, platform: str | None) -> str | None:
    """The digest of everything ``lock_is_current`` depends on; ``None`` without both files."""
    try:
        pyproject = (project_root / "pyproject.toml").read_bytes()
        lock = (project_root / LOCK_NAME).read_bytes()
    except OSError:
        return None
    h = hashlib.sha256()
    for part in (BUCKET.encode(), _code_fingerprint(), sys.version.encode(), sys.platform.encode(),
                 os.uname().machine.encode() if hasattr(os, "uname") else b"", _system_release(),
                 # repr: no target (None) and a target spelled "None", which the full check
                 # refuses, must be different keys.
                 repr(python_version).encode(), repr(platform).encode(),
                 # The folder: a local source's relative path is found from it, so a copy of
                 # the project (another checkout sharing the cache) has sources of its own.
                 os.fsencode(project_root), pyproject, lock):
        h.update(len(part).to_bytes(8, "big"))
        h.update(part)
    return h.hexdigest()


def fingerprints(paths: Sequence[Path]) -> list[str]:
    """Each path's size, modification and change times and inode, or ``none`` where there is
    no regular file: what a file's edit, replacement, removal or appearance changes (the
    change time cannot be set back), read with one ``stat`` each. A folder's times change
    when an entry appears in it or goes: watched where the check lists it for files."""
    found = []
    for path in paths:
        try:
            st = os.stat(path)
        except (OSError, ValueError):
            found.append("none")
            continue
        times = f"{st.st_mtime_ns}:{st.st_ctime_ns}:{st.st_ino}"
        found.append(f"{st.st_size}:{times}" if stat.S_ISREG(st.st_mode) else f"dir:{times}" if stat.S_ISDIR(st.st_mode) else "none")
    return found


def recorded(root: Path, key: str) -> int | None:
    """The number of locked packages if the full check recorded ``key`` as current, and
    every file it recorded with it (a local source's, which ``key`` does not cover) is as
    it was then; else ``None``."""
    try:
        # Opened without blocking and read only if a plain file: a FIFO put in its place would
        # otherwise hold this run forever (satlock.cache.open_plain, which this module does not import).
        fd = os.open(root / BUCKET / key, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with open(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return None
            data = f.read(MAX_RECORD + 1)
            if len(data) > MAX_RECORD:
                return None
            text = data.decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    count, _, watched = text.partition("\n")
    # ASCII digits, as ``record`` writes them: isdigit() also takes "²", which int() refuses.
    if not (count.isascii() and count.isdigit() and len(count) < 10):
        return None
    if watched.strip():
        import json

        try:
            files = json.loads(watched)
        except (ValueError, RecursionError):  # RecursionError: nested past the recursion limit
            return None
        if not (isinstance(files, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in files.items())):
            return None
        if fingerprints([Path(p) for p in files]) != list(files.values()):
            return None
    return int(count)


def record(root: Path, key: str | None, packages: int, watched: Mapping[Path, str] | None = None) -> None:
    """Remember that the lock behind ``key`` is current while the ``watched`` files keep
    their fingerprints. Best effort: a cache that cannot be written only costs the next
    no-op lock its shortcut."""
    if key is None:
        return
    text = str(packages)
    if watched:
        import json

        text += "\n" + json.dumps({str(path): value for path, value in watched.items()})
    try:
        (root / BUCKET).mkdir(parents=True, exist_ok=True)
        write_atomic(root / BUCKET / key, text.encode("utf-8"), private=True)
    except OSError:
        pass
