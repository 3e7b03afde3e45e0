"""Fetching bytes from indexes: retries, timeouts, offline mode, URL policy, credentials.

The client is urllib3's ``PoolManager``. It is thread-safe and keeps one keep-alive
connection pool per host, so the resolver can fan requests for many projects out over a
``ThreadPoolExecutor`` and reuse TLS connections instead of paying a handshake per page;
range requests are just a ``Range`` header, and a response can be streamed to disk
without holding a multi-gigabyte CUDA wheel in memory. ``requests`` would add a
dependency for nothing we need, and ``urllib.request`` has no connection reuse.

Retries are done here rather than by urllib3 so that every failure ends the same way: one
``NetworkError`` naming the URL (with any credentials redacted) and what went wrong.
``file://`` URLs are answered from disk as a simple-index server would answer, so the
index client treats a local mirror exactly like a remote one.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Collection, Mapping, TypeVar
from urllib.parse import unquote, urlsplit, urlunsplit
from urllib.request import url2pathname

import urllib3
from urllib3.util.ssl_ import create_urllib3_context
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    MaxRetryError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
    SSLError,
)

from satlock.errors import ConfigError, NetworkError

__all__ = ["HttpClient", "Response", "check_index_url", "redact", "is_loopback", "strip_credentials", "url_to_path"]

USER_AGENT = "satlock/0.1"
JSON_ACCEPT = "application/vnd.pypi.simple.v1+json"
_CHUNK = 1 << 20
_T = TypeVar("_T")


@dataclass(frozen=True)
class Response:
    """One answer: ``url`` is the final URL after redirects, ``headers`` has lower-cased names."""

    url: str
    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


def redact(url: str) -> str:
    """``url`` with any ``user:password@`` replaced by ``****@``, safe to show or store."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"****@{host}"))


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_index_url(url: str, allow_insecure_hosts: Collection[str] = ()) -> None:
    """Refuse index URLs that would let a network attacker pick the packages we install.

    ``https`` and ``file`` are fine. Plain ``http`` is only accepted for this machine
    (loopback) or for a host the user named in ``allow_insecure_hosts`` (as ``host`` or
    ``host:port``), since anyone on the path could otherwise swap the files and the hashes
    together.
    """
    shown = redact(url)
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError as exc:
        raise ConfigError(f"invalid index URL {shown!r}: {exc}", hint="use an https:// or file:// URL") from None
    scheme = parts.scheme.lower()
    if scheme == "file":
        return
    if scheme not in ("http", "https") or not host:
        raise ConfigError(
            f"invalid index URL {shown!r}: expected an https:// or file:// URL",
            hint="give the full URL of a simple index, e.g. https://host/simple/, or file:///path/to/simple/",
        )
    if scheme == "https" or is_loopback(host):
        return
    allowed = {h.lower() for h in allow_insecure_hosts}
    if host.lower() in allowed or (port is not None and f"{host}:{port}".lower() in allowed):
        return
    raise ConfigError(
        f"refusing plain http index URL {shown!r}: packages fetched over http can be replaced in transit",
        hint=f"use https, or if you trust the network add {host!r} to allow-insecure-host",
    )


def strip_credentials(url: str) -> str:
    """``url`` without ``user:password@``: what may be shown, cached or written to a lock file."""
    return _split_auth(url)[0]


