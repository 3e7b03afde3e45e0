"""Source trees from sdists, git repositories (``file://``, made here) and local folders."""

from __future__ import annotations

import os
import shutil
import threading
import subprocess
from pathlib import Path

import pytest
from indexbuilder import make_sdist, sha256_of

from satlock.buildenv import archive, gitobjects, gitsources, pep517, sources
from satlock.errors import BuildError, NetworkError, NotFoundError, ProjectError
from satlock.cache import Cache

GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.invalid", "GIT_CONFIG_NOSYSTEM": "1"}


@pytest.fixture
def cache(tmp_path) -> Cache:
    return Cache(tmp_path / "cache")


def git(repo: Path, *args: str) -> str:
    env = {**os.environ, **GIT_ENV, "HOME": str(repo.parent)}
    return subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True, text=True).stdout.strip()


def commit_file(repo: Path, rel: str, text: str, message: str) -> str:
    (repo / rel).parent.mkdir(parents=True, exist_ok=True)
    (repo / rel).write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture
def repo(tmp_path) -> Path:
    repo = tmp_path / "upstream"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    commit_file(repo, "setup.py", "from setuptools import setup\nsetup()\n", "first")
    return repo


@pytest.fixture
def git_calls(monkeypatch) -> list[list[str]]:
    """Every git command satlock runs, to tell a cached checkout from a fresh clone."""
    calls: list[list[str]] = []
    real_run = subprocess.run

    def recording_run(cmd, *args, **kwargs):
        if cmd and cmd[0] == "git":
            calls.append(list(cmd[1:]))
        return real_run(cmd, *args, **kwargs)

    monkeypatch.setattr(gitsources.subprocess, "run", recording_run)
    return calls


def test_a_flat_sdist_is_a_source_tree_rooted_at_its_top(tmp_path, cache):
    import io
    import tarfile

    sdist = tmp_path / "flat-1.0.tar.gz"
    with tarfile.open(sdist, "w:gz") as tf:
        for name, text in (("pyproject.toml", "[project]\nname = 'flat'\nversion = '1.0'\n"), ("flat/__init__.py", "")):
            info = tarfile.TarInfo(name)
            info.size = len(text.encode())
            tf.addfile(info, io.BytesIO(text.encode()))
    tree = sources.from_sdist(sdist, sha256_of(sdist), cache)
    assert (tree.path / "pyproject.toml").is_file() and (tree.path / "flat" / "__init__.py").is_file()
    assert sources.from_sdist(sdist, sha256_of(sdist), cache) == tree


def test_sdist_is_unpacked_once_into_the_cache(tmp_path, cache, monkeypatch):
    sdist = make_sdist(tmp_path / "dists", "foo", "1.0")
    tree = sources.from_sdist(sdist, sha256_of(sdist), cache)
    assert tree.key == sha256_of(sdist) and tree.commit is None
    assert (tree.path / "pyproject.toml").is_file() and (tree.path / "foo" / "__init__.py").is_file()

    def no_extract(*args, **kwargs):
        raise AssertionError("the sdist was unpacked again")

    monkeypatch.setattr(archive, "extract_sdist", no_extract)
    assert sources.from_sdist(sdist, sha256_of(sdist), cache) == tree


def test_an_sdist_is_unpacked_once_per_run_for_the_cache_and_every_build(tmp_path, cache, monkeypatch):
    sdist = make_sdist(tmp_path / "dists", "foo", "1.0")
    unpackings: list[Path] = []
    real = archive.extract_sdist

    def counting(path, dest):
        unpackings.append(path)
        return real(path, dest)

    monkeypatch.setattr(archive, "extract_sdist", counting)
    tree = sources.from_sdist(sdist, sha256_of(sdist), cache)
    with sources.unpacked_to_build(tree, cache) as first:
        with open(first.path / "foo" / "__init__.py", "r+") as f:  # rewritten in place, as a version plugin may
            f.write("EDITED = 1\n")
        (first.path / "build").mkdir()
    with sources.unpacked_to_build(tree, cache) as second:
        assert "EDITED" not in (second.path / "foo" / "__init__.py").read_text()
        assert not (second.path / "build").exists() and second.path.name == "foo-1.0"
    assert "EDITED" not in (tree.path / "foo" / "__init__.py").read_text()
    assert unpackings == [sdist]  # for the cache's entry and both builds

    cache = next_run(cache)
    (tree.path / "setup.py").write_text("raise SystemExit('planted')\n")  # in the entry an earlier run left
    assert sources.from_sdist(sdist, sha256_of(sdist), cache) == tree
    with sources.unpacked_to_build(tree, cache) as building:
        assert not (building.path / "setup.py").exists()
    assert unpackings == [sdist, sdist]  # a new run unpacks it again for its builds, and only for them


