"""The index client: which files a project has, their core metadata, and the files themselves.

Index strategy ("first index", as uv does it): the extra indexes are asked in the order
given, then the main index, and the *first* index that knows the project supplies all of
its files; later indexes are not consulted for that project. Merging every index, as pip
does, lets anyone who registers an internal package's name on a public index with a
higher version win the resolution (dependency confusion); with first-index an internal
index listed as an extra index always shadows the public one. find-links folders are
local and trusted, so their files are always merged in.

Everything fetched goes through the on-disk cache so that a second run, or an offline
one, asks the network as little as possible: index pages honour HTTP freshness and are
revalidated with ETag/Last-Modified; core metadata and files are content-addressed by
their sha256 and never go stale.
"""

from __future__ import annotations

import email.parser
import hashlib
from datetime import datetime
import json
import os
import re
import struct
import threading
import time
import zipfile
import zlib
from dataclasses import dataclass, replace
from html.parser import HTMLParser
from pathlib import Path
from typing import Collection, Iterable, Mapping, Sequence
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit

from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

from satlock.errors import (ConfigError, HashMismatchError, IndexFormatError, MetadataError, NetworkError,
                            UnsafeArchiveError)
from satlock.cache import Cache, digest, file_sha256
from satlock.resolver.candidates import VERIFIABLE_HASHES, DistFile, checked_filename, checked_hash, is_dist_filename, is_safe_name, is_sha256
from satlock.http import HttpClient, Response, redact, remote_link_refusal, strip_credentials, url_to_path

__all__ = ["IndexClient", "ACCEPT", "parse_project_page"]

ACCEPT = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01"
PAGES = "simple-v1"
METADATA = "metadata-v2"
FILES = "files-v1"
DEFAULT_MAX_AGE = 600
_TAIL = 65536
# The most core metadata satlock reads for one wheel (uv caps it too): a METADATA member
# that inflates past this is refused rather than decompressed into memory.
MAX_METADATA_BYTES = 5 << 20
# The largest project page read (the biggest real ones are tens of MB): a hostile index
# cannot make satlock hold an endless page in memory.
MAX_PAGE_BYTES = 256 << 20


