"""Paths in an environment as the file system resolves them, for comparing two spellings
of one file (``lib64/x`` and ``lib/x``) and finding what is already there.

Resolving a path costs an ``lstat`` per component; the checks before an install resolve
thousands (every file of every wheel), so each folder is resolved once, from its parent,
and nothing under a folder that is not there is looked up at all.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Mapping

from satlock.buildenv.venv import Venv

# Scripts that are the environment itself: its interpreter and activation scripts.
_VENV_SCRIPT = re.compile(r"(python|pypy)(\d+(\.\d+)*)?(w|t|-config)?(\.exe)?|activate(\..*)?|deactivate(\..*)?|activate_this\.py",
                          re.IGNORECASE)
# Separators other than "/" (which no member's file name holds): "\\" on Windows.
_OTHER_SEPS = tuple(sep for sep in (os.sep, os.altsep) if sep and sep != "/")
_SLASH_ONLY = not _OTHER_SEPS


class Folders(dict[str, str]):
    """``real_path``'s memory of resolved folders for one batch of paths, and of those that
    are not there (``absent``): nothing under such a folder is looked up, as nothing can be."""

    def __init__(self) -> None:
        super().__init__()
        self.absent: set[str] = set()


def real_path(path: str, folders: dict[str, str] | None = None) -> str:
    """``path`` with its folders' links resolved (``lib64 -> lib``), so two spellings of one
    file compare equal; ``folders`` remembers resolved folders for one batch of paths."""
    folder, filename = os.path.split(os.path.abspath(path))
    if folders is None:
        return os.path.join(os.path.realpath(folder), filename)
    return os.path.join(_real_folder(folder, folders), filename)


def member_path(schemes: Mapping[str, str], scheme: str, rest: str, folders: dict[str, str],
                in_folder: dict[tuple[str, str], str]) -> str:
    """``real_path`` of the member ``rest`` installed under ``scheme``, each of a wheel's
    folders resolved once (``in_folder`` holds it, with a separator to add a name to)."""
    folder, _, filename = rest.rpartition("/")
    if filename in ("", ".", "..") or (_OTHER_SEPS and any(sep in filename for sep in _OTHER_SEPS)):
        return real_path(os.path.join(schemes[scheme], rest), folders)
    prefix = in_folder.get((scheme, folder))
    if prefix is None:
        prefix = _folder_prefix(schemes, scheme, folder, folders, in_folder)
    return prefix + filename


def _folder_prefix(schemes: Mapping[str, str], scheme: str, folder: str, folders: dict[str, str],
                   in_folder: dict[tuple[str, str], str]) -> str:
    """The real path of ``folder`` under ``scheme``, with a separator after it: a folder named
    plainly in its parent is resolved from the parent's (``prefix + name`` is
    ``os.path.join(real_parent, name)``), anything else from its whole path."""
    up, _, name = folder.rpartition("/")
    if _SLASH_ONLY and name not in ("", ".", ".."):
        parent = in_folder.get((scheme, up)) or _folder_prefix(schemes, scheme, up, folders, in_folder)
        resolved = _real_child(parent[:-1], parent + name, folders)
    else:
        resolved = _real_folder(os.path.abspath(os.path.join(schemes[scheme], folder)), folders)
    prefix = in_folder[(scheme, folder)] = resolved if resolved.endswith(os.sep) else resolved + os.sep
    return prefix


def _real_folder(folder: str, folders: dict[str, str]) -> str:
    """``os.path.realpath`` of a normalised absolute folder, from its parent's (remembered):
    one ``lstat`` per new folder instead of one per component."""
    known = folders.get(folder)
    if known is not None:
        return known
    parent, name = os.path.split(folder)
    if parent == folder:
        resolved = folder
    else:
        real_parent = _real_folder(parent, folders)
        resolved = _real_child(real_parent, os.path.join(real_parent, name), folders)
    folders[folder] = resolved
    return resolved


def _real_child(real_parent: str, here: str, folders: dict[str, str]) -> str:
    """The real path of ``here``, a folder in the real folder ``real_parent``: itself unless it
    is a link. Under a folder that a ``Folders`` knows is not there, it is not looked up (its
    ``lstat`` would fail as the parent's did)."""
    absent = getattr(folders, "absent", None)
    if absent is None:
        return os.path.realpath(here) if os.path.islink(here) else here
    if real_parent not in absent:
        try:
            return os.path.realpath(here) if stat.S_ISLNK(os.lstat(here).st_mode) else here
        except (OSError, ValueError):  # what os.path.islink takes for "not a link"
            pass
    absent.add(here)
    return here


class VenvSnapshot:
    """What checking wheels learns of an environment's folders, kept for a batch of checks
    made while it does not change (a sync's, before it touches ``.venv``): the real path of
    each folder met (``real_path``), which of them are folders there, and the environment's
    own paths. A check that comes after a change makes a new one."""

    def __init__(self, venv: Venv) -> None:
        self.folders = Folders()
        self.root = os.path.realpath(venv.root)
        self.scripts = os.path.realpath(venv.scripts)
        self.fixed = {real_path(str(venv.root / "pyvenv.cfg")), real_path(str(venv.python))}
        self.is_folder: dict[str, bool] = {}

    def venv_own(self, target: str) -> bool:
        """Whether a (real) path is part of the environment itself rather than of a package:
        its interpreter and activation scripts, ``pyvenv.cfg``, a link or a folder already there."""
        parent, _, filename = target.rpartition("/")
        if not parent or parent.endswith("/") or os.altsep:
            parent, filename = os.path.split(target)
        if (parent == self.scripts and _VENV_SCRIPT.fullmatch(filename)) or target in self.fixed:
            return True
        if not self._folder_there(parent):
            return False  # a folder not there yet holds nothing (no lstat per file in a new .venv)
        try:
            mode = os.lstat(target).st_mode
        except OSError:
            return False
        return stat.S_ISLNK(mode) or stat.S_ISDIR(mode)

    def _folder_there(self, folder: str) -> bool:
        """``os.path.isdir(folder)``, asked only where the folder above it is one."""
        known = self.is_folder.get(folder)
        if known is None:
            up = os.path.dirname(folder)
            known = self.is_folder[folder] = (up == folder or self._folder_there(up)) and os.path.isdir(folder)
        return known
