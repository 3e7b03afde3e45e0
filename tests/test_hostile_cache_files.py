"""A FIFO or a folder planted in place of a cache entry: lock and sync treat it as a miss
(fetch, or build, again) and never wait on it.

Reading a FIFO that no one writes blocks forever, so every entry satlock reads back
(a page, a candidate listing, metadata, a download's marker, a built wheel and its
digest, the record of where an unpacked sdist's tree is) must be a plain file before it is read. The commands run as subprocesses, so a
hang fails the test by its timeout instead of hanging the suite.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from indexbuilder import IndexServer, build_index, installed_wheel, make_sdist, make_wheel, project_toml, sha256_of


@pytest.fixture(scope="module")
def warm(tmp_path_factory):
    """A project needing foo (a wheel) and bar (an sdist built with setuptools), served on
    127.0.0.1, locked and synced once: the warm cache every test copies."""
    root = tmp_path_factory.mktemp("warm")
    dists = [make_wheel(root / "d", "foo", "1.0"), make_sdist(root / "d", "bar", "1.0"), installed_wheel("setuptools", root / "d")]
    simple = build_index(root / "index", dists)
    project = root / "p"
    project.mkdir()
    (project / "pyproject.toml").write_text(project_toml(["foo", "bar"]))
    with IndexServer(simple.parent) as srv:
        url = f"{srv.url}/simple"
        done = _satlock("sync", "--project", project, "--index-url", url, cache=root / "cache")
        assert done.returncode == 0, done.stdout
        yield project, root / "cache", url, sha256_of(dists[0])


def _satlock(*args: object, cache: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "SATLOCK_CACHE_DIR": str(cache)}
    return subprocess.run([sys.executable, "-m", "satlock", *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, env=env, timeout=60)


def _copies(warm, tmp_path: Path, *, with_lock: bool = True) -> tuple[Path, Path]:
    """A copy of the warm cache, and a project folder holding the warm project's
    pyproject.toml (and its pylock.toml): what each test then tampers with and runs in."""
    project, warm_cache, _url, _sha = warm
    cache = tmp_path / "cache"
    shutil.copytree(warm_cache, cache, symlinks=True)
    work = tmp_path / "p"
    work.mkdir()
    shutil.copy(project / "pyproject.toml", work)
    if with_lock:
        shutil.copy(project / "pylock.toml", work)
    return cache, work


ENTRIES = {
    "page": lambda cache, sha: sorted((cache / "simple-v1").iterdir())[0],
    "listing": lambda cache, sha: sorted((cache / "candidates-v1").iterdir())[0],
    "metadata": lambda cache, sha: cache / "metadata-v2" / sha,
    "downloaded wheel": lambda cache, sha: next((cache / "files-v1" / sha).glob("*.whl")),
    "download marker": lambda cache, sha: next((cache / "files-v1" / sha).glob("*.ok")),
    "built wheel": lambda cache, sha: next((cache / "built-wheels-v1").glob("*/*.whl")),
    "built wheel digest": lambda cache, sha: next((cache / "built-wheels-v1").glob("*/sha256")),
    "unpacked sdist root": lambda cache, sha: next((cache / "sources-v1").glob("*/root")),
}


@pytest.mark.parametrize("plant", ["fifo", "folder"])
@pytest.mark.parametrize("entry", sorted(ENTRIES))
def test_a_fifo_or_folder_in_place_of_a_cache_entry_is_a_miss_not_a_hang(warm, tmp_path: Path, entry: str, plant: str) -> None:
    project, _warm_cache, url, foo_sha = warm
    cache, work = _copies(warm, tmp_path)
    target = ENTRIES[entry](cache, foo_sha)
    target.unlink()
    os.mkfifo(target) if plant == "fifo" else target.mkdir()
    synced = _satlock("sync", "--project", work, "--index-url", url, cache=cache)
    assert synced.returncode == 0, synced.stdout
    (work / "pylock.toml").unlink()
    locked = _satlock("lock", "--project", work, "--index-url", url, cache=cache)
    assert locked.returncode == 0, locked.stdout
    assert (work / "pylock.toml").read_text() == (project / "pylock.toml").read_text()


@pytest.mark.parametrize("plant", ["fifo", "link"])
def test_a_fifo_or_link_in_place_of_a_build_log_is_replaced_not_waited_on_or_written_through(warm, tmp_path: Path,
                                                                                            plant: str) -> None:
    """A build appends its output to its log in the cache: through a planted link that wrote
    to a file anywhere the user can write; a planted FIFO held the build forever."""
    project, _warm_cache, url, _sha = warm
    cache, work = _copies(warm, tmp_path)
    shutil.rmtree(cache / "built-wheels-v1")
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    for log in (cache / "logs").iterdir():
        log.unlink()
        os.mkfifo(log) if plant == "fifo" else log.symlink_to(victim)
    synced = _satlock("sync", "--project", work, "--index-url", url, cache=cache)
    assert synced.returncode == 0, synced.stdout
    assert victim.read_text() == "precious\n"
    assert all(log.is_file() and not log.is_symlink() for log in (cache / "logs").iterdir())


def test_a_download_marker_planted_as_a_link_is_replaced_never_written_through(warm, tmp_path: Path) -> None:
    """The marker beside a downloaded file is written after the download: through a dangling
    link planted in its place, that created a file wherever the link pointed."""
    project, _warm_cache, url, foo_sha = warm
    cache, work = _copies(warm, tmp_path)
    marker = next((cache / "files-v1" / foo_sha).glob("*.ok"))
    marker.unlink()
    marker.with_name(marker.name[:-len(".ok")]).unlink()
    outside = tmp_path / "outside" / "created.txt"
    marker.symlink_to(outside)
    synced = _satlock("sync", "--project", work, "--index-url", url, cache=cache)
    assert synced.returncode == 0, synced.stdout
    assert not outside.exists() and not outside.parent.exists()
    assert marker.is_file() and not marker.is_symlink()


def test_a_tampered_unpacked_sdist_in_the_cache_is_never_built_or_installed(warm, tmp_path: Path) -> None:
    # The sdist's archive is held to its hash on every use; the tree it was once unpacked
    # into (sources-v1) is the cache's too, and a build must not take its code from there.
    project, _warm_cache, url, _foo_sha = warm
    cache, work = _copies(warm, tmp_path)
    (tampered,) = (cache / "sources-v1").glob("*/tree/*/bar/__init__.py")
    tampered.write_text('__version__ = "1.0"\nTAMPERED = True\n')
    shutil.rmtree(cache / "built-wheels-v1")  # so the sync builds bar again
    synced = _satlock("sync", "--project", work, "--index-url", url, cache=cache)
    assert synced.returncode == 0, synced.stdout
    (installed,) = (work / ".venv").glob("lib/python*/site-packages/bar/__init__.py")
    assert "TAMPERED" not in installed.read_text()


_BAZ_SETUP = "from setuptools import setup\nsetup(name='baz', version='1.0', packages=['baz'])\n"


def _metadata_build_project(tmp_path: Path) -> tuple[Path, Path, Path, list[Path]]:
    """A project needing baz, a setup.py sdist with no static metadata (so a lock builds its
    metadata), served with setuptools and wheel: the index folder, project, cache and dists."""
    dists = [make_sdist(tmp_path / "d", "baz", "1.0", pyproject="", setup_py=_BAZ_SETUP, pkg_info=False),
             *(installed_wheel(name, tmp_path / "d") for name in ("setuptools", "wheel"))]
    simple = build_index(tmp_path / "index", dists)
    project = tmp_path / "p"
    project.mkdir()
    (project / "pyproject.toml").write_text(project_toml(["baz"]))
    return simple, project, tmp_path / "cache", dists


def test_a_tampered_unpacked_sdist_in_the_cache_never_runs_at_a_lock_s_metadata_build(tmp_path: Path) -> None:
    # baz is a setup.py project with no static metadata, so a lock builds its metadata; code
    # planted in the tree the first lock unpacked must not run when the next lock builds again.
    simple, project, cache, dists = _metadata_build_project(tmp_path)
    marker = tmp_path / "planted-code-ran"
    with IndexServer(simple.parent) as srv:
        url = f"{srv.url}/simple"
        assert _satlock("lock", "--project", project, "--index-url", url, cache=cache).returncode == 0
        (tree,) = (cache / "sources-v1").glob("*/tree/baz-1.0")
        (tree / "setup.py").write_text(f"open({str(marker)!r}, 'w').close()\n" + _BAZ_SETUP)
        for bucket in ("built-metadata-v2", "dynamic-build-requires-v2"):
            shutil.rmtree(cache / bucket, ignore_errors=True)
        (project / "pylock.toml").unlink()
        locked = _satlock("lock", "--project", project, "--index-url", url, cache=cache)
    assert locked.returncode == 0, locked.stdout
    assert not marker.exists()


def test_a_tampered_build_system_in_the_cached_unpacked_sdist_never_picks_the_build_environment(warm, tmp_path: Path) -> None:
    # The [build-system] requires choose what runs at the build and what the lock records
    # for it; they must come from the verified archive, not from the tree unpacked into the cache.
    project, _warm_cache, url, _foo_sha = warm
    cache, work = _copies(warm, tmp_path, with_lock=False)
    (pyproject,) = (cache / "sources-v1").glob("*/tree/bar-1.0/pyproject.toml")
    pyproject.write_text(pyproject.read_text().replace('requires = ["setuptools>=61"]', 'requires = ["setuptools>=61", "foo"]'))
    locked = _satlock("lock", "--project", work, "--index-url", url, cache=cache)
    assert locked.returncode == 0, locked.stdout
    lock = (work / "pylock.toml").read_text()
    assert "setuptools" in lock.split("build-environments", 1)[1]
    assert 'name = "foo"' not in lock.split("build-environments", 1)[1], lock


def _plant_build_environment(cache: Path, wheels: list[Path], marker: Path) -> Path:
    """A complete-looking build environment for exactly ``wheels`` (made from this interpreter),
    at the place in the cache where satlock once kept and reused it, with a ``.pth`` in its
    site-packages that runs at every start of its interpreter."""
    from packaging.utils import parse_wheel_filename

    from satlock.buildenv.environment import BuildEnvSpec, EnvWheel, build_env_hash

    spec = BuildEnvSpec(tuple(EnvWheel(*map(str, parse_wheel_filename(w.name)[:2]), w, sha256_of(w)) for w in wheels))
    root = cache / "build-envs-v1" / build_env_hash(spec, Path(sys.executable))
    shutil.rmtree(root, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
    (site,) = root.glob("lib/python*/site-packages")
    (site / "planted.pth").write_text(f"import os; open({str(marker)!r}, 'w').close()\n")
    (root / ".complete").write_text("{}")
    return root


def test_code_planted_in_a_cached_build_environment_never_runs_at_a_sync_s_build(warm, tmp_path: Path) -> None:
    # bar builds with setuptools in an environment of its locked build wheels: made afresh
    # from those verified wheels, never taken from the cache as it is found there.
    project, _warm_cache, url, _foo_sha = warm
    cache, work = _copies(warm, tmp_path)
    marker = tmp_path / "planted-code-ran"
    _plant_build_environment(cache, list((project.parent / "d").glob("setuptools-*.whl")), marker)
    shutil.rmtree(cache / "built-wheels-v1")  # so the sync builds bar again
    synced = _satlock("sync", "--project", work, "--index-url", url, cache=cache)
    assert not marker.exists()
    assert synced.returncode == 0, synced.stdout
    assert list((work / ".venv").glob("lib/python*/site-packages/bar/__init__.py"))


def test_code_planted_in_a_cached_build_environment_never_runs_at_a_lock_s_metadata_build(tmp_path: Path) -> None:
    simple, project, cache, dists = _metadata_build_project(tmp_path)
    marker = tmp_path / "planted-code-ran"
    _plant_build_environment(cache, [dists[1]], marker)
    with IndexServer(simple.parent) as srv:
        locked = _satlock("lock", "--project", project, "--index-url", f"{srv.url}/simple", cache=cache)
    assert not marker.exists()
    assert locked.returncode == 0, locked.stdout


def test_no_build_environment_is_left_in_the_cache_for_a_later_run_to_take(warm) -> None:
    _project, warm_cache, _url, _sha = warm
    assert [p.name for p in (warm_cache / "build-envs-v1").iterdir()] == []


@pytest.mark.parametrize("planted", [b"not a requirement!\n", b"\xff\xfe\n", b"foo @ file:///etc\n"],
                         ids=["invalid-requirement", "not-utf8", "url"])
def test_a_garbled_cached_answer_of_get_requires_for_build_wheel_is_asked_again(tmp_path: Path, planted: bytes) -> None:
    # What a backend's get_requires_for_build_wheel answered is kept in the cache; an entry
    # that is not a list of requirements from an index is a miss: the hook is asked again.
    simple, project, cache, dists = _metadata_build_project(tmp_path)
    with IndexServer(simple.parent) as srv:
        url = f"{srv.url}/simple"
        assert _satlock("lock", "--project", project, "--index-url", url, cache=cache).returncode == 0
        entries = [p for p in (cache / "dynamic-build-requires-v2").rglob("*") if p.is_file()]
        assert entries
        for entry in entries:
            entry.write_bytes(planted)
        shutil.rmtree(cache / "built-metadata-v2")
        (project / "pylock.toml").unlink()
        locked = _satlock("lock", "--project", project, "--index-url", url, cache=cache)
    assert locked.returncode == 0, locked.stdout
    assert "Traceback" not in locked.stdout and 'name = "baz"' in (project / "pylock.toml").read_text()


@pytest.mark.parametrize("plant", ["link", "folder"])
def test_a_link_or_folder_in_place_of_a_download_s_lock_file_is_one_error_line_never_a_traceback_or_a_write_through(
        warm, tmp_path: Path, plant: str) -> None:
    """A download takes its lock in ``.locks``: a link planted there is never followed (the
    lock file is opened with O_NOFOLLOW), and it or a folder ended the sync in an OSError
    traceback; it says which file to remove instead."""
    _project, _warm_cache, url, _sha = warm
    cache, work = _copies(warm, tmp_path)
    shutil.rmtree(cache / "files-v1")
    victim = tmp_path / "victim.txt"
    locks = sorted((cache / ".locks" / "files-v1").iterdir())
    assert locks
    for lock in locks:
        lock.unlink()
        lock.symlink_to(victim) if plant == "link" else lock.mkdir()
    synced = _satlock("sync", "--project", work, "--index-url", url, cache=cache)
    assert synced.returncode == 1, synced.stdout
    assert "Traceback" not in synced.stdout, synced.stdout
    errors = [line for line in synced.stdout.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "cannot use the lock file" in errors[0] and str(cache / ".locks" / "files-v1") in errors[0], synced.stdout
    assert not os.path.lexists(victim)
    for lock in locks:
        lock.unlink() if plant == "link" else lock.rmdir()
    synced = _satlock("sync", "--project", work, "--index-url", url, cache=cache)
    assert synced.returncode == 0, synced.stdout