class IndexClient:
    """Project pages, core metadata and file downloads from the configured indexes.

    Thread-safe: the resolver calls ``project_files`` and ``core_metadata`` from a thread
    pool. Results are memoised for the life of the client, so one resolution sees one
    consistent view of each project even if the index changes meanwhile.
    """

    def __init__(self, *, index_url: str, extra_index_urls: Sequence[str] = (), find_links: Sequence[str] = (),
                 cache: Cache, http: HttpClient, refresh: bool = False) -> None:
        for url in (index_url, *extra_index_urls):
            http.check_index_url(url)
        self.index_url = _with_slash(index_url)
        self.extra_index_urls = tuple(_with_slash(u) for u in extra_index_urls)
        self.find_links = tuple(_find_links_dir(f) for f in find_links)
        self.cache = cache
        self.http = http
        self.refresh = refresh
        self._lock = threading.Lock()
        self._projects: dict[NormalizedName, list[DistFile]] = {}
        self._pages: dict[NormalizedName, _Page | None] = {}
        self._parsed: dict[tuple[str, str, str], list[DistFile]] = {}
        self._folders: dict[Path, list[Path]] = {}
        self._local_hashes: dict[Path, str] = {}

    @property
    def indexes(self) -> tuple[str, ...]:
        """The indexes in the order they are asked."""
        return (*self.extra_index_urls, self.index_url)

    # -- project pages -------------------------------------------------------------

    def project_files(self, name: str) -> list[DistFile]:
        """Every file offered for ``name`` by the first index that has it, plus find-links files."""
        project = canonicalize_name(name)
        with self._lock:
            known = self._projects.get(project)
        if known is not None:
            return list(known)
        files: list[DistFile] = []
        page = self._first_page(project)
        if page is not None:
            files.extend(self._parse(page) or [])
        files.extend(self._find_links_files(project))
        with self._lock:
            self._projects.setdefault(project, files)
        return list(files)

    def page_fingerprint(self, name: str) -> str:
        """A digest of everything ``project_files(name)`` is made from, without parsing it.

        Callers cache what they derive from a project's files under this key.
        """
        project = canonicalize_name(name)
        page = self._first_page(project)
        parts = [project]
        if page is not None:
            parts += [page.index, page.sha256]
        for folder in self.find_links:
            parts += [str(folder)] + [f"{p.name}:{p.stat().st_size}" for p in self._folder_listing(folder)]
        return digest(*parts)

    def _first_page(self, project: NormalizedName) -> _Page | None:
        """The page of the first index that has ``project``; memoised per client."""
        with self._lock:
            if project in self._pages:
                return self._pages[project]
        found = None
        for index in self.indexes:
            page = self._index_page(index, project)
            if page.response.status != 404:
                found = page
                break
        with self._lock:
            return self._pages.setdefault(project, found)

    def _index_page(self, index: str, project: NormalizedName) -> _Page:
        """One index's answer for ``project``, from the cache while fresh (404s included)."""
        url = f"{index}{project}/"
        if urlsplit(index).scheme == "file":
            # A local mirror: reading it is as cheap as reading the cache, and never stale.
            return _Page.of(index, self.http.get(url, {"Accept": ACCEPT}))
        key = digest(index, project)
        entry = None if self.refresh else self._read_page(key)
        if self.http.offline:
            if entry is None:
                raise NetworkError(
                    f"{project} is not in the cache for index {redact(index)}; run once online",
                    hint="run the same command without --offline first to fill the cache")
            return _Page(index, entry.response, entry.sha256)
        if entry is not None and entry.fresh():
            # The entry passed its checksum, and only pages that parsed are ever written.
            return _Page(index, entry.response, entry.sha256)
        headers = {"Accept": ACCEPT}
        if entry is not None:
            if entry.etag:
                headers["If-None-Match"] = entry.etag
            if entry.last_modified:
                headers["If-Modified-Since"] = entry.last_modified
        resp = self.http.get(url, headers, max_bytes=MAX_PAGE_BYTES)
        if resp.status == 304 and entry is not None:
            resp = Response(url=entry.response.url, status=entry.response.status,
                            headers={**entry.response.headers, **_validators(resp)}, body=entry.response.body)
        page = _Page.of(index, resp)
        self._parse(page)
        self._write_page(key, page)
        return page

    def _parse(self, page: _Page) -> list[DistFile] | None:
        resp = page.response
        if resp.status == 404:
            return None
        if resp.status != 200:
            raise IndexFormatError(f"unexpected HTTP {resp.status} from {redact(resp.url)}")
        public = strip_credentials(page.index)
        with self._lock:
            known = self._parsed.get((public, page.sha256, resp.url))
        if known is not None:
            return known
        files = parse_project_page(resp, index=public, allow_insecure_hosts=self.http.allow_insecure_hosts)
        with self._lock:
            self._parsed[(public, page.sha256, resp.url)] = files
        return files

    def _read_page(self, key: str) -> _PageEntry | None:
        raw = self.cache.read(PAGES, key)
        if raw is None:
            return None
        entry = _PageEntry.decode(raw)
        if entry is None:
            self.cache.discard(PAGES, key)
        return entry

    def _write_page(self, key: str, page: _Page) -> None:
        if page.response.status in (200, 404):
            self.cache.write(PAGES, key, _PageEntry(page.response, time.time(), page.sha256).encode())

    # -- find-links ------------------------------------------------------------------

    def _find_links_files(self, project: NormalizedName) -> list[DistFile]:
        out = []
        for folder in self.find_links:
            for path in self._folder_listing(folder):
                file = DistFile(filename=path.name, url=path.as_uri())
                parsed = file.parse()
                if parsed is not None and parsed[0] == project:
                    out.append(replace(file, hashes={"sha256": self._local_sha256(path)}, size=path.stat().st_size))
        return out

    def _folder_listing(self, folder: Path) -> list[Path]:
        with self._lock:
            listing = self._folders.get(folder)
        if listing is None:
            try:
                listing = sorted(p for p in folder.iterdir()
                                 if p.is_file() and p.name.endswith((".whl", ".tar.gz", ".zip")))
            except OSError as exc:
                raise ConfigError(f"cannot read find-links folder {folder}: {exc.strerror}",
                                  hint="fix or remove the find-links entry") from None
            with self._lock:
                self._folders[folder] = listing
        return listing

    def _local_sha256(self, path: Path) -> str:
        with self._lock:
            known = self._local_hashes.get(path)
        if known is None:
            known = file_sha256(path)
            with self._lock:
                self._local_hashes[path] = known
        return known

    # -- core metadata -----------------------------------------------------------------

    def core_metadata(self, file: DistFile) -> bytes:
        """The METADATA of a wheel, fetching as little of it as the index allows.

        In order: the PEP 658 ``.metadata`` file; two or three HTTP range requests that
        read the zip's central directory and then just the METADATA member; the whole
        wheel (kept in the file cache, since it will most likely be installed anyway).
        """
        if not file.is_wheel:
            raise MetadataError(f"{file.filename} is not a wheel; its metadata needs a build",
                                hint="this is a bug in satlock: sdists go through the build environment")
        key = _file_key(file)
        cached = self.cache.read_sealed(METADATA, key)
        if cached is not None:
            if _valid_metadata(cached):
                return cached
            self.cache.discard(METADATA, key)
        data = self._fetch_metadata(file)
        _check_metadata(data, file)
        self.cache.write_sealed(METADATA, key, data)
        return data

    def _fetch_metadata(self, file: DistFile) -> bytes:
        if urlsplit(file.url).scheme == "file":
            return _metadata_from_zip(url_to_path(file.url), file)
        if file.metadata is not None:
            resp = self.http.get(_strip_fragment(file.url) + ".metadata", max_bytes=MAX_METADATA_BYTES)
            if resp.status == 200:
                _verify(resp.body, file.metadata, f"{file.filename}.metadata", resp.url)
                return resp.body
        data = self._metadata_by_range(file)
        if data is not None:
            return data
        return _metadata_from_zip(self.download(file), file)

    def _metadata_by_range(self, file: DistFile) -> bytes | None:
        """METADATA through range requests, or ``None`` when the server does not do ranges."""
        url = _strip_fragment(file.url)
        tail = self.http.get(url, {"Range": f"bytes=-{_TAIL}"}, partial=True)
        if tail.status != 206:
            return None
        total = _content_range_total(tail)
        if total is None:
            return None
        reader = _RangeReader(self.http, url, total, tail.body)
        try:
            entries = _central_directory(reader)
            member = _pick_metadata(entries, file)
            return reader.read_member(member, file)
        except (zipfile.BadZipFile, struct.error, zlib.error) as exc:
            raise MetadataError(f"{file.filename} from {redact(url)} is not a valid wheel: {exc}",
                                hint="the index serves a corrupt file; report it to the index") from None

    # -- downloads -------------------------------------------------------------------

    def download(self, file: DistFile) -> Path:
        """The whole file in the cache, verified against every hash the index gave."""
        key = f"{_file_key(file)}/{checked_filename(file.filename, redact(file.url), dist=False)}"
        dest = self.cache.path(FILES, key)
        if _verified(dest, file):
            return dest
        with self.cache.lock(FILES, key):
            if _verified(dest, file):
                return dest
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp = dest.parent / f".tmp-{os.getpid()}-{threading.get_ident()}-{file.filename}"
            algorithms = {"sha256"} | {a for a in file.hashes if a in VERIFIABLE_HASHES}
            try:
                got = self.http.fetch_to_file(file.url, tmp, algorithms)
                _verify_digests(got, file.hashes, file.filename, file.url)
                os.replace(tmp, dest)
            finally:
                tmp.unlink(missing_ok=True)
            _ok_marker(dest).write_text(json.dumps({"sha256": got["sha256"], "size": dest.stat().st_size}))
        return dest


    def with_sha256(self, file: DistFile) -> DistFile:
        """``file`` with its sha256, downloading and hashing it when the index gave none.

        PEP 503/691 make hashes optional, but a lock must pin every file: what satlock
        records is then the hash of the file it downloaded itself.
        """
        if file.sha256 is not None:
            return file
        path = self.download(file)
        return replace(file, hashes={**file.hashes, "sha256": self._local_sha256(path)})


