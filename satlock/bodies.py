"""Reading an answer's body: it may take as long as it keeps coming, and no longer.

The headers are held to the request's deadline (``connections.watch_headers``); a body is
held to a rate instead: each ``timeout`` seconds must bring ``MIN_BYTES_PER_SECOND`` on
average (as curl's --speed-limit / --speed-time). Checking the clock between reads is not
enough to hold a server to that: one read can block inside urllib3 for as long as the
server keeps a byte coming now and then, and a gzip body of empty deflate blocks has
urllib3 read on forever without returning a byte. So the watchdog that ends the wait for
headers also shuts a body's socket down once its window passes without enough bytes.
"""

from __future__ import annotations

import threading
import time
from contextlib import closing
from typing import TYPE_CHECKING, Iterator

from urllib3.exceptions import HTTPError

from satlock.connections import DeadlineExceeded

if TYPE_CHECKING:
    import urllib3

    from satlock.connections import Watchdog

__all__ = ["CHUNK", "DISCARD_LIMIT", "MIN_BYTES_PER_SECOND", "body_chunks", "discard"]

CHUNK = 1 << 20
# The slowest body that is not a trickle, averaged over each timeout's worth of seconds: a
# slow line gives far more, a stalling server less.
MIN_BYTES_PER_SECOND = 1024
# The longest body nobody reads (a redirect's, an error's) that is read to its end so that its
# connection serves the next request; a longer one closes the connection instead.
DISCARD_LIMIT = 64 << 10


class _Window:
    """The deadline of a body's current window, enforced by the watchdog: past it, the
    connection's socket is shut down, wherever the reading thread is blocked."""

    def __init__(self, resp: urllib3.BaseHTTPResponse, deadline: float, watchdog: Watchdog) -> None:
        self.deadline = deadline  # moved on by the reader as bytes come; read by the watchdog
        self.expired = False
        self._resp = resp
        self._watchdog = watchdog
        self._lock = threading.Lock()
        self._done = False
        self._token = watchdog.watch(deadline, self._expire)

    def _expire(self) -> None:
        """Called by the watchdog thread: re-armed once per window that moved on, not once
        per chunk, so a fast download does not fill the watchdog's heap."""
        with self._lock:
            if self._done:
                return
            if time.monotonic() < self.deadline:
                self._token = self._watchdog.watch(self.deadline, self._expire)
                return
            self.expired = True
            try:
                # The response's own socket: once the headers said "Connection: close",
                # http.client has let go of it, and the connection's ``sock`` is None.
                self._resp.shutdown()
            except (OSError, ValueError, RuntimeError):
                pass  # closed already, or released to the pool: nothing is read from it any more

    def stop(self) -> None:
        """The body is read (or given up on): the connection may go back to the pool, so the
        watchdog must not touch its socket any more."""
        with self._lock:
            self._done = True
            self._watchdog.cancel(self._token)


def body_chunks(resp: urllib3.BaseHTTPResponse, timeout: float, decode: bool, watchdog: Watchdog,
                until: float | None = None) -> Iterator[bytes]:
    """The body as it arrives: each ``timeout`` seconds, from the headers' arrival on, must
    bring ``MIN_BYTES_PER_SECOND`` on average, or it stops there with ``DeadlineExceeded``;
    so it does at ``until`` (a ``time.monotonic()`` value), when given, however it comes.

    A body that keeps coming may take as long as it needs: a 2 GB torch wheel takes minutes
    on a home line. How much a body may grow is bounded by the caller (``max_bytes``, the
    file's size). Decoded (gzip and the like) only when ``decode``, a chunk at a time.
    Close the generator when done with it (``_send`` does): that releases the watchdog.
    """
    def window_end() -> float:
        end = time.monotonic() + timeout
        return end if until is None else min(end, until)

    due = max(1, int(timeout * MIN_BYTES_PER_SECOND))
    arrived = 0
    window = _Window(resp, window_end(), watchdog)
    try:
        while True:
            try:
                chunk = resp.read1(CHUNK, decode_content=decode)
            except HTTPError:
                if window.expired:
                    raise DeadlineExceeded() from None
                raise
            arrived += len(chunk)
            if chunk and arrived >= due:
                window.deadline = window_end()
                arrived = 0
            if window.expired or time.monotonic() > window.deadline:
                # Cut by the watchdog: an end seen now is the socket shut down, not the body's end.
                raise DeadlineExceeded()
            if not chunk:
                return
            yield chunk
    finally:
        window.stop()


def discard(resp: urllib3.BaseHTTPResponse, until: float, timeout: float, watchdog: Watchdog) -> None:
    """Be done with the body of an answer nobody reads (a redirect, an error): read to its end
    when it ends within ``DISCARD_LIMIT`` bytes and by ``until``, so that its connection can
    serve the next request; else the connection is closed. urllib3's ``drain_conn`` reads on
    for as long as the server sends, outside every deadline: a redirect or a 503 with an
    endless body held a request for as long as the server liked."""
    read = 0
    try:
        with closing(body_chunks(resp, timeout, False, watchdog, until)) as chunks:
            for chunk in chunks:
                read += len(chunk)
                if read > DISCARD_LIMIT:
                    break
            else:
                return
    except (HTTPError, DeadlineExceeded):
        pass
    resp.close()
