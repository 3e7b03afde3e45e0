"""Direct references: ``name @ URL`` in a requirement and ``[tool.satlock.sources]`` entries,
turned into ``DirectReference`` values the provider and the lock use.

A git URL is parsed by ``sourceurls.py``. An archive gets its sha256 here, once, because
a lock pins every file it names.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from packaging.utils import NormalizedName, canonicalize_name

from satlock.cache import file_sha256
from satlock.errors import ConfigError, FileMissingError, HashMismatchError
from satlock.urls import redact
from satlock.resolver.candidates import VERIFIABLE_HASHES, DirectReference, DistFile, filename_from_url
from satlock.resolver.matching import evaluate_marker
from satlock.resolver.project import Project, SourceSpec
from satlock.resolver.requirementfiles import REQUIREMENT_FOLDERS
from satlock.resolver.sourceurls import parse_git_url, same_source

if TYPE_CHECKING:
    from satlock.resolver.index import IndexClient


def direct_reference(url: str, base: Path) -> DirectReference:
    """A PEP 508 ``name @ url`` as a pylock source kind; relative ``file:`` paths from ``base``.

    A URL whose host does not parse is the user's to fix: one error line, not a traceback.
    """
    try:
        if url.startswith("git+"):
            return parse_git_url(url)
        parts = urlsplit(url)
    except ValueError as e:
        raise ConfigError(f"{redact(url)}: the URL does not parse ({e})", hint="fix the URL in the requirement") from None
    if parts.scheme == "file":
        if parts.netloc.lower() not in ("", "localhost"):
            raise ConfigError(f"{redact(url)}: a file: URL with a host ({parts.netloc}) names a file on that host, not on this machine",
                              hint="write file:///ABSOLUTE/PATH, or file:RELATIVE/PATH from the project folder")
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
    if spec.url and spec.url.lower().startswith("file:"):
        # A file on this machine, as ``path`` names one: hashed from the disk each lock, not
        # taken from the download cache as it was when first fetched.
        return replace(direct_reference(spec.url, base), subdirectory=spec.subdirectory)
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
        try:
            path = client.download(DistFile(filename=filename_from_url(ref.url, dist=False), url=ref.url,
                                            hashes=_claimed_hashes(ref.url)))
        except FileMissingError as e:
            # The project named this URL, no index listed it: the index hint would mislead.
            raise FileMissingError(e.message, hint="check the URL the project gives for it (a `name @ URL` "
                                                   "requirement or [tool.satlock.sources])") from None
        except HashMismatchError as e:
            raise HashMismatchError(e.message, hint="check the #sha256= the project gives in that URL, or drop it "
                                                    "to take the file as the server has it") from None
    else:
        path = Path(ref.path or "")
    return replace(ref, hashes=(("sha256", file_sha256(path)),))


def _claimed_hashes(url: str) -> dict[str, str]:
    """The hash a URL's fragment names its file by (``#sha256=...``, as pip and uv read it):
    the download is checked against it, so a wrong one is a hash mismatch, not a lock of
    whatever the server sent."""
    claimed: dict[str, str] = {}
    for part in url.partition("#")[2].split("&"):
        algorithm, sep, value = part.partition("=")
        if sep and algorithm.lower() in VERIFIABLE_HASHES:
            claimed[algorithm.lower()] = value.lower()
    return claimed


def _same_place(ref: DirectReference) -> DirectReference:
    """``ref`` with its path made real, so that one file named by an absolute and by a
    relative ``file:`` URL (``/p/ours/y.whl``, ``/p/project/../ours/y.whl``), or through a
    symlinked folder (as ``[tool.satlock.sources]`` paths are resolved), is one source."""
    return replace(ref, path=os.path.realpath(ref.path)) if ref.path else ref


def _one_source(known: DirectReference, ref: DirectReference, url: str) -> bool:
    """Whether ``url`` (read as ``ref``) names what ``known`` does: the same real path, or
    the same source as ``same_source`` compares a git repository or an archive URL
    (``git+https://host/y@v1`` and ``https://HOST/y.git`` at ``v1`` are one)."""
    return _same_place(known) == _same_place(ref) or same_source(known, url)


def collect_direct(project: Project, client: IndexClient, environment: Mapping[str, str]) -> dict[NormalizedName, DirectReference]:
    """Every package the project names by source or URL for the target ``environment``, with
    archives hashed.

    A ``y @ URL`` whose marker is false for the target is left out: the URL is meant for
    another platform or Python, and ``y`` comes from the index here, as pip and uv take it.
    Two URLs for one name, both in force, are refused: which one was meant cannot be
    guessed; so is a URL for a name ``[tool.satlock.sources]`` names elsewhere.
    """
    sources = {canonicalize_name(name): source_reference(name, spec, project.root)
               for name, spec in project.settings.sources.items()}
    direct: dict[NormalizedName, DirectReference] = dict(sources)
    by_url: dict[NormalizedName, tuple[str, DirectReference]] = {}
    for root in project.root_requirements():
        req = root.requirement
        if not req.url or (req.marker is not None and not evaluate_marker(req.marker, {**environment, "extra": ""})):
            continue
        name = canonicalize_name(req.name)
        ref = direct_reference(req.url, project.root)
        seen = by_url.get(name)
        if seen is not None and not _one_source(seen[1], ref, req.url):
            raise ConfigError(f"{project.pyproject}: {name} is named from two URLs for this target: "
                              f"{redact(seen[0])} and {redact(req.url)}",
                              hint="keep one, or give each a marker that is false where the other applies")
        source = sources.get(name)
        if source is not None and not _one_source(replace(source, editable=False), ref, req.url):
            raise ConfigError(f"{project.pyproject}: {name} is named both by the URL {redact(req.url)} and in "
                              f"[tool.satlock.sources] ({redact(source.display())})",
                              hint=f"keep one: drop the URL from the requirement, or {name}'s entry from [tool.satlock.sources]")
        by_url[name] = (req.url, ref)
        # The same place named both ways keeps the sources entry, and with it ``editable``.
        direct[name] = ref if source is None else source
    return {n: hash_archive(r, client) for n, r in direct.items()}


_BUILD_FILES = ("pyproject.toml", "setup.py", "setup.cfg")
"""The files a local folder's metadata is read or built from (uv's default cache keys)."""


def names_local_sources(project: Project) -> bool:
    """Whether the project names a local folder or archive, here or not (``file:`` URLs for
    another platform): whether ``local_source_digests`` can ever find one."""
    return (bool(project.dynamic_requirements)
            or any(spec.path or (spec.url or "").lower().startswith("file:") for spec in project.settings.sources.values())
            or any((r.requirement.url or "").lower().startswith("file:") for r in project.root_requirements()))


def local_source_digests(project: Project) -> dict[str, str]:
    """A digest of each local folder or archive the project names, by package name: of a
    folder's pyproject.toml, setup.py and setup.cfg, of an archive's bytes.

    The lock records them so that a lock whose local source declares other dependencies
    since is stale, as ``uv lock --check`` finds it (a monorepo's libs/shared gaining a
    dependency, or its sdist made again). A dependency a folder's build reads from another
    file is not seen, as uv does not see it either; git sources are pinned by their commit.
    """
    sources = {canonicalize_name(name): [source_reference(name, spec, project.root)]
               for name, spec in project.settings.sources.items()}
    urls: dict[NormalizedName, list[DirectReference]] = {}
    for root in project.root_requirements():
        if root.requirement.url:
            try:
                ref = direct_reference(root.requirement.url, project.root)
            except ConfigError:
                # A path for another platform (its marker false here) need not exist on this
                # machine; one this target needs is refused by ``collect_direct``.
                continue
            urls.setdefault(canonicalize_name(root.requirement.name), []).append(ref)
    digests: dict[str, str] = {}
    # A [tool.satlock.sources] entry is the package's one source (``collect_direct``). Of
    # one name's URLs for several platforms (``m @ file:win/m ; sys_platform == "win32"``,
    # ``m @ file:lin/m ; ...``) each is digested: the one this lock's target uses must not
    # hide behind the first.
    for name, refs in sorted({**urls, **sources}.items()):
        parts = list(dict.fromkeys(d for d in map(_digest, refs) if d is not None))
        if parts:
            digests[name] = parts[0] if len(parts) == 1 else hashlib.sha256("\n".join(parts).encode()).hexdigest()
    if project.dynamic_requirements and project.name is not None:
        # The project's own requirements, when a build reads them from its files.
        digests[project.name] = requirement_files_digest(project)
    return digests


def requirement_files_digest(project: Project) -> str:
    """A digest of the files a build of the project reads its requirements from
    (``Project.requirement_files``), with line endings as git may check them out, and of
    the tables of pyproject.toml it reads them from (``Project.requirement_tables``), as
    data: a comment or another tool's table there changes nothing the build reads."""
    h = hashlib.sha256()
    for name in project.requirement_files:
        path = project.root / name
        data = path.read_bytes().replace(b"\r\n", b"\n") if path.is_file() else None
        h.update(f"{name}: {'none' if data is None else len(data)}\n".encode() + (data or b""))
    if project.requirement_tables:
        # TOML dates and times are no JSON: written as TOML spells them.
        h.update(json.dumps(project.requirement_tables, sort_keys=True, default=str).encode())
    return h.hexdigest()


def local_source_files(project: Project) -> list[Path] | None:
    """Every file ``local_source_digests`` reads or finds missing: a folder's build files,
    an archive, and the folders it lists for the project's requirements files. While none of them changed, neither did the digests, so a remembered "up
    to date" (cli/uptodate.py) may stand for the full check. ``None`` when a local source
    is not on this machine (a path for another platform): only the full check may judge it.
    """
    refs: list[DirectReference] = []
    try:
        for name, spec in project.settings.sources.items():
            ref = source_reference(name, spec, project.root)
            # A ``path`` as written, not resolved as ``source_reference`` does: the files are
            # found through any link on it, so pointing the link elsewhere changes them.
            refs.append(replace(ref, path=str(project.root / spec.path)) if spec.path else ref)
        refs += [direct_reference(r.requirement.url, project.root) for r in project.root_requirements() if r.requirement.url]
    except ConfigError:
        return None
    files: set[Path] = {project.root / name for name in project.requirement_files}
    if project.dynamic_requirements:
        # Listed, not only read: a requirements file appearing there is a new digest too.
        files.update(project.root / folder for folder in REQUIREMENT_FOLDERS)
    for ref in refs:
        if ref.path is None:
            continue
        if ref.kind == "archive":
            files.add(Path(ref.path))
        else:
            folder = Path(ref.path) / (ref.subdirectory or "")
            files.update(folder / filename for filename in _BUILD_FILES)
    return sorted(files)


def _digest(ref: DirectReference) -> str | None:
    """A local archive's sha256, or the digest of a local folder's build files; ``None``
    for a source that is not on this machine's disk (a URL, a git repository)."""
    if ref.path is None:
        return None
    if ref.kind == "archive":
        return file_sha256(Path(ref.path))
    return folder_digest(Path(ref.path) / (ref.subdirectory or ""))


def folder_digest(folder: Path) -> str:
    """The digest of a local folder's build files (pyproject.toml, setup.py, setup.cfg):
    what a wheel built from the folder declares (its dependencies, entry points) comes from them."""
    h = hashlib.sha256()
    for filename in _BUILD_FILES:
        # Not a file (none there, a folder of that name, a subdirectory that is a file):
        # nothing to digest; the build says what is wrong with the folder.
        if not (folder / filename).is_file():
            h.update(f"{filename}: none\n".encode())
            continue
        # Line endings as git checks them out on Windows (autocrlf) or elsewhere: a
        # lock made on one must stay current on the other.
        data = (folder / filename).read_bytes().replace(b"\r\n", b"\n")
        h.update(f"{filename}: {len(data)}\n".encode())
        h.update(data)
    return h.hexdigest()
