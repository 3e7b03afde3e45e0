"""A build environment that cannot take the runtime versions says which of them it refuses.

The solve loop blocks "not built yet" under just those versions (resolver/variants.py): a
refusal said to rest on every version the build environment read, or on the whole runtime,
made the search ask for the same refused environment under each combination of versions
that had nothing to do with it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from indexbuilder import IndexServer, build_index, make_wheel
from packaging.version import Version

from satlock.buildenv.buildreqs import BuildEnvConflict, resolve_build_requirements
from satlock.cache import Cache
from satlock.http import HttpClient
from satlock.resolver.index import IndexClient
from satlock.resolver.target import make_target


def test_a_refused_build_environment_rests_on_the_packages_of_its_conflict_not_on_all_it_read(tmp_path: Path) -> None:
    # tool 2.0 needs helper (read, pinned, fine) and a package no index has: the refusal is
    # about tool's pin alone, whatever helper's version.
    d = tmp_path / "d"
    build_index(tmp_path / "srv", [
        make_wheel(d, "tool", "1.0"), make_wheel(d, "tool", "2.0", requires=["helper", "nowhere"]),
        make_wheel(d, "helper", "1.0"), make_wheel(d, "helper", "2.0"), make_wheel(d, "other", "1.0"),
    ], metadata_files=True)
    with IndexServer(tmp_path / "srv") as server:
        client = IndexClient(index_url=server.url + "/simple/", cache=Cache(tmp_path / "cache"), http=HttpClient())
        with pytest.raises(BuildEnvConflict) as caught:
            resolve_build_requirements(client, make_target(), "pkg", ["tool"],
                                       pins={"tool": Version("2.0"), "helper": Version("1.0"), "other": Version("1.0")})
    assert caught.value.names is not None
    assert "tool" in caught.value.names
    assert not caught.value.names & {"helper", "other"}
    assert "the build environment of pkg cannot be resolved" in caught.value.message