def _file_key(file: DistFile) -> str:
    """The cache key for a file's entries: its sha256 when it has a valid one, else a digest of its URL."""
    sha = file.sha256
    return sha if is_sha256(sha) else digest(file.url)


# -- the page cache entry ---------------------------------------------------------------


@dataclass(frozen=True)
class _Page:
    """One index's answer for a project, with the sha256 of its body (computed once: pages run to megabytes)."""

    index: str
    response: Response
    sha256: str

    @classmethod
    def of(cls, index: str, response: Response) -> _Page:
        return cls(index, response, hashlib.sha256(response.body).hexdigest())


class _PageEntry:
    """A cached index answer: a JSON header line, then the body; the header holds its sha256."""

    def __init__(self, response: Response, fetched_at: float, sha256: str) -> None:
        self.response = response
        self.fetched_at = fetched_at
        self.sha256 = sha256

    @property
    def etag(self) -> str | None:
        return self.response.header("etag")

    @property
    def last_modified(self) -> str | None:
        return self.response.header("last-modified")

    def fresh(self) -> bool:
        return time.time() - self.fetched_at < _max_age(self.response.header("cache-control"))

    def encode(self) -> bytes:
        keep = {k: v for k, v in self.response.headers.items()
                if k in ("content-type", "etag", "last-modified", "cache-control")}
        head = {"url": self.response.url, "status": self.response.status, "headers": keep,
                "fetched_at": self.fetched_at, "sha256": self.sha256}
        return json.dumps(head).encode() + b"\n" + self.response.body

    @classmethod
    def decode(cls, raw: bytes) -> _PageEntry | None:
        head_raw, sep, body = raw.partition(b"\n")
        sha256 = hashlib.sha256(body).hexdigest()
        try:
            head = json.loads(head_raw)
            ok = sep and head["sha256"] == sha256
            resp = Response(url=str(head["url"]), status=int(head["status"]), headers=dict(head["headers"]), body=body)
            fetched = float(head["fetched_at"])
        except (ValueError, KeyError, TypeError, RecursionError):
            return None
        return cls(resp, fetched, sha256) if ok else None


