"""The profile a package builds with, for code that never validates a profile table.

Locking asks, for every package, which profile it builds with, and nearly always the
answer is "none": then it builds as pip would. That answer, ``NO_PROFILE``, is plain data
here, so a lock of a project without profiles never imports pydantic (about 0.05 s, a
tenth of a warm lock); profiles the user wrote are validated by profiles/schema.py, which
is imported only when there are some. tests/test_profiles.py holds ``NO_PROFILE`` equal,
field by field, to the pydantic ``Profile(match_runtime=False)`` it stands for.

What a profile adds to a build environment (``profile_build_inputs``) is here too, below
both the build layer, which builds with it, and the resolver, which checks a lock's
records against it (resolver/buildrecords.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Mapping, Sequence, Union

from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from satlock.profiles.templates import template_names

if TYPE_CHECKING:
    from satlock.profiles.schema import Profile, StaticMetadata


@dataclass(frozen=True)
class DefaultProfile:
    """A package without a profile: nothing added to its build environment, isolated, no
    environment variables, and its build requirements resolved freely (there is no
    profile asking them to match the runtime). The fields of ``Profile``, read-only."""

    build_requires: list[str] = field(default_factory=list)
    match_runtime: bool = False
    isolation: bool = True
    env: dict[str, str] = field(default_factory=dict)
    config_settings: dict[str, str | list[str]] = field(default_factory=dict)
    metadata: StaticMetadata | None = None


AnyProfile = Union["Profile", DefaultProfile]
NO_PROFILE = DefaultProfile()


def build_profile(profiles: Mapping[NormalizedName, Profile], name: NormalizedName) -> AnyProfile:
    """The profile ``name`` builds with: its own, or ``NO_PROFILE``."""
    return profiles.get(name, NO_PROFILE)


def profile_key(profile: AnyProfile) -> str:
    """The profile's part of a build's cache key: its hash, or ``no-profile`` for ``NO_PROFILE``
    (a profile written out the same is still the user's, and keyed by its hash)."""
    if profile is NO_PROFILE:
        return "no-profile"
    from satlock.profiles.schema import profile_hash

    return profile_hash(profile)  # type: ignore[arg-type]


def is_toolkit_distribution(name: str) -> bool:
    """Whether ``name`` is one of the nvidia wheels a CUDA_HOME is assembled from (nvcc,
    runtime, crt, nvvm... for CUDA 13 and the ``-cu12`` ones), not a library such as cuBLAS."""
    name = canonicalize_name(name)
    return name.startswith("nvidia-cuda-") or name.startswith("nvidia-nvvm")


def uses_cuda_home(profile: AnyProfile) -> bool:
    """Whether an env value of ``profile`` names ``{cuda-home}``."""
    return any(t == "cuda-home" for value in profile.env.values() for t in template_names(value))


def template_requirements(profile: AnyProfile, runtime: Mapping[NormalizedName, Version]) -> list[str]:
    """What the profile's env templates refer to, as build requirements: ``{dist:NAME}``
    brings NAME, ``{cuda-home}`` the CUDA toolkit wheels of the runtime solution (so the
    project lists them once, as dependencies); both at the runtime versions when the
    runtime has them (match-runtime pins them)."""
    out: list[str] = []
    for value in profile.env.values():
        for template in template_names(value):
            if template.startswith("dist:"):
                out.append(template[len("dist:"):].strip())
            elif template == "cuda-home":
                out += sorted(n for n in runtime if is_toolkit_distribution(n))
    return list(dict.fromkeys(out))


def profile_build_inputs(base: Sequence[str], profile: AnyProfile, runtime: Mapping[NormalizedName, Version]
                         ) -> tuple[list[str], Mapping[NormalizedName, Version]]:
    """A build environment's requirements, ``base`` (build-system.requires) with what the
    profile adds (its build-requires, what its templates refer to), and the versions they
    are pinned to: the runtime's under match-runtime, none otherwise. The lock's builds, its
    records of builds it did not make, sync's builds without a record, and the lock's
    check of an existing record (resolver/buildrecords.py) all go by this."""
    return [*base, *profile.build_requires, *template_requirements(profile, runtime)], (runtime if profile.match_runtime else {})
