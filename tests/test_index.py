"""The index client against local indexes: pages, metadata, downloads and the cache."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from indexbuilder import Faults, IndexServer, build_index, make_sdist, make_wheel, sha256_of
from packaging.version import Version

from satlock.errors import ConfigError, HashMismatchError, IndexFormatError, MetadataError, NetworkError
from satlock.cache import Cache, default_cache_dir
from satlock.resolver.candidates import DistFile
from satlock.http import HttpClient, Response
from satlock.resolver.index import METADATA, PAGES, IndexClient, parse_project_page
from satlock.parallel import fetch_many


@pytest.fixture(scope="module")
def dists(tmp_path_factory) -> list[Path]:
    d = tmp_path_factory.mktemp("dists")
    return [
        make_wheel(d, "foo", "1.0", requires=["bar>=1"]),
        make_wheel(d, "foo", "2.0", requires=["bar>=2"], requires_python=">=3.9"),
        make_sdist(d, "foo", "2.0"),
        make_wheel(d, "bar", "1.0"),
        make_wheel(d, "bar", "2.0"),
    ]


@pytest.fixture(scope="module")
def index_root(tmp_path_factory, dists) -> Path:
    root = tmp_path_factory.mktemp("index")
    build_index(root, dists, yanked={"foo-1.0-py3-none-any.whl": "broken"},
                requires_python={"foo-2.0-py3-none-any.whl": ">=3.9"})
    return root


@pytest.fixture(scope="module")
def shared_server(index_root):
    with IndexServer(index_root) as srv:
        yield srv


@pytest.fixture
def server(shared_server):
    """The module's server with an empty request log (each test has its own cache)."""
    shared_server.requests.clear()
    return shared_server


def client(index_url: str, *, http: HttpClient | None = None, **kw) -> IndexClient:
    return IndexClient(index_url=index_url, cache=Cache(default_cache_dir()), http=http or HttpClient(retries=0), **kw)


def summary(files: list[DistFile]) -> list[tuple]:
    return sorted((f.filename, f.url, dict(f.hashes), f.requires_python, f.yanked,
                   None if f.metadata is None else dict(f.metadata)) for f in files)


def wheel_gets(srv: IndexServer, name: str) -> list[tuple[str, str | None]]:
    return [(path, rng) for method, path, rng in srv.requests if path.endswith(name)]


# -- pages --------------------------------------------------------------------------


def test_json_and_html_pages_give_the_same_files(index_root, tmp_path):
    simple = index_root / "simple"
    html_only = tmp_path / "html"
    build_index(html_only, [index_root / "files" / p.name for p in (index_root / "files").glob("*") if not p.name.endswith(".metadata")],
                yanked={"foo-1.0-py3-none-any.whl": "broken"}, requires_python={"foo-2.0-py3-none-any.whl": ">=3.9"},
                formats=("html",))
    from_json = client(simple.as_uri()).project_files("foo")
    from_html = client((html_only / "simple").as_uri()).project_files("foo")
    assert len(from_json) == 3
    strip = lambda fs: [(fn, url.rsplit("/", 1)[1], *rest) for fn, url, *rest in summary(fs)]  # noqa: E731
    assert strip(from_json) == strip(from_html)


def test_served_json_page_carries_yanked_requires_python_and_hashes(server, index_root):
    files = {f.filename: f for f in client(server.url + "/simple").project_files("Foo")}
    assert set(files) == {"foo-1.0-py3-none-any.whl", "foo-2.0-py3-none-any.whl", "foo-2.0.tar.gz"}
    old, new = files["foo-1.0-py3-none-any.whl"], files["foo-2.0-py3-none-any.whl"]
    assert old.yanked == "broken" and new.yanked is None
    assert new.requires_python == ">=3.9" and not new.python_ok(Version("3.8"))
    assert new.sha256 == sha256_of(index_root / "files" / new.filename)
    assert new.url == f"{server.url}/files/{new.filename}"
    assert new.index == server.url + "/simple/"
    assert new.metadata and files["foo-2.0.tar.gz"].metadata is None
    accept = [r for r in server.requests if r[1] == "/simple/foo/"]
    assert len(accept) == 1


def test_html_page_parses_relative_links_metadata_and_yanked_without_reason():
    body = (b'<html><head><meta name="pypi:repository-version" content="1.0"></head><body>'
            b'<a href="../../f/a-1.0-py3-none-any.whl#sha256=' + b"AB12" * 16 + b'" data-yanked="" data-requires-python="&gt;=3.8"'
            b' data-dist-info-metadata="true">a-1.0-py3-none-any.whl</a></body></html>')
    [f] = parse_project_page(Response("https://host/simple/a/", 200, {"content-type": "text/html"}, body))
    assert f.url == "https://host/f/a-1.0-py3-none-any.whl"
    assert f.hashes == {"sha256": "ab12" * 16} and f.yanked == "" and f.requires_python == ">=3.8" and f.metadata == {}


def test_project_missing_everywhere_gives_no_files(server):
    assert client(server.url + "/simple").project_files("nothing-here") == []


