"""``[tool.satlock.build-environments]``: one typed model, written by ``lock`` and read by ``sync``.

For every profiled source package the lock records the build environment its metadata
was built in (for a package with build variants, the chosen variant's): whether it
builds in isolation, the requirements asked for, and every package installed, pinned
with its URL and hashes. ``sync`` builds with exactly these, so every machine builds
with the same inputs, and ``sync --frozen`` needs no index to know them. The lock is
untrusted input: reading validates every field, and a bad one is a ``LockError``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import InvalidWheelFilename, NormalizedName, canonicalize_name, parse_wheel_filename
from packaging.version import InvalidVersion, Version

from satlock.errors import LockError
from satlock.resolver.candidates import is_safe_name, is_sha256, url_filename

HINT = "do not edit pylock.toml by hand; run `satlock lock` to write it again"


@dataclass(frozen=True)
class BuildPackage:
    """One wheel of a build environment."""

    name: NormalizedName
    version: str
    url: str
    hashes: tuple[tuple[str, str], ...]

    @property
    def filename(self) -> str:
        """Percent-decoded (``torch-2.4.0%2Bcu121-...whl``); checked when the lock was read."""
        return url_filename(self.url)

    @property
    def sha256(self) -> str:
        return dict(self.hashes).get("sha256", "")

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "url": self.url, "hashes": dict(self.hashes)}


@dataclass(frozen=True)
class BuildEnvironment:
    """The build environment of one source package, as locked."""

    isolation: bool
    requires: tuple[str, ...]
    packages: tuple[BuildPackage, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"isolation": self.isolation, "requires": list(self.requires), "packages": [p.to_dict() for p in self.packages]}


Complaint = Callable[[str, str], LockError]
TABLE = "tool.satlock.build-environments"


def _complaint(key: str, why: str) -> LockError:
    return LockError(f"pylock.toml: {key}: {why}", hint=HINT)


def _package(raw: Any, key: str, bad: Complaint) -> BuildPackage:
    if not isinstance(raw, Mapping):
        raise bad(key, "must be a table")
    for field_name in ("name", "version", "url"):
        if not isinstance(raw.get(field_name), str):
            raise bad(f"{key}.{field_name}", "must be a string")
    name, version, url, hashes = raw["name"], raw["version"], raw["url"], raw.get("hashes")
    try:
        Version(version)
    except InvalidVersion:
        raise bad(f"{key}.version", f"{version!r} is not a valid version") from None
    filename = url_filename(url)
    if not is_safe_name(filename):
        raise bad(f"{key}.url", f"{filename!r} is not a plain file name")
    try:
        wheel_name, wheel_version, _build, _tags = parse_wheel_filename(filename)
    except InvalidWheelFilename as e:
        raise bad(f"{key}.url", f"{filename!r} is not a valid wheel file name ({e})") from None
    if not isinstance(hashes, Mapping) or not all(isinstance(v, str) for v in hashes.values()):
        raise bad(f"{key}.hashes", "must be a table of hashes")
    if "sha256" not in hashes:
        raise bad(f"{key}.hashes", "has no sha256")
    if not is_sha256(hashes["sha256"]):
        raise bad(f"{key}.hashes.sha256", f"{hashes['sha256']!r} is not 64 lowercase hex digits")
    if wheel_name != canonicalize_name(name) or wheel_version != Version(version):
        raise bad(key, f"the url names {wheel_name} {wheel_version}, not {name} {version}")
    return BuildPackage(canonicalize_name(name), version, url, tuple(sorted((str(k), v) for k, v in hashes.items())))


def _environment(raw: Any, key: str, bad: Complaint) -> BuildEnvironment:
    if not isinstance(raw, Mapping):
        raise bad(key, "must be a table")
    isolation, requires, packages = raw.get("isolation", True), raw.get("requires", []), raw.get("packages", [])
    if not isinstance(isolation, bool):
        raise bad(f"{key}.isolation", "must be true or false")
    if not isinstance(requires, list) or not all(isinstance(r, str) for r in requires):
        raise bad(f"{key}.requires", "must be a list of strings")
    for r in requires:
        try:
            Requirement(r)
        except InvalidRequirement as e:
            raise bad(f"{key}.requires", str(e)) from None
    if not isinstance(packages, list):
        raise bad(f"{key}.packages", "must be a list of tables")
    return BuildEnvironment(isolation, tuple(requires),
                            tuple(_package(p, f"{key}.packages[{i}]", bad) for i, p in enumerate(packages)))


def parse_build_environments(raw: Any, bad: Complaint = _complaint) -> dict[NormalizedName, BuildEnvironment]:
    """The table as read from a lock, validated; ``bad`` words a problem with its key
    (the lock reader names the lock file)."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise bad(TABLE, "must be a table")
    return {canonicalize_name(str(name)): _environment(env, f"{TABLE}.{name}", bad) for name, env in raw.items()}


def build_environments_table(environments: Mapping[NormalizedName, BuildEnvironment]) -> dict[str, Any]:
    """The table to write into a lock."""
    return {name: environments[name].to_dict() for name in sorted(environments)}
