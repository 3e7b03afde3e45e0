"""Source trees to build, each with a key that says when two builds are of the same source.

The key goes into the built-wheel and metadata cache keys: the sha256 of an sdist, the
commit of a git checkout, or a digest of a local folder's file listing. An sdist is
unpacked once per run, and linked from there into the cache for reading; a git commit is
checked out once per run (gitsources.py). Every build starts from a fresh copy of either
(``unpacked_to_build``).
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from satlock.buildenv import archive as archive_module
from satlock.buildenv import pep517
from satlock.cache import Cache, read_plain
from satlock.errors import BuildError, MetadataError, ProjectError
from satlock.resolver.coremeta import read_sdist_files, run_reads

SOURCES_BUCKET = "sources-v1"

# Folders a build writes into or that never affect a build; leaving them out of a local
# folder's key keeps the key stable across in-place builds.
_IGNORED_DIRS = {".git", ".hg", ".svn", "__pycache__", ".venv", ".tox", ".nox", ".eggs", "build", "dist",
                 ".pytest_cache", ".mypy_cache", ".ruff_cache", "node_modules"}


@dataclass(frozen=True)
class SourceTree:
    """A folder holding ``pyproject.toml`` or ``setup.py``; ``commit`` is set for git
    sources, with ``checkout`` the root of the run's checkout (``path`` may be a folder in
    it), ``archive`` (its hash verified by whoever fetched it) for an unpacked sdist."""

    path: Path
    key: str
    commit: str | None = None
    archive: Path | None = None
    checkout: Path | None = None


@contextmanager
def unpacked_to_build(tree: SourceTree, cache: Cache) -> Iterator[SourceTree]:
    """``tree`` as a build runs in it: a copy of the sdist this run unpacked from its
    verified archive (``_unpacked_in_run``), or of the run's git checkout (``.git`` and
    submodules included), into a private folder removed after the build; a local folder as
    it is.

    The tree unpacked into the cache's entry by an earlier run is never built from: like
    everything the cache keeps it is untrusted, and a build runs its code. A build also
    writes into its folder (``build/``, ``*.egg-info``), which no later build should start
    from: each gets its own copy, which costs a fraction of unpacking again (a 300 MB sdist:
    0.1 s against 1.8 s).
    """
    if tree.archive is None and tree.checkout is None:
        yield tree
        return
    tmp = cache.new_tempdir(SOURCES_BUCKET)
    try:
        if tree.checkout is not None:
            copy = tmp / "tree"
            shutil.copytree(tree.checkout, copy, symlinks=True)
            yield SourceTree(copy / tree.path.relative_to(tree.checkout), tree.key, tree.commit, checkout=copy)
        else:
            assert tree.archive is not None
            entry, top = _unpacked_in_run(tree.archive, tree.key, cache)
            copy = tmp / top.relative_to(entry)
            # Copied, not linked: a build may rewrite a file in place (a version file), and
            # a hard link would carry that into every later build of the run.
            shutil.copytree(top, copy, symlinks=True)
            check_project(copy, f"sdist {tree.archive.name}")
            yield SourceTree(copy, tree.key, tree.commit, tree.archive)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def build_system(tree: SourceTree, cache: Cache | None = None) -> pep517.BuildSystem:
    """``[build-system]`` of ``tree``; an sdist's is read from its verified archive, not from
    the tree unpacked into the cache: its requires choose what is installed and runs in the
    build environment, and what the lock records for it. With ``cache``, a pass over the
    archive this run made already answers (``coremeta.run_reads``)."""
    if tree.archive is None:
        return pep517.build_system(tree.path)
    reads = None if cache is None else run_reads(cache)
    try:
        data = read_sdist_files(str(tree.archive), ["pyproject.toml"], reads).get("pyproject.toml")
        text = None if data is None else data.decode("utf-8")
    except (MetadataError, UnicodeDecodeError) as e:
        raise BuildError(f"cannot read pyproject.toml of sdist {tree.archive.name}: {e}") from None
    return pep517.parse_build_system(text, tree.path)


def check_project(path: Path, what: str) -> None:
    if not (path / "pyproject.toml").is_file() and not (path / "setup.py").is_file():
        raise BuildError(f"{what} is not a Python project: {path} has neither pyproject.toml nor setup.py")


def _unpacked_in_run(archive: Path, key: str, cache: Cache) -> tuple[Path, Path]:
    """``archive`` (its hash verified by the caller) unpacked once per run into a folder
    private to the run (``Cache.run_entry``), and its top folder: what every build of the
    run and the cache's entry are copied from. As for a git checkout, what an earlier run
    left is never read: nothing in the cache can tell a tree satlock unpacked from one
    edited since. A 455 MB sdist (pyspark) was gunzipped for the entry and again for each
    build, two to three times a lock."""

    def fill(tmp: Path) -> None:
        top = archive_module.extract_sdist(archive, tmp / "tree")
        (tmp / "root").write_text(top.relative_to(tmp).as_posix(), encoding="utf-8")

    entry = cache.run_entry(SOURCES_BUCKET, f"sdist-{key}", fill)
    top = _read_root(entry)
    if top is None:
        raise BuildError(f"the sdist {archive.name} unpacked in {entry} is incomplete", hint="run again")
    return entry.resolve(), top


def _link_or_copy(src: str, dst: str) -> None:
    """A hard link where the file system makes one, else a copy (another device, no links)."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def from_sdist(archive: Path, sha256: str, cache: Cache) -> SourceTree:
    """Unpack ``archive`` (whose hash the caller has verified) into the cache, once.

    Filled from the tree unpacked for this run, by hard links: both are only ever read
    (builds copy from the run's tree), and the run's is removed when it ends.
    """
    entry = cache.path(SOURCES_BUCKET, sha256)
    root = _read_root(entry)
    if root is None:
        if entry.exists():
            cache.discard(SOURCES_BUCKET, sha256)

        def fill(tmp: Path) -> None:
            unpacked, top = _unpacked_in_run(Path(archive), sha256, cache)
            into = tmp / top.relative_to(unpacked)
            shutil.copytree(top, into, symlinks=True, copy_function=_link_or_copy)
            (tmp / "root").write_text(into.relative_to(tmp).as_posix(), encoding="utf-8")

        entry = cache.build_dir(SOURCES_BUCKET, sha256, fill)
        root = _read_root(entry)
        if root is None:
            raise BuildError(f"the unpacked sdist {Path(archive).name} in {entry} is incomplete",
                             hint=f"remove {entry} and run again")
    check_project(root, f"sdist {Path(archive).name}")
    return SourceTree(root, sha256, archive=Path(archive))


