"""What is installed in an environment: its ``.dist-info`` folders, read back.

``sync`` plans from this (which distribution, which version, from which source, built
against what), and uninstalls and conflict checks read the RECORD files it finds.
"""

from __future__ import annotations

import csv
import errno
import email.parser
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.utils import NormalizedName, canonicalize_name

from satlock.buildenv.buildinputs import BUILD_INPUTS_FILE
from satlock.buildenv.venv import Venv
from satlock.resolver.metadatafile import header_block


@dataclass(frozen=True)
class InstalledDist:
    """One ``.dist-info`` folder found in an environment."""

    name: NormalizedName
    version: str
    path: Path
    installer: str | None
    direct_url: dict[str, Any] | None
    requested: bool
    build_identity: str | None = None


def site_dirs(venv: Venv) -> list[Path]:
    """The environment's site folders (purelib and platlib, once when they are the same)."""
    return list(dict.fromkeys([venv.purelib, venv.platlib]))


def installed_distributions(venv: Venv) -> dict[NormalizedName, InstalledDist]:
    """Every distribution with a readable ``.dist-info`` in the environment's site folders."""
    found: dict[NormalizedName, InstalledDist] = {}
    for site in site_dirs(venv):
        if not site.is_dir():
            continue
        for info in sorted(site.iterdir()):
            if not info.name.endswith(".dist-info") or not info.is_dir():
                continue
            dist = _read_dist(info)
            if dist is not None:
                found[dist.name] = dist
    return found


def find_dist(venv: Venv, name: str) -> InstalledDist | None:
    """The installed distribution ``name``, reading only the ``.dist-info`` folders named like it."""
    wanted = canonicalize_name(name)
    for site in site_dirs(venv):
        try:
            names = os.listdir(site)
        except OSError as e:
            if e.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
                continue  # no such folder, as is_dir() said before
            raise
        # Names, not Paths: a sync asks this once per wheel it installs, of a folder that grows.
        for entry in names:
            if entry.endswith(".dist-info") and canonicalize_name(entry[:-10].rsplit("-", 1)[0]) == wanted:
                dist = _read_dist(site / entry)
                if dist is not None and dist.name == wanted:
                    return dist
    return None


def record_rows(info: Path) -> list[list[str]]:
    """The rows of a ``.dist-info`` folder's RECORD."""
    with open(info / "RECORD", newline="", encoding="utf-8") as f:
        return [row for row in csv.reader(f) if row]


def _read_dist(info: Path) -> InstalledDist | None:
    meta = _read_metadata_headers(info)
    if meta is None:
        return None
    try:
        installer_name = (info / "INSTALLER").read_text(encoding="utf-8").strip() or None
    except OSError:
        installer_name = None
    return InstalledDist(name=canonicalize_name(meta[0]), version=meta[1], path=info, installer=installer_name,
                         direct_url=_read_direct_url(info), requested=(info / "REQUESTED").exists(),
                         build_identity=_read_build_identity(info))


def _read_metadata_headers(info: Path) -> tuple[str, str] | None:
    try:
        data = (info / "METADATA").read_bytes()
    except OSError:
        return None
    # Line ends translated as reading it as text did (a file with "\r" is not cut: header_block).
    text = header_block(data).decode("utf-8", errors="replace").replace("\r\n", "\n").replace("\r", "\n")
    msg = email.parser.HeaderParser().parsestr(text)
    name, version = msg.get("Name"), msg.get("Version")
    if not name or not version:
        return None
    return str(name), str(version)


def _read_direct_url(info: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((info / "direct_url.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        # Unreadable: an unknown direct source, which never matches a lock entry.
        return {}
    return data if isinstance(data, dict) else {}


def _read_build_identity(info: Path) -> str | None:
    try:
        data = json.loads((info / BUILD_INPUTS_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return ""  # unreadable: matches no lock, so the package is built again
    value = data.get("identity") if isinstance(data, dict) else None
    return value if isinstance(value, str) else ""
