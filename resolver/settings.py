"""Index settings and the client made from them.

Precedence: a flag or environment variable (``IndexOptions``, filled by the CLI) over
``[tool.satlock]`` in pyproject.toml over the library default index.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from satlock.cache import Cache
from satlock.errors import ConfigError
from satlock.proxies import Proxies
from satlock.urls import check_index_url, redact, url_to_path

if TYPE_CHECKING:
    from satlock.http import HttpClient
    from satlock.resolver.index import IndexClient
    from satlock.resolver.project import Project


@dataclass
class IndexOptions:
    """Index settings given on the command line or in the environment (``None``: not given)."""

    index_url: str | None = None
    extra_index_urls: list[str] | None = None
    find_links: list[str] | None = None
    offline: bool = False
    refresh: bool = False
    timeout: float = 30.0
    allow_insecure_hosts: list[str] = field(default_factory=list)
    proxies: Proxies = field(default_factory=Proxies)


def default_index_url(cache: Cache) -> str:
    """``pypi_simple.PYPI_SIMPLE_ENDPOINT``, remembered in the cache per pypi-simple version.

    Importing pypi_simple pulls in its whole HTTP stack and HTML parser (0.1-0.3 s, most
    of a warm lock), so the constant is read once from the library's source, without
    running it (importing it only if that source no longer assigns it a plain string),
    and then from the cache.
    """
    from importlib.metadata import version

    key = f"pypi-simple-{version('pypi-simple')}"
    known = cache.read("constants-v1", key)
    if known:
        return known.decode()
    endpoint = _assigned_string("pypi_simple", "PYPI_SIMPLE_ENDPOINT")
    if endpoint is None:
        from pypi_simple import PYPI_SIMPLE_ENDPOINT as endpoint
    cache.write("constants-v1", key, endpoint.encode())
    return endpoint


def _assigned_string(module: str, name: str) -> str | None:
    """The string literal a top-level ``name = "..."`` of ``module``'s source assigns, read
    without importing the module; ``None`` when it has no such plain assignment."""
    import ast
    import importlib.util

    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None or not spec.origin.endswith(".py"):
        return None
    with open(spec.origin, "rb") as f:
        tree = ast.parse(f.read(), spec.origin)
    found = None
    for node in tree.body:
        if isinstance(node, ast.AnnAssign):
            targets, value = [node.target], node.value
        elif isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        else:
            continue
        if any(isinstance(t, ast.Name) and t.id == name for t in targets):
            # The last assignment wins, as when the module runs; anything but a literal is left to the import.
            found = value.value if isinstance(value, ast.Constant) and isinstance(value.value, str) else None
    return found


def check_index_options(options: IndexOptions) -> None:
    """Refuse options no request could use (a command checks them before anything else,
    also when the lock turns out to be up to date and no request is made)."""
    if not (math.isfinite(options.timeout) and options.timeout > 0):
        raise ConfigError(f"--timeout (or SATLOCK_HTTP_TIMEOUT) must be a positive number of seconds, not {options.timeout:g}",
                          hint="pass --timeout 30, say")


@dataclass(frozen=True)
class IndexSettings:
    """Where packages come from, each setting taken from the options if given, else the file."""

    index_url: str | None  # None: the library's default index
    extra_index_urls: list[str]
    find_links: list[str]
    allow_insecure_hosts: list[str]


def index_settings(project: Project, options: IndexOptions) -> IndexSettings:
    """The index settings for ``project``, refused as the index client refuses them: a
    timeout no request could use, an index URL that is not https/file (or plain http to a
    host not allowed), a find-links entry that is a URL or no folder.

    Needs neither the index client nor the network, so ``sync`` checks them up front and
    says what is wrong with them also when it has nothing to fetch (it makes the client
    only when it does)."""
    check_index_options(options)
    s = project.settings
    index_url = options.index_url or s.index_url
    extra = list(options.extra_index_urls if options.extra_index_urls is not None else s.extra_index_urls)
    find_links = list(options.find_links if options.find_links is not None else [
        str((project.root / f).resolve()) if "://" not in f else f for f in s.find_links])
    insecure = [*options.allow_insecure_hosts, *s.allow_insecure_hosts]
    for url in ([index_url] if index_url else []) + extra:
        check_index_url(url, insecure)
    for entry in find_links:
        find_links_dir(entry)
    return IndexSettings(index_url, extra, find_links, insecure)


def find_links_dir(entry: str) -> Path:
    """The folder a find-links entry names (a path or a ``file://`` URL); only local folders are supported."""
    try:
        scheme = urlsplit(entry).scheme.lower()
    except ValueError as exc:
        raise ConfigError(f"find-links entry {redact(entry)!r} is not a valid URL or path: {exc}",
                          hint="give the path of a local folder of wheels and sdists") from None
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


def make_http(options: IndexOptions, settings: IndexSettings) -> HttpClient:
    """The HTTP client for these settings: what fetching a lock's files needs, without the
    index client (``sync`` of wheels makes only this)."""
    from satlock.http import HttpClient

    return HttpClient(timeout=options.timeout, offline=options.offline, proxies=options.proxies,
                      allow_insecure_hosts=settings.allow_insecure_hosts)


def make_client(project: Project, options: IndexOptions, cache: Cache, http: HttpClient | None = None) -> IndexClient:
    """The index client for ``project``: each setting from the options if given, else the file;
    through ``http`` when given (one client's connections for a sync's lock and downloads).

    The client's code (page parsing, metadata reading) is loaded here, not with the
    options: a sync with nothing to fetch checks the settings (``index_settings``) and
    never makes one."""
    from satlock.resolver.index import IndexClient

    settings = index_settings(project, options)
    if http is None:
        http = make_http(options, settings)
    return IndexClient(index_url=settings.index_url or default_index_url(cache), extra_index_urls=settings.extra_index_urls,
                       find_links=settings.find_links, cache=cache, http=http, refresh=options.refresh)
