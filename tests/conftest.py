import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Every test gets its own satlock cache unless it sets one itself."""
    monkeypatch.setenv("SATLOCK_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    for var in ("SATLOCK_INDEX_URL", "SATLOCK_EXTRA_INDEX_URL", "SATLOCK_FIND_LINKS"):
        monkeypatch.delenv(var, raising=False)
