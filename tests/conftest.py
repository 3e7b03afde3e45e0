import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch, request):
    """Every test gets its own satlock cache unless it sets one itself, and talks to its
    local servers directly: a machine's proxy settings reach only the tests that need the
    real index (marked ``network``), which may need them to get out."""
    monkeypatch.setenv("SATLOCK_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    for var in ("SATLOCK_INDEX_URL", "SATLOCK_EXTRA_INDEX_URL", "SATLOCK_FIND_LINKS"):
        monkeypatch.delenv(var, raising=False)
    if request.node.get_closest_marker("network") is None:
        for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
            monkeypatch.delenv(name, raising=False)
            monkeypatch.delenv(name.upper(), raising=False)