def test_git_source_resolves_default_branch_and_reuses_the_checkout(repo, cache, git_calls):
    head = git(repo, "rev-parse", "HEAD")
    tree = gitsources.from_git(repo.as_uri(), None, cache)
    assert (tree.key, tree.commit) == (f"git:{head}", head)
    assert (tree.path / "setup.py").is_file()
    assert sum(c[0] == "clone" for c in git_calls) == 2  # the mirror, then the checkout

    git_calls.clear()
    assert gitsources.from_git(repo.as_uri(), head, cache) == tree
    assert git_calls == []


def test_git_branch_follows_new_commits_through_the_cached_mirror(repo, cache, git_calls):
    first = gitsources.from_git(repo.as_uri(), "main", cache)
    second_commit = commit_file(repo, "pkg/__init__.py", "", "second")
    git_calls.clear()
    second = gitsources.from_git(repo.as_uri(), "main", cache)
    assert second.commit == second_commit != first.commit
    assert [c[0] for c in git_calls if c[0] in ("clone", "fetch")] == ["fetch", "clone"]  # fetch mirror, check out
    assert (second.path / "pkg" / "__init__.py").is_file() and not (first.path / "pkg").exists()


def test_git_tag_and_old_commit_resolve_to_their_commits(repo, cache):
    first = git(repo, "rev-parse", "HEAD")
    git(repo, "tag", "v1.0")
    commit_file(repo, "later.txt", "x", "later")
    assert gitsources.from_git(repo.as_uri(), "v1.0", cache).commit == first
    assert gitsources.from_git(repo.as_uri(), first[:10], cache).commit == first


def test_git_subdirectory_is_part_of_the_key(repo, cache):
    commit_file(repo, "sub/pkg/pyproject.toml", '[project]\nname = "pkg"\nversion = "1"\n', "sub")
    root = gitsources.from_git(repo.as_uri(), None, cache)
    sub = gitsources.from_git(repo.as_uri(), None, cache, subdirectory="sub/pkg")
    assert sub.path == root.path / "sub" / "pkg"
    assert sub.key != root.key and sub.commit == root.commit


def test_unknown_git_revision_names_url_and_revision(repo, cache):
    with pytest.raises(NotFoundError) as err:
        gitsources.from_git(repo.as_uri(), "no-such-branch", cache)
    assert "'no-such-branch'" in err.value.message and repo.as_uri() in err.value.message
    assert "\n" not in err.value.message


def test_unreachable_git_url_is_one_line_without_credentials(tmp_path, cache):
    url = (tmp_path / "missing.git").as_uri().replace("file://", "file://alice:s3cret@")
    with pytest.raises(NetworkError) as err:
        gitsources.from_git(url, "main", cache)
    assert "s3cret" not in err.value.message and "\n" not in err.value.message
    assert "missing.git@main" in err.value.message


def test_missing_git_command_is_reported(repo, cache, monkeypatch):
    monkeypatch.setenv("PATH", str(repo / "no-bin-here"))
    with pytest.raises(BuildError, match="git command is not installed"):
        gitsources.from_git(repo.as_uri(), None, cache)


def test_revision_that_looks_like_an_option_is_refused(repo, cache):
    with pytest.raises(ProjectError, match="invalid git revision"):
        gitsources.from_git(repo.as_uri(), "--upload-pack=evil", cache)


