"""The deadline watchdog (``satlock.connections.Watchdog``) fires a deadline that comes
before the one it is sleeping until, though it is woken only for such deadlines."""

from __future__ import annotations

import threading
import time

from satlock.connections import Watchdog


def test_an_earlier_deadline_added_while_the_watchdog_sleeps_on_a_later_one_fires():
    dog = Watchdog()
    late, early = threading.Event(), threading.Event()
    dog.watch(time.monotonic() + 3600, late.set)
    time.sleep(0.05)  # the thread is now asleep until the late deadline
    dog.watch(time.monotonic() + 0.05, early.set)
    assert early.wait(30)
    assert not late.is_set()


def test_a_cancelled_deadline_never_fires_and_a_later_one_still_does():
    dog = Watchdog()
    cancelled, kept = threading.Event(), threading.Event()
    token = dog.watch(time.monotonic() + 0.05, cancelled.set)
    dog.watch(time.monotonic() + 0.1, kept.set)
    dog.cancel(token)
    assert kept.wait(30)
    assert not cancelled.is_set()
