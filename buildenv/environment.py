"""Isolated build environments, one per set of build wheels, made afresh for each run.

A build environment runs its code at every build (a ``.pth`` or ``sitecustomize.py`` in
its site-packages runs at every start of its interpreter), and an environment left in the
cache by an earlier run could have been edited since: nothing in it tells. So each run
makes the environments it needs from the verified wheels (installs link the files from
the unzipped-wheel cache, each held to the wheel's RECORD), in a private folder beside
the bucket that the run removes when it ends (``Cache.run_entry``); later builds of the
same run reuse it. Concurrent runs each make their own.
"""

from __future__ import annotations

import hashlib
import json
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
    """The key of the environment ``ensure_build_env`` makes for ``spec`` from ``base_python``:
    what went into it, never where it lies (it goes into the keys of what is built in it)."""
    return digest(spec.spec_hash, interpreter_id(base_python))


def ensure_build_env(spec: BuildEnvSpec, cache: Cache, *, base_python: Path) -> Venv:
    """The environment with exactly ``spec``'s wheels, made from ``base_python`` for this
    run (once; removed when the run ends), never one an earlier run left in the cache."""
    def make(root: Path) -> None:
        venv = create_venv(root, base_python)
        for wheel in spec.wheels:
            if wheel.sha256:
                _check_sha256(wheel)
            install.install_wheel(wheel.path, venv, requested=False, cache=cache, sha256=wheel.sha256 or None,
                                  expect=(canonicalize_name(wheel.name), Version(wheel.version)))

    return open_venv(cache.run_entry(BUILD_ENVS_BUCKET, build_env_hash(spec, base_python), make))
