"""A build environment's solve fetches ahead only what its requirements let it pick.

The project's lock guesses each name's version by the project's own specifiers before
the solver asks (``Speculation``). A build environment's solve guessed every name as
unconstrained, so ``setuptools<60`` first fetched the newest setuptools' metadata, and
the metadata of everything that newest version needs: requests for nothing, before the
build could start.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from indexbuilder import IndexServer, build_index, make_wheel

from satlock.buildenv.buildreqs import resolve_build_requirements
from satlock.cache import Cache
from satlock.errors import ResolutionError
from satlock.http import HttpClient
from satlock.resolver.index import IndexClient
from satlock.resolver.target import make_target


def test_a_build_requirements_specifier_keeps_the_metadata_of_versions_it_excludes_unfetched(tmp_path: Path) -> None:
    d = tmp_path / "d"
    build_index(tmp_path / "srv", [
        make_wheel(d, "tool", "1.0", requires=["helper"]), make_wheel(d, "tool", "2.0", requires=["newdep"]),
        make_wheel(d, "helper", "1.0"), make_wheel(d, "newdep", "1.0"),
    ], metadata_files=True)
    with IndexServer(tmp_path / "srv") as server:
        client = IndexClient(index_url=server.url + "/simple/", cache=Cache(tmp_path / "cache"), http=HttpClient())
        packages = resolve_build_requirements(client, make_target(), "pkg", ["tool<2"], pins={})
    assert sorted((c.name, str(c.version)) for c, _ in packages) == [("helper", "1.0"), ("tool", "1.0")]
    metadata = sorted(p.rsplit("/", 1)[-1] for _, p, _ in server.requests if p.endswith(".metadata"))
    assert metadata == ["helper-1.0-py3-none-any.whl.metadata", "tool-1.0-py3-none-any.whl.metadata"]


def test_a_build_requirement_no_version_satisfies_fails_without_reading_a_pre_release_nobody_asked_for(tmp_path: Path) -> None:
    # With nothing accepted, the guess falls back to what an unconstrained requirement takes
    # (the newest final release), as the build environment's solve guessed before it was
    # guided; not to a newer pre-release and the dependencies only that pre-release has.
    d = tmp_path / "d"
    build_index(tmp_path / "srv", [
        make_wheel(d, "tool", "1.0"), make_wheel(d, "tool", "2.0"), make_wheel(d, "tool", "2.1.dev1", requires=["predep"]),
        make_wheel(d, "predep", "1.0"),
    ], metadata_files=True)
    with IndexServer(tmp_path / "srv") as server:
        client = IndexClient(index_url=server.url + "/simple/", cache=Cache(tmp_path / "cache"), http=HttpClient())
        with pytest.raises(ResolutionError, match=r"(?s)the build environment of pkg cannot be resolved.*requires tool>3"):
            resolve_build_requirements(client, make_target(), "pkg", ["tool>3"], pins={})
    paths = [p for _, p, _ in server.requests]
    assert not [p for p in paths if "predep" in p or "2.1.dev1" in p]