def test_local_folder_key_changes_with_its_files_but_not_with_build_output(tmp_path):
    project = tmp_path / "proj"
    (project / "src").mkdir(parents=True)
    (project / "pyproject.toml").write_text('[project]\nname = "proj"\nversion = "1"\n')
    (project / "src" / "mod.py").write_text("A = 1\n")
    tree = sources.from_directory(project)
    assert tree.path == project.resolve() and tree.key.startswith("dir:") and tree.commit is None

    (project / "build" / "lib").mkdir(parents=True)
    (project / "build" / "lib" / "mod.py").write_text("A = 1\n")
    (project / "proj.egg-info").mkdir()
    (project / "proj.egg-info" / "PKG-INFO").write_text("x")
    assert sources.from_directory(project).key == tree.key

    (project / "src" / "mod.py").write_text("A = 22\n")
    assert sources.from_directory(project).key != tree.key


def test_local_folder_that_is_not_a_project_is_an_error(tmp_path):
    with pytest.raises(BuildError, match="neither pyproject.toml nor setup.py"):
        sources.from_directory(tmp_path)
    with pytest.raises(ProjectError, match="is not a folder"):
        sources.from_directory(tmp_path / "missing")


# -- a git source in an untrusted cache -------------------------------------------------
# The cache's bare mirror of a repository (git-v1) and anything checked out from it may
# have been edited since satlock wrote them: a run reads and builds only a checkout it
# made itself from objects verified against their ids, and git runs no hook or config
# of the mirror that satlock did not write.


def next_run(cache: Cache) -> Cache:
    """The cache as the next satlock run finds it: this run's own folders are gone."""
    cache.close()
    return Cache(cache.root)


def test_a_git_checkout_edited_in_the_cache_is_never_read_or_built(repo, cache):
    head = git(repo, "rev-parse", "HEAD")
    gitsources.from_git(repo.as_uri(), None, cache)
    cache = next_run(cache)
    for leftover in (cache.root / "sources-v1").glob("*"):  # a checkout an earlier satlock left there too
        (leftover / "setup.py").write_text("raise SystemExit('planted')\n")
    planted = cache.root / "sources-v1" / f"git-{head}"
    planted.mkdir(parents=True, exist_ok=True)
    (planted / ".git").mkdir(exist_ok=True)
    (planted / "setup.py").write_text("raise SystemExit('planted')\n")
    tree = gitsources.from_git(repo.as_uri(), head, cache)
    assert "planted" not in (tree.path / "setup.py").read_text()
    with sources.unpacked_to_build(tree, cache) as building:
        assert "planted" not in (building.path / "setup.py").read_text()
        assert building.path != tree.path and (building.path / ".git").exists()  # setuptools-scm reads it
        assert git(building.path, "rev-parse", "HEAD") == head


def test_each_build_of_a_git_source_starts_from_a_clean_checkout_removed_after_it(repo, cache):
    tree = gitsources.from_git(repo.as_uri(), None, cache)
    with sources.unpacked_to_build(tree, cache) as first:
        (first.path / "build").mkdir()
        (first.path / "setup.py").write_text("edited by a build\n")
    assert not first.path.exists()
    with sources.unpacked_to_build(tree, cache) as second:
        assert not (second.path / "build").exists()
        assert "edited" not in (second.path / "setup.py").read_text()


def _loosen_objects(mirror: Path) -> None:
    """Every object of the bare ``mirror`` as a loose file, so one can be edited in place."""
    packs = list((mirror / "objects" / "pack").glob("*.pack"))
    for pack in packs:
        moved = mirror / pack.name
        pack.rename(moved)
        pack.with_suffix(".idx").unlink()
        with open(moved, "rb") as f:
            subprocess.run(["git", "unpack-objects", "-q"], cwd=mirror, stdin=f, check=True)
        moved.unlink()


def test_a_git_object_edited_in_the_cached_mirror_is_never_checked_out(repo, cache):
    import zlib

    head = git(repo, "rev-parse", "HEAD")
    blob = git(repo, "rev-parse", "HEAD:setup.py")
    gitsources.from_git(repo.as_uri(), None, cache)
    cache = next_run(cache)
    shutil.rmtree(cache.root / "sources-v1")
    (mirror,) = (cache.root / "git-v1").iterdir()
    _loosen_objects(mirror)
    loose = mirror / "objects" / blob[:2] / blob[2:]
    evil = b"raise SystemExit('planted')\n"
    loose.chmod(0o644)
    loose.write_bytes(zlib.compress(b"blob %d\0" % len(evil) + evil))
    tree = gitsources.from_git(repo.as_uri(), head, cache)
    assert "planted" not in (tree.path / "setup.py").read_text()
    with sources.unpacked_to_build(tree, cache) as building:
        assert (building.path / "setup.py").read_text() == "from setuptools import setup\nsetup()\n"


