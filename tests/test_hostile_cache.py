"""Cache entries changed on disk between two runs against a 127.0.0.1 index: a cached page
or candidate listing that no fetch or page parse could have written is a miss (fetched or
parsed again), never a traceback, and none of its links is followed."""

from __future__ import annotations

import hashlib
import json
import marshal
import shutil
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from indexbuilder import IndexServer, build_index, make_wheel, project_toml
from satlock.cache import Cache, _unseal
from satlock.cli.main import app
from satlock.http import HttpClient
from satlock.resolver.candidates import DistFile
from satlock.resolver.index import IndexClient
from satlock.resolver.listing import CANDIDATES
from satlock.resolver.pagecache import PAGES

runner = CliRunner()


def _lock(proj: Path, cache: Path, index: str):
    (proj / "pylock.toml").unlink(missing_ok=True)
    return runner.invoke(app, ["lock", "--project", str(proj), "--index-url", index, "--cache-dir", str(cache)])


@pytest.fixture()
def setup(tmp_path):
    """A project needing foo, an index of foo 1.0 served on 127.0.0.1, and a warm cache."""
    wheel = make_wheel(tmp_path / "dists", "foo", "1.0")
    root = tmp_path / "index"
    build_index(root, [wheel], formats=("json",))
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "pyproject.toml").write_text(project_toml(["foo"]))
    cache = tmp_path / "cache"
    # A copy of the wheel on this machine, where a changed link could point.
    local = tmp_path / "elsewhere" / wheel.name
    local.parent.mkdir()
    shutil.copy(wheel, local)
    with IndexServer(root) as srv:
        index = srv.url + "/simple"
        first = _lock(proj, cache, index)
        assert first.exit_code == 0, first.output
        yield proj, cache, index, local


def _lock_urls(proj: Path) -> list[str]:
    [pkg] = tomllib.loads((proj / "pylock.toml").read_text())["packages"]
    return [w["url"] for w in pkg["wheels"]]


def _change_rows(cache: Path, change) -> None:
    [entry] = (cache / CANDIDATES).iterdir()
    versions, excluded = marshal.loads(_unseal(entry.read_bytes()))
    versions = [(v, [change(row) for row in rows]) for v, rows in versions]
    Cache(cache).write_sealed(CANDIDATES, entry.name, marshal.dumps((versions, excluded)))


@pytest.mark.parametrize("link", ["file", "javascript", "index"])
def test_a_cached_listing_whose_link_was_changed_is_a_miss(setup, link):
    proj, cache, index, local = setup
    served = _lock_urls(proj)

    def change(row: tuple) -> tuple:
        if link == "file":
            return (row[0], local.as_uri(), *row[2:])
        if link == "javascript":
            return (row[0], "javascript:alert(1)", *row[2:])
        # A local index may link local files: the row claims to come from one.
        return (row[0], local.as_uri(), *row[2:8], local.parent.as_uri() + "/")

    _change_rows(cache, change)
    result = _lock(proj, cache, index)
    assert result.exit_code == 0, result.output
    assert _lock_urls(proj) == served


@pytest.mark.parametrize("other", [("bar", "1.0"), ("foo", "2.0")])
def test_a_cached_listing_naming_a_file_of_another_project_or_version_is_one_error_that_says_how_to_recover(
        tmp_path, other):
    """The row keeps the other file's true link and hash, so only its name gives it away:
    checking every cached row's name cost a warm lock of the large set about 50 ms, so the lock's
    own validation catches it, and says the cache may have been changed, not "a bug"."""
    root = tmp_path / "index"
    build_index(root, [make_wheel(tmp_path / "d", "foo", "1.0"), make_wheel(tmp_path / "d", "foo", "2.0"),
                       make_wheel(tmp_path / "d", "bar", "1.0")], formats=("json",))
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "pyproject.toml").write_text(project_toml(["foo==1.0", "bar"]))
    cache = tmp_path / "cache"
    with IndexServer(root) as srv:
        index = srv.url + "/simple"
        assert _lock(proj, cache, index).exit_code == 0
        entries = {}
        for entry in (cache / CANDIDATES).iterdir():
            versions, excluded = marshal.loads(_unseal(entry.read_bytes()))
            entries[versions[0][1][0][0].split("-")[0]] = (entry, versions, excluded)
        rows = {(row[0].split("-")[0], v): row for _, versions, _ in entries.values() for v, rs in versions for row in rs}
        entry, versions, excluded = entries["foo"]
        swapped = [(v, [rows[other] if v == "1.0" else row for row in rs]) for v, rs in versions]
        Cache(cache).write_sealed(CANDIDATES, entry.name, marshal.dumps((swapped, excluded)))
        result = _lock(proj, cache, index)
        assert result.exit_code == 1, result.output
        assert "Traceback" not in result.output and not (proj / "pylock.toml").exists()
        [error] = [line for line in result.output.splitlines() if line.startswith("error:")]
        assert "a cached listing may have been changed" in error and "bug" not in error
        assert "--no-cache" in result.output
        fresh = runner.invoke(app, ["lock", "--project", str(proj), "--index-url", index, "--no-cache"])
    assert fresh.exit_code == 0, fresh.output
    [foo] = [p for p in tomllib.loads((proj / "pylock.toml").read_text())["packages"] if p["name"] == "foo"]
    assert [w["name"] for w in foo["wheels"]] == ["foo-1.0-py3-none-any.whl"]