def _read_root(entry: Path) -> Path | None:
    try:
        rel = read_plain(entry / "root").decode("utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None
    root = (entry / rel).resolve()
    if entry.resolve() not in root.parents or not root.is_dir():
        return None
    return root


def local_folder(path: Path) -> Path:
    """``path`` resolved, once it is checked to be a folder holding a Python project: what
    a sync checks of a local folder before .venv changes, without reading its files."""
    root = Path(path).resolve()
    if not root.is_dir():
        raise ProjectError(f"{path} is not a folder", hint="check the path of the local dependency in pyproject.toml")
    check_project(root, f"local folder {path}")
    return root


def from_directory(path: Path) -> SourceTree:
    """A local project, built in place; its key changes when any of its files does. A
    virtual environment inside it (a folder with ``pyvenv.cfg``, such as ``venv``) is not
    its source: what is installed there neither changes the key nor is read. Walked with
    plain strings: a data folder of 200,000 files took 1.9 s with ``Path`` objects, 0.5 s so."""
    root = local_folder(path)
    top = str(root)
    h = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(top):
        dirnames[:] = sorted(d for d in dirnames if d not in _IGNORED_DIRS and not d.endswith(".egg-info")
                             and not os.path.isfile(os.path.join(dirpath, d, "pyvenv.cfg")))
        rel = os.path.relpath(dirpath, top)
        prefix = "" if rel == os.curdir else rel.replace(os.sep, "/") + "/"
        for name in sorted(filenames):
            try:
                st = os.stat(os.path.join(dirpath, name))
            except OSError:
                continue
            h.update(f"{prefix}{name}\0{st.st_mtime_ns}\0{st.st_size}\n".encode())
    return SourceTree(root, f"dir:{h.hexdigest()}")
