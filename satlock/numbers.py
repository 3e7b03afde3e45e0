"""Numbers longer than Python turns into an int: found in untrusted text before it is parsed.

Python refuses to convert a string of more than ``sys.get_int_max_str_digits()`` digits
(4300 by default) to an int, a guard against the quadratic time that takes. packaging
converts a version's numbers with ``int``, so a version, specifier or marker holding such
a number raises a plain ``ValueError``, and for a specifier or a marker only when it is
first compared, deep inside a solve; tomllib does the same for an integer. No real version
has such a number, so a file holding one is refused where it is read, naming the line.
"""

from __future__ import annotations

import functools
import re
import sys


def overlong_number_line(text: str) -> int | None:
    """The line (from 1) where ``text`` first holds a number too long for ``int``, or None."""
    limit = sys.get_int_max_str_digits()
    if not limit:
        return None
    found = _overlong(limit).search(text)
    return None if found is None else text.count("\n", 0, found.start()) + 1


def overlong_number_reason() -> str:
    """What is wrong with such a number, for an error message."""
    return f"a number of more than {sys.get_int_max_str_digits()} digits, which no version, specifier or marker can hold"


@functools.lru_cache(maxsize=4)
def _overlong(limit: int) -> re.Pattern[str]:
    # Matched only where a run of digits starts, so a long run is scanned once, not once per digit.
    return re.compile(r"(?<![0-9])[0-9]{%d}" % (limit + 1))