def _plant_in_mirror(mirror: Path, how: str, marker: Path) -> None:
    script = mirror.parent / "planted.sh"
    script.write_text(f"#!/bin/sh\ntouch {marker}\nexec git-upload-pack \"$@\"\n")
    script.chmod(0o755)
    if how == "hook":
        hook = mirror / "hooks" / "reference-transaction"
        hook.parent.mkdir(exist_ok=True)
        hook.write_text(f"#!/bin/sh\ntouch {marker}\n")
        hook.chmod(0o755)
    elif how == "upload-pack":
        subprocess.run(["git", "config", "--file", str(mirror / "config"), "remote.origin.uploadpack", str(script)], check=True)
    else:
        # Fetches from the remote go to a repository of the planter's choosing instead.
        fake = mirror.parent / "fake"
        subprocess.run(["git", "clone", "-q", "--bare", str(mirror), str(fake)], check=True)
        subprocess.run(["git", "config", "--file", str(mirror / "config"), f"url.{fake.as_uri()}.insteadOf",
                        subprocess.run(["git", "config", "--file", str(mirror / "config"), "remote.origin.url"],
                                       check=True, capture_output=True, text=True).stdout.strip()], check=True)


@pytest.mark.parametrize("how", ["hook", "upload-pack", "insteadOf"])
def test_a_hook_or_config_planted_in_the_cached_mirror_never_runs(repo, cache, tmp_path, how):
    gitsources.from_git(repo.as_uri(), "main", cache)
    newer = commit_file(repo, "pkg/__init__.py", "", "second")  # so the next lock fetches, and updates refs
    cache = next_run(cache)
    (mirror,) = (cache.root / "git-v1").iterdir()
    marker = tmp_path / "planted-code-ran"
    _plant_in_mirror(mirror, how, marker)
    tree = gitsources.from_git(repo.as_uri(), "main", cache)
    with sources.unpacked_to_build(tree, cache):
        pass
    assert not marker.exists()
    assert tree.commit == newer


def _allow_file_submodules(monkeypatch) -> None:
    """git allows file:// submodules only when told to (CVE-2022-39253); the user's own config says so here."""
    monkeypatch.setenv("GIT_CONFIG_COUNT", "1")
    monkeypatch.setenv("GIT_CONFIG_KEY_0", "protocol.file.allow")
    monkeypatch.setenv("GIT_CONFIG_VALUE_0", "always")


def test_git_submodules_are_checked_out_in_every_build(tmp_path, cache, monkeypatch):
    _allow_file_submodules(monkeypatch)
    deep = tmp_path / "deep"
    deep.mkdir()
    git(deep, "init", "-q", "-b", "main")
    commit_file(deep, "deep.py", "Y = 2\n", "deep")
    inner = tmp_path / "inner"
    inner.mkdir()
    git(inner, "init", "-q", "-b", "main")
    commit_file(inner, "inner.py", "X = 1\n", "inner")
    git(inner, "-c", "protocol.file.allow=always", "submodule", "add", "-q", "../deep", "deep")  # relative to inner's URL
    git(inner, "commit", "-q", "-m", "deep")
    outer = tmp_path / "outer"
    outer.mkdir()
    git(outer, "init", "-q", "-b", "main")
    commit_file(outer, "setup.py", "from setuptools import setup\nsetup()\n", "first")
    git(outer, "-c", "protocol.file.allow=always", "submodule", "add", "-q", inner.as_uri(), "vendor/inner")
    git(outer, "commit", "-q", "-m", "submodule")
    tree = gitsources.from_git(outer.as_uri(), None, cache)
    assert (tree.path / "vendor" / "inner" / "inner.py").read_text() == "X = 1\n"
    with sources.unpacked_to_build(tree, cache) as building:
        assert (building.path / "vendor" / "inner" / "inner.py").read_text() == "X = 1\n"
    head = tree.commit
    cache = next_run(cache)
    shutil.rmtree(inner)  # a later run checks both out from the cache's mirrors, verified, without the network
    shutil.rmtree(outer)
    shutil.rmtree(deep)
    tree = gitsources.from_git(outer.as_uri(), head, cache)
    with sources.unpacked_to_build(tree, cache) as building:
        assert (building.path / "vendor" / "inner" / "inner.py").read_text() == "X = 1\n"
        assert (building.path / "vendor" / "inner" / "deep" / "deep.py").read_text() == "Y = 2\n"
        assert git(building.path / "vendor" / "inner", "remote", "get-url", "origin") == inner.as_uri()


