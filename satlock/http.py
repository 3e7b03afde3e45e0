"""Fetching bytes from indexes: retries, timeouts, offline mode, redirects, credentials per host.

The client is urllib3's ``PoolManager``. It is thread-safe and keeps one keep-alive
connection pool per host, so the resolver can fan requests for many projects out over a
``ThreadPoolExecutor`` and reuse TLS connections instead of paying a handshake per page;
range requests are just a ``Range`` header, and a response can be streamed to disk
without holding a multi-gigabyte CUDA wheel in memory. ``requests`` would add a
dependency for nothing we need, and ``urllib.request`` has no connection reuse.

Retries are done here rather than by urllib3 so that every failure ends the same way: one
``NetworkError`` naming the URL (with any credentials redacted) and what went wrong.
``file://`` URLs are answered from disk as a simple-index server would answer, so the
index client treats a local mirror exactly like a remote one. Which URLs may be fetched
and how credentials are split off and redacted is ``satlock.urls``; the per-answer
deadline on urllib3's connections is ``satlock.connections``, the rate a body is held to
``satlock.bodies``.
"""

from __future__ import annotations

import hashlib
import threading
import time
from contextlib import closing
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Collection, Iterator, Mapping, TypeVar
from urllib.parse import urldefrag, urljoin, urlsplit

from satlock.errors import FileMissingError, NetworkError
from satlock.proxies import Proxies, Proxy
from satlock.urls import (check_index_url, is_loopback, redact, remote_link_refusal, split_auth, strip_credentials,
                          url_to_path)

# The URL helpers are imported from here by most callers.
__all__ = ["HttpClient", "Response", "check_index_url", "redact", "is_loopback", "remote_link_refusal",
           "strip_credentials", "url_to_path"]

if TYPE_CHECKING:
    import urllib3

    from satlock.connections import Lookups, Watchdog

USER_AGENT = "satlock/0.1"
_FILE_CHUNK = 1 << 20
# A download whose size neither the index nor the lock gives (PEP 503 pages have none) is cut
# here: a body that keeps coming is never cut by time (bodies.body_chunks), so without
# this an endless one would fill the disk. Above the largest wheels published (a few GB).
MAX_UNSIZED_DOWNLOAD = 16 << 30
# How many timeouts the body of a page, metadata file or range may take (2 minutes at the
# default 30 s: a 10 MB page on a 100 KB/s line), however steadily it comes.
GET_TIMEOUTS = 4
JSON_ACCEPT = "application/vnd.pypi.simple.v1+json"
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


_REDIRECTS = (301, 302, 303, 307, 308)
_MAX_REDIRECTS = 10

