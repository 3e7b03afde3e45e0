"""The identity of a source package's build: every input that can change the wheel it gives.

A wheel built from the same source and version can still differ when what it was built
against changes (an extension compiled against torch 2.4 fails to import with torch 2.5:
undefined symbols). So the inputs of each profiled build, as the lock records them (the
profile's hash and every package of its build environment with version and sha256, which
for a no-isolation build are the ``.venv`` distributions the profile names and its
templates refer to, at their runtime versions), and for a local folder the digest of its pyproject.toml,
setup.py and setup.cfg, are hashed into one identity that

* keys the built-wheel cache (with the interpreter), and
* is written into the installed distribution's ``.dist-info`` (``BUILD_INPUTS_FILE``), so
  ``sync`` rebuilds and reinstalls a package whose inputs moved, and a second sync with
  nothing changed stays a no-op.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Mapping

from packaging.pylock import Pylock
from packaging.utils import NormalizedName

from satlock.resolver.buildenvs import BuildEnvironment
from satlock.resolver.lockfile import locked_build_environments, satlock_table

BUILD_INPUTS_FILE = "satlock_build_inputs.json"


def inputs_document(profile_hash: str | None, environment: BuildEnvironment) -> dict[str, Any]:
    """What one build depends on besides its source, in a stable, readable form."""
    packages = sorted([p.name, p.version, p.sha256] for p in environment.packages)
    return {"profile": profile_hash, "isolation": environment.isolation, "packages": packages}


def identity(document: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()


def locked_build_inputs(lock: Pylock) -> dict[NormalizedName, dict[str, Any]]:
    """For each source package the lock records a build environment for, its inputs document
    (with its ``identity`` under ``"identity"``)."""
    profiles = satlock_table(lock).get("profiles", {}) or {}
    local_sources = satlock_table(lock).get("local-sources", {}) or {}
    out: dict[NormalizedName, dict[str, Any]] = {}
    for name, environment in locked_build_environments(lock).items():
        profile = profiles.get(name) if isinstance(profiles, Mapping) else None
        document = inputs_document(profile if isinstance(profile, str) else None, environment)
        source = local_sources.get(name) if isinstance(local_sources, Mapping) else None
        if isinstance(source, str):
            # A local folder's pyproject.toml, setup.py or setup.cfg (resolver/directrefs.py):
            # when they change, the wheel installed from the folder is from before.
            document["local-source"] = source
        out[name] = {**document, "identity": identity(document)}
    return out


def folder_build_inputs(recorded: Mapping[str, Any] | None, local_source: str) -> dict[str, Any]:
    """The build inputs of a local folder the lock does not list as a package (the project
    itself): what the lock recorded of its build environment, if anything, and the digest
    of the folder's build files as they are now."""
    document = {k: v for k, v in (recorded or {}).items() if k != "identity"}
    document["local-source"] = local_source
    return {**document, "identity": identity(document)}