def _max_age(cache_control: str | None) -> float:
    if not cache_control:
        return DEFAULT_MAX_AGE
    directives = [d.strip().lower() for d in cache_control.split(",")]
    if "no-cache" in directives or "no-store" in directives:
        return 0
    for d in directives:
        if d.startswith("max-age="):
            try:
                return int(d[8:].strip('"'))
            except ValueError:
                return 0
    return DEFAULT_MAX_AGE


def _validators(resp: Response) -> dict[str, str]:
    return {k: v for k, v in resp.headers.items() if k in ("etag", "last-modified", "cache-control")}


# -- parsing simple pages --------------------------------------------------------------


def parse_project_page(resp: Response, *, index: str | None = None,
                       allow_insecure_hosts: Collection[str] = ()) -> list[DistFile]:
    """The files on a PEP 691 JSON or PEP 503 HTML project page, URLs made absolute.

    Everything on the page is checked against its grammar here, before any of it is used:
    hashes are hex digests of the right length, file names are wheel or sdist names with
    no path in them, and a remote page links only files the http rule allows. Anything
    else is one error naming the page and the field.
    """
    ctype = (resp.header("content-type") or "").split(";", 1)[0].strip().lower()
    if ctype in ("application/vnd.pypi.simple.v1+json", "application/json"):
        files = _parse_json(resp, index)
    elif ctype in ("application/vnd.pypi.simple.v1+html", "text/html"):
        files = _parse_html(resp, index)
    else:
        raise IndexFormatError(f"{redact(resp.url)} is not a simple index page (content type {ctype or 'missing'!r})",
                               hint="point the index URL at a PEP 503/691 simple index, usually ending in /simple/")
    local_page = urlsplit(resp.url).scheme.lower() == "file"
    by_origin: dict[str, str | None] = {}
    for f in files:
        # The rule depends on the scheme and host alone, and a page links a few hosts at most.
        origin = _ORIGIN.match(f.url)
        if origin is None:
            if local_page and urlsplit(f.url).scheme.lower() == "file":
                continue
            refusal = remote_link_refusal(f.url, allow_insecure_hosts)
        elif origin[0] in by_origin:
            refusal = by_origin[origin[0]]
        else:
            refusal = by_origin[origin[0]] = remote_link_refusal(origin[0] + "/", allow_insecure_hosts)
        if refusal is not None:
            raise IndexFormatError(f"{redact(resp.url)}: refusing the link to {redact(f.url)}: {refusal}",
                                   hint="the index links files satlock will not fetch; report it to the index")
    return files


# The scheme and host of an http(s) URL with nothing ``urlsplit`` would strip or reinterpret.
_ORIGIN = re.compile(r"https?://[^/?#\x00-\x20\x7f]*(?=[/?#]|\Z)")


def _bad_field(resp: Response, field: str, value: object, filename: object = None) -> IndexFormatError:
    where = f" of file {str(filename)!r:.120}" if filename is not None else ""
    return IndexFormatError(f"{redact(resp.url)}: invalid {field!r}{where}: {value!r:.100}",
                            hint="the index serves a malformed page; report it to the index")


def _dist_name(resp: Response, name: str) -> str | None:
    """``name`` when it is a distribution file name; ``None`` for other files on the page
    (eggs, installers), which are skipped; an error when it would climb out of a folder."""
    if not is_safe_name(name):
        raise _bad_field(resp, "filename", name)
    return name if is_dist_filename(name) else None


