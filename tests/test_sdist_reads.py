"""How often a lock reads a big sdist: once to look for static metadata, once to unpack it.

pyspark's 455 MB sdist has no pyproject.toml and no static metadata: every pass over it is
a gunzip of seconds, and a lock made about six of them.
"""

from __future__ import annotations

import gzip
import tarfile
from pathlib import Path

import pytest
from gunzipcount import count_gunzipped
from indexbuilder import build_index, installed_wheel, make_sdist, make_wheel, project_toml
from typer.testing import CliRunner

from satlock.cache import Cache
from satlock.cli.main import app
from satlock.resolver import coremeta
from satlock.resolver.coremeta import SdistReads, read_sdist_files, run_reads

_SETUP = "from setuptools import setup\nsetup(name='bigdata', version='1.0', packages=['bigdata'], install_requires=['six'])\n"


@pytest.fixture
def tar_opens(monkeypatch) -> list[str]:
    """The archives coremeta opened with tarfile: one pass over each."""
    opened: list[str] = []
    real = tarfile.open

    def counting(name=None, mode="r", *args, **kwargs):
        if mode.startswith("r"):
            opened.append(str(name))
        return real(name, mode, *args, **kwargs)

    monkeypatch.setattr(coremeta.tarfile, "open", counting)
    return opened


def test_an_sdist_read_to_its_end_is_not_read_again_in_the_run(tmp_path, tar_opens):
    sdist = str(make_sdist(tmp_path, "legacy", "1.0", pyproject="", setup_py=_SETUP))  # PKG-INFO, no pyproject.toml
    reads = SdistReads()
    first = read_sdist_files(sdist, ["PKG-INFO", "pyproject.toml"], reads)
    assert list(first) == ["PKG-INFO"]
    assert read_sdist_files(sdist, ["pyproject.toml"], reads) == {}
    assert read_sdist_files(sdist, ["PKG-INFO"], reads) == first
    assert tar_opens == [sdist]
    assert read_sdist_files(sdist, ["setup.py"], reads) == {"setup.py": _SETUP.encode()}  # not looked for: read
    assert len(tar_opens) == 2


def test_a_pass_that_stopped_early_answers_only_the_same_question(tmp_path, tar_opens):
    sdist = str(make_sdist(tmp_path, "modern", "1.0"))  # PKG-INFO and pyproject.toml
    reads = SdistReads()
    pyproject = read_sdist_files(sdist, ["pyproject.toml"], reads)
    both = read_sdist_files(sdist, ["PKG-INFO", "pyproject.toml"], reads)
    assert len(tar_opens) == 2 and both["pyproject.toml"] == pyproject["pyproject.toml"]
    assert read_sdist_files(sdist, ["pyproject.toml"], reads) == pyproject
    assert read_sdist_files(sdist, ["PKG-INFO", "pyproject.toml"], reads) == both
    assert len(tar_opens) == 2
    assert read_sdist_files(sdist, ["pyproject.toml"]) == pyproject  # and the same without a memo


def test_an_sdist_replaced_on_disk_is_read_again(tmp_path, tar_opens):
    sdist = make_sdist(tmp_path / "a", "legacy", "1.0", pyproject="", setup_py=_SETUP)
    reads = SdistReads()
    assert read_sdist_files(str(sdist), ["pyproject.toml"], reads) == {}
    other = make_sdist(tmp_path / "b", "legacy", "1.0", pyproject="[build-system]\nrequires = ['flit_core']\n")
    other.replace(sdist)
    assert b"flit_core" in read_sdist_files(str(sdist), ["pyproject.toml"], reads)["pyproject.toml"]
    assert len(tar_opens) == 2


def test_an_sdist_rewritten_in_place_with_its_mtime_put_back_is_read_again(tmp_path, tar_opens):
    # Same path, inode and size, and the modification time put back (as ``cp -p`` onto it
    # does): only the change time tells the file was rewritten.
    import io
    import os
    import time

    def plain_tar(requires: str) -> bytes:
        out = io.BytesIO()
        with tarfile.open(fileobj=out, mode="w") as tf:
            data = f"[build-system]\nrequires = ['{requires}']\n".encode()
            info = tarfile.TarInfo("legacy-1.0/pyproject.toml")
            info.size, info.mtime = len(data), 1577836800
            tf.addfile(info, io.BytesIO(data))
        return out.getvalue()

    sdist = tmp_path / "legacy-1.0.tar"
    sdist.write_bytes(plain_tar("aaaaaaaa"))
    before = sdist.stat()
    reads = SdistReads()
    assert b"aaaaaaaa" in read_sdist_files(str(sdist), ["pyproject.toml"], reads)["pyproject.toml"]
    time.sleep(0.02)  # past the file system's clock tick
    with open(sdist, "r+b") as f:
        f.write(plain_tar("bbbbbbbb"))
    os.utime(sdist, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = sdist.stat()
    assert (after.st_ino, after.st_size, after.st_mtime_ns) == (before.st_ino, before.st_size, before.st_mtime_ns)
    assert b"bbbbbbbb" in read_sdist_files(str(sdist), ["pyproject.toml"], reads)["pyproject.toml"]
    assert len(tar_opens) == 2


def test_a_new_run_reads_its_sdists_again(tmp_path):
    cache = Cache(tmp_path / "cache")
    reads = run_reads(cache)
    assert run_reads(cache) is reads
    cache.close()
    assert run_reads(cache) is not reads


def _gunzip_passes(monkeypatch, sdist: Path) -> list[int]:
    """Bytes gunzipped from now on, in passes over ``sdist`` (the only gzip stream a lock here reads)."""
    plain = len(gzip.decompress(sdist.read_bytes()))
    total = count_gunzipped(monkeypatch)
    return [plain, total]  # type: ignore[list-item]


def test_a_lock_gunzips_an_sdist_it_builds_metadata_for_twice_then_once(tmp_path, monkeypatch):
    # No pyproject.toml and no static metadata, as pyspark: its metadata is built, read to
    # its end to learn that, then unpacked once for the cache and both PEP 517 hooks.
    dists = tmp_path / "dists"
    sdist = make_sdist(dists, "bigdata", "1.0", pyproject="", setup_py=_SETUP, pkg_info=False,
                       files={f"data/{i}.txt": f"{i:08d}" * 100_000 for i in range(4)})
    wheels = [*(installed_wheel(name, dists) for name in ("setuptools", "wheel")), make_wheel(dists, "six", "1.0")]
    index = build_index(tmp_path / "index", [sdist, *wheels]).as_uri()
    project = tmp_path / "project"
    project.mkdir()
    (project / "pyproject.toml").write_text(project_toml(["bigdata"]))
    plain, gunzipped = _gunzip_passes(monkeypatch, sdist)
    for passes in (2, 1):  # a cold cache, then one holding the built metadata
        gunzipped[0] = 0
        result = CliRunner().invoke(app, ["lock", "--project", str(project), "--index-url", index])
        assert result.exit_code == 0, result.output
        assert 'name = "six"' in (project / "pylock.toml").read_text()
        # A pass that lists the archive stops at its last member, short of the padding after it.
        assert gunzipped[0] / plain == pytest.approx(passes, abs=0.01)
        (project / "pylock.toml").unlink()
