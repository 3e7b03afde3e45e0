"""Installing a wheel into a virtual environment, whole or not at all.

Every install is made so that a package is either fully installed or absent, even if
satlock is killed half-way: a wheel is first written into a staging folder inside the
environment (same filesystem), its files are renamed into place, and its ``.dist-info``
folder is renamed in *last*. A ``.dist-info`` whose RECORD lists missing files therefore
never exists, and ``uninstall.recover_interrupted`` clears what a killed run left behind.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.utils import InvalidWheelFilename, NormalizedName, parse_wheel_filename
from packaging.version import Version

from satlock.buildenv.buildinputs import BUILD_INPUTS_FILE
from satlock.buildenv.installed import find_dist, installed_distributions, site_dirs
from satlock.buildenv.stage import Staged, stage_wheel
from satlock.buildenv.uninstall import STAGE_PREFIX, uninstall
from satlock.buildenv.unpacked import discard, unpacked
from satlock.buildenv.venv import Venv, inside, os_errors
from satlock.buildenv.wheelcheck import FileOwners, WheelPlan, check_conflicts, check_identity, claim, file_owners, read_wheel, scheme_dict
from satlock.cache import Cache
from satlock.errors import InstallError

INSTALLER_NAME = "satlock"


def _move_into_place(staged: Staged, venv: Venv, dist_info: str, stage: Path) -> None:
    """Rename every staged file to its real path; the ``.dist-info`` folders go last, whole."""
    root = os.path.abspath(venv.root)
    sites = {os.path.abspath(p) for p in site_dirs(venv)}
    infos = [(folder / dist_info, target / dist_info) for folder, target in staged.folders.items() if str(target) in sites]
    staged_infos = {str(s) for s, _ in infos}
    moves: list[tuple[str, str]] = []
    for folder, real in staged.folders.items():
        for dirpath, dirs, files in os.walk(folder):
            there = os.path.join(real, os.path.relpath(dirpath, folder)) if dirpath != str(folder) else str(real)
            # A folder the environment does not have yet moves whole, with one rename: a fresh
            # install of a package of thousands of files (botocore) costs one rename, not thousands.
            descend = []
            for d in dirs:
                if os.path.join(dirpath, d) in staged_infos:
                    continue
                target = os.path.join(there, d)
                if os.path.lexists(target):
                    descend.append(d)
                    continue
                moves.append((os.path.join(dirpath, d), target))
            dirs[:] = descend
            moves.extend((os.path.join(dirpath, f), os.path.join(there, f)) for f in files)
    for source, target in moves:
        if not inside(os.path.abspath(target), root):
            raise InstallError(f"refusing to write {target}: it is outside the environment {venv.root}")
    for source, target in moves:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        os.replace(source, target)
    for source, target in infos:
        if source.is_dir():
            if target.exists():
                # A stale folder no reader recognised (no METADATA): out of the way first.
                os.rename(target, stage / "stale.dist-info")
            os.rename(source, target)


@dataclass
class StagedInstall:
    """A wheel laid out and checked in a staging folder inside the environment, not yet in
    place: ``finish_install`` moves it in, ``discard_staged`` drops it."""

    wheel: Path
    dist_name: NormalizedName
    plan: WheelPlan
    stage: Path
    staged: Staged


def _dist_name(wheel: Path) -> NormalizedName:
    try:
        return parse_wheel_filename(wheel.name)[0]
    except InvalidWheelFilename as e:
        raise InstallError(f"cannot install {wheel}: {e}") from None


def _extra_files(direct_url: Mapping[str, Any] | None, requested: bool,
                 build_inputs: Mapping[str, Any] | None) -> dict[str, bytes]:
    """The installer's own files for the ``.dist-info``."""
    extra: dict[str, bytes] = {"INSTALLER": f"{INSTALLER_NAME}\n".encode()}
    if direct_url is not None:
        extra["direct_url.json"] = json.dumps(dict(direct_url), sort_keys=True).encode()
    if requested:
        extra["REQUESTED"] = b""
    if build_inputs is not None:
        extra[BUILD_INPUTS_FILE] = json.dumps(dict(build_inputs), sort_keys=True, indent=1).encode()
    return extra


