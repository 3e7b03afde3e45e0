"""Removing distributions from an environment, and what a killed satlock left behind.

An uninstall first renames the ``.dist-info`` away (into a trash folder inside the
environment that remembers where it came from), then deletes the files its RECORD lists,
so the package is absent from the moment deleting starts. ``recover_interrupted`` finishes
the uninstalls and drops the staging folders of installs that a killed run left.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Collection
from pathlib import Path

from satlock.buildenv.installed import find_dist, installed_distributions, record_rows
from satlock.buildenv.venv import Venv, inside, os_errors
from satlock.buildenv.venvpaths import real_path

# Folders inside the environment: an install being staged, an uninstall being emptied.
STAGE_PREFIX = ".satlock-stage-"
TRASH_PREFIX = ".satlock-trash-"
_TRASH_ORIGIN = "origin"


def uninstall(venv: Venv, name: str, keep: Collection[str] | None = None) -> None:
    """Remove the distribution ``name``; it is absent from the moment this starts deleting.

    A file another package owns too stays: every CUDA 12 ``nvidia-*`` wheel ships the same
    ``nvidia/__init__.py``, and removing one of them must not take it from the others.
    ``keep`` holds the real paths (``venvpaths.real_path``) other packages own, or will
    once the caller's sync is done; without it, they are read from the environment's RECORDs.
    """
    dist = find_dist(venv, name)
    if dist is None:
        return
    with os_errors(f"uninstalling {dist.name} from {venv.root}"):
        trash = Path(tempfile.mkdtemp(dir=venv.root, prefix=TRASH_PREFIX))
        (trash / _TRASH_ORIGIN).write_text(str(dist.path.parent), encoding="utf-8")
        os.rename(dist.path, trash / dist.path.name)
        _empty_trash(venv, trash, keep)


def recover_interrupted(venv: Venv) -> None:
    """Finish the uninstalls and drop the staging folders that a killed satlock left in ``venv``."""
    for leftover in sorted(venv.root.iterdir()):
        if leftover.name.startswith(STAGE_PREFIX):
            shutil.rmtree(leftover, ignore_errors=True)
        elif leftover.name.startswith(TRASH_PREFIX) and leftover.is_dir():
            _empty_trash(venv, leftover)


def _empty_trash(venv: Venv, trash: Path, keep: Collection[str] | None = None) -> None:
    moved = [p for p in trash.iterdir() if p.name.endswith(".dist-info")]
    if moved and (trash / _TRASH_ORIGIN).exists():
        site = Path((trash / _TRASH_ORIGIN).read_text(encoding="utf-8"))
        original = os.path.abspath(site / moved[0].name)
        try:
            rows = record_rows(moved[0])
        except OSError:
            rows = []
        rows = [r for r in rows if not inside(os.path.abspath(os.path.join(site, r[0])), original)]
        _remove_files(venv, site, rows, skip=_files_owned(venv) if keep is None else keep)
    shutil.rmtree(trash, ignore_errors=True)


def _files_owned(venv: Venv) -> set[str]:
    """Files some installed distribution's RECORD lists: never deleted on behalf of another."""
    owned: set[str] = set()
    folders: dict[str, str] = {}
    for dist in installed_distributions(venv).values():
        try:
            rows = record_rows(dist.path)
        except OSError:
            continue
        owned.update(real_path(os.path.join(dist.path.parent, r[0]), folders) for r in rows)
    return owned


def _protected_dirs(venv: Venv) -> set[str]:
    folders = (venv.root, venv.root / "include", venv.purelib, venv.platlib, venv.scripts, venv.data)
    return {os.path.abspath(p) for p in folders}


def _remove_files(venv: Venv, site: Path, rows: list[list[str]], skip: Collection[str]) -> None:
    """Delete the files RECORD rows name (inside the venv only, and not in ``skip``), their
    bytecode and emptied folders."""
    root = os.path.abspath(venv.root)
    parents: set[str] = set()
    folders: dict[str, str] = {}
    for row in rows:
        path = os.path.abspath(os.path.join(site, row[0]))
        if not inside(path, root) or real_path(path, folders) in skip:
            continue
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        except IsADirectoryError:
            continue
        parent, filename = os.path.split(path)
        parents.add(parent)
        if filename.endswith(".py"):
            cache_dir = os.path.join(parent, "__pycache__")
            stem = filename[:-3] + "."
            if os.path.isdir(cache_dir):
                for pyc in os.listdir(cache_dir):
                    if pyc.startswith(stem) and pyc.endswith(".pyc"):
                        os.unlink(os.path.join(cache_dir, pyc))
    protected = _protected_dirs(venv)
    for parent in sorted(parents, key=lambda p: p.count(os.sep), reverse=True):
        current = parent
        while inside(current, root) and current not in protected:
            try:
                cache_dir = os.path.join(current, "__pycache__")
                if os.path.isdir(cache_dir) and not os.listdir(cache_dir):
                    os.rmdir(cache_dir)
                os.rmdir(current)
            except OSError:
                break
            current = os.path.dirname(current)
