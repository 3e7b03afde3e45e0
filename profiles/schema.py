"""The ``[tool.satlock.profiles.<name>]`` tables of pyproject.toml, validated.

A profile says how to build one awkward source package: what its build environment
needs, which environment variables it sets and, optionally, metadata that lets a lock
skip building it at all. Errors name the file, the profile and the key in one line,
because pydantic's own report is several lines long and names none of them.
"""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any, Callable, Mapping

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainValidator, ValidationError
from pydantic_core import PydanticCustomError

from satlock.errors import ProfileError
from satlock.profiles.templates import template_names


def _invalid(message: str) -> PydanticCustomError:
    return PydanticCustomError("satlock", "{message}", {"message": message})


def _check_requirement(value: str) -> str:
    try:
        Requirement(value)
    except InvalidRequirement as e:
        reason = str(e).splitlines()[0]
        raise _invalid(f"{value!r} is not a valid requirement ({reason})") from None
    return value


def _check_build_requirement(value: str) -> str:
    """A build requirement names versions: a build environment is resolved from the indexes
    alone (buildenv/buildreqs.py), so a URL here would be a source never read from."""
    if Requirement(_check_requirement(value)).url:
        raise _invalid(f"{value!r} names a URL; a build environment takes its packages from the indexes only")
    return value


def _parses_as(parse: Callable[[str], object], invalid: type[Exception], what: str) -> Callable[[str | None], str | None]:
    """A validator of an optional string that ``parse`` must accept."""

    def check(value: str | None) -> str | None:
        if value is not None:
            try:
                parse(value)
            except invalid:
                raise _invalid(f"{value!r} is not a valid {what}") from None
        return value

    return check


_check_version = _parses_as(Version, InvalidVersion, "version")
_check_specifier = _parses_as(SpecifierSet, InvalidSpecifier, "version specifier (e.g. '>=3.9')")


def _check_template(value: str) -> str:
    if "\0" in value:
        # An environment value cannot hold NUL; it would fail only when the build starts.
        raise _invalid(f"{value!r} contains a NUL character")
    try:
        template_names(value)
    except ProfileError as e:
        raise _invalid(e.message) from None
    return value


def _check_env_name(value: str) -> str:
    if not value or "=" in value or "\0" in value:
        raise _invalid(f"{value!r} is not a valid environment variable name")
    if not value.isprintable() or any(c.isspace() for c in value):
        # " A" sets a variable no build reads, and an escape sequence would reach the terminal
        # through `profile show`: a typo or a trap, refused with the name spelt out.
        raise _invalid(f"{value!r} is not a valid environment variable name (it holds a space or a control character)")
    if "{" in value or "}" in value:
        # Only values are expanded: a name such as {cuda-home} would be set literally, and the
        # variable the build reads left unset.
        raise _invalid(f"{value!r} is not a valid environment variable name (templates are expanded in values only)")
    return value


def _check_setting(value: Any) -> str | list[str]:
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise _invalid(f"expected a string or a list of strings, got {value!r}")


RequirementStr = Annotated[str, AfterValidator(_check_requirement)]
BuildRequirementStr = Annotated[str, AfterValidator(_check_build_requirement)]
EnvName = Annotated[str, AfterValidator(_check_env_name)]
EnvValue = Annotated[str, AfterValidator(_check_template)]
SettingValue = Annotated[str | list[str], PlainValidator(_check_setting)]

_CONFIG = ConfigDict(
    alias_generator=lambda field: field.replace("_", "-"),
    extra="forbid",
    strict=True,
    frozen=True,
)


class StaticMetadata(BaseModel):
    """Metadata given in the profile, so locking never has to build the package."""

    model_config = _CONFIG

    version: Annotated[str | None, AfterValidator(_check_version)] = None
    requires_dist: list[RequirementStr] = Field(default_factory=list)
    requires_python: Annotated[str | None, AfterValidator(_check_specifier)] = None


class Profile(BaseModel):
    """How to build one source package."""

    model_config = _CONFIG

    build_requires: list[BuildRequirementStr] = Field(default_factory=list)
    match_runtime: bool = True
    isolation: bool = True
    env: dict[EnvName, EnvValue] = Field(default_factory=dict)
    config_settings: dict[str, SettingValue] = Field(default_factory=dict)
    metadata: StaticMetadata | None = None


def _plain(value: Any) -> Any:
    """tomlkit items as plain Python values, so strict validation sees str/bool/list/dict."""
    unwrap = getattr(value, "unwrap", None)
    return unwrap() if callable(unwrap) else value


def _location(loc: tuple[Any, ...]) -> str:
    """A dotted path to the bad value; a key that is not a plain printable word (it is user data,
    e.g. an env name holding a newline or an escape sequence) is quoted so the error stays one safe line."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not (str(part).isprintable() and str(part).strip() and "." not in str(part) and " " not in str(part)):
            out += f"[{str(part)!r}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _spelt(key: Any) -> str:
    """For a key spelt with underscores where the schema's has dashes, the right spelling."""
    keys = {field.alias for model in (Profile, StaticMetadata) for field in model.model_fields.values()}
    dashed = key.replace("_", "-") if isinstance(key, str) else None
    return f" (the key is spelt {dashed!r})" if dashed in keys and dashed != key else ""


def _one_line(error: Mapping[str, Any]) -> str:
    loc = tuple(error["loc"])
    if error["type"] == "extra_forbidden":
        where = _location(loc[:-1])
        unknown = f"unknown key {loc[-1]!r}{_spelt(loc[-1])}"
        return f"{where}: {unknown}" if where else unknown
    where = _location(loc)
    if error["type"] == "satlock":
        message = error["msg"]
    else:
        message = f"{error['msg'][0].lower()}{error['msg'][1:]} (got {error['input']!r})"
    return f"{where}: {message}" if where else message


def parse_profile(name: str, table: Any, *, source: str) -> Profile:
    """One profile table, validated; ``name`` is its key as written in ``source``."""
    header = f"{source}: [tool.satlock.profiles.{name}]"
    table = _plain(table)
    if not isinstance(table, Mapping):
        raise ProfileError(f"{header} must be a table, not {type(table).__name__}")
    try:
        return Profile.model_validate(dict(table))
    except ValidationError as e:
        raise ProfileError(f"{header} {_one_line(e.errors(include_url=False)[0])}") from None


def parse_profiles(table: Any, *, source: str) -> dict[NormalizedName, Profile]:
    """The ``[tool.satlock.profiles]`` table, validated, keyed by normalized package name."""
    table = _plain(table)
    if not isinstance(table, Mapping):
        raise ProfileError(f"{source}: [tool.satlock.profiles] must be a table of profiles, not {type(table).__name__}")
    profiles: dict[NormalizedName, Profile] = {}
    written: dict[NormalizedName, str] = {}
    for key, value in table.items():
        try:
            name = canonicalize_name(key, validate=True)
        except ValueError:
            raise ProfileError(
                f"{source}: [tool.satlock.profiles] {key!r} is not a valid package name",
                hint="name the profile after the package it builds, e.g. [tool.satlock.profiles.flash-attn]",
            ) from None
        if name in written:
            raise ProfileError(
                f"{source}: [tool.satlock.profiles] {written[name]!r} and {key!r} are the same package ({name})",
                hint="merge the two tables into one",
            )
        written[name] = key
        profiles[name] = parse_profile(key, value, source=source)
    return profiles


def profile_hash(profile: Profile) -> str:
    """A digest of everything in ``profile``, recorded in the lock so editing the
    profile makes the lock stale; independent of key order and of defaults being
    spelled out."""
    canonical = json.dumps(profile.model_dump(mode="json", by_alias=True), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()