def _page_hashes(resp: Response, field: str, value: object, filename: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _bad_field(resp, field, value, filename)
    if len(value) == 1 and is_sha256(value.get("sha256")):
        return dict(value)  # what nearly every page gives: nothing to lower-case or check further
    where = f"{redact(resp.url)}: {field!r} of file {filename!r:.120}"
    return dict(checked_hash(alg, digest_value, where) for alg, digest_value in value.items())


def _not_simple(resp: Response, why: str) -> IndexFormatError:
    return IndexFormatError(f"{redact(resp.url)} is not a simple index page: {why}",
                            hint="point the index URL at a PEP 503/691 simple index, usually ending in /simple/")


def _check_api_version(resp: Response, version: object) -> None:
    try:
        major = Version(str(version)).major
    except InvalidVersion:
        raise _not_simple(resp, f"invalid repository version {version!r}") from None
    if major != 1:
        raise IndexFormatError(f"{redact(resp.url)} uses simple API version {version}, satlock understands 1.x",
                               hint="upgrade satlock or use another index")


# TOML integers are signed 64-bit; a larger size from a page would make pylock.toml unreadable to other tools.
_TOML_INT_LIMIT = 2**63


def _parse_json(resp: Response, index: str | None) -> list[DistFile]:
    try:
        data = json.loads(resp.body)
    except ValueError as exc:
        raise _not_simple(resp, f"invalid JSON ({exc})") from None
    except RecursionError:
        raise _not_simple(resp, "JSON nested too deeply") from None
    if not isinstance(data, dict) or not isinstance(data.get("files"), list):
        raise _not_simple(resp, "JSON without a 'files' list")
    meta = data.get("meta", {})
    if not isinstance(meta, dict):
        raise _bad_field(resp, "meta", meta)
    version = meta.get("api-version", "1.0")
    if not isinstance(version, str):
        raise _bad_field(resp, "meta.api-version", version)
    _check_api_version(resp, version)
    out = []
    for entry in data["files"]:
        file = _json_file(resp, entry, index)
        if file is not None:
            out.append(file)
    return out


def _json_file(resp: Response, entry: object, index: str | None) -> DistFile | None:
    """One PEP 691 file entry, each field checked against its type; ``None`` for a non-distribution file."""
    if not isinstance(entry, dict):
        raise _bad_field(resp, "files[]", entry)
    name, url = entry.get("filename"), entry.get("url")
    if not isinstance(name, str):
        raise _bad_field(resp, "filename", name)
    filename = _dist_name(resp, name)
    if filename is None:
        return None
    if not isinstance(url, str) or not url:
        raise _bad_field(resp, "url", url, filename)
    requires_python = entry.get("requires-python")
    if requires_python is not None and not isinstance(requires_python, str):
        raise _bad_field(resp, "requires-python", requires_python, filename)
    yanked = entry.get("yanked", False)
    if not isinstance(yanked, (bool, str)):
        raise _bad_field(resp, "yanked", yanked, filename)
    size = entry.get("size")
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or not 0 <= size < _TOML_INT_LIMIT):
        raise _bad_field(resp, "size", size, filename)
    upload = entry.get("upload-time")
    if upload is not None and not _is_timestamp(upload):
        raise _bad_field(resp, "upload-time", upload, filename)
    field = "core-metadata" if "core-metadata" in entry else "dist-info-metadata"
    metadata = _metadata_hashes(resp, field, entry.get(field, False), filename)
    return DistFile(
        filename=filename,
        url=_join(resp.url, url),
        hashes=_page_hashes(resp, "hashes", entry.get("hashes"), filename),
        requires_python=requires_python or None,
        yanked=(yanked if isinstance(yanked, str) else "") if yanked else None,
        size=size,
        upload_time=upload or None,
        metadata=metadata,
        index=index,
    )


def _is_timestamp(value: object) -> bool:
    """An ISO 8601 time as the lock writer will parse it (``datetime.fromisoformat``)."""
    if not isinstance(value, str):
        return False
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


def _join(base: str, url: str) -> str:
    """``urljoin``, skipped for the absolute URLs most indexes give (it dominated warm locks)."""
    if url.startswith(("https://", "http://")):
        return url
    return urljoin(base, url)


def _metadata_hashes(resp: Response, field: str, value: object, filename: str) -> dict[str, str] | None:
    """PEP 658/714 in either form: a hash dict, ``true``, ``"sha256=..."`` or ``"true"``."""
    if isinstance(value, dict):
        return _page_hashes(resp, field, value, filename)
    if isinstance(value, bool):
        return {} if value else None
    if isinstance(value, str):
        if value.lower() in ("true", ""):
            return {} if value else None
        alg, sep, hexdigest = value.partition("=")
        if sep:
            return _page_hashes(resp, field, {alg: hexdigest}, filename)
    if value is None:
        return None
    raise _bad_field(resp, field, value, filename)


