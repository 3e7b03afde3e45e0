"""The file lock that keeps two satlock processes from filling one cache entry or installing
into one .venv at once (satlock/mutex.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from satlock.mutex import FileLock, Held

_HOLD = ("import sys, time\n"
         "from satlock.mutex import FileLock\n"
         "lock = FileLock(sys.argv[1]); lock.acquire()\n"
         "print('held', flush=True)\n"
         "time.sleep(float(sys.argv[2]))\n")


_HOLD_UNTIL_TOLD = ("import sys\n"
                    "from satlock.mutex import FileLock\n"
                    "lock = FileLock(sys.argv[1]); lock.acquire()\n"
                    "print('held', flush=True)\n"
                    "sys.stdin.read()\n")


def _holder(path: Path, seconds: float) -> subprocess.Popen[str]:
    """Another process that takes the lock on ``path`` and keeps it ``seconds``."""
    proc = subprocess.Popen([sys.executable, "-c", _HOLD, str(path), str(seconds)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_a_lock_held_by_another_process_is_refused_at_once_with_no_wait(tmp_path: Path) -> None:
    path = tmp_path / "x.lock"
    holder = _holder(path, 30)
    try:
        started = time.monotonic()
        with pytest.raises(Held):
            FileLock(path, timeout=0).acquire()
        assert time.monotonic() - started < 1
        with pytest.raises(Held):
            FileLock(path).acquire(timeout=0.3)
    finally:
        holder.kill()
        holder.wait()


def test_a_lock_is_free_again_once_the_process_holding_it_is_killed(tmp_path: Path) -> None:
    path = tmp_path / "x.lock"
    holder = _holder(path, 30)
    holder.kill()
    holder.wait()
    with FileLock(path, timeout=0) as lock:
        assert lock.is_locked
    assert not lock.is_locked


def test_a_waiting_acquire_gets_the_lock_when_the_holder_lets_go(tmp_path: Path) -> None:
    """The holder lets go when told, not after a fixed time: a test process held up more
    than the holder's sleep (a busy machine running the suite on every core) found the lock
    free and failed its ``>= 0.2 s`` of waiting."""
    path = tmp_path / "x.lock"
    holder = subprocess.Popen([sys.executable, "-c", _HOLD_UNTIL_TOLD, str(path)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdin is not None and holder.stdout is not None and holder.stdout.readline().strip() == "held"
    got = threading.Event()

    def take() -> None:
        with FileLock(path):
            got.set()

    threading.Thread(target=take, daemon=True).start()
    try:
        assert not got.wait(0.3), "taken while another process held it"
        holder.stdin.close()
        assert got.wait(30)
    finally:
        holder.kill()
        holder.wait()


def test_two_locks_on_one_file_exclude_each_other_within_one_process(tmp_path: Path) -> None:
    path = tmp_path / "x.lock"
    first = FileLock(path)
    first.acquire()
    with pytest.raises(Held):
        FileLock(path, timeout=0).acquire()
    got = threading.Event()

    def take() -> None:
        with FileLock(path):
            got.set()

    worker = threading.Thread(target=take)
    worker.start()
    assert not got.wait(0.3)
    first.release()
    assert got.wait(10)
    worker.join()


def test_one_lock_taken_twice_is_held_until_released_twice(tmp_path: Path) -> None:
    path = tmp_path / "x.lock"
    lock = FileLock(path)
    with lock:
        with lock:
            pass
        with pytest.raises(Held):
            FileLock(path, timeout=0).acquire()
    FileLock(path, timeout=0).acquire()


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_link_or_fifo_planted_in_place_of_a_lock_file_is_an_error_not_a_write_elsewhere_or_a_hang(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    link = tmp_path / "link.lock"
    link.symlink_to(victim)
    with pytest.raises(OSError):
        FileLock(link, timeout=0).acquire()
    assert not victim.exists()
    fifo = tmp_path / "fifo.lock"
    os.mkfifo(fifo)
    done = threading.Event()

    def take() -> None:
        try:
            with FileLock(fifo, timeout=0):
                pass
        except OSError:
            pass
        done.set()

    threading.Thread(target=take, daemon=True).start()
    assert done.wait(10), "a FIFO in place of the lock file held the lock forever"


def test_a_lock_file_that_cannot_be_opened_raises_the_callers_error_in_place_of_the_oserror(tmp_path: Path) -> None:
    folder = tmp_path / "x.lock"
    folder.mkdir()

    class Refused(Exception):
        pass

    with pytest.raises(Refused, match="Is a directory"):
        FileLock(folder, unusable=lambda exc: Refused(exc.strerror)).acquire()
    with pytest.raises(IsADirectoryError):
        FileLock(folder).acquire()


def test_a_thread_asking_again_without_limit_for_a_lock_it_holds_is_told_not_left_waiting_on_itself(tmp_path: Path) -> None:
    from satlock.mutex import WouldDeadlock

    path = tmp_path / "x.lock"
    with FileLock(path):
        with pytest.raises(WouldDeadlock):
            FileLock(path).acquire()
        with pytest.raises(Held):
            FileLock(path).acquire(timeout=0.1)
    with FileLock(path):  # released: free again for this thread
        pass
