"""urllib3 connections held to one deadline per answer, and the words for what went wrong.

A socket timeout bounds each read, not the answer: a server trickling its headers or its
body a byte at a time would hold a request for hours. Here the wait for the headers ends
at the request's deadline (one watchdog thread shuts the socket down), and the body is read
in chunks that stop at it. ``failure_reason`` turns urllib3's exceptions into the few
words a ``NetworkError`` gives the user.
"""

from __future__ import annotations

import heapq
import itertools
import socket
import ssl
import threading
import time
from contextlib import contextmanager
from typing import Callable, Iterator

import urllib3
import urllib3.connection
from urllib3.exceptions import (
    ConnectTimeoutError,
    MaxRetryError,
    NameResolutionError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
    SSLError,
)

__all__ = ["CHUNK", "Retryable", "DeadlineExceeded", "Watchdog", "HTTPPool", "HTTPSPool", "body_chunks", "failure_reason",
           "is_certificate_problem", "watch_headers"]

CHUNK = 1 << 20


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


def failure_reason(exc: BaseException, timeout: float) -> str:
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
    if isinstance(exc, (ReadTimeoutError, ConnectTimeoutError, TimeoutError, DeadlineExceeded)):
        return f"timed out after {timeout:g}s"
    if isinstance(exc, SSLError):
        return f"TLS error ({exc})"
    if isinstance(exc, ProtocolError):
        return "connection dropped"
    return type(exc).__name__ + (f" ({exc})" if str(exc) else "")


class Retryable(Exception):
    """A 5xx answer: worth another try."""


class DeadlineExceeded(Exception):
    """The whole answer did not arrive within the timeout (a server trickling bytes)."""


_deadline = threading.local()


@contextmanager
def watch_headers(deadline: float, watchdog: Watchdog) -> Iterator[None]:
    """Requests made by this thread inside the block wait for their headers until ``deadline`` at most."""
    _deadline.watch = (deadline, watchdog)
    try:
        yield
    finally:
        _deadline.watch = None


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
        watch: tuple[float, Watchdog] | None = getattr(_deadline, "watch", None)
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


class HTTPPool(urllib3.HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class HTTPSPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


def body_chunks(resp: urllib3.BaseHTTPResponse, deadline: float, decode: bool) -> Iterator[bytes]:
    """The body as it arrives, stopping at ``deadline``: the timeout bounds the whole answer,
    not each read, so a server sending one byte a second cannot hold a request for hours.
    Decoded (gzip and the like) only when ``decode``, a chunk at a time."""
    while True:
        if time.monotonic() > deadline:
            raise DeadlineExceeded()
        chunk = resp.read1(CHUNK, decode_content=decode)
        if not chunk:
            return
        yield chunk