class _LinkParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.base: str | None = None
        self.repository_version: str | None = None
        self.links: list[tuple[dict[str, str | None], str]] = []
        self._open: dict[str, str | None] | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "base" and a.get("href") and self.base is None:
            self.base = a["href"]
        elif tag == "meta" and a.get("name") == "pypi:repository-version":
            self.repository_version = a.get("content")
        elif tag == "a" and a.get("href"):
            self._open, self._text = a, []

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._open is not None:
            self.links.append((self._open, "".join(self._text).strip()))
            self._open = None


_DIST_SUFFIXES = (".whl", ".tar.gz", ".zip", ".tar.bz2", ".tgz", ".tar.xz", ".tar", ".egg")


def _looks_like_dist(href: str, text: str) -> bool:
    path = unquote(urlsplit(href).path).lower()
    return path.endswith(_DIST_SUFFIXES) or text.lower().endswith(_DIST_SUFFIXES)


def _parse_html(resp: Response, index: str | None) -> list[DistFile]:
    charset = "utf-8"
    for param in (resp.header("content-type") or "").split(";")[1:]:
        k, _, v = param.strip().partition("=")
        if k.lower() == "charset" and v:
            charset = v.strip('"')
    try:
        text = resp.body.decode(charset, errors="replace")
    except LookupError:
        text = resp.body.decode("utf-8", errors="replace")
    parser = _LinkParser()
    parser.feed(text)
    parser.close()
    if parser.repository_version is None and not parser.links:
        raise _not_simple(resp, "HTML without links or a pypi:repository-version")
    if parser.repository_version is None and not any(_looks_like_dist(a.get("href") or "", t) for a, t in parser.links):
        # A login or error page answered 200: saying "package not found" would hide that.
        raise _not_simple(resp, "HTML whose links are not package files (a login or error page?)")
    if parser.repository_version is not None:
        _check_api_version(resp, parser.repository_version)
    base = urljoin(resp.url, parser.base) if parser.base else resp.url
    out = []
    for attrs, text in parser.links:
        url = urljoin(base, attrs["href"] or "")
        parts = urlsplit(url)
        filename = _dist_name(resp, unquote(parts.path.rsplit("/", 1)[-1]) or text)
        if filename is None:
            continue
        alg, sep, hexdigest = parts.fragment.partition("=")
        # Only a hash fragment is a hash; ``#egg=`` and the like are not.
        hashes = (_page_hashes(resp, "#" + alg.lower(), {alg: hexdigest}, filename)
                  if sep and alg.lower() in VERIFIABLE_HASHES else {})
        field = "data-core-metadata" if "data-core-metadata" in attrs else "data-dist-info-metadata"
        metadata = attrs.get(field)
        out.append(DistFile(
            filename=filename,
            url=urlunsplit(parts._replace(fragment="")),
            hashes=hashes,
            requires_python=attrs.get("data-requires-python") or None,
            yanked=(attrs.get("data-yanked") or "") if "data-yanked" in attrs else None,
            metadata=_metadata_hashes(resp, field, metadata, filename) if metadata is not None else None,
            index=index,
        ))
    return out


# -- wheels and metadata -------------------------------------------------------------


class _RangeReader:
    """Random access to a remote file through range requests, starting from its cached tail."""

    def __init__(self, http: HttpClient, url: str, total: int, tail: bytes) -> None:
        self.http, self.url, self.total = http, url, total
        self.start, self.buf = total - len(tail), tail

    def read(self, offset: int, length: int) -> bytes:
        if offset < 0 or offset + length > self.total:
            raise zipfile.BadZipFile(f"offset {offset}+{length} outside the file ({self.total} bytes)")
        if offset >= self.start:
            return self.buf[offset - self.start: offset - self.start + length]
        resp = self.http.get(self.url, {"Range": f"bytes={offset}-{offset + length - 1}"}, partial=True)
        if resp.status != 206 or len(resp.body) != length:
            raise zipfile.BadZipFile(f"server answered a range request with HTTP {resp.status}")
        if offset + length >= self.start:
            self.buf = resp.body[: self.start - offset] + self.buf
            self.start = offset
        return resp.body

    def read_member(self, member: _Member, file: DistFile) -> bytes:
        # The local header's extra field may differ from the central directory's; read a
        # little more than needed in one request and fetch again only if that was short.
        if member.compressed_size > MAX_METADATA_BYTES:
            raise _metadata_too_large(file)
        guess = 30 + len(member.name) + 256 + member.compressed_size
        head = self.read(member.offset, min(guess, self.total - member.offset))
        if head[:4] != b"PK\x03\x04":
            raise zipfile.BadZipFile("bad local file header")
        name_len, extra_len = struct.unpack("<HH", head[26:30])
        start = 30 + name_len + extra_len
        data = head[start: start + member.compressed_size]
        if len(data) < member.compressed_size:
            data = self.read(member.offset + start, member.compressed_size)
        if member.method == zipfile.ZIP_STORED:
            return data
        if member.method == zipfile.ZIP_DEFLATED:
            inflated = zlib.decompressobj(-15).decompress(data, MAX_METADATA_BYTES + 1)
            if len(inflated) > MAX_METADATA_BYTES:
                raise _metadata_too_large(file)
            return inflated
        raise zipfile.BadZipFile(f"unsupported compression method {member.method} for {member.name}")