class HttpClient:
    """GET with retries and exponential backoff; safe to share between threads.

    ``retries`` is the number of extra attempts after the first, for connection errors,
    timeouts, dropped connections and 5xx answers. ``request_count`` counts network
    attempts (not ``file://`` reads), which tests use to check a warm cache asks nothing.

    The credentials in the URLs the user configured are remembered for their hosts (as pip
    does), because the file links on a private index's pages carry none: the pages are
    parsed into clean URLs so that no password reaches the cache or the lock file.
    """

    def __init__(self, timeout: float = 30.0, retries: int = 3, backoff: float = 0.25,
                 allow_insecure_hosts: Collection[str] = (), offline: bool = False,
                 proxies: Proxies = Proxies()) -> None:
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.allow_insecure_hosts = tuple(allow_insecure_hosts)
        self.offline = offline
        self.proxies = proxies
        self.request_count = 0
        self._lock = threading.Lock()
        self._auth: dict[str, str] = {}
        self._transport: tuple[urllib3.PoolManager, Watchdog, Lookups] | None = None
        self._proxied: dict[Proxy, urllib3.ProxyManager] = {}

    def _connections(self) -> tuple[urllib3.PoolManager, Watchdog, Lookups]:
        """The connection pool, the deadline watchdog and the hosts' addresses, made on first use, with one TLS
        context for every connection: loading the
        system's certificates once per connection cost more CPU than parsing the pages.

        urllib3 is imported here, not with this module: a warm lock or sync, which asks
        the network nothing, does not pay for importing it.
        """
        import urllib3
        from urllib3.util.ssl_ import create_urllib3_context

        from satlock.connections import HTTPPool, HTTPSPool, Lookups, Watchdog

        with self._lock:
            if self._transport is None:
                context = create_urllib3_context()
                context.load_default_certs()
                pool = urllib3.PoolManager(num_pools=32, maxsize=16, block=False, ssl_context=context)
                pool.pool_classes_by_scheme = {"http": HTTPPool, "https": HTTPSPool}
                self._transport = (pool, Watchdog(), Lookups())
            return self._transport

    def _pool_for(self, url: str, pool: urllib3.PoolManager) -> tuple[urllib3.PoolManager, Proxy | None]:
        """The connections a request for ``url`` goes over: through its proxy (one pool
        manager per proxy, made on first use) or straight to the host (``pool``)."""
        proxy = self.proxies.for_url(url)
        if proxy is None:
            return pool, None
        import urllib3

        with self._lock:
            through = self._proxied.get(proxy)
            if through is None:
                context = pool.connection_pool_kw["ssl_context"]
                headers = {"Proxy-Authorization": proxy.authorization} if proxy.authorization else None
                through = self._proxied[proxy] = urllib3.ProxyManager(
                    proxy.url, num_pools=32, maxsize=16, block=False, ssl_context=context, proxy_ssl_context=context,
                    proxy_headers=headers)
                through.pool_classes_by_scheme = pool.pool_classes_by_scheme
            return through, proxy

    def check_index_url(self, url: str) -> None:
        check_index_url(url, self.allow_insecure_hosts)

    def get(self, url: str, headers: Mapping[str, str] | None = None, *, partial: bool = False,
            max_bytes: int | None = None) -> Response:
        """The whole answer. 404 is returned (an index without the project); other 4xx raise.

        With ``partial=True`` the caller sent a ``Range`` header: if the server ignores it
        and answers 200, the body is dropped unread so a range probe never downloads a whole
        wheel; the caller sees status 200 with an empty body and falls back deliberately.
        A body longer than ``max_bytes`` is an error, read no further than that. The body
        may take ``GET_TIMEOUTS`` timeouts at most, even while it keeps coming: pages and
        metadata are small, and a server feeding one at the slowest rate a download may have
        would otherwise hold a lock for hours.
        """
        if urlsplit(url).scheme == "file":
            return _get_file(url, headers or {})

        def consume(resp: urllib3.BaseHTTPResponse, chunks: Iterator[bytes]) -> bytes:
            if partial and resp.status == 200:
                resp.close()
                return b""
            parts, size = [], 0
            for chunk in chunks:
                parts.append(chunk)
                size += len(chunk)
                if max_bytes is not None and size > max_bytes:
                    resp.close()
                    raise NetworkError(f"{redact(url)} is larger than {max_bytes} bytes; refusing to read more",
                                       hint="the index serves an oversized answer; report it to the index")
            return b"".join(parts)  # one copy: pages run to tens of megabytes

        answer, body = self._send(url, headers, consume, whole=GET_TIMEOUTS * self.timeout)
        return replace(answer, body=body)

    def fetch_to_file(self, url: str, dest: Path, algorithms: Collection[str] = ("sha256",),
                      size: int | None = None) -> dict[str, str]:
        """Stream ``url`` into ``dest`` (overwritten), returning the hex digests asked for.

        A connection that drops mid-body is retried from the start, like any other failure.
        With the ``size`` the index or lock gives, a longer body from a server is an error as
        soon as it passes that size: it could otherwise fill the disk until the timeout. (A
        local file is read whole, so a mismatch names both hashes.)
        """
        def consume(resp: urllib3.BaseHTTPResponse, chunks: Iterator[bytes]) -> dict[str, str]:
            if resp.status == 404:
                resp.close()  # not drained: an endless 404 body would be read for as long as it comes
                # Without the fragment (#sha256=...): it names the file's hash, not the file.
                raise FileMissingError(f"{redact(urldefrag(url).url)} not found (HTTP 404)",
                                       hint="the index lists a file it does not serve; try again later or --refresh")
            return _stream(chunks, dest, algorithms, size, url)

        if urlsplit(url).scheme == "file":
            path = url_to_path(url)
            try:
                with path.open("rb") as src:
                    return _stream(iter(lambda: src.read(_FILE_CHUNK), b""), dest, algorithms, None, url)
            except FileNotFoundError:
                raise NetworkError(f"{path} does not exist", hint="check the find-links folder or index path") from None
            except OSError as exc:
                raise NetworkError(f"cannot read {path}: {exc.strerror}") from None
        # The file's hash is over its bytes as served: they are never decoded, so a
        # Content-Encoding bomb cannot fill the disk before the hash check fails.
        return self._send(url, {"Accept-Encoding": "identity"}, consume, decode=False)[1]

    def trust_credentials(self, url: str) -> None:
        """Remember the credentials in a URL the user configured (an index, find-links), for its
        host: the file links on a private index's pages carry none."""
        clean, auth = split_auth(url)
        if auth:
            with self._lock:
                self._auth[urlsplit(clean).netloc.lower()] = auth

    def _auth_for(self, url: str, fallback: tuple[str, str | None] = ("", None)) -> tuple[str, str | None]:
        """The URL without credentials and the Authorization to send with it.

        The user's credentials for the host (``trust_credentials``) win. Credentials written
        in any other URL (a direct reference, a link on a page) go with that request only and
        are never remembered: a hostile page linking ``user:pw@host`` must not replace the
        user's own credentials for that host. ``fallback`` is the (host, credentials) of the
        URL first asked for, which a redirect back to that host keeps.
        """
        clean, auth = split_auth(url)
        host = urlsplit(clean).netloc.lower()
        with self._lock:
            trusted = self._auth.get(host)
        if trusted is not None:
            return clean, trusted
        if auth is None and fallback[0] == host:
            auth = fallback[1]
        return clean, auth

    def _send(self, url: str, headers: Mapping[str, str] | None,
              consume: Callable[[urllib3.BaseHTTPResponse, Iterator[bytes]], _T],
              decode: bool = True, whole: float | None = None) -> tuple[Response, _T]:
        """One GET with our retry policy; ``consume`` reads the body inside the retry loop.

        Redirects are followed here, not by urllib3, so that each hop is held to the rule
        for configured URLs (``remote_link_refusal``) and credentials only ever go to the
        host they were given for. ``timeout`` bounds the wait for the headers, redirects
        included; the body is held to a rate (``bodies.body_chunks``), and with ``whole``,
        each attempt's body ends that many seconds after its headers at the latest.
        """
        shown = redact(url)
        if self.offline:
            raise NetworkError(f"cannot fetch {shown}: satlock is offline",
                               hint="run without --offline, or run once online to fill the cache")
        import urllib3
        from urllib3.exceptions import HTTPError

        from satlock.bodies import body_chunks, discard
        from satlock.connections import (DeadlineExceeded, Retryable, check_host, failure_reason,
                                         is_certificate_problem, is_unparsable_host, tunnel_refusal, watch_headers)

        direct, watchdog, lookups = self._connections()
        clean, given = self._auth_for(url)
        first = (urlsplit(clean).netloc.lower(), given)
        reason = ""
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            resp = None
            deadline = time.monotonic() + self.timeout
            reading_body = False  # then the body's own progress rule holds, not ``deadline``
            until: float | None = None  # when the body must end, with ``whole``
            current = clean
            proxy = None
            try:
                for _hop in range(_MAX_REDIRECTS + 1):
                    with self._lock:
                        self.request_count += 1
                    current, auth = self._auth_for(current, first)
                    all_headers = {"User-Agent": USER_AGENT, **({"Authorization": auth} if auth else {}),
                                   **(headers or {})}
                    left = max(0.01, deadline - time.monotonic())
                    check_host(urlsplit(current).hostname or "")
                    pool, proxy = self._pool_for(current, direct)
                    # The read timeout is the body's too, so not what redirects left of the
                    # deadline: the watchdog holds the headers to the deadline already.
                    with watch_headers(deadline, watchdog, lookups):
                        resp = pool.request("GET", current, headers=all_headers, preload_content=False,
                                             retries=False, redirect=False,
                                             timeout=urllib3.Timeout(connect=left, read=self.timeout))
                    if time.monotonic() >= deadline:
                        raise DeadlineExceeded()  # the watchdog cut the headers short: not an answer
                    location = resp.headers.get("location")
                    if resp.status not in _REDIRECTS or not location:
                        break
                    discard(resp, deadline, self.timeout, watchdog)
                    resp.release_conn()
                    resp = None
                    target = urljoin(current, location)
                    refusal = remote_link_refusal(target, self.allow_insecure_hosts)
                    if refusal is not None:
                        raise NetworkError(f"cannot fetch {shown}: refusing its redirect to {redact(target)}: {refusal}",
                                           hint="fix the index URL, or ask the index's owner why it redirects there")
                    current = target
                else:
                    raise NetworkError(f"cannot fetch {shown}: more than {_MAX_REDIRECTS} redirects")
                assert resp is not None
                if resp.status >= 400 and resp.status != 404:
                    discard(resp, deadline, self.timeout, watchdog)  # within the deadline, or closed
                if resp.status >= 500:
                    raise Retryable(f"HTTP {resp.status}")
                if resp.status >= 400 and resp.status != 404:
                    if resp.status == 407 and proxy is not None:
                        raise NetworkError(f"cannot fetch {shown}: the proxy {proxy.url} ({proxy.variable}) asks for "
                                           "credentials (HTTP 407)", hint=_proxy_credentials_hint(proxy))
                    raise _refusal(shown, resp.status, resp.reason or "",
                                   proxy if proxy is not None and urlsplit(current).scheme == "http" else None)
                reading_body = True
                until = None if whole is None else time.monotonic() + whole
                with closing(body_chunks(resp, self.timeout, decode, watchdog, until)) as chunks:
                    result = consume(resp, chunks)
                answer = Response(url=current, status=resp.status,
                                  headers={k.lower(): resp.headers[k] for k in resp.headers})
                return answer, result
            except (HTTPError, Retryable, DeadlineExceeded) as exc:
                reason = str(exc) if isinstance(exc, Retryable) else failure_reason(exc, self.timeout)
                if not reading_body and time.monotonic() >= deadline and not isinstance(exc, Retryable):
                    reason = f"timed out after {self.timeout:g}s"  # the deadline cut it, whatever it looked like
                elif isinstance(exc, DeadlineExceeded) and whole is not None and until is not None and time.monotonic() >= until:
                    reason = f"timed out: the answer took more than {whole:g}s"
                if proxy is not None:
                    reason = redact(f"{reason}, through the proxy {proxy.url} ({proxy.variable})")
                if is_certificate_problem(exc) or is_unparsable_host(exc):
                    break  # neither a certificate problem nor a bad host name will fix itself on retry
                refused = tunnel_refusal(exc)
                if refused is not None and proxy is not None:
                    host = urlsplit(current).hostname
                    if refused >= 500:
                        # The proxy could not reach the host: asked again, as a host that
                        # cannot be reached directly is.
                        reason = f"the proxy {proxy.url} ({proxy.variable}) could not connect to {host} (HTTP {refused})"
                        continue
                    hint = (_proxy_credentials_hint(proxy) if refused == 407
                            else f"check {proxy.variable}, or add the host to NO_PROXY")
                    raise NetworkError(f"cannot fetch {shown}: the proxy {proxy.url} ({proxy.variable}) refused "
                                       f"to connect to {host} (HTTP {refused})", hint=hint) from None
            finally:
                if resp is not None:
                    # A body read to its end has given its connection back to the pool already;
                    # one cut short (too large, too slow) still holds the rest of the body, which
                    # the next request on that connection would read as its answer: closed.
                    resp.close()
                    resp.release_conn()
        hint = (f"check the proxy in {proxy.variable}, or add the host to NO_PROXY" if proxy is not None
                else "check the network and the index URL, or use --offline with a warm cache")
        tries = "tried once" if attempt == 0 else f"tried {attempt + 1} times"
        raise NetworkError(f"cannot fetch {shown}: {reason} ({tries})", hint=hint)


