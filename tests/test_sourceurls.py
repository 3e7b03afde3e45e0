"""Whether a package's ``y @ URL`` names the source the project takes ``y`` from."""

from __future__ import annotations

import pytest

from satlock.resolver.candidates import DirectReference
from satlock.resolver.sourceurls import same_source

COMMIT = "0123456789abcdef0123456789abcdef01234567"
GIT = DirectReference("vcs", url="https://example.com/Org/repo", requested_revision="v1.0", commit_id=COMMIT)


@pytest.mark.parametrize("url", [
    "git+https://example.com/Org/repo",
    "git+https://example.com/Org/repo.git",
    "git+https://EXAMPLE.com/Org/repo/",
    "git+https://example.com/Org/repo@v1.0",
    "git+https://example.com/Org/repo.git@0123456",
    f"git+https://example.com/Org/repo@{COMMIT}",
    "git+https://example.com/Org/repo@v1.0#egg=y",
])
def test_the_same_repository_at_no_or_the_same_revision_is_the_same_source(url):
    assert same_source(GIT, url)


@pytest.mark.parametrize("url", [
    "git+https://example.com/Org/fork",
    "git+https://example.com/org/repo",  # a path's case is the server's to judge
    "git+https://example.com/Org/repo@v2.0",
    "git+https://example.com/Org/repo@01234",  # too short to be read as a commit
    "git+https://example.com/Org/repo@v1.0#subdirectory=sub",
    "https://example.com/Org/repo",
    "file:///example.com/Org/repo",
])
def test_another_repository_revision_or_kind_is_another_source(url):
    assert not same_source(GIT, url)


def test_an_archive_is_the_same_source_by_url_unless_its_sha256_fragment_differs():
    ref = DirectReference("archive", url="https://example.com/y-1.0.tar.gz", hashes=(("sha256", "ab" * 32),))
    assert same_source(ref, "https://example.com/y-1.0.tar.gz")
    assert same_source(ref, "https://example.com/y-1.0.tar.gz#sha256=" + "AB" * 32)
    assert not same_source(ref, "https://example.com/y-1.0.tar.gz#sha256=" + "cd" * 32)
    assert not same_source(ref, "https://example.com/y-2.0.tar.gz")


def test_a_path_is_the_same_source_only_by_the_same_absolute_file_url():
    ref = DirectReference("directory", path="/src/y")
    assert same_source(ref, "file:///src/y")
    assert same_source(ref, "file:///src/y/")
    assert not same_source(ref, "file:y")
    assert not same_source(ref, "file:///src/z")