class _Member:
    def __init__(self, name: str, offset: int, compressed_size: int, method: int) -> None:
        self.name, self.offset, self.compressed_size, self.method = name, offset, compressed_size, method


def _central_directory(reader: _RangeReader) -> list[_Member]:
    tail = reader.read(max(0, reader.total - min(reader.total, _TAIL)), min(reader.total, _TAIL))
    eocd = tail.rfind(b"PK\x05\x06")
    if eocd < 0:
        raise zipfile.BadZipFile("no end of central directory record")
    eocd_pos = reader.total - len(tail) + eocd
    _sig, _disk, _cd_disk, _here, count, cd_size, cd_offset, _comment = struct.unpack("<4s4H2LH", tail[eocd: eocd + 22])
    if 0xFFFFFFFF in (cd_size, cd_offset) or count == 0xFFFF:
        locator = reader.read(eocd_pos - 20, 20)
        if locator[:4] != b"PK\x06\x07":
            raise zipfile.BadZipFile("no zip64 locator")
        (z64_pos,) = struct.unpack("<Q", locator[8:16])
        record = reader.read(z64_pos, 56)
        if record[:4] != b"PK\x06\x06":
            raise zipfile.BadZipFile("bad zip64 end record")
        count, cd_size, cd_offset = struct.unpack("<QQQ", record[32:56])
    cd = reader.read(cd_offset, cd_size)
    members, pos = [], 0
    for _ in range(count):
        if cd[pos: pos + 4] != b"PK\x01\x02":
            raise zipfile.BadZipFile("bad central directory entry")
        method, = struct.unpack("<H", cd[pos + 10: pos + 12])
        csize, usize = struct.unpack("<LL", cd[pos + 20: pos + 28])
        name_len, extra_len, comment_len = struct.unpack("<HHH", cd[pos + 28: pos + 34])
        (offset,) = struct.unpack("<L", cd[pos + 42: pos + 46])
        name = cd[pos + 46: pos + 46 + name_len].decode("utf-8", errors="replace")
        extra = cd[pos + 46 + name_len: pos + 46 + name_len + extra_len]
        csize, offset = _zip64_fields(extra, usize, csize, offset)
        members.append(_Member(name, offset, csize, method))
        pos += 46 + name_len + extra_len + comment_len
    return members


def _zip64_fields(extra: bytes, usize: int, csize: int, offset: int) -> tuple[int, int]:
    """Compressed size and header offset, taken from the zip64 extra field where they overflow."""
    pos = 0
    while pos + 4 <= len(extra):
        tag, size = struct.unpack("<HH", extra[pos: pos + 4])
        if tag == 0x0001:
            values = list(struct.unpack(f"<{size // 8}Q", extra[pos + 4: pos + 4 + size - size % 8]))
            if usize == 0xFFFFFFFF and values:
                values.pop(0)
            if csize == 0xFFFFFFFF and values:
                csize = values.pop(0)
            if offset == 0xFFFFFFFF and values:
                offset = values.pop(0)
            break
        pos += 4 + size
    return csize, offset


def _metadata_names(names: Iterable[str]) -> list[str]:
    return [n for n in names if re.fullmatch(r"[^/]+\.dist-info/METADATA", n)]


def _pick_metadata(members: list[_Member], file: DistFile) -> _Member:
    by_name = {m.name: m for m in members}
    return by_name[_choose_metadata_name(list(by_name), file)]


def _choose_metadata_name(names: list[str], file: DistFile) -> str:
    candidates = _metadata_names(names)
    if len(candidates) > 1:
        parsed = file.parse()
        if parsed is not None:
            want = {n for n in candidates
                    if canonicalize_name(n.split("/")[0][: -len(".dist-info")].rsplit("-", 1)[0]) == parsed[0]}
            candidates = sorted(want) or candidates
    if not candidates:
        raise MetadataError(f"{file.filename} has no .dist-info/METADATA", hint="the wheel is broken; report it upstream")
    return candidates[0]


