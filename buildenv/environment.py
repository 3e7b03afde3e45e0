"""Isolated build environments, one per set of build wheels, shared through the cache.

A virtual environment cannot be moved once created (its scripts name their interpreter
by absolute path), so unlike other cache entries it is made at its final path, under a
file lock, and only counts once its ``.complete`` marker is written; an environment
without the marker is a leftover of a killed run and is made again.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from packaging.utils import canonicalize_name
from packaging.version import Version

from satlock.buildenv import install
from satlock.buildenv.venv import Venv, create_venv, open_venv
from satlock.errors import HashMismatchError, InstallError
from satlock.cache import Cache, digest, file_sha256

BUILD_ENVS_BUCKET = "build-envs-v1"
COMPLETE_MARKER = ".complete"


class EnvWheel(NamedTuple):
    """A wheel to install into a build environment (its hash verified by whoever downloaded it)."""

    name: str
    version: str
    path: Path
    sha256: str


@dataclass(frozen=True)
class BuildEnvSpec:
    """What goes into a build environment; equal specs share one environment."""

    wheels: tuple[EnvWheel, ...] = ()

    def __post_init__(self) -> None:
        wheels = (EnvWheel(n, v, Path(p), h) for n, v, p, h in self.wheels)
        object.__setattr__(self, "wheels", tuple(sorted(wheels, key=lambda w: (canonicalize_name(w.name), w.sha256))))

    @property
    def spec_hash(self) -> str:
        """Depends on the wheels' contents (by hash), not on where they lie on disk."""
        # "isolated" stays in the payload, always true, so that environments and metadata
        # cached before the field went keep their keys.
        payload = {"isolated": True,
                   "wheels": [[canonicalize_name(w.name), w.version, w.sha256] for w in self.wheels]}
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def interpreter_id(python: Path) -> str:
    """The real interpreter behind ``python`` and its exact version: an environment made from
    one interpreter is not valid for another, nor are the wheels built in it."""
    try:
        out = subprocess.run([str(python), "-c", "import sys; print(sys.version); print(sys.base_prefix)"],
                             check=True, capture_output=True, text=True).stdout
    except FileNotFoundError:
        raise InstallError(f"interpreter {python} not found", hint="pass --python with the path of an existing interpreter") from None
    except subprocess.CalledProcessError as e:
        raise InstallError(f"interpreter {python} does not run: {e.stderr.strip()[-300:]}") from None
    return out.strip()


def _check_sha256(wheel: EnvWheel) -> None:
    """The wheel on disk is the one its hash names: a cached file may have been swapped since."""
    actual = file_sha256(wheel.path)
    if actual != wheel.sha256:
        raise HashMismatchError(f"{wheel.path.name} at {wheel.path} has sha256 {actual}, expected {wheel.sha256}",
                                hint=f"delete {wheel.path} and run again")


def build_env_hash(spec: BuildEnvSpec, base_python: Path) -> str:
    """The key of the environment ``ensure_build_env`` makes for ``spec`` from ``base_python``."""
    return digest(spec.spec_hash, interpreter_id(base_python))


def ensure_build_env(spec: BuildEnvSpec, cache: Cache, *, base_python: Path) -> Venv:
    """The environment with exactly ``spec``'s wheels, made from ``base_python`` unless already there."""
    key = build_env_hash(spec, base_python)
    root = cache.path(BUILD_ENVS_BUCKET, key)
    with cache.lock(BUILD_ENVS_BUCKET, key):
        if (root / COMPLETE_MARKER).is_file():
            return open_venv(root)
        if root.exists():
            shutil.rmtree(root)
        root.parent.mkdir(parents=True, exist_ok=True)
        try:
            venv = create_venv(root, base_python)
            for wheel in spec.wheels:
                if wheel.sha256:
                    _check_sha256(wheel)
                install.install_wheel(wheel.path, venv, requested=False, cache=cache, sha256=wheel.sha256 or None,
                                      expect=(canonicalize_name(wheel.name), Version(wheel.version)))
            (root / COMPLETE_MARKER).write_text(
                json.dumps({"wheels": [[w.name, w.version, w.sha256] for w in spec.wheels]}, indent=1), encoding="utf-8")
        except BaseException:
            shutil.rmtree(root, ignore_errors=True)
            raise
    return venv
