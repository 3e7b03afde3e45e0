"""The interpreter a lock is made for: its marker environment and wheel tags.

By default that is the running interpreter; ``--python-version`` and ``--platform`` lock
for another one, as ``pip install --python-version/--platform`` do.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

from packaging import tags
from packaging.markers import default_environment
from packaging.version import Version

from satlock.errors import ConfigError

# Markers and tags for the platforms ``--platform`` accepts, by short name. "linux" is
# glibc 2.28 (RHEL 8, Debian 10, Ubuntu 20.04 and newer run what it locks) and "macos"
# is macOS 13.0 on arm64, as uv's ``--python-platform linux`` and ``macos`` are: a lock for
# "linux" or "macos" must not pick a wheel that only the newest systems can load; a newer
# one is named by its tag (manylinux_2_35_x86_64, macosx_14_0_arm64).
_PLATFORMS: dict[str, tuple[dict[str, str], list[str]]] = {
    "linux": ({"sys_platform": "linux", "platform_system": "Linux", "os_name": "posix", "platform_machine": "x86_64"},
              ["manylinux_2_28_x86_64", "linux_x86_64"]),
    "linux-aarch64": ({"sys_platform": "linux", "platform_system": "Linux", "os_name": "posix", "platform_machine": "aarch64"},
                      ["manylinux_2_28_aarch64", "linux_aarch64"]),
    "macos": ({"sys_platform": "darwin", "platform_system": "Darwin", "os_name": "posix", "platform_machine": "arm64"},
              ["macosx_13_0_arm64"]),
    "windows": ({"sys_platform": "win32", "platform_system": "Windows", "os_name": "nt", "platform_machine": "AMD64"},
                ["win_amd64"]),
}


def python_full_version(environment: Mapping[str, str]) -> Version:
    """The interpreter's version in ``environment``. A Python built from a source checkout
    says ``3.13.0+``, which is not PEP 440: read as ``3.13.0+local``, as packaging's markers do."""
    version = environment["python_full_version"]
    return Version(version + "local" if version.endswith("+") else version)


@dataclass(frozen=True)
class Target:
    """Marker environment plus the ordered wheel tags (best first) of the target interpreter."""

    environment: dict[str, str]
    tags: tuple[tags.Tag, ...]

    @property
    def python_full_version(self) -> Version:
        return python_full_version(self.environment)

    @functools.cached_property
    def _tag_ranks(self) -> dict[str, int]:
        ranks: dict[str, int] = {}
        for i, t in enumerate(self.tags):
            ranks.setdefault(str(t), i)
        return ranks

    def best_rank(self, tag_strings: list[str]) -> int | None:
        """Best rank (0 is best) among ``interpreter-abi-platform`` strings, ``None`` if none is supported."""
        found = [self._tag_ranks[t] for t in tag_strings if t in self._tag_ranks]
        return min(found) if found else None

    @functools.cached_property
    def fingerprint(self) -> str:
        """Identifies the target in cache keys (its markers and every tag, in order)."""
        data = json.dumps([sorted(self.environment.items()), [str(t) for t in self.tags]])
        return hashlib.sha256(data.encode()).hexdigest()

    def describe(self) -> str:
        env = self.environment
        # python_version, not the full version: wheels chosen for cp311 serve every 3.11.x.
        return f'python_version == "{env["python_version"]}" and sys_platform == "{env["sys_platform"]}" and platform_machine == "{env["platform_machine"]}"'


