"""Running one function over many items on a short-lived thread pool.

Downloads and metadata reads are network-bound, so threads overlap them; the pool lives
only for the call, so nothing is left running when it returns.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterable, TypeVar

_T = TypeVar("_T")
_R = TypeVar("_R")


def fetch_many(fn: Callable[[_T], _R], items: Iterable[_T], max_workers: int = 16) -> list[_R]:
    """``[fn(x) for x in items]`` on a thread pool, in order; the first error is raised."""
    items = list(items)
    if len(items) <= 1:
        return [fn(x) for x in items]
    with ThreadPoolExecutor(max_workers=min(max_workers, len(items))) as pool:
        return list(pool.map(fn, items))