def _change_page(cache: Path, head_change, body: bytes | None = None) -> None:
    [entry] = (cache / PAGES).iterdir()
    head, _, old_body = entry.read_bytes().partition(b"\n")
    body = old_body if body is None else body
    head = {**json.loads(head), "sha256": hashlib.sha256(body).hexdigest()}
    head_change(head)
    entry.write_bytes(json.dumps(head).encode() + b"\n" + body)
    shutil.rmtree(cache / CANDIDATES)


def test_a_cached_page_that_says_it_came_from_this_machine_is_a_miss(setup):
    proj, cache, index, local = setup
    served = _lock_urls(proj)
    body = json.dumps({"meta": {"api-version": "1.1"}, "files": [
        {"filename": local.name, "url": local.as_uri(), "hashes": {}}]}).encode()
    _change_page(cache, lambda head: head.update(url=local.parent.as_uri() + "/"), body)
    result = _lock(proj, cache, index)
    assert result.exit_code == 0, result.output
    assert _lock_urls(proj) == served


@pytest.mark.parametrize("change", [
    {"headers": {"content-type": 5}},
    {"headers": {"content-type": "application/vnd.pypi.simple.v1+json", "cache-control": 5}},
    {"headers": {"content-type": "application/vnd.pypi.simple.v1+json", "etag": ["x"]}, "fetched_at": 0},
    {"headers": {"Content-Type": "application/vnd.pypi.simple.v1+json"}},
    {"headers": [["content-type", "application/vnd.pypi.simple.v1+json"]]},
    {"fetched_at": 10**400},
    {"fetched_at": "soon"},
    {"status": True},
    {"status": "200"},
    {"status": 302},
    {"url": 5},
], ids=lambda change: json.dumps(change)[:60])
def test_a_cached_page_header_of_the_wrong_shape_is_a_miss(setup, change):
    proj, cache, index, _ = setup
    served = _lock_urls(proj)
    _change_page(cache, lambda head: head.update(change))
    result = _lock(proj, cache, index)
    assert result.exit_code == 0, result.output
    assert _lock_urls(proj) == served


def test_a_cached_link_to_a_host_no_longer_allowed_plain_http_is_refused(tmp_path):
    files = [DistFile("foo-1.0.tar.gz", "http://mirror.internal/f/foo-1.0.tar.gz", index="https://h/simple/")]
    allowed = IndexClient(index_url="https://h/simple", cache=Cache(tmp_path),
                          http=HttpClient(allow_insecure_hosts=["mirror.internal"]))
    now = IndexClient(index_url="https://h/simple", cache=Cache(tmp_path), http=HttpClient())
    assert allowed.may_link(files)
    assert not now.may_link(files)


def test_a_cached_find_links_file_must_be_one_in_the_folders(tmp_path):
    folder = tmp_path / "wheels"
    folder.mkdir()
    (folder / "foo-1.0.tar.gz").write_bytes(b"x")
    client = IndexClient(index_url="https://h/simple", find_links=[str(folder)], cache=Cache(tmp_path / "c"), http=HttpClient())
    assert client.may_link([DistFile("foo-1.0.tar.gz", (folder / "foo-1.0.tar.gz").as_uri())])
    assert not client.may_link([DistFile("foo-1.0.tar.gz", (tmp_path / "foo-1.0.tar.gz").as_uri())])
    assert not client.may_link([DistFile("foo-1.0.tar.gz", "https://h/foo-1.0.tar.gz", index="https://other/simple/")])