def install_wheel(wheel: Path, venv: Venv, *, direct_url: Mapping[str, Any] | None = None,
                  requested: bool = True, cache: Cache | None = None, sha256: str | None = None,
                  expect: tuple[NormalizedName, Version | None] | None = None,
                  owners: FileOwners | None = None, build_inputs: Mapping[str, Any] | None = None,
                  plan: WheelPlan | None = None) -> None:
    """Install ``wheel`` into ``venv``, replacing any installed version of the same project.

    With ``cache``, the wheel is unzipped once into the cache and later installs copy
    from there; ``sha256`` is the wheel's digest when the caller has just verified it.
    ``expect`` is the (name, version) the lock says the wheel is. The wheel is refused,
    before anything changes, when it is another project or version, would overwrite the
    environment's own files or another package's (``owners``, read from the environment
    when not given, and updated), or unpacks to far more than its size. ``build_inputs``
    (for a wheel satlock built) is recorded in the .dist-info as ``BUILD_INPUTS_FILE``.
    ``plan`` is ``read_wheel``'s reading of this very wheel, when the caller has one.
    """
    wheel = Path(wheel)
    _dist_name(wheel)
    if plan is None or plan.wheel != wheel:
        plan = read_wheel(wheel, venv)
    if expect is not None:
        check_identity(plan, expect[0], expect[1], "pylock.toml")
    if owners is None:
        owners = file_owners(d for d in installed_distributions(venv).values() if d.name != plan.name)
    check_conflicts(plan, venv, owners)
    staged = stage_install(wheel, venv, plan, direct_url=direct_url, requested=requested, cache=cache,
                           sha256=sha256, build_inputs=build_inputs)
    finish_install(staged, venv, owners)
    claim(owners, plan)


def stage_install(wheel: Path, venv: Venv, plan: WheelPlan, *, direct_url: Mapping[str, Any] | None = None,
                  requested: bool = True, cache: Cache | None = None, sha256: str | None = None,
                  build_inputs: Mapping[str, Any] | None = None) -> StagedInstall:
    """Lay out ``wheel`` (read as ``plan``, already checked against the lock and the
    environment's owners) in a new staging folder of ``venv``, every file held to the
    wheel's RECORD; the environment itself does not change.

    Each call has a staging folder of its own, so several wheels may be staged at once on
    threads: most of the work is ``mkdir``, ``link`` and hashing, which do not hold the
    interpreter lock.
    """
    wheel = Path(wheel)
    dist_name = _dist_name(wheel)
    extra = _extra_files(direct_url, requested, build_inputs)
    with os_errors(f"installing {wheel.name} into {venv.root}"):
        stage = Path(tempfile.mkdtemp(dir=venv.root, prefix=STAGE_PREFIX))
        try:
            staged = _stage(wheel, venv, extra, cache, plan, sha256, stage)
        except BaseException:
            shutil.rmtree(stage, ignore_errors=True)
            raise
    return StagedInstall(wheel, dist_name, plan, stage, staged)


def _stage(wheel: Path, venv: Venv, extra: dict[str, bytes], cache: Cache | None, plan: WheelPlan,
           sha256: str | None, stage: Path) -> Staged:
    """Stage the wheel from the cache's unpacked copy, unzipping it again once if that copy was damaged."""
    schemes = scheme_dict(venv, plan.name)
    files = unpacked(wheel, cache, stage, sha256)
    staged = stage_wheel(plan, files, schemes, stage, extra, str(venv.python))
    if staged.problems and cache is not None:
        # The unpacked copy in the cache was damaged or tampered with: unzip the verified wheel again.
        discard(cache, files)
        for folder in staged.folders:
            shutil.rmtree(folder, ignore_errors=True)
        files = unpacked(wheel, cache, stage, sha256)
        staged = stage_wheel(plan, files, schemes, stage, extra, str(venv.python))
    if staged.problems:
        raise InstallError(f"the files installed from {wheel.name} do not match its RECORD: {'; '.join(staged.problems[:3])}",
                           hint="delete satlock's cache folder and run again")
    return staged


def finish_install(staged: StagedInstall, venv: Venv, keep: Collection[str]) -> None:
    """Replace any installed version of the staged wheel's project with it, leaving the
    files in ``keep`` (real paths other packages own: ``uninstall``); the staging folder is
    gone afterwards, whatever happens."""
    try:
        with os_errors(f"installing {staged.wheel.name} into {venv.root}"):
            if find_dist(venv, staged.dist_name) is not None:
                uninstall(venv, staged.dist_name, keep)
            _move_into_place(staged.staged, venv, staged.plan.dist_info, staged.stage)
    finally:
        discard_staged(staged)


def discard_staged(staged: StagedInstall) -> None:
    """Drop a staged wheel that will not be installed (its files are links; the cache keeps its own)."""
    shutil.rmtree(staged.stage, ignore_errors=True)