def _metadata_too_large(file: DistFile) -> UnsafeArchiveError:
    # Not a broken candidate to leave out but hostile input: it stops the lock.
    return UnsafeArchiveError(f"the METADATA of {file.filename} ({redact(file.url)}) is larger than "
                         f"{MAX_METADATA_BYTES >> 20} MiB; refusing to read it",
                         hint="the wheel is broken or hostile; report it to the index")


def _metadata_from_zip(path: Path, file: DistFile) -> bytes:
    try:
        with zipfile.ZipFile(path) as zf:
            with zf.open(_choose_metadata_name(zf.namelist(), file)) as member:
                # Read one byte past the cap, whatever size the zip claims: a lying
                # header cannot make this inflate more than that.
                data = member.read(MAX_METADATA_BYTES + 1)
            if len(data) > MAX_METADATA_BYTES:
                raise _metadata_too_large(file)
            return data
    except FileNotFoundError:
        raise NetworkError(f"{path} does not exist", hint="check the find-links folder or index path") from None
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, RuntimeError) as exc:
        # RuntimeError: an encrypted member; NotImplementedError (a subclass): an unknown compression.
        raise MetadataError(f"{file.filename} ({path}) is not a valid wheel: {exc}",
                            hint="remove the broken file, or report it to the index") from None


def _parse_headers(data: bytes) -> tuple[str, str] | None:
    if not data.strip():
        return None
    try:
        msg = email.parser.BytesHeaderParser().parsebytes(data)
    except (ValueError, TypeError):
        return None
    name, version = msg.get("Name"), msg.get("Version")
    return (str(name), str(version)) if name and version else None


def _valid_metadata(data: bytes) -> bool:
    return _parse_headers(data) is not None


def _check_metadata(data: bytes, file: DistFile) -> None:
    """The metadata must belong to the wheel it came from, or the lock would lie."""
    found = _parse_headers(data)
    if found is None:
        raise MetadataError(f"the metadata of {file.filename} ({redact(file.url)}) has no Name/Version",
                            hint="the index serves broken metadata; report it to the index")
    parsed = file.parse()
    if parsed is None:
        return
    try:
        same = canonicalize_name(found[0]) == parsed[0] and Version(found[1]) == parsed[1]
    except InvalidVersion:
        same = False
    if not same:
        raise MetadataError(f"{file.filename} says it is {found[0]} {found[1]} in its metadata",
                            hint="the wheel is mislabelled; report it upstream")


def _content_range_total(resp: Response) -> int | None:
    m = re.fullmatch(r"bytes \d+-\d+/(\d+)", (resp.header("content-range") or "").strip())
    return int(m.group(1)) if m else None


def _verify(data: bytes, expected: Mapping[str, str], what: str, url: str) -> None:
    got = {alg: hashlib.new(alg, data).hexdigest() for alg in expected if alg in VERIFIABLE_HASHES}
    _verify_digests(got, expected, what, url)


def _verify_digests(got: Mapping[str, str], expected: Mapping[str, str], what: str, url: str) -> None:
    for alg, want in expected.items():
        have = got.get(alg)
        if have is not None and have != want.lower():
            raise HashMismatchError(
                f"hash mismatch for {what} from {redact(url)}: expected {alg}:{want}, got {alg}:{have}",
                hint="the index, a mirror or a proxy served a different file; if the index is right, "
                     "run again with --refresh")


def _ok_marker(path: Path) -> Path:
    return path.with_name(path.name + ".ok")


def _verified(dest: Path, file: DistFile) -> bool:
    """A cheap check of a cached file: its marker names the expected hash and the size matches."""
    marker = _ok_marker(dest)
    try:
        info = json.loads(marker.read_text())
        ok = (info["size"] == dest.stat().st_size
              and (file.sha256 is None or info["sha256"] == file.sha256.lower()))
    except FileNotFoundError:
        return False
    except (ValueError, KeyError, TypeError, OSError):
        ok = False
    if not ok:
        marker.unlink(missing_ok=True)
        dest.unlink(missing_ok=True)
    return ok


def _strip_fragment(url: str) -> str:
    return url.split("#", 1)[0]


def _with_slash(url: str) -> str:
    return url if url.endswith("/") else url + "/"


def _find_links_dir(entry: str) -> Path:
    scheme = urlsplit(entry).scheme.lower()
    if scheme == "file":
        path = url_to_path(entry)
    elif scheme in ("http", "https"):
        raise ConfigError(f"find-links entry {redact(entry)!r} is a URL; only local folders are supported",
                          hint="list it as an extra index URL, or download the files into a folder")
    else:
        path = Path(entry).expanduser().absolute()  # file URLs of its files are written into the lock
    if not path.is_dir():
        raise ConfigError(f"find-links folder {path} does not exist", hint="create it or remove the find-links entry")
    return path