def _split_auth(url: str) -> tuple[str, str | None]:
    """The URL without credentials, and the Basic auth header value carrying them."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url, None
    userinfo, host = parts.netloc.rsplit("@", 1)
    user, _, password = userinfo.partition(":")
    token = base64.b64encode(f"{unquote(user)}:{unquote(password)}".encode()).decode()
    return urlunsplit(parts._replace(netloc=host)), f"Basic {token}"


def _reason(exc: BaseException, timeout: float) -> str:
    if isinstance(exc, MaxRetryError) and exc.reason is not None:
        exc = exc.reason
    if isinstance(exc, (ReadTimeoutError, ConnectTimeoutError, TimeoutError)):
        return f"timed out after {timeout:g}s"
    if isinstance(exc, NewConnectionError):
        return "could not connect"
    if isinstance(exc, SSLError):
        return f"TLS error ({exc})"
    if isinstance(exc, ProtocolError):
        return "connection dropped"
    return type(exc).__name__ + (f" ({exc})" if str(exc) else "")


class _Retryable(Exception):
    """A 5xx answer: worth another try."""


class HttpClient:
    """GET with retries and exponential backoff; safe to share between threads.

    ``retries`` is the number of extra attempts after the first, for connection errors,
    timeouts, dropped connections and 5xx answers. ``request_count`` counts network
    attempts (not ``file://`` reads), which tests use to check a warm cache asks nothing.

    Credentials seen in a URL are remembered for its host (as pip does), because the file
    links on a private index's pages carry none: the pages are parsed into clean URLs so
    that no password reaches the cache or the lock file.
    """

    def __init__(self, timeout: float = 30.0, retries: int = 3, backoff: float = 0.25,
                 allow_insecure_hosts: Collection[str] = (), offline: bool = False) -> None:
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.allow_insecure_hosts = tuple(allow_insecure_hosts)
        self.offline = offline
        self.request_count = 0
        self._lock = threading.Lock()
        self._auth: dict[str, str] = {}
        self._pool_manager: urllib3.PoolManager | None = None
        self._timeout = urllib3.Timeout(connect=timeout, read=timeout)
        # urllib3 only follows redirects; every other retry is ours (see module docstring).
        self._redirects = urllib3.Retry(total=None, connect=0, read=0, status=0, other=0,
                                        redirect=10, raise_on_redirect=True, raise_on_status=False)

    @property
    def _pool(self) -> urllib3.PoolManager:
        """Made on first use, with one TLS context for every connection: loading the
        system's certificates once per connection cost more CPU than parsing the pages."""
        with self._lock:
            if self._pool_manager is None:
                context = create_urllib3_context()
                context.load_default_certs()
                self._pool_manager = urllib3.PoolManager(num_pools=32, maxsize=16, block=False, ssl_context=context)
            return self._pool_manager

    def check_index_url(self, url: str) -> None:
        check_index_url(url, self.allow_insecure_hosts)

    def get(self, url: str, headers: Mapping[str, str] | None = None, *, partial: bool = False) -> Response:
        """The whole answer. 404 is returned (an index without the project); other 4xx raise.

        With ``partial=True`` the caller sent a ``Range`` header: if the server ignores it
        and answers 200, the body is dropped unread so a range probe never downloads a whole
        wheel; the caller sees status 200 with an empty body and falls back deliberately.
        """
        if urlsplit(url).scheme == "file":
            return _get_file(url, headers or {})

        def consume(resp: urllib3.BaseHTTPResponse) -> bytes:
            if partial and resp.status == 200:
                resp.close()
                return b""
            return resp.read()

        answer, body = self._send(url, headers, consume)
        return replace(answer, body=body)

    def fetch_to_file(self, url: str, dest: Path, algorithms: Collection[str] = ("sha256",)) -> dict[str, str]:
        """Stream ``url`` into ``dest`` (overwritten), returning the hex digests asked for.

        A connection that drops mid-body is retried from the start, like any other failure.
        """
        def consume(resp: urllib3.BaseHTTPResponse) -> dict[str, str]:
            if resp.status == 404:
                resp.drain_conn()
                raise NetworkError(f"{redact(url)} not found (HTTP 404)",
                                   hint="the index lists a file it does not serve; try again later or --refresh")
            return _stream(resp.stream(_CHUNK), dest, algorithms)

        if urlsplit(url).scheme == "file":
            path = url_to_path(url)
            try:
                with path.open("rb") as src:
                    return _stream(iter(lambda: src.read(_CHUNK), b""), dest, algorithms)
            except FileNotFoundError:
                raise NetworkError(f"{path} does not exist", hint="check the find-links folder or index path") from None
            except OSError as exc:
                raise NetworkError(f"cannot read {path}: {exc.strerror}") from None
        return self._send(url, None, consume)[1]

    def _send(self, url: str, headers: Mapping[str, str] | None,
              consume: Callable[[urllib3.BaseHTTPResponse], _T]) -> tuple[Response, _T]:
        """One GET with our retry policy; ``consume`` reads the body inside the retry loop."""
        shown = redact(url)
        if self.offline:
            raise NetworkError(f"cannot fetch {shown}: satlock is offline",
                               hint="run without --offline, or run once online to fill the cache")
        clean, auth = _split_auth(url)
        host = urlsplit(clean).netloc.lower()
        with self._lock:
            if auth:
                self._auth[host] = auth
            else:
                auth = self._auth.get(host)
        all_headers = {"User-Agent": USER_AGENT, **({"Authorization": auth} if auth else {}), **(headers or {})}
        reason = ""
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            with self._lock:
                self.request_count += 1
            resp = None
            try:
                resp = self._pool.request("GET", clean, headers=all_headers, preload_content=False,
                                          retries=self._redirects, timeout=self._timeout)
                if resp.status >= 400 and resp.status != 404:
                    resp.drain_conn()  # an unread body would poison the pooled connection
                if resp.status >= 500:
                    raise _Retryable(f"HTTP {resp.status}")
                if resp.status >= 400 and resp.status != 404:
                    raise NetworkError(
                        f"cannot fetch {shown}: HTTP {resp.status} {resp.reason or ''}".rstrip(),
                        hint="check the credentials for this index" if resp.status in (401, 403) else None)
                result = consume(resp)
                answer = Response(url=_final_url(resp, clean), status=resp.status,
                                  headers={k.lower(): resp.headers[k] for k in resp.headers})
                return answer, result
            except (HTTPError, _Retryable) as exc:
                reason = str(exc) if isinstance(exc, _Retryable) else _reason(exc, self.timeout)
                if isinstance(getattr(exc, "reason", exc), SSLError):
                    break  # a certificate problem will not fix itself on retry
            finally:
                if resp is not None:
                    resp.release_conn()
        raise NetworkError(f"cannot fetch {shown}: {reason} (tried {attempt + 1} times)",
                           hint="check the network and the index URL, or use --offline with a warm cache")


def _final_url(resp: urllib3.BaseHTTPResponse, requested: str) -> str:
    """The URL that answered, so relative links on a redirected page resolve correctly."""
    url = resp.url or requested
    if url.startswith("/"):
        url = urlunsplit(urlsplit(requested)._replace(path=url.split("?", 1)[0], query=url.partition("?")[2]))
    return url


def _stream(chunks: object, dest: Path, algorithms: Collection[str]) -> dict[str, str]:
    hashers = {alg: hashlib.new(alg) for alg in algorithms}
    with dest.open("wb") as out:
        for chunk in chunks:  # type: ignore[attr-defined]
            out.write(chunk)
            for h in hashers.values():
                h.update(chunk)
    return {alg: h.hexdigest() for alg, h in hashers.items()}


def url_to_path(url: str) -> Path:
    """The local path of a ``file://`` URL."""
    parts = urlsplit(url)
    path = url2pathname(parts.path)
    if parts.netloc and parts.netloc != "localhost":
        path = f"//{parts.netloc}{path}"
    return Path(path)


def _get_file(url: str, headers: Mapping[str, str]) -> Response:
    """Answer a ``file://`` URL like an index server would (404 when missing)."""
    path = url_to_path(url)
    accept = next((v for k, v in headers.items() if k.lower() == "accept"), "")
    ctype = "application/octet-stream"
    if path.is_dir():
        if JSON_ACCEPT in accept and (path / "index.json").is_file():
            path, ctype = path / "index.json", JSON_ACCEPT
        else:
            path, ctype = path / "index.html", "text/html"
        if not url.endswith("/"):
            url += "/"
    elif path.suffix in (".html", ".htm"):
        ctype = "text/html"
    try:
        body = path.read_bytes()
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return Response(url=url, status=404, headers={"content-type": "text/plain"}, body=b"")
    except OSError as exc:
        raise NetworkError(f"cannot read {path}: {exc.strerror}") from None
    return Response(url=url, status=200,
                    headers={"content-type": ctype, "content-length": str(len(body))}, body=body)