def test_first_index_with_the_project_hides_the_others(server, tmp_path):
    internal = build_index(tmp_path / "internal", [make_wheel(tmp_path / "d", "foo", "0.5")])
    c = client(server.url + "/simple", extra_index_urls=[internal.as_uri()])
    assert [f.filename for f in c.project_files("foo")] == ["foo-0.5-py3-none-any.whl"]
    # bar is not on the extra index, so the main index supplies it.
    assert {f.filename for f in c.project_files("bar")} == {"bar-1.0-py3-none-any.whl", "bar-2.0-py3-none-any.whl"}


def test_find_links_folder_is_merged_in(server, tmp_path):
    folder = tmp_path / "wheels"
    local = make_wheel(folder, "foo", "3.0")
    make_wheel(folder, "other", "1.0")
    files = client(server.url + "/simple", find_links=[str(folder)]).project_files("foo")
    by_name = {f.filename: f for f in files}
    assert len(files) == 4
    assert by_name[local.name].sha256 == sha256_of(local)
    assert by_name[local.name].url == local.as_uri() and by_name[local.name].index is None


def test_missing_find_links_folder_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="does-not-exist"):
        client((tmp_path / "x").as_uri(), find_links=[str(tmp_path / "does-not-exist")])


def test_html_that_is_not_a_simple_index_is_rejected(tmp_path):
    page = tmp_path / "simple" / "foo"
    page.mkdir(parents=True)
    (page / "index.html").write_text("<html><body><h1>Please log in</h1></body></html>")
    with pytest.raises(IndexFormatError, match="simple"):
        client((tmp_path / "simple").as_uri()).project_files("foo")


def test_wrong_content_type_and_bad_json_are_index_format_errors():
    with pytest.raises(IndexFormatError, match="text/plain"):
        parse_project_page(Response("https://h/simple/a/", 200, {"content-type": "text/plain"}, b"hi"))
    with pytest.raises(IndexFormatError, match="invalid JSON"):
        parse_project_page(Response("https://h/simple/a/", 200,
                                    {"content-type": "application/vnd.pypi.simple.v1+json"}, b'{"files": ['))


# -- the page cache -------------------------------------------------------------------


def test_warm_page_cache_makes_no_request(server):
    client(server.url + "/simple").project_files("foo")
    before = len(server.requests)
    again = client(server.url + "/simple").project_files("foo")
    assert len(server.requests) == before and len(again) == 3


def test_refresh_ignores_the_page_cache(server):
    client(server.url + "/simple").project_files("foo")
    before = len(server.requests)
    client(server.url + "/simple", refresh=True).project_files("foo")
    assert len(server.requests) == before + 1


def test_offline_uses_the_cache_and_names_a_package_missing_from_it(server):
    client(server.url + "/simple").project_files("foo")
    offline = client(server.url + "/simple", http=HttpClient(offline=True))
    assert len(offline.project_files("foo")) == 3
    with pytest.raises(NetworkError, match="bar.*not in the cache"):
        offline.project_files("bar")


def test_corrupt_page_cache_entry_is_refetched(server):
    c = client(server.url + "/simple")
    c.project_files("foo")
    [entry] = (default_cache_dir() / PAGES).iterdir()
    entry.write_bytes(entry.read_bytes()[:-40])
    before = len(server.requests)
    assert len(client(server.url + "/simple").project_files("foo")) == 3
    assert len(server.requests) == before + 1


def test_stale_page_is_fetched_again(server, monkeypatch):
    import satlock.resolver.pagecache as pagecache

    client(server.url + "/simple").project_files("foo")
    monkeypatch.setattr(pagecache, "DEFAULT_MAX_AGE", 0)
    client(server.url + "/simple").project_files("foo")
    assert len([r for r in server.requests if r[1] == "/simple/foo/"]) == 2


# -- core metadata --------------------------------------------------------------------


def foo2(c: IndexClient) -> DistFile:
    return next(f for f in c.project_files("foo") if f.filename == "foo-2.0-py3-none-any.whl")


def test_pep658_metadata_file_is_used_instead_of_the_wheel(server):
    c = client(server.url + "/simple")
    meta = c.core_metadata(foo2(c))
    assert b"Name: foo" in meta and b"Requires-Dist: bar>=2" in meta
    assert wheel_gets(server, ".whl") == []
    assert wheel_gets(server, ".whl.metadata") == [("/files/foo-2.0-py3-none-any.whl.metadata", None)]


def test_without_pep658_metadata_is_read_with_range_requests(dists, tmp_path):
    build_index(tmp_path, dists, metadata_files=False)
    with IndexServer(tmp_path) as srv:
        c = client(srv.url + "/simple")
        f = foo2(c)
        assert f.metadata is None
        assert b"Version: 2.0" in c.core_metadata(f)
        gets = wheel_gets(srv, ".whl")
    assert gets and all(rng is not None for _path, rng in gets)


