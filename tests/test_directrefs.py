"""Direct references as a user writes them in pyproject.toml, read into what the lock records."""

from __future__ import annotations

from pathlib import Path

import pytest

from satlock.cache import file_sha256
from satlock.errors import ConfigError
from satlock.resolver.directrefs import direct_reference, hash_archive
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