def test_a_submodule_that_nests_the_repository_itself_again_is_checked_out_not_waited_on_forever(tmp_path, cache, monkeypatch):
    """outer's submodule inner has (an older commit of) outer as its own submodule: the
    checkout holds outer's mirror lock while it checks the submodules out, and took it again
    for inner's, waiting on itself forever (filelock had raised its deadlock RuntimeError)."""
    _allow_file_submodules(monkeypatch)
    outer = tmp_path / "outer"
    outer.mkdir()
    git(outer, "init", "-q", "-b", "main")
    commit_file(outer, "setup.py", "from setuptools import setup\nsetup()\n", "first")
    inner = tmp_path / "inner"
    inner.mkdir()
    git(inner, "init", "-q", "-b", "main")
    commit_file(inner, "inner.py", "X = 1\n", "inner")
    git(inner, "-c", "protocol.file.allow=always", "submodule", "add", "-q", outer.as_uri(), "outer")
    git(inner, "commit", "-q", "-m", "outer")
    git(outer, "-c", "protocol.file.allow=always", "submodule", "add", "-q", inner.as_uri(), "vendor/inner")
    git(outer, "commit", "-q", "-m", "submodule")
    done = []
    worker = threading.Thread(target=lambda: done.append(gitsources.from_git(outer.as_uri(), None, cache)), daemon=True)
    worker.start()
    worker.join(120)
    assert done, "the checkout waited on the lock of outer's mirror, which it held itself"
    assert (done[0].path / "vendor" / "inner" / "outer" / "setup.py").is_file()


def test_a_lock_reads_a_git_sources_files_from_the_mirror_without_a_checkout(repo, cache, git_calls):
    commit_file(repo, "sub/pkg/pyproject.toml", '[build-system]\nrequires = ["flit_core"]\n', "sub")
    found = gitsources.git_commit(repo.as_uri(), "main", cache, "sub/pkg/")
    git_calls.clear()
    assert gitsources.read_git_file(found, "pyproject.toml", cache) == b'[build-system]\nrequires = ["flit_core"]\n'
    assert gitsources.git_build_system(found, cache).requires == ["flit_core"]
    assert not any(call[0] in ("clone", "checkout") for call in git_calls)
    # The key is the one a build's checkout has, so cached metadata and wheels are shared.
    assert found.key == gitsources.from_git(repo.as_uri(), found.commit, cache, "sub/pkg").key


def test_a_missing_file_or_folder_in_a_git_commit_reads_as_none(repo, cache):
    commit_file(repo, "folder/inner.txt", "x", "folder")
    found = gitsources.git_commit(repo.as_uri(), "main", cache)
    for name in ("nothing.toml", "folder", "setup.py/deeper", "folder/nothing"):
        assert gitsources.read_git_file(found, name, cache) is None, name
    assert gitsources.read_git_file(found, "folder/inner.txt", cache) == b"x"


