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
from typing import Any, Mapping

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import InvalidWheelFilename, NormalizedName, canonicalize_name, parse_wheel_filename
from packaging.version import InvalidVersion, Version

from satlock.errors import IndexFormatError, LockError
from satlock.resolver.candidates import checked_filename, is_sha256, url_filename

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


def _package(raw: Any, where: str) -> BuildPackage:
    if not isinstance(raw, Mapping):
        raise LockError(f"{where} is not a table", hint=HINT)
    name, version, url, hashes = raw.get("name"), raw.get("version"), raw.get("url"), raw.get("hashes")
    if not isinstance(name, str) or not isinstance(version, str) or not isinstance(url, str) or not isinstance(hashes, Mapping):
        raise LockError(f"{where} needs name, version, url (strings) and hashes (a table)", hint=HINT)
    try:
        Version(version)
        wheel_name, wheel_version, _build, _tags = parse_wheel_filename(checked_filename(url_filename(url), where))
    except (InvalidVersion, InvalidWheelFilename, IndexFormatError) as e:
        raise LockError(f"{where}: {e}", hint=HINT) from None
    if wheel_name != canonicalize_name(name) or wheel_version != Version(version):
        raise LockError(f"{where}: the url names {wheel_name} {wheel_version}, not {name} {version}", hint=HINT)
    if not is_sha256(hashes.get("sha256")) or not all(isinstance(v, str) for v in hashes.values()):
        raise LockError(f"{where} has no sha256 hash of 64 lowercase hex digits", hint=HINT)
    return BuildPackage(canonicalize_name(name), version, url, tuple(sorted((str(k), v) for k, v in hashes.items())))


def _environment(raw: Any, where: str) -> BuildEnvironment:
    if not isinstance(raw, Mapping):
        raise LockError(f"{where} is not a table", hint=HINT)
    isolation, requires, packages = raw.get("isolation", True), raw.get("requires", []), raw.get("packages", [])
    if not isinstance(isolation, bool) or not isinstance(requires, list) or not isinstance(packages, list):
        raise LockError(f"{where} needs isolation (a boolean), requires and packages (arrays)", hint=HINT)
    for r in requires:
        try:
            Requirement(str(r))
        except InvalidRequirement as e:
            raise LockError(f"{where}.requires: {e}", hint=HINT) from None
    return BuildEnvironment(isolation, tuple(str(r) for r in requires),
                            tuple(_package(p, f"{where}.packages[{i}]") for i, p in enumerate(packages)))


def parse_build_environments(raw: Any) -> dict[NormalizedName, BuildEnvironment]:
    """The table as read from a lock, validated."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise LockError("[tool.satlock.build-environments] is not a table", hint=HINT)
    return {canonicalize_name(str(name)): _environment(env, f"[tool.satlock.build-environments.{name}]") for name, env in raw.items()}


def build_environments_table(environments: Mapping[NormalizedName, BuildEnvironment]) -> dict[str, Any]:
    """The table to write into a lock."""
    return {name: environments[name].to_dict() for name in sorted(environments)}