def _proxy_credentials_hint(proxy: Proxy) -> str:
    """Where the credentials go, written without a URL: every hint is redacted, and
    ``http://USER:PASSWORD@HOST`` would read ``http://****@HOST``."""
    return f"give the proxy's user and password in {proxy.variable}, as USER:PASSWORD@ before the proxy's host"


def _refusal(shown: str, status: int, reason: str, forwarded_by: Proxy | None) -> NetworkError:
    """A 4xx answer. A proxy forwarding the request may have given it rather than the
    index, so the error names it: "check the credentials for this index" alone sent
    people to credentials the index never saw."""
    through = f", through the proxy {forwarded_by.url} ({forwarded_by.variable})" if forwarded_by else ""
    hint = None
    if status in (401, 403):
        hint = "check the credentials for this index"
        if forwarded_by is not None:
            hint += f", and whether the proxy in {forwarded_by.variable} lets the request through (or add the host to NO_PROXY)"
    return NetworkError(f"cannot fetch {shown}: HTTP {status} {reason}".rstrip() + through, hint=hint)


def _stream(chunks: Iterator[bytes], dest: Path, algorithms: Collection[str], size: int | None, url: str) -> dict[str, str]:
    hashers = {alg: hashlib.new(alg) for alg in algorithms}
    written = 0
    with dest.open("wb") as out:
        for chunk in chunks:
            written += len(chunk)
            if size is not None and written > size:
                raise NetworkError(f"{redact(urldefrag(url).url)} is larger than the {size} bytes the index or lock gives for it; "
                                   "refusing to read more", hint="the server sends another file than the one listed; report it to the index")
            if size is None and written > MAX_UNSIZED_DOWNLOAD:
                raise NetworkError(f"{redact(urldefrag(url).url)} is larger than {MAX_UNSIZED_DOWNLOAD >> 30} GiB and the index "
                                   "gives no size for it; refusing to read more",
                                   hint="the server sends an endless file; report it to the index")
            out.write(chunk)
            for h in hashers.values():
                h.update(chunk)
    return {alg: h.hexdigest() for alg, h in hashers.items()}


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
