"""Index settings and the client made from them.

Precedence: a flag or environment variable (``IndexOptions``, filled by the CLI) over
``[tool.satlock]`` in pyproject.toml over the library default index.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from satlock.cache import Cache
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


def default_index_url(cache: Cache) -> str:
    """``pypi_simple.PYPI_SIMPLE_ENDPOINT``, remembered in the cache per pypi-simple version.

    Importing pypi_simple pulls in its whole HTTP stack (about 0.3 s, most of a warm
    lock), so the constant is read from the library once and then from the cache.
    """
    from importlib.metadata import version

    key = f"pypi-simple-{version('pypi-simple')}"
    known = cache.read("constants-v1", key)
    if known:
        return known.decode()
    from pypi_simple import PYPI_SIMPLE_ENDPOINT

    cache.write("constants-v1", key, PYPI_SIMPLE_ENDPOINT.encode())
    return PYPI_SIMPLE_ENDPOINT


def make_client(project: Project, options: IndexOptions, cache: Cache) -> IndexClient:
    """The index client for ``project``: each setting from the options if given, else the file."""
    s = project.settings
    index_url = options.index_url or s.index_url or default_index_url(cache)
    extra = options.extra_index_urls if options.extra_index_urls is not None else s.extra_index_urls
    find_links = options.find_links if options.find_links is not None else [
        str((project.root / f).resolve()) if "://" not in f else f for f in s.find_links]
    http = HttpClient(timeout=options.timeout, offline=options.offline,
                      allow_insecure_hosts=[*options.allow_insecure_hosts, *s.allow_insecure_hosts])
    return IndexClient(index_url=index_url, extra_index_urls=extra, find_links=find_links, cache=cache, http=http,
                       refresh=options.refresh)