def _manylinux_family(platform: str) -> list[str]:
    """Expand ``manylinux_2_39_x86_64`` into every older glibc tag, newest first, as pip does.

    A macOS tag expands the same way (``packaging.tags.mac_platforms``): a Mac on 13.0 arm64
    also runs wheels tagged ``macosx_11_0_arm64`` or ``macosx_10_9_universal2``, which is
    how most projects publish them.
    """
    mac = re.fullmatch(r"macosx_(\d+)_(\d+)_(\w+)", platform)
    if mac:
        return list(tags.mac_platforms((int(mac[1]), int(mac[2])), mac[3]))
    if not platform.startswith("manylinux_2_"):
        return [platform]
    _, _, minor, arch = platform.split("_", 3)
    out = [f"manylinux_2_{m}_{arch}" for m in range(int(minor), 4, -1)]
    out += [f"manylinux2014_{arch}", f"manylinux2010_{arch}", f"manylinux1_{arch}"] if arch in ("x86_64", "i686") else [f"manylinux2014_{arch}"]
    return out


_MACHINES = {"win_amd64": "AMD64", "win_arm64": "ARM64", "win32": "x86"}
# The wheel platform tags ``--platform`` takes. Every older glibc, musl or macOS version
# than the one named becomes a tag too, so those numbers are kept to two digits: a typo
# such as macosx_1100_0 would otherwise be enumerated until memory runs out.
_PLATFORM_TAG = re.compile(r"(?:(?:manylinux|musllinux)_\d{1,2}_\d{1,2}|manylinux(?:1|2010|2014)|macosx_\d{1,2}_\d{1,2}|linux|win)"
                           r"_[a-z0-9_]+|win32")
# Every older minor version of the target Python becomes a tag too.
_MAX_MINOR = 99


def _markers_of_tag(platform: str) -> dict[str, str]:
    """The platform markers of the machine a wheel platform tag names, so that
    ``--platform win_amd64`` evaluates ``sys_platform == 'win32'`` as a Windows machine would."""
    if platform.startswith("win"):
        return dict(_PLATFORMS["windows"][0], platform_machine=_MACHINES.get(platform, platform.removeprefix("win_").upper()))
    arch = re.sub(r"^(manylinux|musllinux)_\d+_\d+_|^manylinux\d+_|^linux_|^macosx_\d+_\d+_", "", platform)
    if platform.startswith("macosx"):
        return dict(_PLATFORMS["macos"][0], platform_machine="arm64" if arch in ("arm64", "universal2") else arch)
    return dict(_PLATFORMS["linux"][0], platform_machine=arch)


def make_target(python_version: str | None = None, platform: str | None = None) -> Target:
    """The running interpreter, or the one named by ``--python-version`` / ``--platform``."""
    env = dict(default_environment())
    if python_version is None and platform is None:
        return Target(env, tuple(tags.sys_tags()))
    if python_version is not None:
        try:
            v = Version(python_version)
        except ValueError:
            raise ConfigError(f"--python-version {python_version!r} is not a version", hint="use e.g. --python-version 3.12") from None
        release = list(v.release) + [0] * (3 - len(v.release))
        if release[1] > _MAX_MINOR:
            raise ConfigError(f"--python-version {python_version!r} is not a Python version",
                              hint="use e.g. --python-version 3.12")
        env["python_version"] = f"{release[0]}.{release[1]}"
        env["python_full_version"] = ".".join(map(str, release[:3]))
        env["implementation_version"] = env["python_full_version"]
    platforms: list[str] | None = None
    if platform is not None:
        if platform in _PLATFORMS:
            markers, platforms = _PLATFORMS[platform]
            env.update(markers)
        elif _PLATFORM_TAG.fullmatch(platform):
            platforms = [platform]
            env.update(_markers_of_tag(platform))
        else:
            raise ConfigError(f"--platform {platform!r} is not known", hint=f"use one of {', '.join(_PLATFORMS)} or a wheel platform tag")
        platforms = [p for base in platforms for p in _manylinux_family(base)]
    major, minor = (int(x) for x in env["python_version"].split("."))
    interp = f"cp{major}{minor}"
    tag_list = list(tags.cpython_tags((major, minor), platforms=platforms)) + list(
        tags.compatible_tags((major, minor), interpreter=interp, platforms=platforms)
    )
    return Target(env, tuple(tag_list))
