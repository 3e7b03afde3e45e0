"""Hostile sdists: links that climb out for real while looking inside, and archive bombs."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path
from types import SimpleNamespace

import pytest

from hostilekit import _tar_add, assert_one_error_line, late_link_sdist, path_max_chain_sdist, run_cli, snapshot, zip_link_sdist
from indexbuilder import build_index, project_toml
from satlock.buildenv import archive
from satlock.buildenv.archive import extract_sdist
from satlock.errors import UnsafeArchiveError


def _escaping_links(folder: Path) -> list[Path]:
    root = folder.resolve()
    return [p for p in folder.rglob("*") if p.is_symlink() and not p.resolve().is_relative_to(root)]


def test_symlink_chain_overflowing_path_max_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.mkdir()
    sdist = path_max_chain_sdist(tmp_path / "dists", "evil", victim)
    with pytest.raises(UnsafeArchiveError, match="symlink"):
        extract_sdist(sdist, tmp_path / "out" / "tree")
    assert list(victim.iterdir()) == []
    assert list((tmp_path / "out" / "tree").iterdir()) == []


def test_link_made_before_the_link_it_climbs_through_is_refused(tmp_path: Path) -> None:
    sdist = late_link_sdist(tmp_path / "dists", "evil")
    with pytest.raises(UnsafeArchiveError, match="'evil-1.0/b' is a symlink that climbs above"):
        extract_sdist(sdist, tmp_path / "out")
    assert _escaping_links(tmp_path / "out") == []


def test_links_that_stay_inside_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "ok-1.0.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for name, kind, link in (("ok-1.0", tarfile.DIRTYPE, ""), ("ok-1.0/pkg", tarfile.DIRTYPE, ""),
                                 ("ok-1.0/here", tarfile.SYMTYPE, "."), ("ok-1.0/alias", tarfile.SYMTYPE, "here/here/pkg"),
                                 ("ok-1.0/pkg/up", tarfile.SYMTYPE, "../pkg")):
            ti = tarfile.TarInfo(name)
            ti.type, ti.linkname, ti.mode = kind, link, 0o755
            tar.addfile(ti)
        data = b"from setuptools import setup\nsetup()\n"
        ti = tarfile.TarInfo("ok-1.0/setup.py")
        ti.size = len(data)
        tar.addfile(ti, io.BytesIO(data))
    top = extract_sdist(path, tmp_path / "out")
    assert (top / "alias").resolve() == (top / "pkg").resolve()


def test_writing_through_a_link_inside_the_archive_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "w-1.0.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        ti = tarfile.TarInfo("w-1.0/sub")
        ti.type = tarfile.DIRTYPE
        tar.addfile(ti)
        ti = tarfile.TarInfo("w-1.0/l")
        ti.type, ti.linkname = tarfile.SYMTYPE, "sub"
        tar.addfile(ti)
        ti = tarfile.TarInfo("w-1.0/l/x")
        tar.addfile(ti, io.BytesIO(b""))
    with pytest.raises(UnsafeArchiveError, match="through a symlink"):
        extract_sdist(path, tmp_path / "out")


def test_zip_sdist_link_entries_never_become_links(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.mkdir()
    sdist = zip_link_sdist(tmp_path / "dists", "evil", victim)
    try:
        extract_sdist(sdist, tmp_path / "out")
    except Exception as e:  # refusing is as good as unpacking the links as plain files
        assert type(e).__name__ in ("UnsafeArchiveError", "BuildError")
    assert list(victim.iterdir()) == []
    assert [p for p in (tmp_path / "out").rglob("*") if p.is_symlink()] == []


@pytest.mark.parametrize("overhead", [None, 0], ids=["decompressed-first", "stream-over-the-limit"])
def test_tar_bomb_is_refused_with_the_sizes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, overhead: int | None) -> None:
    # Decompressed once to a plain tar first; a stream longer than any archive of its size may
    # unpack to stops that early and is refused by the listing it then makes as before.
    monkeypatch.setattr(archive, "RATIO_FLOOR", 1 << 20)
    if overhead is not None:
        monkeypatch.setattr(archive, "_TAR_OVERHEAD", overhead)
    path = tmp_path / "bomb-1.0.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        data = bytes(8 << 20)
        ti = tarfile.TarInfo("bomb-1.0/zeros")
        ti.size = len(data)
        tar.addfile(ti, io.BytesIO(data))
    with pytest.raises(UnsafeArchiveError, match="unpacks to 8,388,608 bytes"):
        extract_sdist(path, tmp_path / "out")
    assert not (tmp_path / "out" / "bomb-1.0").exists()


@pytest.mark.parametrize("make", ["path-max", "late-link"])
def test_lock_refuses_the_hostile_sdist_it_must_build_for_metadata(tmp_path: Path, make: str) -> None:
    victim = tmp_path / "victim"
    victim.mkdir()
    dists = tmp_path / "dists"
    sdist = path_max_chain_sdist(dists, "evil", victim) if make == "path-max" else late_link_sdist(dists, "evil")
    simple = build_index(tmp_path / "index", [sdist])
    project = tmp_path / "p"
    project.mkdir()
    (project / "pyproject.toml").write_text(project_toml(["evil"]))
    before = snapshot(project)
    result = run_cli("lock", "--project", project, "--index-url", simple.as_uri())
    assert_one_error_line(result, "evil-1.0.tar.gz is unsafe", "symlink")
    assert snapshot(project) == before
    assert list(victim.iterdir()) == []


def test_writing_through_a_link_spelled_in_another_case_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "c-1.0.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for name, kind, link in (("c-1.0/sub", tarfile.DIRTYPE, ""), ("c-1.0/L", tarfile.SYMTYPE, "sub")):
            ti = tarfile.TarInfo(name)
            ti.type, ti.linkname = kind, link
            tar.addfile(ti)
        tar.addfile(tarfile.TarInfo("c-1.0/l/x"), io.BytesIO(b""))
    with pytest.raises(UnsafeArchiveError, match="through a symlink"):
        extract_sdist(path, tmp_path / "out")


def test_sync_refuses_the_hostile_sdist_that_lock_did_not_need_to_unpack(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.mkdir()
    sdist = path_max_chain_sdist(tmp_path / "dists", "evil", victim, static=True)
    simple = build_index(tmp_path / "index", [sdist])
    project = tmp_path / "p"
    project.mkdir()
    (project / "pyproject.toml").write_text(project_toml(["evil"]))
    assert run_cli("lock", "--project", project, "--index-url", simple.as_uri()).exit_code == 0
    before = snapshot(project)
    result = run_cli("sync", "--project", project, "--index-url", simple.as_uri(), "--frozen")
    assert_one_error_line(result, "evil-1.0.tar.gz is unsafe", "symlink")
    assert list(victim.iterdir()) == []
    assert {k: v for k, v in snapshot(project).items() if not k.startswith(".venv")} == before


def _odd_zip(defect: str) -> bytes:
    """A wheel-shaped zip with one defect zipfile refuses by raising something other than BadZipFile."""
    import struct
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("pkg/__init__.py", b"x = 1\n" * 100)
        zf.writestr("pkg-1.0/pyproject.toml", b"[project]\nname = 'pkg'\nversion = '1.0'\n")
        zf.writestr("pkg-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: pkg\nVersion: 1.0\n")
        zf.writestr("pkg-1.0.dist-info/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        zf.writestr("pkg-1.0.dist-info/RECORD", "")
    data = bytearray(buf.getvalue())
    for header, at in ((b"PK\x03\x04", 0), (b"PK\x01\x02", 2)):  # each member's local header, then its directory entry
        pos = data.find(header)
        while pos >= 0:
            if defect == "compression method 99":
                data[pos + at + 8: pos + at + 10] = struct.pack("<H", 99)
            elif defect == "encrypted":
                data[pos + at + 6: pos + at + 8] = struct.pack("<H", 1)
            elif defect == "needs zip version 9.9" and at:
                data[pos + 6: pos + 8] = struct.pack("<H", 99)
            pos = data.find(header, pos + 4)
    if defect == "name flagged utf-8 that is not":
        data = bytearray(data.replace(b"pkg/__init__.py", b"pkg/__init\xff_.py"))
        for header, at in ((b"PK\x03\x04", 0), (b"PK\x01\x02", 2)):
            pos = data.find(header)
            data[pos + at + 6: pos + at + 8] = struct.pack("<H", 0x800)
    return bytes(data)


ZIP_DEFECTS = ["compression method 99", "encrypted", "needs zip version 9.9", "name flagged utf-8 that is not"]


@pytest.mark.parametrize("defect", ZIP_DEFECTS)
@pytest.mark.parametrize("reader", ["install wheel", "unzip wheel", "unpack zip sdist", "read zip sdist members",
                                    "extract built wheel metadata"])
def test_a_zip_that_zipfile_refuses_is_one_satlock_error_not_a_traceback(tmp_path: Path, reader: str, defect: str) -> None:
    from satlock.buildenv import pep517, unpacked, wheelcheck
    from satlock.errors import SatlockError
    from satlock.resolver import coremeta

    wheel = tmp_path / "pkg-1.0-py3-none-any.whl"
    wheel.write_bytes(_odd_zip(defect))
    sdist = tmp_path / "pkg-1.0.zip"
    sdist.write_bytes(_odd_zip(defect))
    out = tmp_path / "out"
    run = {"install wheel": lambda: None,
           "unzip wheel": lambda: unpacked.unzip_wheel(wheel, out),
           "unpack zip sdist": lambda: archive._extract_zip(sdist, out),
           "read zip sdist members": lambda: coremeta.read_sdist_files(str(sdist), ["pyproject.toml"]),
           "extract built wheel metadata": lambda: pep517._extract_dist_info(wheel, out, "pkg")}[reader]
    venv = SimpleNamespace(python_version="3.11", purelib=out, platlib=out, scripts=out, data=out, root=out)
    if reader == "install wheel":
        run = lambda: wheelcheck.read_wheel(wheel, venv)  # type: ignore[arg-type]  # noqa: E731
    with pytest.raises(SatlockError):
        run()


def test_sdist_nested_deeper_than_the_folders_can_be_made_is_refused_not_a_recursion_traceback(tmp_path: Path) -> None:
    path = tmp_path / "deep-1.0.tar.gz"
    with tarfile.open(path, "w:gz", format=tarfile.PAX_FORMAT) as tar:
        _tar_add(tar, "deep-1.0/setup.py", data=b"from setuptools import setup\nsetup()\n")
        _tar_add(tar, "deep-1.0/" + "d/" * 1500 + "x.py", data=b"x = 1\n")
    with pytest.raises(UnsafeArchiveError, match="nested more than 256 folders deep"):
        extract_sdist(path, tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []


@pytest.mark.parametrize("claims", [("evil", "1.0"), ("bar", "9.0")], ids=["other-name", "other-version"])
def test_sdist_whose_metadata_names_another_package_is_not_locked(tmp_path: Path, claims: tuple[str, str]) -> None:
    """Sync would refuse the wheel it builds (and a second lock would pick it again), so the
    lock leaves that version out, as it does a wheel whose metadata says another name."""
    from indexbuilder import make_sdist

    liar = make_sdist(tmp_path / "liar", *claims)
    (tmp_path / "d").mkdir()
    renamed = liar.rename(tmp_path / "d" / "bar-1.0.tar.gz")
    honest = make_sdist(tmp_path / "d", "bar", "0.9")
    simple = build_index(tmp_path / "index", [renamed, honest])
    project = tmp_path / "p"
    project.mkdir()
    (project / "pyproject.toml").write_text(project_toml(["bar"]))
    result = run_cli("lock", "--project", project, "--index-url", simple.as_uri())
    assert result.exit_code == 0, result.output
    assert 'version = "0.9"' in (project / "pylock.toml").read_text()
    (project / "pyproject.toml").write_text(project_toml(["bar==1.0"]))
    result = run_cli("lock", "--project", project, "--index-url", simple.as_uri())
    assert_one_error_line(result)
    assert f"says it is {' '.join(claims)}" in result.output
