"""urllib3 connections held to one deadline per answer, and the words for what went wrong.

A socket timeout bounds each read, not the answer: a server trickling its headers or its
body a byte at a time would hold a request for hours. Here the wait for the headers ends
at the request's deadline (one watchdog thread shuts the socket down); the body is held to
a rate by the same watchdog (``satlock.bodies``). ``failure_reason`` turns urllib3's
exceptions into the few words a ``NetworkError`` gives the user.
"""

from __future__ import annotations

import heapq
import itertools
import re
import socket
import ssl
import sys
import threading
import time
from contextlib import contextmanager
from typing import Any, Callable, Iterator

import urllib3
import urllib3.connection
from urllib3.exceptions import (
    ConnectTimeoutError,
    DecodeError,
    LocationParseError,
    MaxRetryError,
    NameResolutionError,
    NewConnectionError,
    ProtocolError,
    ProxyError,
    ReadTimeoutError,
    SSLError,
)
from urllib3.util.connection import allowed_gai_family

__all__ = ["Retryable", "DeadlineExceeded", "Lookups", "Watchdog", "HTTPPool", "HTTPSPool", "check_host", "failure_reason",
           "is_certificate_problem", "is_unparsable_host", "tunnel_refusal", "watch_headers"]


def is_certificate_problem(exc: BaseException) -> bool:
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


def tunnel_refusal(exc: BaseException) -> int | None:
    """The HTTP status a proxy refused a ``CONNECT`` with (407: it wants credentials), if
    that is what ``exc`` is: the answer will be the same on a retry."""
    if isinstance(exc, MaxRetryError) and exc.reason is not None:
        exc = exc.reason
    if not isinstance(exc, ProxyError):
        return None
    match = re.search(r"Tunnel connection failed: (\d{3})", str(exc.original_error))
    return int(match.group(1)) if match else None


def is_unparsable_host(exc: BaseException) -> bool:
    """A URL whose host cannot be parsed (``a..b``, a label over 63 characters): another
    try would fail the same way."""
    if isinstance(exc, MaxRetryError) and exc.reason is not None:
        exc = exc.reason
    return isinstance(exc, LocationParseError)


def check_host(host: str) -> None:
    """Raise ``LocationParseError`` for a host name no lookup can take (an empty label, one
    over 63 characters). Checked before a request too, not only when connecting: through a
    proxy, the proxy looks the host up, and each try would reach it and fail alike."""
    try:
        host.encode("idna")
    except UnicodeError:
        raise LocationParseError(f"'{host}', label empty or too long") from None


def failure_reason(exc: BaseException, timeout: float) -> str:
    if isinstance(exc, MaxRetryError) and exc.reason is not None:
        exc = exc.reason
    if isinstance(exc, LocationParseError):
        return f"the host name does not parse ({exc})"
    if isinstance(exc, ProxyError):
        # Connecting to the proxy, or its tunnel, failed: said as for the index, and the
        # caller names the proxy.
        inner = exc.original_error
        return failure_reason(inner, timeout) if isinstance(inner, BaseException) else "could not connect"
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
    if isinstance(exc, (ReadTimeoutError, ConnectTimeoutError, TimeoutError, DeadlineExceeded)):
        return f"timed out after {timeout:g}s"
    if isinstance(exc, SSLError):
        return f"TLS error ({exc})"
    if isinstance(exc, ProtocolError):
        return "connection dropped"
    if isinstance(exc, DecodeError):
        # urllib3's text is a tuple's repr around zlib's; the encoding is what the user can act on.
        encoding = str(exc).partition("content-encoding: ")[2].partition(",")[0] or "its Content-Encoding"
        return f"the body is not valid {encoding}: its Content-Encoding does not decode"
    return type(exc).__name__ + (f" ({exc})" if str(exc) else "")


class Retryable(Exception):
    """A 5xx answer: worth another try."""


class DeadlineExceeded(Exception):
    """The headers did not arrive within the timeout, or the body stalled (a server trickling bytes)."""


_deadline = threading.local()


@contextmanager
def watch_headers(deadline: float, watchdog: Watchdog, lookups: Lookups | None = None) -> Iterator[None]:
    """Requests made by this thread inside the block wait for their headers until ``deadline``
    at most, and find the addresses of the hosts they connect to in ``lookups``."""
    _deadline.watch = (deadline, watchdog)
    _deadline.lookups = lookups
    try:
        yield
    finally:
        _deadline.watch = None
        _deadline.lookups = None


