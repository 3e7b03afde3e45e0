"""Direct references: ``name @ URL`` in a requirement and ``[tool.satlock.sources]`` entries,
turned into ``DirectReference`` values the provider and the lock use.

A git URL is parsed by ``sourceurls.py``. An archive gets its sha256 here, once, because
a lock pins every file it names.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from urllib.parse import unquote, urlsplit

from packaging.utils import NormalizedName, canonicalize_name

from satlock.cache import file_sha256
from satlock.errors import ConfigError
from satlock.http import redact
from satlock.resolver.candidates import DirectReference, DistFile, filename_from_url
from satlock.resolver.index import IndexClient
from satlock.resolver.project import Project, SourceSpec
from satlock.resolver.sourceurls import parse_git_url


def direct_reference(url: str, base: Path) -> DirectReference:
    """A PEP 508 ``name @ url`` as a pylock source kind; relative ``file:`` paths from ``base``."""
    if url.startswith("git+"):
        return parse_git_url(url)
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # "https://[::1/x": an unclosed IPv6 address
        raise ConfigError(f"{redact(url)} is not a valid URL ({exc})", hint="fix the URL in the requirement") from None
    if parts.scheme == "file":
        path = Path(unquote(parts.path))
        if not path.is_absolute():
            path = base / path
        if path.is_dir():
            return DirectReference("directory", path=str(path))
        if not path.exists():
            raise ConfigError(f"{url}: no such file or folder", hint="fix the path in the requirement")
        return DirectReference("archive", path=str(path))
    if parts.scheme in ("https", "http"):
        return DirectReference("archive", url=url)
    raise ConfigError(f"unsupported direct reference {url!r}", hint="use git+https://, https:// or file:// URLs")


def source_reference(name: str, spec: SourceSpec, base: Path) -> DirectReference:
    """A ``[tool.satlock.sources]`` entry of the project in ``base`` as a reference."""
    given = [k for k in ("path", "url", "git") if getattr(spec, k)]
    if len(given) != 1:
        raise ConfigError(f"{base / 'pyproject.toml'}: [tool.satlock.sources] {name}: give exactly one of path, url or git")
    if spec.git:
        return DirectReference("vcs", url=spec.git, requested_revision=spec.rev, subdirectory=spec.subdirectory)
    if spec.url:
        return DirectReference("archive", url=spec.url, subdirectory=spec.subdirectory)
    path = (base / spec.path).resolve()
    if path.is_dir():
        return DirectReference("directory", path=str(path), editable=spec.editable, subdirectory=spec.subdirectory)
    if not path.exists():
        raise ConfigError(f"{base / 'pyproject.toml'}: [tool.satlock.sources] {name}: {path} does not exist")
    return DirectReference("archive", path=str(path), subdirectory=spec.subdirectory)


def hash_archive(ref: DirectReference, client: IndexClient) -> DirectReference:
    """Archives in a lock need a hash: fetch the file once and record its sha256."""
    if ref.kind != "archive" or ref.hashes:
        return ref
    if ref.url:
        path = client.download(DistFile(filename=filename_from_url(ref.url, dist=False), url=ref.url))
    else:
        path = Path(ref.path or "")
    return replace(ref, hashes=(("sha256", file_sha256(path)),))


def collect_direct(project: Project, client: IndexClient) -> dict[NormalizedName, DirectReference]:
    """Every package the project names by source or URL, with archives hashed."""
    direct: dict[NormalizedName, DirectReference] = {}
    for name, spec in project.settings.sources.items():
        direct[canonicalize_name(name)] = source_reference(name, spec, project.root)
    for root in project.root_requirements():
        if root.requirement.url:
            direct[canonicalize_name(root.requirement.name)] = direct_reference(root.requirement.url, project.root)
    return {n: hash_archive(r, client) for n, r in direct.items()}
