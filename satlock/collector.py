"""The cyclic garbage collector's pace for one satlock command.

A command is one short process that builds large structures with almost no reference
cycles: index pages of tens of thousands of files, candidate listings, clause sets. At
CPython's default pace (a young-generation pass every 700 net allocations, a full pass
soon after the heap has grown by a quarter) the collector walked those structures again
and again while they were being built: a cold lock of the medium benchmark set spent
about a fifth of its CPU in it, a warm one about a sixth. A young pass every 50,000
allocations still reclaims the few cycles a command makes (caught exceptions, mostly)
long before they matter, and the long-lived heap is walked rarely.
"""

from __future__ import annotations

import gc

__all__ = ["YOUNG_THRESHOLD", "pace_for_one_command"]

YOUNG_THRESHOLD = 50_000


def pace_for_one_command() -> None:
    """Set the collector's pace for the rest of this process (the console script calls it first)."""
    gc.set_threshold(YOUNG_THRESHOLD, 20, 100)
