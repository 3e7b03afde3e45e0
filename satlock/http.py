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
import heapq
import ipaddress
import itertools
import re
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Collection, Iterator, Mapping, TypeVar
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit
from urllib.request import url2pathname

import urllib3
import urllib3.connection
from urllib3.util.ssl_ import create_urllib3_context
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    MaxRetryError,
    NameResolutionError,
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


# Up to the last "@" before the path: a password may hold an unquoted "@" or space.
_USERINFO = re.compile(r"(?<=://)[^/?#\r\n\t'\"<>]*@")


def redact(text: str) -> str:
    """``text`` with the ``user:password@`` of every URL in it replaced by ``****@``.

    The one redaction used for every message, log line and debug output: it works on
    text rather than on a parsed URL, so a URL too broken to parse (the very case an
    "invalid index URL" error reports) and a git error quoting its remote are redacted too.
    """
    return _USERINFO.sub("****@", text)


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
    if scheme == "https" or _plain_http_allowed(host, port, allow_insecure_hosts):
        return
    raise ConfigError(
        f"refusing plain http index URL {shown!r}: packages fetched over http can be replaced in transit",
        hint=f"use https, or if you trust the network add {host!r} to allow-insecure-host",
    )


def _plain_http_allowed(host: str, port: int | None, allow_insecure_hosts: Collection[str]) -> bool:
    """The http rule: plain http only to this machine or a host the user allowed (``host`` or ``host:port``)."""
    allowed = {h.lower() for h in allow_insecure_hosts}
    return is_loopback(host) or host.lower() in allowed or (port is not None and f"{host}:{port}".lower() in allowed)


def remote_link_refusal(url: str, allow_insecure_hosts: Collection[str] = ()) -> str | None:
    """Why ``url``, met on a remote page or in a redirect, may not be fetched; ``None`` if it may.

    A remote server chooses these URLs, so they are held to the rule for configured index
    URLs and no further: ``https``, or plain ``http`` to loopback or an allowed insecure
    host. ``file://`` (a remote page naming a file on this machine) is never allowed.
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "it is not a valid URL"
    scheme = parts.scheme.lower()
    if scheme == "https" and host:
        return None
    if scheme != "http" or not host:
        return f"a remote index may only link https:// files, not {scheme or 'relative'}:// ones"
    if _plain_http_allowed(host, port, allow_insecure_hosts):
        return None
    return f"plain http to {host} is not allowed (add it to allow-insecure-host if you trust the network)"


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


def _is_certificate_problem(exc: BaseException) -> bool:
    """A certificate that does not verify, as opposed to a TLS exchange that broke off
    (an alert, a decode error, an EOF mid-handshake), which a retry may well get past."""
    seen: set[int] = set()
    todo: list[object] = [exc]
    while todo:
        e = todo.pop()
        if not isinstance(e, BaseException) or id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, ssl.SSLCertVerificationError):
            return True
        todo += [getattr(e, "reason", None), e.__cause__, e.__context__, *e.args]
    return "CERTIFICATE_VERIFY_FAILED" in str(exc)


def _reason(exc: BaseException, timeout: float) -> str:
    if isinstance(exc, MaxRetryError) and exc.reason is not None:
        exc = exc.reason
    # NewConnectionError subclasses ConnectTimeoutError: it must be told apart first, or a
    # refused connection or an unknown host would read "timed out".
    if isinstance(exc, NameResolutionError):
        return "unknown host (DNS lookup failed)"
    if isinstance(exc, NewConnectionError):
        cause = exc.__cause__ or exc.__context__
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cause, socket.gaierror):
            return "unknown host (DNS lookup failed)"
        if not isinstance(cause, (TimeoutError, socket.timeout)):
            return f"could not connect ({cause or exc})"
    if isinstance(exc, (ReadTimeoutError, ConnectTimeoutError, TimeoutError, _DeadlineExceeded)):
        return f"timed out after {timeout:g}s"
    if isinstance(exc, SSLError):
        return f"TLS error ({exc})"
    if isinstance(exc, ProtocolError):
        return "connection dropped"
    return type(exc).__name__ + (f" ({exc})" if str(exc) else "")


class _Retryable(Exception):
    """A 5xx answer: worth another try."""


class _DeadlineExceeded(Exception):
    """The whole answer did not arrive within the timeout (a server trickling bytes)."""


_REDIRECTS = (301, 302, 303, 307, 308)
_MAX_REDIRECTS = 10


_deadline = threading.local()


class _Watchdog:
    """One thread that calls each watched function once its deadline passes, unless cancelled first.

    Shared by every request of a client: a timer thread per request cost a thread start
    each, and under a busy GIL that start waited for the new thread to be scheduled.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int]] = []
        self._live: dict[int, Callable[[], None]] = {}
        self._count = itertools.count()
        self._thread: threading.Thread | None = None

    def watch(self, at: float, expire: Callable[[], None]) -> int:
        with self._cond:
            token = next(self._count)
            self._live[token] = expire
            heapq.heappush(self._heap, (at, token))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="satlock-http-deadlines", daemon=True)
                self._thread.start()
            self._cond.notify()
        return token

    def cancel(self, token: int) -> None:
        with self._cond:
            self._live.pop(token, None)

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._heap and self._heap[0][1] not in self._live:
                    heapq.heappop(self._heap)
                if not self._heap:
                    self._cond.wait()
                    continue
                at, token = self._heap[0]
                left = at - time.monotonic()
                if left > 0:
                    self._cond.wait(left)
                    continue
                heapq.heappop(self._heap)
                expire = self._live.pop(token)
            expire()


