"""The profile a package builds with, for code that never validates a profile table.

Locking asks, for every package, which profile it builds with, and nearly always the
answer is "none": then it builds as pip would. That answer, ``NO_PROFILE``, is plain data
here, so a lock of a project without profiles never imports pydantic (about 0.05 s, a
tenth of a warm lock); profiles the user wrote are validated by profiles/schema.py, which
is imported only when there are some. tests/test_profiles.py holds ``NO_PROFILE`` equal,
field by field, to the pydantic ``Profile(match_runtime=False)`` it stands for.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Mapping, Union

from packaging.utils import NormalizedName

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
