"""Whether the build environments a lock records still give what the profiles ask for.

``[tool.satlock.build-environments]`` is what ``sync`` builds with, so a record that lacks
what a profile adds builds the package without it. The profile hashes in the lock say
when a profile changed; they do not say when the record was made by a satlock that wrote
it otherwise: before 3a376a9 the record of a profiled package the lock did not build
(metadata static, or given in the profile) held build-system.requires alone, at their
newest versions, isolated, whatever the profile said. Such a lock is stale.

Read from the lock and pyproject.toml alone (no index, no build, no sdist), so the check
runs on every ``satlock lock``. It asks only what every record written since holds,
whichever way it was made (a metadata build, a build variant, or resolved for a package
not built; see buildenv/metadata.py ``locked_build_environments``):

* the profile's isolation;
* every requirement of the profile's ``build-requires`` and every ``{dist:NAME}``, as the
  profile spells them (both are copied into ``requires``);
* with ``{cuda-home}``, at least one of the CUDA toolkit wheels when the lock has any (a
  build that assembled a CUDA_HOME had nvcc from one; which ones a build took depends on
  the runtime it was made against, so not all need be there);
* under match-runtime, each package of the record at the lock's version where the lock
  has it: a build variant's clauses and the resolved records guarantee it. So for a
  profile whose ``metadata`` names a version: the locked version is either that one,
  never built and so resolved at the lock's versions, or another, built as a variant.
  Before, the record of another version built before the runtime was known stood for the
  locked one (moveext 0.1 locked with the buildhelper 2.0 of 0.2's build beside the lock's
  1.0), and such a lock is stale.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from packaging.pylock import Pylock
from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from satlock.profiles.builds import is_toolkit_distribution, template_requirements, uses_cuda_home
from satlock.resolver.buildenvs import BuildEnvironment, parse_build_environments

if TYPE_CHECKING:
    from satlock.profiles.schema import Profile


def _spelling(text: str) -> tuple[str, tuple[str, ...], str, str]:
    """A requirement as compared: its name normalised, the rest as packaging writes it."""
    r = Requirement(text)
    return canonicalize_name(r.name), tuple(sorted(r.extras)), str(r.specifier), str(r.marker or "")


def record_reason(name: NormalizedName, profile: Profile, record: BuildEnvironment,
                  runtime: Mapping[NormalizedName, Version]) -> str | None:
    """Why ``record``, the lock's build environment of ``name``, is not what ``profile`` asks
    for with the lock's versions ``runtime``, or ``None``."""
    what = f"the build environment it records for {name}"
    if record.isolation != profile.isolation:
        return (f"{what} has isolation = {str(record.isolation).lower()}, "
                f"but its profile has isolation = {str(profile.isolation).lower()}")
    held = {_spelling(r) for r in record.requires}
    for text in profile.build_requires:
        if _spelling(text) not in held:
            return f"{what} lacks {text}, which its profile's build-requires name"
    # With no runtime, template_requirements gives the {dist:NAME} names alone.
    for text in template_requirements(profile, {}):
        if _spelling(text) not in held:
            return f"{what} lacks {text}, which its profile's env names as {{dist:{text}}}"
    if uses_cuda_home(profile):
        toolkit = sorted(n for n in runtime if is_toolkit_distribution(n))
        recorded = {canonicalize_name(Requirement(r).name) for r in record.requires} | {p.name for p in record.packages}
        if toolkit and not any(is_toolkit_distribution(n) for n in recorded):
            return (f"{what} holds none of the lock's CUDA toolkit wheels ({', '.join(toolkit)}), "
                    "which its profile's {cuda-home} takes")
    if profile.match_runtime:
        for p in record.packages:
            locked = runtime.get(p.name)
            if locked is not None and Version(p.version) != locked:
                return f"{what} has {p.name} {p.version}, not the lock's {locked}, which its profile's match-runtime asks for"
    return None


def build_records_reason(profiles: Mapping[NormalizedName, Profile], table: Mapping[str, Any], lock: Pylock) -> str | None:
    """Why a record of ``table`` (the lock's ``[tool.satlock]``) is not what its package's
    profile asks for, or ``None``. Only profiled packages' records are read; the first
    (by name) that falls short is named."""
    raw = table.get("build-environments")
    if not profiles or not isinstance(raw, Mapping):
        return None
    mine = {str(k): v for k, v in raw.items() if canonicalize_name(str(k)) in profiles}
    if not mine:
        return None
    records = parse_build_environments(mine)
    runtime = {canonicalize_name(p.name): p.version for p in lock.packages if p.version is not None}
    for name in sorted(records):
        reason = record_reason(name, profiles[name], records[name], runtime)
        if reason is not None:
            return reason
    return None
