"""Direct references as a user writes them in pyproject.toml, read into what the lock records."""

from __future__ import annotations

from pathlib import Path

import pytest
from packaging.markers import default_environment

from satlock.cache import file_sha256
from satlock.errors import ConfigError
from satlock.resolver.directrefs import collect_direct, direct_reference, hash_archive
from satlock.resolver.project import load_project
from satlock.resolver.sourceurls import parse_git_url


@pytest.mark.parametrize("url, expected", [
    ("git+https://example.com/org/repo", ("https://example.com/org/repo", None, None)),
    ("git+https://example.com/org/repo@v1.0", ("https://example.com/org/repo", "v1.0", None)),
    ("git+https://example.com/org/repo@v1.0#subdirectory=pkg/sub", ("https://example.com/org/repo", "v1.0", "pkg/sub")),
    ("git+https://example.com/org/repo#egg=x&subdirectory=sub", ("https://example.com/org/repo", None, "sub")),
    # A user in the netloc is not a revision; an @ in the path after it is.
    ("git+ssh://git@example.com/org/repo", ("ssh://git@example.com/org/repo", None, None)),
    ("git+ssh://git@example.com/org/repo@abc123", ("ssh://git@example.com/org/repo", "abc123", None)),
])
def test_git_url_gives_repository_revision_and_subdirectory(url, expected):
    ref = parse_git_url(url)
    assert ref.kind == "vcs"
    assert (ref.url, ref.requested_revision, ref.subdirectory) == expected
    assert direct_reference(url, Path("/unused")) == ref


def test_relative_file_reference_is_read_from_the_project_folder(tmp_path):
    (tmp_path / "lib").mkdir()
    assert direct_reference("file:lib", tmp_path).path == str(tmp_path / "lib")
    with pytest.raises(ConfigError, match="no such file"):
        direct_reference("file:missing.whl", tmp_path)


def test_local_archive_is_hashed_once_and_keeps_its_fields(tmp_path):
    archive = tmp_path / "x-1.0.tar.gz"
    archive.write_bytes(b"not really a tarball")
    ref = hash_archive(direct_reference(archive.as_uri(), tmp_path), client=None)  # a local path needs no client
    assert ref.kind == "archive" and ref.path == str(archive)
    assert ref.hashes == (("sha256", file_sha256(archive)),)
    assert hash_archive(ref, client=None) is ref


@pytest.mark.parametrize("url", ["git+https://[abc/repo", "https://[zz]/y-1.0.tar.gz", "file://[zz]/y",
                                 "https://[::1/a-1.0-py3-none-any.whl", "https://u:pw@[bad/a.whl"])
def test_a_project_url_that_does_not_parse_is_a_config_error(tmp_path, url):
    with pytest.raises(ConfigError, match="does not parse"):
        direct_reference(url, tmp_path)


@pytest.mark.parametrize("url, source, same", [
    ("git+https://example.com/org/y@v1", 'git = "https://EXAMPLE.com/org/y.git", rev = "v1"', True),
    ("git+https://example.com/org/y.git@v1", 'git = "https://example.com/org/y/", rev = "v1"', True),
    ("git+https://example.com/org/y@v2", 'git = "https://example.com/org/y", rev = "v1"', False),
    ("git+https://example.com/org/fork@v1", 'git = "https://example.com/org/y", rev = "v1"', False),
])
def test_a_git_url_and_a_git_source_spelled_differently_are_one_source_or_refused(tmp_path, url, source, same):
    (tmp_path / "pyproject.toml").write_text(
        f'[project]\nname = "p"\nversion = "0"\ndependencies = ["y @ {url}"]\n\n[tool.satlock.sources]\ny = {{ {source} }}\n')
    project = load_project(tmp_path)
    if same:
        ref = collect_direct(project, None, default_environment())["y"]
        assert ref.kind == "vcs" and ref.requested_revision == "v1"
    else:
        with pytest.raises(ConfigError, match="named both by the URL"):
            collect_direct(project, None, default_environment())