class _HeadersDeadline:
    """Connection mixin: the wait for the status line and headers ends at the request's deadline.

    A socket timeout bounds each read, so a server sending its headers a byte at a time
    would never trip it; the watchdog shuts the socket down instead, and ``_send`` reports
    the failure as a timeout since the deadline has passed.
    """

    sock: socket.socket | None

    def getresponse(self, *args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        watch: tuple[float, _Watchdog] | None = getattr(_deadline, "watch", None)
        if watch is None:
            return super().getresponse(*args, **kwargs)  # type: ignore[misc]
        at, watchdog = watch
        token = watchdog.watch(at, self._expire)
        try:
            return super().getresponse(*args, **kwargs)  # type: ignore[misc]
        finally:
            watchdog.cancel(token)

    def _expire(self) -> None:
        sock = self.sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _HTTPConnection(_HeadersDeadline, urllib3.connection.HTTPConnection):
    pass


class _HTTPSConnection(_HeadersDeadline, urllib3.connection.HTTPSConnection):
    pass


class _HTTPPool(urllib3.HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


def _body_chunks(resp: urllib3.BaseHTTPResponse, deadline: float, decode: bool) -> Iterator[bytes]:
    """The body as it arrives, stopping at ``deadline``: the timeout bounds the whole answer,
    not each read, so a server sending one byte a second cannot hold a request for hours.
    Decoded (gzip and the like) only when ``decode``, a chunk at a time."""
    while True:
        if time.monotonic() > deadline:
            raise _DeadlineExceeded()
        chunk = resp.read1(_CHUNK, decode_content=decode)
        if not chunk:
            return
        yield chunk


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
        self._watchdog = _Watchdog()

    @property
    def _pool(self) -> urllib3.PoolManager:
        """Made on first use, with one TLS context for every connection: loading the
        system's certificates once per connection cost more CPU than parsing the pages."""
        with self._lock:
            if self._pool_manager is None:
                context = create_urllib3_context()
                context.load_default_certs()
                self._pool_manager = urllib3.PoolManager(num_pools=32, maxsize=16, block=False, ssl_context=context)
                self._pool_manager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}
            return self._pool_manager

    def check_index_url(self, url: str) -> None:
        check_index_url(url, self.allow_insecure_hosts)

    def get(self, url: str, headers: Mapping[str, str] | None = None, *, partial: bool = False,
            max_bytes: int | None = None) -> Response:
        """The whole answer. 404 is returned (an index without the project); other 4xx raise.

        With ``partial=True`` the caller sent a ``Range`` header: if the server ignores it
        and answers 200, the body is dropped unread so a range probe never downloads a whole
        wheel; the caller sees status 200 with an empty body and falls back deliberately.
        A body longer than ``max_bytes`` is an error, read no further than that.
        """
        if urlsplit(url).scheme == "file":
            return _get_file(url, headers or {})

        def consume(resp: urllib3.BaseHTTPResponse, chunks: Iterator[bytes]) -> bytes:
            if partial and resp.status == 200:
                resp.close()
                return b""
            body = bytearray()
            for chunk in chunks:
                body += chunk
                if max_bytes is not None and len(body) > max_bytes:
                    resp.close()
                    raise NetworkError(f"{redact(url)} is larger than {max_bytes} bytes; refusing to read more",
                                       hint="the index serves an oversized answer; report it to the index")
            return bytes(body)

        answer, body = self._send(url, headers, consume)
        return replace(answer, body=body)

    def fetch_to_file(self, url: str, dest: Path, algorithms: Collection[str] = ("sha256",)) -> dict[str, str]:
        """Stream ``url`` into ``dest`` (overwritten), returning the hex digests asked for.

        A connection that drops mid-body is retried from the start, like any other failure.
        """
        def consume(resp: urllib3.BaseHTTPResponse, chunks: Iterator[bytes]) -> dict[str, str]:
            if resp.status == 404:
                resp.drain_conn()
                raise NetworkError(f"{redact(url)} not found (HTTP 404)",
                                   hint="the index lists a file it does not serve; try again later or --refresh")
            return _stream(chunks, dest, algorithms)

        if urlsplit(url).scheme == "file":
            path = url_to_path(url)
            try:
                with path.open("rb") as src:
                    return _stream(iter(lambda: src.read(_CHUNK), b""), dest, algorithms)
            except FileNotFoundError:
                raise NetworkError(f"{path} does not exist", hint="check the find-links folder or index path") from None
            except OSError as exc:
                raise NetworkError(f"cannot read {path}: {exc.strerror}") from None
        # The file's hash is over its bytes as served: they are never decoded, so a
        # Content-Encoding bomb cannot fill the disk before the hash check fails.
        return self._send(url, {"Accept-Encoding": "identity"}, consume, decode=False)[1]

    def _auth_for(self, url: str) -> tuple[str, str | None]:
        """The URL without credentials and the Authorization for its host, remembering new ones."""
        clean, auth = _split_auth(url)
        host = urlsplit(clean).netloc.lower()
        with self._lock:
            if auth:
                self._auth[host] = auth
            else:
                auth = self._auth.get(host)
        return clean, auth

    def _send(self, url: str, headers: Mapping[str, str] | None,
              consume: Callable[[urllib3.BaseHTTPResponse, Iterator[bytes]], _T],
              decode: bool = True) -> tuple[Response, _T]:
        """One GET with our retry policy; ``consume`` reads the body inside the retry loop.

        Redirects are followed here, not by urllib3, so that each hop is held to the rule
        for configured URLs (``remote_link_refusal``) and credentials only ever go to the
        host they were given for. ``timeout`` bounds each whole attempt, redirects included.
        """
        shown = redact(url)
        if self.offline:
            raise NetworkError(f"cannot fetch {shown}: satlock is offline",
                               hint="run without --offline, or run once online to fill the cache")
        clean = self._auth_for(url)[0]
        reason = ""
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            resp = None
            deadline = time.monotonic() + self.timeout
            current = clean
            try:
                for _hop in range(_MAX_REDIRECTS + 1):
                    with self._lock:
                        self.request_count += 1
                    current, auth = self._auth_for(current)
                    all_headers = {"User-Agent": USER_AGENT, **({"Authorization": auth} if auth else {}),
                                   **(headers or {})}
                    left = max(0.01, deadline - time.monotonic())
                    _deadline.watch = (deadline, self._watchdog)
                    try:
                        resp = self._pool.request("GET", current, headers=all_headers, preload_content=False,
                                                  retries=False, redirect=False,
                                                  timeout=urllib3.Timeout(connect=left, read=left))
                    finally:
                        _deadline.watch = None
                    location = resp.headers.get("location")
                    if resp.status not in _REDIRECTS or not location:
                        break
                    resp.drain_conn()
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
                    resp.drain_conn()  # an unread body would poison the pooled connection
                if resp.status >= 500:
                    raise _Retryable(f"HTTP {resp.status}")
                if resp.status >= 400 and resp.status != 404:
                    raise NetworkError(
                        f"cannot fetch {shown}: HTTP {resp.status} {resp.reason or ''}".rstrip(),
                        hint="check the credentials for this index" if resp.status in (401, 403) else None)
                result = consume(resp, _body_chunks(resp, deadline, decode))
                answer = Response(url=current, status=resp.status,
                                  headers={k.lower(): resp.headers[k] for k in resp.headers})
                return answer, result
            except (HTTPError, _Retryable, _DeadlineExceeded) as exc:
                reason = str(exc) if isinstance(exc, _Retryable) else _reason(exc, self.timeout)
                if time.monotonic() >= deadline and not isinstance(exc, _Retryable):
                    reason = f"timed out after {self.timeout:g}s"  # the deadline cut it, whatever it looked like
                if _is_certificate_problem(exc):
                    break  # a certificate problem will not fix itself on retry
            finally:
                if resp is not None:
                    resp.release_conn()
        raise NetworkError(f"cannot fetch {shown}: {reason} (tried {attempt + 1} times)",
                           hint="check the network and the index URL, or use --offline with a warm cache")


def _stream(chunks: Iterator[bytes], dest: Path, algorithms: Collection[str]) -> dict[str, str]:
    hashers = {alg: hashlib.new(alg) for alg in algorithms}
    with dest.open("wb") as out:
        for chunk in chunks:
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