class Lookups:
    """Each host's addresses, looked up once for all the connections a client opens to it.

    A cold lock opens a connection per worker thread to the index and to its file host,
    twenty or more, and each connection looked its host up again, most of them at the
    same moment. One lost DNS answer costs the resolver's whole retry timeout (5 s with
    glibc's defaults), and on a network that loses one lookup in forty that stalled one
    cold lock in three. Here the first connection to a host looks it up while the others
    wait for its answer. A failed lookup fails the connections that waited for it too
    (asking again in turn, each after the last, held twenty connections for twenty
    resolver timeouts), and is not remembered: the next connection asks again.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._found: dict[tuple[str, int], list[tuple[Any, ...]]] = {}
        self._pending: dict[tuple[str, int], _Lookup] = {}

    def addresses(self, host: str, port: int) -> list[tuple[Any, ...]]:
        """``socket.getaddrinfo``'s answer for a TCP connection to ``host``, as urllib3 asks it."""
        key = (host, port)
        while True:
            with self._lock:
                if key in self._found:
                    return self._found[key]
                waiting = self._pending.get(key)
                if waiting is None:
                    mine = self._pending[key] = _Lookup()
            if waiting is None:
                break
            waiting.done.wait()
            if waiting.failure is not None:
                raise socket.gaierror(*waiting.failure.args)
            # Answered, or the asker was interrupted by something else: look again.
        try:
            found = socket.getaddrinfo(host, port, allowed_gai_family(), socket.SOCK_STREAM)
        except socket.gaierror as exc:
            mine.failure = exc
            raise
        else:
            with self._lock:
                self._found[key] = found  # before the waiters wake, or they would ask again
            return found
        finally:
            with self._lock:
                del self._pending[key]
            mine.done.set()


class _Lookup:
    """One lookup in progress: the connections waiting for it, and how it failed."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.failure: socket.gaierror | None = None


def _connect_first(addresses: list[tuple[Any, ...]], timeout: object, source_address: tuple[str, int] | None,
                   socket_options: list[tuple[int, int, int | bytes]] | None) -> socket.socket:
    """A socket connected to the first of ``addresses`` that answers (urllib3's ``create_connection``
    after its lookup)."""
    error: OSError | None = None
    for family, kind, proto, _name, address in addresses:
        sock = None
        try:
            sock = socket.socket(family, kind, proto)
            for option in socket_options or ():
                sock.setsockopt(*option)
            if isinstance(timeout, (int, float)):
                sock.settimeout(timeout)
            if source_address:
                sock.bind(source_address)
            sock.connect(address)
            return sock
        except OSError as exc:
            error = exc
            if sock is not None:
                sock.close()
    raise error if error is not None else OSError("the host has no address")


class Watchdog:
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
            elif self._heap[0][1] == token:
                # Woken only when this deadline comes before the one it sleeps until: every
                # request's deadline is usually the latest, and waking the thread for each
                # one cost a thread switch per request.
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
    """Connection mixin: connecting (a proxy's tunnel and the TLS handshake included) and the
    wait for the status line and headers end at the request's deadline.

    A socket timeout bounds each read, so a server sending its headers a byte at a time
    would never trip it; the watchdog shuts the socket down instead, and ``_send`` reports
    the failure as a timeout since the deadline has passed.
    """

    sock: socket.socket | None

    def getresponse(self, *args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        with self._watched():
            return super().getresponse(*args, **kwargs)  # type: ignore[misc]

    def connect(self) -> None:
        """Held to the deadline too: through a proxy, connecting waits for the proxy's answer
        to ``CONNECT``, and a proxy trickling it held a request for minutes past the timeout."""
        with self._watched():
            super().connect()  # type: ignore[misc]

    @contextmanager
    def _watched(self) -> Iterator[None]:
        watch: tuple[float, Watchdog] | None = getattr(_deadline, "watch", None)
        if watch is None:
            yield
            return
        at, watchdog = watch
        token = watchdog.watch(at, self._expire)
        try:
            yield
        finally:
            watchdog.cancel(token)

    def _new_conn(self) -> socket.socket:
        """urllib3's connect, with the host's addresses from the client's ``Lookups``."""
        lookups: Lookups | None = getattr(_deadline, "lookups", None)
        if lookups is None:
            return super()._new_conn()  # type: ignore[misc, no-any-return]
        host = self._dns_host.strip("[]")  # type: ignore[attr-defined]
        check_host(host)
        try:
            sock = _connect_first(lookups.addresses(host, self.port), self.timeout,  # type: ignore[attr-defined]
                                  self.source_address, self.socket_options)  # type: ignore[attr-defined]
        except socket.gaierror as exc:
            raise NameResolutionError(self.host, self, exc) from exc  # type: ignore[attr-defined, arg-type]
        except TimeoutError as exc:
            raise ConnectTimeoutError(self, f"Connection to {self.host} timed out. "  # type: ignore[attr-defined]
                                            f"(connect timeout={self.timeout})") from exc  # type: ignore[attr-defined]
        except OSError as exc:
            raise NewConnectionError(self, f"Failed to establish a new connection: {exc}") from exc  # type: ignore[arg-type]
        sys.audit("http.client.connect", self, self.host, self.port)  # type: ignore[attr-defined]
        return sock

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


class HTTPPool(urllib3.HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class HTTPSPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection
