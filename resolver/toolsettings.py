"""``[tool.satlock]`` of pyproject.toml validated with pydantic, into the plain settings
resolver/project.py defines.

Kept apart from the project model because pydantic and the models it builds cost about
0.06 s to import, and a project without a ``[tool.satlock]`` table (most of them) needs
none of it: resolver/project.py imports this module only when there is a table to check.
Every key is validated here, and a wrong one is one line naming the key and the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError

from satlock.errors import ConfigError
from satlock.resolver.project import Settings, SourceSpec


class _SourceModel(BaseModel):
    """One ``[tool.satlock.sources]`` entry: exactly one of path, url or git."""

    model_config = ConfigDict(extra="forbid")
    path: str | None = None
    url: str | None = None
    git: str | None = None
    rev: str | None = None
    subdirectory: str | None = None
    editable: bool = False


class _SettingsModel(BaseModel):
    """``[tool.satlock]``: index settings, sources, resolution policy (profiles are validated separately)."""

    model_config = ConfigDict(extra="forbid")
    index_url: str | None = Field(None, alias="index-url")
    extra_index_urls: list[str] = Field(default_factory=list, alias="extra-index-urls")
    find_links: list[str] = Field(default_factory=list, alias="find-links")
    sources: dict[str, _SourceModel] = Field(default_factory=dict)
    prerelease: Literal["if-necessary", "allow"] = "if-necessary"
    constraints: list[str] = Field(default_factory=list)
    overrides: list[str] = Field(default_factory=list)
    allow_insecure_hosts: list[str] = Field(default_factory=list, alias="allow-insecure-hosts")
    profiles: dict[str, Any] = Field(default_factory=dict)
    package: StrictBool | None = None
    # A list of group names or "all": checked by resolver/project.py ``_default_groups``, whose
    # one line says both shapes (a union here would name pydantic's branches instead).
    default_groups: Any = Field(None, alias="default-groups")


def _pydantic_line(e: ValidationError, path: Path) -> str:
    err = e.errors()[0]
    loc = ".".join(str(p) for p in err["loc"])
    if err["type"] == "extra_forbidden":
        dashed = loc.replace("_", "-")
        known = {field.alias for model in (_SettingsModel, _SourceModel) for field in model.model_fields.values()}
        spelt = f" (the key is spelt {dashed.rpartition('.')[2]!r})" if dashed != loc and dashed.rpartition(".")[2] in known else ""
        return f"{path}: [tool.satlock] unknown key '{loc}'{spelt}"
    return f"{path}: [tool.satlock] {loc}: {err['msg']}"


def validate_settings(tool: Any, path: Path) -> Settings:
    """``tool`` (the ``[tool.satlock]`` value of ``path``) checked key by key."""
    if not isinstance(tool, dict):
        raise ConfigError(f"{path}: [tool.satlock] must be a table, not {type(tool).__name__}")
    try:
        model = _SettingsModel.model_validate(tool)
    except ValidationError as e:
        raise ConfigError(_pydantic_line(e, path)) from None
    return Settings(index_url=model.index_url, extra_index_urls=model.extra_index_urls, find_links=model.find_links,
                    sources={name: SourceSpec(**source.model_dump()) for name, source in model.sources.items()},
                    prerelease=model.prerelease, constraints=model.constraints, overrides=model.overrides,
                    allow_insecure_hosts=model.allow_insecure_hosts, profiles=model.profiles,
                    package=model.package, default_groups=model.default_groups)