def test_server_without_ranges_falls_back_to_a_full_download(dists, tmp_path):
    build_index(tmp_path, dists, metadata_files=False)
    with IndexServer(tmp_path, Faults(no_range=True)) as srv:
        c = client(srv.url + "/simple")
        assert b"Version: 2.0" in c.core_metadata(foo2(c))
        gets = wheel_gets(srv, ".whl")
    assert ("/files/foo-2.0-py3-none-any.whl", None) in gets


def test_wheel_with_a_large_central_directory_still_needs_only_range_requests(tmp_path):
    many = {f"big/module_with_a_rather_long_name_{i:05}.py": "" for i in range(1500)}
    big = make_wheel(tmp_path / "d", "big", "1.0", files=many)
    build_index(tmp_path / "idx", [big], metadata_files=False)
    with IndexServer(tmp_path / "idx") as srv:
        c = client(srv.url + "/simple")
        [f] = c.project_files("big")
        assert b"Name: big" in c.core_metadata(f)
        gets = wheel_gets(srv, ".whl")
    assert 2 <= len(gets) <= 3 and all(rng for _p, rng in gets)


def test_warm_metadata_cache_makes_no_request(server):
    c = client(server.url + "/simple")
    f = foo2(c)
    c.core_metadata(f)
    before = len(server.requests)
    assert b"Name: foo" in client(server.url + "/simple").core_metadata(f)
    assert len(server.requests) == before


def test_corrupt_cached_metadata_is_refetched(server):
    c = client(server.url + "/simple")
    f = foo2(c)
    c.core_metadata(f)
    (default_cache_dir() / METADATA / f.sha256).write_bytes(b"garbage without headers")
    before = len(server.requests)
    assert b"Name: foo" in c.core_metadata(f)
    assert len(server.requests) == before + 1


def test_file_index_metadata_is_read_from_the_wheel(index_root):
    c = client((index_root / "simple").as_uri())
    f = next(f for f in c.project_files("bar") if f.filename == "bar-2.0-py3-none-any.whl")
    f_no658 = DistFile(filename=f.filename, url=f.url, hashes=f.hashes)
    assert b"Version: 2.0" in c.core_metadata(f_no658)


# -- downloads ------------------------------------------------------------------------


def test_download_verifies_and_caches_the_file(server, index_root):
    c = client(server.url + "/simple")
    f = foo2(c)
    path = c.download(f)
    assert path.read_bytes() == (index_root / "files" / f.filename).read_bytes()
    before = len(server.requests)
    assert client(server.url + "/simple").download(f) == path
    assert len(server.requests) == before


def test_hash_mismatch_names_both_hashes_and_leaves_nothing_behind(server):
    c = client(server.url + "/simple")
    real = foo2(c)
    wrong = DistFile(filename=real.filename, url=real.url, hashes={"sha256": "0" * 64})
    with pytest.raises(HashMismatchError) as exc:
        c.download(wrong)
    assert "0" * 64 in str(exc.value) and real.sha256 in str(exc.value) and real.url in str(exc.value)
    assert not list((default_cache_dir() / "files-v1").rglob("*.whl"))


def test_truncated_cached_file_is_fetched_again(server):
    c = client(server.url + "/simple")
    f = foo2(c)
    path = c.download(f)
    path.write_bytes(path.read_bytes()[:100])
    again = client(server.url + "/simple").download(f)
    assert hashlib.sha256(again.read_bytes()).hexdigest() == f.sha256


def test_parallel_downloads_of_one_file_agree(server):
    c = client(server.url + "/simple")
    f = foo2(c)
    paths = fetch_many(lambda _: c.download(f), range(6))
    assert len(set(paths)) == 1 and hashlib.sha256(paths[0].read_bytes()).hexdigest() == f.sha256
    assert len(wheel_gets(server, ".whl")) >= 1


def test_find_links_file_is_copied_and_verified(tmp_path):
    folder = tmp_path / "wheels"
    local = make_wheel(folder, "foo", "3.0")
    c = client((tmp_path / "empty").as_uri(), find_links=[folder.as_uri()])
    [f] = c.project_files("foo")
    assert c.download(f).read_bytes() == local.read_bytes()
    assert b"Version: 3.0" in c.core_metadata(f)


def test_fetch_many_keeps_order():
    assert fetch_many(lambda x: x * 2, range(20), max_workers=4) == [x * 2 for x in range(20)]


def test_project_pages_can_be_fetched_from_many_threads(server):
    c = client(server.url + "/simple")
    results = fetch_many(c.project_files, ["foo", "bar", "nothing"] * 4, max_workers=8)
    assert [len(r) for r in results] == [3, 2, 0] * 4


def test_wheel_whose_metadata_names_another_version_is_rejected(tmp_path):
    real = make_wheel(tmp_path / "src", "foo", "1.0")
    folder = tmp_path / "wheels"
    folder.mkdir()
    (folder / "foo-9.0-py3-none-any.whl").write_bytes(real.read_bytes())
    c = client((tmp_path / "empty").as_uri(), find_links=[str(folder)])
    [f] = c.project_files("foo")
    with pytest.raises(MetadataError, match="foo 1.0"):
        c.core_metadata(f)
