"""A satlock command runs with the collector's young-generation pass every 50,000
allocations instead of every 700 (``satlock/collector.py``): the command's large, acyclic
structures are not walked again and again while they are built, and cycles are still
reclaimed."""

from __future__ import annotations

import json
import subprocess
import sys

_RUN = ("import gc, json, sys\n"
        "sys.argv = ['satlock', '--help']\n"
        "from satlock.cli.entry import main\n"
        "main()\n"
        "class Loop:\n    pass\n"
        "loop = Loop(); loop.me = loop; del loop\n"
        "found = gc.collect(0)\n"
        "print('\\nGC=' + json.dumps([gc.get_threshold(), gc.isenabled(), found]))\n")


def test_the_console_script_sets_a_slow_young_pace_and_cycles_are_still_collected():
    out = subprocess.run([sys.executable, "-c", _RUN], capture_output=True, text=True, check=True).stdout
    threshold, enabled, found = json.loads(out.rpartition("\nGC=")[2])
    assert threshold[0] == 50_000 and enabled
    assert found >= 1
