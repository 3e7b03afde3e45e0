"""The default index is pypi-simple's constant, and finding it out does not import
pypi-simple (its HTTP stack and HTML parser), not even with an empty cache."""

from __future__ import annotations

import subprocess
import sys

from satlock.cache import Cache
from satlock.resolver.settings import _assigned_string, default_index_url

PROBE = """
import sys
from pathlib import Path
from satlock.cache import Cache
from satlock.resolver.settings import default_index_url
cache = Cache(Path(sys.argv[1]))
print(default_index_url(cache), default_index_url(cache), "pypi_simple" in sys.modules)
"""


def test_default_index_with_an_empty_cache_is_the_library_constant_without_importing_it(tmp_path):
    from pypi_simple import PYPI_SIMPLE_ENDPOINT

    out = subprocess.run([sys.executable, "-c", PROBE, str(tmp_path / "cache")], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == [PYPI_SIMPLE_ENDPOINT, PYPI_SIMPLE_ENDPOINT, "False"]


def test_constant_assigned_other_than_as_a_literal_is_found_by_importing(tmp_path, monkeypatch):
    (tmp_path / "constmod_a.py").write_text('X = "first"\nX = "https://second/"\n')
    (tmp_path / "constmod_b.py").write_text('X: str = "lit"\nX = "".join(["https://", "built/"])\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    assert _assigned_string("constmod_a", "X") == "https://second/"
    assert _assigned_string("constmod_b", "X") is None
    assert _assigned_string("constmod_b", "Y") is None
    assert _assigned_string("no_such_module_here", "X") is None


def test_default_index_is_read_from_the_cache_once_known(tmp_path):
    cache = Cache(tmp_path)
    first = default_index_url(cache)
    assert default_index_url(cache) == first
