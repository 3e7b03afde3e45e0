"""Running network-bound work on threads that never hold up the program's exit.

Downloads and metadata reads are network-bound, so threads overlap them. A worker can sit
in a stalled request for the whole timeout, and Python cannot interrupt it (only the main
thread receives Ctrl-C), so the workers here are daemon threads: on Ctrl-C the main thread
cancels what is queued and exits at once, instead of joining a worker that is still
waiting on a server (as ``ThreadPoolExecutor``'s workers are joined at exit). A worker
abandoned that way loses nothing: its result was going to be discarded, and every file
satlock writes is replaced atomically (``satlock.atomic``), never left half-written.
"""

from __future__ import annotations

import threading
from concurrent.futures import Executor, Future
from queue import SimpleQueue
from typing import Any, Callable, Iterable, TypeVar

_T = TypeVar("_T")
_R = TypeVar("_R")

_Job = tuple["Future[Any]", Callable[..., Any], tuple[Any, ...], dict[str, Any]]


class WorkerPool(Executor):
    """A thread pool of daemon threads, started as work arrives (at most ``max_workers``)."""

    def __init__(self, max_workers: int, name: str = "satlock-worker") -> None:
        self._max_workers = max(1, max_workers)
        self._name = name
        self._queue: SimpleQueue[_Job | None] = SimpleQueue()
        self._idle = threading.Semaphore(0)
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._closed = False

    def submit(self, fn: Callable[..., _R], /, *args: Any, **kwargs: Any) -> Future[_R]:
        with self._lock:
            if self._closed:
                raise RuntimeError("submit after the pool was shut down")
            future: Future[_R] = Future()
            self._queue.put((future, fn, args, kwargs))
            if not self._idle.acquire(blocking=False) and len(self._threads) < self._max_workers:
                thread = threading.Thread(target=self._work, name=f"{self._name}-{len(self._threads)}", daemon=True)
                thread.start()
                self._threads.append(thread)
            return future

    def _work(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            future, fn, args, kwargs = job
            if future.set_running_or_notify_cancel():
                try:
                    result = fn(*args, **kwargs)
                except BaseException as exc:  # handed to whoever waits on the future
                    future.set_exception(exc)
                else:
                    future.set_result(result)
            del job, future
            self._idle.release()

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Stop taking work; ``cancel_futures`` drops what is queued, ``wait`` joins the workers."""
        with self._lock:
            self._closed = True
            if cancel_futures:
                while not self._queue.empty():
                    job = self._queue.get_nowait()
                    if job is not None:
                        job[0].cancel()
            for _ in self._threads:
                self._queue.put(None)
            threads = list(self._threads)
        if wait:
            for thread in threads:
                thread.join()


def fetch_many(fn: Callable[[_T], _R], items: Iterable[_T], max_workers: int = 16) -> list[_R]:
    """``[fn(x) for x in items]`` on a thread pool, in order; the first error is raised.

    The pool lives only for the call. On an error the call waits for the other items
    already running; on Ctrl-C it does not (see the module docstring).
    """
    items = list(items)
    if len(items) <= 1:
        return [fn(x) for x in items]
    pool = WorkerPool(max_workers=min(max_workers, len(items)))
    interrupted = False
    try:
        return list(pool.map(fn, items))
    except KeyboardInterrupt:
        interrupted = True
        raise
    finally:
        pool.shutdown(wait=not interrupted, cancel_futures=True)
