import io
import tarfile
import zipfile
from pathlib import Path

import pytest

from gunzipcount import count_gunzipped
from indexbuilder import make_sdist
from satlock.buildenv.archive import extract_sdist, safe_zip_members
from satlock.errors import BuildError, UnsafeArchiveError


def _tar(path: Path, members: list[tarfile.TarInfo], mode: str = "w:gz") -> Path:
    with tarfile.open(path, mode) as tf:
        for info in members:
            data = b"x" if info.isfile() else None
            if data is not None:
                info.size = len(data)
            tf.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def _file(name: str) -> tarfile.TarInfo:
    return tarfile.TarInfo(name)


def _link(name: str, target: str, kind: bytes) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info


def _zip(path: Path, names: list[str]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name in names:
            zf.writestr(zipfile.ZipInfo(name), b"x")
    return path


def test_sdist_is_extracted_and_its_top_folder_returned(tmp_path):
    sdist = make_sdist(tmp_path / "dist", "demo-pkg", "1.0")
    top = extract_sdist(sdist, tmp_path / "out")
    assert top == tmp_path / "out" / "demo_pkg-1.0"
    assert (top / "pyproject.toml").is_file()
    assert (top / "demo_pkg" / "__init__.py").read_text() == '__version__ = "1.0"\n'


@pytest.mark.parametrize("suffix,mode", [(".tar.bz2", "w:bz2"), (".tar", "w"), (".tgz", "w:gz")])
def test_other_tar_compressions_are_extracted(tmp_path, suffix, mode):
    archive = _tar(tmp_path / f"pkg-1.0{suffix}", [_file("pkg-1.0/setup.py")], mode)
    assert (extract_sdist(archive, tmp_path / "out") / "setup.py").read_bytes() == b"x"


def test_zip_sdist_is_extracted(tmp_path):
    archive = _zip(tmp_path / "pkg-1.0.zip", ["pkg-1.0/setup.py", "pkg-1.0/pkg/__init__.py"])
    top = extract_sdist(archive, tmp_path / "out")
    assert (top / "pkg" / "__init__.py").is_file()


@pytest.mark.parametrize("member", [
    _file("/tmp/evil.txt"),
    _file("pkg-1.0/../../evil.txt"),
    _link("pkg-1.0/escape", "../../etc", tarfile.SYMTYPE),
    _link("pkg-1.0/abs", "/etc/passwd", tarfile.SYMTYPE),
    _link("pkg-1.0/hard", "../outside.txt", tarfile.LNKTYPE),
    _link("pkg-1.0/dev", "", tarfile.CHRTYPE),
    _link("pkg-1.0/fifo", "", tarfile.FIFOTYPE),
], ids=["absolute", "dotdot", "symlink-out", "symlink-absolute", "hardlink-out", "device", "fifo"])
def test_tar_member_escaping_the_destination_is_refused_before_extracting(tmp_path, member):
    archive = _tar(tmp_path / "pkg-1.0.tar.gz", [_file("pkg-1.0/setup.py"), member])
    out = tmp_path / "out"
    with pytest.raises(UnsafeArchiveError) as e:
        extract_sdist(archive, out)
    assert "pkg-1.0.tar.gz" in e.value.message and repr(member.name) in e.value.message
    assert list(out.iterdir()) == []


def test_symlink_inside_the_archive_is_allowed(tmp_path):
    archive = _tar(tmp_path / "pkg-1.0.tar.gz", [_file("pkg-1.0/real.txt"),
                                                  _link("pkg-1.0/alias.txt", "real.txt", tarfile.SYMTYPE)])
    top = extract_sdist(archive, tmp_path / "out")
    assert (top / "alias.txt").read_bytes() == b"x"


@pytest.mark.parametrize("name", ["/abs.txt", "pkg-1.0/../../evil.txt", "..\\evil.txt", "C:/evil.txt"])
def test_zip_member_escaping_the_destination_is_refused(tmp_path, name):
    archive = _zip(tmp_path / "pkg-1.0.zip", ["pkg-1.0/setup.py", name])
    with pytest.raises(UnsafeArchiveError) as e:
        extract_sdist(archive, tmp_path / "out")
    assert repr(name) in e.value.message
    with zipfile.ZipFile(archive) as zf, pytest.raises(UnsafeArchiveError):
        safe_zip_members(zf)


def test_corrupt_archive_is_a_build_error_naming_it(tmp_path):
    archive = tmp_path / "pkg-1.0.tar.gz"
    archive.write_bytes(b"not a tarball")
    with pytest.raises(BuildError, match="pkg-1.0.tar.gz"):
        extract_sdist(archive, tmp_path / "out")


def test_a_flat_archive_with_its_project_at_the_top_is_unpacked_as_it_is(tmp_path):
    archive = _tar(tmp_path / "pkg-1.0.tar.gz", [_file("setup.py"), _file("pkg/__init__.py")])
    root = extract_sdist(archive, tmp_path / "out")
    assert root == tmp_path / "out"
    assert (root / "setup.py").is_file() and (root / "pkg" / "__init__.py").is_file()


def test_archive_without_a_single_top_folder_is_refused(tmp_path):
    archive = _tar(tmp_path / "pkg-1.0.tar.gz", [_file("a/setup.py"), _file("b/setup.py")])
    with pytest.raises(BuildError, match="exactly one top-level folder"):
        extract_sdist(archive, tmp_path / "out")


def test_a_gzipped_sdist_is_decompressed_once_to_be_unpacked(tmp_path, monkeypatch):
    import gzip

    sdist = make_sdist(tmp_path, "foo", "1.0", files={"data/blob.txt": "0123456789" * 200_000})
    plain = len(gzip.decompress(sdist.read_bytes()))
    gunzipped = count_gunzipped(monkeypatch)
    top = extract_sdist(sdist, tmp_path / "out" / "tree")
    assert gunzipped[0] == plain  # tarfile listed it, then gunzipped it again from the start to extract it
    assert (top / "data" / "blob.txt").stat().st_size == 2_000_000
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["tree"]  # the plain tar it went through is gone


def test_a_gzipped_sdist_whose_stream_cannot_be_read_whole_is_unpacked_as_before(tmp_path, monkeypatch):
    # Trailing garbage after the gzip stream: tarfile stops at the archive's end and never
    # sees it, the single pass does and gives way to tarfile's own reading.
    sdist = make_sdist(tmp_path, "foo", "1.0")
    sdist.write_bytes(sdist.read_bytes() + b"garbage")
    top = extract_sdist(sdist, tmp_path / "out")
    assert (top / "foo" / "__init__.py").is_file()


class _Listing:
    """Just what safe_zip_members reads of a ZipFile: its members' names."""

    def __init__(self, names: list[str]) -> None:
        self.filename = "listing.zip"
        self.members = [zipfile.ZipInfo.__new__(zipfile.ZipInfo) for _ in names]
        for info, name in zip(self.members, names):
            info.filename = name

    def infolist(self) -> list[zipfile.ZipInfo]:
        return self.members


def test_zip_members_are_refused_exactly_where_one_of_them_has_a_name_problem():
    # The members of a zip are first checked together (any backslash, "..", leading
    # slash or drive, non-ASCII or long name sends them through one by one): that check
    # may let through only what the per-name check would.
    from itertools import product

    from satlock.buildenv.archive import _name_problem

    pieces = ["a", "/", "\\", ".", "..", ":", "C:", "é", "\0", "x" * 130]
    names = ["".join(p) for n in range(1, 4) for p in product(pieces, repeat=n)]
    names += ["d/" * 129 + "x", "d/" * 300 + "x", "x" * 255, "x" * 256, "é" * 200, ("y" * 200 + "/") * 6]
    plain = ["pkg/__init__.py", "pkg/sub/mod.py", "pkg-1.0.dist-info/RECORD"]
    for name in names:
        problem = _name_problem(name)
        for listing in ([name], plain + [name] + plain):
            if problem is None:
                zf = _Listing(listing)
                assert safe_zip_members(zf) is zf.members  # type: ignore[arg-type]
            else:
                with pytest.raises(UnsafeArchiveError) as e:
                    safe_zip_members(_Listing(listing))  # type: ignore[arg-type]
                assert e.value.message == f"listing.zip is unsafe: member {name!r:.200} {problem}"
