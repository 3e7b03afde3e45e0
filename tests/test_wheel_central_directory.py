"""Reading a wheel's METADATA through range requests finds the member the whole-file
reader finds, in wheels with thousands of members, duplicate and nested METADATA names
and zip64 extra fields; a cut central directory is still one "not a valid wheel" error."""

from __future__ import annotations

import io
import zipfile

import pytest

from satlock.errors import MetadataError
from satlock.http import Response
from satlock.resolver.candidates import DistFile
from satlock.resolver.wheelmetadata import fetch_metadata

META = b"Metadata-Version: 2.1\nName: pkg\nVersion: 1.0\n"


class _RangeServer:
    """An HttpClient stand-in that answers range requests from bytes in memory."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def get(self, url: str, headers: dict | None = None, **_: object) -> Response:
        spec = (headers or {})["Range"].removeprefix("bytes=")
        total = len(self.data)
        if spec.startswith("-"):
            start, end = max(0, total - int(spec[1:])), total - 1
        else:
            a, b = spec.split("-")
            start, end = int(a), min(int(b), total - 1)
        return Response(url, 206, {"content-range": f"bytes {start}-{end}/{total}"}, self.data[start: end + 1])


def _wheel(members: list[tuple[str, bytes]], force_zip64: bool = False) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members:
            with zf.open(zipfile.ZipInfo(name), "w", force_zip64=force_zip64) as out:
                out.write(data)
    return buf.getvalue()


def _read(data: bytes) -> bytes:
    file = DistFile("pkg-1.0-py3-none-any.whl", "https://files.example/pkg-1.0-py3-none-any.whl")
    return fetch_metadata(_RangeServer(data), file, lambda f: pytest.fail("no whole download expected"))  # type: ignore[arg-type]


@pytest.mark.parametrize("force_zip64", [False, True])
def test_the_metadata_member_among_thousands_is_found_by_range_reads(force_zip64):
    members = [(f"pkg/mod{i}.py", b"x = 1\n" * 3) for i in range(3000)]
    members += [("sub/other-2.0.dist-info/METADATA", b"Name: other\nVersion: 2.0\n"),
                ("pkg-1.0.dist-info/METADATA", META), ("pkg-1.0.dist-info/RECORD", b"")]
    data = _wheel(members, force_zip64)
    assert _read(data) == META == zipfile.ZipFile(io.BytesIO(data)).read("pkg-1.0.dist-info/METADATA")


def test_of_two_dist_info_folders_the_one_named_for_the_wheel_is_read():
    data = _wheel([("aaa-1.0.dist-info/METADATA", b"Name: aaa\nVersion: 1.0\n"), ("pkg-1.0.dist-info/METADATA", META)])
    assert _read(data) == META


def test_a_central_directory_cut_short_is_one_not_a_valid_wheel_error():
    data = _wheel([(f"pkg/mod{i}.py", b"") for i in range(50)] + [("pkg-1.0.dist-info/METADATA", META)])
    eocd = data.rfind(b"PK\x05\x06")
    cd_size = int.from_bytes(data[eocd + 12: eocd + 16], "little")
    cut = (cd_size - 30).to_bytes(4, "little")  # the last entry loses its tail
    broken = data[: eocd + 12] + cut + data[eocd + 16:]
    with pytest.raises(MetadataError, match="is not a valid wheel"):
        _read(broken)