def test_a_git_file_behind_a_link_or_in_a_submodule_reads_as_the_builds_checkout_has_it(tmp_path, repo, cache, monkeypatch):
    _allow_file_submodules(monkeypatch)
    inner = tmp_path / "inner"
    inner.mkdir()
    git(inner, "init", "-q", "-b", "main")
    commit_file(inner, "pyproject.toml", '[build-system]\nrequires = ["inner_backend"]\n', "inner")
    commit_file(repo, "conf/pyproject.toml", '[build-system]\nrequires = ["linked_backend"]\n', "conf")
    os.symlink("conf/pyproject.toml", repo / "pyproject.toml")
    os.symlink("conf", repo / "linked")
    git(repo, "-c", "protocol.file.allow=always", "submodule", "add", "-q", inner.as_uri(), "vendor/inner")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "links and a submodule")
    for sub, wanted in ((None, "linked_backend"), ("linked", "linked_backend"), ("vendor/inner", "inner_backend")):
        found = gitsources.git_commit(repo.as_uri(), "main", cache, sub)
        assert gitsources.git_build_system(found, cache).requires == [wanted], sub
        assert sources.build_system(gitsources.from_git(repo.as_uri(), found.commit, cache, sub)).requires == [wanted]


def test_a_git_object_edited_in_the_cached_mirror_is_never_read_as_a_file_of_the_commit(repo, cache):
    import zlib

    blob = git(repo, "rev-parse", "HEAD:setup.py")
    found = gitsources.git_commit(repo.as_uri(), "main", cache)
    (mirror,) = (cache.root / "git-v1").iterdir()
    _loosen_objects(mirror)
    loose = mirror / "objects" / blob[:2] / blob[2:]
    evil = b"raise SystemExit('planted')\n"
    loose.unlink()  # a local clone shares the upstream's object files: never write through them
    loose.write_bytes(zlib.compress(b"blob %d\0" % len(evil) + evil))
    with pytest.raises(gitobjects.UnverifiedObject):
        gitobjects.read_file(mirror, found.commit, "setup.py", os.environ)
    # The mirror is fetched again, and the file read as the commit holds it.
    assert gitsources.read_git_file(found, "setup.py", cache) == b"from setuptools import setup\nsetup()\n"


@pytest.mark.parametrize("planted", ["a blob where a tree is", "an object over the size limit"])
def test_an_object_planted_in_the_cached_mirror_fails_the_read_at_once(repo, cache, planted):
    import time
    import zlib

    found = gitsources.git_commit(repo.as_uri(), "main", cache)
    (mirror,) = (cache.root / "git-v1").iterdir()
    _loosen_objects(mirror)
    tree = git(repo, "rev-parse", "HEAD^{tree}")
    loose = mirror / "objects" / tree[:2] / tree[2:]
    kind, size = (b"blob", 1 << 20) if planted.startswith("a blob") else (b"tree", gitobjects.MAX_OBJECT_BYTES + 1)
    loose.unlink()
    loose.write_bytes(zlib.compress(b"%s %d\0" % (kind, size) + b"\0" * size))
    started = time.monotonic()
    with pytest.raises(gitobjects.UnverifiedObject):
        gitobjects.read_file(mirror, found.commit, "setup.py", os.environ)
    # git is left writing an object nobody reads: it is stopped, not waited for.
    assert time.monotonic() - started < 10


def _plant_commit(mirror: Path, tmp_path: Path) -> str:
    """A commit of the planter's own, stored in the mirror but named by none of its refs."""
    work = tmp_path / "planter"
    git(tmp_path, "clone", "-q", str(mirror), str(work))
    commit_file(work, "setup.py", "raise SystemExit('planted')\n", "planted")
    git(work, "push", "-q", str(mirror), "HEAD:refs/heads/planted")
    git(mirror, "update-ref", "-d", "refs/heads/planted")
    return git(work, "rev-parse", "HEAD")


@pytest.mark.parametrize("rev", [None, "main", "v1"])
def test_a_head_or_name_planted_in_the_cached_mirror_never_chooses_the_commit(repo, cache, tmp_path, rev):
    git(repo, "tag", "v1")
    gitsources.git_commit(repo.as_uri(), rev, cache)
    cache = next_run(cache)
    (mirror,) = (cache.root / "git-v1").iterdir()
    planted = _plant_commit(mirror, tmp_path)
    # A fetch leaves both alone: it updates refs/ only, and never the mirror's own HEAD.
    (mirror / "HEAD").write_text(planted + "\n")
    (mirror / "main").write_text(planted + "\n")  # git takes <repository>/<name> before refs/
    (mirror / "v1").write_text(planted + "\n")
    found = gitsources.git_commit(repo.as_uri(), rev, cache)
    assert found.commit == git(repo, "rev-parse", "HEAD")
    assert b"planted" not in gitsources.read_git_file(found, "setup.py", cache)


