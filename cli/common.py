"""What every ``satlock`` command shares: its common options, the settings they make, and
the one place a ``SatlockError`` (or Ctrl-C) becomes the single line a user sees."""

from __future__ import annotations

import functools
import inspect
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Callable, Optional, TypeVar

import typer

from satlock.cli.output import Output
from satlock.errors import SatlockError

if TYPE_CHECKING:
    from satlock.cache import Cache
    from satlock.resolver.settings import IndexOptions

T = TypeVar("T")

ProjectOpt = Annotated[Path, typer.Option("--project", help="The project folder (default: the current one).")]
IndexUrlOpt = Annotated[Optional[str], typer.Option("--index-url", envvar="SATLOCK_INDEX_URL", help="The main package index (simple API).")]
ExtraIndexOpt = Annotated[Optional[list[str]], typer.Option("--extra-index-url", envvar="SATLOCK_EXTRA_INDEX_URL", help="More indexes, asked before the main one.")]
FindLinksOpt = Annotated[Optional[list[str]], typer.Option("--find-links", envvar="SATLOCK_FIND_LINKS", help="Local folders of wheels and sdists.")]
OfflineOpt = Annotated[bool, typer.Option("--offline", help="Use only the cache; never touch the network.")]
RefreshOpt = Annotated[bool, typer.Option("--refresh", help="Ignore cached index pages.")]
NoCacheOpt = Annotated[bool, typer.Option("--no-cache", help="Use a throw-away cache.")]
CacheDirOpt = Annotated[Optional[Path], typer.Option("--cache-dir", help="Cache folder (default: $SATLOCK_CACHE_DIR or the user cache).")]
InsecureOpt = Annotated[Optional[list[str]], typer.Option("--allow-insecure-host", help="Allow plain http to this host.")]
TimeoutOpt = Annotated[float, typer.Option("--timeout", envvar="SATLOCK_HTTP_TIMEOUT", help="Seconds before a request times out.")]
QuietOpt = Annotated[bool, typer.Option("-q", "--quiet")]
VerboseOpt = Annotated[bool, typer.Option("-v", "--verbose")]


def run(out: Output, fn: Callable[[], T], interrupted: str = "interrupted; nothing was written") -> T:
    """``fn()`` with its errors as one line and a non-zero exit; Ctrl-C as the one line
    ``interrupted`` (a command that may have changed something says so there) and exit 130."""
    from pyproject_hooks import BuildBackendWarning

    try:
        with warnings.catch_warnings():
            # pyproject_hooks re-raises a backend's own warnings here (numpy's setup.py: a
            # screenful about BLAS); they are the backend's chatter, not satlock's to print.
            warnings.simplefilter("ignore", BuildBackendWarning)
            return fn()
    except SatlockError as e:
        out.error(e)
        raise typer.Exit(e.exit_code) from None
    except KeyboardInterrupt:
        out.err.print(interrupted, markup=False)
        raise typer.Exit(130) from None


@dataclass(frozen=True)
class IndexFlags:
    """The index and cache flags ``lock`` and ``sync`` share (see ``with_index_flags``)."""

    options: IndexOptions
    # Whether an index was named (flag or environment): then a lock is resolved again.
    given: bool
    no_cache: bool
    cache_dir: Path | None

    def cache(self) -> Cache:
        from satlock.cache import Cache, default_cache_dir

        if self.no_cache:
            return Cache.temporary()
        return Cache(self.cache_dir or default_cache_dir())


def _index_flags(index_url: str | None, extra_index_url: list[str] | None, find_links: list[str] | None, offline: bool,
                 refresh: bool, no_cache: bool, cache_dir: Path | None, allow_insecure_host: list[str] | None,
                 timeout: float) -> IndexFlags:
    from satlock.resolver.settings import IndexOptions

    options = IndexOptions(index_url=index_url, extra_index_urls=_split(extra_index_url), find_links=_split(find_links),
                           offline=offline, refresh=refresh, timeout=timeout, allow_insecure_hosts=allow_insecure_host or [])
    return IndexFlags(options, bool(index_url or extra_index_url or find_links), no_cache, cache_dir)


# The typer parameters behind IndexFlags: name, annotation, default.
_INDEX_PARAMETERS = [("index_url", IndexUrlOpt, None), ("extra_index_url", ExtraIndexOpt, None),
                     ("find_links", FindLinksOpt, None), ("offline", OfflineOpt, False), ("refresh", RefreshOpt, False),
                     ("no_cache", NoCacheOpt, False), ("cache_dir", CacheDirOpt, None),
                     ("allow_insecure_host", InsecureOpt, None), ("timeout", TimeoutOpt, 30.0)]


def with_index_flags(command: Callable[..., T]) -> Callable[..., T]:
    """``command`` with the shared index and cache flags in place of its keyword-only
    ``flags: IndexFlags`` parameter: typer sees (and ``--help`` lists) each flag where that
    parameter stands, and the command gets them as one value."""
    signature = inspect.signature(command, eval_str=True)
    parameters: list[inspect.Parameter] = []
    for parameter in signature.parameters.values():
        if parameter.name == "flags":
            parameters += [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)
                           for name, annotation, default in _INDEX_PARAMETERS]
        else:
            parameters.append(parameter)

    @functools.wraps(command)
    def with_flags(**kwargs: Any) -> T:
        flags = _index_flags(**{name: kwargs.pop(name) for name, _, _ in _INDEX_PARAMETERS})
        return command(flags=flags, **kwargs)

    with_flags.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
    return with_flags


def _split(values: list[str] | None) -> list[str] | None:
    """Environment variables give space-separated lists."""
    if values is None:
        return None
    return [part for v in values for part in v.split()]
