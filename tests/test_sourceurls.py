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


@pytest.mark.parametrize("url", [
    "git+https://[abc/repo",
    "git+https://[zz]/repo",
    "git+https://example.com:port/Org/repo",
    "https://[zz]/y-1.0.tar.gz",
    "https://example.com:port/y-1.0.tar.gz",
    "file://[zz]/src/y",
])
@pytest.mark.parametrize("ref", [GIT, DirectReference("archive", url="https://example.com/y-1.0.tar.gz"),
                                 DirectReference("directory", path="/src/y")])
def test_a_url_that_does_not_parse_is_another_source_and_raises_nothing(ref, url):
    assert not same_source(ref, url)


@pytest.mark.parametrize("ours, theirs", [
    ("https://user:token@example.com/Org/repo", "git+https://example.com/Org/repo"),
    ("https://example.com/Org/repo", "git+https://token@example.com/Org/repo"),
    ("https://example.com/Org/repo", "git+https://example.com:443/Org/repo"),
    ("https://example.com/Org/my-repo", "git+https://example.com/Org/my%2Drepo"),
    ("https://github.com/Org/Repo", "git+https://github.com/org/repo.git"),
    ("file:///srv/repo", "git+file://localhost/srv/repo"),
])
def test_credentials_default_port_percent_encoding_and_github_case_name_one_repository(ours, theirs):
    assert same_source(DirectReference("vcs", url=ours, commit_id=COMMIT), theirs)


@pytest.mark.parametrize("ours, theirs", [
    ("https://user:pw@example.com/y-1.0.tar.gz", "https://example.com/y-1.0.tar.gz"),
    ("https://example.com/y-1.0.tar.gz", "https://user:pw@example.com/y-1.0.tar.gz"),
    ("https://example.com/y-1.0.tar.gz", "HTTPS://EXAMPLE.com:443/y-1.0.tar.gz"),
    ("https://example.com/y-1.0%2Bcpu.tar.gz", "https://example.com/y-1.0+cpu.tar.gz"),
])
def test_credentials_host_case_default_port_and_percent_encoding_name_one_archive(ours, theirs):
    assert same_source(DirectReference("archive", url=ours), theirs)


@pytest.mark.parametrize("ref, url, same", [
    (DirectReference("archive", url="https://example.com/y-1.0.tar.gz"), "https://example.com/y-1.0.tar.gz#subdirectory=sub", False),
    (DirectReference("archive", url="https://example.com/y-1.0.tar.gz", subdirectory="sub"), "https://example.com/y-1.0.tar.gz", False),
    (DirectReference("archive", url="https://example.com/y-1.0.tar.gz", subdirectory="sub"), "https://example.com/y-1.0.tar.gz#subdirectory=./sub/", True),
    (DirectReference("directory", path="/src/y", subdirectory="sub"), "file:///src/y", False),
    (DirectReference("directory", path="/src/y"), "file:///src/y#subdirectory=sub", False),
    (GIT, "git+https://example.com/Org/repo#subdirectory=./", True),
    (DirectReference("vcs", url="https://example.com/Org/repo", subdirectory="sub", commit_id=COMMIT), "git+https://example.com/Org/repo#egg=y&subdirectory=sub/", True),
])
def test_a_subdirectory_is_part_of_every_kind_of_source(ref, url, same):
    assert same_source(ref, url) is same


def test_a_file_url_whose_sha256_fragment_differs_from_the_archives_is_another_source():
    ref = DirectReference("archive", path="/src/y-1.0.whl", hashes=(("sha256", "ab" * 32),))
    assert same_source(ref, "file:///src/y-1.0.whl#sha256=" + "ab" * 32)
    assert not same_source(ref, "file:///src/y-1.0.whl#sha256=" + "cd" * 32)


def test_a_path_is_compared_with_its_dot_segments_and_doubled_slashes_resolved_and_only_on_this_host():
    assert same_source(DirectReference("directory", path="/proj/../src/y"), "file:///src/./y")
    assert same_source(DirectReference("directory", path="/src/y"), "file:///src//y/")
    assert not same_source(DirectReference("directory", path="/src/y"), "file://otherhost/src/y")