def test_a_branch_of_a_remote_whose_head_names_no_branch_is_fetched(repo, cache):
    gitsources.git_commit(repo.as_uri(), "main", cache)
    newer = commit_file(repo, "pkg/__init__.py", "", "second")
    git(repo, "symbolic-ref", "HEAD", "refs/heads/gone")  # a default branch renamed away
    assert gitsources.git_commit(repo.as_uri(), "main", next_run(cache)).commit == newer


@pytest.mark.parametrize("garbled", ["object format", "packed-refs"])
def test_a_cached_mirror_a_fetch_cannot_update_is_cloned_again(repo, cache, garbled):
    gitsources.git_commit(repo.as_uri(), "main", cache)
    newer = commit_file(repo, "pkg/__init__.py", "", "second")
    cache = next_run(cache)
    (mirror,) = (cache.root / "git-v1").iterdir()
    if garbled == "object format":  # the one setting kept from the cached config
        subprocess.run(["git", "config", "--file", str(mirror / "config"), "extensions.objectformat", "sha256"], check=True)
    else:
        (mirror / "packed-refs").write_text("not a ref\n")
    assert gitsources.git_commit(repo.as_uri(), "main", cache).commit == newer
    shutil.rmtree(repo)  # with the remote gone too, the fetch's error stands
    with pytest.raises(NetworkError, match="git fetch failed"):
        gitsources.git_commit(repo.as_uri(), "main", next_run(cache))
    assert (mirror / "HEAD").is_file()  # kept for the commits it holds


@pytest.mark.parametrize("sub", [".", "./"])
def test_a_git_subdirectory_naming_the_repository_itself_is_its_root(repo, cache, sub):
    found = gitsources.git_commit(repo.as_uri(), "main", cache, sub)
    assert gitsources.read_git_file(found, "setup.py", cache) == b"from setuptools import setup\nsetup()\n"
    assert gitsources.git_build_system(found, cache).requires == pep517.LEGACY_REQUIRES
    tree = gitsources.from_git(repo.as_uri(), found.commit, cache, sub)
    assert tree.path == tree.checkout.resolve() and tree.key == found.key


def test_a_mirror_config_as_satlock_wrote_it_is_used_as_it_is(repo, cache, git_calls):
    found = gitsources.git_commit(repo.as_uri(), "main", cache)
    config = found.mirror / "config"
    written = config.stat().st_mtime_ns
    git_calls.clear()
    gitsources.git_commit(repo.as_uri(), found.commit, cache)  # a lock asks for it again and again
    assert config.stat().st_mtime_ns == written
    assert not any(call[0] == "config" for call in git_calls)


def test_a_git_tree_naming_a_file_twice_is_read_as_the_builds_checkout_has_it(repo, cache):
    # git never writes such a tree and fsck refuses it, but a hostile repository can hold
    # one: the checkout takes the last entry, so the lock must not take the first.
    for name in ("first", "last"):
        (repo.parent / name).write_text(f'[build-system]\nrequires = ["{name}"]\n')
    first, last = (git(repo, "hash-object", "-w", str(repo.parent / name)) for name in ("first", "last"))
    setup = git(repo, "rev-parse", "HEAD:setup.py")
    entries = b"".join(b"100644 %s\0%s" % (name, bytes.fromhex(oid))
                       for name, oid in ((b"pyproject.toml", first), (b"pyproject.toml", last), (b"setup.py", setup)))
    tree = subprocess.run(["git", "hash-object", "-t", "tree", "-w", "--literally", "--stdin"], cwd=repo, input=entries,
                          check=True, capture_output=True).stdout.decode().strip()
    commit = git(repo, "commit-tree", tree, "-m", "twice")
    found = gitsources.git_commit(repo.as_uri(), commit, cache)
    built = sources.build_system(gitsources.checkout(found, cache)).requires
    assert gitsources.git_build_system(found, cache).requires == built
