"""The cached form of an index page, and when it is fresh.

An entry is a JSON header line (URL, status, the headers that matter for revalidation,
when it was fetched, and the sha256 of the body), then the body. An entry whose body does
not match its sha256 reads as missing. Pages honour ``Cache-Control: max-age`` and are
revalidated with ETag/Last-Modified once stale.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import dataclass

from satlock.http import Response

__all__ = ["PAGES", "DEFAULT_MAX_AGE", "Page", "PageEntry", "validators"]

PAGES = "simple-v1"
DEFAULT_MAX_AGE = 600


@dataclass(frozen=True)
class Page:
    """One index's answer for a project, with the sha256 of its body (computed once: pages run to megabytes)."""

    index: str
    response: Response
    sha256: str

    @classmethod
    def of(cls, index: str, response: Response) -> Page:
        return cls(index, response, hashlib.sha256(response.body).hexdigest())


class PageEntry:
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

    def encode(self) -> tuple[bytes, bytes]:
        """The entry as a header line and the body, in two parts that are written one after
        the other (``Cache.write``), so the page of megabytes is not copied to join them."""
        keep = {k: v for k, v in self.response.headers.items() if k in _KEPT}
        head = {"url": self.response.url, "status": self.response.status, "headers": keep,
                "fetched_at": self.fetched_at, "sha256": self.sha256}
        return json.dumps(head).encode() + b"\n", self.response.body

    @classmethod
    def decode(cls, raw: bytes) -> PageEntry | None:
        """The entry ``encode`` wrote; ``None`` for anything else. The cache is untrusted: a
        header of another shape (a value of another type, a status never written, a
        header not kept) or a body that does not match its sha256 is a miss, not a crash."""
        head_raw, sep, body = raw.partition(b"\n")
        try:
            head = json.loads(head_raw)
        except (ValueError, RecursionError):
            return None
        if not sep or type(head) is not dict:
            return None
        url, status, headers, fetched = head.get("url"), head.get("status"), head.get("headers"), head.get("fetched_at")
        if (type(url) is not str or type(status) is not int or status not in (200, 404) or type(headers) is not dict
                or not all(name in _KEPT and type(value) is str for name, value in headers.items())
                or type(fetched) is not float or not math.isfinite(fetched)):
            return None
        sha256 = hashlib.sha256(body).hexdigest()
        if head.get("sha256") != sha256:
            return None
        return cls(Response(url=url, status=status, headers=headers, body=body), fetched, sha256)


# The headers an entry keeps: what parsing and revalidating the page need.
_KEPT = ("content-type", "etag", "last-modified", "cache-control")


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


def validators(resp: Response) -> dict[str, str]:
    """What a 304 answer says about the cached page it confirms."""
    return {k: v for k, v in resp.headers.items() if k in ("etag", "last-modified", "cache-control")}
