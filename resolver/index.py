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

What is read lives beside this module: ``pages`` parses project pages, ``pagecache`` is
their cached form, ``wheelmetadata`` reads a wheel's METADATA, ``downloads`` fetches and
verifies whole files.
"""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Sequence
from urllib.parse import urlsplit

from packaging.utils import NormalizedName, canonicalize_name

from satlock.cache import Cache, digest, file_sha256
from satlock.errors import ConfigError, IndexFormatError, MetadataError, NetworkError
from satlock.http import HttpClient, Response, redact, remote_link_refusal, strip_credentials
from satlock.resolver.candidates import DistFile
from satlock.resolver.downloads import download, file_key
from satlock.resolver.filetable import FileTable
from satlock.resolver.pagecache import PAGES, Page, PageEntry, validators
from satlock.resolver.pages import ACCEPT, link_refusal, parse_project_page, parse_project_table
from satlock.resolver.settings import find_links_dir
from satlock.resolver.wheelmetadata import MAX_METADATA_BYTES, check_metadata, fetch_metadata, valid_metadata

# ACCEPT, PAGES, MAX_METADATA_BYTES and parse_project_page are imported from here by callers and tests.
__all__ = ["IndexClient", "ACCEPT", "METADATA", "PAGES", "MAX_METADATA_BYTES", "MAX_PAGE_BYTES", "parse_project_page"]

METADATA = "metadata-v2"
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
        self.find_links = tuple(find_links_dir(f) for f in find_links)
        # The user's own credentials, fixed before any page is read: a page cannot replace them.
        for url in (index_url, *extra_index_urls, *find_links):
            http.trust_credentials(url)
        self.index_url = _with_slash(index_url)
        self.extra_index_urls = tuple(_with_slash(u) for u in extra_index_urls)
        self.cache = cache
        self.http = http
        self.refresh = refresh
        self._lock = threading.Lock()
        self._projects: dict[NormalizedName, FileTable] = {}
        self._pages: dict[NormalizedName, Page | None] = {}
        self._parsed: dict[tuple[str, str, str], FileTable] = {}
        self._folders: dict[Path, list[Path]] = {}
        self._local_hashes: dict[Path, str] = {}

    @property
    def indexes(self) -> tuple[str, ...]:
        """The indexes in the order they are asked."""
        return (*self.extra_index_urls, self.index_url)

    # -- project pages -------------------------------------------------------------

    def project_files(self, name: str) -> list[DistFile]:
        """Every file offered for ``name`` by the first index that has it, plus find-links files."""
        return self.project_table(name).files()

    def project_table(self, name: str) -> FileTable:
        """``project_files`` as a table whose files are made only when asked for: the
        candidate listing asks for the third a target can use."""
        project = canonicalize_name(name)
        with self._lock:
            known = self._projects.get(project)
        if known is not None:
            return known
        page = self._first_page(project)
        table = self._parse(page) if page is not None else None
        local = self._find_links_files(project)
        if table is None or local:
            table = FileTable.of([*(table.files() if table is not None else ()), *local])
        with self._lock:
            return self._projects.setdefault(project, table)

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

    def _first_page(self, project: NormalizedName) -> Page | None:
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

    def _index_page(self, index: str, project: NormalizedName) -> Page:
        """One index's answer for ``project``, from the cache while fresh (404s included)."""
        url = f"{index}{project}/"
        if urlsplit(index).scheme == "file":
            # A local mirror: reading it is as cheap as reading the cache, and never stale.
            return Page.of(index, self.http.get(url, {"Accept": ACCEPT}))
        key = digest(index, project)
        entry = None if self.refresh else self._read_page(key)
        if self.http.offline:
            if entry is None:
                raise NetworkError(
                    f"{project} is not in the cache for index {redact(index)}; run once online",
                    hint="run the same command without --offline first to fill the cache")
            return Page(index, entry.response, entry.sha256)
        if entry is not None and entry.fresh():
            # The entry passed its checksum, and only pages that parsed are ever written.
            return Page(index, entry.response, entry.sha256)
        headers = {"Accept": ACCEPT}
        if entry is not None:
            if entry.etag:
                headers["If-None-Match"] = entry.etag
            if entry.last_modified:
                headers["If-Modified-Since"] = entry.last_modified
        resp = self.http.get(url, headers, max_bytes=MAX_PAGE_BYTES)
        if resp.status == 304 and entry is not None:
            resp = Response(url=entry.response.url, status=entry.response.status,
                            headers={**entry.response.headers, **validators(resp)}, body=entry.response.body)
        page = Page.of(index, resp)
        self._parse(page)
        self._write_page(key, page)
        return page

    def _parse(self, page: Page) -> FileTable | None:
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
        files = parse_project_table(resp, index=public, allow_insecure_hosts=self.http.allow_insecure_hosts)
        with self._lock:
            self._parsed[(public, page.sha256, resp.url)] = files
        return files

    def may_link(self, files: list[DistFile]) -> bool:
        """Whether ``files`` (a cached listing's) link only what this client's pages and
        find-links folders could have given: each names one of our indexes and its links
        pass the rule for that index's pages with this run's insecure hosts; a find-links
        file is one in our folders. A cache entry is untrusted: a link changed there would
        otherwise be fetched, or read from this machine, as if a page had given it."""
        by_index: dict[str | None, list[str]] = {}
        for f in files:
            by_index.setdefault(f.index, []).append(f.url)
        ours = {strip_credentials(index) for index in self.indexes}
        for index, urls in by_index.items():
            if index is None:
                local = {p.as_uri() for folder in self.find_links for p in self._folder_listing(folder)}
                if not local.issuperset(urls):
                    return False
            elif index not in ours or link_refusal(urls, local=urlsplit(index).scheme == "file",
                                                   allow_insecure_hosts=self.http.allow_insecure_hosts) is not None:
                return False
        return True

    def _read_page(self, key: str) -> PageEntry | None:
        raw = self.cache.read(PAGES, key)
        if raw is None:
            return None
        entry = PageEntry.decode(raw)
        # Only remote pages are cached: one whose URL is not where a fetch could have ended
        # (a file:// URL would let its page link files on this machine) was changed on disk.
        if entry is None or remote_link_refusal(entry.response.url, self.http.allow_insecure_hosts) is not None:
            self.cache.discard(PAGES, key)
            return None
        return entry

    def _write_page(self, key: str, page: Page) -> None:
        if page.response.status in (200, 404):
            self.cache.write_soon(PAGES, key, PageEntry(page.response, time.time(), page.sha256).encode())

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
        """The METADATA of a wheel, from the cache or fetched as little as the index allows (``wheelmetadata``)."""
        if not file.is_wheel:
            raise MetadataError(f"{file.filename} is not a wheel; its metadata needs a build",
                                hint="this is a bug in satlock: sdists go through the build environment")
        key = file_key(file)
        cached = self.cache.read_sealed(METADATA, key)
        if cached is not None:
            if valid_metadata(cached):
                return cached
            self.cache.discard(METADATA, key)
        data = fetch_metadata(self.http, file, self.download)
        check_metadata(data, file)
        self.cache.write_sealed_soon(METADATA, key, data)
        return data

    # -- downloads -------------------------------------------------------------------

    def download(self, file: DistFile) -> Path:
        """The whole file in the cache, verified against every hash the index gave."""
        return download(self.cache, self.http, file)

    def with_sha256(self, file: DistFile) -> DistFile:
        """``file`` with its sha256, downloading and hashing it when the index gave none.

        PEP 503/691 make hashes optional, but a lock must pin every file: what satlock
        records is then the hash of the file it downloaded itself.
        """
        if file.sha256 is not None:
            return file
        path = self.download(file)
        return replace(file, hashes={**file.hashes, "sha256": self._local_sha256(path)})


def _with_slash(url: str) -> str:
    return url if url.endswith("/") else url + "/"
